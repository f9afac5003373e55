"""A read-only view of a CloudFormation template (SAM template.yaml or a CDK-synthesised
template) in the terms the infra tests care about: functions by name, their roles,
routes, log groups. Intrinsic functions are reduced to symbolic strings so that SAM's
`!Sub '${Table.Arn}/index/x'` and CDK's `Fn::Join ["", [{Fn::GetAtt: [Table, Arn]}, "/index/x"]]`
both read `{Arn:Table}/index/x`."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

SAM_FUNCTION = "AWS::Serverless::Function"
LAMBDA_FUNCTION = "AWS::Lambda::Function"
FUNCTION_TAG = "scim:function"


# --------------------------------------------------------------------------- loading


class CfnYamlLoader(yaml.SafeLoader):
    """PyYAML loader that turns CloudFormation short-form tags into long-form dicts."""


def _construct_intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    key = suffix if suffix in ("Ref", "Condition") else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {key: value}


CfnYamlLoader.add_multi_constructor("!", _construct_intrinsic)


def load_template(path: Path) -> dict[str, Any]:
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        return json.loads(text)
    return yaml.load(text, Loader=CfnYamlLoader)  # noqa: S506 - SafeLoader subclass


# --------------------------------------------------------------------------- intrinsics


def sym(expr: Any) -> str:
    """Symbolic string for a value that may contain Ref/GetAtt/Sub/Join."""
    if isinstance(expr, (str, int, float)):
        return str(expr)
    if isinstance(expr, dict) and len(expr) == 1:
        ((key, value),) = expr.items()
        if key == "Ref":
            return "{Ref:%s}" % value
        if key == "Fn::GetAtt":
            resource, attribute = value.split(".", 1) if isinstance(value, str) else value
            return "{%s:%s}" % (attribute, resource)
        if key == "Fn::Sub":
            if not isinstance(value, str):
                raise ValueError(f"Fn::Sub with variables is not supported here: {expr!r}")

            def repl(m: re.Match[str]) -> str:
                name = m.group(1)
                if "." in name and not name.startswith("AWS::"):
                    resource, attribute = name.split(".", 1)
                    return "{%s:%s}" % (attribute, resource)
                return "{Ref:%s}" % name

            return re.sub(r"\$\{([^}!]+)\}", repl, value)
        if key == "Fn::Join":
            separator, parts = value
            return separator.join(sym(p) for p in parts)
        if key == "Fn::If":
            condition, then, otherwise = value
            return "{If:%s ? %s : %s}" % (condition, sym(then), sym(otherwise))
    raise ValueError(f"cannot reduce {expr!r} to a symbol")


def ref_target(expr: Any, attribute: str | None = None) -> str:
    """Logical id behind `{Ref: X}` (attribute None) or `{Fn::GetAtt: [X, attribute]}`."""
    s = sym(expr)
    prefix = "{Ref:" if attribute is None else "{%s:" % attribute
    if not (s.startswith(prefix) and s.endswith("}") and s.count("{") == 1):
        raise AssertionError(f"expected {prefix}<id>}}, got {s}")
    return s[len(prefix) : -1]


def tags_of(props: dict[str, Any]) -> dict[str, Any]:
    tags = props.get("Tags") or {}
    if isinstance(tags, list):
        return {t["Key"]: t["Value"] for t in tags}
    return dict(tags)


def walk(node: Any, path: str = ""):
    """Yields (path, dict) for every mapping in the template."""
    if isinstance(node, dict):
        yield path, node
        for k, v in node.items():
            yield from walk(v, f"{path}/{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from walk(v, f"{path}[{i}]")


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


# --------------------------------------------------------------------------- model


@dataclass(frozen=True)
class Statement:
    actions: frozenset[str]
    resources: frozenset[str]
    condition: str | None = None  # template Condition name guarding the statement (SAM Fn::If)
    iam_condition: str | None = None  # the statement's IAM Condition block, canonical (see iam_condition)


def iam_condition(block: Any) -> str | None:
    """An IAM Condition block as canonical JSON: operators and keys sorted, values reduced
    with `sym` and given as sorted lists, so SAM's `[!Sub '${TenantId}#S']` and CDK's
    `"contoso#S"` compare as `{"...": {"dynamodb:LeadingKeys": ["{Ref:TenantId}#S"]}}`."""
    if block is None:
        return None
    canonical = {
        operator: {key: sorted(sym(v) for v in as_list(values)) for key, values in keys.items()}
        for operator, keys in block.items()
    }
    return json.dumps(canonical, sort_keys=True)


@dataclass(frozen=True)
class RouteView:
    function: str
    api: str  # logical id of the API the route is on
    authorization: str  # NONE or AWS_IAM (or another authorizer type)


@dataclass
class FunctionView:
    name: str
    logical_id: str
    props: dict[str, Any]  # with SAM Globals merged in
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def environment(self) -> dict[str, Any]:
        return (self.props.get("Environment") or {}).get("Variables") or {}

    @property
    def role_id(self) -> str:
        return ref_target(self.props["Role"], "Arn")

    @property
    def log_group_id(self) -> str:
        return ref_target(self.props["LoggingConfig"]["LogGroup"])


class Stack:
    def __init__(self, label: str, template: dict[str, Any]):
        self.label = label
        self.template = template
        self.resources: dict[str, dict[str, Any]] = template.get("Resources", {})
        self.is_sam = "AWS::Serverless-2016-10-31" in as_list(template.get("Transform", []))

    def of_type(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.resources.items() if v.get("Type") == resource_type}

    def only(self, resource_type: str) -> str:
        found = list(self.of_type(resource_type))
        assert len(found) == 1, f"{self.label}: expected one {resource_type}, found {found}"
        return found[0]

    # -- functions
    def functions(self) -> dict[str, FunctionView]:
        resource_type = SAM_FUNCTION if self.is_sam else LAMBDA_FUNCTION
        globals_ = (self.template.get("Globals") or {}).get("Function") or {}
        out: dict[str, FunctionView] = {}
        for logical_id, res in self.of_type(resource_type).items():
            props = _merge(globals_, res.get("Properties") or {}) if self.is_sam else res.get("Properties") or {}
            name = tags_of(props).get(FUNCTION_TAG)
            assert isinstance(name, str), f"{self.label}: {logical_id} has no {FUNCTION_TAG} tag"
            assert name not in out, f"{self.label}: two functions tagged {name}"
            out[name] = FunctionView(name, logical_id, props, res.get("Metadata") or {})
        return out

    def function_name_by_logical_id(self) -> dict[str, str]:
        return {f.logical_id: name for name, f in self.functions().items()}

    # -- what an ARN or name in an invoker (integration, mapping, rule target, permission) calls
    def invoked(self, expr: Any) -> tuple[str, str | None]:
        """(function logical id, alias name or None for the unqualified function): `{Arn:F}` or
        `{Ref:F}` is F itself; `{Ref:F.Alias}` (SAM) is F's AutoPublishAlias; `{Ref:A}` of an
        AWS::Lambda::Alias (CDK, SAM expanded) is that alias of its function."""
        s = sym(expr)
        m = re.fullmatch(r"\{(Ref|Arn):([A-Za-z0-9]+)(\.Alias)?\}", s)
        assert m, f"{self.label}: {s} names no function of the template"
        kind, target, sam_alias = m.groups()
        if sam_alias:
            alias = ((self.template.get("Globals") or {}).get("Function") or {}).get("AutoPublishAlias")
            props = self.resources[target].get("Properties") or {}
            return target, props.get("AutoPublishAlias", alias)
        resource = self.resources[target]
        if resource["Type"] == "AWS::Lambda::Alias" and kind == "Ref":
            return ref_target(resource["Properties"]["FunctionName"]), resource["Properties"]["Name"]
        assert resource["Type"] in (SAM_FUNCTION, LAMBDA_FUNCTION), f"{self.label}: {s} is a {resource['Type']}"
        return target, None

    # -- IAM
    def role_statements(self, role_id: str) -> list[Statement]:
        role = self.resources[role_id]
        assert role["Type"] == "AWS::IAM::Role", f"{role_id} is not a role"
        out = []
        for policy in role["Properties"].get("Policies", []):
            for raw in as_list(policy["PolicyDocument"]["Statement"]):
                condition = None
                if isinstance(raw, dict) and "Fn::If" in raw:
                    condition, raw, otherwise = raw["Fn::If"]
                    assert otherwise == {"Ref": "AWS::NoValue"}, f"{role_id}: Fn::If must fall back to AWS::NoValue"
                assert raw.get("Effect") == "Allow", f"{role_id}: only Allow statements expected"
                assert "NotAction" not in raw and "NotResource" not in raw, f"{role_id}: NotAction/NotResource"
                out.append(
                    Statement(
                        frozenset(as_list(raw["Action"])),
                        frozenset(sym(r) for r in as_list(raw["Resource"])),
                        condition,
                        iam_condition(raw.get("Condition")),
                    )
                )
        return out

    # -- event source mappings: [(function name, CloudFormation EventSourceMapping properties)]
    def stream_mappings(self) -> list[tuple[str, dict[str, Any]]]:
        out: list[tuple[str, dict[str, Any]]] = []
        if self.is_sam:
            for name, fn in self.functions().items():
                for event in (fn.props.get("Events") or {}).values():
                    if event["Type"] in ("DynamoDB", "Kinesis", "SQS"):
                        p = dict(event["Properties"])
                        p["EventSourceArn"] = p.pop("Stream", p.pop("Queue", None))
                        p["FunctionName"] = "{Ref:%s}" % fn.logical_id
                        out.append((name, p))
        else:
            by_logical = self.function_name_by_logical_id()
            for res in self.of_type("AWS::Lambda::EventSourceMapping").values():
                p = dict(res["Properties"])
                logical, alias = self.invoked(p["FunctionName"])
                p["FunctionName"] = "{Ref:%s}" % logical
                p["Qualifier"] = alias
                out.append((by_logical[logical], p))
        return sorted(out, key=lambda m: m[0])

    # -- APIs and routes: "METHOD /path" or "$default" -> function name (on whichever API)
    def apis(self) -> list[str]:
        return sorted(self.of_type("AWS::Serverless::HttpApi" if self.is_sam else "AWS::ApiGatewayV2::Api"))

    def routes(self) -> dict[str, str]:
        return {key: route.function for key, route in self.route_views().items()}

    def route_views(self) -> dict[str, RouteView]:
        """Every route with its function, its API and its effective authorization type. A
        route key is unique across the stack's APIs (each path prefix is on one API)."""
        return self._sam_routes() if self.is_sam else self._cdk_routes()

    def _sam_routes(self) -> dict[str, RouteView]:
        apis = self.apis()
        out: dict[str, RouteView] = {}
        for name, fn in self.functions().items():
            for event_id, event in (fn.props.get("Events") or {}).items():
                if event["Type"] != "HttpApi":
                    continue
                p = event["Properties"]
                api = ref_target(p["ApiId"])
                assert api in apis, f"{name}.{event_id} is not on an HttpApi of the template"
                if p["Path"] == "$default":
                    assert p["Method"].upper() == "ANY", f"{name}.{event_id}: $default must be ANY"
                    key = "$default"
                else:
                    key = f"{p['Method'].upper()} {p['Path']}"
                assert key not in out, f"route {key} defined twice"
                # SAM: the event's own Auth.Authorizer, else its API's DefaultAuthorizer, else none.
                api_auth = self.resources[api]["Properties"].get("Auth") or {}
                authorizer = (p.get("Auth") or {}).get("Authorizer", api_auth.get("DefaultAuthorizer", "NONE"))
                if authorizer == "AWS_IAM":
                    assert api_auth.get("EnableIamAuthorizer") is True, f"{api}: AWS_IAM needs EnableIamAuthorizer"
                out[key] = RouteView(name, api, authorizer)
        return out

    def _cdk_routes(self) -> dict[str, RouteView]:
        apis = self.apis()
        by_logical = self.function_name_by_logical_id()
        out: dict[str, RouteView] = {}
        for route_id, route in self.of_type("AWS::ApiGatewayV2::Route").items():
            p = route["Properties"]
            api = ref_target(p["ApiId"])
            assert api in apis, f"{route_id}: not on an API of the stack"
            target = sym(p["Target"])
            assert target.startswith("integrations/{Ref:"), f"{route_id}: unexpected target {target}"
            integration = self.resources[target[len("integrations/{Ref:") : -1]]["Properties"]
            assert integration["IntegrationType"] == "AWS_PROXY"
            assert ref_target(integration["ApiId"]) == api, f"{route_id}: integration on another API"
            fn_id, _ = self.invoked(integration["IntegrationUri"])
            key = p["RouteKey"]
            assert key not in out, f"route {key} defined twice"
            out[key] = RouteView(by_logical[fn_id], api, p.get("AuthorizationType", "NONE"))
        return out


def _merge(global_value: Any, local_value: Any) -> Any:
    """SAM Globals semantics: maps merge recursively (local wins), lists concatenate."""
    if isinstance(global_value, dict) and isinstance(local_value, dict):
        if any(k == "Ref" or k.startswith("Fn::") for k in (*global_value, *local_value)):
            return local_value
        merged = dict(global_value)
        for k, v in local_value.items():
            merged[k] = _merge(merged[k], v) if k in merged else v
        return merged
    if isinstance(global_value, list) and isinstance(local_value, list):
        return global_value + local_value
    return local_value
