#!/usr/bin/env bash
# The build's version, as the stacks show it (SAM parameter Version, CDK $SCIM_VERSION; the
# Version output and the scim:version tag): the workspace version and the commit it was
# built from, "-dirty" when the work tree has uncommitted changes. E.g. 0.1.0+f745a02c1d2e.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
version="$(sed -n '/^\[workspace.package\]/,/^\[/s/^version *= *"\(.*\)"/\1/p' "$REPO/Cargo.toml")"
commit="$(git -C "$REPO" describe --always --dirty --abbrev=12 --exclude '*' 2>/dev/null || echo unknown)"
echo "${version:-0.0.0}+${commit}"
