#!/usr/bin/env python3
"""Re-sends a tenant's change events of a time window (README, "Runbooks": a non-empty
change-events dead-letter queue). Every change's audit record stays in the table; this
writes each audit record of the window again as a new item (DeleteItem, then PutItem of the
same item only if it is still absent), so the table's stream carries an INSERT of an audit
record again, which is what publish-events turns into the change event. Consumers
deduplicate on requestId + id + event, so a window wider than the failure is harmless.

    infra/resend-change-events.py --table <TableName> --tenant <id> \\
        --from 2026-12-06T10:00:00Z --to 2026-12-06T10:05:00Z [--region eu-west-1] [--dry-run]

--from/--to: RFC 3339 UTC times, compared as text with the audit records' `at` (the
activity index's sort key starts with it). Every record is first written to --backup
(default resend-<now>.jsonl, DynamoDB JSON), so one lost between its delete and its put can
be put back by hand. Needs boto3 and the operator's credentials.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import boto3

AUDIT_RECORD = "audit"  # the `rec` value of an audit record (publish-events' stream filter)
ACTIVITY_INDEX = "activity"


def audit_records(client, table: str, tenant: str, start: str, end: str) -> list[dict]:
    """The tenant's audit records whose `at` is in [start, end], oldest first."""
    items, kwargs = [], {
        "TableName": table,
        "IndexName": ACTIVITY_INDEX,
        "KeyConditionExpression": "apk = :p AND ask BETWEEN :a AND :b",
        "ExpressionAttributeValues": {":p": {"S": f"{tenant}#A"}, ":a": {"S": start}, ":b": {"S": end + "\uffff"}},
    }
    while True:
        page = client.query(**kwargs)
        items += [i for i in page["Items"] if i.get("rec", {}).get("S") == AUDIT_RECORD]
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def resend(client, table: str, tenant: str, start: str, end: str, backup: str, dry_run: bool = False) -> int:
    records = audit_records(client, table, tenant, start, end)
    with open(backup, "w", encoding="utf-8") as f:
        for item in records:
            f.write(json.dumps(item) + "\n")
    if dry_run:
        return len(records)
    for item in records:
        key = {"pk": item["pk"], "sk": item["sk"]}
        client.delete_item(TableName=table, Key=key)
        client.put_item(TableName=table, Item=item, ConditionExpression="attribute_not_exists(pk)")
    return len(records)


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--table", required=True)
    p.add_argument("--tenant", required=True)
    p.add_argument("--from", dest="start", required=True)
    p.add_argument("--to", dest="end", required=True)
    p.add_argument("--region")
    p.add_argument("--backup", default=f"resend-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.jsonl")
    p.add_argument("--dry-run", action="store_true", help="list (into --backup) without re-sending")
    a = p.parse_args(argv)
    client = boto3.client("dynamodb", region_name=a.region)
    n = resend(client, a.table, a.tenant, a.start, a.end, a.backup, a.dry_run)
    print(f"{'would re-send' if a.dry_run else 're-sent'} {n} change event(s) of {a.tenant}; records in {a.backup}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
