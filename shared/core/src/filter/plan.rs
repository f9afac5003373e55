//! Index analysis: which parts of a filter a store can answer from an index.
//!
//! Only the top-level `and` chain is looked at. Each `eq "string"` clause on an indexed
//! attribute becomes an [`IndexKey`]; a store intersects the lookups and tests the
//! candidates with the evaluator on the [`Plan::residual`]. Lookups are exact (they need no
//! re-check) provided the store indexes every value: every `emails[].value` of a user, every
//! `members[].value` of a group, compared as the attribute's `caseExact` says.

use super::{CompValue, CompareOp, Filter};
use crate::schema::{ResourceKind, ResourceTypeDef};

/// A value to look up in one of the store's indexes. Values are as the filter gave them;
/// stores apply their own normalisation (lower-casing the case-insensitive ones).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum IndexKey {
    Id(String),
    UserName(String),
    ExternalId(String),
    DisplayName(String),
    EmailValue(String),
    MemberValue(String),
}

/// How to answer a filter: the resources matching every lookup and the residual.
///
/// Empty `lookups` means no index serves the filter: the store must run a bounded partition
/// query and test every candidate with the evaluator. `residual: None` means the lookups
/// alone are the answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub lookups: Vec<IndexKey>,
    pub residual: Option<Filter>,
}

/// Splits `filter` into index lookups and a residual filter for the evaluator.
///
/// User: `id`, `userName`, `externalId`, `emails.value` (also written `emails eq`,
/// `emails[value eq ...]`, `emails[type eq "work"].value eq ...`). Group: `id`,
/// `displayName`, `externalId`, `members.value` (also `members eq`, `members[value eq ...]`).
/// A value path with further conditions (`emails[type eq "work" and value eq "x"]`) gives
/// the lookup and stays whole in the residual, because its conditions must hold for the same
/// element. Group documents carry no `members`, so a member condition left in the residual
/// (one beyond `value eq`) matches nothing there.
pub fn plan(filter: &Filter, kind: ResourceKind) -> Plan {
    let rt = kind.def();
    let mut lookups = Vec::new();
    let mut residual: Option<Filter> = None;
    for clause in conjuncts(filter) {
        let exact = match index_key(clause, kind, rt) {
            Some((key, exact)) => {
                lookups.push(key);
                exact
            }
            None => false,
        };
        if !exact {
            residual = Some(match residual {
                None => clause.clone(),
                Some(r) => Filter::And(Box::new(r), Box::new(clause.clone())),
            });
        }
    }
    Plan { lookups, residual }
}

/// The operands of a (nested) `and` chain, left to right.
fn conjuncts(filter: &Filter) -> Vec<&Filter> {
    let mut out = Vec::new();
    let mut stack = vec![filter];
    while let Some(f) = stack.pop() {
        match f {
            Filter::And(l, r) => {
                stack.push(r);
                stack.push(l);
            }
            f => out.push(f),
        }
    }
    out
}

/// The index key a clause gives, and whether the lookup alone answers it.
fn index_key(
    clause: &Filter,
    kind: ResourceKind,
    rt: &'static ResourceTypeDef,
) -> Option<(IndexKey, bool)> {
    match clause {
        Filter::Compare {
            path,
            op: CompareOp::Eq,
            value: CompValue::String(s),
        } => {
            let rp = path.resolve(rt).ok()??;
            if rp.extension.is_some() {
                return None;
            }
            let s = s.clone();
            let key = match (kind, rp.attr.name, rp.sub.map(|d| d.name)) {
                (_, "id", None) => IndexKey::Id(s),
                (_, "externalId", None) => IndexKey::ExternalId(s),
                (ResourceKind::User, "userName", None) => IndexKey::UserName(s),
                (ResourceKind::User, "emails", None | Some("value")) => IndexKey::EmailValue(s),
                (ResourceKind::Group, "displayName", None) => IndexKey::DisplayName(s),
                (ResourceKind::Group, "members", None | Some("value")) => IndexKey::MemberValue(s),
                _ => return None,
            };
            Some((key, true))
        }
        Filter::ValuePath { path, filter } => {
            let rp = path.resolve(rt).ok()??;
            if rp.extension.is_some() || rp.sub.is_some() {
                return None;
            }
            let make: fn(String) -> IndexKey = match (kind, rp.attr.name) {
                (ResourceKind::User, "emails") => IndexKey::EmailValue,
                (ResourceKind::Group, "members") => IndexKey::MemberValue,
                _ => return None,
            };
            let inner = conjuncts(filter);
            inner.iter().find_map(|c| match c {
                Filter::Compare {
                    path,
                    op: CompareOp::Eq,
                    value: CompValue::String(s),
                } if path.urn.is_none()
                    && path.sub.is_none()
                    && path.name.eq_ignore_ascii_case("value") =>
                {
                    Some((make(s.clone()), inner.len() == 1))
                }
                _ => None,
            })
        }
        _ => None,
    }
}
