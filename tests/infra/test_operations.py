"""Day-two operations, offline, on template.yaml and every synthesised CDK stack: alarms
that reach someone. The expected alarms are generated from what the stack holds and from
infra/functions.json (every function, every queue, every EventBridge rule, every API, the
table), so a function, queue or rule added without its alarms fails here; every alarm
publishes to the stack's one SNS topic.

Run through infra/check.sh, or alone with `pytest tests/infra` (see test_infra.py)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from cfn_model import Stack, ref_target, sym
from test_infra import (  # noqa: F401 - cdk_out, sam_stack and stack are fixtures
    BY_NAME,
    FUNCTIONS,
    api_ids,
    cdk_out,
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
