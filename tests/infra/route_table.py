"""Writes a template's route table in infra/functions.json's shape, for lambda-gateway.

    tests/tools/.venv/bin/python tests/infra/route_table.py TEMPLATE OUT.json
    tests/tools/.venv/bin/python tests/infra/route_table.py --digest TABLE.json

TEMPLATE is template.yaml or a CDK-synthesised template (infra/cdk.out/*.template.json).
OUT is infra/functions.json with every function's routes replaced by the routes the
template gives it, so `SCIM_ROUTES=OUT.json lambda-gateway` serves the function binaries
behind the template's own routes and the route tests (tests/e2e/lambda_routes.rs) check
those against what each binary compiles in, by real requests (tests/run.sh).
Both print the digest of the table's routes (route key -> function), so that a table
with the same routes as one already checked need not be checked again.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

from cfn_model import Stack, load_template

ROOT = Path(__file__).resolve().parents[2]


def route_table(template: Path) -> dict:
    functions = json.loads((ROOT / "infra" / "functions.json").read_text(encoding="utf-8"))
    stack = Stack(template.name, load_template(template))
    by_function: dict[str, list[str]] = {}
    for key, function in stack.routes().items():
        by_function.setdefault(function, []).append(key)
    known = {f["name"] for f in functions["functions"]}
    unknown = sorted(set(by_function) - known)
    if unknown:
        sys.exit(f"{template}: routes to functions infra/functions.json does not list: {unknown}")
    for f in functions["functions"]:
        f["routes"] = sorted(by_function.get(f["name"], []))
    functions["_comment"] = f"The routes of {template}; everything else from infra/functions.json."
    return functions


def digest(table: dict) -> str:
    pairs = sorted(f"{key} {f['name']}" for f in table["functions"] for key in f.get("routes", []))
    return hashlib.sha256("\n".join(pairs).encode()).hexdigest()


def main() -> None:
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    if sys.argv[1] == "--digest":
        print(digest(json.loads(Path(sys.argv[2]).read_text(encoding="utf-8"))))
        return
    template, out = Path(sys.argv[1]), Path(sys.argv[2])
    out.parent.mkdir(parents=True, exist_ok=True)
    table = route_table(template)
    out.write_text(json.dumps(table, indent=1) + "\n", encoding="utf-8")
    print(digest(table))


if __name__ == "__main__":
    main()
