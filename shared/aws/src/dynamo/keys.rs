//! Every key of the single table, and the indexed attributes as one table.
//!
//! `{t}` is the tenant id; every key starts with it (ARCHITECTURE.md, "Storage").
//!
//! | item                     | pk                     | sk                            |
//! |--------------------------|------------------------|-------------------------------|
//! | user / group             | `{t}#U` / `{t}#G`      | id                            |
//! | deleted user (tombstone) | `{t}#UD`               | id                            |
//! | uniqueness guard         | `{t}#UN#…`, `{t}#UX#…` | `~` (see [`INDEXED`])         |
//! | index entry              | `{t}#UE#…`, `{t}#GN#…`, `{t}#GX#…` | id (see [`INDEXED`]) |
//! | membership               | `{t}#M#{group}`        | member id; gpk `{t}#MU#{member}`, gsk group |
//! | counter shard            | `{t}#C`                | `U#n`, `G#n` (count), `UX#n`, `GX#n` (generation) |
//! | page memo                | `{t}#P`                | `{kind}#{filter hash}#{startIndex}` |
//! | inactive-email marker    | `{t}#IE#{folded email}`| `~`                           |
//! | audit record             | `{t}#A#{resource id}`  | `{at}#{request id}`           |
//! | expiry index (GSI)       | xpk `{t}#X`            | xsk `{end, UTC seconds}#{id}` |
//! | catalog value            | `{t}#E` / `{t}#R`      | the entitlement's / role's id |
//!
//! The indexed attributes ([`INDEXED`]), which writes turn into guards and index entries
//! ([`index_entries`]) and filters look up ([`best_lookup`], [`Indexed::pk`],
//! [`Indexed::holds`]):
//!
//! | attribute       | kind  | key                       | case   | entry            |
//! |-----------------|-------|---------------------------|--------|------------------|
//! | `id`            | both  | the item's own key        | exact  | the item         |
//! | `userName`      | User  | `{t}#UN#{value}`, `~`     | folded | unique guard     |
//! | `externalId`    | User  | `{t}#UX#{value}`, `~`     | exact  | unique guard     |
//! | `emails.value`  | User  | `{t}#UE#{value}`, id      | folded | index (≤ 20)     |
//! | `externalId`    | Group | `{t}#GX#{value}`, id      | exact  | index            |
//! | `displayName`   | Group | `{t}#GN#{value}`, id      | folded | index            |
//! | `members.value` | Group | gpk `{t}#MU#{member}`     | exact  | membership index |
//!
//! *folded*: lower-cased, then [`key_part`]; *exact*: [`key_part`] only (long values are
//! replaced by their digest).

use aws_sdk_dynamodb::types::AttributeValue;
use scim_core::filter::IndexKey;
use scim_core::resource::{self, Doc};
use scim_core::schema::ResourceKind;
use scim_service::port::Stored;
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

/// The partition of the tenant's entitlements or roles (sort key: the value's id).
pub fn catalog_pk(t: &str, kind: scim_core::schema::CatalogKind) -> String {
    match kind {
        scim_core::schema::CatalogKind::Entitlement => format!("{t}#E"),
        scim_core::schema::CatalogKind::Role => format!("{t}#R"),
    }
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

/// The tenant's settings item (provisioning switch, token usage).
pub fn settings_key(t: &str) -> HashMap<String, AttributeValue> {
    item_key(format!("{t}#S"), "settings".to_string())
}

/// The tenant's OAuth partition: clients (`c#{id}`) and assertion-replay markers (`j#{key}`).
pub fn oauth_pk(t: &str) -> String {
    format!("{t}#O")
}

pub const OAUTH_CLIENT_PREFIX: &str = "c#";
pub const OAUTH_REPLAY_PREFIX: &str = "j#";

/// The settings item's attribute recording a revoked OAuth client (client ids are hex).
pub fn revoked_client_attr(client_id: &str) -> Option<String> {
    (!client_id.is_empty()
        && client_id.len() <= 64
        && client_id.bytes().all(|b| b.is_ascii_alphanumeric()))
    .then(|| format!("r_{client_id}"))
}

/// An audit record's partition in the sparse `activity` index: the whole tenant's.
pub fn activity_pk(t: &str) -> String {
    format!("{t}#A")
}

/// An audit record's sort key in the `activity` index: time, resource, request.
pub fn activity_sk(at: &str, resource_id: &str, request_id: &str) -> String {
    format!("{at}#{resource_id}#{request_id}")
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

// ------------------------------------------------------------------ indexed attributes

/// How a client value becomes a key part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Case {
    /// Lower-cased, then [`key_part`]: the registry's `caseExact: false` attributes.
    Folded,
    /// [`key_part`] only.
    Exact,
}

impl Case {
    /// The key part of `value`.
    pub fn part(self, value: &str) -> String {
        match self {
            Case::Folded => folded(value),
            Case::Exact => key_part(value),
        }
    }

    /// Whether two values are the same under this case rule (re-checking a lookup: the
    /// key may be folded or digested, the filter's value is not).
    pub fn same(self, a: &str, b: &str) -> bool {
        match self {
            Case::Folded => a.to_lowercase() == b.to_lowercase(),
            Case::Exact => a == b,
        }
    }
}

/// What answers lookups of an indexed attribute, and what a write keeps for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry {
    /// The resource item's own key (`{t}#U` / `{t}#G`, sk = id): nothing else is written.
    Item,
    /// A uniqueness guard of a single-valued attribute: `{t}#{prefix}#{value}`, sk `~`,
    /// holding the owner's `id`, put with `attribute_not_exists(pk) OR id = :id` in the
    /// resource's transaction (a failed guard is `409 uniqueness` naming the attribute).
    /// A deleted user's guards stay, expiring with the tombstone.
    Unique { prefix: &'static str },
    /// An index entry per distinct value: `{t}#{prefix}#{value}`, sk = id (resources may
    /// share a value), at most `max` values of one resource.
    Index { prefix: &'static str, max: usize },
    /// The membership items' reverse index (`memberships-by-user`, gpk `{t}#MU#{member}`),
    /// written by member changes, not from the document.
    Membership,
}

/// One indexed attribute: a row of [`INDEXED`].
#[derive(Debug)]
pub struct Indexed {
    /// The resources it applies to (`None`: users and groups).
    pub kind: Option<ResourceKind>,
    /// The attribute: a top-level name, or `name.sub` for a multi-valued attribute's
    /// sub-attribute (every element's value is indexed). For a guard also the attribute a
    /// uniqueness error names.
    pub attribute: &'static str,
    pub case: Case,
    pub entry: Entry,
    /// The planner's lookup ([`IndexKey`]) this row answers, and the value looked up.
    pub answers: fn(&IndexKey) -> Option<&str>,
}

/// Every indexed attribute, in the order a filter's lookup is chosen when it has several
/// (the one that narrows most first: the id, the unique guards, then the rest) and in which
/// a write puts its entries. Adding one is a row here and an [`IndexKey`] in the core's
/// planner (`scim_core::filter::plan`).
pub const INDEXED: [Indexed; 7] = [
    Indexed {
        kind: None,
        attribute: "id",
        case: Case::Exact,
        entry: Entry::Item,
        answers: |k| match k {
            IndexKey::Id(v) => Some(v),
            _ => None,
        },
    },
    Indexed {
        kind: Some(ResourceKind::User),
        attribute: "userName",
        case: Case::Folded,
        entry: Entry::Unique { prefix: "UN" },
        answers: |k| match k {
            IndexKey::UserName(v) => Some(v),
            _ => None,
        },
    },
    Indexed {
        kind: Some(ResourceKind::User),
        attribute: "externalId",
        case: Case::Exact,
        entry: Entry::Unique { prefix: "UX" },
        answers: |k| match k {
            IndexKey::ExternalId(v) => Some(v),
            _ => None,
        },
    },
    Indexed {
        kind: Some(ResourceKind::User),
        attribute: "emails.value",
        case: Case::Folded,
        entry: Entry::Index {
            prefix: "UE",
            max: MAX_INDEXED_EMAILS,
        },
        answers: |k| match k {
            IndexKey::EmailValue(v) => Some(v),
            _ => None,
        },
    },
    Indexed {
        kind: Some(ResourceKind::Group),
        attribute: "externalId",
        case: Case::Exact,
        entry: Entry::Index {
            prefix: "GX",
            max: 1,
        },
        answers: |k| match k {
            IndexKey::ExternalId(v) => Some(v),
            _ => None,
        },
    },
    Indexed {
        kind: Some(ResourceKind::Group),
        attribute: "displayName",
        case: Case::Folded,
        entry: Entry::Index {
            prefix: "GN",
            max: 1,
        },
        answers: |k| match k {
            IndexKey::DisplayName(v) => Some(v),
            _ => None,
        },
    },
    Indexed {
        kind: Some(ResourceKind::Group),
        attribute: "members.value",
        case: Case::Exact,
        entry: Entry::Membership,
        answers: |k| match k {
            IndexKey::MemberValue(v) => Some(v),
            _ => None,
        },
    },
];

impl Indexed {
    fn applies_to(&self, kind: ResourceKind) -> bool {
        self.kind.is_none_or(|k| k == kind)
    }

    /// The partition of `value`'s guard or index entries (`None` for the item key and the
    /// membership index, which have their own).
    pub fn pk(&self, t: &str, value: &str) -> Option<String> {
        match self.entry {
            Entry::Unique { prefix } | Entry::Index { prefix, .. } => {
                Some(format!("{t}#{prefix}#{}", self.case.part(value)))
            }
            Entry::Item | Entry::Membership => None,
        }
    }

    /// The values of this attribute in a document, as the document has them.
    pub fn values<'d>(&self, doc: &'d Doc) -> Vec<&'d str> {
        match self.attribute.split_once('.') {
            None => resource::str_attr(doc, self.attribute)
                .into_iter()
                .collect(),
            Some((multi, sub)) => doc
                .get(multi)
                .and_then(serde_json::Value::as_array)
                .map(|elements| {
                    elements
                        .iter()
                        .filter_map(|e| e.get(sub).and_then(serde_json::Value::as_str))
                        .collect()
                })
                .unwrap_or_default(),
        }
    }

    /// Whether resource `r` has `value` (`None` for memberships, which only the store can
    /// answer).
    pub fn holds(&self, r: &Stored, value: &str) -> Option<bool> {
        match self.entry {
            Entry::Item => Some(r.id == value),
            Entry::Membership => None,
            Entry::Unique { .. } | Entry::Index { .. } => {
                Some(self.values(&r.doc).iter().any(|v| self.case.same(v, value)))
            }
        }
    }
}

/// The row that answers lookup `key` on `kind`, and the value looked up.
pub fn indexed(kind: ResourceKind, key: &IndexKey) -> Option<(&'static Indexed, &str)> {
    INDEXED
        .iter()
        .filter(|r| r.applies_to(kind))
        .find_map(|r| (r.answers)(key).map(|v| (r, v)))
}

/// Of a filter's lookups, the one to answer it with: the first in [`INDEXED`]'s order.
pub fn best_lookup(kind: ResourceKind, lookups: &[IndexKey]) -> Option<(&'static Indexed, &str)> {
    INDEXED
        .iter()
        .filter(|r| r.applies_to(kind))
        .find_map(|r| lookups.iter().find_map(|k| (r.answers)(k)).map(|v| (r, v)))
}

/// A guard or index entry of a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexEntry {
    pub pk: String,
    pub sk: String,
    /// For a uniqueness guard, the attribute a failure names.
    pub unique: Option<&'static str>,
}

impl IndexEntry {
    /// Whether `entries` holds an entry with this key.
    pub fn is_in(&self, entries: &[IndexEntry]) -> bool {
        entries.iter().any(|e| e.pk == self.pk && e.sk == self.sk)
    }
}

/// The guards and index entries of resource `id` with document `doc`, in [`INDEXED`]'s
/// order.
pub fn index_entries(t: &str, kind: ResourceKind, id: &str, doc: &Doc) -> Vec<IndexEntry> {
    let mut out = Vec::new();
    for row in INDEXED.iter().filter(|r| r.applies_to(kind)) {
        let (prefix, sk, unique, max) = match row.entry {
            Entry::Unique { prefix } => (prefix, SINGLE, Some(row.attribute), 1),
            Entry::Index { prefix, max } => (prefix, id, None, max),
            Entry::Item | Entry::Membership => continue,
        };
        let mut seen = BTreeSet::new();
        for value in row.values(doc) {
            let part = row.case.part(value);
            if seen.len() < max && seen.insert(part.clone()) {
                out.push(IndexEntry {
                    pk: format!("{t}#{prefix}#{part}"),
                    sk: sk.to_string(),
                    unique,
                });
            }
        }
    }
    out
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

    fn stored(v: serde_json::Value) -> Stored {
        Stored {
            id: "id1".into(),
            doc: doc(v),
            meta: scim_core::resource::Meta {
                created: String::new(),
                last_modified: String::new(),
                version: 1,
            },
            password_hash: None,
        }
    }

    #[test]
    fn a_users_entries_are_its_guards_then_its_distinct_emails() {
        let d = doc(json!({
            "userName": "Ann@Contoso.com",
            "externalId": "X-1",
            "emails": [{"value": "ann@contoso.com"}, {"value": "ANN@contoso.com"},
                       {"value": "a2@contoso.com"}]
        }));
        let keys: Vec<(String, String, Option<&str>)> =
            index_entries("t", ResourceKind::User, "id1", &d)
                .into_iter()
                .map(|e| (e.pk, e.sk, e.unique))
                .collect();
        let e = |pk: &str, sk: &str, u| (pk.to_string(), sk.to_string(), u);
        assert_eq!(
            keys,
            vec![
                e("t#UN#ann@contoso.com", "~", Some("userName")),
                e("t#UX#X-1", "~", Some("externalId")),
                e("t#UE#ann@contoso.com", "id1", None),
                e("t#UE#a2@contoso.com", "id1", None),
            ]
        );
        let many: Vec<serde_json::Value> = (0..30)
            .map(|i| json!({"value": format!("u{i}@x.com")}))
            .collect();
        let d = doc(json!({"userName": "u", "emails": many}));
        assert_eq!(
            index_entries("t", ResourceKind::User, "i", &d).len(),
            1 + MAX_INDEXED_EMAILS
        );
    }

    #[test]
    fn a_groups_entries_are_its_external_id_and_folded_name() {
        let d = doc(json!({"displayName": "Sales EU", "externalId": "G-1"}));
        let keys: Vec<(String, String)> = index_entries("t", ResourceKind::Group, "g1", &d)
            .into_iter()
            .map(|e| (e.pk, e.sk))
            .collect();
        assert_eq!(
            keys,
            vec![
                ("t#GX#G-1".to_string(), "g1".to_string()),
                ("t#GN#sales eu".to_string(), "g1".to_string()),
            ]
        );
    }

    #[test]
    fn lookups_use_the_same_keys_and_the_narrowest_one_wins() {
        let pk = |kind, key: IndexKey| {
            let (row, v) = indexed(kind, &key).unwrap();
            row.pk("t", v)
        };
        assert_eq!(
            pk(ResourceKind::User, IndexKey::UserName("ANN".into())).as_deref(),
            Some("t#UN#ann")
        );
        assert_eq!(
            pk(ResourceKind::Group, IndexKey::ExternalId("G-1".into())).as_deref(),
            Some("t#GX#G-1")
        );
        assert_eq!(pk(ResourceKind::User, IndexKey::Id("u1".into())), None);
        assert!(indexed(ResourceKind::User, &IndexKey::MemberValue("u".into())).is_none());
        let lookups = [
            IndexKey::EmailValue("a@x.com".into()),
            IndexKey::ExternalId("X".into()),
            IndexKey::UserName("ann".into()),
        ];
        let (row, v) = best_lookup(ResourceKind::User, &lookups).unwrap();
        assert_eq!((row.attribute, v), ("userName", "ann"));
        let lookups = [
            IndexKey::MemberValue("u1".into()),
            IndexKey::DisplayName("Sales".into()),
        ];
        let (row, _) = best_lookup(ResourceKind::Group, &lookups).unwrap();
        assert_eq!(row.attribute, "displayName");
    }

    #[test]
    fn a_lookup_is_rechecked_with_the_attributes_case_rule() {
        let r = stored(json!({"userName": "Ann", "externalId": "X-1",
                              "emails": [{"value": "Ann@Contoso.com"}]}));
        let holds = |k: IndexKey| {
            let (row, v) = indexed(ResourceKind::User, &k).unwrap();
            row.holds(&r, v)
        };
        assert_eq!(holds(IndexKey::UserName("ANN".into())), Some(true));
        assert_eq!(holds(IndexKey::ExternalId("x-1".into())), Some(false));
        assert_eq!(
            holds(IndexKey::EmailValue("ann@contoso.COM".into())),
            Some(true)
        );
        assert_eq!(holds(IndexKey::Id("id1".into())), Some(true));
        let member = IndexKey::MemberValue("id1".into());
        let (row, v) = indexed(ResourceKind::Group, &member).unwrap();
        assert_eq!(row.holds(&r, v), None);
    }
}
