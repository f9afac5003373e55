//! The tenant's catalog of entitlements and roles (Okta Identity Governance): what a
//! product defines, checked here once; how `/Entitlements` and `/Roles` answer (filter,
//! `startIndex`/`count` paging, projection); and the check of a user's assignments against
//! it.
//!
//! Okta's *Build a SCIM 2.0 server with entitlements* describes the shapes: a catalog value
//! has an `id`, a `displayName`, optionally a `type` and a description; a user carries the
//! ids it is assigned as `entitlements[].value` / `roles[].value`.
//!
//! **Bounds.** At most [`MAX_CATALOG_ENTRIES`] values per kind; an id is 1 to
//! [`MAX_CATALOG_ID_BYTES`] bytes of printable characters without `/` (it is a path segment
//! of `/Entitlements/{id}`); `displayName`, `type` and `description` at most
//! [`MAX_CATALOG_TEXT_BYTES`] bytes. A whole kind is read with one paged `Query` of a few
//! hundred kilobytes at most.

use crate::error::{ScimError, ScimResult};
use crate::filter::{self, Filter};
use crate::list::{Page, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE};
use crate::projection::Projection;
use crate::resource::Doc;
use crate::schema::CatalogKind;
use serde_json::{json, Map, Value};
use std::collections::{BTreeSet, HashSet};

/// The most values one kind of the catalog holds.
pub const MAX_CATALOG_ENTRIES: usize = 1000;
/// The longest catalog id.
pub const MAX_CATALOG_ID_BYTES: usize = 256;
/// The longest `displayName`, `type` or `description`.
pub const MAX_CATALOG_TEXT_BYTES: usize = 1024;

/// One value of the catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogEntry {
    pub id: String,
    pub display_name: String,
    pub kind_type: Option<String>,
    pub description: Option<String>,
}

impl CatalogEntry {
    /// The entry as the product sends and reads it:
    /// `{"id", "displayName", "type"?, "description"?}`.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("id".into(), json!(self.id));
        m.insert("displayName".into(), json!(self.display_name));
        if let Some(t) = &self.kind_type {
            m.insert("type".into(), json!(t));
        }
        if let Some(d) = &self.description {
            m.insert("description".into(), json!(d));
        }
        Value::Object(m)
    }

    /// The canonical document filters and projection see (the `id` included).
    fn doc(&self) -> Doc {
        match self.to_json() {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    /// The SCIM representation (`schemas`, `id`, attributes, `meta`).
    pub fn render(&self, kind: CatalogKind, base_url: &str) -> Doc {
        let base = base_url.trim_end_matches('/');
        let rt = kind.def();
        let mut out = Map::new();
        out.insert("schemas".into(), json!([rt.schema.id]));
        for (k, v) in self.doc() {
            out.insert(k, v);
        }
        out.insert(
            "meta".into(),
            json!({
                "resourceType": rt.name,
                "location": format!("{base}{}/{}", rt.endpoint, percent_encode(&self.id)),
            }),
        );
        out
    }
}

/// Path-segment encoding of an id for `meta.location` (everything but unreserved bytes).
fn percent_encode(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Whether `id` could name a catalog value (a path id longer than any is simply unknown).
pub fn is_possible_id(id: &str) -> bool {
    valid_id(id)
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_CATALOG_ID_BYTES
        && id.chars().all(|c| !c.is_control() && c != '/')
        && id.trim() == id
}

/// Parses and checks a whole kind of the catalog as the product sends it: a JSON array of
/// `{"id", "displayName", "type"?, "description"?}`. Every mistake is named (`invalidValue`),
/// with the entry's position; ids are unique (compared exactly).
pub fn parse_entries(kind: CatalogKind, value: &Value) -> ScimResult<Vec<CatalogEntry>> {
    let Some(items) = value.as_array() else {
        return Err(ScimError::invalid_value(format!(
            "The {} must be a JSON array of objects.",
            kind.plural()
        )));
    };
    if items.len() > MAX_CATALOG_ENTRIES {
        return Err(ScimError::invalid_value(format!(
            "At most {MAX_CATALOG_ENTRIES} {} may be defined; {} were sent.",
            kind.plural(),
            items.len()
        )));
    }
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let at = |what: &str| ScimError::invalid_value(format!("{}[{i}]: {what}", kind.plural()));
        let Some(obj) = item.as_object() else {
            return Err(at("must be an object"));
        };
        if let Some(k) = obj
            .keys()
            .find(|k| !["id", "displayName", "type", "description"].contains(&k.as_str()))
        {
            return Err(at(&format!(
                "'{}' is not an attribute of a catalog value (id, displayName, type, description)",
                crate::path::truncate(k, 64)
            )));
        }
        let text = |name: &str, required: bool| -> ScimResult<Option<String>> {
            match obj.get(name) {
                None | Some(Value::Null) if !required => Ok(None),
                Some(Value::String(s)) if !s.trim().is_empty() => {
                    if s.len() > MAX_CATALOG_TEXT_BYTES {
                        Err(at(&format!(
                            "'{name}' is longer than {MAX_CATALOG_TEXT_BYTES} bytes"
                        )))
                    } else {
                        Ok(Some(s.clone()))
                    }
                }
                _ => Err(at(&format!("'{name}' must be a non-empty string"))),
            }
        };
        let id = match obj.get("id") {
            Some(Value::String(s)) if valid_id(s) => s.clone(),
            _ => {
                return Err(at(&format!(
                    "'id' must be 1 to {MAX_CATALOG_ID_BYTES} bytes without '/', control characters or surrounding spaces"
                )))
            }
        };
        if !seen.insert(id.clone()) {
            return Err(at(&format!(
                "the id '{}' is given twice",
                crate::path::truncate(&id, 64)
            )));
        }
        let display_name = text("displayName", true)?.unwrap_or_default();
        out.push(CatalogEntry {
            id,
            display_name,
            kind_type: text("type", false)?,
            description: text("description", false)?,
        });
    }
    Ok(out)
}

/// A list request on `/Entitlements` or `/Roles`: `filter`, `startIndex`, `count`,
/// `attributes`, `excludedAttributes`. Values are answered in id order; `sortBy` is not
/// taken here (`400 invalidValue`), nor cursor paging (the catalog is small and read whole).
#[derive(Debug, Clone)]
pub struct CatalogQuery {
    pub filter: Option<Filter>,
    pub start_index: u64,
    pub count: u64,
    pub projection: Projection,
}

impl CatalogQuery {
    pub fn from_params<'a>(
        kind: CatalogKind,
        params: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> ScimResult<CatalogQuery> {
        let mut filter = None;
        let mut start_index = 1u64;
        let mut count = DEFAULT_PAGE_SIZE;
        let (mut attributes, mut excluded) = (None, None);
        for (k, v) in params {
            match k.to_ascii_lowercase().as_str() {
                "filter" if !v.trim().is_empty() => {
                    let f = filter::parse(v)?;
                    filter::compile(&f, kind.def())?;
                    filter = Some(f);
                }
                "startindex" => start_index = int(v, "startIndex")?.max(1) as u64,
                "count" => count = int(v, "count")?.clamp(0, MAX_PAGE_SIZE as i64) as u64,
                "attributes" => attributes = Some(v),
                "excludedattributes" => excluded = Some(v),
                "sortby" | "cursor" if !v.is_empty() => {
                    return Err(ScimError::invalid_value(format!(
                        "'{k}' is not supported on {}; its values are listed in id order with startIndex paging.",
                        kind.def().endpoint
                    )))
                }
                _ => {}
            }
        }
        Ok(CatalogQuery {
            filter,
            start_index,
            count,
            projection: Projection::parse(kind, attributes, excluded)?,
        })
    }

    /// One page of `entries` (any order; answered in id order).
    pub fn page(&self, kind: CatalogKind, entries: &[CatalogEntry], base_url: &str) -> Page {
        let compiled = self
            .filter
            .as_ref()
            .and_then(|f| filter::compile(f, kind.def()).ok());
        let mut matching: Vec<&CatalogEntry> = entries
            .iter()
            .filter(|e| compiled.as_ref().is_none_or(|c| c.matches(&e.doc())))
            .collect();
        matching.sort_by(|a, b| a.id.cmp(&b.id));
        let total = matching.len() as u64;
        let resources = matching
            .into_iter()
            .skip((self.start_index - 1) as usize)
            .take(self.count as usize)
            .map(|e| {
                let mut doc = e.render(kind, base_url);
                self.projection.apply(kind, &mut doc);
                doc
            })
            .collect();
        Page {
            resources,
            total_results: total,
            start_index: Some(self.start_index),
            next_cursor: None,
            previous_cursor: None,
        }
    }
}

fn int(text: &str, name: &str) -> ScimResult<i64> {
    let t = text.trim();
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(t.parse::<i64>().unwrap_or(i64::MAX));
    }
    t.parse::<i64>().map_err(|_| {
        ScimError::invalid_value(format!(
            "'{name}' must be an integer, not '{}'.",
            crate::path::truncate(text, 32)
        ))
    })
}

/// The values of a user's `entitlements` or `roles` (`value` of each element; elements
/// without one are ignored).
pub fn assigned(doc: &Doc, kind: CatalogKind) -> BTreeSet<String> {
    doc.get(kind.user_attribute())
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|i| i.get("value").and_then(Value::as_str))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// Checks a user's new assignments of `kind` against the tenant's catalog of that kind.
/// With no catalog defined (Microsoft Entra's app roles, a product that keeps no catalog)
/// any value is kept. With one, a value the user did not already hold must be one of its
/// ids, else `400 invalidValue` naming it: Okta only sends catalog ids, and a value the
/// product does not know would grant nothing it could check. Values the user already had
/// stay even if the catalog dropped them since (a PATCH of another attribute must not fail
/// on them).
pub fn check_assignments(
    kind: CatalogKind,
    before: Option<&Doc>,
    after: &Doc,
    catalog: &[CatalogEntry],
) -> ScimResult<()> {
    if catalog.is_empty() {
        return Ok(());
    }
    let had = before.map(|b| assigned(b, kind)).unwrap_or_default();
    let known: HashSet<&str> = catalog.iter().map(|e| e.id.as_str()).collect();
    if let Some(unknown) = assigned(after, kind)
        .iter()
        .find(|v| !had.contains(*v) && !known.contains(v.as_str()))
    {
        return Err(ScimError::invalid_value(format!(
            "'{}' is not one of this tenant's {} (see {}).",
            crate::path::truncate(unknown, 64),
            kind.plural(),
            kind.def().endpoint
        )));
    }
    Ok(())
}

/// Whether a write changes the user's assignments of `kind` (only then is the catalog read).
pub fn assignments_changed(kind: CatalogKind, before: Option<&Doc>, after: &Doc) -> bool {
    let now = assigned(after, kind);
    match before {
        None => !now.is_empty(),
        Some(b) => !assigned(b, kind).is_superset(&now),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn catalog() -> Vec<CatalogEntry> {
        parse_entries(
            CatalogKind::Entitlement,
            &json!([
                {"id": "lic-pro", "displayName": "Pro licence", "type": "License"},
                {"id": "lic-basic", "displayName": "Basic licence", "type": "License"},
                {"id": "profile-1", "displayName": "Profile 1", "type": "Profile", "description": "d"}
            ]),
        )
        .unwrap()
    }

    fn query(params: &[(&str, &str)]) -> ScimResult<CatalogQuery> {
        CatalogQuery::from_params(CatalogKind::Entitlement, params.iter().copied())
    }

    #[test]
    fn entries_are_checked_and_named_by_position() {
        let bad = |v: Value| {
            parse_entries(CatalogKind::Role, &v)
                .unwrap_err()
                .detail
                .to_string()
        };
        assert!(bad(json!({})).contains("array"));
        assert!(bad(json!([{"id": "a"}])).contains("roles[0]: 'displayName'"));
        assert!(bad(json!([{"id": "a/b", "displayName": "x"}])).contains("'id'"));
        assert!(
            bad(json!([{"id": "a", "displayName": "x"}, {"id": "a", "displayName": "y"}]))
                .contains("roles[1]: the id 'a' is given twice")
        );
        assert!(bad(json!([{"id": "a", "displayName": "x", "admin": true}])).contains("'admin'"));
        let many: Vec<Value> = (0..=MAX_CATALOG_ENTRIES)
            .map(|i| json!({"id": i.to_string(), "displayName": "x"}))
            .collect();
        assert!(bad(Value::Array(many)).contains("At most 1000"));
    }

    #[test]
    fn a_list_filters_pages_in_id_order_and_projects() {
        let all = catalog();
        let page = query(&[("filter", "type eq \"License\"")]).unwrap().page(
            CatalogKind::Entitlement,
            &all,
            "https://x/scim/v2",
        );
        assert_eq!(page.total_results, 2);
        let ids: Vec<&str> = page
            .resources
            .iter()
            .filter_map(|r| r["id"].as_str())
            .collect();
        assert_eq!(ids, ["lic-basic", "lic-pro"]);
        assert_eq!(
            page.resources[0]["schemas"],
            json!(["urn:okta:scim:schemas:core:1.0:Entitlement"])
        );
        assert_eq!(
            page.resources[0]["meta"]["location"],
            "https://x/scim/v2/Entitlements/lic-basic"
        );
        let page = query(&[("count", "1"), ("startIndex", "2")]).unwrap().page(
            CatalogKind::Entitlement,
            &all,
            "https://x",
        );
        assert_eq!((page.total_results, page.resources.len()), (3, 1));
        assert_eq!(page.resources[0]["id"], "lic-pro");
        let page = query(&[
            ("filter", "displayName eq \"profile 1\""),
            ("attributes", "displayName"),
        ])
        .unwrap()
        .page(CatalogKind::Entitlement, &all, "https://x");
        assert_eq!(page.resources.len(), 1);
        assert!(page.resources[0].get("type").is_none());
        assert_eq!(page.resources[0]["id"], "profile-1");
        let page = query(&[("filter", "id eq \"lic-pro\"")]).unwrap().page(
            CatalogKind::Entitlement,
            &all,
            "https://x",
        );
        assert_eq!(page.total_results, 1);
        assert_eq!(query(&[("sortBy", "id")]).unwrap_err().status, 400);
        assert_eq!(
            query(&[("filter", "displayName eq")]).unwrap_err().status,
            400
        );
    }

    #[test]
    fn assignments_outside_a_defined_catalog_are_refused_and_none_without_one() {
        let all = catalog();
        let user = |values: &[&str]| -> Doc {
            let items: Vec<Value> = values.iter().map(|v| json!({"value": v})).collect();
            json!({"userName": "a", "entitlements": items})
                .as_object()
                .cloned()
                .unwrap()
        };
        let k = CatalogKind::Entitlement;
        assert!(check_assignments(k, None, &user(&["lic-pro"]), &all).is_ok());
        let e = check_assignments(k, None, &user(&["lic-pro", "nope"]), &all).unwrap_err();
        assert_eq!(e.status, 400);
        assert!(e.detail.contains("'nope'"), "{}", e.detail);
        assert!(check_assignments(k, None, &user(&["nope"]), &[]).is_ok());
        // A value the user already held stays, even after the catalog dropped it.
        let before = user(&["gone"]);
        assert!(check_assignments(k, Some(&before), &user(&["gone", "lic-pro"]), &all).is_ok());
        assert!(!assignments_changed(k, Some(&before), &user(&[])));
        assert!(assignments_changed(k, Some(&before), &user(&["lic-pro"])));
    }
}
