#!/bin/sh
# The local server beside python-scim's scim2-server (BENCHMARKS.md, "Side by side"): each
# server alone on CPU 0 (taskset), the same client, wrk, on CPU 1; both seeded with SEED
# users and one group; then five phases of PHASE_SECS each, 8 connections: POST /Users,
# GET /Users?filter=userName eq, GET /Users/{id}, PATCH /Users/{id} (replace title),
# PATCH /Groups/{id} adding 1 member. Prints req/s and p99 per phase, and the ratio.
#
#   apt-get install wrk; cargo build --release -p scim-local
#   tests/load/side-by-side.sh
#
# The local server runs with its defaults (change events on, to the log; data on disk, in a
# temporary directory). scim2-server (SCIM2_SERVER_VERSION, 0.8.3) is installed from PyPI
# into a venv made here (VENV, default target/scim2-server-venv), in memory as it always is.
# Environment: SEED (2000), PHASE_SECS (10), CONNECTIONS (8), BIN (target/release).
set -eu

root=$(cd "$(dirname "$0")/../.." && pwd)
bin=${BIN:-$root/target/release}
venv=${VENV:-$root/target/scim2-server-venv}
version=${SCIM2_SERVER_VERSION:-0.8.3}
seed=${SEED:-2000}
secs=${PHASE_SECS:-10}
conns=${CONNECTIONS:-8}
lua=$root/tests/load/side-by-side.lua
command -v wrk >/dev/null || { echo "side-by-side: wrk is missing (apt-get install wrk)" >&2; exit 2; }
[ -x "$bin/scim-local" ] || { echo "side-by-side: $bin/scim-local is missing: cargo build --release -p scim-local" >&2; exit 2; }
if [ ! -x "$venv/bin/scim2-server" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q "scim2-server==$version"
fi

dir=$(mktemp -d "${TMPDIR:-/tmp}/scim-side-by-side.XXXXXX")
token=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
pid=
stop() {
    if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
    pid=
}
trap 'stop; rm -rf "$dir"' EXIT INT TERM

# seed <base URL>: SEED users and one group; writes "id userName" lines and "group <id>".
seed() {
    python3 - "$1" "$token" "$seed" >"$dir/seed" <<'PY'
import json, sys, urllib.request
base, token, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
def post(path, doc):
    req = urllib.request.Request(base + path, data=json.dumps(doc).encode(), method="POST",
        headers={"Authorization": "Bearer " + token, "Content-Type": "application/scim+json"})
    with urllib.request.urlopen(req) as r:
        return json.load(r)["id"]
for i in range(n):
    name = f"seed{i}@contoso.com"
    uid = post("/Users", {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": name, "name": {"givenName": "Seed", "familyName": str(i)},
        "emails": [{"value": name, "primary": True}], "active": True})
    print(uid, name)
print("group", post("/Groups", {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
    "displayName": "side by side"}))
PY
}

# wait_up <URL>
wait_up() {
    tries=0
    until curl -sf -o /dev/null -H "Authorization: Bearer $token" "$1/ServiceProviderConfig"; do
        tries=$((tries + 1))
        if [ "$tries" -gt 150 ]; then echo "side-by-side: $1 did not start" >&2; cat "$dir/server.log" >&2; exit 2; fi
        sleep 0.2
    done
}

# bench <name> <base URL> <base path>: the five phases against the running server.
bench() {
    for phase in create filter get patch member; do
        out=$(PHASE=$phase BASE_PATH=$3 RUN="$1$(date +%s)" TOKEN=$token SEED_FILE=$dir/seed \
            taskset -c 1 wrk -t1 -c"$conns" -d"${secs}s" --latency -s "$lua" "$2")
        rps=$(echo "$out" | awk '/^Requests\/sec:/ {print $2}')
        p99=$(echo "$out" | awk '$1 == "99%" {print $2}')
        bad=$(echo "$out" | awk '/Non-2xx or 3xx responses:/ {print $5}')
        echo "$1 $phase ${rps:-0} ${p99:-?} ${bad:-0}" >>"$dir/results"
    done
}

port=18390
taskset -c 0 "$venv/bin/scim2-server" --port "$port" --bearer-token "$token" >"$dir/server.log" 2>&1 &
pid=$!
wait_up "http://127.0.0.1:$port/v2"
seed "http://127.0.0.1:$port/v2"
bench scim2-server "http://127.0.0.1:$port" /v2
stop

port=18391
SCIM_LOCAL_DIR="$dir/local" SCIM_PORT=$port SCIM_TOKEN=$token taskset -c 0 "$bin/scim-local" >"$dir/server.log" 2>&1 &
pid=$!
wait_up "http://127.0.0.1:$port/scim/v2"
seed "http://127.0.0.1:$port/scim/v2"
bench scim-local "http://127.0.0.1:$port" /scim/v2
stop

echo "each server on one core (CPU 0), wrk on CPU 1, $conns connections, $secs s per phase, $seed users seeded"
awk '
    $1 == "scim2-server" { r[$2] = $3; p[$2] = $4; e[$2] = $5 }
    $1 == "scim-local" { R[$2] = $3; P[$2] = $4; E[$2] = $5 }
    END {
        printf "%-8s %14s %9s %14s %9s %7s %s\n", "phase", "scim2-server/s", "p99", "scim-local/s", "p99", "ratio", "non-2xx (scim2-server, scim-local)"
        split("create filter get patch member", ph, " ")
        for (i = 1; i <= 5; i++) {
            k = ph[i]
            printf "%-8s %14.0f %9s %14.0f %9s %6.1fx %d, %d\n", k, r[k], p[k], R[k], P[k], (r[k] > 0 ? R[k] / r[k] : 0), e[k], E[k]
        }
    }' "$dir/results"
