//! Bulk requests (RFC 7644 §3.7): reading a `BulkRequest`, the order its operations run in,
//! and `bulkId:` references. Pure: the service runs each operation through the same domain
//! operation as its single request ([`plan`] says in which order, [`substitute`] fills in
//! the ids that earlier operations created).
//!
//! The order: operations run in request order, except that an operation whose data or path
//! names `bulkId:X` runs after the operation whose `bulkId` is `X` (RFC 7644 §3.7.2 shows a
//! group that references users created by later operations). Operations that reference
//! each other in a circle are not run: each answers `409` (§3.7.1 lets a service provider
//! "stop after a failed attempt and instead return HTTP status code 409 (Conflict)").

use crate::error::{ScimError, ScimResult, ScimType};
use serde_json::{Map, Value};
use std::collections::{BTreeSet, HashMap};

pub const BULK_REQUEST_URN: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
pub const BULK_RESPONSE_URN: &str = "urn:ietf:params:scim:api:messages:2.0:BulkResponse";

/// The most operations one bulk request may hold (`maxOperations`): sized so a request of
/// creates finishes well inside the bulk function's timeout (BENCHMARKS, "Bulk").
pub const MAX_OPERATIONS: usize = 100;
/// The largest bulk request body (`maxPayloadSize`, bytes).
pub const MAX_PAYLOAD_BYTES: usize = 1_048_576;

/// The prefix that makes a string a reference to another operation's resource.
pub const BULK_ID_PREFIX: &str = "bulkId:";
/// The longest `bulkId` accepted (bytes).
pub const MAX_BULK_ID_BYTES: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BulkMethod {
    Post,
    Put,
    Patch,
    Delete,
}

impl BulkMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            BulkMethod::Post => "POST",
            BulkMethod::Put => "PUT",
            BulkMethod::Patch => "PATCH",
            BulkMethod::Delete => "DELETE",
        }
    }
}

/// One operation as the client sent it. `method` is `Err` with the problem when the
/// operation is malformed: it is answered with that error and the others still run.
#[derive(Debug, Clone, PartialEq)]
pub struct BulkOperation {
    /// The method as sent (echoed in the response even when it is not one of the four).
    pub method_name: String,
    pub method: Result<BulkMethod, ScimError>,
    pub bulk_id: Option<String>,
    /// `version`: the ETag the operation is conditional on (`If-Match`).
    pub version: Option<String>,
    pub path: String,
    pub data: Option<Value>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BulkRequest {
    /// Stop after this many errors (`failOnErrors`); `None`: run every operation.
    pub fail_on_errors: Option<usize>,
    pub operations: Vec<BulkOperation>,
}

/// The `413` of a request over `maxPayloadSize` (`scimType: tooLarge`).
pub fn too_large(len: usize) -> ScimError {
    ScimError::new(
        413,
        Some(ScimType::TooLarge),
        format!(
            "The size of the bulk request ({len} bytes) exceeds the maxPayloadSize ({MAX_PAYLOAD_BYTES})."
        ),
    )
}

/// Reads a `BulkRequest` body. What makes the whole request unusable (not a BulkRequest,
/// no `Operations`, a bad `failOnErrors`, more than [`MAX_OPERATIONS`], one `bulkId` used
/// twice) is an error here; what is wrong with one operation is kept in that operation.
pub fn parse(body: &Value) -> ScimResult<BulkRequest> {
    let obj = body
        .as_object()
        .ok_or_else(|| ScimError::invalid_syntax("A bulk request is a JSON object."))?;
    let get = |name: &str| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    };
    let schemas_ok = get("schemas")
        .and_then(Value::as_array)
        .is_some_and(|s| s.iter().any(|u| u.as_str() == Some(BULK_REQUEST_URN)));
    if !schemas_ok {
        return Err(ScimError::invalid_syntax(format!(
            "A bulk request's schemas must list {BULK_REQUEST_URN}."
        )));
    }
    let fail_on_errors = match get("failOnErrors") {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_u64() {
            Some(n) if n >= 1 => Some(usize::try_from(n).unwrap_or(usize::MAX)),
            _ => {
                return Err(ScimError::invalid_value(
                    "failOnErrors must be an integer of at least 1.",
                ))
            }
        },
    };
    let ops = get("Operations")
        .and_then(Value::as_array)
        .ok_or_else(|| ScimError::invalid_syntax("A bulk request needs an Operations array."))?;
    if ops.len() > MAX_OPERATIONS {
        return Err(ScimError::new(
            413,
            Some(ScimType::TooMany),
            format!(
                "The bulk request holds {} operations; the maxOperations is {MAX_OPERATIONS}.",
                ops.len()
            ),
        ));
    }
    let operations: Vec<BulkOperation> = ops.iter().map(operation).collect();
    let mut seen = BTreeSet::new();
    for id in operations.iter().filter_map(|o| o.bulk_id.as_deref()) {
        if !seen.insert(id) {
            return Err(ScimError::invalid_value(format!(
                "The bulkId '{}' names more than one operation.",
                crate::path::truncate(id, 64)
            )));
        }
    }
    Ok(BulkRequest {
        fail_on_errors,
        operations,
    })
}

fn operation(v: &Value) -> BulkOperation {
    let empty = Map::new();
    let obj = v.as_object().unwrap_or(&empty);
    let get = |name: &str| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    };
    let text = |name: &str| get(name).and_then(Value::as_str).map(str::to_string);
    let method_name = text("method").unwrap_or_default();
    let bulk_id = text("bulkId");
    let path = text("path").unwrap_or_default();
    let data = get("data").filter(|d| !d.is_null()).cloned();
    let method = check_operation(v, &method_name, bulk_id.as_deref(), &path, data.as_ref());
    BulkOperation {
        method_name,
        method,
        bulk_id,
        version: text("version"),
        path,
        data,
    }
}

fn check_operation(
    v: &Value,
    method_name: &str,
    bulk_id: Option<&str>,
    path: &str,
    data: Option<&Value>,
) -> ScimResult<BulkMethod> {
    if !v.is_object() {
        return Err(ScimError::invalid_syntax(
            "Each bulk operation is a JSON object.",
        ));
    }
    let method = match method_name.to_ascii_uppercase().as_str() {
        "POST" => BulkMethod::Post,
        "PUT" => BulkMethod::Put,
        "PATCH" => BulkMethod::Patch,
        "DELETE" => BulkMethod::Delete,
        "" => {
            return Err(ScimError::invalid_syntax(
                "A bulk operation needs a method.",
            ))
        }
        _ => {
            return Err(ScimError::invalid_value(
                "A bulk operation's method is POST, PUT, PATCH or DELETE.",
            ))
        }
    };
    if path.is_empty() {
        return Err(ScimError::invalid_syntax("A bulk operation needs a path."));
    }
    if let Some(id) = bulk_id {
        if id.is_empty() || id.len() > MAX_BULK_ID_BYTES {
            return Err(ScimError::invalid_value(format!(
                "A bulkId is 1 to {MAX_BULK_ID_BYTES} bytes."
            )));
        }
    }
    if method == BulkMethod::Post && bulk_id.is_none() {
        return Err(ScimError::invalid_syntax(
            "A POST bulk operation needs a bulkId (RFC 7644 §3.7).",
        ));
    }
    if method != BulkMethod::Delete && data.is_none() {
        return Err(ScimError::invalid_syntax(format!(
            "A {} bulk operation needs data.",
            method.as_str()
        )));
    }
    Ok(method)
}

/// Why an operation is not run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Blocked {
    /// It names `bulkId:X` and no operation has the bulkId `X`.
    Unknown(String),
    /// It is part of (or depends on) a circle of references.
    Circular,
}

impl Blocked {
    pub fn error(&self) -> ScimError {
        match self {
            Blocked::Unknown(id) => ScimError::invalid_value(format!(
                "No operation in this bulk request has the bulkId '{}'.",
                crate::path::truncate(id, 64)
            )),
            Blocked::Circular => ScimError::conflict(
                "The operation is part of a circle of bulkId references, which this service does not resolve; create one of the resources first, then reference its id.",
            ),
        }
    }
}

/// One step of the run: the operation's index, or an operation not run and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Run(usize),
    Refuse(usize, Blocked),
}

/// The order to run the operations in: request order, each operation after the
/// operations it references (depth first). Every operation appears exactly once.
pub fn plan(req: &BulkRequest) -> Vec<Step> {
    let ops = &req.operations;
    let by_bulk_id: HashMap<&str, usize> = ops
        .iter()
        .enumerate()
        .filter_map(|(i, o)| o.bulk_id.as_deref().map(|b| (b, i)))
        .collect();
    // What each operation depends on (indexes), or why it cannot run.
    let deps: Vec<Result<Vec<usize>, Blocked>> = ops
        .iter()
        .map(|o| {
            let mut out = Vec::new();
            for r in references(o) {
                match by_bulk_id.get(r.as_str()) {
                    Some(&j) => out.push(j),
                    None => return Err(Blocked::Unknown(r)),
                }
            }
            Ok(out)
        })
        .collect();
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        OnPath,
        Done,
    }
    let mut mark = vec![Mark::New; ops.len()];
    let mut circular = vec![false; ops.len()];
    let mut steps = Vec::with_capacity(ops.len());
    for start in 0..ops.len() {
        if mark[start] != Mark::New {
            continue;
        }
        // Iterative depth-first walk: (node, next dependency to look at).
        let mut stack = vec![(start, 0usize)];
        mark[start] = Mark::OnPath;
        while let Some(top) = stack.last_mut() {
            let node = top.0;
            let node_deps: &[usize] = deps[node].as_deref().unwrap_or(&[]);
            if let Some(&dep) = node_deps.get(top.1) {
                top.1 += 1;
                match mark[dep] {
                    Mark::New => {
                        mark[dep] = Mark::OnPath;
                        stack.push((dep, 0));
                    }
                    Mark::OnPath => {
                        // A back edge: everything on the path from `dep` up is a circle.
                        let from = stack.iter().position(|&(n, _)| n == dep).unwrap_or(0);
                        for &(n, _) in &stack[from..] {
                            circular[n] = true;
                        }
                    }
                    Mark::Done => {
                        if circular[dep] {
                            circular[node] = true;
                        }
                    }
                }
                continue;
            }
            stack.pop();
            mark[node] = Mark::Done;
            if node_deps.iter().any(|&d| circular[d]) {
                circular[node] = true;
            }
            steps.push(match &deps[node] {
                Err(b) => Step::Refuse(node, b.clone()),
                Ok(_) if circular[node] => Step::Refuse(node, Blocked::Circular),
                Ok(_) => Step::Run(node),
            });
        }
    }
    steps
}

/// The bulkIds an operation references (in its path and anywhere in its data), each once.
pub fn references(op: &BulkOperation) -> Vec<String> {
    let mut out = BTreeSet::new();
    for seg in op.path.split('/') {
        if let Some(id) = seg.strip_prefix(BULK_ID_PREFIX) {
            out.insert(id.to_string());
        }
    }
    if let Some(data) = &op.data {
        collect(data, &mut out);
    }
    out.into_iter().collect()
}

fn collect(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::String(s) => {
            if let Some(id) = s.strip_prefix(BULK_ID_PREFIX) {
                out.insert(id.to_string());
            } else {
                // A quoted reference inside a string: a PATCH path's filter,
                // `members[value eq "bulkId:qwerty"]`.
                let mut rest = s.as_str();
                while let Some(at) = rest.find("\"bulkId:") {
                    let tail = &rest[at + 8..];
                    match tail.find('"') {
                        Some(end) => {
                            out.insert(tail[..end].to_string());
                            rest = &tail[end..];
                        }
                        None => break,
                    }
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|i| collect(i, out)),
        Value::Object(map) => map.values().for_each(|i| collect(i, out)),
        _ => {}
    }
}

/// The operation's path and data with every `bulkId:X` replaced by the id the operation
/// with bulkId `X` created (`ids`). Every reference must be in `ids`.
pub fn substitute(op: &BulkOperation, ids: &HashMap<String, String>) -> (String, Option<Value>) {
    let path = op
        .path
        .split('/')
        .map(|seg| match seg.strip_prefix(BULK_ID_PREFIX) {
            Some(id) => ids.get(id).cloned().unwrap_or_else(|| seg.to_string()),
            None => seg.to_string(),
        })
        .collect::<Vec<_>>()
        .join("/");
    let data = op.data.as_ref().map(|d| replace(d, ids));
    (path, data)
}

fn replace(v: &Value, ids: &HashMap<String, String>) -> Value {
    match v {
        Value::String(s) => {
            if let Some(id) = s.strip_prefix(BULK_ID_PREFIX) {
                if let Some(real) = ids.get(id) {
                    return Value::String(real.clone());
                }
            }
            if s.contains("\"bulkId:") {
                let mut out = s.clone();
                for (bulk_id, real) in ids {
                    out = out.replace(&format!("\"bulkId:{bulk_id}\""), &format!("\"{real}\""));
                }
                return Value::String(out);
            }
            v.clone()
        }
        Value::Array(items) => Value::Array(items.iter().map(|i| replace(i, ids)).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, i)| (k.clone(), replace(i, ids)))
                .collect(),
        ),
        other => other.clone(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn req(ops: Value) -> BulkRequest {
        parse(&json!({"schemas": [BULK_REQUEST_URN], "Operations": ops})).unwrap()
    }

    fn post(bulk_id: &str, data: Value) -> Value {
        json!({"method": "POST", "path": "/Groups", "bulkId": bulk_id, "data": data})
    }

    #[test]
    fn a_group_referencing_later_users_runs_after_them() {
        // RFC 7644 §3.7.2's example: the group comes first and names both users.
        let r = req(json!([
            post("g", json!({"members": [{"value": "bulkId:qwerty"}, {"value": "bulkId:ytrewq"}]})),
            {"method": "POST", "path": "/Users", "bulkId": "qwerty", "data": {"userName": "Alice"}},
            {"method": "POST", "path": "/Users", "bulkId": "ytrewq", "data": {"userName": "Bob"}},
        ]));
        assert_eq!(plan(&r), vec![Step::Run(1), Step::Run(2), Step::Run(0)]);
    }

    #[test]
    fn operations_without_references_keep_request_order() {
        let r = req(json!([
            {"method": "DELETE", "path": "/Users/a"},
            {"method": "POST", "path": "/Users", "bulkId": "x", "data": {}},
            {"method": "PATCH", "path": "/Users/bulkId:x", "data": {}},
        ]));
        assert_eq!(plan(&r), vec![Step::Run(0), Step::Run(1), Step::Run(2)]);
    }

    #[test]
    fn a_circle_and_what_depends_on_it_are_refused_and_the_rest_runs() {
        let r = req(json!([
            post("a", json!({"members": [{"value": "bulkId:b"}]})),
            post("b", json!({"members": [{"value": "bulkId:a"}]})),
            post("c", json!({"members": [{"value": "bulkId:a"}]})),
            post("d", json!({})),
            post("e", json!({"members": [{"value": "bulkId:e"}]})),
        ]));
        let steps = plan(&r);
        assert_eq!(steps.len(), 5);
        for i in [0, 1, 2, 4] {
            assert!(
                steps.contains(&Step::Refuse(i, Blocked::Circular)),
                "{i}: {steps:?}"
            );
        }
        assert!(steps.contains(&Step::Run(3)));
    }

    #[test]
    fn an_unknown_bulk_id_is_refused_as_invalid_value() {
        let r = req(json!([post(
            "a",
            json!({"members": [{"value": "bulkId:nope"}]})
        )]));
        let steps = plan(&r);
        assert_eq!(
            steps,
            vec![Step::Refuse(0, Blocked::Unknown("nope".into()))]
        );
        assert_eq!(Blocked::Unknown("nope".into()).error().status, 400);
        assert_eq!(Blocked::Circular.error().status, 409);
    }

    #[test]
    fn references_are_replaced_in_values_paths_and_filters() {
        let op = BulkOperation {
            method_name: "PATCH".into(),
            method: Ok(BulkMethod::Patch),
            bulk_id: None,
            version: None,
            path: "/Groups/bulkId:g".into(),
            data: Some(json!({"Operations": [
                {"op": "add", "path": "members", "value": [{"value": "bulkId:u"}]},
                {"op": "remove", "path": "members[value eq \"bulkId:v\"]"}
            ]})),
        };
        assert_eq!(references(&op), vec!["g", "u", "v"]);
        let ids: HashMap<String, String> = [("g", "G1"), ("u", "U1"), ("v", "V1")]
            .into_iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        let (path, data) = substitute(&op, &ids);
        assert_eq!(path, "/Groups/G1");
        let data = data.unwrap();
        assert_eq!(data["Operations"][0]["value"][0]["value"], "U1");
        assert_eq!(data["Operations"][1]["path"], "members[value eq \"V1\"]");
    }

    #[test]
    fn whole_request_problems_are_errors_and_operation_problems_stay_in_the_operation() {
        let e = parse(&json!({"Operations": []})).unwrap_err();
        assert_eq!(e.scim_type, Some(ScimType::InvalidSyntax));
        let e = parse(&json!({"schemas": [BULK_REQUEST_URN]})).unwrap_err();
        assert_eq!(e.status, 400);
        let e = parse(&json!({"schemas": [BULK_REQUEST_URN], "failOnErrors": 0, "Operations": []}))
            .unwrap_err();
        assert_eq!(e.scim_type, Some(ScimType::InvalidValue));
        let many: Vec<Value> = (0..=MAX_OPERATIONS)
            .map(|_| json!({"method": "DELETE", "path": "/Users/x"}))
            .collect();
        let e = parse(&json!({"schemas": [BULK_REQUEST_URN], "Operations": many})).unwrap_err();
        assert_eq!((e.status, e.scim_type), (413, Some(ScimType::TooMany)));
        let e = parse(&json!({"schemas": [BULK_REQUEST_URN], "Operations": [
            post("x", json!({})), post("x", json!({}))
        ]}))
        .unwrap_err();
        assert_eq!(e.scim_type, Some(ScimType::InvalidValue));

        let r = req(json!([
            {"method": "GET", "path": "/Users/a"},
            {"method": "POST", "path": "/Users", "data": {}},
            {"method": "PUT", "path": "/Users/a"},
            {"method": "DELETE"},
            "not an object",
        ]));
        let statuses: Vec<u16> = r
            .operations
            .iter()
            .map(|o| o.method.as_ref().unwrap_err().status)
            .collect();
        assert_eq!(statuses, vec![400; 5]);
        assert_eq!(r.operations[0].method_name, "GET");
    }
}
