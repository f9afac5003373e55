#!/usr/bin/env bash
# Offline infrastructure check (no AWS account, no network to AWS):
#   1. installs, idempotently, the CDK app's npm packages (npm ci from package-lock.json)
#      and the Python tools (infra/requirements.txt + tests/tools/requirements.txt) into the
#      shared venv tests/tools/.venv;
#   2. type-checks the CDK app (tsc) and runs `cdk synth` for the tenants in
#      infra/tenants.json with placeholder assets (SCIM_ASSETS=placeholder) into infra/cdk.out;
#   3. cfn-lint on template.yaml and on every synthesised template (W3005 ignored on the
#      CDK output only: CDK adds DependsOn on each function's role itself);
#   4. pytest tests/infra (function list vs template vs CDK vs Cargo workspace, table,
#      least-privilege IAM, SAM transform expanded offline and linted).
# Usage: infra/check.sh [-q]     Exit status is non-zero when any step fails.
set -euo pipefail

INFRA_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(dirname "$INFRA_DIR")"
VENV="${SCIM_TOOLS_VENV:-$REPO/tests/tools/.venv}"
PYTHON="${PYTHON:-python3}"
QUIET=0
[[ "${1:-}" == "-q" || "${1:-}" == "--quiet" ]] && QUIET=1

START=$SECONDS
log() { [[ $QUIET == 1 ]] || echo "infra: [$((SECONDS - START))s] $*"; }
die() { echo "infra: ERROR: $*" >&2; exit 1; }
hash_of() { cat "$@" | sha256sum | cut -d' ' -f1; }

LOGS="$(mktemp -d "${TMPDIR:-/tmp}/scim-infra-check.XXXXXX")"
declare -A PIDS=()
cleanup() {  # on any exit: stop our own background steps that are still running
    local pid
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    rm -rf "$LOGS"
}
trap cleanup EXIT

# Offline CDK: no version check, no telemetry, no notices; placeholder assets so that
# synth needs no Rust toolchain (see infra/lib/code.ts).
export CDK_DISABLE_VERSION_CHECK=1 CDK_DISABLE_CLI_TELEMETRY=true
export PIP_DISABLE_PIP_VERSION_CHECK=1

# --- 1a. npm packages -----------------------------------------------------------
command -v node >/dev/null && command -v npm >/dev/null || die "node >= 20 and npm are required"
NPM_STAMP="$INFRA_DIR/node_modules/.scim-infra-stamp"
NPM_HASH="$(hash_of "$INFRA_DIR/package.json" "$INFRA_DIR/package-lock.json")-$(node --version)"
if [[ ! -f "$NPM_STAMP" || "$(cat "$NPM_STAMP")" != "$NPM_HASH" ]]; then
    log "npm ci (aws-cdk 2.1148.1, aws-cdk-lib 2.276.0, typescript 5.9, ts-node, cargo-lambda-cdk)"
    (cd "$INFRA_DIR" && npm ci --no-audit --no-fund --prefer-offline --loglevel=error >/dev/null)
    echo "$NPM_HASH" > "$NPM_STAMP"
fi

# --- 1b. Python tools in the shared venv ------------------------------------------
REQUIREMENTS=("$INFRA_DIR/requirements.txt")
[[ -f "$REPO/tests/tools/requirements.txt" ]] && REQUIREMENTS+=("$REPO/tests/tools/requirements.txt")
PY_STAMP="$VENV/.scim-infra-stamp"
PY_HASH="$(hash_of "${REQUIREMENTS[@]}")-$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
if [[ ! -x "$VENV/bin/python" || ! -f "$PY_STAMP" || "$(cat "$PY_STAMP")" != "$PY_HASH" ]]; then
    if [[ -x "$VENV/bin/python" ]] && ! "$VENV/bin/python" -c '' 2>/dev/null; then
        rm -rf "$VENV"   # broken venv (interpreter moved or removed)
    fi
    if [[ ! -x "$VENV/bin/python" ]]; then
        log "creating venv $VENV"
        "$PYTHON" -m venv "$VENV"
    fi
    PIP_ARGS=()
    for r in "${REQUIREMENTS[@]}"; do PIP_ARGS+=(-r "$r"); done
    log "pip install ${REQUIREMENTS[*]#"$REPO"/}"
    "$VENV/bin/pip" install -q --no-input "${PIP_ARGS[@]}"
    echo "$PY_HASH" > "$PY_STAMP"
fi
[[ -x "$VENV/bin/cfn-lint" && -x "$VENV/bin/pytest" ]] || die "venv $VENV incomplete; rm -rf it and rerun"

# --- parallel steps -----------------------------------------------------------------
logfile() { echo "$LOGS/${1//[^A-Za-z0-9]/_}.log"; }
bg() {  # bg NAME CMD...: run CMD in the background (in infra/), output to $(logfile NAME)
    local name="$1"; shift
    ( cd "$INFRA_DIR" && exec "$@" ) >"$(logfile "$name")" 2>&1 &
    PIDS[$name]=$!
}
FAILED=()
wait_all() {
    local name
    for name in "${!PIDS[@]}"; do
        if wait "${PIDS[$name]}"; then
            log "ok: $name"
        else
            FAILED+=("$name")
            echo "infra: FAILED: $name" >&2
            sed 's/^/    /' "$(logfile "$name")" >&2
        fi
    done
    PIDS=()
}

CDK="$INFRA_DIR/node_modules/.bin/cdk"
CDK_OUT="$INFRA_DIR/cdk.out"
rm -rf "$CDK_OUT"

# --- 2 + 3a. type-check, synthesise, lint template.yaml -------------------------------
log "tsc, cdk synth (placeholder assets), cfn-lint template.yaml"
bg "tsc --noEmit" node_modules/.bin/tsc -p .
bg "cdk synth" env SCIM_ASSETS=placeholder "$CDK" synth --quiet --no-notices --output "$CDK_OUT"
bg "cfn-lint template.yaml" "$VENV/bin/cfn-lint" -- "$REPO/template.yaml"
wait_all

# --- 3b + 4. lint the CDK templates, run the tests -------------------------------------
if [[ " ${FAILED[*]} " != *" cdk synth "* ]]; then
    shopt -s nullglob
    TEMPLATES=("$CDK_OUT"/*.template.json)
    [[ ${#TEMPLATES[@]} -gt 0 ]] || die "cdk synth produced no templates"
    log "cfn-lint ${#TEMPLATES[@]} CDK templates, pytest tests/infra"
    bg "cfn-lint cdk.out" "$VENV/bin/cfn-lint" --ignore-checks W3005 -- "${TEMPLATES[@]}"
    bg "pytest tests/infra" env SCIM_CDK_OUT="$CDK_OUT" AWS_DEFAULT_REGION=eu-west-1 \
        "$VENV/bin/pytest" -q -p no:cacheprovider "$REPO/tests/infra"
    wait_all
    [[ $QUIET == 1 ]] || tail -n 1 "$(logfile "pytest tests/infra")" | sed 's/^/infra: /'
fi

if [[ ${#FAILED[@]} -gt 0 ]]; then
    echo "infra: ${#FAILED[@]} step(s) failed: ${FAILED[*]} ($((SECONDS - START))s)" >&2
    exit 1
fi
log "all infrastructure checks passed"
