"""Infrastructure checks, offline: template.yaml and every CDK-synthesised tenant stack
agree with the one function list (infra/functions.json), the one table definition
(shared/table.json) and the Cargo workspace, and every IAM policy is least privilege.

Run through infra/check.sh (which synthesises the CDK stacks once and passes their
directory in SCIM_CDK_OUT), or alone: `pytest tests/infra` synthesises into a temp dir
when infra/node_modules exists and skips the CDK cases otherwise."""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from cfn_model import Stack, Statement, load_template, ref_target, sym, tags_of, walk

REPO = Path(__file__).resolve().parents[2]
INFRA = REPO / "infra"
FUNCTIONS = json.loads((INFRA / "functions.json").read_text())["functions"]
BY_NAME = {f["name"]: f for f in FUNCTIONS}
TABLE = json.loads((REPO / "shared" / "table.json").read_text())
TENANTS = json.loads((INFRA / "tenants.json").read_text())["tenants"]

# Same defaults as template.yaml's parameters and infra/lib/definitions.ts.
DEFAULT_OPTIONS = {
    "architecture": "arm64",
    "expirySchedule": "rate(15 minutes)",
    "tokenRotationDays": 90,
    "logRetentionDays": 90,
    "expiredContactAction": "deactivate",
    "entraCleanupMode": "off",
}
SAM_PARAMETERS = {
    "TenantId",
    "Architecture",
    "ExpirySchedule",
    "TokenRotationDays",
    "LogRetentionDays",
    "ExpiredContactAction",
    "EntraCleanupMode",
}
COMMON_ENV = {"TABLE_NAME", "TENANT_ID", "TOKEN_SECRET_ARN", "EVENT_BUS_NAME", "RUST_LOG"}
ENTRA_RPS_PER_TENANT = 25
STACK_IDS = ["sam"] + [f"cdk:Scim-{t['id']}" for t in TENANTS]


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


def entra_secret(stack: Stack) -> str:
    return named(stack, "AWS::SecretsManager::Secret", "Name", "/entra-credentials")


def change_events_dlq(stack: Stack) -> str:
    return named(stack, "AWS::SQS::Queue", "QueueName", "-change-events-dlq")


def failure_queue(stack: Stack, function: str) -> str:
    """An event function's own dead-letter queue."""
    return named(stack, "AWS::SQS::Queue", "QueueName", f"-{function}-dlq")


# --------------------------------------------------------------------------- the one list


def test_function_list_is_consistent():
    names = [f["name"] for f in FUNCTIONS]
    assert len(names) == len(set(names)), "duplicate function names"
    index_names = {g["IndexName"] for g in TABLE["GlobalSecondaryIndexes"]}
    routes: list[str] = []
    for f in FUNCTIONS:
        assert f["kind"] in {"http", "rotation", "schedule", "stream", "event"}, f["name"]
        assert ("eventPattern" in f) == (f["kind"] == "event"), f"{f['name']}: only event functions have a pattern"
        assert bool(f.get("failureQueue")) <= (f["kind"] == "event"), f"{f['name']}: only event functions own a queue"
        assert bool(f.get("stream")) == (f["kind"] == "stream"), f"{f['name']}: only stream functions read the stream"
        assert bool(f["routes"]) == (f["kind"] == "http"), f"{f['name']}: only http functions have routes"
        routes += f["routes"]
        extra = f.get("whenExpiredActionDelete") or {"dynamodb": [], "indexes": []}
        for key, service in (
            ("dynamodb", "dynamodb"),
            ("stream", "dynamodb"),
            ("secretsmanager", "secretsmanager"),
            ("events", "events"),
            ("sqs", "sqs"),
            ("entraSecret", "secretsmanager"),
            ("failureQueue", "sqs"),
        ):
            actions = f.get(key, []) + (extra["dynamodb"] if key == "dynamodb" else [])
            for action in actions:
                assert action.startswith(f"{service}:") and "*" not in action, f"{f['name']}: {action}"
        for index in f["indexes"] + extra["indexes"]:
            assert index in index_names, f"{f['name']} uses unknown index {index}"
    assert len(routes) == len(set(routes)), "a route is served by two functions"
    assert "$default" in routes, "unknown routes must reach a function ($default)"
    assert [f["name"] for f in FUNCTIONS if f["kind"] == "rotation"] == ["rotate-token"]
    assert [f["name"] for f in FUNCTIONS if f["kind"] == "schedule"] == ["expire-contacts"]
    assert [f["name"] for f in FUNCTIONS if f["kind"] == "stream"] == ["publish-events"]
    assert [f["name"] for f in FUNCTIONS if f["kind"] == "event"] == ["entra-guest-cleanup"]
    assert [f["name"] for f in FUNCTIONS if f.get("entraSecret")] == ["entra-guest-cleanup"]
    # Writes only put their audit record; only the publisher talks to the bus.
    assert [f["name"] for f in FUNCTIONS if f["events"]] == ["publish-events"]
    assert TABLE["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}


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
    for name, fn in stack.functions().items():
        env = {k: sym(v) for k, v in fn.environment.items()}
        wanted = set(COMMON_ENV) | ({"EXPIRED_ACTION"} if BY_NAME[name]["kind"] == "schedule" else set())
        if BY_NAME[name]["kind"] == "event":
            wanted |= {"ENTRA_CLEANUP_MODE", "ENTRA_CREDENTIALS_SECRET_ARN"}
        assert set(env) == wanted, f"{stack.label} {name}: environment {sorted(env)}"
        assert env["TABLE_NAME"] == "{Ref:%s}" % table
        assert env["TOKEN_SECRET_ARN"] == "{Ref:%s}" % secret
        assert env["EVENT_BUS_NAME"] == "{Ref:%s}" % bus
        assert env["TENANT_ID"] == expected_tenant_id(stack)
        assert env["RUST_LOG"] == "info"
        if "EXPIRED_ACTION" in env:
            assert env["EXPIRED_ACTION"] == expected(stack, "expiredContactAction", "ExpiredContactAction")
        if "ENTRA_CLEANUP_MODE" in env:
            assert env["ENTRA_CLEANUP_MODE"] == expected(stack, "entraCleanupMode", "EntraCleanupMode")
            assert env["ENTRA_CREDENTIALS_SECRET_ARN"] == "{Ref:%s}" % entra_secret(stack)


def expected_tenant_id(stack: Stack) -> str:
    return "{Ref:TenantId}" if stack.is_sam else stack.label.removeprefix("Scim-")


def test_routes_match_the_list(stack: Stack):
    wanted = {route: f["name"] for f in FUNCTIONS for route in f["routes"]}
    assert stack.routes() == wanted
    for route in wanted:
        assert route == "$default" or route.split(" ", 1)[1].startswith("/scim/v2/"), route


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


# --------------------------------------------------------------------------- IAM


def test_no_wildcard_actions_anywhere(stack: Stack):
    for path, node in walk(stack.template):
        for key in ("Action", "NotAction"):
            if key in node:
                for action in node[key] if isinstance(node[key], list) else [node[key]]:
                    assert isinstance(action, str) and "*" not in action, f"{stack.label}{path}: {key} {action!r}"
        if "Effect" in node and "Resource" in node:
            for resource in node["Resource"] if isinstance(node["Resource"], list) else [node["Resource"]]:
                assert "*" not in sym(resource), f"{stack.label}{path}: Resource {sym(resource)}"


def test_only_per_function_roles_with_inline_policies(stack: Stack):
    for kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::IAM::User", "AWS::IAM::Group"):
        assert not stack.of_type(kind), f"{stack.label}: unexpected {kind}"
    roles = stack.of_type("AWS::IAM::Role")
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
    if f["dynamodb"]:
        resources = frozenset({table} | {f"{table}/index/{i}" for i in f["indexes"]})
        statements.add(Statement(frozenset(f["dynamodb"]), resources))
    if f["secretsmanager"]:
        statements.add(Statement(frozenset(f["secretsmanager"]), frozenset({secret})))
    if f["events"]:
        statements.add(Statement(frozenset(f["events"]), frozenset({bus})))
    if f.get("stream"):
        statements.add(Statement(frozenset(f["stream"]), frozenset({stream})))
    if f.get("sqs"):
        statements.add(Statement(frozenset(f["sqs"]), frozenset({dead_letters})))
    if f.get("entraSecret"):
        statements.add(Statement(frozenset(f["entraSecret"]), frozenset({"{Ref:%s}" % entra_secret(stack)})))
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
            if s.condition is None and stream not in s.resources
            for a in s.actions
            if a.startswith("dynamodb:")
        }
        wanted = set(BY_NAME[name]["dynamodb"]) | (set(extra["dynamodb"]) if delete_active else set())
        assert dynamodb == wanted, f"{stack.label} {name}: DynamoDB actions differ from infra/functions.json"
    if stack.is_sam:
        condition = stack.template["Conditions"]["DeleteExpiredContacts"]
        assert condition == {"Fn::Equals": [{"Ref": "ExpiredContactAction"}, "delete"]}


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


def test_expiry_schedule(stack: Stack):
    expirer = stack.functions()["expire-contacts"]
    wanted = expected(stack, "expirySchedule", "ExpirySchedule")
    if stack.is_sam:
        schedules = {
            name: [e["Properties"] for e in (fn.props.get("Events") or {}).values() if e["Type"] == "Schedule"]
            for name, fn in stack.functions().items()
        }
        assert {n: s for n, s in schedules.items() if s} == {"expire-contacts": schedules["expire-contacts"]}
        (event,) = schedules["expire-contacts"]
        assert sym(event["Schedule"]) == wanted
        assert event.get("Enabled", True) is True
    else:
        (rule,) = [r["Properties"] for r in stack.of_type("AWS::Events::Rule").values() if "ScheduleExpression" in r["Properties"]]
        assert rule["ScheduleExpression"] == wanted
        assert [ref_target(t["Arn"], "Arn") for t in rule["Targets"]] == [expirer.logical_id]
        assert rule.get("State", "ENABLED") == "ENABLED"


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
    assert [name for name, _ in mappings] == ["publish-events"], f"{stack.label}: {mappings}"
    ((_, m),) = mappings
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


def test_entra_guest_cleanup_rule_retries_and_dead_letter_queue(stack: Stack):
    """entra-guest-cleanup: one rule on the tenant's bus with functions.json's pattern and
    the function as its only target. Events EventBridge cannot deliver are retried by the
    target's retry policy, then sent to the function's queue; invocations that fail (Graph
    throttled past the time budget, missing permission) are retried by Lambda's asynchronous
    retries, then sent to the same queue. Only this rule (through EventBridge) and the
    function's role may send to it."""
    fn = stack.functions()[EVENT_FUNCTION]
    bus = stack.only("AWS::Events::EventBus")
    queue = failure_queue(stack, EVENT_FUNCTION)
    rules = {k: v["Properties"] for k, v in stack.of_type("AWS::Events::Rule").items() if "EventPattern" in v["Properties"]}
    assert len(rules) == 1, f"{stack.label}: {rules}"
    ((rule_id, rule),) = rules.items()
    assert sym(rule["EventBusName"]) == "{Ref:%s}" % bus
    pattern = rule["EventPattern"]
    pattern = json.loads(pattern) if isinstance(pattern, str) else pattern
    assert pattern == BY_NAME[EVENT_FUNCTION]["eventPattern"]
    assert pattern == {"source": ["scim.provisioning"], "detail-type": ["user.expired"]}
    assert rule.get("State", "ENABLED") == "ENABLED"
    (target,) = rule["Targets"]
    assert ref_target(target["Arn"], "Arn") == fn.logical_id
    assert ref_target(target["DeadLetterConfig"]["Arn"], "Arn") == queue
    retry = target["RetryPolicy"]
    assert 0 < retry["MaximumRetryAttempts"] <= 185
    assert 60 <= retry["MaximumEventAgeInSeconds"] <= 86400

    invokers = [
        p["Properties"]
        for p in stack.of_type("AWS::Lambda::Permission").values()
        if sym(p["Properties"]["FunctionName"]) in ("{Arn:%s}" % fn.logical_id, "{Ref:%s}" % fn.logical_id)
    ]
    assert len(invokers) == 1, invokers
    (invoker,) = invokers
    assert invoker["Action"] == "lambda:InvokeFunction" and invoker["Principal"] == "events.amazonaws.com"
    assert ref_target(invoker["SourceArn"], "Arn") == rule_id

    (config,) = [c["Properties"] for c in stack.of_type("AWS::Lambda::EventInvokeConfig").values()]
    assert sym(config["FunctionName"]) == "{Ref:%s}" % fn.logical_id and config["Qualifier"] == "$LATEST"
    assert 1 <= config["MaximumRetryAttempts"] <= 2
    assert 60 <= config["MaximumEventAgeInSeconds"] <= 21600
    assert ref_target(config["DestinationConfig"]["OnFailure"]["Destination"], "Arn") == queue

    q = stack.resources[queue]["Properties"]
    assert sym(q["QueueName"]) == "scim-%s-entra-guest-cleanup-dlq" % expected_tenant_id(stack)
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
    # Room for Graph's Retry-After inside one invocation (the handler keeps 2 s back).
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


def test_api_throttling_and_access_log(stack: Stack):
    if stack.is_sam:
        p = stack.resources[stack.only("AWS::Serverless::HttpApi")]["Properties"]
        assert p.get("StageName", "$default") == "$default"
    else:
        p = stack.resources[stack.only("AWS::ApiGatewayV2::Stage")]["Properties"]
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
    api = stack.only("AWS::Serverless::HttpApi" if stack.is_sam else "AWS::ApiGatewayV2::Api")
    assert outputs["TenantUrl"].startswith("https://") or outputs["TenantUrl"].startswith("{ApiEndpoint:%s}" % api)
    assert api in outputs["TenantUrl"] and outputs["TenantUrl"].endswith("/scim/v2")
    assert outputs["TokenSecretArn"] == secret
    assert "secretsmanager get-secret-value" in outputs["FetchTokenCommand"] and secret in outputs["FetchTokenCommand"]
    assert "secretsmanager rotate-secret" in outputs["RotateTokenCommand"] and secret in outputs["RotateTokenCommand"]
    assert outputs["EntraCredentialsSecretArn"] == "{Ref:%s}" % entra_secret(stack)


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
        "LogRetentionDays": "logRetentionDays",
        "ExpiredContactAction": "expiredContactAction",
        "EntraCleanupMode": "entraCleanupMode",
    }
    for param, option in defaults.items():
        assert str(params[param]["Default"]) == str(DEFAULT_OPTIONS[option]), param


def test_sam_template_expands_and_lints(sam_stack: Stack, tmp_path: Path):
    """What `sam deploy` would submit: expand the SAM transform offline, then cfn-lint it."""
    translator = pytest.importorskip("samtranslator.translator.transform")
    template = json.loads(json.dumps(sam_stack.template))
    template["Globals"]["Function"]["CodeUri"] = "s3://placeholder-bucket/placeholder-key"  # as after `sam package`

    class NoManagedPolicies:
        def load(self):
            return {}

    os.environ.setdefault("AWS_DEFAULT_REGION", "eu-west-1")
    expanded = translator.transform(template, {}, NoManagedPolicies())
    body = expanded["Resources"][sam_stack.only("AWS::Serverless::HttpApi")]["Properties"]["Body"]
    served = {}
    for path, methods in body["paths"].items():
        for method, operation in methods.items():
            uri = sym(operation["x-amazon-apigateway-integration"]["uri"])
            fn_id = uri.split("{Arn:")[1].split("}")[0]
            key = "$default" if path == "/$default" else f"{method.upper()} {path}"
            served[key] = sam_stack.function_name_by_logical_id()[fn_id]
    assert served == {route: f["name"] for f in FUNCTIONS for route in f["routes"]}
    out = tmp_path / "expanded.json"
    out.write_text(json.dumps(expanded))
    cfn_lint = shutil.which("cfn-lint", path=str(Path(sys.executable).parent)) or shutil.which("cfn-lint")
    assert cfn_lint, "cfn-lint not installed"
    proc = subprocess.run([cfn_lint, str(out)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_function_tags_name_the_binary(sam_stack: Stack):
    for name, fn in sam_stack.functions().items():
        assert tags_of(fn.props)["scim:function"] == fn.metadata["BuildProperties"]["Binary"] == name
