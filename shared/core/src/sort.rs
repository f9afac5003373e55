//! Sorting list results (RFC 7644 §3.4.2.3): `sortBy` names an attribute, `sortOrder` is
//! `ascending` (the default) or `descending`.
//!
//! - The value of a multi-valued attribute is its primary value, else its first (so
//!   `emails.value` sorts by the primary email).
//! - Strings compare case-insensitively unless the attribute is `caseExact`; dateTimes as
//!   instants; numbers and booleans by value. `meta.created` and `meta.lastModified` sort
//!   by the resource's own timestamps.
//! - A resource without a value sorts after every resource with one, in either order;
//!   ties keep id order, so pages are stable.
//!
//! Sorting needs every candidate in hand: the store refuses a sort over more than
//! [`MAX_SORTED_ITEMS`] resources with `400 tooMany` rather than read a whole tenant.

use crate::error::{ScimError, ScimResult};
use crate::path::{truncate, AttrPath, ResolvedPath};
use crate::resource::{parse_datetime, Doc, Meta, KNOWN_URNS};
use crate::schema::{AttrType, ResourceKind};
use serde_json::Value;
use std::cmp::Ordering;
use time::OffsetDateTime;

/// The most resources a sorted listing may hold before it is sorted (candidates: the whole
/// collection without a filter, the filter's matches with one).
pub const MAX_SORTED_ITEMS: usize = 10_000;

/// What a sort reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    Created,
    LastModified,
    Attr(ResolvedPath),
}

/// A parsed `sortBy`/`sortOrder`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sort {
    key: Key,
    pub descending: bool,
    /// `sortBy` as written (for cursors and page memos).
    pub by: String,
}

/// One resource's sort value.
#[derive(Debug, Clone, PartialEq)]
enum SortValue {
    Text(String),
    Number(f64),
    Bool(bool),
    Time(OffsetDateTime),
}

impl SortValue {
    fn cmp(&self, other: &SortValue) -> Ordering {
        use SortValue::*;
        match (self, other) {
            (Text(a), Text(b)) => a.cmp(b),
            (Number(a), Number(b)) => a.partial_cmp(b).unwrap_or(Ordering::Equal),
            (Bool(a), Bool(b)) => a.cmp(b),
            (Time(a), Time(b)) => a.cmp(b),
            // One attribute has one type; a value stored otherwise sorts by its kind.
            _ => self.rank().cmp(&other.rank()),
        }
    }

    fn rank(&self) -> u8 {
        match self {
            SortValue::Bool(_) => 0,
            SortValue::Number(_) => 1,
            SortValue::Time(_) => 2,
            SortValue::Text(_) => 3,
        }
    }
}

impl Sort {
    /// Parses `sortBy` (an attribute of `kind`'s schemas, or `meta.created` /
    /// `meta.lastModified`) and `sortOrder`. An unknown attribute, a complex one without a
    /// sub-attribute, or another order is `400 invalidValue`.
    pub fn parse(kind: ResourceKind, sort_by: &str, sort_order: Option<&str>) -> ScimResult<Sort> {
        let by = sort_by.trim();
        let descending = match sort_order.map(str::trim) {
            None | Some("") => false,
            Some(o) if o.eq_ignore_ascii_case("ascending") => false,
            Some(o) if o.eq_ignore_ascii_case("descending") => true,
            Some(o) => {
                return Err(ScimError::invalid_value(format!(
                    "'sortOrder' must be 'ascending' or 'descending', not '{}'.",
                    truncate(o, 40)
                )))
            }
        };
        let unknown = || {
            ScimError::invalid_value(format!(
                "'{}' is not an attribute a {} can be sorted by.",
                truncate(by, 100),
                kind.name()
            ))
        };
        let key = if by.eq_ignore_ascii_case("meta.created") {
            Key::Created
        } else if by.eq_ignore_ascii_case("meta.lastModified") {
            Key::LastModified
        } else {
            let path = AttrPath::parse(by, KNOWN_URNS).map_err(|_| unknown())?;
            let resolved = path.resolve(kind.def())?.ok_or_else(unknown)?;
            let leaf = resolved.leaf();
            if leaf.is_complex() || leaf.ty == AttrType::Binary || resolved.attr.name == "meta" {
                return Err(unknown());
            }
            Key::Attr(resolved)
        };
        Ok(Sort {
            key,
            descending,
            by: by.to_string(),
        })
    }

    /// Sorts `items` (each seen as its id, document and meta) in place.
    pub fn apply<T>(&self, items: &mut [T], view: impl Fn(&T) -> (&str, &Doc, &Meta)) {
        let mut keyed: Vec<(Option<SortValue>, usize)> = items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let (_, doc, meta) = view(item);
                (self.value(doc, meta), i)
            })
            .collect();
        keyed.sort_by(|(a, ia), (b, ib)| {
            let by_value = match (a, b) {
                (Some(a), Some(b)) if self.descending => b.cmp(a),
                (Some(a), Some(b)) => a.cmp(b),
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (None, None) => Ordering::Equal,
            };
            by_value.then_with(|| view(&items[*ia]).0.cmp(view(&items[*ib]).0))
        });
        let order: Vec<usize> = keyed.into_iter().map(|(_, i)| i).collect();
        permute(items, &order);
    }

    fn value(&self, doc: &Doc, meta: &Meta) -> Option<SortValue> {
        let resolved = match self.key {
            Key::Created => return parse_datetime(&meta.created).map(SortValue::Time),
            Key::LastModified => return parse_datetime(&meta.last_modified).map(SortValue::Time),
            Key::Attr(r) => r,
        };
        let container = match resolved.extension {
            Some(ext) => doc.get(ext.id)?.as_object()?,
            None => doc,
        };
        let mut value = container.get(resolved.attr.name)?;
        if resolved.attr.multi_valued {
            let list = value.as_array()?;
            value = list
                .iter()
                .find(|e| e.get("primary").and_then(Value::as_bool) == Some(true))
                .or_else(|| list.first())?;
        }
        if let Some(sub) = resolved.sub {
            value = value.get(sub.name)?;
        }
        let leaf = resolved.leaf();
        match (leaf.ty, value) {
            (AttrType::DateTime, Value::String(s)) => parse_datetime(s).map(SortValue::Time),
            (_, Value::String(s)) if leaf.case_exact => Some(SortValue::Text(s.clone())),
            (_, Value::String(s)) => Some(SortValue::Text(s.to_lowercase())),
            (_, Value::Number(n)) => n.as_f64().map(SortValue::Number),
            (_, Value::Bool(b)) => Some(SortValue::Bool(*b)),
            _ => None,
        }
    }
}

/// Reorders `items` so that position `k` holds what was at `order[k]`.
fn permute<T>(items: &mut [T], order: &[usize]) {
    let mut placed = vec![false; items.len()];
    for start in 0..items.len() {
        if placed[start] {
            continue;
        }
        // Follow the cycle through `start`, swapping each position's item into place.
        let mut at = start;
        loop {
            placed[at] = true;
            let from = order[at];
            if from == start {
                break;
            }
            items.swap(at, from);
            at = from;
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn user(id: &str, doc: Value, created: &str) -> (String, Doc, Meta) {
        (
            id.into(),
            doc.as_object().unwrap().clone(),
            Meta {
                created: created.into(),
                last_modified: created.into(),
                version: 1,
            },
        )
    }

    fn sorted(by: &str, order: Option<&str>, mut items: Vec<(String, Doc, Meta)>) -> Vec<String> {
        let sort = Sort::parse(ResourceKind::User, by, order).unwrap();
        sort.apply(&mut items, |(id, doc, meta)| (id.as_str(), doc, meta));
        items.into_iter().map(|(id, _, _)| id).collect()
    }

    fn people() -> Vec<(String, Doc, Meta)> {
        vec![
            user(
                "a",
                json!({"userName": "carol", "name": {"familyName": "Zed"},
                "emails": [{"value": "z@x"}, {"value": "b@x", "primary": true}]}),
                "2026-01-03T00:00:00Z",
            ),
            user(
                "b",
                json!({"userName": "Alice", "emails": [{"value": "c@x"}]}),
                "2026-01-01T00:00:00Z",
            ),
            user(
                "c",
                json!({"userName": "bob", "name": {"familyName": "Adams"}}),
                "2026-01-02T00:00:00Z",
            ),
            user(
                "d",
                json!({"userName": "alice2", "name": {"familyName": "adams"}}),
                "2025-12-31T23:00:00+00:00",
            ),
        ]
    }

    #[test]
    fn strings_sort_case_insensitively_and_missing_values_go_last_in_either_order() {
        assert_eq!(sorted("userName", None, people()), ["b", "d", "c", "a"]);
        assert_eq!(
            sorted("username", Some("descending"), people()),
            ["a", "c", "d", "b"]
        );
        // Two "adams" tie: id order. No family name: last, ascending or descending.
        assert_eq!(
            sorted("name.familyName", None, people()),
            ["c", "d", "a", "b"]
        );
        assert_eq!(
            sorted("name.familyName", Some("Descending"), people()),
            ["a", "c", "d", "b"]
        );
    }

    #[test]
    fn a_multi_valued_attribute_sorts_by_its_primary_value_else_its_first() {
        assert_eq!(sorted("emails.value", None, people()), ["a", "b", "c", "d"]);
    }

    #[test]
    fn meta_timestamps_sort_as_instants() {
        assert_eq!(sorted("meta.created", None, people()), ["d", "b", "c", "a"]);
        assert_eq!(
            sorted("meta.lastModified", Some("descending"), people()),
            ["a", "c", "b", "d"]
        );
    }

    #[test]
    fn unknown_or_unsortable_attributes_and_orders_are_invalid_values() {
        for (by, order) in [
            ("nope", None),
            ("name", None),
            ("emails", None),
            ("userName", Some("up")),
            ("meta.version", None),
            ("", None),
        ] {
            let e = Sort::parse(ResourceKind::User, by, order).unwrap_err();
            assert_eq!(e.status, 400, "{by}");
        }
        let g = Sort::parse(ResourceKind::Group, "displayName", None).unwrap();
        assert!(!g.descending);
    }

    #[test]
    fn permute_places_each_item() {
        let mut v = vec!['a', 'b', 'c', 'd', 'e'];
        permute(&mut v, &[3, 0, 4, 1, 2]);
        assert_eq!(v, ['d', 'a', 'e', 'b', 'c']);
    }
}
