#!/usr/bin/env bash
# Deploys one tenant with SAM, asking nothing: the tenant's environment in samconfig.toml
# (`--config-env <tenant>`), built for the tenant's Architecture, refused before deploying
# when a built binary is of another architecture (infra/artifacts.py), deployed with the
# build's version (infra/version.sh) as the Version parameter and the scim:version tag.
#
#   infra/sam-deploy.sh <tenant> [extra sam deploy options]
#
# Environment: SAM (the sam command, default `sam`), SAM_BUILD_DIR (default .aws-sam/build),
# SCIM_SKIP_BUILD=1 (check and deploy what SAM_BUILD_DIR holds; e.g. a CI artifact).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SAM="${SAM:-sam}"
BUILD_DIR="${SAM_BUILD_DIR:-.aws-sam/build}"
PYTHON="${PYTHON:-python3}"
[[ $# -ge 1 ]] || { sed -n '2,10p' "${BASH_SOURCE[0]}" >&2; exit 2; }
tenant="$1"
shift
cd "$REPO"

# The environment's settings (samconfig.toml is TOML: python3 >= 3.11 reads it).
settings="$("$PYTHON" - "$tenant" <<'EOF'
import shlex, sys, tomllib
config = tomllib.load(open("samconfig.toml", "rb"))
tenant = sys.argv[1]
if tenant not in config or tenant == "default":
    sys.exit(f"sam-deploy: samconfig.toml has no environment [{tenant}.deploy.parameters]")
section = lambda command: (config[tenant].get(command) or {}).get("parameters") or {}
deploy, build = section("deploy"), section("build")
def overrides(params):
    return dict(kv.split("=", 1) for kv in shlex.split(params.get("parameter_overrides", "")))
deploy_arch = overrides(deploy).get("Architecture", "arm64")  # the template's default
build_arch = overrides(build).get("Architecture", "arm64")
if deploy_arch != build_arch:
    sys.exit(f"sam-deploy: [{tenant}] builds for {build_arch} but deploys Architecture={deploy_arch}: "
             "give build.parameters the same Architecture")
print(deploy_arch)
print(deploy.get("parameter_overrides", ""))
print(deploy.get("tags", ""))
EOF
)"
{ read -r architecture; read -r overrides; read -r tags; } <<< "$settings"
version="$("$REPO/infra/version.sh")"

if [[ "${SCIM_SKIP_BUILD:-0}" != 1 ]]; then
    "$SAM" build --config-env "$tenant" --build-dir "$BUILD_DIR"
fi
"$PYTHON" "$REPO/infra/artifacts.py" check "$architecture" "$BUILD_DIR"

# --parameter-overrides and --tags replace the environment's own, so both are repeated.
exec "$SAM" deploy --config-env "$tenant" --template-file "$BUILD_DIR/template.yaml" \
    --parameter-overrides "$overrides Version=$version" \
    --tags "$tags scim:version=$version" "$@"
