//! Reading a `PatchOp` body, whatever the client's dialect, into [`PatchOperation`]s.

use super::{members, OpKind, PatchOperation, PatchPath, MAX_PATCH_OPERATIONS};
use crate::error::{ScimError, ScimResult};
use crate::path::truncate;
use crate::resource::KNOWN_URNS;
use crate::schema::{Mutability, ResourceKind, PATCH_OP_URN};
use serde_json::{Map, Value};

/// Parses a PATCH body into operations that all carry a path.
///
/// Lenient where real clients differ from RFC 7644 and strict where a guess could lose
/// data:
/// - `Operations`, `op`, `path` and `value` keys and `op` names in any case; a missing or
///   odd `schemas` member is ignored;
/// - a path-less `add`/`replace` (and one whose path is just a schema URN) is split into
///   one operation per attribute of its value object: `{"name.givenName": "A"}`,
///   `{"urn:...:enterprise:2.0:User:department": "X"}` and
///   `{"urn:...:enterprise:2.0:User": {"department": "X"}}` all become path operations;
///   `id`, `schemas`, `meta`, read-only and unknown keys are dropped;
/// - a `remove` without a path is `noTarget`, an `add`/`replace` without a `value` is
///   `invalidValue`, an unknown `op` is `invalidValue`, a body that is not an object with
///   an `Operations` array is `invalidSyntax`.
pub fn parse_patch(body: &Value) -> ScimResult<Vec<PatchOperation>> {
    let Some(obj) = body.as_object() else {
        return Err(ScimError::invalid_syntax(
            "The PATCH body must be a JSON object with an 'Operations' array.",
        ));
    };
    let raw = match get_ci(obj, "Operations") {
        Some(Value::Array(raw)) => raw,
        Some(_) => {
            return Err(ScimError::invalid_syntax(
                "'Operations' must be an array of PATCH operations.",
            ))
        }
        None => {
            return Err(ScimError::invalid_syntax(
                "The PATCH body has no 'Operations' array.",
            ))
        }
    };
    if raw.is_empty() {
        return Err(ScimError::invalid_syntax(
            "'Operations' must hold at least one operation.",
        ));
    }
    if raw.len() > MAX_PATCH_OPERATIONS {
        return Err(too_many_operations());
    }
    let mut ops = Vec::with_capacity(raw.len());
    for (i, raw_op) in raw.iter().enumerate() {
        parse_operation(raw_op, &mut ops).map_err(|e| in_operation(e, i))?;
        if ops.len() > MAX_PATCH_OPERATIONS {
            return Err(too_many_operations());
        }
    }
    members::check_budget(&ops)?;
    Ok(ops)
}

/// Prints operations as a standard `PatchOp` body (lower-case ops, canonical paths), which
/// [`parse_patch`] reads back to the same operations.
pub fn to_body(ops: &[PatchOperation]) -> Value {
    let operations = ops
        .iter()
        .map(|op| {
            let mut m = Map::new();
            m.insert("op".into(), Value::String(op.op.as_str().into()));
            if let Some(path) = &op.path {
                m.insert("path".into(), Value::String(path.to_string()));
            }
            if let Some(value) = &op.value {
                m.insert("value".into(), value.clone());
            }
            Value::Object(m)
        })
        .collect();
    let mut body = Map::new();
    body.insert(
        "schemas".into(),
        Value::Array(vec![Value::String(PATCH_OP_URN.into())]),
    );
    body.insert("Operations".into(), Value::Array(operations));
    Value::Object(body)
}

fn too_many_operations() -> ScimError {
    ScimError::too_many(format!(
        "A PATCH request may hold at most {MAX_PATCH_OPERATIONS} operations."
    ))
}

/// Prefixes an error detail with the (1-based) operation it concerns.
fn in_operation(mut e: ScimError, index: usize) -> ScimError {
    e.detail = format!("Operation {}: {}", index + 1, e.detail);
    e
}

fn parse_operation(raw: &Value, out: &mut Vec<PatchOperation>) -> ScimResult<()> {
    let Some(obj) = raw.as_object() else {
        return Err(ScimError::invalid_syntax(
            "each PATCH operation must be a JSON object.",
        ));
    };
    let op = match get_ci(obj, "op") {
        Some(Value::String(s)) => OpKind::parse(s).ok_or_else(|| {
            ScimError::invalid_value(format!(
                "'{}' is not a PATCH operation; use add, replace or remove.",
                truncate(s, 40)
            ))
        })?,
        Some(Value::Null) | None => {
            return Err(ScimError::invalid_syntax(
                "the operation has no 'op' (add, replace or remove).",
            ))
        }
        Some(_) => {
            return Err(ScimError::invalid_value(
                "'op' must be a string: add, replace or remove.",
            ))
        }
    };
    let value = get_ci(obj, "value");
    let path_text = match get_ci(obj, "path") {
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim()),
        Some(Value::String(_)) | Some(Value::Null) | None => None,
        Some(_) => return Err(ScimError::invalid_path("'path' must be a string.")),
    };
    if op == OpKind::Remove {
        let Some(text) = path_text else {
            return Err(ScimError::no_target(
                "a remove operation needs a 'path' (RFC 7644 §3.5.2.2).",
            ));
        };
        let path = PatchPath::parse(text)?;
        let value = value.map(|v| entra_role_strings(op, &path, v));
        out.push(PatchOperation {
            op,
            path: Some(path),
            value,
        });
        return Ok(());
    }
    let Some(value) = value else {
        return Err(ScimError::invalid_value(format!(
            "an {} operation needs a 'value'.",
            op.as_str()
        )));
    };
    match path_text {
        None => split_pathless(op, value, out),
        Some(text) => match known_urn(text) {
            // A path that is just a schema URN targets that schema's attributes as a whole.
            Some(urn) => split_schema_object(op, urn, value, out),
            None => {
                let path = PatchPath::parse(text)?;
                let value = entra_role_strings(op, &path, value);
                out.push(PatchOperation {
                    op,
                    path: Some(path),
                    value: Some(value),
                });
                Ok(())
            }
        },
    }
}

/// Entra's `AppRoleAssignmentsComplex` PATCHes (without the `aadOptscim062020` flag) send
/// each role of `roles` as JSON inside a string: `{"value": "{\"id\":\"…\",\"value\":\"25\",
/// \"displayName\":\"Role1234\"}"}`. Such an element becomes the role it describes:
/// `{"value": "25", "display": "Role1234", "primary": false}` (Entra provisions every such
/// role as not primary; `id` is Entra's assignment id, not part of a role). A remove names
/// the role by its value alone, so a changed display name still removes it. Any other
/// string, JSON or not, is left as it is: a plain role value.
fn entra_role_strings(op: OpKind, path: &PatchPath, value: &Value) -> Value {
    let is_roles = path.attr.name.eq_ignore_ascii_case("roles")
        && path.attr.sub.is_none()
        && path.filter.is_none()
        && path.sub.is_none()
        && path
            .attr
            .urn
            .as_deref()
            .is_none_or(|u| u.eq_ignore_ascii_case(crate::schema::USER_SCHEMA_URN));
    let Value::Array(items) = value else {
        return value.clone();
    };
    if !is_roles {
        return value.clone();
    }
    let role = |item: &Value| -> Option<Value> {
        let text = item.as_object()?.iter().find_map(|(k, v)| {
            k.eq_ignore_ascii_case("value")
                .then_some(v.as_str())
                .flatten()
        })?;
        if !text.trim_start().starts_with('{') {
            return None;
        }
        let inner: Map<String, Value> = serde_json::from_str(text).ok()?;
        let value = get_ci(&inner, "value")?.as_str()?.to_string();
        let mut out = Map::new();
        out.insert("value".into(), Value::String(value));
        if op != OpKind::Remove {
            if let Some(Value::String(d)) = get_ci(&inner, "displayName") {
                out.insert("display".into(), Value::String(d.clone()));
            }
            out.insert("primary".into(), Value::Bool(false));
        }
        Some(Value::Object(out))
    };
    Value::Array(
        items
            .iter()
            .map(|item| role(item).unwrap_or_else(|| item.clone()))
            .collect(),
    )
}

/// Splits the value of a path-less `add`/`replace` into one operation per attribute.
/// Keys that are not writable attributes of any resource type are dropped; so are keys
/// that are not valid paths at all (clients put odd things in there).
pub(super) fn split_pathless(
    op: OpKind,
    value: &Value,
    out: &mut Vec<PatchOperation>,
) -> ScimResult<()> {
    let Some(obj) = value.as_object() else {
        return Err(ScimError::invalid_value(format!(
            "without a 'path', the 'value' of an {} operation must be an object of attributes.",
            op.as_str()
        )));
    };
    for (key, v) in obj {
        if is_ignored_key(key) {
            continue;
        }
        if let Some(urn) = known_urn(key) {
            split_schema_object(op, urn, v, out)?;
            continue;
        }
        if let Ok(path) = PatchPath::parse(key) {
            push_if_writable(op, path, v, out);
        }
    }
    Ok(())
}

/// Splits `{"urn:...:User": {"department": "X"}}`-style values (or a value whose path is
/// a schema URN) into one operation per attribute of that schema.
fn split_schema_object(
    op: OpKind,
    urn: &'static str,
    value: &Value,
    out: &mut Vec<PatchOperation>,
) -> ScimResult<()> {
    let obj = match value {
        Value::Object(obj) => obj,
        Value::Null => return Ok(()),
        _ => {
            return Err(ScimError::invalid_value(format!(
                "'{urn}' must be an object of that schema's attributes."
            )))
        }
    };
    for (key, v) in obj {
        if is_ignored_key(key) {
            continue;
        }
        let Ok(mut path) = PatchPath::parse(key) else {
            continue;
        };
        match &path.attr.urn {
            Some(u) if !u.eq_ignore_ascii_case(urn) => continue,
            _ => path.attr.urn = Some(urn.to_string()),
        }
        push_if_writable(op, path, v, out);
    }
    Ok(())
}

fn push_if_writable(op: OpKind, path: PatchPath, value: &Value, out: &mut Vec<PatchOperation>) {
    if is_writable_somewhere(&path) {
        out.push(PatchOperation {
            op,
            path: Some(path),
            value: Some(value.clone()),
        });
    }
}

/// Whether the path names a writable attribute of some resource type. The body does not
/// say which type it patches, so a key valid only for the other type (`members` sent to a
/// User) survives here and is rejected as `invalidPath` when applied.
fn is_writable_somewhere(path: &PatchPath) -> bool {
    [ResourceKind::User, ResourceKind::Group]
        .into_iter()
        .any(|kind| {
            let Ok(Some(rp)) = path.attr.resolve(kind.def()) else {
                return false;
            };
            let filter_sub = match &path.sub {
                Some(s) => match rp.attr.sub(s) {
                    Some(def) => Some(def),
                    None => return false,
                },
                None => None,
            };
            [Some(rp.attr), rp.sub, filter_sub]
                .into_iter()
                .flatten()
                .all(|d| d.mutability != Mutability::ReadOnly)
        })
}

/// Keys inside values that describe the resource rather than set an attribute.
fn is_ignored_key(key: &str) -> bool {
    ["schemas", "id", "meta"]
        .iter()
        .any(|k| key.trim().eq_ignore_ascii_case(k))
}

/// The canonical spelling of a schema URN `text` is exactly (in any case).
fn known_urn(text: &str) -> Option<&'static str> {
    KNOWN_URNS
        .iter()
        .copied()
        .find(|u| u.eq_ignore_ascii_case(text.trim()))
}

/// A member of a JSON object by name, exact spelling first, then in any case.
pub(super) fn get_ci<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    obj.get(key).or_else(|| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}
