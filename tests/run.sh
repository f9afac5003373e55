#!/usr/bin/env bash
# The one test command (README, "Tests"): installs what the tests need, then runs
#   1. formatting, clippy and dependency-policy (cargo deny) checks, and the whole
#      workspace's tests on the embedded engine;
#   2. the end-to-end suite again against Amazon's DynamoDB Local (started and stopped here);
#   3. scim2-tester's compliance checks against the local server;
#   4. the settings page (/app/) in headless Chromium against the local server;
#   5. the infrastructure checks (cdk synth, cfn-lint, template tests);
#   6. the function binaries behind the stack's route table (lambda-gateway over
#      cargo lambda watch): the route checks and the smoke scenario.
# Works on a fresh machine: every tool it needs is installed by tests/tools/install.sh and
# infra/check.sh. Set SCIM_TEST_SKIP_INFRA=1 to skip step 5 while iterating.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$(pwd)
bin="${CARGO_TARGET_DIR:-target}/debug"

step() { printf '\n==> %s\n' "$*"; }

step "Installing test tools (Java, DynamoDB Local, moto, scim2-tester, cfn-lint, cargo-deny, Chromium, playwright-core)"
tests/tools/install.sh --quiet

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (warnings are errors)"
cargo clippy --workspace --all-targets --quiet -- -D warnings

step "cargo deny (bans, licenses, sources; deny.toml)"
# Not `advisories`: that check needs the RustSec advisory database, which this machine (no
# network beyond the package registries) cannot fetch.
PATH="${SCIM_TOOLS_CACHE:-$HOME/.cache/scim-tools}/cargo-deny/bin:$PATH" \
    cargo deny check --hide-inclusion-graph bans licenses sources

step "Building the workspace and tests"
cargo build --workspace --bins --quiet
cargo nextest run --workspace --no-run --cargo-quiet

step "Tests on the embedded engine (unit, core, end-to-end)"
# Not the #[ignore]d tests: the scale test takes minutes (README, "Tests", runs it by name),
# and failures::log_capture_child runs as the child process of the test that starts it.
cargo nextest run --workspace --no-fail-fast --cargo-quiet

step "End-to-end suite on Amazon DynamoDB Local"
# The 10,000-user expiry run gets a DynamoDB Local of its own: in the shared instance,
# behind the rest of the suite's tables, the same test took 28 minutes instead of 4.
# The change-event scenario over EventBridge runs on its own too, after the rest: on
# DynamoDB Local, while other tests load both cores, it sometimes sees none of its events
# (cause unknown; see .config/nextest.toml). Alone it passes in ~5 s.
big='test(=expiry::ten_thousand_expiring_users_expire_in_one_run)'
flaky='test(=events::a_provisioning_scenario_publishes_its_events_to_eventbridge)'
"$bin/with-dynamodb-local" cargo nextest run -p scim-tests --test e2e --no-fail-fast --cargo-quiet -E "not ($big | $flaky)"
"$bin/with-dynamodb-local" cargo nextest run -p scim-tests --test e2e --no-fail-fast --cargo-quiet -E "$flaky"
"$bin/with-dynamodb-local" cargo nextest run -p scim-tests --test e2e --no-fail-fast --cargo-quiet -E "$big"

step "scim2-tester against the local server"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
token=$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')
SCIM_PORT=$port SCIM_LOCAL_MEMORY=1 SCIM_TOKEN=$token RUST_LOG=warn "$bin/scim-local" > /tmp/scim-local-$$.log 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
    curl -fs -o /dev/null -H "Authorization: Bearer $token" "http://127.0.0.1:$port/scim/v2/ServiceProviderConfig" && break
    sleep 0.1
done
# Users and Groups only: scim2-tester creates, replaces and deletes resources of every
# type /ResourceTypes lists, and the catalog's Entitlement and Role are read-only over SCIM
# (the product defines them; a POST is 405). Their discovery documents are still checked,
# and tests/e2e/entitlements.rs reads them as Okta does.
tests/tools/.venv/bin/python tests/tools/run_scim2_tester.py --base-url "http://127.0.0.1:$port/scim/v2" --token "$token" --resource-types User,Group
kill $server 2>/dev/null || true
trap - EXIT

step "The settings page in headless Chromium (tests/browser)"
# Starts and stops its own local server (killed however the script ends); screenshot in
# target/browser/settings.png, settings-failure.png when a step fails.
SCIM_LOCAL_BIN="$bin/scim-local" node tests/browser/settings.test.mjs

if [[ "${SCIM_TEST_SKIP_INFRA:-0}" != 1 ]]; then
    step "Infrastructure checks (cdk synth, cfn-lint, template tests)"
    infra/check.sh
fi

step "The function binaries behind the stack's route table (lambda-gateway, cargo lambda watch)"
# lambda-gateway (tests/support/src/gateway.rs) serves the binaries built above on one base
# URL, with API Gateway's routes, over `cargo lambda watch` and its own embedded engine and
# moto, runs the command given with SCIM_BASE_URL/SCIM_TOKEN/SCIM_APP_KEY set, and stops
# them all. The route checks (tests/e2e/lambda_routes.rs: each route against what each
# binary compiles in, by real requests) run on infra/functions.json's routes, then on
# template.yaml's and each synthesised CDK stack's where those differ (tests/infra/
# route_table.py); the smoke scenario (tests/e2e/smoke.rs) runs once, on functions.json's.
gateway_started=$(date +%s)
routes_dir="${CARGO_TARGET_DIR:-target}/lambda-gateway"
mkdir -p "$routes_dir"
lambda_tests() {
    SCIM_GATEWAY_BUILD=0 RUST_LOG=warn "$bin/lambda-gateway" \
        cargo nextest run -p scim-tests --test e2e --no-fail-fast --cargo-quiet --run-ignored all \
        --test-threads 1 -E "$1"
}
lambda_tests 'test(/^lambda_routes::/) | test(=smoke::smoke_entra_and_okta_provisioning_cycle)'
templates=(template.yaml)
if [[ "${SCIM_TEST_SKIP_INFRA:-0}" != 1 ]]; then
    templates+=(infra/cdk.out/*.template.json)
fi
checked=" $(tests/tools/.venv/bin/python tests/infra/route_table.py --digest infra/functions.json) "
for template in "${templates[@]}"; do
    [[ -f "$template" ]] || continue
    table="$routes_dir/routes-$(basename "$template" | tr -c 'A-Za-z0-9.\n-' _).json"
    digest=$(tests/tools/.venv/bin/python tests/infra/route_table.py "$template" "$table")
    if [[ "$checked" == *" $digest "* ]]; then
        echo "routes of $template: the same as a table checked above"
        continue
    fi
    checked+="$digest "
    echo "routes of $template"
    SCIM_ROUTES="$table" lambda_tests 'test(/^lambda_routes::/)'
done
echo "lambda-gateway step: $(( $(date +%s) - gateway_started )) s"

step "All checks passed"
