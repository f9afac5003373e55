//! The bounds on what a client may send, in one place: checked where a request is parsed
//! (path ids in `scim-service::http`, documents here and in PATCH), so no value that a
//! DynamoDB key or item cannot hold ever reaches the store.
//!
//! | what | limit | past it |
//! |---|---|---|
//! | a resource id (path, `members[].value`, an `id`/`members.value` filter lookup) | [`MAX_ID_BYTES`] = 256 bytes | `404` for a path id (no such resource can exist), `400 invalidValue` for a member, `400 invalidFilter` for a lookup |
//! | `userName`, `externalId`, `displayName`, `emails[].value` | [`MAX_KEY_VALUE_BYTES`] = 1,024 bytes, no control characters | `400 invalidValue` naming the attribute |
//! | any other string value | [`MAX_STRING_BYTES`] = 16,384 bytes | `400 invalidValue` |
//! | a resource's canonical document as JSON (without a group's `members`) | [`MAX_DOCUMENT_BYTES`] = 131,072 bytes | `400 invalidValue` |
//!
//! Why these numbers. DynamoDB allows a partition key of 2,048 bytes, a sort key of 1,024
//! bytes and an item of 400 KB. Ids are the store's own (UUIDv7, 36 bytes) and appear whole
//! in keys: as the sort key of the resource item and of a membership, inside
//! `{tenant}#M#{group}`, `{tenant}#MU#{member}`, `{tenant}#A#{id}` and the activity index's
//! `{at}#{id}#{request id}` sort key (at most 30 + 256 + 128 bytes); 256 bytes keeps every one
//! of them under its limit with room for the tenant prefix, so an over-long id can only be
//! unknown. The four indexed values become key parts after case folding (which can grow a
//! string) and are replaced by their SHA-256 digest past 512 bytes (`scim-aws`'s
//! `dynamo::keys`), so any length would fit a key; 1,024 bytes is a documented bound well
//! above what Entra ID (256 characters for a display name, 113 for a UPN) and Okta (100 for a
//! login) send, and holds 256 characters of any script. The document bound keeps a user item
//! (document, password hash, bookkeeping) and its tombstone (which also lists the groups the
//! user was in) under DynamoDB's 400 KB item size; a real user is 1–5 KB.

use crate::error::{ScimError, ScimResult};
use crate::filter::{self, Filter, IndexKey};
use crate::resource::Doc;
use crate::schema::ResourceKind;
use serde_json::Value;

/// The longest resource id, in bytes (ids are UUIDv7: 36).
pub const MAX_ID_BYTES: usize = 256;
/// The longest `userName`, `externalId`, `displayName` or `emails[].value`, in bytes.
pub const MAX_KEY_VALUE_BYTES: usize = 1024;
/// The longest string value of any other attribute, in bytes.
pub const MAX_STRING_BYTES: usize = 16 * 1024;
/// The largest canonical document (as compact JSON, a group's `members` not counted).
pub const MAX_DOCUMENT_BYTES: usize = 128 * 1024;

/// The top-level attributes bounded by [`MAX_KEY_VALUE_BYTES`] (they become key parts).
const KEY_VALUES: [&str; 3] = ["userName", "externalId", "displayName"];

/// Whether `id` can be a resource id at all; a longer one names nothing that exists.
pub fn is_possible_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_ID_BYTES
}

/// A member id of a group write: non-empty and at most [`MAX_ID_BYTES`].
pub fn check_member_id(id: &str) -> ScimResult<()> {
    if id.len() > MAX_ID_BYTES {
        return Err(ScimError::invalid_value(format!(
            "'members.value' is longer than {MAX_ID_BYTES} bytes; no such member exists."
        )));
    }
    Ok(())
}

/// A string value of attribute `label` (any attribute but the key values): at most
/// [`MAX_STRING_BYTES`].
pub fn check_string(s: &str, label: &str) -> ScimResult<()> {
    if s.len() > MAX_STRING_BYTES {
        return Err(ScimError::invalid_value(format!(
            "'{label}' is longer than {MAX_STRING_BYTES} bytes."
        )));
    }
    Ok(())
}

fn check_key_value(s: &str, label: &str) -> ScimResult<()> {
    if s.len() > MAX_KEY_VALUE_BYTES {
        return Err(ScimError::invalid_value(format!(
            "'{label}' is longer than {MAX_KEY_VALUE_BYTES} bytes."
        )));
    }
    if s.chars().any(char::is_control) {
        return Err(ScimError::invalid_value(format!(
            "'{label}' must not contain control characters (U+0000-U+001F, U+007F-U+009F)."
        )));
    }
    Ok(())
}

/// Checks a canonical document of `kind` as a write would store it. `before` is the stored
/// document a PATCH starts from: only what the request changes is judged, so a resource
/// stored before a bound was lowered can still be patched.
pub fn check_document(kind: ResourceKind, before: Option<&Doc>, doc: &Doc) -> ScimResult<()> {
    let changed = |name: &str| before.is_none_or(|b| b.get(name) != doc.get(name));
    for name in KEY_VALUES {
        if let (true, Some(Value::String(s))) = (changed(name), doc.get(name)) {
            check_key_value(s, name)?;
        }
    }
    if changed("emails") {
        for email in doc
            .get("emails")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(v) = email.get("value").and_then(Value::as_str) {
                check_key_value(v, "emails.value")?;
            }
        }
    }
    if kind == ResourceKind::Group && changed("members") {
        for member in doc
            .get("members")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(v) = member.get("value").and_then(Value::as_str) {
                check_member_id(v)?;
            }
        }
    }
    let size = document_bytes(doc);
    if size > MAX_DOCUMENT_BYTES && before.is_none_or(|b| size > document_bytes(b)) {
        return Err(ScimError::invalid_value(format!(
            "The {} would be larger than {MAX_DOCUMENT_BYTES} bytes as JSON.",
            kind.name()
        )));
    }
    Ok(())
}

/// The size of a document as compact JSON, without a group's `members` (stored as their
/// own items, not in the document).
fn document_bytes(doc: &Doc) -> usize {
    doc.iter()
        .filter(|(k, _)| k.as_str() != "members")
        .map(|(k, v)| k.len() + serde_json::to_vec(v).map_or(0, |b| b.len()) + 4)
        .sum::<usize>()
        + 2
}

/// Checks the lookups a filter turns into store keys: an `id` or `members.value` compared
/// with `eq` to a value longer than [`MAX_ID_BYTES`] is `400 invalidFilter` (it could only
/// match nothing, and the key would be longer than DynamoDB allows). The other indexed
/// values are bounded by the filter's own length and digested into keys.
pub fn check_filter(kind: ResourceKind, f: &Filter) -> ScimResult<()> {
    for key in filter::plan(f, kind).lookups {
        let (name, value) = match &key {
            IndexKey::Id(v) => ("id", v),
            IndexKey::MemberValue(v) => ("members.value", v),
            _ => continue,
        };
        if value.len() > MAX_ID_BYTES {
            return Err(ScimError::invalid_filter(format!(
                "'{name}' values are at most {MAX_ID_BYTES} bytes; this filter compares it with a longer one."
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::resource::normalize_resource;
    use serde_json::json;

    fn user(v: Value) -> ScimResult<Doc> {
        normalize_resource(ResourceKind::User, &v)
    }

    #[test]
    fn key_values_past_the_bound_are_invalid_value_naming_the_attribute() {
        let long = "x".repeat(MAX_KEY_VALUE_BYTES + 1);
        let at = "x".repeat(MAX_KEY_VALUE_BYTES);
        for (attr, body) in [
            ("userName", json!({"userName": long})),
            ("externalId", json!({"userName": "a", "externalId": long})),
            ("displayName", json!({"userName": "a", "displayName": long})),
            (
                "emails.value",
                json!({"userName": "a", "emails": [{"value": long}]}),
            ),
        ] {
            let e = user(body).unwrap_err();
            assert_eq!(
                (e.status, e.scim_type.map(|t| t.as_str())),
                (400, Some("invalidValue"))
            );
            assert!(
                e.detail.contains(attr) && e.detail.contains("1024"),
                "{}",
                e.detail
            );
        }
        assert!(user(json!({"userName": at, "externalId": at, "emails": [{"value": at}]})).is_ok());
        let group = json!({"displayName": long});
        assert!(normalize_resource(ResourceKind::Group, &group).is_err());
    }

    #[test]
    fn control_characters_in_key_values_are_invalid_value() {
        for bad in ["a\u{0}b", "tab\there", "nl\n", "del\u{7f}", "c1\u{85}"] {
            let e = user(json!({"userName": bad})).unwrap_err();
            assert!(e.detail.contains("control"), "{bad:?}: {}", e.detail);
            assert!(user(json!({"userName": "a", "emails": [{"value": bad}]})).is_err());
        }
        assert!(user(json!({"userName": "a", "title": "tab\there"})).is_ok());
        assert!(user(json!({"userName": "Zoë Ødegård 李"})).is_ok());
    }

    #[test]
    fn multi_byte_characters_count_in_bytes() {
        let e = user(json!({"userName": "é".repeat(513)})).unwrap_err();
        assert!(e.detail.contains("userName"));
        assert!(user(json!({"userName": "é".repeat(512)})).is_ok());
    }

    #[test]
    fn member_ids_past_the_id_bound_are_invalid_value() {
        let body =
            json!({"displayName": "g", "members": [{"value": "m".repeat(MAX_ID_BYTES + 1)}]});
        let e = normalize_resource(ResourceKind::Group, &body).unwrap_err();
        assert_eq!(e.scim_type.map(|t| t.as_str()), Some("invalidValue"));
        assert!(e.detail.contains("members.value"), "{}", e.detail);
        let body = json!({"displayName": "g", "members": [{"value": "m".repeat(MAX_ID_BYTES)}]});
        assert!(normalize_resource(ResourceKind::Group, &body).is_ok());
    }

    #[test]
    fn a_document_past_the_size_bound_is_invalid_value() {
        let e = user(json!({"userName": "a", "phoneNumbers": phones(9)})).unwrap_err();
        assert_eq!(e.scim_type.map(|t| t.as_str()), Some("invalidValue"));
        assert!(e.detail.contains("131072"), "{}", e.detail);
        assert!(user(json!({"userName": "a", "phoneNumbers": phones(8)})).is_ok());
    }

    fn phones(n: usize) -> Vec<Value> {
        (0..n)
            .map(|i| json!({"value": format!("{i}{}", "p".repeat(15_000))}))
            .collect()
    }

    #[test]
    fn a_patch_is_judged_by_what_it_changes() {
        let long = "x".repeat(MAX_KEY_VALUE_BYTES + 1);
        let mut stored = Doc::new();
        stored.insert("userName".into(), json!(long));
        let mut after = stored.clone();
        after.insert("title".into(), json!("Dr"));
        assert!(check_document(ResourceKind::User, Some(&stored), &after).is_ok());
        after.insert("externalId".into(), json!(long));
        assert!(check_document(ResourceKind::User, Some(&stored), &after).is_err());
    }

    #[test]
    fn id_lookups_past_the_id_bound_are_invalid_filter() {
        let f = |t: &str| filter::parse(t).unwrap();
        let long = "i".repeat(MAX_ID_BYTES + 1);
        let e = check_filter(ResourceKind::User, &f(&format!("id eq \"{long}\""))).unwrap_err();
        assert_eq!(e.scim_type.map(|t| t.as_str()), Some("invalidFilter"));
        let members = f(&format!("members[value eq \"{long}\"]"));
        assert!(check_filter(ResourceKind::Group, &members).is_err());
        let name = f(&format!("userName eq \"{long}\""));
        assert!(check_filter(ResourceKind::User, &name).is_ok());
        let ok = f(&format!("id eq \"{}\"", "i".repeat(MAX_ID_BYTES)));
        assert!(check_filter(ResourceKind::User, &ok).is_ok());
        assert!(is_possible_id("0190a8f0-0000-7000-8000-000000000000"));
        assert!(!is_possible_id(&long) && !is_possible_id(""));
    }
}
