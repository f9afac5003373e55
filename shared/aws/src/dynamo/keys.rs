//! Every key of the single table: the partition and sort key of each item kind, the case
//! folding of client values, and the index entries a document has.
//!
//! `{t}` is the tenant id; every key starts with it (ARCHITECTURE.md, "Storage").
//!
//! | item                     | pk                     | sk                            |
//! |--------------------------|------------------------|-------------------------------|
//! | user / group             | `{t}#U` / `{t}#G`      | id                            |
//! | deleted user (tombstone) | `{t}#UD`               | id                            |
//! | userName guard           | `{t}#UN#{folded}`      | `~`                           |
//! | externalId guard (users) | `{t}#UX#{exact}`       | `~`                           |
//! | email index              | `{t}#UE#{folded}`      | id                            |
//! | group displayName index  | `{t}#GN#{folded}`      | id                            |
//! | group externalId index   | `{t}#GX#{exact}`       | id                            |
//! | membership               | `{t}#M#{group}`        | member id; gpk `{t}#MU#{member}`, gsk group |
//! | counter shard            | `{t}#C`                | `U#n`, `G#n` (count), `UX#n`, `GX#n` (generation) |
//! | page memo                | `{t}#P`                | `{kind}#{filter hash}#{startIndex}` |
//! | inactive-email marker    | `{t}#IE#{folded}`      | `~`                           |
//! | audit record             | `{t}#A#{resource id}`  | `{at}#{request id}`           |
//! | expiry index (GSI)       | xpk `{t}#X`            | xsk `{end, UTC seconds}#{id}` |
//!
//! *folded*: lower-cased, then [`key_part`]; *exact*: [`key_part`] only.

use aws_sdk_dynamodb::types::AttributeValue;
use scim_core::resource::{self, Doc};
use scim_core::schema::ResourceKind;
use sha2::{Digest, Sha256};
use std::collections::{BTreeSet, HashMap};
use time::{OffsetDateTime, UtcOffset};

/// Key parts longer than this are replaced by their SHA-256 digest (keys are at most 2 KB).
const MAX_KEY_PART: usize = 512;
/// The most emails of one user that are indexed for `emails.value eq` lookups.
pub const MAX_INDEXED_EMAILS: usize = 20;
/// Counter shards per tenant and resource type: spreads concurrent creates over items so
/// transactions do not conflict on one hot counter.
pub const COUNTER_SHARDS: u32 = 8;
/// The sort key of an item alone in its partition (guards, inactive-email markers).
pub const SINGLE: &str = "~";

/// A key part from a client value: as is when short, else its digest.
pub fn key_part(v: &str) -> String {
    if v.len() <= MAX_KEY_PART {
        v.to_string()
    } else {
        let d = Sha256::digest(v.as_bytes());
        format!(
            "sha256:{}",
            d.iter().map(|b| format!("{b:02x}")).collect::<String>()
        )
    }
}

/// A case-insensitive key part (userName, emails, group displayName).
pub fn folded(v: &str) -> String {
    key_part(&v.to_lowercase())
}

/// The key attributes of one item.
pub fn item_key(pk: String, sk: String) -> HashMap<String, AttributeValue> {
    HashMap::from([
        ("pk".to_string(), AttributeValue::S(pk)),
        ("sk".to_string(), AttributeValue::S(sk)),
    ])
}

fn kind_code(kind: ResourceKind) -> &'static str {
    match kind {
        ResourceKind::User => "U",
        ResourceKind::Group => "G",
    }
}

/// The partition of a tenant's users or groups (sort key: the id).
pub fn resource_pk(t: &str, kind: ResourceKind) -> String {
    format!("{t}#{}", kind_code(kind))
}

/// The partition of deleted users (sort key: the id).
pub fn tombstone_pk(t: &str) -> String {
    format!("{t}#UD")
}

/// The partition of a group's memberships (sort key: the member's id).
pub fn membership_pk(t: &str, group: &str) -> String {
    format!("{t}#M#{group}")
}

/// A membership's key in the `memberships-by-user` index (`gpk`; `gsk` is the group id).
pub fn membership_gpk(t: &str, member: &str) -> String {
    format!("{t}#MU#{member}")
}

/// The partition of the counter shards.
pub fn counter_pk(t: &str) -> String {
    format!("{t}#C")
}

/// The sort-key prefix of a kind's count shards (`U#`, then the shard number).
pub fn count_prefix(kind: ResourceKind) -> String {
    format!("{}#", kind_code(kind))
}

/// The sort-key prefix of a kind's generation shards (`UX#`, then the shard number).
pub fn generation_prefix(kind: ResourceKind) -> String {
    format!("{}X#", kind_code(kind))
}

/// The key of a remembered page boundary.
pub fn page_memo_key(
    t: &str,
    kind: ResourceKind,
    filter_hash: &str,
    start_index: u64,
) -> HashMap<String, AttributeValue> {
    item_key(
        format!("{t}#P"),
        format!("{}#{filter_hash}#{start_index}", kind_code(kind)),
    )
}

/// The marker that an inactive (deactivated or deleted) user holds this primary email.
pub fn inactive_email_pk(t: &str, email: &str) -> String {
    format!("{t}#IE#{}", folded(email))
}

/// The audit partition of one resource: its own audit records and other jobs' (`audit-ext`).
pub fn audit_pk(t: &str, resource_id: &str) -> String {
    format!("{t}#A#{resource_id}")
}

/// An audit record's sort key: its time (RFC 3339), then the request (or event) id.
pub fn audit_sk(at: &str, request_id: &str) -> String {
    format!("{at}#{request_id}")
}

/// The partition of a tenant's expiring users in the `expiring-contacts` index.
pub fn expiry_pk(t: &str) -> String {
    format!("{t}#X")
}

/// A time as the expiry index sorts it: UTC, whole seconds, fixed width
/// (`2026-11-22T08:00:00Z`), so that `xsk` sorts by time as a string.
pub fn key_time(t: OffsetDateTime) -> String {
    t.to_offset(UtcOffset::UTC)
        .format(time::macros::format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
        ))
        .unwrap_or_else(|_| "9999-12-31T23:59:59Z".to_string())
}

/// The expiry index entry (`xpk`, `xsk`) of a user document: only while the user is active
/// and has an end date that parses.
pub fn expiry_entry(t: &str, id: &str, doc: &Doc) -> Option<(String, String)> {
    if !resource::is_active(doc) {
        return None;
    }
    let end = resource::parse_datetime(resource::end_date(doc)?)?;
    Some((expiry_pk(t), format!("{}#{id}", key_time(end))))
}

/// An `xsk` above every entry whose end date is at or before `now` (to the second), whatever
/// the id after the '#' ('$' follows '#').
pub fn expiry_due_below(now: OffsetDateTime) -> String {
    format!("{}$", key_time(now))
}

/// The `ExclusiveStartKey` of an expiry index page from the last `xsk` seen: the index key
/// and the table key (the id is what follows the fixed-width time and '#').
pub fn expiry_start_key(t: &str, xsk: &str) -> Option<HashMap<String, AttributeValue>> {
    let (_, id) = xsk.split_once('#')?;
    let s = |v: &str| AttributeValue::S(v.to_string());
    Some(HashMap::from([
        ("xpk".to_string(), s(&expiry_pk(t))),
        ("xsk".to_string(), s(xsk)),
        ("pk".to_string(), s(&resource_pk(t, ResourceKind::User))),
        ("sk".to_string(), s(id)),
    ]))
}

/// The index entries a document has: (pk, sk, unique attribute name if a guard).
pub fn index_entries(
    t: &str,
    kind: ResourceKind,
    id: &str,
    doc: &Doc,
) -> Vec<(String, String, Option<&'static str>)> {
    let mut out = Vec::new();
    match kind {
        ResourceKind::User => {
            if let Some(u) = resource::str_attr(doc, "userName") {
                out.push((
                    format!("{t}#UN#{}", folded(u)),
                    SINGLE.into(),
                    Some("userName"),
                ));
            }
            if let Some(x) = resource::str_attr(doc, "externalId") {
                out.push((
                    format!("{t}#UX#{}", key_part(x)),
                    SINGLE.into(),
                    Some("externalId"),
                ));
            }
            let mut seen = BTreeSet::new();
            for e in resource::email_values(doc) {
                let f = folded(e);
                if seen.len() < MAX_INDEXED_EMAILS && seen.insert(f.clone()) {
                    out.push((format!("{t}#UE#{f}"), id.to_string(), None));
                }
            }
        }
        ResourceKind::Group => {
            if let Some(d) = resource::str_attr(doc, "displayName") {
                out.push((format!("{t}#GN#{}", folded(d)), id.to_string(), None));
            }
            if let Some(x) = resource::str_attr(doc, "externalId") {
                out.push((format!("{t}#GX#{}", key_part(x)), id.to_string(), None));
            }
        }
    }
    out
}

/// The partition of a lookup of `key` (userName, externalId, email, group displayName or
/// externalId) for `kind`.
pub fn lookup_pk(t: &str, kind: ResourceKind, key: &scim_core::filter::IndexKey) -> Option<String> {
    use scim_core::filter::IndexKey;
    Some(match (kind, key) {
        (ResourceKind::User, IndexKey::UserName(u)) => format!("{t}#UN#{}", folded(u)),
        (ResourceKind::User, IndexKey::ExternalId(x)) => format!("{t}#UX#{}", key_part(x)),
        (ResourceKind::User, IndexKey::EmailValue(e)) => format!("{t}#UE#{}", folded(e)),
        (ResourceKind::Group, IndexKey::DisplayName(d)) => format!("{t}#GN#{}", folded(d)),
        (ResourceKind::Group, IndexKey::ExternalId(x)) => format!("{t}#GX#{}", key_part(x)),
        _ => return None,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc(v: serde_json::Value) -> Doc {
        v.as_object().unwrap().clone()
    }

    const CONTACT: &str = scim_core::schema::CONTACT_USER_URN;

    #[test]
    fn long_key_parts_are_digested() {
        let long = "a".repeat(2000);
        assert!(key_part(&long).len() < 100);
        assert_eq!(key_part("ann"), "ann");
    }

    #[test]
    fn the_expiry_key_is_fixed_width_utc_and_sorts_as_time() {
        let d = |end: &str| doc(json!({"userName": "a", CONTACT: {"endDate": end}}));
        let key = |end: &str| expiry_entry("t", "id", &d(end)).unwrap().1;
        assert_eq!(key("2026-11-22T08:00:00Z"), "2026-11-22T08:00:00Z#id");
        assert_eq!(key("2026-11-22T08:00:00.750Z"), "2026-11-22T08:00:00Z#id");
        assert_eq!(key("2026-11-22T09:30:00+01:00"), "2026-11-22T08:30:00Z#id");
        assert_eq!(key("2026-11-22"), "2026-11-22T00:00:00Z#id");
        // A fraction must not sort after a later whole second ('.' < 'Z').
        assert!(key("2026-11-22T08:00:00.9Z") < key("2026-11-22T08:00:01Z"));
        assert_eq!(expiry_entry("t", "id", &d("tomorrow")), None);
    }

    #[test]
    fn only_active_users_with_an_end_date_are_in_the_expiry_index() {
        let end = json!({"endDate": "2026-01-01T00:00:00Z"});
        assert!(expiry_entry("t", "i", &doc(json!({CONTACT: end}))).is_some());
        assert!(expiry_entry("t", "i", &doc(json!({"active": true, CONTACT: end}))).is_some());
        assert!(expiry_entry("t", "i", &doc(json!({"active": false, CONTACT: end}))).is_none());
        assert!(expiry_entry("t", "i", &doc(json!({"active": true}))).is_none());
    }
}
