#!/bin/sh
# Writes as the data grows (BENCHMARKS.md, "Writes as data grows"): the local server as the
# README starts it (change events on, to the log; data on disk) creates USERS users
# Entra-style (scim-load: a `userName eq` lookup, then a POST, 8 in flight), and reports the
# rate per 1,000 users. Fails when the last 1,000 are more than FLAT_WITHIN % slower than
# the first 1,000, when a request failed, or when the log does not hold one user.created
# change event per user.
#
#   cargo build --release -p scim-local -p scim-load
#   tests/load/flat-writes.sh                 # 50,000 users: 6-7 minutes on a loaded 2-core machine
#   USERS=10000 tests/load/flat-writes.sh
#
# Environment: USERS (50000), FLAT_WITHIN (20), BIN (target/release), SCIM_PORT (18380),
# KEEP=1 keeps the data directory (printed) instead of removing it.
set -eu

users=${USERS:-50000}
within=${FLAT_WITHIN:-20}
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=${BIN:-$root/target/release}
port=${SCIM_PORT:-18380}
for b in scim-local scim-load; do
    [ -x "$bin/$b" ] || { echo "flat-writes: $bin/$b is missing: cargo build --release -p scim-local -p scim-load" >&2; exit 2; }
done

dir=$(mktemp -d "${TMPDIR:-/tmp}/scim-flat-writes.XXXXXX")
token=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
pid=
cleanup() {
    if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
    if [ "${KEEP:-}" = 1 ]; then echo "flat-writes: data kept in $dir"; else rm -rf "$dir"; fi
}
trap cleanup EXIT INT TERM

SCIM_LOCAL_DIR="$dir" SCIM_PORT="$port" SCIM_TOKEN="$token" "$bin/scim-local" >"$dir/server.log" 2>&1 &
pid=$!
tries=0
until curl -sf -o /dev/null -H "Authorization: Bearer $token" "http://127.0.0.1:$port/scim/v2/ServiceProviderConfig"; do
    tries=$((tries + 1))
    if [ "$tries" -gt 100 ] || ! kill -0 "$pid" 2>/dev/null; then
        echo "flat-writes: the local server did not start:" >&2
        cat "$dir/server.log" >&2
        exit 2
    fi
    sleep 0.1
done
grep -E 'embedded engine|Change events' "$dir/server.log" || true

# The server's CPU time (user + system, from /proc) against the users created so far, every
# 2 s: on a machine shared with other work the rate follows the CPU left over, the CPU
# spent per user does not.
(
    while kill -0 "$pid" 2>/dev/null; do
        created=$(grep -c 'user.created' "$dir/server.log" || true)
        echo "$created $(cut -d' ' -f14,15 "/proc/$pid/stat")"
        sleep 2
    done
) >"$dir/cpu" 2>/dev/null &
sampler=$!

status=0
"$bin/scim-load" --base-url "http://127.0.0.1:$port/scim/v2" --token "$token" \
    --users "$users" --groups 0 --memberships 0 --updates 0 --deactivations 0 --import false \
    --concurrency 8 --window 1000 --flat-within "$within" --max-secs 3600 || status=$?

# Every create's change event reaches the log (the follower trails the writes a little).
events=0
for _ in $(seq 1 50); do
    events=$(grep -c '\\"event\\":\\"user.created\\"' "$dir/server.log" || true)
    [ "$events" -ge "$users" ] && break
    sleep 0.2
done
echo "change events user.created in the log: $events of $users"
[ "$events" -eq "$users" ] || status=1
kill "$sampler" 2>/dev/null || true
# Server CPU ms per user: over the first ~1,000 users and over the last ~1,000.
awk -v n="$users" -v hz="$(getconf CLK_TCK)" '
    { c[NR] = $1; t[NR] = $2 + $3 }
    END {
        for (i = 1; i <= NR; i++) if (c[i] >= 1000) { a = i; break }
        e = NR
        for (i = 1; i <= NR; i++) if (c[i] >= n) { e = i; break }
        for (i = e; i >= 1; i--) if (c[i] <= c[e] - 1000) { b = i; break }
        if (!a || !b || !e || c[a] == c[1] || c[e] == c[b]) { print "server CPU per user: too few samples"; exit }
        first = (t[a] - t[1]) * 1000 / hz / (c[a] - c[1])
        last = (t[e] - t[b]) * 1000 / hz / (c[e] - c[b])
        printf "server CPU per user: users %d-%d %.2f ms, users %d-%d %.2f ms: last/first = %.1f%%\n", c[1], c[a], first, c[b], c[e], last, 100 * last / first
    }' "$dir/cpu"
du -sh "$dir" | sed 's/^/data on disk: /'
exit "$status"
