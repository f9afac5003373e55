//! Group membership operations, turned into [`MemberChanges`] without the member list.

use super::parse::get_ci;
use super::{Member, MemberChanges, PatchOperation, PatchPath, MAX_PATCH_MEMBER_VALUES};
use crate::error::{ScimError, ScimResult};
use crate::filter::{CompValue, CompareOp, Filter};
use crate::path::truncate;
use crate::resource::MAX_STRING_LEN;
use crate::schema::GROUP_SCHEMA_URN;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// Whether a path names a Group's `members` (`members`, `urn:...:core:2.0:Group:members`).
pub(super) fn is_members_path(path: &PatchPath) -> bool {
    path.attr.name.eq_ignore_ascii_case("members")
        && path
            .attr
            .urn
            .as_deref()
            .is_none_or(|u| u.eq_ignore_ascii_case(GROUP_SCHEMA_URN))
}

/// How many member values an operation names: its value array, or the ids in its filter.
fn member_value_count(op: &PatchOperation) -> usize {
    let Some(path) = op.path.as_ref().filter(|p| is_members_path(p)) else {
        return 0;
    };
    let from_filter = path.filter.as_ref().map_or(0, count_leaves);
    let from_value = match &op.value {
        None | Some(Value::Null) => 0,
        Some(Value::Array(items)) => items.len(),
        Some(_) => 1,
    };
    from_filter + from_value
}

/// Fails with `tooMany` when the operations name more than [`MAX_PATCH_MEMBER_VALUES`]
/// member values in total.
pub(super) fn check_budget(ops: &[PatchOperation]) -> ScimResult<()> {
    let total = ops
        .iter()
        .map(member_value_count)
        .fold(0usize, usize::saturating_add);
    if total > MAX_PATCH_MEMBER_VALUES {
        return Err(ScimError::too_many(format!(
            "A PATCH request may add or remove at most {MAX_PATCH_MEMBER_VALUES} members; \
             split the change into several requests."
        )));
    }
    Ok(())
}

fn count_leaves(filter: &Filter) -> usize {
    let mut stack = vec![filter];
    let mut n = 0usize;
    while let Some(f) = stack.pop() {
        match f {
            Filter::And(l, r) | Filter::Or(l, r) => {
                stack.push(l);
                stack.push(r);
            }
            Filter::Not(inner) => stack.push(inner),
            _ => n += 1,
        }
    }
    n
}

/// The ids a member filter selects: `value eq "id"`, joined by `or`. Anything else is
/// `invalidFilter`, since only ids identify members without reading them.
pub(super) fn filter_ids(filter: &Filter) -> ScimResult<Vec<String>> {
    let unsupported = || {
        ScimError::invalid_filter(format!(
            "'members[{}]': members can only be selected by id, as in \
             members[value eq \"id\"] or members[value eq \"a\" or value eq \"b\"].",
            truncate(&filter.to_string(), 80)
        ))
    };
    let mut ids = Vec::new();
    let mut stack = vec![filter];
    while let Some(f) = stack.pop() {
        match f {
            Filter::Or(l, r) => {
                stack.push(r);
                stack.push(l);
            }
            Filter::Compare {
                path,
                op: CompareOp::Eq,
                value: CompValue::String(id),
            } if path.urn.is_none()
                && path.sub.is_none()
                && path.name.eq_ignore_ascii_case("value") =>
            {
                ids.push(check_id(id)?);
            }
            _ => return Err(unsupported()),
        }
    }
    Ok(ids)
}

/// Reads the members in a value: an array of `{"value", "type", "display"}` objects (one
/// object or a bare id string is accepted too; `null` is none). `$ref`, `id`, `schemas` and
/// other keys are ignored.
pub(super) fn parse_members(value: Option<&Value>) -> ScimResult<Vec<Member>> {
    match value {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items.iter().map(parse_member).collect(),
        Some(one) => Ok(vec![parse_member(one)?]),
    }
}

fn parse_member(item: &Value) -> ScimResult<Member> {
    match item {
        Value::String(id) => Ok(Member {
            value: check_id(id)?,
            type_: None,
            display: None,
        }),
        Value::Object(obj) => {
            let value = match get_ci(obj, "value") {
                Some(Value::String(id)) => check_id(id)?,
                _ => return Err(missing_id()),
            };
            let type_ = optional_string(obj, "type")?.map(|t| {
                ["User", "Group"]
                    .into_iter()
                    .find(|c| c.eq_ignore_ascii_case(&t))
                    .map_or(t, str::to_string)
            });
            Ok(Member {
                value,
                type_,
                display: optional_string(obj, "display")?,
            })
        }
        _ => Err(missing_id()),
    }
}

fn missing_id() -> ScimError {
    ScimError::invalid_value(
        "each member must be an object with a non-empty string 'value' (the member's id).",
    )
}

fn check_id(id: &str) -> ScimResult<String> {
    if id.trim().is_empty() {
        return Err(missing_id());
    }
    crate::limits::check_member_id(id)?;
    Ok(id.to_string())
}

fn optional_string(obj: &serde_json::Map<String, Value>, key: &str) -> ScimResult<Option<String>> {
    match get_ci(obj, key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.len() <= MAX_STRING_LEN => Ok(Some(s.clone())),
        Some(_) => Err(ScimError::invalid_value(format!(
            "a member's '{key}' must be a string of at most {MAX_STRING_LEN} bytes."
        ))),
    }
}

/// Accumulates membership operations in request order; a later operation on the same id
/// overrides an earlier one.
#[derive(Debug, Default)]
pub(super) struct Accumulator {
    replace_all: bool,
    added: BTreeMap<String, Member>,
    removed: BTreeSet<String>,
}

impl Accumulator {
    pub(super) fn add(&mut self, member: Member) {
        self.removed.remove(&member.value);
        self.added.insert(member.value.clone(), member);
    }

    pub(super) fn remove(&mut self, id: String) {
        self.added.remove(&id);
        if !self.replace_all {
            self.removed.insert(id);
        }
    }

    /// Drops every member, existing or added earlier in the request.
    pub(super) fn remove_all(&mut self) {
        self.replace_all = true;
        self.added.clear();
        self.removed.clear();
    }

    pub(super) fn finish(self) -> MemberChanges {
        MemberChanges {
            replace_all: self.replace_all,
            added: self.added.into_values().collect(),
            removed: self.removed.into_iter().collect(),
        }
    }
}
