//! Turning a client's JSON into a canonical resource document, and back into a response.
//!
//! The canonical document is a JSON object whose keys are the registry's canonical names;
//! extension attributes live under their schema URN. It never holds `id`, `meta`,
//! `schemas` or read-only attributes: those are the store's and the renderer's business.
//!
//! Input rules (RFC 7643 §2.1, and what Entra ID and Okta really send):
//! - attribute names are case-insensitive; output uses canonical casing;
//! - schema-qualified keys (`urn:...:enterprise:2.0:User:department`, Entra's
//!   `urn:...:User.manager`) and dotted keys (`name.givenName`) land where they belong;
//! - read-only attributes (`id`, `meta`, `groups`) and unknown attributes are ignored;
//! - `"True"`/`"False"` are booleans where a boolean is expected; `null` means unassigned;
//! - a bare string for a complex attribute with a `value` (Entra's `manager`) is its value.

use crate::error::{ScimError, ScimResult};
use crate::path::{truncate, AttrPath, ResolvedPath};
use crate::schema::{
    AttrDef, AttrType, Mutability, ResourceKind, ResourceTypeDef, CONTACT_USER_URN,
    ENTERPRISE_USER_URN, GROUP_SCHEMA_URN, USER_SCHEMA_URN,
};
use serde_json::{Map, Value};
use std::collections::BTreeSet;
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

pub type Doc = Map<String, Value>;

/// Every schema URN the service knows, for splitting qualified attribute names.
pub const KNOWN_URNS: &[&str] = &[
    USER_SCHEMA_URN,
    GROUP_SCHEMA_URN,
    ENTERPRISE_USER_URN,
    CONTACT_USER_URN,
];

/// Limits on a single resource, enforced on input (the rest are in [`crate::limits`]).
pub const MAX_MULTI_VALUES: usize = 100;
pub use crate::limits::MAX_STRING_BYTES as MAX_STRING_LEN;

/// Normalises a request body (POST or PUT) into a canonical document and checks required
/// attributes. `members` of a Group stay in the document; the service splits them off.
pub fn normalize_resource(kind: ResourceKind, body: &Value) -> ScimResult<Doc> {
    let Some(obj) = body.as_object() else {
        return Err(ScimError::invalid_syntax(
            "The request body must be a JSON object.",
        ));
    };
    let rt = kind.def();
    let mut doc = Doc::new();
    for (key, value) in obj {
        if key.eq_ignore_ascii_case("schemas") {
            continue;
        }
        if let Some(ext) = rt.extension(key) {
            let Some(ext_obj) = value.as_object() else {
                if value.is_null() {
                    continue;
                }
                return Err(ScimError::invalid_value(format!(
                    "'{}' must be an object.",
                    ext.id
                )));
            };
            for (k, v) in ext_obj {
                let path = AttrPath::parse(k, KNOWN_URNS).ok();
                let resolved = path
                    .map(|p| AttrPath {
                        urn: Some(ext.id.to_string()),
                        ..p
                    })
                    .map(|p| p.resolve(rt))
                    .transpose()?
                    .flatten();
                if let Some(rp) = resolved {
                    set_input(&mut doc, &rp, v)?;
                }
            }
            continue;
        }
        let Ok(path) = AttrPath::parse(key, KNOWN_URNS) else {
            continue;
        };
        if let Some(rp) = path.resolve(rt)? {
            set_input(&mut doc, &rp, value)?;
        }
    }
    check_required(kind, &doc)?;
    crate::limits::check_document(kind, None, &doc)?;
    Ok(doc)
}

/// Sets one client-supplied attribute (or sub-attribute) into `doc`, coerced and checked.
fn set_input(doc: &mut Doc, rp: &ResolvedPath, value: &Value) -> ScimResult<()> {
    if rp.attr.mutability == Mutability::ReadOnly
        || rp.sub.is_some_and(|s| s.mutability == Mutability::ReadOnly)
    {
        return Ok(());
    }
    match rp.sub {
        None => {
            let coerced = coerce(rp.attr, value, rp.attr.name)?;
            let container = container_mut(doc, rp);
            match coerced {
                Some(v) => {
                    container.insert(rp.attr.name.to_string(), v);
                }
                None => {
                    container.remove(rp.attr.name);
                }
            }
        }
        Some(sub) => {
            if rp.attr.multi_valued {
                // `emails.value` as a key has no single target; ignore it as unknown.
                return Ok(());
            }
            let coerced = coerce(sub, value, sub.name)?;
            let container = container_mut(doc, rp);
            let parent = container
                .entry(rp.attr.name.to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            if !parent.is_object() {
                *parent = Value::Object(Map::new());
            }
            if let Some(p) = parent.as_object_mut() {
                match coerced {
                    Some(v) => {
                        p.insert(sub.name.to_string(), v);
                    }
                    None => {
                        p.remove(sub.name);
                    }
                }
                if p.is_empty() {
                    container.remove(rp.attr.name);
                }
            }
        }
    }
    prune_extension(doc, rp);
    Ok(())
}

/// The object holding `rp.attr`: the document itself or the extension's object, which is
/// created (or replaced, if it was not an object) on the way.
pub fn container_mut<'a>(doc: &'a mut Doc, rp: &ResolvedPath) -> &'a mut Doc {
    let Some(ext) = rp.extension else {
        return doc;
    };
    let entry = doc
        .entry(ext.id.to_string())
        .or_insert_with(|| Value::Object(Map::new()));
    if !entry.is_object() {
        *entry = Value::Object(Map::new());
    }
    match entry {
        Value::Object(m) => m,
        _ => unreachable!("the extension entry was made an object just above"),
    }
}

/// Removes an extension object that became empty.
pub fn prune_extension(doc: &mut Doc, rp: &ResolvedPath) {
    if let Some(ext) = rp.extension {
        if doc
            .get(ext.id)
            .and_then(Value::as_object)
            .is_some_and(Map::is_empty)
        {
            doc.remove(ext.id);
        }
    }
}

/// Coerces a client value to `def`'s type. `Ok(None)` means unassigned.
pub fn coerce(def: &AttrDef, value: &Value, label: &str) -> ScimResult<Option<Value>> {
    if value.is_null() {
        return Ok(None);
    }
    if def.multi_valued {
        let items: Vec<&Value> = match value {
            Value::Array(a) => a.iter().collect(),
            other => vec![other],
        };
        if items.len() > MAX_MULTI_VALUES {
            return Err(ScimError::too_many(format!(
                "'{label}' has more than {MAX_MULTI_VALUES} values."
            )));
        }
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            if let Some(v) = coerce_single(def, item, label)? {
                out.push(v);
            }
        }
        if def.is_complex() {
            keep_one_primary(&mut out);
        }
        return Ok(if out.is_empty() {
            None
        } else {
            Some(Value::Array(out))
        });
    }
    if let Value::Array(a) = value {
        // A one-element array for a single-valued attribute is a common client slip.
        return match a.as_slice() {
            [] => Ok(None),
            [one] => coerce_single(def, one, label),
            _ => Err(ScimError::invalid_value(format!(
                "'{label}' is single-valued but an array was given."
            ))),
        };
    }
    coerce_single(def, value, label)
}

/// Coerces one value (an element of a multi-valued attribute, or a single value).
pub fn coerce_single(def: &AttrDef, value: &Value, label: &str) -> ScimResult<Option<Value>> {
    if value.is_null() {
        return Ok(None);
    }
    let wrong =
        || ScimError::invalid_value(format!("'{label}' must be of type {}.", def.ty.as_str()));
    match def.ty {
        AttrType::Complex => match value {
            Value::Object(obj) => {
                let mut out = Map::new();
                for (k, v) in obj {
                    let Some(sub) = def.sub(k) else { continue };
                    if sub.mutability == Mutability::ReadOnly {
                        continue;
                    }
                    if let Some(c) = coerce(sub, v, sub.name)? {
                        out.insert(sub.name.to_string(), c);
                    }
                }
                Ok(if out.is_empty() {
                    None
                } else {
                    Some(Value::Object(out))
                })
            }
            Value::String(s) if def.sub("value").is_some() => {
                // Entra sends `manager` as a bare id; "" clears it.
                if s.is_empty() {
                    Ok(None)
                } else {
                    let mut out = Map::new();
                    out.insert("value".into(), Value::String(check_len(s, label)?));
                    Ok(Some(Value::Object(out)))
                }
            }
            _ => Err(wrong()),
        },
        AttrType::Boolean => match value {
            Value::Bool(b) => Ok(Some(Value::Bool(*b))),
            Value::String(s) if s.trim().eq_ignore_ascii_case("true") => Ok(Some(Value::Bool(true))),
            Value::String(s) if s.trim().eq_ignore_ascii_case("false") => {
                Ok(Some(Value::Bool(false)))
            }
            _ => Err(wrong()),
        },
        AttrType::Integer => match value {
            Value::Number(n) if n.is_i64() || n.is_u64() => Ok(Some(value.clone())),
            Value::String(s) => s
                .trim()
                .parse::<i64>()
                .map(|i| Some(Value::from(i)))
                .map_err(|_| wrong()),
            _ => Err(wrong()),
        },
        AttrType::Decimal => match value {
            Value::Number(_) => Ok(Some(value.clone())),
            Value::String(s) => s
                .trim()
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map(|n| Some(Value::Number(n)))
                .ok_or_else(wrong),
            _ => Err(wrong()),
        },
        AttrType::DateTime => match value {
            Value::String(s) if s.is_empty() => Ok(None),
            Value::String(s) => parse_datetime(s)
                .map(|t| Some(Value::String(format_datetime(t))))
                .ok_or_else(|| {
                    ScimError::invalid_value(format!(
                        "'{label}' must be an RFC 3339 dateTime such as 2025-12-31T00:00:00Z, not '{}'.",
                        truncate(s, 64)
                    ))
                }),
            _ => Err(wrong()),
        },
        AttrType::String | AttrType::Reference | AttrType::Binary => match value {
            Value::String(s) => Ok(Some(Value::String(check_len(s, label)?))),
            Value::Number(n) if def.ty == AttrType::String => Ok(Some(Value::String(n.to_string()))),
            Value::Bool(b) if def.ty == AttrType::String => Ok(Some(Value::String(b.to_string()))),
            _ => Err(wrong()),
        },
    }
}

fn check_len(s: &str, label: &str) -> ScimResult<String> {
    crate::limits::check_string(s, label)?;
    Ok(s.to_string())
}

/// At most one value of a multi-valued attribute may be primary (RFC 7643 §2.4): the
/// first one marked wins.
pub fn keep_one_primary(values: &mut [Value]) {
    let mut seen = false;
    for v in values.iter_mut() {
        if let Some(obj) = v.as_object_mut() {
            if obj.get("primary") == Some(&Value::Bool(true)) {
                if seen {
                    obj.remove("primary");
                }
                seen = true;
            }
        }
    }
}

/// Checks the schema's required attributes (userName for a User, displayName for a Group).
pub fn check_required(kind: ResourceKind, doc: &Doc) -> ScimResult<()> {
    let rt = kind.def();
    for attr in rt.schema.attributes.iter().filter(|a| a.required) {
        let present = match doc.get(attr.name) {
            Some(Value::String(s)) => !s.trim().is_empty(),
            Some(Value::Null) | None => false,
            Some(_) => true,
        };
        if !present {
            return Err(ScimError::invalid_value(format!(
                "The required attribute '{}' is missing or empty.",
                attr.name
            )));
        }
    }
    Ok(())
}

/// Parses an RFC 3339 dateTime (also a bare `YYYY-MM-DD`, read as midnight UTC).
pub fn parse_datetime(s: &str) -> Option<OffsetDateTime> {
    let s = s.trim();
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        return Some(t);
    }
    if s.len() == 10 {
        let date =
            time::Date::parse(s, time::macros::format_description!("[year]-[month]-[day]")).ok()?;
        return Some(date.midnight().assume_utc());
    }
    None
}

/// Formats a time as RFC 3339 in UTC (`2025-01-31T09:00:00Z`, fractions kept when present),
/// so stored dateTimes sort and compare as strings.
pub fn format_datetime(t: OffsetDateTime) -> String {
    let t = t.to_offset(UtcOffset::UTC);
    t.format(&Rfc3339).unwrap_or_else(|_| {
        // Years outside 0..=9999 cannot be RFC 3339; clamp rather than fail.
        "9999-12-31T23:59:59Z".to_string()
    })
}

/// The server-managed facts about a stored resource that `meta` shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meta {
    pub created: String,
    pub last_modified: String,
    pub version: u64,
}

impl Meta {
    /// The weak entity tag of a version (`W/"3"`), used for `meta.version` and `ETag`.
    pub fn etag(&self) -> String {
        etag(self.version)
    }
}

pub fn etag(version: u64) -> String {
    format!("W/\"{version}\"")
}

/// Parses an `If-Match`/`ETag` value into a version; `*` gives `None`.
pub fn parse_etag(text: &str) -> ScimResult<Option<u64>> {
    let t = text.trim();
    if t == "*" {
        return Ok(None);
    }
    let t = t.strip_prefix("W/").unwrap_or(t);
    let t = t.trim_matches('"');
    t.parse::<u64>().map(Some).map_err(|_| {
        ScimError::precondition_failed(format!(
            "The entity tag '{}' does not match the resource's version.",
            truncate(text, 64)
        ))
    })
}

/// Builds the full representation of a resource: `schemas`, `id`, the document, `meta`.
pub fn render(kind: ResourceKind, id: &str, doc: &Doc, meta: &Meta, base_url: &str) -> Doc {
    let rt: &ResourceTypeDef = kind.def();
    let mut out = Doc::new();
    let mut schemas = vec![Value::String(rt.schema.id.to_string())];
    for (ext, _) in rt.extensions {
        if doc.contains_key(ext.id) {
            schemas.push(Value::String(ext.id.to_string()));
        }
    }
    out.insert("schemas".into(), Value::Array(schemas));
    out.insert("id".into(), Value::String(id.to_string()));
    for (k, v) in doc {
        out.insert(k.clone(), v.clone());
    }
    let mut m = Map::new();
    m.insert("resourceType".into(), Value::String(rt.name.to_string()));
    m.insert("created".into(), Value::String(meta.created.clone()));
    m.insert(
        "lastModified".into(),
        Value::String(meta.last_modified.clone()),
    );
    m.insert(
        "location".into(),
        Value::String(format!(
            "{}{}/{}",
            base_url.trim_end_matches('/'),
            rt.endpoint,
            id
        )),
    );
    m.insert("version".into(), Value::String(meta.etag()));
    out.insert("meta".into(), Value::Object(m));
    out
}

/// A string attribute of the document (e.g. `userName`, `externalId`).
pub fn str_attr<'a>(doc: &'a Doc, name: &str) -> Option<&'a str> {
    doc.get(name).and_then(Value::as_str)
}

/// The `value` of every email, for the email index.
pub fn email_values(doc: &Doc) -> Vec<&str> {
    doc.get("emails")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|e| e.get("value").and_then(Value::as_str))
                .collect()
        })
        .unwrap_or_default()
}

/// The primary email (or the first one when none is marked primary).
pub fn primary_email(doc: &Doc) -> Option<&str> {
    let emails = doc.get("emails").and_then(Value::as_array)?;
    emails
        .iter()
        .find(|e| e.get("primary") == Some(&Value::Bool(true)))
        .or_else(|| emails.first())
        .and_then(|e| e.get("value"))
        .and_then(Value::as_str)
}

/// `active` as the document says it (a user without `active` is active).
pub fn is_active(doc: &Doc) -> bool {
    doc.get("active").and_then(Value::as_bool).unwrap_or(true)
}

/// The contact extension's `endDate`, if set.
pub fn end_date(doc: &Doc) -> Option<&str> {
    doc.get(CONTACT_USER_URN)
        .and_then(|c| c.get("endDate"))
        .and_then(Value::as_str)
}

/// True when the contact's end date is at or before `now`.
pub fn end_date_passed(doc: &Doc, now: OffsetDateTime) -> bool {
    end_date(doc)
        .and_then(parse_datetime)
        .is_some_and(|end| end <= now)
}

/// The document as reads must see it at `now`: a contact whose end date has passed is
/// inactive even before the expiry job has swept it. Returns true when it changed.
pub fn apply_end_date(doc: &mut Doc, now: OffsetDateTime) -> bool {
    if end_date_passed(doc, now) && is_active(doc) {
        doc.insert("active".into(), Value::Bool(false));
        return true;
    }
    false
}

/// The path of an attribute as change sets name it: `name` for the core schema,
/// `urn:...:enterprise:2.0:User:department` for an extension attribute.
pub fn change_path(extension: Option<&str>, name: &str) -> String {
    match extension {
        None => name.to_string(),
        Some(urn) => format!("{urn}:{name}"),
    }
}

/// The attributes whose value differs between two canonical documents of `kind`, named
/// by [`change_path`]: top-level attributes of the core schema, and each attribute of an
/// extension on its own (a department change is `...:User:department`, not the whole
/// extension). What audit records and change events carry for every write.
pub fn changed_paths(kind: ResourceKind, before: &Doc, after: &Doc) -> BTreeSet<String> {
    let empty = Doc::new();
    let mut out = BTreeSet::new();
    for key in before.keys().chain(after.keys()) {
        let (b, a) = (before.get(key), after.get(key));
        if b == a {
            continue;
        }
        match kind.def().extension(key) {
            Some(ext) => {
                let b = b.and_then(Value::as_object).unwrap_or(&empty);
                let a = a.and_then(Value::as_object).unwrap_or(&empty);
                for name in b.keys().chain(a.keys()) {
                    if b.get(name) != a.get(name) {
                        out.insert(change_path(Some(ext.id), name));
                    }
                }
            }
            None => {
                out.insert(change_path(None, key));
            }
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn change_sets_name_extension_attributes_one_by_one() {
        let before = user(json!({"userName": "ann", ENTERPRISE_USER_URN: {"department": "A", "employeeNumber": "7"}})).unwrap();
        let after = user(json!({"userName": "ann", ENTERPRISE_USER_URN: {"department": "B", "employeeNumber": "7"}, "title": "Dr"})).unwrap();
        let changed = changed_paths(ResourceKind::User, &before, &after);
        assert_eq!(
            changed.into_iter().collect::<Vec<_>>(),
            vec![
                "title".to_string(),
                format!("{ENTERPRISE_USER_URN}:department")
            ]
        );
        let created = changed_paths(ResourceKind::User, &Doc::new(), &after);
        assert!(created.contains(&format!("{ENTERPRISE_USER_URN}:employeeNumber")));
        assert!(created.contains("userName"));
        assert!(changed_paths(ResourceKind::User, &after, &after).is_empty());
    }

    fn user(body: Value) -> ScimResult<Doc> {
        normalize_resource(ResourceKind::User, &body)
    }

    #[test]
    fn attribute_names_are_case_insensitive_and_output_is_canonical() {
        let doc =
            user(json!({"USERNAME": "ann", "Name": {"GivenName": "Ann"}, "ACTIVE": true})).unwrap();
        assert_eq!(
            Value::Object(doc),
            json!({"userName": "ann", "name": {"givenName": "Ann"}, "active": true})
        );
    }

    #[test]
    fn read_only_and_unknown_attributes_are_ignored() {
        let doc = user(json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/User"],
            "id": "x", "meta": {"created": "2020-01-01T00:00:00Z"}, "groups": [{"value": "g"}],
            "userName": "ann", "favouriteColour": "blue"
        }))
        .unwrap();
        assert_eq!(Value::Object(doc), json!({"userName": "ann"}));
    }

    #[test]
    fn string_booleans_are_accepted() {
        let doc = user(json!({"userName": "a", "active": "False"})).unwrap();
        assert_eq!(doc["active"], json!(false));
        let doc = user(json!({"userName": "a", "active": "TRUE"})).unwrap();
        assert_eq!(doc["active"], json!(true));
        assert!(user(json!({"userName": "a", "active": "maybe"})).is_err());
    }

    #[test]
    fn null_means_unassigned() {
        let doc = user(json!({"userName": "a", "displayName": null, "emails": []})).unwrap();
        assert_eq!(Value::Object(doc), json!({"userName": "a"}));
    }

    #[test]
    fn missing_user_name_is_invalid_value() {
        let err = user(json!({"displayName": "x"})).unwrap_err();
        assert_eq!(
            (err.status, err.scim_type.map(|t| t.as_str())),
            (400, Some("invalidValue"))
        );
        assert!(user(json!({"userName": "  "})).is_err());
        let err = normalize_resource(ResourceKind::Group, &json!({"members": []})).unwrap_err();
        assert!(err.detail.contains("displayName"));
    }

    #[test]
    fn extension_attributes_land_under_their_urn_in_every_spelling() {
        let doc = user(json!({
            "userName": "a",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"Department": "Sales", "manager": "boss-id"},
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:costCenter": "42",
            "urn:ietf:params:scim:schemas:extension:contact:2.0:User": {"endDate": "2025-12-31"}
        }))
        .unwrap();
        assert_eq!(
            doc[ENTERPRISE_USER_URN],
            json!({"department": "Sales", "manager": {"value": "boss-id"}, "costCenter": "42"})
        );
        assert_eq!(
            doc[CONTACT_USER_URN],
            json!({"endDate": "2025-12-31T00:00:00Z"})
        );
    }

    #[test]
    fn empty_manager_string_clears_it() {
        let doc = user(json!({"userName": "a", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"manager": ""}})).unwrap();
        assert!(doc.get(ENTERPRISE_USER_URN).is_none());
    }

    #[test]
    fn only_the_first_primary_value_stays_primary() {
        let doc = user(json!({"userName": "a", "emails": [
            {"value": "a@x", "primary": true}, {"value": "b@x", "primary": "True"}]}))
        .unwrap();
        assert_eq!(
            doc["emails"],
            json!([{"value": "a@x", "primary": true}, {"value": "b@x"}])
        );
    }

    #[test]
    fn bad_date_time_is_invalid_value() {
        let err = user(json!({"userName": "a", "urn:ietf:params:scim:schemas:extension:contact:2.0:User": {"endDate": "soon"}})).unwrap_err();
        assert_eq!(err.scim_type.map(|t| t.as_str()), Some("invalidValue"));
    }

    #[test]
    fn non_object_body_is_invalid_syntax() {
        let err = user(json!(["userName"])).unwrap_err();
        assert_eq!(err.scim_type.map(|t| t.as_str()), Some("invalidSyntax"));
    }

    #[test]
    fn render_adds_schemas_id_and_meta() {
        let doc = user(json!({"userName": "a", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "X"}})).unwrap();
        let meta = Meta {
            created: "2025-01-01T00:00:00Z".into(),
            last_modified: "2025-01-02T00:00:00Z".into(),
            version: 3,
        };
        let out = render(ResourceKind::User, "u1", &doc, &meta, "https://h/scim/v2/");
        assert_eq!(
            out["schemas"],
            json!([USER_SCHEMA_URN, ENTERPRISE_USER_URN])
        );
        assert_eq!(out["meta"]["location"], "https://h/scim/v2/Users/u1");
        assert_eq!(out["meta"]["version"], "W/\"3\"");
    }

    #[test]
    fn a_passed_end_date_reads_as_inactive() {
        let mut doc = user(json!({"userName": "a", "active": true,
            "urn:ietf:params:scim:schemas:extension:contact:2.0:User": {"endDate": "2025-06-30T12:00:00Z"}})).unwrap();
        let at = |s: &str| parse_datetime(s).unwrap();
        assert!(!apply_end_date(&mut doc, at("2025-06-30T11:59:59Z")));
        assert!(is_active(&doc));
        assert!(apply_end_date(&mut doc, at("2025-06-30T12:00:00Z")));
        assert!(!is_active(&doc));
    }

    #[test]
    fn etags_parse_weak_strong_and_star() {
        assert_eq!(parse_etag("W/\"7\"").unwrap(), Some(7));
        assert_eq!(parse_etag("\"7\"").unwrap(), Some(7));
        assert_eq!(parse_etag("*").unwrap(), None);
        assert_eq!(parse_etag("W/\"abc\"").unwrap_err().status, 412);
    }
}
