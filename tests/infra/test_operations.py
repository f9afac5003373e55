"""Day-two operations, offline, on template.yaml and every synthesised CDK stack: alarms
that reach someone. The expected alarms are generated from what the stack holds and from
infra/functions.json (every function, every queue, every EventBridge rule, every API, the
table), so a function, queue or rule added without its alarms fails here; every alarm
publishes to the stack's one SNS topic.

Run through infra/check.sh, or alone with `pytest tests/infra` (see test_infra.py)."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shlex
import shutil
import struct
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cfn_model import Stack, ref_target, sym, tags_of
from test_infra import (  # noqa: F401 - cdk_out, sam_stack and stack are fixtures
    BY_NAME,
    DEFAULT_OPTIONS,
    FUNCTIONS,
    INFRA,
    REPO,
    TENANTS,
    api_ids,
    cdk_out,
    expand_sam,
    expected_tenant_id,
    sam_stack,
    stack,
    tenant_options,
)

# Same values as infra/lib/alarms.ts and template.yaml's alarms section.
PERIOD = 300
UNAUTHORIZED_PERIOD = 900
DURATION_SHARE_OF_TIMEOUT = 0.8
ITERATOR_AGE_MS = 600_000
DYNAMODB_OPERATIONS = {
    "GetItem",
    "BatchGetItem",
    "Query",
    "PutItem",
    "UpdateItem",
    "DeleteItem",
    "BatchWriteItem",
    "TransactWriteItems",
}
UNAUTHORIZED_PATTERN = '{ $.status = "401" }'
UNAUTHORIZED_METRIC = "UnauthorizedRequests"


@dataclass(frozen=True)
class Metric:
    namespace: str
    name: str
    dimensions: frozenset[tuple[str, str]]
    stat: str


@dataclass(frozen=True)
class Alarm:
    """What an alarm watches, reduced so that SAM's and CDK's spellings compare equal."""

    metrics: frozenset[tuple[str, Metric]]  # (metric id or "", metric)
    expression: str | None
    threshold: float
    period: int


def metric_of(raw: dict[str, Any], stat: str) -> Metric:
    dims = frozenset((d["Name"], sym(d["Value"])) for d in raw.get("Dimensions") or [])
    return Metric(sym(raw["Namespace"]), raw["MetricName"], dims, stat)


def view(props: dict[str, Any]) -> Alarm:
    if "Metrics" in props:
        metrics, expressions, periods = set(), [], set()
        for m in props["Metrics"]:
            if "Expression" in m:
                assert m.get("ReturnData", True) is True
                expressions.append(m["Expression"])
            else:
                assert m["ReturnData"] is False, m
                stat = m["MetricStat"]
                metrics.add((m["Id"], metric_of(stat["Metric"], stat["Stat"])))
                periods.add(stat["Period"])
        (expression,) = expressions
        (period,) = periods
        return Alarm(frozenset(metrics), expression, float(props["Threshold"]), int(period))
    return Alarm(
        frozenset({("", metric_of(props, props["Statistic"]))}), None, float(props["Threshold"]), int(props["Period"])
    )


def single(namespace: str, name: str, dims: dict[str, str], stat: str, threshold: float, period: int = PERIOD) -> Alarm:
    return Alarm(frozenset({("", Metric(namespace, name, frozenset(dims.items()), stat))}), None, float(threshold), period)


def math(metrics: dict[str, tuple[str, str, dict[str, str]]], expression: str, threshold: float, period: int = PERIOD) -> Alarm:
    return Alarm(
        frozenset((i, Metric(ns, name, frozenset(d.items()), "Sum")) for i, (ns, name, d) in metrics.items()),
        expression,
        float(threshold),
        period,
    )


def alarm_topic(stack: Stack) -> str:
    return stack.only("AWS::SNS::Topic")


def expected_alarms(stack: Stack) -> dict[str, Alarm]:
    """What must be alarmed, by a readable key, generated from the stack's own resources and
    infra/functions.json."""
    out: dict[str, Alarm] = {}
    functions = stack.functions()
    for f in FUNCTIONS:
        fn = functions[f["name"]]
        dims = {"FunctionName": "{Ref:%s}" % fn.logical_id}
        timeout = int(fn.props["Timeout"])
        out[f"{f['name']} errors"] = single("AWS/Lambda", "Errors", dims, "Sum", 1)
        out[f"{f['name']} throttles"] = single("AWS/Lambda", "Throttles", dims, "Sum", 1)
        out[f"{f['name']} duration"] = single(
            "AWS/Lambda", "Duration", dims, "Maximum", timeout * 1000 * DURATION_SHARE_OF_TIMEOUT
        )
        if f["kind"] == "stream":
            out[f"{f['name']} iterator age"] = single("AWS/Lambda", "IteratorAge", dims, "Maximum", ITERATOR_AGE_MS)
    # Every queue of the stack is a dead-letter queue: each must be empty.
    for queue in stack.of_type("AWS::SQS::Queue"):
        dims = {"QueueName": "{QueueName:%s}" % queue}
        out[f"{queue} not empty"] = single("AWS/SQS", "ApproximateNumberOfMessagesVisible", dims, "Maximum", 1)
    # Every EventBridge rule: its target failed for good, or the event did not reach its DLQ.
    for rule_id, rule in stack.of_type("AWS::Events::Rule").items():
        dims = {"RuleName": "{Ref:%s}" % rule_id}
        if "EventBusName" in rule["Properties"]:
            dims["EventBusName"] = sym(rule["Properties"]["EventBusName"])
        metrics = {"failed": ("AWS/Events", "FailedInvocations", dims), "lost": ("AWS/Events", "InvocationsFailedToBeSentToDlq", dims)}
        out[f"{rule_id} failed"] = math(metrics, "failed + lost", 1)
    # Every API: 5xx as a share of requests; the SCIM API also 401s (from its access log).
    for api in stack.apis():
        dims = {"ApiId": "{Ref:%s}" % api}
        metrics = {"errors": ("AWS/ApiGateway", "5xx", dims), "requests": ("AWS/ApiGateway", "Count", dims)}
        out[f"{api} 5xx"] = math(metrics, "IF(requests >= 10, 100 * errors / requests, 0)", 5)
    scim = api_ids(stack)["scim"]
    metrics = {
        "unauthorized": (metric_namespace(stack), UNAUTHORIZED_METRIC, {}),
        "requests": ("AWS/ApiGateway", "Count", {"ApiId": "{Ref:%s}" % scim}),
    }
    out["SCIM API 401"] = math(metrics, "IF(requests >= 5, 100 * unauthorized / requests, 0)", 25, UNAUTHORIZED_PERIOD)
    # The table: throttled requests and system errors over every operation the functions call.
    table = "{Ref:%s}" % stack.only("AWS::DynamoDB::Table")
    for metric in ("ThrottledRequests", "SystemErrors"):
        metrics = {
            op[0].lower() + op[1:]: ("AWS/DynamoDB", metric, {"TableName": table, "Operation": op})
            for op in sorted(DYNAMODB_OPERATIONS)
        }
        ids = [op[0].lower() + op[1:] for op in sorted(DYNAMODB_OPERATIONS)]
        out[f"table {metric}"] = math(metrics, "SUM([%s])" % ", ".join(ids), 1)
    return out


def metric_namespace(stack: Stack) -> str:
    return "SCIM/" + expected_tenant_id(stack)


def stack_alarms(stack: Stack) -> dict[str, dict[str, Any]]:
    return {k: v["Properties"] for k, v in stack.of_type("AWS::CloudWatch::Alarm").items()}


def without_expression_order(alarm: Alarm) -> Alarm:
    """SUM([a, b, ...]) compares whatever the order of the ids."""
    e = alarm.expression
    if e and e.startswith("SUM([") and e.endswith("])"):
        e = "SUM([%s])" % ", ".join(sorted(x.strip() for x in e[5:-2].split(",")))
    return Alarm(alarm.metrics, e, alarm.threshold, alarm.period)


def test_every_function_queue_rule_api_and_the_table_has_its_alarms(stack: Stack):
    wanted = {k: without_expression_order(v) for k, v in expected_alarms(stack).items()}
    got: dict[Alarm, list[str]] = {}
    for alarm_id, props in stack_alarms(stack).items():
        got.setdefault(without_expression_order(view(props)), []).append(alarm_id)
    missing = sorted(k for k, v in wanted.items() if v not in got)
    assert not missing, f"{stack.label}: no alarm (or wrong threshold/period) for {missing}"
    twice = {k: got[v] for k, v in wanted.items() if len(got[v]) > 1}
    assert not twice, f"{stack.label}: alarmed twice: {twice}"
    strays = sorted(i for a, ids in got.items() if a not in wanted.values() for i in ids)
    assert not strays, f"{stack.label}: alarms nothing expects (update expected_alarms): {strays}"


def test_every_alarm_reaches_the_topic(stack: Stack):
    topic = "{Ref:%s}" % alarm_topic(stack)
    names = []
    for alarm_id, p in stack_alarms(stack).items():
        assert [sym(a) for a in p["AlarmActions"]] == [topic], f"{stack.label} {alarm_id}: AlarmActions"
        assert [sym(a) for a in p["OKActions"]] == [topic], f"{stack.label} {alarm_id}: OKActions"
        assert p.get("ActionsEnabled", True) is True, alarm_id
        assert p["ComparisonOperator"] == "GreaterThanOrEqualToThreshold", alarm_id
        assert p["EvaluationPeriods"] == 1 and p["TreatMissingData"] == "notBreaching", alarm_id
        name = sym(p["AlarmName"])
        assert name.startswith("scim-%s-" % expected_tenant_id(stack)), f"{alarm_id}: {name}"
        names.append(name)
    assert len(names) == len(set(names)), f"{stack.label}: alarm names repeat"


def test_one_alarm_topic_with_an_optional_email_subscription(stack: Stack):
    topic = alarm_topic(stack)
    p = stack.resources[topic]["Properties"]
    assert sym(p["TopicName"]) == "scim-%s-alarms" % expected_tenant_id(stack)
    subscriptions = stack.of_type("AWS::SNS::Subscription")
    outputs = {k: sym(v["Value"]) for k, v in stack.template["Outputs"].items()}
    assert outputs["AlarmTopicArn"] == "{Ref:%s}" % topic
    options = tenant_options(stack)
    if options is None:
        params = stack.template["Parameters"]
        assert params["AlarmEmail"]["Default"] == ""
        ((sub_id, sub),) = subscriptions.items()
        assert sub["Condition"] == "HasAlarmEmail"
        assert stack.template["Conditions"]["HasAlarmEmail"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmEmail"}, ""]}]}
        assert sym(sub["Properties"]["Endpoint"]) == "{Ref:AlarmEmail}"
    elif options["alarmEmail"]:
        ((sub_id, sub),) = subscriptions.items()
        assert sub["Properties"]["Endpoint"] == options["alarmEmail"]
    else:
        assert not subscriptions, f"{stack.label}: a subscription without alarmEmail"
        return
    assert sub["Properties"]["Protocol"] == "email"
    assert ref_target(sub["Properties"]["TopicArn"]) == topic


def test_401s_are_counted_from_the_scim_access_log(stack: Stack):
    """API Gateway's 4xx metric also counts the 404s and 409s of every Entra cycle, so the
    401 alarm counts status 401 in the SCIM API's access log (only there: the application API
    answers IAM's 403, never 401)."""
    from test_infra import access_log_of

    log_group = access_log_of(stack, api_ids(stack)["scim"])
    (f,) = [m["Properties"] for m in stack.of_type("AWS::Logs::MetricFilter").values()]
    assert ref_target(f["LogGroupName"]) == log_group
    assert f["FilterPattern"] == UNAUTHORIZED_PATTERN
    (t,) = f["MetricTransformations"]
    assert (sym(t["MetricNamespace"]), t["MetricName"], str(t["MetricValue"]), t["DefaultValue"]) == (
        metric_namespace(stack),
        UNAUTHORIZED_METRIC,
        "1",
        0,
    )
    # The access log writes status as a JSON string, which is what the pattern matches.
    fmt = stack.resources[api_ids(stack)["scim"]]["Properties"] if stack.is_sam else None
    if fmt is not None:
        assert json.loads(fmt["AccessLogSettings"]["Format"])["status"] == "$context.status"


def test_the_table_alarms_cover_every_operation_the_functions_call():
    """ThrottledRequests and SystemErrors are per operation: the alarms sum the operations, so
    every DynamoDB action of functions.json (ConditionCheckItem only runs inside a
    TransactWriteItems, which IAM does not list) must be among them, within CloudWatch's 10
    metrics per alarm."""
    actions = {a.split(":", 1)[1] for f in FUNCTIONS for a in f["dynamodb"] + (f.get("whenExpiredActionDelete") or {}).get("dynamodb", [])}
    actions |= {a.split(":", 1)[1] for f in FUNCTIONS for a in f.get("settingsItem", [])}
    assert actions - {"ConditionCheckItem"} <= DYNAMODB_OPERATIONS, actions - DYNAMODB_OPERATIONS
    assert "TransactWriteItems" in DYNAMODB_OPERATIONS and len(DYNAMODB_OPERATIONS) <= 10
    assert "dynamodb:Scan" not in {a for f in FUNCTIONS for a in f["dynamodb"]}
    assert BY_NAME["publish-events"]["kind"] == "stream"


# --------------------------------------------------------------------------- safe rollout

ALIAS = "live"
STACK_ROLLBACK_ALARMS = ("HttpApi5xxAlarm", "ApplicationApi5xxAlarm", "TableSystemErrorsAlarm")


def deployed(stack: Stack) -> Stack:
    """The template CloudFormation runs: CDK's as synthesised, SAM's expanded on its defaults."""
    return expand_sam(stack, {}) if stack.is_sam else stack


def invokers(stack: Stack) -> list[tuple[str, Any]]:
    """(what, ARN expression) of everything in a deployed template that invokes a function."""
    out: list[tuple[str, Any]] = []
    for k, r in stack.of_type("AWS::ApiGatewayV2::Integration").items():
        out.append((k, r["Properties"]["IntegrationUri"]))
    for api in stack.of_type("AWS::ApiGatewayV2::Api").values():  # SAM: the OpenAPI body
        for path, methods in ((api["Properties"].get("Body") or {}).get("paths") or {}).items():
            for method, operation in methods.items():
                uri = sym(operation["x-amazon-apigateway-integration"]["uri"])
                ref = uri.split(":lambda:path/2015-03-31/functions/")[1].removesuffix("/invocations")
                out.append((f"{method} {path}", {"Ref": ref[len("{Ref:") : -1]}))
    for k, r in stack.of_type("AWS::Lambda::EventSourceMapping").items():
        out.append((k, r["Properties"]["FunctionName"]))
    for k, r in stack.of_type("AWS::Events::Rule").items():
        out += [(f"{k} target", t["Arn"]) for t in r["Properties"]["Targets"]]
    for k, r in stack.of_type("AWS::Lambda::Permission").items():
        out.append((k, r["Properties"]["FunctionName"]))
    return out


def test_every_function_is_published_behind_its_alias_and_invoked_through_it(stack: Stack):
    """Every function has one alias `live` on one of its versions, and every route, stream
    mapping, rule and invoke permission calls the alias, so a version is what runs and an
    update moves the alias (at once, or by CodeDeploy). The one exception: Secrets Manager
    calls rotate-token by its unqualified ARN ($LATEST, the last deployed code)."""
    d = deployed(stack)
    if stack.is_sam:
        assert stack.template["Globals"]["Function"]["AutoPublishAlias"] == ALIAS
    functions = d.functions()
    aliases = {ref_target(a["Properties"]["FunctionName"]): a["Properties"] for a in d.of_type("AWS::Lambda::Alias").values()}
    assert len(aliases) == len(d.of_type("AWS::Lambda::Alias")) == len(FUNCTIONS), f"{stack.label}: one alias per function"
    for name, fn in functions.items():
        alias = aliases[fn.logical_id]
        assert alias["Name"] == ALIAS, name
        version = ref_target(alias["FunctionVersion"], "Version")
        assert d.resources[version]["Type"] == "AWS::Lambda::Version", name
        assert ref_target(d.resources[version]["Properties"]["FunctionName"]) == fn.logical_id, name
        # Replaced versions are deleted, not retained (Lambda code storage is a per-region quota).
        assert d.resources[version].get("DeletionPolicy", "Delete") == "Delete", name
    unqualified = []
    for what, arn in invokers(d):
        logical, qualifier = d.invoked(arn)
        if qualifier is None:
            unqualified.append(what)
        else:
            assert qualifier == ALIAS, f"{stack.label} {what}: {qualifier}"
    # Secrets Manager's permission on rotate-token; nothing else calls a function unqualified.
    rotator = functions["rotate-token"].logical_id
    (schedule,) = d.of_type("AWS::SecretsManager::RotationSchedule").values()
    assert d.invoked(schedule["Properties"]["RotationLambdaARN"]) == (rotator, None)
    principals = [((d.resources.get(w) or {}).get("Properties") or {}).get("Principal") for w in unqualified]
    assert principals == ["secretsmanager.amazonaws.com"], f"{stack.label}: invoked without the alias: {unqualified}"
    for config in d.of_type("AWS::Lambda::EventInvokeConfig").values():
        assert config["Properties"]["Qualifier"] == ALIAS


def rollback_alarm_ids(stack: Stack, name: str) -> set[str]:
    """The alarms that roll a gradual deployment of function `name` back: its errors and
    duration alarms, both APIs' 5xx and the table's system errors."""
    want = expected_alarms(stack)
    by_view = {without_expression_order(view(p)): k for k, p in stack_alarms(stack).items()}
    own = {by_view[without_expression_order(want[f"{name} {what}"])] for what in ("errors", "duration")}
    return own | set(STACK_ROLLBACK_ALARMS)


def check_deployment_groups(d: Stack, source: Stack, config: str, alarm_name) -> None:
    groups = d.of_type("AWS::CodeDeploy::DeploymentGroup")
    assert len(groups) == len(FUNCTIONS), f"{d.label}: one deployment group per function"
    (application,) = d.of_type("AWS::CodeDeploy::Application")
    functions = d.functions()
    for alias_id, alias in d.of_type("AWS::Lambda::Alias").items():
        name = d.function_name_by_logical_id()[ref_target(alias["Properties"]["FunctionName"])]
        update = alias["UpdatePolicy"]["CodeDeployLambdaAliasUpdate"]
        assert ref_target(update["ApplicationName"]) == application
        group = groups[ref_target(update["DeploymentGroupName"])]["Properties"]
        assert ref_target(group["ApplicationName"]) == application
        assert sym(group["DeploymentConfigName"]) == f"CodeDeployDefault.Lambda{config}", name
        assert group["DeploymentStyle"] == {"DeploymentType": "BLUE_GREEN", "DeploymentOption": "WITH_TRAFFIC_CONTROL"}
        assert group["AlarmConfiguration"]["Enabled"] is True
        got = {alarm_name(a["Name"]) for a in group["AlarmConfiguration"]["Alarms"]}
        assert got == rollback_alarm_ids(source, name), f"{d.label} {name}: rollback alarms {got}"
        rollback = group["AutoRollbackConfiguration"]
        assert rollback["Enabled"] is True and "DEPLOYMENT_STOP_ON_ALARM" in rollback["Events"], name
        assert name in functions


def test_gradual_deployment_is_off_by_default_and_rolls_back_on_the_alarms(stack: Stack, tmp_path: Path):
    """Off (the default): no CodeDeploy resource, the alias moves at once. On: one CodeDeploy
    application, one deployment group per function with the chosen configuration, rolled back
    by the function's errors and duration alarms, both APIs' 5xx and the table's system errors."""
    options = tenant_options(stack)
    if stack.is_sam:
        params = stack.template["Parameters"]
        assert params["GradualDeployment"]["Default"] == "false"
        assert params["DeploymentType"]["Default"] == "Canary10Percent5Minutes"
        preference = stack.template["Globals"]["Function"]["DeploymentPreference"]
        assert preference["Enabled"] == {"Ref": "GradualDeployment"} and preference["Type"] == {"Ref": "DeploymentType"}
        off = expand_sam(stack, {})
        assert not off.of_type("AWS::CodeDeploy::DeploymentGroup") and not off.of_type("AWS::CodeDeploy::Application")
        on = expand_sam(stack, {"GradualDeployment": "true", "DeploymentType": "Linear10PercentEvery2Minutes"}, tmp_path)
        # SAM writes {"Fn::Sub": ["CodeDeployDefault.Lambda${ConfigName}", {"ConfigName": ...}]}.
        for group in on.of_type("AWS::CodeDeploy::DeploymentGroup").values():
            sub = group["Properties"]["DeploymentConfigName"]["Fn::Sub"]
            group["Properties"]["DeploymentConfigName"] = sub[0].replace("${ConfigName}", sub[1]["ConfigName"])
        names = {sym(p["AlarmName"]): k for k, p in stack_alarms(stack).items()}
        check_deployment_groups(on, stack, "Linear10PercentEvery2Minutes", lambda n: names[sym(n)])
        return
    if not options["gradualDeployment"]:
        assert not stack.of_type("AWS::CodeDeploy::DeploymentGroup") and not stack.of_type("AWS::CodeDeploy::Application")
        return
    names = {sym(p["AlarmName"]): k for k, p in stack_alarms(stack).items()}
    check_deployment_groups(stack, stack, options["deploymentType"], lambda n: names[sym(n)])
    # One service role for all groups (IAM roles are a per-account quota), CodeDeploy's own policy.
    roles = [r["Properties"] for r in stack.of_type("AWS::IAM::Role").values() if "codedeploy" in json.dumps(r["Properties"]["AssumeRolePolicyDocument"])]
    assert len(roles) == 1
    assert [sym(a) for a in roles[0]["ManagedPolicyArns"]] == [
        "arn:{Ref:AWS::Partition}:iam::aws:policy/service-role/AWSCodeDeployRoleForLambdaLimited"
    ]
    groups = stack.of_type("AWS::CodeDeploy::DeploymentGroup").values()
    assert {ref_target(g["Properties"]["ServiceRoleArn"], "Arn") for g in groups} == {
        k for k, r in stack.of_type("AWS::IAM::Role").items() if r["Properties"] is roles[0]
    }


def test_version_output_and_tag(stack: Stack):
    """The build's version: the Version output, and the scim:version tag of every function
    (SAM: Globals; `sam deploy --tags` puts it on the rest) or every resource (CDK)."""
    outputs = {k: sym(v["Value"]) for k, v in stack.template["Outputs"].items()}
    if stack.is_sam:
        assert outputs["Version"] == "{Ref:Version}"
        assert sym(stack.template["Globals"]["Function"]["Tags"]["scim:version"]) == "{Ref:Version}"
        assert stack.template["Parameters"]["Version"]["Default"] == "unknown"
        return
    version = outputs["Version"]
    assert version and version != "unknown" or os.environ.get("SCIM_VERSION") == "unknown"
    tagged = [k for k, r in stack.resources.items() if "Tags" in (r.get("Properties") or {})]
    assert len(tagged) > 50
    for k in tagged:
        assert tags_of(stack.resources[k]["Properties"]).get("scim:version") == version, k
    for name, fn in stack.functions().items():
        assert tags_of(fn.props)["scim:version"] == version, name


def test_cdk_stacks_have_termination_protection(cdk_out: Path):
    """On by default (tenant option terminationProtection); SAM has no such setting (README)."""
    manifest = json.loads((cdk_out / "manifest.json").read_text())
    for t in TENANTS:
        options = {**DEFAULT_OPTIONS, **t.get("options", {})}
        props = manifest["artifacts"][f"Scim-{t['id']}"]["properties"]
        assert props.get("terminationProtection", False) is options["terminationProtection"] is True, t["id"]


# --------------------------------------------------------------------------- a URL that survives the stack

DOMAIN = "scim.contoso.example"
CERTIFICATE = "arn:aws:acm:eu-west-1:123456789012:certificate/00000000-0000-0000-0000-000000000000"
ZONE = "Z0123456789EXAMPLE"


def sam_domain(sam_stack: Stack, domain: str, certificate: str, zone: str) -> dict[str, Any]:
    """What template.yaml makes for these DomainName/CertificateArn/HostedZoneId values: the
    rules it refuses, the domain resources it creates, TenantUrl and TokenEndpoint."""
    from test_infra import _sam_eval

    t = sam_stack.template
    values = {"DomainName": domain, "CertificateArn": certificate, "HostedZoneId": zone}
    for name, value in values.items():
        assert re.fullmatch(t["Parameters"][name]["AllowedPattern"], value), f"{name}: {value}"
    params = {**values, "HttpApi": "abc123", "AWS::Region": "eu-west-1", "AWS::URLSuffix": "amazonaws.com"}

    class Conditions(dict):
        def __missing__(self, name: str) -> bool:
            self[name] = bool(_sam_eval(t["Conditions"][name], params, self))
            return self[name]

    conditions = Conditions()
    refused = [
        name
        for name, rule in t["Rules"].items()
        if _sam_eval(rule["RuleCondition"], params, conditions)
        and not all(_sam_eval(a["Assert"], params, conditions) for a in rule["Assertions"])
    ]

    def url(output: str) -> str:
        expr = t["Outputs"][output]["Value"]
        chosen = _sam_eval({"Fn::If": [expr["Fn::If"][0], "then", "else"]}, params, conditions)
        sub = expr["Fn::If"][1 if chosen == "then" else 2]["Fn::Sub"]
        return re.sub(r"\$\{([^}]+)\}", lambda m: params[m.group(1)], sub)

    created = sorted(k for k, r in sam_stack.resources.items() if "Condition" in r and r["Condition"] in ("HasDomainName", "HasHostedZone") and conditions[r["Condition"]])
    return {"refused": refused, "created": created, "TenantUrl": url("TenantUrl"), "TokenEndpoint": url("TokenEndpoint")}


def test_sam_custom_domain_conditions(sam_stack: Stack):
    none = sam_domain(sam_stack, "", "", "")
    assert none == {
        "refused": [],
        "created": [],
        "TenantUrl": "https://abc123.execute-api.eu-west-1.amazonaws.com/scim/v2",
        "TokenEndpoint": "https://abc123.execute-api.eu-west-1.amazonaws.com/oauth2/token",
    }
    domain = sam_domain(sam_stack, DOMAIN, CERTIFICATE, "")
    assert domain == {
        "refused": [],
        "created": ["ApiDomainName", "ApiMapping"],
        "TenantUrl": f"https://{DOMAIN}/scim/v2",
        "TokenEndpoint": f"https://{DOMAIN}/oauth2/token",
    }
    zone = sam_domain(sam_stack, DOMAIN, CERTIFICATE, ZONE)
    assert zone["created"] == ["ApiDnsRecord", "ApiDomainName", "ApiMapping"] and zone["TenantUrl"] == domain["TenantUrl"]
    assert sam_domain(sam_stack, DOMAIN, "", "")["refused"] == ["DomainNameNeedsCertificate"]
    assert sam_domain(sam_stack, "", "", ZONE)["refused"] == ["HostedZoneNeedsDomainName"]
    assert sam_domain(sam_stack, "", "", ZONE)["created"] == [], "no record without a domain, even past the rule"
    # The outputs and the functions' TENANT_URL/TOKEN_ENDPOINT are the same expression
    # (test_infra.py test_environment); the DomainName-only outputs exist only with a domain.
    assert sam_stack.template["Outputs"]["ApiDomainTarget"]["Condition"] == "HasDomainName"


def test_custom_domain_resources(stack: Stack):
    """The domain (regional, TLS 1.2, the certificate), its mapping to the SCIM API's $default
    stage (never the application API: its URL is for the product, IAM-signed), and the alias
    record in the zone."""
    options = tenant_options(stack)
    domains = stack.of_type("AWS::ApiGatewayV2::DomainName")
    if options is not None and not options["domainName"]:
        assert not domains and not stack.of_type("AWS::ApiGatewayV2::ApiMapping") and not stack.of_type("AWS::Route53::RecordSet")
        assert "ApiDomainTarget" not in stack.template["Outputs"]
        return
    want = {"DomainName": "{Ref:DomainName}", "CertificateArn": "{Ref:CertificateArn}", "HostedZoneId": "{Ref:HostedZoneId}"}
    if options is not None:
        want = {"DomainName": options["domainName"], "CertificateArn": options["certificateArn"], "HostedZoneId": options["hostedZoneId"]}
    ((domain_id, domain),) = domains.items()
    p = domain["Properties"]
    assert sym(p["DomainName"]) == want["DomainName"]
    (config,) = p["DomainNameConfigurations"]
    assert sym(config["CertificateArn"]) == want["CertificateArn"]
    assert config["EndpointType"] == "REGIONAL" and config["SecurityPolicy"] == "TLS_1_2"
    (mapping,) = [m["Properties"] for m in stack.of_type("AWS::ApiGatewayV2::ApiMapping").values()]
    assert ref_target(mapping["DomainName"]) == domain_id
    assert ref_target(mapping["ApiId"]) == api_ids(stack)["scim"]
    assert "ApiMappingKey" not in mapping, "the domain's root is the API's root: https://<domain>/scim/v2"
    if stack.is_sam:
        assert sym(mapping["Stage"]) == "{Ref:%s.Stage}" % api_ids(stack)["scim"]
    else:
        assert mapping["Stage"] == "$default"
    records = stack.of_type("AWS::Route53::RecordSet")
    if options is not None and not options["hostedZoneId"]:
        assert not records
    else:
        (record,) = [r["Properties"] for r in records.values()]
        assert (sym(record["HostedZoneId"]), sym(record["Name"]), record["Type"]) == (want["HostedZoneId"], want["DomainName"], "A")
        assert sym(record["AliasTarget"]["DNSName"]) == "{RegionalDomainName:%s}" % domain_id
        assert sym(record["AliasTarget"]["HostedZoneId"]) == "{RegionalHostedZoneId:%s}" % domain_id
    assert sym(stack.template["Outputs"]["ApiDomainTarget"]["Value"]) == "{RegionalDomainName:%s}" % domain_id


# --------------------------------------------------------------------------- tenants isolated in one account


def test_reserved_concurrency_is_optional_and_expire_contacts_always_has_one(stack: Stack):
    """Off by default (the functions share the account's pool); when set, every function but
    expire-contacts reserves it; expire-contacts always reserves exactly 1 (runs never overlap)."""
    options = tenant_options(stack)
    for name, fn in stack.functions().items():
        got = fn.props.get("ReservedConcurrentExecutions")
        if name == "expire-contacts":
            assert got == 1, f"{stack.label} {name}: {got}"
        elif options is None:
            assert got == {"Fn::If": ["HasReservedConcurrency", {"Ref": "ReservedConcurrency"}, {"Ref": "AWS::NoValue"}]}, name
        elif options["reservedConcurrency"]:
            assert got == options["reservedConcurrency"], f"{stack.label} {name}: {got}"
        else:
            assert got is None, f"{stack.label} {name}: {got}"
    if options is None:
        param = stack.template["Parameters"]["ReservedConcurrency"]
        assert (param["Type"], param["Default"], param["MinValue"]) == ("Number", 0, 0)
        assert stack.template["Conditions"]["HasReservedConcurrency"] == {
            "Fn::Not": [{"Fn::Equals": [{"Ref": "ReservedConcurrency"}, 0]}]
        }


# --------------------------------------------------------------------------- deploying a tenant, listing tenants

SAMCONFIG = REPO / "samconfig.toml"


def samconfig_environments() -> dict[str, dict[str, dict[str, Any]]]:
    config = tomllib.loads(SAMCONFIG.read_text())
    assert config.pop("version") == 0.1
    return {env: {cmd: (v.get("parameters") or {}) for cmd, v in sections.items()} for env, sections in config.items()}


def overrides_of(params: dict[str, Any]) -> dict[str, str]:
    return dict(kv.split("=", 1) for kv in shlex.split(params.get("parameter_overrides", "")))


def test_samconfig_environments_deploy_a_tenant_without_prompts(sam_stack: Stack):
    """One environment per tenant: not guided, the change set not confirmed, an artifact
    bucket resolved, the IAM capability given, the stack tagged with its tenant, only real
    parameters with values the template accepts, and the build's Architecture the deploy's."""
    envs = samconfig_environments()
    assert envs and "default" not in envs, "no default environment: every deploy names its tenant"
    params = sam_stack.template["Parameters"]
    for env, sections in envs.items():
        assert set(sections) <= {"global", "build", "deploy"}, env
        stack_settings = {**sections.get("global", {}), **sections["deploy"]}
        deploy = sections["deploy"]
        assert stack_settings["stack_name"] == f"scim-{env}", env
        assert re.fullmatch(r"[a-z]{2}(-[a-z]+)+-\d", stack_settings["region"]), env
        assert "guided" not in deploy and deploy["confirm_changeset"] is False, env
        assert deploy["resolve_s3"] is True or deploy.get("s3_bucket"), env
        assert "CAPABILITY_IAM" in deploy["capabilities"].split(), env
        overrides = overrides_of(deploy)
        assert overrides["TenantId"] == env, env
        for name, value in overrides.items():
            assert name in params, f"{env}: {name} is not a parameter of template.yaml"
            p = params[name]
            if "AllowedValues" in p:
                assert value in [str(v) for v in p["AllowedValues"]], f"{env}: {name}={value}"
            if "AllowedPattern" in p:
                assert re.fullmatch(p["AllowedPattern"], value), f"{env}: {name}={value}"
            if p["Type"] == "Number":
                assert p.get("MinValue", -1e18) <= float(value) <= p.get("MaxValue", 1e18), f"{env}: {name}={value}"
        assert "Version" not in overrides, f"{env}: infra/sam-deploy.sh gives the build's version"
        tags = dict(kv.split("=", 1) for kv in shlex.split(deploy["tags"]))
        assert tags["scim:tenant"] == env, env
        build = overrides_of(sections.get("build", {}))
        assert build.get("Architecture", "arm64") == overrides.get("Architecture", "arm64"), f"{env}: build and deploy architectures"


FAKE_SAM = """#!/usr/bin/env bash
echo "$@" >> "$FAKE_SAM_LOG"
if [[ "$1" == build ]]; then
    for fn in UsersGetFunction PublishEventsFunction; do
        mkdir -p "$SAM_BUILD_DIR/$fn"
        python3 -c "import struct,sys; sys.stdout.buffer.write(b'\\x7fELF\\x02\\x01\\x01' + bytes(9) + struct.pack('<HH', 2, int(sys.argv[1], 16)) + bytes(44))" "$FAKE_MACHINE" > "$SAM_BUILD_DIR/$fn/bootstrap"
    done
    echo "Resources: {}" > "$SAM_BUILD_DIR/template.yaml"
fi
"""


def run_sam_deploy(tmp_path: Path, tenant: str, machine: str) -> tuple[subprocess.CompletedProcess, list[str]]:
    fake = tmp_path / "sam"
    fake.write_text(FAKE_SAM)
    fake.chmod(0o755)
    log = tmp_path / "sam.log"
    log.write_text("")
    env = dict(
        os.environ,
        SAM=str(fake),
        SAM_BUILD_DIR=str(tmp_path / "build"),
        FAKE_SAM_LOG=str(log),
        FAKE_MACHINE=machine,
        PYTHON=sys.executable,
    )
    proc = subprocess.run([str(INFRA / "sam-deploy.sh"), tenant], env=env, capture_output=True, text=True, timeout=60)
    return proc, log.read_text().splitlines()


def test_sam_deploy_refuses_binaries_of_another_architecture(tmp_path: Path):
    """fabrikam runs x86_64: binaries built for arm64 (EM_AARCH64 0xb7) stop the deploy after
    the build; x86_64 ones (EM_X86_64 0x3e) deploy, with the build's version added to the
    environment's own overrides and tags."""
    envs = samconfig_environments()
    assert overrides_of(envs["fabrikam"]["deploy"])["Architecture"] == "x86_64"
    proc, calls = run_sam_deploy(tmp_path, "fabrikam", "b7")
    assert proc.returncode != 0 and "is arm64, the stack runs x86_64" in proc.stderr, proc.stderr
    assert [c.split()[0] for c in calls] == ["build"], calls
    proc, calls = run_sam_deploy(tmp_path, "fabrikam", "3e")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    build, deploy = calls
    assert build.startswith("build --config-env fabrikam --build-dir ")
    version = subprocess.run([str(INFRA / "version.sh")], capture_output=True, text=True, check=True).stdout.strip()
    assert deploy.startswith("deploy --config-env fabrikam --template-file "), deploy
    assert f"{envs['fabrikam']['deploy']['parameter_overrides']} Version={version}" in deploy
    assert f"scim:tenant=fabrikam scim:version={version}" in deploy


def test_artifact_checker_reads_the_elf_header(tmp_path: Path):
    """infra/artifacts.py on a real binary of this machine (a host build of users-get, when
    target/debug has one: x86_64 here) and on headers of both architectures."""
    sys.path.insert(0, str(INFRA))
    try:
        import artifacts
    finally:
        sys.path.remove(str(INFRA))
    host = REPO / "target" / "debug" / "users-get"
    if host.exists() and os.uname().machine == "x86_64":
        assert artifacts.architecture(host) == "x86_64"
    for machine, name in ((0xB7, "arm64"), (0x3E, "x86_64"), (0x28, "ELF machine 0x28")):
        f = tmp_path / name.replace(" ", "_")
        f.write_bytes(b"\x7fELF\x02\x01\x01" + bytes(9) + struct.pack("<HH", 2, machine) + bytes(44))
        assert artifacts.architecture(f) == name
    (tmp_path / "script").write_text("#!/bin/sh\n")
    assert artifacts.architecture(tmp_path / "script") == "not an ELF binary"


def test_cdk_prebuilt_refuses_binaries_of_another_architecture(tmp_path: Path):
    """SCIM_ASSETS=prebuilt: an arm64 tenant with x86_64 binaries fails at synth, naming the
    binary and the build command; with arm64 binaries it synthesises."""
    ts_node = INFRA / "node_modules" / ".bin" / "ts-node"
    if not ts_node.exists():
        pytest.skip("infra/node_modules is missing (infra/check.sh installs it)")
    tenants = tmp_path / "tenants.json"
    tenants.write_text(json.dumps({"tenants": [{"id": "archtest", "account": "111111111111", "region": "eu-west-1", "options": {"architecture": "arm64"}}]}))
    results = {}
    for label, machine in (("x86_64", 0x3E), ("arm64", 0xB7)):
        assets = tmp_path / label
        for f in FUNCTIONS:
            (assets / f["name"]).mkdir(parents=True)
            (assets / f["name"] / "bootstrap").write_bytes(b"\x7fELF\x02\x01\x01" + bytes(9) + struct.pack("<HH", 2, machine) + bytes(44))
        env = dict(
            os.environ,
            SCIM_ASSETS="prebuilt",
            SCIM_ASSETS_DIR=str(assets),
            SCIM_TENANTS_FILE=str(tenants),
            CDK_OUTDIR=str(tmp_path / f"out-{label}"),
            SCIM_VERSION="0.0.0+test",
        )
        results[label] = subprocess.run(
            [str(ts_node), "--transpile-only", "bin/app.ts"], cwd=INFRA, env=env, capture_output=True, text=True, timeout=300
        )
    wrong, right = results["x86_64"], results["arm64"]
    assert wrong.returncode != 0
    assert "bootstrap is x86_64, but the tenant's functions run arm64" in wrong.stderr, wrong.stderr[-2000:]
    assert "cargo lambda build --release --arm64" in wrong.stderr
    assert right.returncode == 0, right.stderr[-2000:]
    assert (tmp_path / "out-arm64" / "Scim-archtest.template.json").exists()


def test_list_tenants_finds_sam_and_cdk_stacks():
    """infra/list-tenants.py on moto: the stacks tagged scim:tenant (a SAM one, a CDK one),
    with their Version output; nothing else."""
    moto = pytest.importorskip("moto")
    import boto3

    spec = importlib.util.spec_from_file_location("list_tenants", INFRA / "list-tenants.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    body = json.dumps(
        {
            "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
            "Outputs": {"Version": {"Value": "0.1.0+abc"}, "TenantUrl": {"Value": "https://scim.example/scim/v2"}},
        }
    )
    with moto.mock_aws():
        os.environ.setdefault("AWS_DEFAULT_REGION", "eu-west-1")
        for region, name, tags in (
            ("eu-west-1", "scim-contoso", {"scim:tenant": "contoso"}),  # SAM: samconfig.toml tags
            ("us-east-1", "Scim-fabrikam", {"scim:tenant": "fabrikam", "scim:version": "0.1.0+abc"}),  # CDK
            ("eu-west-1", "unrelated", {"team": "x"}),
        ):
            boto3.client("cloudformation", region_name=region).create_stack(
                StackName=name, TemplateBody=body, Tags=[{"Key": k, "Value": v} for k, v in tags.items()]
            )
        rows = module.tenants(["eu-west-1", "us-east-1"])
    assert [(r["tenant"], r["region"], r["stack"], r["version"]) for r in rows] == [
        ("contoso", "eu-west-1", "scim-contoso", "0.1.0+abc"),
        ("fabrikam", "us-east-1", "Scim-fabrikam", "0.1.0+abc"),
    ]


# --------------------------------------------------------------------------- runbooks


def test_resend_change_events_writes_the_windows_audit_records_again(tmp_path: Path):
    """infra/resend-change-events.py on moto, with the table of shared/table.json: each audit
    record of the tenant in the window (only those: not another tenant's, not other records,
    not outside the window) is deleted and put back unchanged, the put conditional on its
    absence, which DynamoDB's stream reports as an INSERT of an audit record: what
    publish-events publishes. (moto 5.2.5 answers the streams API's DescribeStream with "Not
    yet implemented", so the stream itself is not read here.)"""
    moto = pytest.importorskip("moto")
    import boto3

    spec = importlib.util.spec_from_file_location("resend", INFRA / "resend-change-events.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    table_def = json.loads((REPO / "shared" / "table.json").read_text())

    def audit(tenant: str, at: str, resource: str, request: str, rec: str = "audit") -> dict:
        return {
            "pk": {"S": f"{tenant}#A#{resource}"},
            "sk": {"S": f"{at}#{request}"},
            "apk": {"S": f"{tenant}#A"},
            "ask": {"S": f"{at}#{resource}#{request}"},
            "rec": {"S": rec},
            "event": {"S": "user.updated"},
            "expiresAt": {"N": "1900000000"},
        }

    inside = [audit("contoso", "2026-12-06T10:01:00Z", "u1", "r1"), audit("contoso", "2026-12-06T10:04:59Z", "u2", "r2")]
    others = [
        audit("contoso", "2026-12-06T09:59:59Z", "u3", "r3"),  # before the window
        audit("contoso", "2026-12-06T10:06:00Z", "u4", "r4"),  # after
        audit("fabrikam", "2026-12-06T10:02:00Z", "u5", "r5"),  # another tenant
        audit("contoso", "2026-12-06T10:03:00Z", "u6", "r6", rec="audit-ext"),  # never a change event
    ]

    class Recording:
        def __init__(self, client):
            self.client, self.calls = client, []

        def __getattr__(self, name):
            method = getattr(self.client, name)

            def call(**kwargs):
                self.calls.append((name, kwargs))
                return method(**kwargs)

            return call

    with moto.mock_aws():
        raw = boto3.client("dynamodb", region_name="eu-west-1")
        raw.create_table(
            TableName="t",
            KeySchema=table_def["KeySchema"],
            AttributeDefinitions=table_def["AttributeDefinitions"],
            GlobalSecondaryIndexes=table_def["GlobalSecondaryIndexes"],
            BillingMode=table_def["BillingMode"],
            StreamSpecification=table_def["StreamSpecification"],
        )
        for item in inside + others:
            raw.put_item(TableName="t", Item=item)
        client = Recording(raw)
        backup = tmp_path / "backup.jsonl"
        n = module.resend(client, "t", "contoso", "2026-12-06T10:00:00Z", "2026-12-06T10:05:00Z", str(backup))
        stored = [raw.get_item(TableName="t", Key={"pk": i["pk"], "sk": i["sk"]})["Item"] for i in inside + others]
        dry = Recording(raw)
        assert module.resend(dry, "t", "contoso", "2026-12-06T10:00:00Z", "2026-12-06T10:05:00Z", str(tmp_path / "d"), True) == 2
    assert n == 2
    writes = [(name, kw) for name, kw in client.calls if name != "query"]
    expected = []
    for item in inside:
        expected.append(("delete_item", {"TableName": "t", "Key": {"pk": item["pk"], "sk": item["sk"]}}))
        expected.append(("put_item", {"TableName": "t", "Item": item, "ConditionExpression": "attribute_not_exists(pk)"}))
    assert writes == expected
    assert stored == inside + others, "every record is still there, unchanged"
    assert [json.loads(line) for line in backup.read_text().splitlines()] == inside
    assert [name for name, _ in dry.calls] == ["query"], "--dry-run writes nothing"


def test_access_logs_name_the_request_id_the_functions_record(stack: Stack):
    """Correlation: both access logs write `$context.requestId`, which is the request
    context's `requestId` a function receives (shared/aws/src/lambda.rs `from_lambda`) and
    puts on the audit record and the change event."""
    from test_infra import access_log_of  # noqa: F401 - the same lookup as the access-log test

    for api in stack.apis():
        if stack.is_sam:
            fmt = stack.resources[api]["Properties"]["AccessLogSettings"]["Format"]
        else:
            (fmt,) = [
                s["Properties"]["AccessLogSettings"]["Format"]
                for s in stack.of_type("AWS::ApiGatewayV2::Stage").values()
                if ref_target(s["Properties"]["ApiId"]) == api
            ]
        assert json.loads(fmt)["requestId"] == "$context.requestId", f"{stack.label} {api}"
