"""Infrastructure checks, offline: template.yaml and every CDK-synthesised tenant stack
agree with the one function list (infra/functions.json), the one table definition
(shared/table.json) and the Cargo workspace, and every IAM policy is least privilege.

Run through infra/check.sh (which synthesises the CDK stacks once and passes their
directory in SCIM_CDK_OUT), or alone: `pytest tests/infra` synthesises into a temp dir
when infra/node_modules exists and skips the CDK cases otherwise."""

from __future__ import annotations

import fnmatch
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from cfn_model import Stack, Statement, iam_condition, load_template, ref_target, sym, tags_of, walk

REPO = Path(__file__).resolve().parents[2]
INFRA = REPO / "infra"
FUNCTIONS = json.loads((INFRA / "functions.json").read_text())["functions"]
BY_NAME = {f["name"]: f for f in FUNCTIONS}
TABLE = json.loads((REPO / "shared" / "table.json").read_text())
TENANTS = json.loads((INFRA / "tenants.json").read_text())["tenants"]

# Same defaults as template.yaml's parameters and infra/lib/definitions.ts.
DEFAULT_OPTIONS = {
    "architecture": "arm64",
    "productRoleArns": [],
    "expirySchedule": "rate(15 minutes)",
    "tokenRotationDays": 90,
    "tokenRetireAfterUnusedDays": 14,
    "newTokenUnusedNotifyDays": 7,
    "tokenMaxAgeDays": 180,
    "logRetentionDays": 90,
    "expiredContactAction": "deactivate",
    "entraCleanupMode": "off",
    "accessTokenLifetime": 3600,
    "entraLoginUrl": "https://login.microsoftonline.com",
    "alarmEmail": "",
    "gradualDeployment": False,
    "deploymentType": "Canary10Percent5Minutes",
    "terminationProtection": True,
    "domainName": "",
    "certificateArn": "",
    "hostedZoneId": "",
    "setReceiverUrl": "",
    "reservedConcurrency": 0,
}
SAM_PARAMETERS = {
    "TenantId",
    "Architecture",
    "ExpirySchedule",
    "TokenRotationDays",
    "TokenRetireAfterUnusedDays",
    "NewTokenUnusedNotifyDays",
    "TokenMaxAgeDays",
    "LogRetentionDays",
    "ExpiredContactAction",
    "EntraCleanupMode",
    "ProductRoleArns",
    "AccessTokenLifetime",
    "EntraLoginUrl",
    "AlarmEmail",
    "GradualDeployment",
    "DeploymentType",
    "Version",
    "DomainName",
    "CertificateArn",
    "HostedZoneId",
    "ReservedConcurrency",
}
COMMON_ENV = {"TABLE_NAME", "TENANT_ID", "TOKEN_SECRET_ARN", "EVENT_BUS_NAME", "RUST_LOG"}
# The functions.json keys that list IAM actions.
ACTION_KEYS = ("dynamodb", "settingsItem", "stream", "secretsmanager", "signingSecret", "setSigningSecret", "events", "sns", "sqs", "entraSecret", "failureQueue")
# The token check's environment (expire-contacts) and the rotation guard's (rotate-token):
# variable -> (tenants.json option, SAM parameter).
TOKEN_CHECK_ENV = {
    "NEW_TOKEN_UNUSED_NOTIFY_DAYS": ("newTokenUnusedNotifyDays", "NewTokenUnusedNotifyDays"),
    "TOKEN_MAX_AGE_DAYS": ("tokenMaxAgeDays", "TokenMaxAgeDays"),
    "TOKEN_RETIRE_AFTER_UNUSED_DAYS": ("tokenRetireAfterUnusedDays", "TokenRetireAfterUnusedDays"),
}
ENTRA_RPS_PER_TENANT = 25
STACK_IDS = ["sam"] + [f"cdk:Scim-{t['id']}" for t in TENANTS]
ENV_VARIABLES = COMMON_ENV | {
    "TENANT_URL",
    "TOKEN_ENDPOINT",
    "SIGNING_SECRET_ARN",
    "ACCESS_TOKEN_LIFETIME",
    "ENTRA_LOGIN_URL",
    "SET_RECEIVER_URL",
    "SET_SIGNING_SECRET_ARN",
    "SET_AUDIENCE",
}

# The OAuth 2.0 token endpoint: one function, one route on the SCIM API, no authorizer.
TOKEN_FUNCTION = "oauth-token"
# Every function is published behind this alias and invoked through it (test_operations.py).
ALIAS = "live"
TOKEN_ROUTE = "POST /oauth2/token"


def is_scim_route(route: str) -> bool:
    """A SCIM protocol route (bearer or access token): /scim/v2/... or $default."""
    return route == "$default" or route.split(" ", 1)[1].startswith("/scim/v2/")


def api_of(route: str) -> str:
    """The API a route is on: the IdP's SCIM API (/scim/v2, $default, and the token endpoint
    beside them) or the product's application API (/app/v1)."""
    if is_scim_route(route) or route == TOKEN_ROUTE:
        return "scim"
    assert route.split(" ", 1)[1].startswith("/app/v1/"), f"route {route} is under neither /scim/v2 nor /app/v1"
    return "app"


def function_api(f: dict) -> str | None:
    apis = {api_of(r) for r in f["routes"]}
    assert len(apis) <= 1, f"{f['name']}: routes on two APIs"
    return next(iter(apis), None)


# The functions that serve the SCIM protocol (and check bearer and access tokens): not the token endpoint.
SCIM_FUNCTIONS = [f["name"] for f in FUNCTIONS if f["kind"] == "http" and all(is_scim_route(r) for r in f["routes"])]
APP_FUNCTIONS = [f["name"] for f in FUNCTIONS if f["kind"] == "http" and function_api(f) == "app"]

# The tenant's catalog of entitlements and roles: read over SCIM by catalog-read (GetItem,
# Query), replaced by the product through app-catalog (Query, BatchWriteItem); neither may
# touch any other partition.
CATALOG_READER = "catalog-read"
CATALOG_WRITER = "app-catalog"
CATALOG_PARTITIONS = ["{tenant}#E", "{tenant}#R"]

# Asynchronous requests (RFC 9967, Prefer: respond-async): the SCIM writes accept one as a job
# item in the job partition; async-worker runs it from the table's stream, async-status reads
# its completion. Written out here rather than read from functions.json, so that a change to
# the function list alone cannot widen either function.
ASYNC_STATUS = "async-status"
ASYNC_WORKER = "async-worker"
JOB_PARTITION = "{tenant}#Q"
JOB_ITEM_FILTER = {"eventName": ["INSERT"], "dynamodb": {"NewImage": {"rec": {"S": ["job"]}}}}
ASYNC_REQUESTS = "request"
# The functions ASYNC_REQUESTS is set on: every function with routes under /scim/v2.
ASYNC_REQUEST_FUNCTIONS = sorted(
    [f"users-{verb}" for verb in ("create", "get", "list", "replace", "patch", "delete")]
    + [f"groups-{verb}" for verb in ("create", "get", "list", "replace", "patch", "delete")]
    + ["bulk", "discovery", "catalog-read", ASYNC_STATUS]
)
# What the worker may do: the bulk function's table actions (it runs the same writes), the
# stream, the completion SETs (signed, put on the bus) and its own dead-letter queue.
ASYNC_WORKER_TABLE_ACTIONS = {
    "dynamodb:GetItem",
    "dynamodb:BatchGetItem",
    "dynamodb:Query",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:ConditionCheckItem",
    "dynamodb:BatchWriteItem",
}
STREAM_ACTIONS = {"dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:ListStreams"}
ASYNC_WORKER_ENVIRONMENT = {
    "TABLE_NAME",
    "TENANT_ID",
    "RUST_LOG",
    "EVENT_BUS_NAME",
    "TENANT_URL",
    "SET_SIGNING_SECRET_ARN",
    "SET_AUDIENCE",
}

# The application API's functions and exactly what each may do (infra/README.md).
# app-contacts writes through the SCIM PATCH path, so it has exactly users-patch's table access.
APP_PERMISSIONS = {
    # OAuth clients: PutItem creates one, DeleteItem + UpdateItem (of the settings
    # item) in one transaction revoke one; a transaction needs no action of its own in IAM.
    "app-settings": {
        "dynamodb": {
            "dynamodb:GetItem",
            "dynamodb:Query",
            "dynamodb:UpdateItem",
            "dynamodb:PutItem",
            "dynamodb:DeleteItem",
        },
        "indexes": set(),
        "secretsmanager": {
            "secretsmanager:DescribeSecret",
            "secretsmanager:GetSecretValue",
            "secretsmanager:PutSecretValue",
            "secretsmanager:UpdateSecretVersionStage",
        },
        "environment": {"TABLE_NAME", "TENANT_ID", "TOKEN_SECRET_ARN", "TENANT_URL", "TOKEN_ENDPOINT", "RUST_LOG"},
    },
    "app-directory": {
        "dynamodb": {"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query"},
        "indexes": {"memberships-by-user", "activity", "expiring-contacts"},
        "secretsmanager": set(),
        "environment": {"TABLE_NAME", "TENANT_ID", "TENANT_URL", "RUST_LOG"},
    },
    "app-contacts": {
        "dynamodb": set(BY_NAME["users-patch"]["dynamodb"]),
        "indexes": set(BY_NAME["users-patch"]["indexes"]),
        "secretsmanager": set(),
        "environment": {"TABLE_NAME", "TENANT_ID", "TENANT_URL", "RUST_LOG"},
    },
    # The catalog: its two partitions only (CATALOG_PARTITIONS).
    CATALOG_WRITER: {
        "dynamodb": {"dynamodb:Query", "dynamodb:BatchWriteItem"},
        "indexes": set(),
        "secretsmanager": set(),
        "environment": {"TABLE_NAME", "TENANT_ID", "TENANT_URL", "RUST_LOG"},
        "leadingKeys": CATALOG_PARTITIONS,
    },
}


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def cdk_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    given = os.environ.get("SCIM_CDK_OUT")
    if given:
        return Path(given)
    cdk = INFRA / "node_modules" / ".bin" / "cdk"
    if not cdk.exists():
        pytest.skip("infra/node_modules is missing; run infra/check.sh (npm ci + cdk synth) for the CDK cases")
    out = tmp_path_factory.mktemp("cdk.out")
    env = dict(
        os.environ,
        SCIM_ASSETS="placeholder",
        CDK_DISABLE_VERSION_CHECK="1",
        CDK_DISABLE_CLI_TELEMETRY="true",
    )
    proc = subprocess.run(
        [str(cdk), "synth", "--quiet", "--no-notices", "--output", str(out)],
        cwd=INFRA,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, f"cdk synth failed:\n{proc.stdout}\n{proc.stderr}"
    return out


@pytest.fixture(scope="session")
def sam_stack() -> Stack:
    return Stack("template.yaml", load_template(REPO / "template.yaml"))


@pytest.fixture(params=STACK_IDS)
def stack(request: pytest.FixtureRequest) -> Stack:
    if request.param == "sam":
        return request.getfixturevalue("sam_stack")
    name = request.param.split(":", 1)[1]
    path = request.getfixturevalue("cdk_out") / f"{name}.template.json"
    assert path.exists(), f"cdk synth produced no {path.name}"
    return Stack(name, load_template(path))


def tenant_options(stack: Stack) -> dict | None:
    """The tenant's options for a CDK stack; None for the parameterised SAM template."""
    if stack.is_sam:
        return None
    tenant = next(t for t in TENANTS if f"Scim-{t['id']}" == stack.label)
    return {**DEFAULT_OPTIONS, **tenant.get("options", {})}


def expected(stack: Stack, option: str, sam_parameter: str):
    options = tenant_options(stack)
    return "{Ref:%s}" % sam_parameter if options is None else str(options[option])


def named(stack: Stack, resource_type: str, name_property: str, suffix: str) -> str:
    """The one resource of a type whose name (possibly a !Sub) ends with `suffix`."""
    found = [
        k for k, v in stack.of_type(resource_type).items() if sym(v["Properties"][name_property]).endswith(suffix)
    ]
    assert len(found) == 1, f"{stack.label}: expected one {resource_type} named *{suffix}, found {found}"
    return found[0]


def token_secret(stack: Stack) -> str:
    return named(stack, "AWS::SecretsManager::Secret", "Name", "/bearer-token")


def signing_secret(stack: Stack) -> str:
    return named(stack, "AWS::SecretsManager::Secret", "Name", "/signing-key")


def set_signing_secret(stack: Stack) -> str:
    return named(stack, "AWS::SecretsManager::Secret", "Name", "/set-signing-key")


def entra_secret(stack: Stack) -> str:
    return named(stack, "AWS::SecretsManager::Secret", "Name", "/entra-credentials")


def change_events_dlq(stack: Stack) -> str:
    return named(stack, "AWS::SQS::Queue", "QueueName", "-change-events-dlq")


def failure_queue(stack: Stack, function: str) -> str:
    """An event function's own dead-letter queue."""
    return named(stack, "AWS::SQS::Queue", "QueueName", f"-{function}-dlq")


def api_ids(stack: Stack) -> dict[str, str]:
    """{"scim": logical id, "app": logical id}: each of the stack's two APIs serves the routes
    of exactly one of them."""
    by_api: dict[str, set[str]] = {}
    for key, route in stack.route_views().items():
        by_api.setdefault(route.api, set()).add(api_of(key))
    assert set(by_api) == set(stack.apis()), f"{stack.label}: an API without routes: {stack.apis()}"
    assert all(len(kinds) == 1 for kinds in by_api.values()), f"{stack.label}: an API serves both: {by_api}"
    out = {next(iter(kinds)): api for api, kinds in by_api.items()}
    assert set(out) == {"scim", "app"} and len(by_api) == 2, f"{stack.label}: {by_api}"
    return out


def settings_condition(stack: Stack) -> str:
    """The IAM condition that confines a statement to the tenant's settings item."""
    return partition_condition(stack, ["{tenant}#S"])


def partition_condition(stack: Stack, keys: list[str]) -> str:
    """The IAM condition that confines a statement to the tenant's partitions `keys`
    (functions.json notation: "{tenant}#O")."""
    tenant = "{Ref:TenantId}" if stack.is_sam else stack.label.removeprefix("Scim-")
    values = [k.replace("{tenant}", tenant) for k in keys]
    return iam_condition({"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": values}})


def invoke_policy(stack: Stack) -> str | None:
    """The managed policy letting the product's roles call /app/v1 (None: not in this stack)."""
    found = list(stack.of_type("AWS::IAM::ManagedPolicy"))
    assert len(found) <= 1, f"{stack.label}: managed policies {found}"
    return found[0] if found else None


def invoke_resource(stack: Stack) -> str:
    """execute-api ARN of every method and stage of /app/v1 on the application API, nothing else."""
    if stack.is_sam:
        region, account = "{Ref:AWS::Region}", "{Ref:AWS::AccountId}"
    else:
        tenant = next(t for t in TENANTS if f"Scim-{t['id']}" == stack.label)
        region, account = tenant["region"], tenant["account"]
    return "arn:{Ref:AWS::Partition}:execute-api:%s:%s:{Ref:%s}/*/*/app/v1/*" % (region, account, api_ids(stack)["app"])


# --------------------------------------------------------------------------- the one list


def test_function_list_is_consistent():
    names = [f["name"] for f in FUNCTIONS]
    assert len(names) == len(set(names)), "duplicate function names"
    index_names = {g["IndexName"] for g in TABLE["GlobalSecondaryIndexes"]}
    routes: list[str] = []
    for f in FUNCTIONS:
        assert f["kind"] in {"http", "rotation", "schedule", "stream", "event"}, f["name"]
        assert ("eventPattern" in f) == (f["kind"] == "event"), f"{f['name']}: only event functions have a pattern"
        # Asynchronously invoked functions (event and schedule) own a dead-letter queue; a stream
        # function sends what still fails to its own queue or to the change events' one.
        own_queue = f["kind"] in ("event", "schedule") or (f["kind"] == "stream" and not f.get("sqs"))
        assert bool(f.get("failureQueue")) == own_queue, f"{f['name']}: failureQueue"
        assert not (f.get("failureQueue") and f.get("sqs")), f"{f['name']}: one dead-letter queue"
        assert bool(f.get("stream")) == (f["kind"] == "stream"), f"{f['name']}: only stream functions read the stream"
        assert ("streamMapping" in f) == (f["kind"] == "stream"), f"{f['name']}: only stream functions have a mapping"
        assert bool(f["routes"]) == (f["kind"] == "http"), f"{f['name']}: only http functions have routes"
        routes += f["routes"]
        extra = f.get("whenExpiredActionDelete") or {"dynamodb": [], "indexes": []}
        for key, service in (
            ("dynamodb", "dynamodb"),
            ("settingsItem", "dynamodb"),
            ("stream", "dynamodb"),
            ("secretsmanager", "secretsmanager"),
            ("signingSecret", "secretsmanager"),
            ("events", "events"),
            ("sns", "sns"),
            ("sqs", "sqs"),
            ("entraSecret", "secretsmanager"),
            ("failureQueue", "sqs"),
        ):
            actions = f.get(key, []) + (extra["dynamodb"] if key == "dynamodb" else [])
            for action in actions:
                assert action.startswith(f"{service}:") and "*" not in action, f"{f['name']}: {action}"
        for index in f["indexes"] + extra["indexes"]:
            assert index in index_names, f"{f['name']} uses unknown index {index}"
        api = function_api(f)
        if f["name"] in SCIM_FUNCTIONS:
            # Every SCIM function updates the settings item (last caller) at most once a minute:
            # with its unconditional UpdateItem, or with the settings-item-only grant.
            has_update = "dynamodb:UpdateItem" in f["dynamodb"]
            assert f.get("settingsItem", []) == ([] if has_update else ["dynamodb:UpdateItem"]), f["name"]
        elif f["kind"] == "rotation":
            # The rotation guard reads each token's last use, nothing more.
            assert f.get("settingsItem") == ["dynamodb:GetItem"], f["name"]
        else:
            assert not f.get("settingsItem"), f"{f['name']}: only SCIM functions and rotate-token have settingsItem"
        if "environment" in f:
            assert set(f["environment"]) <= ENV_VARIABLES, f["name"]
            assert ("TOKEN_SECRET_ARN" in f["environment"]) == bool(f["secretsmanager"]), f["name"]
            assert ("SIGNING_SECRET_ARN" in f["environment"]) == bool(f.get("signingSecret")), f["name"]
            assert ("SET_SIGNING_SECRET_ARN" in f["environment"]) == bool(f.get("setSigningSecret")), f["name"]
        wants_list = (f["kind"] == "http" and f["name"] not in SCIM_FUNCTIONS) or f["name"] in ("push-sets", ASYNC_WORKER)
        assert ("environment" in f) == wants_list, (
            f"{f['name']}: only app functions, the token endpoint, push-sets and async-worker list their environment"
        )
        for key in f.get("leadingKeys", []):
            assert re.fullmatch(r"\{tenant\}#[A-Za-z0-9]+", key), f"{f['name']}: leadingKeys {key}"
        if f.get("leadingKeys"):
            assert f["dynamodb"] and not f["indexes"], f"{f['name']}: leadingKeys confine table actions (no index)"
    assert len(routes) == len(set(routes)), "a route is served by two functions"
    assert "$default" in routes, "unknown routes must reach a function ($default)"
    assert [f["name"] for f in FUNCTIONS if f["kind"] == "rotation"] == ["rotate-token"]
    assert [f["name"] for f in FUNCTIONS if f["kind"] == "schedule"] == ["expire-contacts"]
    assert [f["name"] for f in FUNCTIONS if f["kind"] == "stream"] == ["publish-events", ASYNC_WORKER]
    assert [f["name"] for f in FUNCTIONS if f["kind"] == "event"] == ["entra-guest-cleanup", "push-sets"]
    assert [f["name"] for f in FUNCTIONS if f.get("entraSecret")] == ["entra-guest-cleanup"]
    # The signing key: every SCIM function verifies access tokens with it, the token endpoint
    # signs them; nothing else reads it, and nobody may change it but the operator.
    holders = sorted(f["name"] for f in FUNCTIONS if f.get("signingSecret"))
    assert holders == sorted(SCIM_FUNCTIONS + [TOKEN_FUNCTION]), holders
    assert all(f["signingSecret"] == ["secretsmanager:GetSecretValue"] for f in FUNCTIONS if f.get("signingSecret"))
    assert [f["name"] for f in FUNCTIONS if TOKEN_ROUTE in f["routes"]] == [TOKEN_FUNCTION]
    confined = {f["name"]: f["leadingKeys"] for f in FUNCTIONS if f.get("leadingKeys")}
    assert confined == {
        TOKEN_FUNCTION: [TOKEN_PARTITION],
        CATALOG_READER: CATALOG_PARTITIONS,
        CATALOG_WRITER: CATALOG_PARTITIONS,
        ASYNC_STATUS: [JOB_PARTITION],
    }, confined
    # Writes only put their audit record; the publisher puts change events on the bus, the
    # asynchronous requests' worker their completion SETs, and the scheduled job its token
    # notices (also the only function that publishes to the alarm topic).
    assert [f["name"] for f in FUNCTIONS if f["events"]] == ["expire-contacts", "publish-events", ASYNC_WORKER]
    assert BY_NAME["expire-contacts"]["events"] == ["events:PutEvents"]
    assert [(f["name"], f["sns"]) for f in FUNCTIONS if f.get("sns")] == [("expire-contacts", ["sns:Publish"])]
    assert TABLE["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}


def test_every_listed_action_exists_in_iam():
    """Every action functions.json lists is one IAM knows (cfn-lint's copy of the Service
    Authorization Reference). A transaction, for one, is no action of its own:
    TransactWriteItems is authorized as the PutItem/UpdateItem/DeleteItem/ConditionCheckItem
    of its parts, so listing it would grant nothing and only mislead."""
    from importlib import resources

    policies = json.loads((resources.files("cfnlint") / "data" / "AdditionalSpecs" / "Policies.json").read_text())
    unknown = []
    for f in FUNCTIONS:
        extra = (f.get("whenExpiredActionDelete") or {}).get("dynamodb", [])
        for key in ACTION_KEYS:
            for action in f.get(key, []) + (extra if key == "dynamodb" else []):
                service, name = action.split(":", 1)
                if name.lower() not in {a.lower() for a in policies.get(service, {}).get("Actions", {})}:
                    unknown.append(f"{f['name']}.{key}: {action}")
    assert not unknown, f"not IAM actions: {unknown}"


def _workspace_members() -> list[str]:
    manifest = tomllib.loads((REPO / "Cargo.toml").read_text())
    members = manifest["workspace"].get("members", [])
    excluded = set(manifest["workspace"].get("exclude", []))
    paths = set()
    for pattern in members:
        for p in glob.glob(str(REPO / pattern)):
            rel = Path(p).relative_to(REPO).as_posix()
            if rel not in excluded:
                paths.add(rel)
    return sorted(paths)


@pytest.mark.parametrize("name", [f["name"] for f in FUNCTIONS])
def test_cargo_package_exists_for_function(name: str):
    package_dir = REPO / "functions" / name
    if not (package_dir / "Cargo.toml").exists() and BY_NAME[name]["kind"] != "http":
        pytest.skip(f"functions/{name} not created yet ({BY_NAME[name]['kind']} function, built later)")
    assert (package_dir / "Cargo.toml").exists(), f"functions/{name}/Cargo.toml is missing"
    package = tomllib.loads((package_dir / "Cargo.toml").read_text())["package"]
    assert package["name"] == name, f"functions/{name} must be the package {name} (SAM/CDK build the binary {name})"
    bins = tomllib.loads((package_dir / "Cargo.toml").read_text()).get("bin", [])
    assert all(b.get("name", name) == name for b in bins), f"functions/{name}: binary must be named {name}"
    assert f"functions/{name}" in _workspace_members(), f"functions/{name} is not a workspace member"


def test_every_cargo_function_is_deployed():
    dirs = sorted(p.parent.name for p in (REPO / "functions").glob("*/Cargo.toml"))
    unknown = [d for d in dirs if d not in BY_NAME]
    assert not unknown, f"functions/ has packages missing from infra/functions.json: {unknown}"


# --------------------------------------------------------------------------- both templates


def test_functions_match_the_list(stack: Stack):
    functions = stack.functions()
    assert set(functions) == set(BY_NAME), f"{stack.label}: template functions differ from infra/functions.json"
    options = tenant_options(stack)
    for name, fn in functions.items():
        p = fn.props
        assert p["Runtime"] == "provided.al2023" and p["Handler"] == "bootstrap", name
        architecture = [sym(a) for a in p["Architectures"]]
        assert architecture == ["{Ref:Architecture}" if options is None else options["architecture"]], name
        if stack.is_sam:
            assert fn.metadata.get("BuildMethod") == "rust-cargolambda", name
            assert fn.metadata.get("BuildProperties", {}).get("Binary") == name, name
            assert sym(p["CodeUri"]) == ".", f"{name}: CodeUri must be the workspace root"


def test_environment(stack: Stack):
    table = stack.only("AWS::DynamoDB::Table")
    secret = token_secret(stack)
    bus = stack.only("AWS::Events::EventBus")
    tenant_url = sym(stack.template["Outputs"]["TenantUrl"]["Value"])
    token_endpoint = sym(stack.template["Outputs"]["TokenEndpoint"]["Value"])
    signing = "{Ref:%s}" % signing_secret(stack)
    for name, fn in stack.functions().items():
        env = {k: sym(v) for k, v in fn.environment.items()}
        common = COMMON_ENV | ({"SIGNING_SECRET_ARN"} if BY_NAME[name].get("signingSecret") else set())
        wanted = set(BY_NAME[name].get("environment", common))
        if BY_NAME[name]["kind"] == "schedule":
            wanted |= {"EXPIRED_ACTION", "ALARM_TOPIC_ARN"} | set(TOKEN_CHECK_ENV)
        if BY_NAME[name]["kind"] == "rotation":
            wanted |= {"TOKEN_RETIRE_AFTER_UNUSED_DAYS"}
        if BY_NAME[name].get("entraSecret"):
            wanted |= {"ENTRA_CLEANUP_MODE", "ENTRA_CREDENTIALS_SECRET_ARN"}
        if "SET_RECEIVER_URL" in env:
            assert env["SET_RECEIVER_URL"] == expected(stack, "setReceiverUrl", "SetReceiverUrl"), f"{stack.label} {name}"
        if name in SCIM_FUNCTIONS:
            wanted |= {"ASYNC_REQUESTS"}
        if BY_NAME[name]["kind"] == "stream":
            wanted |= {"TENANT_URL", "SET_SIGNING_SECRET_ARN", "SET_AUDIENCE"}
            assert env["SET_SIGNING_SECRET_ARN"] == "{Ref:%s}" % set_signing_secret(stack), f"{stack.label} {name}"
            assert env["SET_AUDIENCE"] == "{Arn:%s}" % bus, f"{stack.label} {name}: {env['SET_AUDIENCE']}"
        assert set(env) == wanted, f"{stack.label} {name}: environment {sorted(env)}"
        assert env["TABLE_NAME"] == "{Ref:%s}" % table
        if "TOKEN_SECRET_ARN" in env:
            assert env["TOKEN_SECRET_ARN"] == "{Ref:%s}" % secret
        if "EVENT_BUS_NAME" in env:
            assert env["EVENT_BUS_NAME"] == "{Ref:%s}" % bus
        if "TENANT_URL" in env:
            # The SCIM base URL the settings page shows: exactly the TenantUrl output.
            assert env["TENANT_URL"] == tenant_url, f"{stack.label} {name}: TENANT_URL {env['TENANT_URL']}"
        if "TOKEN_ENDPOINT" in env:
            assert env["TOKEN_ENDPOINT"] == token_endpoint, f"{stack.label} {name}: TOKEN_ENDPOINT {env['TOKEN_ENDPOINT']}"
        if "SIGNING_SECRET_ARN" in env:
            assert env["SIGNING_SECRET_ARN"] == signing, f"{stack.label} {name}: SIGNING_SECRET_ARN"
        if "ACCESS_TOKEN_LIFETIME" in env:
            assert env["ACCESS_TOKEN_LIFETIME"] == expected(stack, "accessTokenLifetime", "AccessTokenLifetime")
        if "ENTRA_LOGIN_URL" in env:
            assert env["ENTRA_LOGIN_URL"] == expected(stack, "entraLoginUrl", "EntraLoginUrl")
        assert env["TENANT_ID"] == expected_tenant_id(stack)
        assert env["RUST_LOG"] == "info"
        if "EXPIRED_ACTION" in env:
            assert env["EXPIRED_ACTION"] == expected(stack, "expiredContactAction", "ExpiredContactAction")
        for variable, (option, parameter) in TOKEN_CHECK_ENV.items():
            if variable in env:
                assert env[variable] == expected(stack, option, parameter), f"{stack.label} {name}: {variable}"
        if "ALARM_TOPIC_ARN" in env:
            assert env["ALARM_TOPIC_ARN"] == "{Ref:%s}" % stack.only("AWS::SNS::Topic"), f"{stack.label} {name}"
        if "ENTRA_CLEANUP_MODE" in env:
            assert env["ENTRA_CLEANUP_MODE"] == expected(stack, "entraCleanupMode", "EntraCleanupMode")
            assert env["ENTRA_CREDENTIALS_SECRET_ARN"] == "{Ref:%s}" % entra_secret(stack)


def expected_tenant_id(stack: Stack) -> str:
    return "{Ref:TenantId}" if stack.is_sam else stack.label.removeprefix("Scim-")


def test_routes_match_the_list(stack: Stack):
    wanted = {route: f["name"] for f in FUNCTIONS for route in f["routes"]}
    assert stack.routes() == wanted
    for route in wanted:
        api_of(route)  # under /scim/v2 or /app/v1


def test_app_routes_are_iam_authorized_and_scim_routes_are_not(stack: Stack):
    """Every /app/v1 route is on the application API with AWS_IAM authorization (the
    product's backend signs with SigV4); every /scim/v2 route, and $default, is on the SCIM
    API without any authorizer (the function checks the bearer token). A bearer token never
    opens /app/v1; IAM credentials never open /scim/v2."""
    apis = api_ids(stack)
    views = stack.route_views()
    assert {k for k in views if api_of(k) == "app"} == {r for n in APP_FUNCTIONS for r in BY_NAME[n]["routes"]}
    for key, route in views.items():
        if api_of(key) == "app":
            assert route.api == apis["app"] and route.authorization == "AWS_IAM", f"{stack.label} {key}: {route}"
        else:
            assert route.api == apis["scim"] and route.authorization == "NONE", f"{stack.label} {key}: {route}"
    if stack.is_sam:
        # No authorizer can be switched on for the SCIM API by default, nor off for /app/v1.
        assert "Auth" not in stack.resources[apis["scim"]]["Properties"]
        assert stack.resources[apis["app"]]["Properties"]["Auth"] == {
            "EnableIamAuthorizer": True,
            "DefaultAuthorizer": "AWS_IAM",
        }
    else:
        assert not stack.of_type("AWS::ApiGatewayV2::Authorizer"), "IAM authorization needs no authorizer resource"


def test_table_matches_the_definition(stack: Stack):
    table_id = stack.only("AWS::DynamoDB::Table")
    table = stack.resources[table_id]
    p = table["Properties"]
    assert p["KeySchema"] == TABLE["KeySchema"]
    assert sorted(p["AttributeDefinitions"], key=str) == sorted(TABLE["AttributeDefinitions"], key=str)
    assert sorted(p["GlobalSecondaryIndexes"], key=lambda g: g["IndexName"]) == sorted(
        TABLE["GlobalSecondaryIndexes"], key=lambda g: g["IndexName"]
    )
    assert p["BillingMode"] == TABLE["BillingMode"] == "PAY_PER_REQUEST"
    assert p["TimeToLiveSpecification"] == {"AttributeName": TABLE["TimeToLiveAttribute"], "Enabled": True}
    # CloudFormation has no StreamEnabled: a StreamSpecification enables the stream.
    assert TABLE["StreamSpecification"]["StreamEnabled"] is True
    assert p["StreamSpecification"] == {"StreamViewType": TABLE["StreamSpecification"]["StreamViewType"]}
    assert p["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert p["DeletionProtectionEnabled"] is True
    assert table.get("DeletionPolicy") == "Retain" and table.get("UpdateReplacePolicy") == "Retain"


def test_activity_index(stack: Stack):
    """The sparse GSI the activity log reads: only audit records carry apk ({tenant}#A) and
    ask ({at}#{resource id}#{request id}), projected whole, so a tenant's activity is one
    Query newest first."""
    wanted = {
        "IndexName": "activity",
        "KeySchema": [{"AttributeName": "apk", "KeyType": "HASH"}, {"AttributeName": "ask", "KeyType": "RANGE"}],
        "Projection": {"ProjectionType": "ALL"},
    }
    assert wanted in TABLE["GlobalSecondaryIndexes"], "shared/table.json has no activity index"
    p = stack.resources[stack.only("AWS::DynamoDB::Table")]["Properties"]
    assert [g for g in p["GlobalSecondaryIndexes"] if g["IndexName"] == "activity"] == [wanted], stack.label
    for attribute in ("apk", "ask"):
        assert {"AttributeName": attribute, "AttributeType": "S"} in p["AttributeDefinitions"], attribute
    readers = sorted(n for n, f in BY_NAME.items() if "activity" in f["indexes"])
    assert readers == ["app-directory"], readers


# --------------------------------------------------------------------------- IAM


def test_no_wildcard_actions_anywhere(stack: Stack):
    """No action has a wildcard; no resource either, except the application API's invoke
    policy, whose one resource is every stage and method of /app/v1 and nothing else."""
    policy = invoke_policy(stack)
    for path, node in walk(stack.template):
        for key in ("Action", "NotAction"):
            if key in node:
                for action in node[key] if isinstance(node[key], list) else [node[key]]:
                    assert isinstance(action, str) and "*" not in action, f"{stack.label}{path}: {key} {action!r}"
        if "Effect" in node and "Resource" in node:
            for resource in node["Resource"] if isinstance(node["Resource"], list) else [node["Resource"]]:
                if policy and path.startswith(f"/Resources/{policy}/Properties/PolicyDocument/"):
                    assert sym(resource) == invoke_resource(stack), f"{stack.label}{path}: Resource {sym(resource)}"
                else:
                    assert "*" not in sym(resource), f"{stack.label}{path}: Resource {sym(resource)}"


def test_only_per_function_roles_with_inline_policies(stack: Stack):
    for kind in ("AWS::IAM::Policy", "AWS::IAM::User", "AWS::IAM::Group"):
        assert not stack.of_type(kind), f"{stack.label}: unexpected {kind}"
    # The one managed policy is the product roles' invoke policy; no function role has it.
    assert set(stack.of_type("AWS::IAM::ManagedPolicy")) <= {invoke_policy(stack)}
    roles = stack.of_type("AWS::IAM::Role")
    # With gradualDeployment, CDK adds CodeDeploy's one service role (test_operations.py).
    options = tenant_options(stack)
    if options is not None and options["gradualDeployment"]:
        roles = {k: v for k, v in roles.items() if not k.startswith("CodeDeployServiceRole")}
    function_roles = {fn.role_id for fn in stack.functions().values()}
    assert set(roles) == function_roles, f"{stack.label}: roles that belong to no function, or shared roles"
    assert len(function_roles) == len(FUNCTIONS), "each function has its own role"
    for role_id, role in roles.items():
        p = role["Properties"]
        assert not p.get("ManagedPolicyArns"), f"{role_id}: managed policies are not least privilege"
        trust = p["AssumeRolePolicyDocument"]["Statement"]
        assert trust == [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ], f"{role_id}: only Lambda may assume a function role"


def expected_statements(stack: Stack, name: str, log_group_id: str) -> set[Statement]:
    f = BY_NAME[name]
    table = "{Arn:%s}" % stack.only("AWS::DynamoDB::Table")
    secret = "{Ref:%s}" % token_secret(stack)
    bus = "{Arn:%s}" % stack.only("AWS::Events::EventBus")
    stream = "{StreamArn:%s}" % stack.only("AWS::DynamoDB::Table")
    dead_letters = "{Arn:%s}" % change_events_dlq(stack)
    statements = {
        Statement(frozenset({"logs:CreateLogStream", "logs:PutLogEvents"}), frozenset({"{Arn:%s}" % log_group_id}))
    }
    if f["dynamodb"] and f.get("leadingKeys"):
        condition = partition_condition(stack, f["leadingKeys"])
        statements.add(Statement(frozenset(f["dynamodb"]), frozenset({table}), iam_condition=condition))
    elif f["dynamodb"]:
        resources = frozenset({table} | {f"{table}/index/{i}" for i in f["indexes"]})
        statements.add(Statement(frozenset(f["dynamodb"]), resources))
    if f.get("settingsItem"):
        statements.add(
            Statement(frozenset(f["settingsItem"]), frozenset({table}), iam_condition=settings_condition(stack))
        )
    if f["secretsmanager"]:
        statements.add(Statement(frozenset(f["secretsmanager"]), frozenset({secret})))
    if f.get("signingSecret"):
        statements.add(Statement(frozenset(f["signingSecret"]), frozenset({"{Ref:%s}" % signing_secret(stack)})))
    if f["events"]:
        statements.add(Statement(frozenset(f["events"]), frozenset({bus})))
    if f.get("sns"):
        statements.add(Statement(frozenset(f["sns"]), frozenset({"{Ref:%s}" % stack.only("AWS::SNS::Topic")})))
    if f.get("stream"):
        statements.add(Statement(frozenset(f["stream"]), frozenset({stream})))
    if f.get("sqs"):
        statements.add(Statement(frozenset(f["sqs"]), frozenset({dead_letters})))
    if f.get("entraSecret"):
        statements.add(Statement(frozenset(f["entraSecret"]), frozenset({"{Ref:%s}" % entra_secret(stack)})))
    if f.get("setSigningSecret"):
        statements.add(Statement(frozenset(f["setSigningSecret"]), frozenset({"{Ref:%s}" % set_signing_secret(stack)})))
    if f.get("failureQueue"):
        statements.add(Statement(frozenset(f["failureQueue"]), frozenset({"{Arn:%s}" % failure_queue(stack, name)})))
    extra = f.get("whenExpiredActionDelete")
    if extra:
        resources = frozenset({table} | {f"{table}/index/{i}" for i in extra["indexes"]})
        options = tenant_options(stack)
        if options is None:
            statements.add(Statement(frozenset(extra["dynamodb"]), resources, "DeleteExpiredContacts"))
        elif options["expiredContactAction"] == "delete":
            statements.add(Statement(frozenset(extra["dynamodb"]), resources))
    return statements


def test_each_function_gets_exactly_its_listed_actions(stack: Stack):
    for name, fn in stack.functions().items():
        got = stack.role_statements(fn.role_id)
        assert len(got) == len(set(got)), f"{stack.label} {name}: duplicate statements"
        assert set(got) == expected_statements(stack, name, fn.log_group_id), (
            f"{stack.label} {name}: IAM differs from infra/functions.json"
        )
        options = tenant_options(stack)
        delete_active = options is not None and options["expiredContactAction"] == "delete"
        extra = BY_NAME[name].get("whenExpiredActionDelete") or {"dynamodb": []}
        stream = "{StreamArn:%s}" % stack.only("AWS::DynamoDB::Table")
        dynamodb = {
            a
            for s in got
            if s.condition is None and s.iam_condition is None and stream not in s.resources
            for a in s.actions
            if a.startswith("dynamodb:")
        }
        wanted = set(BY_NAME[name]["dynamodb"]) | (set(extra["dynamodb"]) if delete_active else set())
        if BY_NAME[name].get("leadingKeys"):
            wanted = set()  # all of them confined to the function's partitions (expected_statements)
        assert dynamodb == wanted, f"{stack.label} {name}: DynamoDB actions differ from infra/functions.json"
    if stack.is_sam:
        condition = stack.template["Conditions"]["DeleteExpiredContacts"]
        assert condition == {"Fn::Equals": [{"Ref": "ExpiredContactAction"}, "delete"]}


def test_scim_functions_update_only_the_settings_item(stack: Stack):
    """Every SCIM function records its caller on the tenant's settings item (pk {tenant}#S)
    at most once a minute. A function without UpdateItem for its own writes gets it on that
    item only: one statement, UpdateItem alone, the table alone (no index), confined by
    ForAllValues:StringEquals dynamodb:LeadingKeys. Nothing else carries that grant."""
    table = "{Arn:%s}" % stack.only("AWS::DynamoDB::Table")
    functions = stack.functions()
    for name, fn in functions.items():
        got = stack.role_statements(fn.role_id)
        update = [s for s in got if "dynamodb:UpdateItem" in s.actions]
        leading = [s for s in got if s.iam_condition is not None and "LeadingKeys" in s.iam_condition]
        if name not in SCIM_FUNCTIONS and BY_NAME[name]["kind"] == "rotation":
            # The rotation guard: GetItem on the settings item, and nothing else on the table.
            assert leading == [
                Statement(frozenset({"dynamodb:GetItem"}), frozenset({table}), iam_condition=settings_condition(stack))
            ], f"{stack.label} {name}: {leading}"
            assert not [s for s in got if table in s.resources and s not in leading], f"{stack.label} {name}"
            continue
        if name not in SCIM_FUNCTIONS:
            own = BY_NAME[name].get("leadingKeys")
            assert all(s.iam_condition == partition_condition(stack, own) for s in leading) and (bool(leading) == bool(own)), (
                f"{stack.label} {name}: a LeadingKeys grant on a non-SCIM function other than its own partitions"
            )
            continue
        assert update, f"{stack.label} {name}: a SCIM function cannot update the settings item"
        if "dynamodb:UpdateItem" in BY_NAME[name]["dynamodb"]:
            assert not leading, f"{stack.label} {name}: already has UpdateItem; no second grant"
            assert any(s.iam_condition is None and table in s.resources for s in update), name
        else:
            own = BY_NAME[name].get("leadingKeys")
            if own:
                # catalog-read: its reads confined to its own partitions, beside the settings grant.
                mine = [s for s in leading if s.iam_condition == partition_condition(stack, own)]
                assert [s.actions for s in mine] == [frozenset(BY_NAME[name]["dynamodb"])], f"{stack.label} {name}: {mine}"
                leading = [s for s in leading if s not in mine]
            assert update == leading, f"{stack.label} {name}: an UpdateItem grant not confined to the settings item"
            (statement,) = leading
            assert statement == Statement(
                frozenset({"dynamodb:UpdateItem"}), frozenset({table}), iam_condition=settings_condition(stack)
            ), f"{stack.label} {name}: {statement}"
    if stack.is_sam:
        assert "TenantId" in stack.template["Parameters"], "the condition names the TenantId parameter"


def test_app_functions_have_exactly_their_permissions(stack: Stack):
    """The application API's functions: their own roles with exactly the actions of the API
    design (APP_PERMISSIONS), and no bearer-token check: only app-settings touches the token
    secret (to generate and rotate tokens), and none can reach the bus, stream or queues."""
    assert sorted(APP_FUNCTIONS) == sorted(APP_PERMISSIONS)
    table = "{Arn:%s}" % stack.only("AWS::DynamoDB::Table")
    secret = "{Ref:%s}" % token_secret(stack)
    functions = stack.functions()
    for name, wanted in APP_PERMISSIONS.items():
        f = BY_NAME[name]
        assert set(f["dynamodb"]) == wanted["dynamodb"] and set(f["indexes"]) == wanted["indexes"], name
        assert set(f["secretsmanager"]) == wanted["secretsmanager"] and set(f["environment"]) == wanted["environment"], name
        assert not (f["events"] or f.get("stream") or f.get("sqs") or f.get("settingsItem")), name
        assert not f.get("signingSecret"), name
        assert f.get("leadingKeys") == wanted.get("leadingKeys"), name
        fn = functions[name]
        own = wanted.get("leadingKeys")
        statements = {
            Statement(frozenset({"logs:CreateLogStream", "logs:PutLogEvents"}), frozenset({"{Arn:%s}" % fn.log_group_id})),
            Statement(
                frozenset(wanted["dynamodb"]),
                frozenset({table} | {f"{table}/index/{i}" for i in wanted["indexes"]}),
                iam_condition=partition_condition(stack, own) if own else None,
            ),
        }
        if wanted["secretsmanager"]:
            statements.add(Statement(frozenset(wanted["secretsmanager"]), frozenset({secret})))
        assert set(stack.role_statements(fn.role_id)) == statements, f"{stack.label} {name}"
        assert set(fn.environment) == wanted["environment"], f"{stack.label} {name}"
    readers = sorted(n for n in APP_FUNCTIONS if any(secret in s.resources for s in stack.role_statements(functions[n].role_id)))
    assert readers == ["app-settings"], readers
    assert all("SIGNING_SECRET_ARN" not in functions[n].environment for n in APP_FUNCTIONS)


# --------------------------------------------------------------------------- OAuth token endpoint

# The contract of oauth-token, written out here rather than read from functions.json,
# so that a change to the function list alone cannot widen it.
TOKEN_ENVIRONMENT = {"TABLE_NAME", "TENANT_ID", "SIGNING_SECRET_ARN", "ACCESS_TOKEN_LIFETIME", "ENTRA_LOGIN_URL", "RUST_LOG"}
TOKEN_TABLE_ACTIONS = {"dynamodb:GetItem", "dynamodb:PutItem"}
TOKEN_PARTITION = "{tenant}#O"  # OAuth client records and assertion-replay markers
SIGNING_KEY_GENERATION = {"SecretStringTemplate": "{}", "GenerateStringKey": "key", "PasswordLength": 64, "ExcludePunctuation": True}
TOKEN_PARAMETERS = {
    "AccessTokenLifetime": {"Type": "Number", "Default": 3600, "MinValue": 3600, "MaxValue": 21600},
    "EntraLoginUrl": {"Type": "String", "Default": "https://login.microsoftonline.com", "AllowedPattern": "^https://[^/]+$"},
}


def test_token_function_in_the_list():
    """oauth-token in functions.json: one route, GetItem/PutItem confined to {tenant}#O, the
    signing key only, and an explicit environment without the bearer token's secret."""
    f = BY_NAME[TOKEN_FUNCTION]
    assert f["kind"] == "http" and f["routes"] == [TOKEN_ROUTE]
    assert set(f["dynamodb"]) == TOKEN_TABLE_ACTIONS and f["indexes"] == []
    assert f.get("leadingKeys") == [TOKEN_PARTITION], "its table access must be confined to {tenant}#O"
    assert f["secretsmanager"] == [], "the token endpoint never reads the bearer token"
    assert f["signingSecret"] == ["secretsmanager:GetSecretValue"]
    assert set(f["environment"]) == TOKEN_ENVIRONMENT
    for key in ("settingsItem", "events", "stream", "sqs", "entraSecret", "failureQueue", "whenExpiredActionDelete"):
        assert not f.get(key), f"{TOKEN_FUNCTION}: {key}"
    assert TOKEN_FUNCTION not in SCIM_FUNCTIONS, "the token endpoint takes no bearer token"


def test_token_function_has_least_privilege(stack: Stack):
    """Its role: its log group, GetItem/PutItem on the table confined to {tenant}#O by
    dynamodb:LeadingKeys, GetSecretValue on the signing key. Nothing on the bearer token's
    secret, no TOKEN_SECRET_ARN; the lifetime and the login URL from the parameters (options)."""
    fn = stack.functions()[TOKEN_FUNCTION]
    table = "{Arn:%s}" % stack.only("AWS::DynamoDB::Table")
    signing = "{Ref:%s}" % signing_secret(stack)
    condition = iam_condition(
        {"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": [TOKEN_PARTITION.replace("{tenant}", expected_tenant_id(stack))]}}
    )
    got = stack.role_statements(fn.role_id)
    assert set(got) == {
        Statement(frozenset({"logs:CreateLogStream", "logs:PutLogEvents"}), frozenset({"{Arn:%s}" % fn.log_group_id})),
        Statement(frozenset(TOKEN_TABLE_ACTIONS), frozenset({table}), iam_condition=condition),
        Statement(frozenset({"secretsmanager:GetSecretValue"}), frozenset({signing})),
    }, f"{stack.label}: {got}"
    token = token_secret(stack)
    assert not any(token in r for s in got for r in s.resources), f"{stack.label}: the token endpoint can reach the bearer token"
    env = {k: sym(v) for k, v in fn.environment.items()}
    assert "TOKEN_SECRET_ARN" not in env and not any(token in v for v in env.values()), f"{stack.label}: {env}"
    assert set(env) == TOKEN_ENVIRONMENT, f"{stack.label}: {sorted(env)}"
    assert env["SIGNING_SECRET_ARN"] == signing
    assert env["ACCESS_TOKEN_LIFETIME"] == expected(stack, "accessTokenLifetime", "AccessTokenLifetime")
    assert env["ENTRA_LOGIN_URL"] == expected(stack, "entraLoginUrl", "EntraLoginUrl")
    http = {
        n: f
        for n, f in stack.functions().items()
        if BY_NAME[n]["kind"] == "http" and n != TOKEN_FUNCTION and "timeoutSeconds" not in BY_NAME[n]
    }
    assert {f.props["Timeout"] for f in http.values()} == {fn.props["Timeout"]}, "timeout like the other HTTP functions"


def test_a_function_with_its_own_timeout_gets_it(stack: Stack):
    """functions.json's timeoutSeconds (bulk) is the function's timeout in both templates."""
    own = {n: d["timeoutSeconds"] for n, d in BY_NAME.items() if "timeoutSeconds" in d}
    assert own.get("bulk") == 29, own
    assert own.get(ASYNC_WORKER) == 300, own
    functions = stack.functions()
    for name, seconds in own.items():
        assert int(functions[name].props["Timeout"]) == seconds, f"{stack.label} {name}"


def test_token_route_is_on_the_scim_api_without_authorizer(stack: Stack):
    """POST /oauth2/token: on the SCIM API (the host of TenantUrl), to oauth-token, with no
    authorizer (IAM or otherwise): Entra calls it with client credentials or an assertion."""
    views = stack.route_views()
    assert TOKEN_ROUTE in views, f"{stack.label}: no {TOKEN_ROUTE} route"
    route = views[TOKEN_ROUTE]
    assert route.function == TOKEN_FUNCTION, f"{stack.label}: {route}"
    assert route.api == api_ids(stack)["scim"], f"{stack.label}: {TOKEN_ROUTE} is not on the SCIM API"
    assert route.authorization == "NONE", f"{stack.label}: {TOKEN_ROUTE} has an authorizer ({route.authorization})"
    if stack.is_sam:
        (event,) = stack.functions()[TOKEN_FUNCTION].props["Events"].values()
        assert "Auth" not in event["Properties"]
    else:
        (p,) = [r["Properties"] for r in stack.of_type("AWS::ApiGatewayV2::Route").values() if r["Properties"]["RouteKey"] == TOKEN_ROUTE]
        assert p.get("AuthorizationType", "NONE") == "NONE" and "AuthorizerId" not in p, p


def test_signing_key_secret(stack: Stack):
    """The signing key: generated at creation ({"key": 64 letters and digits}), not rotated
    by the stack (scim-admin oauth rotate-key does it), kept like the bearer token's secret,
    and read (GetSecretValue only) by exactly the SCIM functions and oauth-token."""
    secret = signing_secret(stack)
    resource = stack.resources[secret]
    p = resource["Properties"]
    assert sym(p["Name"]) == "scim/%s/signing-key" % expected_tenant_id(stack)
    assert p["GenerateSecretString"] == SIGNING_KEY_GENERATION, p["GenerateSecretString"]
    assert "SecretString" not in p
    token = stack.resources[token_secret(stack)]
    for policy in ("DeletionPolicy", "UpdateReplacePolicy"):
        assert resource.get(policy, "Delete") == token.get(policy, "Delete"), policy
    rotated = [ref_target(v["Properties"]["SecretId"]) for v in stack.of_type("AWS::SecretsManager::RotationSchedule").values()]
    assert secret not in rotated, "the signing key has no rotation schedule"
    functions = stack.functions()
    wanted = sorted(SCIM_FUNCTIONS + [TOKEN_FUNCTION])
    readers = {}
    for name, fn in functions.items():
        # Exactly this secret (SetSigningKeySecret's name contains SigningKeySecret).
        statements = [s for s in stack.role_statements(fn.role_id) if "{Ref:%s}" % secret in s.resources]
        if statements:
            readers[name] = statements
    assert sorted(readers) == wanted, f"{stack.label}: signing key readers {sorted(readers)}"
    for name, statements in readers.items():
        assert statements == [Statement(frozenset({"secretsmanager:GetSecretValue"}), frozenset({"{Ref:%s}" % secret}))], name
    holders = sorted(n for n, fn in functions.items() if "SIGNING_SECRET_ARN" in fn.environment)
    assert holders == wanted, f"{stack.label}: SIGNING_SECRET_ARN in {holders}"
    mentions = sorted(n for n, fn in functions.items() if re.search(r"\b%s\b" % re.escape(secret), json.dumps(fn.props)))
    assert mentions == wanted, f"{stack.label}: functions naming the signing key {mentions}"


def test_sam_token_parameters(sam_stack: Stack):
    params = sam_stack.template["Parameters"]
    for name, wanted in TOKEN_PARAMETERS.items():
        assert name in params, f"template.yaml has no parameter {name}"
        assert {k: params[name].get(k) for k in wanted} == wanted, name
        assert params[name].get("Description"), name


# loadTenants (infra/lib/definitions.ts) on one tenants file per case: null or its error.
_LOAD_TENANTS = """
const { loadTenants, DEFAULT_OPTIONS } = require('./lib/definitions');
const files = JSON.parse(process.argv[1]);
const results = files.map((file) => {
  try { loadTenants(file); return null; } catch (e) { return String(e.message); }
});
process.stdout.write(JSON.stringify({ defaults: DEFAULT_OPTIONS, results }));
"""


def test_cdk_token_options_have_the_sam_bounds(sam_stack: Stack, tmp_path: Path):
    """accessTokenLifetime and entraLoginUrl (tenants.json) accept exactly what template.yaml's
    AccessTokenLifetime and EntraLoginUrl accept, around every bound, with the same defaults."""
    node = shutil.which("node")
    if not node or not (INFRA / "node_modules" / "ts-node").exists():
        pytest.skip("node or infra/node_modules is missing; run infra/check.sh")
    params = sam_stack.template["Parameters"]
    lifetime, url = params["AccessTokenLifetime"], params["EntraLoginUrl"]
    low, high = int(lifetime["MinValue"]), int(lifetime["MaxValue"])
    lifetimes = [0, low - 1, low, int(lifetime["Default"]), 7200, high, high + 1, 86400]
    urls = [
        url["Default"],
        "https://login.microsoftonline.us",
        "https://127.0.0.1:8443",
        "http://login.microsoftonline.com",
        "https://login.microsoftonline.com/",
        "https://login.microsoftonline.com/common",
        "https://",
        "login.microsoftonline.com",
        "",
    ]
    cases = [{"accessTokenLifetime": v} for v in lifetimes] + [{"entraLoginUrl": u} for u in urls]
    sam = [low <= v <= high for v in lifetimes] + [re.fullmatch(url["AllowedPattern"], u) is not None for u in urls]
    files = []
    for i, options in enumerate(cases):
        file = tmp_path / f"tenants-{i}.json"
        tenant = {"id": "contoso", "account": "111111111111", "region": "eu-west-1", "options": options}
        file.write_text(json.dumps({"tenants": [tenant]}))
        files.append(str(file))
    proc = subprocess.run(
        [node, "-r", "ts-node/register/transpile-only", "-e", _LOAD_TENANTS, json.dumps(files)],
        cwd=INFRA,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = json.loads(proc.stdout)
    cdk = [error is None for error in out["results"]]
    differ = [(case, s, error) for case, s, error in zip(cases, sam, out["results"]) if s != (error is None)]
    assert cdk == sam, f"SAM and CDK disagree (case, SAM accepts, CDK error): {differ}"
    assert all(error is None or "contoso:" in error for error in out["results"]), out["results"]
    assert out["defaults"]["accessTokenLifetime"] == lifetime["Default"] == DEFAULT_OPTIONS["accessTokenLifetime"]
    assert out["defaults"]["entraLoginUrl"] == url["Default"] == DEFAULT_OPTIONS["entraLoginUrl"]


def test_invoke_policy_covers_every_app_route(stack: Stack):
    """The product roles' invoke policy opens every /app/v1 route (the OAuth clients' routes
    included) and no SCIM or token endpoint route."""
    policy = invoke_policy(stack)
    if policy is None:
        pytest.skip(f"{stack.label}: no product roles")
    (statement,) = as_statements(stack.resources[policy]["Properties"]["PolicyDocument"])
    (resource,) = [sym(r) for r in (statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]])]
    prefix = "{Ref:%s}/" % api_ids(stack)["app"]
    assert prefix in resource, resource
    pattern = resource.split(prefix, 1)[1]  # <stage>/<method>/<path>, IAM wildcards
    for route in stack.routes():
        if route == "$default":
            continue
        method, path = route.split(" ", 1)
        request = "$default/%s%s" % (method, re.sub(r"\{[^}]+\}", "x", path))
        assert fnmatch.fnmatchcase(request, pattern) == (api_of(route) == "app"), f"{stack.label}: {route} vs {pattern}"
    assert {"POST /app/v1/clients", "GET /app/v1/clients", "DELETE /app/v1/clients/{clientId}"} <= set(stack.routes())


_NO_VALUE = object()  # what Ref AWS::NoValue evaluates to (dropped from lists)
ACCOUNT = "123456789012"  # the stack's account in the ProductRoleArns evaluations


def _sam_eval(expr, params: dict, conditions: dict):
    """Evaluates the intrinsic functions template.yaml uses for the product roles
    (Ref, Join, Split, Select, Equals, Not, Or, If, Condition) for given parameter values."""
    if isinstance(expr, str):
        return expr
    if isinstance(expr, list):
        values = [_sam_eval(e, params, conditions) for e in expr]
        return [v for v in values if v is not _NO_VALUE]
    ((key, value),) = expr.items()
    ev = lambda e: _sam_eval(e, params, conditions)  # noqa: E731
    if key == "Ref":
        return _NO_VALUE if value == "AWS::NoValue" else params[value]
    if key == "Condition":
        return conditions[value]
    if key == "Fn::Join":
        return value[0].join(ev(value[1]))
    if key == "Fn::Split":
        return ev(value[1]).split(value[0])
    if key == "Fn::Select":
        return ev(value[1])[int(value[0])]
    if key == "Fn::Equals":
        return ev(value[0]) == ev(value[1])
    if key == "Fn::Not":
        return not ev(value[0])
    if key == "Fn::Or":
        return any(ev(v) for v in value)
    if key == "Fn::And":
        return all(ev(v) for v in value)
    if key == "Fn::If":
        return ev(value[1]) if conditions[value[0]] else ev(value[2])
    raise AssertionError(f"unexpected {key}")


def _sam_product_roles(sam_stack: Stack, arns: list[str]) -> list[str] | None:
    """The role names template.yaml attaches the invoke policy to for ProductRoleArns=arns
    (None: no policy), after checking every value against the parameter's AllowedPattern."""
    param = sam_stack.template["Parameters"]["ProductRoleArns"]
    values = arns or [""]
    for v in values:
        assert re.fullmatch(param["AllowedPattern"], v), f"AllowedPattern rejects {v}"
    params = {"ProductRoleArns": values, "AWS::Partition": "aws", "AWS::AccountId": ACCOUNT}
    declared = sam_stack.template["Conditions"]

    class Conditions(dict):  # evaluated on first use, as they refer to each other by name
        def __missing__(self, name: str) -> bool:
            self[name] = bool(_sam_eval(declared[name], params, self))
            return self[name]

    conditions = Conditions()
    policy = sam_stack.resources[invoke_policy(sam_stack)]
    if not conditions[policy["Condition"]]:
        return None
    return _sam_eval(policy["Properties"]["Roles"], params, conditions)


def test_product_roles_get_the_invoke_policy(stack: Stack):
    """ProductRoleArns (SAM) / productRoleArns (CDK): one managed policy with a single
    statement, execute-api:Invoke on /app/v1 of the application API, attached to those roles
    by name, and its ARN as an output; none when no role is given."""
    policy = invoke_policy(stack)
    outputs = stack.template["Outputs"]
    options = tenant_options(stack)
    if options is not None and not options["productRoleArns"]:
        assert policy is None and "ApplicationApiInvokePolicyArn" not in outputs, stack.label
        return
    assert policy is not None, f"{stack.label}: no invoke policy"
    p = stack.resources[policy]["Properties"]
    (statement,) = as_statements(p["PolicyDocument"])
    assert statement["Effect"] == "Allow" and statement["Action"] in ("execute-api:Invoke", ["execute-api:Invoke"])
    assert [sym(r) for r in (statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]])] == [
        invoke_resource(stack)
    ]
    assert set(statement) <= {"Sid", "Effect", "Action", "Resource"}, "no condition, principal or NotResource"
    assert "Users" not in p and "Groups" not in p
    roles = json.dumps(p["Roles"])
    assert not any(fn.role_id in roles for fn in stack.functions().values()), "never on a function's role"
    assert sym(outputs["ApplicationApiInvokePolicyArn"]["Value"]) == "{Ref:%s}" % policy
    if options is None:
        assert stack.resources[policy]["Condition"] == "HasProductRoles"
        assert outputs["ApplicationApiInvokePolicyArn"]["Condition"] == "HasProductRoles"
        param = stack.template["Parameters"]["ProductRoleArns"]
        assert param["Type"] == "CommaDelimitedList" and param["Default"] == ""
    else:
        names = [arn.rsplit("/", 1)[1] for arn in options["productRoleArns"]]
        assert p["Roles"] == names, f"{stack.label}: {p['Roles']}"


def as_statements(document: dict) -> list[dict]:
    statements = document["Statement"]
    return statements if isinstance(statements, list) else [statements]


def test_sam_product_role_arns_become_role_names(sam_stack: Stack):
    """The template attaches the policy to the roles the ARNs name (no policy without
    one), and fails instead of attaching a role of another account or dropping a sixth."""
    arn = lambda name, account=ACCOUNT: f"arn:aws:iam::{account}:role/{name}"  # noqa: E731
    assert _sam_product_roles(sam_stack, []) is None
    assert _sam_product_roles(sam_stack, [arn("workzone-backend")]) == ["workzone-backend"]
    five = [arn(f"r{i}") for i in range(5)]
    assert _sam_product_roles(sam_stack, five) == [f"r{i}" for i in range(5)]
    other = _sam_product_roles(sam_stack, [arn("a"), arn("b", "999999999999")])
    assert other == ["a", "ProductRoleArns-value-2-is-not-a-role-of-this-account"]
    assert _sam_product_roles(sam_stack, five + [arn("r5")])[-1] == "ProductRoleArns-has-more-than-5-roles"
    pattern = sam_stack.template["Parameters"]["ProductRoleArns"]["AllowedPattern"]
    for bad in ("arn:aws:iam::123456789012:role/service-role/x", "arn:aws:iam::123456789012:user/x", "x"):
        assert not re.fullmatch(pattern, bad), bad
    # Every name a role can have: up to 64 of letters, digits and +=.@_- (IAM), no path.
    assert re.fullmatch(pattern, arn("A+b=c.d@e_f-" + "x" * 52))


# --------------------------------------------------------------------------- token, schedule, bus


def test_token_secret_and_rotation(stack: Stack):
    secret = token_secret(stack)
    generate = stack.resources[secret]["Properties"]["GenerateSecretString"]
    assert generate["PasswordLength"] >= 32 and generate["ExcludePunctuation"] is True
    rotator = stack.functions()["rotate-token"]
    schedule = stack.resources[stack.only("AWS::SecretsManager::RotationSchedule")]
    p = schedule["Properties"]
    assert ref_target(p["SecretId"]) == secret
    assert ref_target(p["RotationLambdaARN"], "Arn") == rotator.logical_id
    assert sym(p["RotationRules"]["AutomaticallyAfterDays"]) == expected(stack, "tokenRotationDays", "TokenRotationDays")
    permissions = {
        k: v["Properties"]
        for k, v in stack.of_type("AWS::Lambda::Permission").items()
        if v["Properties"]["Principal"] == "secretsmanager.amazonaws.com"
    }
    assert len(permissions) == 1
    ((permission_id, permission),) = permissions.items()
    assert ref_target(permission["FunctionName"], "Arn") == rotator.logical_id
    assert ref_target(permission["SourceArn"]) == secret
    assert permission_id in schedule.get("DependsOn", []) or schedule.get("DependsOn") == permission_id


def test_token_notices_and_the_rotation_guard_are_wired_with_least_privilege(stack: Stack):
    """The rotation guard (rotate-token) reads the settings item, GetItem only, and knows its
    window; the token check (expire-contacts, after each sweep) reads the token secret's
    versions (never writes them), publishes to this stack's alarm topic only and puts events
    on this stack's bus only, with its three thresholds from the parameters/options."""
    functions = stack.functions()
    topic = "{Ref:%s}" % stack.only("AWS::SNS::Topic")
    bus = "{Arn:%s}" % stack.only("AWS::Events::EventBus")
    secret = "{Ref:%s}" % token_secret(stack)
    table = "{Arn:%s}" % stack.only("AWS::DynamoDB::Table")
    rotator = stack.role_statements(functions["rotate-token"].role_id)
    assert Statement(frozenset({"dynamodb:GetItem"}), frozenset({table}), iam_condition=settings_condition(stack)) in rotator
    assert not any(a.startswith(("sns:", "events:")) for s in rotator for a in s.actions), stack.label
    env = {k: sym(v) for k, v in functions["rotate-token"].environment.items()}
    assert env["TOKEN_RETIRE_AFTER_UNUSED_DAYS"] == expected(stack, "tokenRetireAfterUnusedDays", "TokenRetireAfterUnusedDays")
    checker = stack.role_statements(functions["expire-contacts"].role_id)
    by_service = {}
    for s in checker:
        for a in s.actions:
            by_service.setdefault(a.split(":")[0], set()).update(s.resources)
    assert by_service["sns"] == {topic}, stack.label
    assert by_service["events"] == {bus}, stack.label
    assert by_service["secretsmanager"] == {secret}, stack.label
    actions = {a for s in checker for a in s.actions}
    assert {a for a in actions if a.startswith(("sns:", "events:", "secretsmanager:"))} == {
        "sns:Publish",
        "events:PutEvents",
        "secretsmanager:DescribeSecret",
        "secretsmanager:GetSecretValue",
    }, stack.label
    env = {k: sym(v) for k, v in functions["expire-contacts"].environment.items()}
    assert env["ALARM_TOPIC_ARN"] == topic
    for variable, (option, parameter) in TOKEN_CHECK_ENV.items():
        assert env[variable] == expected(stack, option, parameter), f"{stack.label}: {variable}"
    assert sym(stack.template["Outputs"]["AlarmTopicArn"]["Value"]) == topic


def test_expiry_schedule(stack: Stack):
    """One schedule rule (an explicit AWS::Events::Rule in both tools, no SAM Schedule event),
    with expire-contacts as its only target: deliveries retried for up to an hour, then the
    function's queue; failed runs retried twice by Lambda, then the same queue; reserved
    concurrency 1, so runs never overlap."""
    expirer = stack.functions()["expire-contacts"]
    wanted = expected(stack, "expirySchedule", "ExpirySchedule")
    for name, fn in stack.functions().items():
        assert not [e for e in (fn.props.get("Events") or {}).values() if e["Type"] == "Schedule"], name
    rules = {k: r["Properties"] for k, r in stack.of_type("AWS::Events::Rule").items() if "ScheduleExpression" in r["Properties"]}
    assert len(rules) == 1, f"{stack.label}: {rules}"
    ((rule_id, rule),) = rules.items()
    assert sym(rule["ScheduleExpression"]) == wanted
    assert "EventBusName" not in rule, "schedules run on the default bus"
    assert rule.get("State", "ENABLED") == "ENABLED"
    (target,) = rule["Targets"]
    assert stack.invoked(target["Arn"]) == (expirer.logical_id, ALIAS), "the rule invokes the alias"
    queue = failure_queue(stack, "expire-contacts")
    assert ref_target(target["DeadLetterConfig"]["Arn"], "Arn") == queue
    assert target["RetryPolicy"] == {"MaximumRetryAttempts": 8, "MaximumEventAgeInSeconds": 3600}
    (config,) = [
        c["Properties"]
        for c in stack.of_type("AWS::Lambda::EventInvokeConfig").values()
        if sym(c["Properties"]["FunctionName"]) == "{Ref:%s}" % expirer.logical_id
    ]
    assert config["Qualifier"] == ALIAS, "retries and destination of the invocations the rule makes"
    assert config["MaximumRetryAttempts"] == 2 and config["MaximumEventAgeInSeconds"] == 3600
    assert ref_target(config["DestinationConfig"]["OnFailure"]["Destination"], "Arn") == queue
    invokers = [
        p["Properties"]
        for p in stack.of_type("AWS::Lambda::Permission").values()
        if stack.invoked(p["Properties"]["FunctionName"])[0] == expirer.logical_id
    ]
    assert {stack.invoked(i["FunctionName"])[1] for i in invokers} == {ALIAS}
    assert [(i["Principal"], ref_target(i["SourceArn"], "Arn")) for i in invokers] == [("events.amazonaws.com", rule_id)]
    (policy,) = [
        p["Properties"]["PolicyDocument"]
        for p in stack.of_type("AWS::SQS::QueuePolicy").values()
        if [sym(x) for x in p["Properties"]["Queues"]] == ["{Ref:%s}" % queue]
    ]
    (statement,) = policy["Statement"]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert ref_target(statement["Condition"]["ArnEquals"]["aws:SourceArn"], "Arn") == rule_id
    q = stack.resources[queue]["Properties"]
    assert sym(q["QueueName"]) == "scim-%s-expire-contacts-dlq" % expected_tenant_id(stack)
    assert q["MessageRetentionPeriod"] == DEAD_LETTER_RETENTION
    assert expirer.props["ReservedConcurrentExecutions"] == 1
    assert expirer.props["Timeout"] == 300


def test_one_event_bus(stack: Stack):
    bus = stack.resources[stack.only("AWS::Events::EventBus")]["Properties"]
    assert sym(bus["Name"]) == "scim-" + expected_tenant_id(stack)


# --------------------------------------------------------------------------- change events

AUDIT_RECORD_FILTER = {"eventName": ["INSERT"], "dynamodb": {"NewImage": {"rec": {"S": ["audit"]}}}}
DEAD_LETTER_RETENTION = 14 * 86400


def test_change_events_come_from_the_table_stream(stack: Stack):
    """publish-events reads the table's stream through one event source mapping: only
    inserted audit records (so TTL deletions, which are REMOVEs, never reach it), partial
    batch failures reported, failing batches bisected, retries and record age bounded, and
    what still fails recorded in the dead-letter queue."""
    table = stack.only("AWS::DynamoDB::Table")
    queue = change_events_dlq(stack)
    publisher = stack.functions()["publish-events"]
    mappings = stack.stream_mappings()
    assert [name for name, _ in mappings] == [ASYNC_WORKER, "publish-events"], f"{stack.label}: {mappings}"
    (m,) = [m for name, m in mappings if name == "publish-events"]
    assert sym(m["EventSourceArn"]) == "{StreamArn:%s}" % table
    assert m["FunctionName"] in ("{Ref:%s}" % publisher.logical_id, "{Arn:%s}" % publisher.logical_id)
    assert m["StartingPosition"] == "TRIM_HORIZON"
    (pattern,) = [json.loads(f["Pattern"]) for f in m["FilterCriteria"]["Filters"]]
    assert pattern == AUDIT_RECORD_FILTER
    assert m["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert m["BisectBatchOnFunctionError"] is True
    assert 0 < m["MaximumRetryAttempts"] <= 100
    assert 60 <= m["MaximumRecordAgeInSeconds"] <= 86400
    assert sym(m["DestinationConfig"]["OnFailure"]["Destination"]) == "{Arn:%s}" % queue
    q = stack.resources[queue]["Properties"]
    assert q["MessageRetentionPeriod"] == DEAD_LETTER_RETENTION
    assert q.get("SqsManagedSseEnabled", True) is True and "KmsMasterKeyId" not in q
    assert sym(q["QueueName"]) == "scim-%s-change-events-dlq" % expected_tenant_id(stack)
    outputs = {k: sym(v["Value"]) for k, v in stack.template["Outputs"].items()}
    assert outputs["EventsDeadLetterQueueUrl"] == "{Ref:%s}" % queue or queue in outputs["EventsDeadLetterQueueUrl"]


# --------------------------------------------------------------------------- Entra guest cleanup

EVENT_FUNCTION = "entra-guest-cleanup"


EVENT_FUNCTIONS = sorted(f["name"] for f in FUNCTIONS if f["kind"] == "event")


def test_the_event_functions_are_entra_guest_cleanup_and_push_sets():
    assert EVENT_FUNCTIONS == ["entra-guest-cleanup", "push-sets"]


@pytest.mark.parametrize("name", EVENT_FUNCTIONS)
def test_event_function_rule_retries_and_dead_letter_queue(stack: Stack, name: str):
    """An event function (entra-guest-cleanup, push-sets): one rule on the tenant's bus with functions.json's pattern and
    the function as its only target. Events EventBridge cannot deliver are retried by the
    target's retry policy, then sent to the function's queue; invocations that fail (Graph
    throttled past the time budget, missing permission) are retried by Lambda's asynchronous
    retries, then sent to the same queue. Only this rule (through EventBridge) and the
    function's role may send to it."""
    fn = stack.functions()[name]
    bus = stack.only("AWS::Events::EventBus")
    queue = failure_queue(stack, name)

    def pattern_of(rule: dict) -> dict:
        p = rule["EventPattern"]
        return json.loads(p) if isinstance(p, str) else p

    rules = {
        k: v["Properties"]
        for k, v in stack.of_type("AWS::Events::Rule").items()
        if "EventPattern" in v["Properties"] and pattern_of(v["Properties"]) == BY_NAME[name]["eventPattern"]
    }
    assert len(rules) == 1, f"{stack.label}: {rules}"
    ((rule_id, rule),) = rules.items()
    assert sym(rule["EventBusName"]) == "{Ref:%s}" % bus
    pattern = rule["EventPattern"]
    pattern = json.loads(pattern) if isinstance(pattern, str) else pattern
    wanted = {"entra-guest-cleanup": "user.expired", "push-sets": "scim.security-event"}[name]
    assert pattern == {"source": ["scim.provisioning"], "detail-type": [wanted]}
    assert rule.get("State", "ENABLED") == "ENABLED"
    (target,) = rule["Targets"]
    assert stack.invoked(target["Arn"]) == (fn.logical_id, ALIAS), "the rule invokes the alias"
    assert ref_target(target["DeadLetterConfig"]["Arn"], "Arn") == queue
    retry = target["RetryPolicy"]
    assert 0 < retry["MaximumRetryAttempts"] <= 185
    assert 60 <= retry["MaximumEventAgeInSeconds"] <= 86400

    invokers = [
        p["Properties"]
        for p in stack.of_type("AWS::Lambda::Permission").values()
        if stack.invoked(p["Properties"]["FunctionName"]) == (fn.logical_id, ALIAS)
    ]
    assert len(invokers) == 1, invokers
    (invoker,) = invokers
    assert invoker["Action"] == "lambda:InvokeFunction" and invoker["Principal"] == "events.amazonaws.com"
    assert ref_target(invoker["SourceArn"], "Arn") == rule_id

    (config,) = [
        c["Properties"]
        for c in stack.of_type("AWS::Lambda::EventInvokeConfig").values()
        if sym(c["Properties"]["FunctionName"]) == "{Ref:%s}" % fn.logical_id
    ]
    assert config["Qualifier"] == ALIAS
    assert 1 <= config["MaximumRetryAttempts"] <= 2
    assert 60 <= config["MaximumEventAgeInSeconds"] <= 21600
    assert ref_target(config["DestinationConfig"]["OnFailure"]["Destination"], "Arn") == queue

    q = stack.resources[queue]["Properties"]
    assert sym(q["QueueName"]) == "scim-%s-%s-dlq" % (expected_tenant_id(stack), name)
    assert q["MessageRetentionPeriod"] == DEAD_LETTER_RETENTION
    assert q.get("SqsManagedSseEnabled", True) is True and "KmsMasterKeyId" not in q
    policies = [
        p["Properties"]["PolicyDocument"]
        for p in stack.of_type("AWS::SQS::QueuePolicy").values()
        if [sym(x) for x in p["Properties"]["Queues"]] == ["{Ref:%s}" % queue]
    ]
    assert len(policies) == 1, policies
    (statement,) = policies[0]["Statement"]
    assert statement["Effect"] == "Allow" and statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert statement["Action"] in ("sqs:SendMessage", ["sqs:SendMessage"])
    assert ref_target(statement["Resource"], "Arn") == queue
    assert ref_target(statement["Condition"]["ArnEquals"]["aws:SourceArn"], "Arn") == rule_id
    # entra-guest-cleanup: room for Graph's Retry-After inside one invocation (the handler
    # keeps 2 s back); push-sets: its 10 s wait for the receiver, with margin.
    assert fn.props["Timeout"] == 60


def test_entra_credentials_secret_is_created_empty_and_read_by_one_function(stack: Stack):
    """The operator stores the customer's app registration in it (put-secret-value);
    nothing generates a value, and only entra-guest-cleanup's role may read it."""
    secret = entra_secret(stack)
    p = stack.resources[secret]["Properties"]
    assert sym(p["Name"]) == "scim/%s/entra-credentials" % expected_tenant_id(stack)
    assert "SecretString" not in p and "GenerateSecretString" not in p
    readers = [
        name
        for name, fn in stack.functions().items()
        if any("{Ref:%s}" % secret in s.resources for s in stack.role_statements(fn.role_id))
    ]
    assert readers == [EVENT_FUNCTION]
    assert not stack.of_type("AWS::SecretsManager::RotationSchedule").keys() - {
        k
        for k, v in stack.of_type("AWS::SecretsManager::RotationSchedule").items()
        if ref_target(v["Properties"]["SecretId"]) == token_secret(stack)
    }, "the Entra secret is not rotated by the stack (the customer's admin issues client secrets)"


# --------------------------------------------------------------------------- API, logs, outputs


@pytest.mark.parametrize("which", ["scim", "app"])
def test_api_throttling_and_access_log(stack: Stack, which: str):
    api = api_ids(stack)[which]
    if stack.is_sam:
        p = stack.resources[api]["Properties"]
        assert p.get("StageName", "$default") == "$default"
    else:
        (p,) = [
            s["Properties"]
            for s in stack.of_type("AWS::ApiGatewayV2::Stage").values()
            if ref_target(s["Properties"]["ApiId"]) == api
        ]
        assert p["StageName"] == "$default" and p["AutoDeploy"] is True
    throttle = p["DefaultRouteSettings"]
    # Entra sends up to 25 requests/s per tenant; Okta bursts: keep well above both.
    assert throttle["ThrottlingRateLimit"] >= 4 * ENTRA_RPS_PER_TENANT
    assert throttle["ThrottlingBurstLimit"] >= 2 * throttle["ThrottlingRateLimit"]
    log = p["AccessLogSettings"]
    destination = ref_target(log["DestinationArn"], "Arn")
    assert stack.resources[destination]["Type"] == "AWS::Logs::LogGroup"
    fields = json.loads(log["Format"])
    assert {"requestId", "ip", "method", "path", "status", "latency", "userAgent"} <= set(fields)
    lowered = log["Format"].lower()
    assert "header" not in lowered and "authorization" not in lowered, "access log must not carry headers"
    if which == "app":
        assert fields["caller"] == "$context.identity.userArn", "the application API logs the signing principal"
    other = api_ids(stack)["app" if which == "scim" else "scim"]
    assert destination != access_log_of(stack, other), "each API has its own access log"


def access_log_of(stack: Stack, api: str) -> str:
    if stack.is_sam:
        settings = stack.resources[api]["Properties"]["AccessLogSettings"]
    else:
        (settings,) = [
            s["Properties"]["AccessLogSettings"]
            for s in stack.of_type("AWS::ApiGatewayV2::Stage").values()
            if ref_target(s["Properties"]["ApiId"]) == api
        ]
    return ref_target(settings["DestinationArn"], "Arn")


def test_log_groups_have_retention(stack: Stack):
    retention = expected(stack, "logRetentionDays", "LogRetentionDays")
    groups = stack.of_type("AWS::Logs::LogGroup")
    for group_id, group in groups.items():
        assert sym(group["Properties"]["RetentionInDays"]) == retention, group_id
    own = [fn.log_group_id for fn in stack.functions().values()]
    assert len(set(own)) == len(own) == len(FUNCTIONS), "each function logs to its own log group"
    assert set(own) <= set(groups)


def test_outputs(stack: Stack):
    outputs = {k: sym(v["Value"]) for k, v in stack.template["Outputs"].items()}
    secret = "{Ref:%s}" % token_secret(stack)
    apis = api_ids(stack)
    for key, which, suffix in (("TenantUrl", "scim", "/scim/v2"), ("ApplicationApiUrl", "app", "/app/v1")):
        api = apis[which]
        url = outputs[key]
        execute_api = "https://{Ref:%s}.execute-api.{Ref:AWS::Region}.{Ref:AWS::URLSuffix}%s" % (api, suffix)
        options = tenant_options(stack)
        if stack.is_sam and which == "scim":  # DomainName, when given (test_operations.py)
            assert url == "{If:HasDomainName ? https://{Ref:DomainName}%s : %s}" % (suffix, execute_api), url
        elif stack.is_sam:
            assert url == execute_api, url
        elif which == "scim" and options["domainName"]:
            assert url == "https://%s%s" % (options["domainName"], suffix), url
        else:
            assert url == "{ApiEndpoint:%s}%s" % (api, suffix), url
    assert outputs["TokenSecretArn"] == secret
    assert "secretsmanager get-secret-value" in outputs["FetchTokenCommand"] and secret in outputs["FetchTokenCommand"]
    assert "secretsmanager rotate-secret" in outputs["RotateTokenCommand"] and secret in outputs["RotateTokenCommand"]
    assert outputs["EntraCredentialsSecretArn"] == "{Ref:%s}" % entra_secret(stack)
    # The token endpoint: on the SCIM API's host, beside /scim/v2 (built exactly as TenantUrl).
    assert "/scim/v2" in outputs["TenantUrl"]
    assert "TokenEndpoint" in outputs, f"{stack.label}: no TokenEndpoint output"
    assert outputs["TokenEndpoint"] == outputs["TenantUrl"].replace("/scim/v2", "/oauth2/token")
    assert outputs["SigningKeySecretArn"] == "{Ref:%s}" % signing_secret(stack)


# --------------------------------------------------------------------------- SAM only


def test_sam_parameters(sam_stack: Stack):
    params = sam_stack.template["Parameters"]
    assert SAM_PARAMETERS <= set(params)
    assert params["Architecture"]["AllowedValues"] == ["arm64", "x86_64"]
    assert params["ExpiredContactAction"]["AllowedValues"] == ["deactivate", "delete"]
    assert params["EntraCleanupMode"]["AllowedValues"] == ["off", "disable", "delete"]
    defaults = {
        "Architecture": "architecture",
        "ExpirySchedule": "expirySchedule",
        "TokenRotationDays": "tokenRotationDays",
        "TokenRetireAfterUnusedDays": "tokenRetireAfterUnusedDays",
        "NewTokenUnusedNotifyDays": "newTokenUnusedNotifyDays",
        "TokenMaxAgeDays": "tokenMaxAgeDays",
        "LogRetentionDays": "logRetentionDays",
        "ExpiredContactAction": "expiredContactAction",
        "EntraCleanupMode": "entraCleanupMode",
        "AccessTokenLifetime": "accessTokenLifetime",
        "EntraLoginUrl": "entraLoginUrl",
        "SetReceiverUrl": "setReceiverUrl",
    }
    for param, option in defaults.items():
        assert str(params[param]["Default"]) == str(DEFAULT_OPTIONS[option]), param


def expand_sam(sam_stack: Stack, parameters: dict[str, str], tmp_path: Path | None = None) -> Stack:
    """template.yaml as `sam deploy` submits it (the SAM transform, offline, with CodeUri as
    after `sam package`), and with `tmp_path` linted by cfn-lint. W2001 is ignored:
    GradualDeployment and DeploymentType are read by the transform (DeploymentPreference),
    so the expanded template no longer names them; the template itself is linted with W2001."""
    translator = pytest.importorskip("samtranslator.translator.transform")
    template = json.loads(json.dumps(sam_stack.template))
    template["Globals"]["Function"]["CodeUri"] = "s3://placeholder-bucket/placeholder-key"

    class NoManagedPolicies:
        def load(self):
            return {}

    os.environ.setdefault("AWS_DEFAULT_REGION", "eu-west-1")
    expanded = translator.transform(template, parameters, NoManagedPolicies())
    if tmp_path is not None:
        out = tmp_path / "expanded.json"
        out.write_text(json.dumps(expanded))
        cfn_lint = shutil.which("cfn-lint", path=str(Path(sys.executable).parent)) or shutil.which("cfn-lint")
        assert cfn_lint, "cfn-lint not installed"
        proc = subprocess.run([cfn_lint, "--ignore-checks", "W2001", "--", str(out)], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return Stack("template.yaml expanded", expanded)


def test_sam_template_expands_and_lints(sam_stack: Stack, tmp_path: Path):
    """What `sam deploy` would submit: expand the SAM transform offline, then cfn-lint it."""
    expanded_stack = expand_sam(sam_stack, {}, tmp_path)
    expanded = expanded_stack.template
    apis = api_ids(sam_stack)
    served = {}
    for which, api in apis.items():
        body = expanded["Resources"][api]["Properties"]["Body"]
        schemes = (body.get("components") or {}).get("securitySchemes") or {}
        for path, methods in body["paths"].items():
            for method, operation in methods.items():
                uri = sym(operation["x-amazon-apigateway-integration"]["uri"])
                # Every route invokes its function's alias (AutoPublishAlias), never the function.
                alias = uri.split(":lambda:path/2015-03-31/functions/")[1].removesuffix("/invocations")
                fn_id, qualifier = expanded_stack.invoked({"Ref": alias[len("{Ref:") : -1]})
                assert qualifier == ALIAS, f"{key}: {uri}"
                key = "$default" if path == "/$default" else f"{method.upper()} {path}"
                assert api_of(key) == which, f"{key} on the {which} API"
                served[key] = sam_stack.function_name_by_logical_id()[fn_id]
                # What API Gateway imports: SigV4 (AWS_IAM) on every /app/v1 operation, nothing on SCIM.
                if which == "app":
                    assert operation.get("security") == [{"AWS_IAM": []}], key
                else:
                    assert not operation.get("security"), key
        if which == "app":
            assert schemes["AWS_IAM"]["x-amazon-apigateway-authtype"] == "awsSigv4"
        else:
            assert not schemes, schemes
    assert served == {route: f["name"] for f in FUNCTIONS for route in f["routes"]}


def test_function_tags_name_the_binary(sam_stack: Stack):
    for name, fn in sam_stack.functions().items():
        assert tags_of(fn.props)["scim:function"] == fn.metadata["BuildProperties"]["Binary"] == name


def test_set_signing_key_secret(stack: Stack):
    """The RFC 9967 SET signing key: its own secret, generated at creation like the
    access-token key, read (GetSecretValue only) by publish-events alone, which is the only
    function given its ARN."""
    secret = set_signing_secret(stack)
    p = stack.resources[secret]["Properties"]
    assert sym(p["Name"]) == "scim/%s/set-signing-key" % expected_tenant_id(stack)
    assert p["GenerateSecretString"] == SIGNING_KEY_GENERATION, p["GenerateSecretString"]
    assert secret != signing_secret(stack), "SETs and access tokens have separate keys"
    functions = stack.functions()
    readers = {
        name: [s for s in stack.role_statements(fn.role_id) if "{Ref:%s}" % secret in s.resources]
        for name, fn in functions.items()
    }
    readers = {n: s for n, s in readers.items() if s}
    assert sorted(readers) == [ASYNC_WORKER, "publish-events"], f"{stack.label}: {sorted(readers)}"
    for name in readers:
        assert readers[name] == [Statement(frozenset({"secretsmanager:GetSecretValue"}), frozenset({"{Ref:%s}" % secret}))], name
    holders = sorted(n for n, fn in functions.items() if "SET_SIGNING_SECRET_ARN" in fn.environment)
    assert holders == [ASYNC_WORKER, "publish-events"], holders


# --------------------------------------------------------------------------- asynchronous requests


def test_async_requests_in_the_list():
    """functions.json: async-status reads one job item (GetItem on {tenant}#Q) beside what
    every SCIM function has; async-worker is a stream function with exactly bulk's table
    actions, the SET key, the bus, its own queue and its own environment, and no token or
    access-token secret."""
    status = BY_NAME[ASYNC_STATUS]
    assert status["kind"] == "http" and status["routes"] == ["GET /scim/v2/AsyncRequests/{txn}"]
    assert status["dynamodb"] == ["dynamodb:GetItem"] and status["indexes"] == []
    assert status["leadingKeys"] == [JOB_PARTITION]
    assert status["settingsItem"] == ["dynamodb:UpdateItem"]
    assert ASYNC_STATUS in SCIM_FUNCTIONS
    for key in ("events", "stream", "sqs", "setSigningSecret", "entraSecret", "failureQueue", "environment"):
        assert not status.get(key), f"{ASYNC_STATUS}: {key}"
    worker = BY_NAME[ASYNC_WORKER]
    assert worker["kind"] == "stream" and worker["routes"] == []
    assert set(worker["dynamodb"]) == ASYNC_WORKER_TABLE_ACTIONS == set(BY_NAME["bulk"]["dynamodb"])
    assert worker["indexes"] == ["memberships-by-user"] == BY_NAME["bulk"]["indexes"]
    assert set(worker["stream"]) == STREAM_ACTIONS == set(BY_NAME["publish-events"]["stream"])
    assert worker["setSigningSecret"] == ["secretsmanager:GetSecretValue"]
    assert worker["events"] == ["events:PutEvents"] and worker["failureQueue"] == ["sqs:SendMessage"]
    assert set(worker["environment"]) == ASYNC_WORKER_ENVIRONMENT
    assert worker["timeoutSeconds"] == 300
    for key in ("secretsmanager", "signingSecret", "settingsItem", "leadingKeys", "sqs", "sns", "entraSecret"):
        assert not worker.get(key), f"{ASYNC_WORKER}: {key}"
    assert worker["streamMapping"]["filter"] == JOB_ITEM_FILTER and worker["streamMapping"]["batchSize"] == 1
    assert sorted(SCIM_FUNCTIONS) == ASYNC_REQUEST_FUNCTIONS, "every SCIM function offers asynchronous requests"


def test_async_requests_are_offered_by_exactly_the_scim_functions(stack: Stack):
    """ASYNC_REQUESTS=request on every function routed under /scim/v2 (the writes accept
    Prefer: respond-async, discovery advertises it, async-status answers it) and on nothing
    else: not the token endpoint, the application API, the jobs or the worker."""
    holders = {}
    for name, fn in stack.functions().items():
        if "ASYNC_REQUESTS" in fn.environment:
            holders[name] = sym(fn.environment["ASYNC_REQUESTS"])
    assert sorted(holders) == ASYNC_REQUEST_FUNCTIONS, f"{stack.label}: {sorted(holders)}"
    assert set(holders.values()) == {ASYNC_REQUESTS}, f"{stack.label}: {holders}"


def test_async_status_reads_only_job_items(stack: Stack):
    """async-status: GetItem on the table confined to {tenant}#Q, the settings item's
    UpdateItem, the bearer token and the access-token key (GetSecretValue): catalog-read's
    shape, nothing else; on the SCIM API without an authorizer."""
    fn = stack.functions()[ASYNC_STATUS]
    table = "{Arn:%s}" % stack.only("AWS::DynamoDB::Table")
    got = stack.role_statements(fn.role_id)
    assert set(got) == {
        Statement(frozenset({"logs:CreateLogStream", "logs:PutLogEvents"}), frozenset({"{Arn:%s}" % fn.log_group_id})),
        Statement(frozenset({"dynamodb:GetItem"}), frozenset({table}), iam_condition=partition_condition(stack, [JOB_PARTITION])),
        Statement(frozenset({"dynamodb:UpdateItem"}), frozenset({table}), iam_condition=settings_condition(stack)),
        Statement(frozenset({"secretsmanager:GetSecretValue"}), frozenset({"{Ref:%s}" % token_secret(stack)})),
        Statement(frozenset({"secretsmanager:GetSecretValue"}), frozenset({"{Ref:%s}" % signing_secret(stack)})),
    }, f"{stack.label}: {got}"
    assert len(got) == 5, f"{stack.label}: {got}"
    route = stack.route_views()["GET /scim/v2/AsyncRequests/{txn}"]
    assert (route.function, route.api, route.authorization) == (ASYNC_STATUS, api_ids(stack)["scim"], "NONE")


def test_async_worker_has_exactly_its_permissions_and_environment(stack: Stack):
    """async-worker: bulk's table actions (table and memberships-by-user), the stream's four
    read actions, PutEvents on the tenant's bus, GetSecretValue on the SET key and SendMessage
    on its own queue; never the bearer token or the access-token key. Its environment is
    exactly the SETs' (as publish-events') plus the table, tenant, bus and log level."""
    fn = stack.functions()[ASYNC_WORKER]
    table_id = stack.only("AWS::DynamoDB::Table")
    table = "{Arn:%s}" % table_id
    bus = stack.only("AWS::Events::EventBus")
    queue = failure_queue(stack, ASYNC_WORKER)
    got = stack.role_statements(fn.role_id)
    assert set(got) == {
        Statement(frozenset({"logs:CreateLogStream", "logs:PutLogEvents"}), frozenset({"{Arn:%s}" % fn.log_group_id})),
        Statement(frozenset(ASYNC_WORKER_TABLE_ACTIONS), frozenset({table, f"{table}/index/memberships-by-user"})),
        Statement(frozenset(STREAM_ACTIONS), frozenset({"{StreamArn:%s}" % table_id})),
        Statement(frozenset({"events:PutEvents"}), frozenset({"{Arn:%s}" % bus})),
        Statement(frozenset({"secretsmanager:GetSecretValue"}), frozenset({"{Ref:%s}" % set_signing_secret(stack)})),
        Statement(frozenset({"sqs:SendMessage"}), frozenset({"{Arn:%s}" % queue})),
    }, f"{stack.label}: {got}"
    assert len(got) == 6, f"{stack.label}: {got}"
    env = {k: sym(v) for k, v in fn.environment.items()}
    assert set(env) == ASYNC_WORKER_ENVIRONMENT, f"{stack.label}: {sorted(env)}"
    publisher = {k: sym(v) for k, v in stack.functions()["publish-events"].environment.items()}
    for variable in ("TENANT_URL", "SET_SIGNING_SECRET_ARN", "SET_AUDIENCE", "EVENT_BUS_NAME", "TABLE_NAME", "TENANT_ID", "RUST_LOG"):
        assert env[variable] == publisher[variable], f"{stack.label}: {variable} {env[variable]} (publish-events: {publisher[variable]})"
    assert env["SET_AUDIENCE"] == "{Arn:%s}" % bus and env["EVENT_BUS_NAME"] == "{Ref:%s}" % bus
    for secret in (token_secret(stack), signing_secret(stack)):
        assert not re.search(r"\b%s\b" % re.escape(secret), json.dumps(fn.props)), f"{stack.label}: {secret}"
    assert int(fn.props["Timeout"]) == 300


def test_each_stream_mapping_is_its_functions_json_entry(stack: Stack):
    """Each stream function's event source mapping is its functions.json streamMapping: the
    filter verbatim, the batch size, the bounds; SAM's event is named by 'records'."""
    functions = stack.functions()
    for name, m in stack.stream_mappings():
        want = BY_NAME[name]["streamMapping"]
        (pattern,) = [json.loads(f["Pattern"]) for f in m["FilterCriteria"]["Filters"]]
        assert pattern == want["filter"], f"{stack.label} {name}"
        assert m["BatchSize"] == want["batchSize"], f"{stack.label} {name}"
        assert m["MaximumRetryAttempts"] == want["maximumRetryAttempts"], f"{stack.label} {name}"
        assert m["MaximumRecordAgeInSeconds"] == want["maximumRecordAgeInSeconds"], f"{stack.label} {name}"
        if stack.is_sam:
            events = {k for k, e in functions[name].props["Events"].items() if e["Type"] == "DynamoDB"}
            assert events == {want["records"]}, f"{name}: {events}"
    assert sorted(n for n, _ in stack.stream_mappings()) == sorted(f["name"] for f in FUNCTIONS if f["kind"] == "stream")


def test_async_worker_runs_new_job_items_from_the_stream(stack: Stack):
    """async-worker reads the table's stream through its own mapping: only inserted job items
    (rec=job; their later updates and TTL deletions never reach it), one per invocation,
    partial failures reported, failing batches bisected, retries and record age bounded, and
    what still fails recorded in its own dead-letter queue (not the change events' one). The
    mapping sends as the function's role: no queue policy opens that queue to anyone."""
    table = stack.only("AWS::DynamoDB::Table")
    queue = failure_queue(stack, ASYNC_WORKER)
    worker = stack.functions()[ASYNC_WORKER]
    (m,) = [m for name, m in stack.stream_mappings() if name == ASYNC_WORKER]
    assert sym(m["EventSourceArn"]) == "{StreamArn:%s}" % table
    assert m["FunctionName"] == "{Ref:%s}" % worker.logical_id
    if not stack.is_sam:
        assert m["Qualifier"] == ALIAS, "the mapping invokes the alias"
    assert m["StartingPosition"] == "TRIM_HORIZON"
    (pattern,) = [json.loads(f["Pattern"]) for f in m["FilterCriteria"]["Filters"]]
    assert pattern == JOB_ITEM_FILTER
    assert m["BatchSize"] == 1
    assert m["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert m["BisectBatchOnFunctionError"] is True
    assert 0 < m["MaximumRetryAttempts"] <= 5, "each retry may run a job for minutes"
    assert 60 <= m["MaximumRecordAgeInSeconds"] <= 86400
    assert sym(m["DestinationConfig"]["OnFailure"]["Destination"]) == "{Arn:%s}" % queue
    assert queue != change_events_dlq(stack)
    q = stack.resources[queue]["Properties"]
    assert sym(q["QueueName"]) == "scim-%s-%s-dlq" % (expected_tenant_id(stack), ASYNC_WORKER)
    assert q["MessageRetentionPeriod"] == DEAD_LETTER_RETENTION
    assert q.get("SqsManagedSseEnabled", True) is True and "KmsMasterKeyId" not in q
    policies = [
        p for p in stack.of_type("AWS::SQS::QueuePolicy").values() if [sym(x) for x in p["Properties"]["Queues"]] == ["{Ref:%s}" % queue]
    ]
    assert not policies, f"{stack.label}: {policies}"
    # Invoked by the stream only: no rule, no invoke permission, no asynchronous-invocation config.
    assert not [
        p for p in stack.of_type("AWS::Lambda::Permission").values() if stack.invoked(p["Properties"]["FunctionName"])[0] == worker.logical_id
    ]
    assert not [
        c for c in stack.of_type("AWS::Lambda::EventInvokeConfig").values() if sym(c["Properties"]["FunctionName"]) == "{Ref:%s}" % worker.logical_id
    ]


def _rust_str_const(path: Path, name: str) -> str:
    m = re.search(r'pub const %s: &str = "([^"]+)";' % re.escape(name), path.read_text(encoding="utf-8"))
    assert m, f"{path}: no pub const {name}"
    return m.group(1)


def test_push_sets_receives_the_sets_the_worker_puts_on_the_bus(stack: Stack):
    """The worker's completion SETs go on the tenant's bus with the source and detail-type of
    every SET (scim-service's EVENT_SOURCE and set::DETAIL_TYPE): exactly what push-sets' rule
    matches, on the bus the worker may put events on, so a configured receiver gets them too."""
    events = REPO / "shared" / "service" / "src" / "events.rs"
    source, detail_type = _rust_str_const(events, "EVENT_SOURCE"), _rust_str_const(events, "DETAIL_TYPE")
    assert BY_NAME["push-sets"]["eventPattern"] == {"source": [source], "detail-type": [detail_type]}
    bus = stack.only("AWS::Events::EventBus")
    (rule,) = [
        r["Properties"]
        for r in stack.of_type("AWS::Events::Rule").values()
        if stack.invoked(r["Properties"]["Targets"][0]["Arn"])[0] == stack.functions()["push-sets"].logical_id
    ]
    assert sym(rule["EventBusName"]) == "{Ref:%s}" % bus
    worker = stack.role_statements(stack.functions()[ASYNC_WORKER].role_id)
    assert Statement(frozenset({"events:PutEvents"}), frozenset({"{Arn:%s}" % bus})) in worker
