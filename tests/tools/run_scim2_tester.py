#!/usr/bin/env python3
"""Run the scim2-tester SCIM 2.0 compliance checks against a running server.

Usage (from the repo root, after tests/tools/install.sh):

    tests/tools/.venv/bin/python tests/tools/run_scim2_tester.py \
        --base-url http://127.0.0.1:8080/scim/v2 --token "$TOKEN"

or with SCIM_BASE_URL / SCIM_TOKEN in the environment. Prints one line per
check and a summary; exits 0 when no check ended in ERROR or CRITICAL,
1 when one did, 2 on a usage error. scim2-tester has no CLI of its own; this
wraps its Python API (scim2_tester.check_server).

Tag selection (hierarchical: "crud" selects "crud:read", "crud:read:attributes"...):
    --include-tags discovery,crud      run only these
    --exclude-tags patch:remove        skip these (they are reported as SKIPPED)
    --resource-types User              only these resource types
    --list-tags                        print the known tags and exit
Nothing is skipped by default.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from typing import Any

FAIL_STATUSES = {"ERROR", "CRITICAL"}


def _split(value: str | None) -> list[str] | None:
    if not value:
        return None
    items = [v.strip() for v in value.split(",") if v.strip()]
    return items or None


def _parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Run scim2-tester compliance checks against a SCIM 2.0 server.",
        epilog="Exit status: 0 all checks passed (or were skipped), 1 a check failed, 2 usage error.",
    )
    p.add_argument(
        "--base-url",
        default=os.environ.get("SCIM_BASE_URL"),
        help="SCIM base URL (the 'Tenant URL'), e.g. http://127.0.0.1:8080/scim/v2 [env SCIM_BASE_URL]",
    )
    p.add_argument(
        "--token",
        default=os.environ.get("SCIM_TOKEN"),
        help="Bearer token sent as 'Authorization: Bearer <token>' [env SCIM_TOKEN]",
    )
    p.add_argument("--include-tags", help="comma-separated tags to run (default: all)")
    p.add_argument("--exclude-tags", help="comma-separated tags to skip (default: none)")
    p.add_argument("--resource-types", help="comma-separated resource type names, e.g. User,Group")
    p.add_argument("--timeout", type=float, default=30.0, help="HTTP timeout per request, seconds (default 30)")
    p.add_argument("--json-out", help="write every check result as JSON to this file")
    p.add_argument("-v", "--verbose", action="store_true", help="print the reason of passing checks too, and data of failing ones")
    p.add_argument("--list-tags", action="store_true", help="list the tags scim2-tester knows and exit")
    return p.parse_args(argv)


def _accept_rfc9967_security_events() -> None:
    """RFC 9967 §4 adds `securityEvents` (`asyncRequest`, `eventUris`) to the
    ServiceProviderConfig schema; scim2-models 0.12 predates it and refuses any attribute it
    does not know, so the discovery check (and every check after it) would fail on a
    conforming server. Here the model learns exactly that attribute, typed as the RFC
    defines it; anything else unknown is still refused.
    """
    from typing import List, Literal, Optional

    from pydantic import BaseModel, ConfigDict, Field
    from pydantic.fields import FieldInfo
    from scim2_models import ServiceProviderConfig

    class SecurityEvents(BaseModel):
        model_config = ConfigDict(extra="forbid", populate_by_name=True)
        async_request: Literal["none", "long", "request"] = Field(alias="asyncRequest")
        event_uris: Optional[List[str]] = Field(default=None, alias="eventUris")

    ServiceProviderConfig.model_fields["security_events"] = FieldInfo(
        annotation=Optional[SecurityEvents],
        default=None,
        alias="securityEvents",
        validation_alias="securityEvents",
        serialization_alias="securityEvents",
    )
    ServiceProviderConfig.model_rebuild(force=True)


class _ExcludeTags(set):
    """Marks the exclude set for the workaround in _patch_exclude_bug."""


def _patch_exclude_bug() -> None:
    """Work around a scim2-tester 0.5.2 bug: checks tagged "*" (the GETs of
    /ServiceProviderConfig, /ResourceTypes and /Schemas, which every other check
    depends on) match *any* exclude tag, so any --exclude-tags skipped discovery
    and with it every CRUD and PATCH check. Here "*" checks are never excluded.
    """
    import scim2_tester.utils as u

    original = u._matches_hierarchical_tags

    def matches(func_tags: set[str], filter_tags: set[str]) -> bool:
        if isinstance(filter_tags, _ExcludeTags) and "*" in func_tags:
            return False
        return original(func_tags, filter_tags)

    u._matches_hierarchical_tags = matches


def _patch_datetime_bug() -> None:
    """Work around a scim2-tester 0.5.2 bug: its value generator has no case for
    dateTime attributes and fills them with a random UUID string, which its own
    pydantic models then reject before any request is sent (every check that fills
    all attributes fails with "Input should be a valid datetime"). Our contact
    extension has dateTime attributes (endDate, startDate), so here a dateTime
    attribute gets a real, whole-second UTC time in the future.
    """
    import datetime as dt
    import random

    import scim2_tester.checkers.patch_add as patch_add
    import scim2_tester.checkers.patch_replace as patch_replace
    import scim2_tester.filling as filling

    original = filling.generate_random_value

    def generate(context, path, mutability=None, required=None):  # type: ignore[no-untyped-def]
        value = original(context, path, mutability, required)
        binding = path.resolve()
        if value is None or binding is None or binding.target_type is not dt.datetime:
            return value
        when = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) + dt.timedelta(
            days=random.randint(1, 365)
        )
        return [when] if isinstance(value, list) else when

    filling.generate_random_value = generate
    patch_add.generate_random_value = generate
    patch_replace.generate_random_value = generate


def _jsonable(value: Any) -> Any:
    """Best-effort conversion of a check's debugging data to JSON."""
    try:
        from pydantic import BaseModel

        if isinstance(value, BaseModel):
            return value.model_dump(mode="json", by_alias=True, exclude_none=True)
    except Exception:  # pragma: no cover - pydantic always present with scim2-models
        pass
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    # httpx2 responses and exceptions
    status = getattr(value, "status_code", None)
    if status is not None:
        return {"status_code": status, "text": getattr(value, "text", "")[:2000]}
    return repr(value)


def main(argv: list[str]) -> int:
    args = _parse_args(argv)

    try:
        import httpx2
        from scim2_client.engines.httpx2 import SyncSCIMClient
        from scim2_tester import Status, check_server, get_all_available_tags
    except ImportError as exc:
        venv_python = os.path.join(os.path.dirname(os.path.abspath(__file__)), ".venv", "bin", "python")
        if os.path.exists(venv_python) and os.path.abspath(sys.executable) != venv_python:
            # Started with a python outside the tools venv: re-run inside it.
            os.execv(venv_python, [venv_python, os.path.abspath(__file__), *argv])
        print(
            f"error: {exc}. Run tests/tools/install.sh and use tests/tools/.venv/bin/python",
            file=sys.stderr,
        )
        return 2

    if args.list_tags:
        print("\n".join(get_all_available_tags()))
        return 0

    if not args.base_url:
        print("error: no base URL: pass --base-url or set SCIM_BASE_URL", file=sys.stderr)
        return 2
    if not args.token:
        print("error: no token: pass --token or set SCIM_TOKEN", file=sys.stderr)
        return 2

    base_url = args.base_url.rstrip("/") + "/"
    include = set(_split(args.include_tags) or []) or None
    exclude = _ExcludeTags(_split(args.exclude_tags) or []) or None
    if exclude:
        _patch_exclude_bug()
    _patch_datetime_bug()
    _accept_rfc9967_security_events()
    resource_types = _split(args.resource_types)

    http = httpx2.Client(
        base_url=base_url,
        headers={"Authorization": f"Bearer {args.token}"},
        timeout=args.timeout,
    )
    client = SyncSCIMClient(http)

    started = time.monotonic()
    try:
        results = check_server(
            client,
            raise_exceptions=False,
            include_tags=include,
            exclude_tags=exclude,
            resource_types=resource_types,
        )
    finally:
        http.close()
    elapsed = time.monotonic() - started

    counts: Counter[str] = Counter()
    failed = []
    for r in results:
        status = r.status.name
        counts[status] += 1
        where = f"[{r.resource_type}] " if r.resource_type else ""
        line = f"{status:<9} {where}{r.title}"
        if status in FAIL_STATUSES:
            failed.append(r)
            print(f"{line}: {r.reason}")
            if args.verbose and r.data is not None:
                print("          data: " + json.dumps(_jsonable(r.data))[:2000])
        elif args.verbose or status not in ("SUCCESS",):
            print(f"{line}: {r.reason}" if r.reason else line)
        else:
            print(line)

    if args.json_out:
        with open(args.json_out, "w", encoding="utf-8") as fh:
            json.dump(
                [
                    {
                        "status": r.status.name,
                        "title": r.title,
                        "resource_type": r.resource_type,
                        "tags": sorted(r.tags),
                        "reason": r.reason,
                        "data": _jsonable(r.data),
                    }
                    for r in results
                ],
                fh,
                indent=2,
            )

    passed = sum(n for s, n in counts.items() if s not in FAIL_STATUSES and s != "SKIPPED")
    print(
        f"\nscim2-tester against {base_url} in {elapsed:.1f}s: "
        + ", ".join(f"{s}={counts[s]}" for s in sorted(counts))
    )
    # Plain closing line understood by the CI log reader.
    print(f"scim2-tester: {passed} passed, {len(failed)} failed, {counts.get('SKIPPED', 0)} skipped")
    if not results:
        print("error: no check ran", file=sys.stderr)
        return 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
