#!/usr/bin/env python3
"""Lists the tenant stacks of the account, SAM and CDK alike (both tag the stack with
scim:tenant: samconfig.toml's `tags`, the CDK app's stack tags), with the version each runs
and its Tenant URL. Needs boto3 (tests/tools/.venv has it) and the operator's credentials.

    infra/list-tenants.py [REGION ...]        # default: the configured region

The AWS CLI equivalent, one region:

    aws cloudformation describe-stacks --region eu-west-1 --output table --query \\
      "Stacks[?Tags[?Key=='scim:tenant']].[Tags[?Key=='scim:tenant']|[0].Value, StackName,
       Outputs[?OutputKey=='Version']|[0].OutputValue, StackStatus]"
"""

from __future__ import annotations

import sys

import boto3

TENANT_TAG = "scim:tenant"


def tenants(regions: list[str | None]) -> list[dict[str, str]]:
    out = []
    for region in regions:
        cloudformation = boto3.client("cloudformation", region_name=region)
        for page in cloudformation.get_paginator("describe_stacks").paginate():
            for stack in page["Stacks"]:
                tags = {t["Key"]: t["Value"] for t in stack.get("Tags", [])}
                if TENANT_TAG not in tags or stack["StackStatus"] == "DELETE_COMPLETE":
                    continue
                outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
                out.append(
                    {
                        "tenant": tags[TENANT_TAG],
                        "region": cloudformation.meta.region_name,
                        "stack": stack["StackName"],
                        "version": outputs.get("Version", tags.get("scim:version", "-")),
                        "status": stack["StackStatus"],
                        "tenantUrl": outputs.get("TenantUrl", "-"),
                    }
                )
    return sorted(out, key=lambda t: (t["tenant"], t["region"]))


def main(argv: list[str]) -> int:
    if argv[:1] in (["-h"], ["--help"]):
        print(__doc__)
        return 0
    rows = tenants(argv or [None])
    columns = ["tenant", "region", "stack", "version", "status", "tenantUrl"]
    print("\t".join(columns))
    for row in rows:
        print("\t".join(row[c] for c in columns))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
