//! PATCH (RFC 7644 §3.5.2): parsing a `PatchOp` body in any client dialect into a list of
//! [`PatchOperation`]s, and applying them to a canonical resource document.
//!
//! Two steps, each usable on its own:
//! - [`parse_patch`] is the one place where client dialects are normalised: any-case `op`
//!   names and keys, path-less `add`/`replace` values split into one operation per attribute
//!   (dotted keys such as `name.givenName`, schema-qualified keys, extension objects), and
//!   `id`/`schemas`/`meta` keys inside values dropped. Its output only holds operations with
//!   a path, and [`to_body`] prints them back as a standard `PatchOp` body.
//! - [`apply_patch`] applies operations to a stored document, coercing every value through
//!   the schema registry (string booleans, bare `manager` ids, dateTimes, `null`).
//!
//! Invariant: a Group's `members` never live in the document. Every operation on `members`
//! becomes a [`MemberChanges`] (add these ids, remove those, or drop everything first),
//! computed without reading the current member list, so a group of any size is patched in
//! constant reads and concurrent membership changes never overwrite each other.

mod apply;
mod members;
mod parse;
mod path;
#[cfg(test)]
mod tests;

pub use apply::apply_patch;
pub use parse::{parse_patch, to_body};
pub use path::PatchPath;

use crate::error::ScimResult;
use crate::resource::Doc;
use crate::schema::ResourceKind;
use serde_json::Value;
use std::collections::BTreeSet;

/// The most operations one PATCH request may carry (after path-less values are split).
pub const MAX_PATCH_OPERATIONS: usize = 1000;

/// The most member values (added, removed or selected by a filter) in one PATCH request.
pub const MAX_PATCH_MEMBER_VALUES: usize = 1000;

/// The three PATCH operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpKind {
    Add,
    Replace,
    Remove,
}

impl OpKind {
    /// Reads an `op` name in any case (`"add"`, Entra's `"Add"`, `"REPLACE"`).
    pub fn parse(text: &str) -> Option<OpKind> {
        let t = text.trim();
        [OpKind::Add, OpKind::Replace, OpKind::Remove]
            .into_iter()
            .find(|k| t.eq_ignore_ascii_case(k.as_str()))
    }

    pub fn as_str(self) -> &'static str {
        match self {
            OpKind::Add => "add",
            OpKind::Replace => "replace",
            OpKind::Remove => "remove",
        }
    }
}

/// One operation. `value` is kept as sent; it is coerced when applied. `Some(Value::Null)`
/// (an explicit `null`) is distinct from `None` (no `value` member).
#[derive(Debug, Clone, PartialEq)]
pub struct PatchOperation {
    pub op: OpKind,
    pub path: Option<PatchPath>,
    pub value: Option<Value>,
}

/// A member of a Group as a PATCH names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub value: String,
    pub type_: Option<String>,
    pub display: Option<String>,
}

/// What a PATCH does to a Group's membership. To apply it: if `replace_all`, drop every
/// existing member; then delete `removed` and put `added`. `added` and `removed` never
/// share an id (the later operation of a request wins), each is sorted by id, and `removed`
/// is empty when `replace_all` is set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemberChanges {
    pub replace_all: bool,
    pub added: Vec<Member>,
    pub removed: Vec<String>,
}

impl MemberChanges {
    pub fn is_empty(&self) -> bool {
        !self.replace_all && self.added.is_empty() && self.removed.is_empty()
    }
}

/// The result of a PATCH: the new document, what changed in it, and membership changes.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchOutcome {
    /// The patched canonical document (never holds `members`).
    pub doc: Doc,
    /// Canonical names of the top-level attributes whose value changed; extension
    /// attributes as `urn:...:enterprise:2.0:User:department`; `members` when
    /// [`PatchOutcome::members`] is not empty.
    pub changed: BTreeSet<String>,
    pub members: MemberChanges,
}

/// Parses a `PatchOp` body and applies it: [`parse_patch`] then [`apply_patch`].
pub fn patch(kind: ResourceKind, doc: &Doc, body: &Value) -> ScimResult<PatchOutcome> {
    let ops = parse_patch(body)?;
    apply_patch(kind, doc, &ops)
}
