//! The DynamoDB store: the one implementation of the storage port.
//!
//! Single table, tenant id first in every key (see ARCHITECTURE.md for the item map):
//!
//! | item            | pk                     | sk            | notes                          |
//! |-----------------|------------------------|---------------|--------------------------------|
//! | user / group    | `{t}#U` / `{t}#G`      | id (UUIDv7)   | doc, v, created, modified      |
//! | userName guard  | `{t}#UN#{lower name}`  | `~`           | unique; id                     |
//! | externalId guard| `{t}#UX#{externalId}`  | `~`           | unique (users); id             |
//! | email index     | `{t}#UE#{lower email}` | id            |                                |
//! | group name index| `{t}#GN#{lower name}`  | id            |                                |
//! | group extId idx | `{t}#GX#{externalId}`  | id            |                                |
//! | membership      | `{t}#M#{group}`        | member id     | gpk `{t}#MU#{member}`, gsk group |
//! | counter shard   | `{t}#C`                | `U#n` / `G#n` | n                              |
//! | page memo       | `{t}#P`                | kind#hash#idx | after, expiresAt (TTL)         |
//!
//! Users carry `xpk`/`xsk` only while they are active and have an end date (the sparse
//! expiry index; see `expiry`).

use crate::table::MEMBERSHIPS_BY_USER;
use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Delete, DeleteRequest, KeysAndAttributes, Put,
    ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update, WriteRequest,
};
use aws_sdk_dynamodb::Client;
use base64::Engine;
use scim_core::filter::{self, IndexKey};
use scim_core::list::Paging;
use scim_core::patch::{Member, MemberChanges};
use scim_core::resource::{self, Doc, Meta};
use scim_core::schema::ResourceKind;
use scim_service::port::{
    Audit, Guard, ListPage, ListRequest, Store, StoreError, StoreResult, Stored, Tombstone,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Counter shards per tenant and resource type: spreads concurrent creates over items so
/// transactions do not conflict on one hot counter.
const COUNTER_SHARDS: u32 = 8;
/// DynamoDB's limit of actions in one `TransactWriteItems`.
const MAX_TRANSACTION_ITEMS: usize = 100;
/// The most items a filter no index serves may examine.
pub const MAX_SCAN_ITEMS: usize = 100_000;
/// The most emails of one user that are indexed for `emails.value eq` lookups.
pub const MAX_INDEXED_EMAILS: usize = 20;
/// How long a remembered page boundary lives (seconds).
const PAGE_MEMO_TTL_SECS: i64 = 3600;
/// Key parts longer than this are replaced by their SHA-256 digest.
const MAX_KEY_PART: usize = 512;

/// Counts of DynamoDB calls, by API. Deterministic, unlike timings: tests assert them.
#[derive(Debug, Default)]
pub struct CallCounts {
    get_item: AtomicU64,
    batch_get_item: AtomicU64,
    pub(crate) query: AtomicU64,
    scan: AtomicU64,
    put_item: AtomicU64,
    update_item: AtomicU64,
    delete_item: AtomicU64,
    transact_write_items: AtomicU64,
    batch_write_item: AtomicU64,
    /// Of `query`, those that read a global secondary index (not counted again in totals).
    pub(crate) query_index: AtomicU64,
}

/// A snapshot of [`CallCounts`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Calls {
    pub get_item: u64,
    pub batch_get_item: u64,
    pub query: u64,
    pub scan: u64,
    pub put_item: u64,
    pub update_item: u64,
    pub delete_item: u64,
    pub transact_write_items: u64,
    pub batch_write_item: u64,
    /// Of `query`, those that read a global secondary index (`expiring-contacts`,
    /// `memberships-by-user`); `query - query_index` queried the table itself.
    pub query_index: u64,
}

impl Calls {
    pub fn total(&self) -> u64 {
        self.get_item
            + self.batch_get_item
            + self.query
            + self.scan
            + self.put_item
            + self.update_item
            + self.delete_item
            + self.transact_write_items
            + self.batch_write_item
    }

    /// The calls made between `earlier` and `self`.
    pub fn since(&self, earlier: &Calls) -> Calls {
        Calls {
            get_item: self.get_item - earlier.get_item,
            batch_get_item: self.batch_get_item - earlier.batch_get_item,
            query: self.query - earlier.query,
            scan: self.scan - earlier.scan,
            put_item: self.put_item - earlier.put_item,
            update_item: self.update_item - earlier.update_item,
            delete_item: self.delete_item - earlier.delete_item,
            transact_write_items: self.transact_write_items - earlier.transact_write_items,
            batch_write_item: self.batch_write_item - earlier.batch_write_item,
            query_index: self.query_index - earlier.query_index,
        }
    }
}

impl CallCounts {
    pub fn snapshot(&self) -> Calls {
        let l = |a: &AtomicU64| a.load(Ordering::SeqCst);
        Calls {
            get_item: l(&self.get_item),
            batch_get_item: l(&self.batch_get_item),
            query: l(&self.query),
            scan: l(&self.scan),
            put_item: l(&self.put_item),
            update_item: l(&self.update_item),
            delete_item: l(&self.delete_item),
            transact_write_items: l(&self.transact_write_items),
            batch_write_item: l(&self.batch_write_item),
            query_index: l(&self.query_index),
        }
    }
}

pub(crate) fn inc(a: &AtomicU64) {
    a.fetch_add(1, Ordering::SeqCst);
}

#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
    pub(crate) calls: Arc<CallCounts>,
    retention: Retention,
}

/// How long deleted users' tombstones and audit records are kept (seconds).
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    pub tombstone_secs: i64,
    pub audit_secs: i64,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            tombstone_secs: 90 * 86_400,
            audit_secs: 400 * 86_400,
        }
    }
}

/// The stored shape of a user or group.
#[derive(Debug, Serialize, Deserialize)]
struct ResourceItem {
    pk: String,
    sk: String,
    doc: serde_json::Value,
    v: u64,
    created: String,
    modified: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    xpk: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    xsk: Option<String>,
    /// Argon2id password hash (users only); never part of `doc`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pw: Option<String>,
}

/// A deleted user, kept under `{t}#UD` until `expiresAt`.
#[derive(Debug, Serialize, Deserialize)]
struct TombstoneItem {
    pk: String,
    sk: String,
    doc: serde_json::Value,
    v: u64,
    created: String,
    modified: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pw: Option<String>,
    #[serde(default)]
    groups: Vec<String>,
    #[serde(rename = "deletedAt")]
    deleted_at: String,
    #[serde(rename = "expiresAt")]
    expires_at: i64,
}

/// One append-only audit record per write, in the write's own transaction. It is also
/// what the change-event publisher reads (from the table's stream).
#[derive(Debug, Serialize, Deserialize)]
struct AuditItem {
    pk: String,
    sk: String,
    /// Marks the item kind for the stream filter.
    rec: String,
    tenant: String,
    event: String,
    #[serde(rename = "resourceType")]
    resource_type: String,
    rid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(rename = "externalId")]
    external_id: Option<String>,
    changed: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[serde(rename = "membersAdded")]
    members_added: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[serde(rename = "membersRemoved")]
    members_removed: Vec<String>,
    token: String,
    req: String,
    at: String,
    #[serde(rename = "expiresAt")]
    expires_at: i64,
    /// The sparse `activity` index: the tenant's audit records, newest first.
    #[serde(default)]
    apk: String,
    #[serde(default)]
    ask: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct MembershipItem {
    pk: String,
    sk: String,
    gpk: String,
    gsk: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(rename = "type")]
    type_: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    display: Option<String>,
}

/// Which part of a transaction an action is, to explain a cancellation.
#[derive(Debug, Clone)]
enum Slot {
    Resource,
    /// A uniqueness guard (or the inactive-email marker) on this key.
    Unique(&'static str, String),
    Member(String),
    Other,
}

pub(crate) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn kind_code(kind: ResourceKind) -> &'static str {
    match kind {
        ResourceKind::User => "U",
        ResourceKind::Group => "G",
    }
}

pub(crate) fn resource_pk(t: &str, kind: ResourceKind) -> String {
    format!("{t}#{}", kind_code(kind))
}

/// A key part from a client value: as is when short, else its digest (keys are ≤ 2 KB).
fn key_part(v: &str) -> String {
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

/// Case-insensitive key part (userName, emails, group displayName).
fn folded(v: &str) -> String {
    key_part(&v.to_lowercase())
}

fn tombstone_pk(t: &str) -> String {
    format!("{t}#UD")
}

/// The marker that an inactive (deactivated or deleted) user holds this primary email.
fn inactive_email_pk(t: &str, email: &str) -> String {
    format!("{t}#IE#{}", folded(email))
}

fn epoch_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn membership_pk(t: &str, group: &str) -> String {
    format!("{t}#M#{group}")
}

fn membership_gpk(t: &str, member: &str) -> String {
    format!("{t}#MU#{member}")
}

/// The index entries a document has: (pk, sk, unique attribute name if a guard).
fn index_entries(
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
                    "~".into(),
                    Some("userName"),
                ));
            }
            if let Some(x) = resource::str_attr(doc, "externalId") {
                out.push((
                    format!("{t}#UX#{}", key_part(x)),
                    "~".into(),
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

pub(crate) fn internal<E>(op: &str, e: SdkError<E>) -> StoreError
where
    E: std::error::Error + Send + Sync + 'static,
{
    if is_throttle(&e) {
        return StoreError::Busy;
    }
    StoreError::Internal(format!("{op}: {}", DisplayErrorContext(&e)))
}

fn is_throttle<E>(e: &SdkError<E>) -> bool
where
    E: std::error::Error + 'static,
{
    let text = format!("{e:?}");
    text.contains("ThrottlingException")
        || text.contains("ProvisionedThroughputExceeded")
        || text.contains("RequestLimitExceeded")
}

pub(crate) async fn backoff(attempt: u32) {
    let base = 10u64.saturating_mul(1 << attempt.min(6));
    let jitter = fastrand::u64(0..=base);
    tokio::time::sleep(Duration::from_millis(base / 2 + jitter)).await;
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoStore {
            client,
            table: table.into(),
            calls: Arc::new(CallCounts::default()),
            retention: Retention::default(),
        }
    }

    pub fn with_retention(mut self, retention: Retention) -> Self {
        self.retention = retention;
        self
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// The call counters, for tests and benchmarks.
    pub fn calls(&self) -> Calls {
        self.calls.snapshot()
    }

    fn key(&self, pk: String, sk: String) -> HashMap<String, AttributeValue> {
        HashMap::from([("pk".to_string(), s(pk)), ("sk".to_string(), s(sk))])
    }

    /// A user or group item as read from the table.
    pub(crate) fn stored_from_item(item: HashMap<String, AttributeValue>) -> StoreResult<Stored> {
        let item: ResourceItem = serde_dynamo::from_item(item)
            .map_err(|e| StoreError::Internal(format!("deserialise: {e}")))?;
        Self::to_stored(item)
    }

    fn to_stored(item: ResourceItem) -> StoreResult<Stored> {
        let doc = match item.doc {
            serde_json::Value::Object(m) => m,
            _ => return Err(StoreError::Internal("stored doc is not an object".into())),
        };
        Ok(Stored {
            id: item.sk,
            doc,
            meta: Meta {
                created: item.created,
                last_modified: item.modified,
                version: item.v,
            },
            password_hash: item.pw,
        })
    }

    fn resource_item(
        t: &str,
        kind: ResourceKind,
        r: &Stored,
    ) -> StoreResult<HashMap<String, AttributeValue>> {
        // The sparse expiry index: active users with an end date only (see `expiry`).
        let (xpk, xsk) = match kind {
            ResourceKind::User => crate::expiry::index_entry(t, &r.id, &r.doc).unzip(),
            ResourceKind::Group => (None, None),
        };
        let item = ResourceItem {
            pk: resource_pk(t, kind),
            sk: r.id.clone(),
            doc: serde_json::Value::Object(r.doc.clone()),
            v: r.meta.version,
            created: r.meta.created.clone(),
            modified: r.meta.last_modified.clone(),
            xpk,
            xsk,
            pw: r.password_hash.clone(),
        };
        serde_dynamo::to_item(item).map_err(|e| StoreError::Internal(format!("serialise: {e}")))
    }

    async fn get_resource(
        &self,
        t: &str,
        kind: ResourceKind,
        id: &str,
    ) -> StoreResult<Option<Stored>> {
        inc(&self.calls.get_item);
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(self.key(resource_pk(t, kind), id.to_string())))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| internal("GetItem", e))?;
        match out.item {
            None => Ok(None),
            Some(item) => {
                let item: ResourceItem = serde_dynamo::from_item(item)
                    .map_err(|e| StoreError::Internal(format!("deserialise: {e}")))?;
                Self::to_stored(item).map(Some)
            }
        }
    }

    /// Reads many resources by id (BatchGetItem, 100 keys a call), in id order.
    pub(crate) async fn get_many(
        &self,
        t: &str,
        kind: ResourceKind,
        ids: &[String],
    ) -> StoreResult<Vec<Stored>> {
        let mut out = Vec::new();
        let unique: BTreeSet<&String> = ids.iter().collect();
        let unique: Vec<&String> = unique.into_iter().collect();
        for chunk in unique.chunks(100) {
            let mut keys: Vec<HashMap<String, AttributeValue>> = chunk
                .iter()
                .map(|id| self.key(resource_pk(t, kind), (*id).clone()))
                .collect();
            let mut attempt = 0;
            while !keys.is_empty() {
                inc(&self.calls.batch_get_item);
                let ka = KeysAndAttributes::builder()
                    .set_keys(Some(keys.clone()))
                    .consistent_read(true)
                    .build()
                    .map_err(|e| StoreError::Internal(e.to_string()))?;
                let resp = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, ka)
                    .send()
                    .await
                    .map_err(|e| internal("BatchGetItem", e))?;
                if let Some(items) = resp.responses.and_then(|mut r| r.remove(&self.table)) {
                    for item in items {
                        let item: ResourceItem = serde_dynamo::from_item(item)
                            .map_err(|e| StoreError::Internal(format!("deserialise: {e}")))?;
                        out.push(Self::to_stored(item)?);
                    }
                }
                keys = resp
                    .unprocessed_keys
                    .and_then(|mut u| u.remove(&self.table))
                    .map(|k| k.keys)
                    .unwrap_or_default();
                if !keys.is_empty() {
                    attempt += 1;
                    if attempt > 8 {
                        return Err(StoreError::Busy);
                    }
                    backoff(attempt).await;
                }
            }
        }
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    /// Queries one partition fully (paged, at most `limit` items), returning whole items.
    async fn query_keys(
        &self,
        pk: &str,
        limit: usize,
    ) -> StoreResult<Vec<HashMap<String, AttributeValue>>> {
        let mut out = Vec::new();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            inc(&self.calls.query);
            let resp = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", s(pk))
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .limit((limit.saturating_sub(out.len()).clamp(1, 1000)) as i32)
                .send()
                .await
                .map_err(|e| internal("Query", e))?;
            out.extend(resp.items.unwrap_or_default());
            match resp.last_evaluated_key {
                Some(k) if out.len() < limit => start = Some(k),
                _ => return Ok(out),
            }
        }
    }

    /// The ids an index entry points to.
    pub(crate) async fn lookup(
        &self,
        t: &str,
        kind: ResourceKind,
        key: &IndexKey,
    ) -> StoreResult<Vec<String>> {
        let pk = match (kind, key) {
            (_, IndexKey::Id(id)) => return Ok(vec![id.clone()]),
            (ResourceKind::User, IndexKey::UserName(u)) => format!("{t}#UN#{}", folded(u)),
            (ResourceKind::User, IndexKey::ExternalId(x)) => format!("{t}#UX#{}", key_part(x)),
            (ResourceKind::User, IndexKey::EmailValue(e)) => format!("{t}#UE#{}", folded(e)),
            (ResourceKind::Group, IndexKey::DisplayName(d)) => format!("{t}#GN#{}", folded(d)),
            (ResourceKind::Group, IndexKey::ExternalId(x)) => format!("{t}#GX#{}", key_part(x)),
            (ResourceKind::Group, IndexKey::MemberValue(m)) => {
                return self.groups_of_inner(t, m).await;
            }
            _ => return Ok(Vec::new()),
        };
        let items = self.query_keys(&pk, MAX_SCAN_ITEMS).await?;
        Ok(items
            .into_iter()
            .filter_map(|mut i| match (i.remove("id"), i.remove("sk")) {
                (Some(AttributeValue::S(id)), _) => Some(id),
                (_, Some(AttributeValue::S(sk))) if sk != "~" => Some(sk),
                _ => None,
            })
            .collect())
    }

    /// The audit records of one resource (its own writes, `rec = "audit"`, and those of
    /// other jobs, `"audit-ext"`), oldest first, without their keys. For `scim-admin audit`.
    pub async fn audit_trail(&self, t: &str, id: &str) -> StoreResult<Vec<serde_json::Value>> {
        self.query_keys(&format!("{t}#A#{id}"), usize::MAX)
            .await?
            .into_iter()
            .map(|item| {
                let mut v: serde_json::Value = serde_dynamo::from_item(item)
                    .map_err(|e| StoreError::Internal(e.to_string()))?;
                if let Some(o) = v.as_object_mut() {
                    o.remove("pk");
                    o.remove("sk");
                }
                Ok(v)
            })
            .collect()
    }

    pub(crate) async fn groups_of_inner(&self, t: &str, member: &str) -> StoreResult<Vec<String>> {
        let mut out = Vec::new();
        let mut start = None;
        loop {
            inc(&self.calls.query);
            inc(&self.calls.query_index);
            let resp = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(MEMBERSHIPS_BY_USER)
                .key_condition_expression("gpk = :g")
                .expression_attribute_values(":g", s(membership_gpk(t, member)))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| internal("Query", e))?;
            for item in resp.items.unwrap_or_default() {
                if let Some(AttributeValue::S(g)) = item.get("gsk") {
                    out.push(g.clone());
                }
            }
            match resp.last_evaluated_key {
                Some(k) => start = Some(k),
                None => return Ok(out),
            }
        }
    }

    async fn is_member(&self, t: &str, group: &str, member: &str) -> StoreResult<bool> {
        inc(&self.calls.get_item);
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(self.key(membership_pk(t, group), member.to_string())))
            .consistent_read(true)
            .projection_expression("pk")
            .send()
            .await
            .map_err(|e| internal("GetItem", e))?;
        Ok(out.item.is_some())
    }

    /// The number of resources of a kind, and its *generation*: a count of the writes that
    /// insert or remove items before the end of the id order (deletes and restores). A page
    /// memo is trusted only while the generation it was written under holds. One Query.
    async fn total(&self, t: &str, kind: ResourceKind) -> StoreResult<(u64, i64)> {
        let items = self.query_keys(&format!("{t}#C"), 1000).await?;
        let count_prefix = format!("{}#", kind_code(kind));
        let gen_prefix = format!("{}X#", kind_code(kind));
        let (mut total, mut generation) = (0i64, 0i64);
        for i in items {
            let (Some(AttributeValue::S(sk)), Some(AttributeValue::N(v))) =
                (i.get("sk"), i.get("n"))
            else {
                continue;
            };
            let v = v.parse::<i64>().unwrap_or(0);
            if sk.starts_with(&count_prefix) {
                total += v;
            } else if sk.starts_with(&gen_prefix) {
                generation += v;
            }
        }
        Ok((total.max(0) as u64, generation))
    }

    /// The number of users and of groups: one Query of the counter shards.
    pub(crate) async fn totals(&self, t: &str) -> StoreResult<(u64, u64)> {
        let items = self.query_keys(&format!("{t}#C"), 1000).await?;
        let (mut users, mut groups) = (0i64, 0i64);
        for i in items {
            let (Some(AttributeValue::S(sk)), Some(AttributeValue::N(v))) =
                (i.get("sk"), i.get("n"))
            else {
                continue;
            };
            let v = v.parse::<i64>().unwrap_or(0);
            if sk.starts_with("U#") {
                users += v;
            } else if sk.starts_with("G#") {
                groups += v;
            }
        }
        Ok((users.max(0) as u64, groups.max(0) as u64))
    }

    /// Adds `delta` to the kind's count; a delete or restore also bumps the generation
    /// (same counter shard item family, so still one action).
    fn counter_update(
        &self,
        t: &str,
        kind: ResourceKind,
        delta: i64,
    ) -> StoreResult<TransactWriteItem> {
        self.shard_add(t, &format!("{}#", kind_code(kind)), delta)
    }

    fn generation_bump(&self, t: &str, kind: ResourceKind) -> StoreResult<TransactWriteItem> {
        self.shard_add(t, &format!("{}X#", kind_code(kind)), 1)
    }

    fn shard_add(&self, t: &str, prefix: &str, delta: i64) -> StoreResult<TransactWriteItem> {
        let shard = fastrand::u32(0..COUNTER_SHARDS);
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(self.key(format!("{t}#C"), format!("{prefix}{shard}"))))
            .update_expression("ADD n :d")
            .expression_attribute_values(":d", n(delta))
            .build()
            .map_err(|e| StoreError::Internal(e.to_string()))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    fn put(
        &self,
        item: HashMap<String, AttributeValue>,
        condition: Option<(&str, Vec<(&str, AttributeValue)>)>,
    ) -> StoreResult<TransactWriteItem> {
        let mut b = Put::builder().table_name(&self.table).set_item(Some(item));
        if let Some((expr, values)) = condition {
            b = b.condition_expression(expr);
            for (k, v) in values {
                b = b.expression_attribute_values(k, v);
            }
        }
        let put = b.build().map_err(|e| StoreError::Internal(e.to_string()))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// A uniqueness guard owned by `id`: new, or already ours (idempotent rewrite). A
    /// failure returns the holder's item so a re-add can find who holds the value.
    fn guard_put(
        &self,
        pk: String,
        id: &str,
        attribute: &'static str,
    ) -> StoreResult<(TransactWriteItem, Slot)> {
        let mut item = self.key(pk.clone(), "~".into());
        item.insert("id".into(), s(id));
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk) OR id = :id")
            .expression_attribute_values(":id", s(id))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(|e| StoreError::Internal(e.to_string()))?;
        Ok((
            TransactWriteItem::builder().put(put).build(),
            Slot::Unique(attribute, pk),
        ))
    }

    /// Checks that no inactive or deleted user holds this primary email.
    fn inactive_email_check(&self, t: &str, email: &str) -> StoreResult<(TransactWriteItem, Slot)> {
        let pk = inactive_email_pk(t, email);
        let check = ConditionCheck::builder()
            .table_name(&self.table)
            .set_key(Some(self.key(pk.clone(), "~".into())))
            .condition_expression("attribute_not_exists(pk)")
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(|e| StoreError::Internal(e.to_string()))?;
        Ok((
            TransactWriteItem::builder().condition_check(check).build(),
            Slot::Unique("emails", pk),
        ))
    }

    /// Records that the inactive user `id` holds `email` (the latest one wins).
    fn inactive_email_put(
        &self,
        t: &str,
        email: &str,
        id: &str,
        expires: i64,
    ) -> StoreResult<(TransactWriteItem, Slot)> {
        let mut item = self.key(inactive_email_pk(t, email), "~".into());
        item.insert("id".into(), s(id));
        item.insert("expiresAt".into(), n(expires));
        Ok((self.put(item, None)?, Slot::Other))
    }

    async fn guard_holder(&self, pk: &str) -> StoreResult<Option<String>> {
        inc(&self.calls.get_item);
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(self.key(pk.to_string(), "~".into())))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| internal("GetItem", e))?;
        Ok(out.item.and_then(|mut i| match i.remove("id") {
            Some(AttributeValue::S(id)) => Some(id),
            _ => None,
        }))
    }

    fn audit_action(
        &self,
        t: &str,
        kind: ResourceKind,
        r: &Stored,
        audit: &Audit,
        members: &MemberChanges,
    ) -> StoreResult<(TransactWriteItem, Slot)> {
        let item = AuditItem {
            pk: format!("{t}#A#{}", r.id),
            sk: format!("{}#{}", audit.at, audit.request_id),
            rec: "audit".into(),
            tenant: t.to_string(),
            event: audit.event.clone(),
            resource_type: kind.name().to_string(),
            rid: r.id.clone(),
            external_id: resource::str_attr(&r.doc, "externalId").map(str::to_string),
            changed: audit.changed.clone(),
            members_added: members.added.iter().map(|m| m.value.clone()).collect(),
            members_removed: members.removed.clone(),
            token: audit.token_id.clone(),
            req: audit.request_id.clone(),
            at: audit.at.clone(),
            expires_at: epoch_secs() + self.retention.audit_secs,
            apk: format!("{t}#A"),
            ask: format!("{}#{}#{}", audit.at, r.id, audit.request_id),
        };
        let item = serde_dynamo::to_item(item).map_err(|e| StoreError::Internal(e.to_string()))?;
        Ok((self.put(item, None)?, Slot::Other))
    }

    /// The guards and index entries of a document as actions, except those in `skip`.
    fn entry_puts(
        &self,
        t: &str,
        kind: ResourceKind,
        r: &Stored,
        skip: &[(String, String, Option<&'static str>)],
    ) -> StoreResult<Vec<(TransactWriteItem, Slot)>> {
        let mut out = Vec::new();
        for (pk, sk, unique) in index_entries(t, kind, &r.id, &r.doc) {
            if skip.iter().any(|(p, s2, _)| *p == pk && *s2 == sk) {
                continue;
            }
            match unique {
                Some(attr) => out.push(self.guard_put(pk, &r.id, attr)?),
                None => {
                    let mut item = self.key(pk, sk);
                    item.insert("id".into(), s(&r.id));
                    out.push((self.put(item, None)?, Slot::Other));
                }
            }
        }
        Ok(out)
    }

    fn delete_action(
        &self,
        pk: String,
        sk: String,
        condition: Option<(&str, Vec<(&str, AttributeValue)>)>,
    ) -> StoreResult<TransactWriteItem> {
        let mut b = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(self.key(pk, sk)));
        if let Some((expr, values)) = condition {
            b = b.condition_expression(expr);
            for (k, v) in values {
                b = b.expression_attribute_values(k, v);
            }
        }
        let d = b.build().map_err(|e| StoreError::Internal(e.to_string()))?;
        Ok(TransactWriteItem::builder().delete(d).build())
    }

    fn member_actions(
        &self,
        t: &str,
        group: &str,
        m: &Member,
    ) -> StoreResult<[(TransactWriteItem, Slot); 2]> {
        let member_kind = if m
            .type_
            .as_deref()
            .is_some_and(|k| k.eq_ignore_ascii_case("Group"))
        {
            ResourceKind::Group
        } else {
            ResourceKind::User
        };
        let check = ConditionCheck::builder()
            .table_name(&self.table)
            .set_key(Some(self.key(resource_pk(t, member_kind), m.value.clone())))
            .condition_expression("attribute_exists(pk)")
            .build()
            .map_err(|e| StoreError::Internal(e.to_string()))?;
        let item = MembershipItem {
            pk: membership_pk(t, group),
            sk: m.value.clone(),
            gpk: membership_gpk(t, &m.value),
            gsk: group.to_string(),
            type_: m.type_.clone(),
            display: m.display.clone(),
        };
        let item = serde_dynamo::to_item(item).map_err(|e| StoreError::Internal(e.to_string()))?;
        Ok([
            (
                TransactWriteItem::builder().condition_check(check).build(),
                Slot::Member(m.value.clone()),
            ),
            (self.put(item, None)?, Slot::Other),
        ])
    }

    /// Runs one transaction, retrying conflicts; explains a cancellation by its slot.
    async fn transact(&self, actions: Vec<(TransactWriteItem, Slot)>) -> StoreResult<()> {
        if actions.is_empty() {
            return Ok(());
        }
        let (items, slots): (Vec<_>, Vec<_>) = actions.into_iter().unzip();
        for attempt in 0..10u32 {
            inc(&self.calls.transact_write_items);
            let result = self
                .client
                .transact_write_items()
                .set_transact_items(Some(items.clone()))
                .send()
                .await;
            let err = match result {
                Ok(_) => return Ok(()),
                Err(e) => e,
            };
            let retry = match err.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(c)) => {
                    let reasons = c.cancellation_reasons();
                    if let Some(i) = reasons
                        .iter()
                        .position(|r| r.code() == Some("ConditionalCheckFailed"))
                    {
                        return Err(match slots.get(i) {
                            Some(Slot::Resource) => StoreError::VersionMismatch,
                            Some(Slot::Unique(attribute, pk)) => {
                                let from_reason = reasons[i]
                                    .item()
                                    .and_then(|item| item.get("id"))
                                    .and_then(|v| v.as_s().ok())
                                    .cloned();
                                let holder = match from_reason {
                                    Some(h) => Some(h),
                                    None => self.guard_holder(pk).await?,
                                };
                                StoreError::Uniqueness { attribute, holder }
                            }
                            Some(Slot::Member(id)) => StoreError::MissingMember(id.clone()),
                            _ => StoreError::Internal("unexpected condition failure".into()),
                        });
                    }
                    reasons.iter().any(|r| {
                        matches!(
                            r.code(),
                            Some(
                                "TransactionConflict"
                                    | "ThrottlingError"
                                    | "ProvisionedThroughputExceeded"
                            )
                        )
                    })
                }
                Some(TransactWriteItemsError::TransactionInProgressException(_)) => true,
                Some(TransactWriteItemsError::ProvisionedThroughputExceededException(_))
                | Some(TransactWriteItemsError::ThrottlingException(_))
                | Some(TransactWriteItemsError::RequestLimitExceeded(_)) => true,
                _ => false,
            };
            if !retry {
                return Err(internal("TransactWriteItems", err));
            }
            tracing::debug!(attempt, "transaction conflict; retrying");
            backoff(attempt).await;
        }
        Err(StoreError::Busy)
    }

    /// Runs the first chunk (holding the resource write) and then the rest. Later chunks
    /// hold only idempotent membership actions; members are checked up front when there
    /// is more than one chunk, so a missing member cannot leave half a write behind.
    async fn transact_chunked(
        &self,
        t: &str,
        head: Vec<(TransactWriteItem, Slot)>,
        member_pairs: Vec<[(TransactWriteItem, Slot); 2]>,
        removals: Vec<(TransactWriteItem, Slot)>,
        added: &[Member],
    ) -> StoreResult<()> {
        let total = head.len() + member_pairs.len() * 2 + removals.len();
        if total > MAX_TRANSACTION_ITEMS {
            self.check_members_exist(t, added).await?;
        }
        let mut chunks: Vec<Vec<(TransactWriteItem, Slot)>> = vec![head];
        for pair in member_pairs {
            let fits = chunks
                .last()
                .is_some_and(|c| c.len() + 2 <= MAX_TRANSACTION_ITEMS);
            if !fits {
                chunks.push(Vec::new());
            }
            if let Some(c) = chunks.last_mut() {
                c.extend(pair);
            }
        }
        for r in removals {
            let fits = chunks
                .last()
                .is_some_and(|c| c.len() < MAX_TRANSACTION_ITEMS);
            if !fits {
                chunks.push(Vec::new());
            }
            if let Some(c) = chunks.last_mut() {
                c.push(r);
            }
        }
        for chunk in chunks {
            self.transact(chunk).await?;
        }
        Ok(())
    }

    async fn check_members_exist(&self, t: &str, members: &[Member]) -> StoreResult<()> {
        for kind in [ResourceKind::User, ResourceKind::Group] {
            let ids: Vec<String> = members
                .iter()
                .filter(|m| {
                    let is_group = m
                        .type_
                        .as_deref()
                        .is_some_and(|k| k.eq_ignore_ascii_case("Group"));
                    is_group == (kind == ResourceKind::Group)
                })
                .map(|m| m.value.clone())
                .collect();
            if ids.is_empty() {
                continue;
            }
            let found: BTreeSet<String> = self
                .get_many(t, kind, &ids)
                .await?
                .into_iter()
                .map(|r| r.id)
                .collect();
            if let Some(missing) = ids.into_iter().find(|id| !found.contains(id)) {
                return Err(StoreError::MissingMember(missing));
            }
        }
        Ok(())
    }

    /// Deletes items by key with BatchWriteItem (25 a call), retrying unprocessed ones.
    async fn batch_delete(&self, keys: Vec<HashMap<String, AttributeValue>>) -> StoreResult<()> {
        for chunk in keys.chunks(25) {
            let mut requests: Vec<WriteRequest> = chunk
                .iter()
                .map(|k| {
                    DeleteRequest::builder()
                        .set_key(Some(k.clone()))
                        .build()
                        .map(|d| WriteRequest::builder().delete_request(d).build())
                        .map_err(|e| StoreError::Internal(e.to_string()))
                })
                .collect::<StoreResult<_>>()?;
            let mut attempt = 0;
            while !requests.is_empty() {
                inc(&self.calls.batch_write_item);
                let resp = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, requests.clone())
                    .send()
                    .await
                    .map_err(|e| internal("BatchWriteItem", e))?;
                requests = resp
                    .unprocessed_items
                    .and_then(|mut u| u.remove(&self.table))
                    .unwrap_or_default();
                if !requests.is_empty() {
                    attempt += 1;
                    if attempt > 8 {
                        return Err(StoreError::Busy);
                    }
                    backoff(attempt).await;
                }
            }
        }
        Ok(())
    }

    /// Deletes every membership of a group except those in `keep`.
    async fn clear_members(&self, t: &str, group: &str, keep: &BTreeSet<&str>) -> StoreResult<()> {
        let items = self
            .query_keys(&membership_pk(t, group), usize::MAX)
            .await?;
        let keys = items
            .into_iter()
            .filter(|i| !matches!(i.get("sk"), Some(AttributeValue::S(sk)) if keep.contains(sk.as_str())))
            .filter_map(|i| Some(self.key(i.get("pk")?.as_s().ok()?.clone(), i.get("sk")?.as_s().ok()?.clone())))
            .collect();
        self.batch_delete(keys).await
    }

    /// Deletes every membership of a member (user or group) through the reverse index.
    async fn remove_from_all_groups(&self, t: &str, member: &str) -> StoreResult<()> {
        let groups = self.groups_of_inner(t, member).await?;
        let keys = groups
            .into_iter()
            .map(|g| self.key(membership_pk(t, &g), member.to_string()))
            .collect();
        self.batch_delete(keys).await
    }

    fn page_memo_key(
        &self,
        t: &str,
        kind: ResourceKind,
        filter_hash: &str,
        start_index: u64,
    ) -> HashMap<String, AttributeValue> {
        self.key(
            format!("{t}#P"),
            format!("{}#{filter_hash}#{start_index}", kind_code(kind)),
        )
    }

    /// The id after which page `start_index` begins, if remembered under `generation`.
    async fn read_memo(
        &self,
        t: &str,
        kind: ResourceKind,
        fh: &str,
        start_index: u64,
        generation: i64,
    ) -> StoreResult<Option<String>> {
        inc(&self.calls.get_item);
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(self.page_memo_key(t, kind, fh, start_index)))
            .send()
            .await
            .map_err(|e| internal("GetItem", e))?;
        let Some(mut item) = out.item else {
            return Ok(None);
        };
        let same_generation = matches!(item.get("gen"), Some(AttributeValue::N(g)) if g.parse::<i64>().ok() == Some(generation));
        match (same_generation, item.remove("after")) {
            (true, Some(AttributeValue::S(a))) => Ok(Some(a)),
            _ => Ok(None),
        }
    }

    async fn write_memo(
        &self,
        t: &str,
        kind: ResourceKind,
        fh: &str,
        start_index: u64,
        after: &str,
        generation: i64,
    ) -> StoreResult<()> {
        let mut item = self.page_memo_key(t, kind, fh, start_index);
        item.insert("after".into(), s(after));
        item.insert("gen".into(), n(generation));
        item.insert("expiresAt".into(), n(epoch_secs() + PAGE_MEMO_TTL_SECS));
        inc(&self.calls.put_item);
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| internal("PutItem", e))?;
        Ok(())
    }

    /// Reads up to `count` resources of the partition after `after` (exclusive).
    async fn page_after(
        &self,
        t: &str,
        kind: ResourceKind,
        after: Option<&str>,
        count: usize,
    ) -> StoreResult<(Vec<Stored>, bool)> {
        let mut out = Vec::new();
        let pk = resource_pk(t, kind);
        let mut start = after.map(|a| self.key(pk.clone(), a.to_string()));
        loop {
            inc(&self.calls.query);
            let resp = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", s(&pk))
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .limit((count - out.len()).max(1) as i32)
                .send()
                .await
                .map_err(|e| internal("Query", e))?;
            for item in resp.items.unwrap_or_default() {
                let item: ResourceItem = serde_dynamo::from_item(item)
                    .map_err(|e| StoreError::Internal(format!("deserialise: {e}")))?;
                out.push(Self::to_stored(item)?);
            }
            match resp.last_evaluated_key {
                Some(k) if out.len() < count => start = Some(k),
                Some(_) => return Ok((out, true)),
                None => return Ok((out, false)),
            }
        }
    }

    /// The id after which item number `start_index` (1-based) begins, by walking keys only.
    async fn skip_keys(
        &self,
        t: &str,
        kind: ResourceKind,
        skip: u64,
    ) -> StoreResult<Option<String>> {
        if skip == 0 {
            return Ok(None);
        }
        let pk = resource_pk(t, kind);
        let mut seen = 0u64;
        let mut start = None;
        let mut last = None;
        loop {
            inc(&self.calls.query);
            let resp = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", s(&pk))
                .projection_expression("sk")
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .limit((skip - seen).min(1000) as i32)
                .send()
                .await
                .map_err(|e| internal("Query", e))?;
            for item in resp.items.unwrap_or_default() {
                if let Some(AttributeValue::S(sk)) = item.get("sk") {
                    last = Some(sk.clone());
                    seen += 1;
                }
            }
            match resp.last_evaluated_key {
                Some(k) if seen < skip => start = Some(k),
                _ => return Ok(last),
            }
        }
    }

    /// Lists without a filter: O(count) per page when paging forward.
    async fn list_all(
        &self,
        t: &str,
        kind: ResourceKind,
        req: &ListRequest<'_>,
    ) -> StoreResult<ListPage> {
        let (total, generation) = self.total(t, kind).await?;
        let count = req.count as usize;
        match req.paging {
            Paging::Cursor(cursor) => {
                let after = match cursor {
                    None => None,
                    Some(c) => Some(decode_cursor(c, "all")?),
                };
                if count == 0 {
                    return Ok(ListPage {
                        items: vec![],
                        total,
                        next_cursor: None,
                    });
                }
                let (items, more) = self.page_after(t, kind, after.as_deref(), count).await?;
                let next_cursor = match (more, items.last()) {
                    (true, Some(last)) => Some(encode_cursor("all", &last.id)),
                    _ => None,
                };
                Ok(ListPage {
                    items,
                    total,
                    next_cursor,
                })
            }
            Paging::Index { start_index } => {
                if count == 0 || *start_index > total.max(1) && total < *start_index {
                    return Ok(ListPage {
                        items: vec![],
                        total,
                        next_cursor: None,
                    });
                }
                let after = if *start_index == 1 {
                    None
                } else {
                    match self
                        .read_memo(t, kind, "all", *start_index, generation)
                        .await?
                    {
                        Some(a) => Some(a),
                        None => self.skip_keys(t, kind, start_index - 1).await?,
                    }
                };
                let (items, more) = self.page_after(t, kind, after.as_deref(), count).await?;
                if let (true, Some(last)) = (more, items.last()) {
                    self.write_memo(
                        t,
                        kind,
                        "all",
                        start_index + items.len() as u64,
                        &last.id,
                        generation,
                    )
                    .await?;
                }
                Ok(ListPage {
                    items,
                    total,
                    next_cursor: None,
                })
            }
        }
    }

    /// Lists with a filter: an index lookup when the plan has one, else a bounded walk
    /// over the tenant's own partition with the core's evaluator.
    async fn list_filtered(
        &self,
        t: &str,
        kind: ResourceKind,
        f: &filter::Filter,
        req: &ListRequest<'_>,
    ) -> StoreResult<ListPage> {
        let compiled =
            filter::compile(f, kind.def()).map_err(|e| StoreError::Internal(e.to_string()))?;
        let plan = filter::plan(f, kind);
        let matched: Vec<Stored> = if let Some(best) = best_lookup(&plan.lookups) {
            let ids = self.lookup(t, kind, best).await?;
            let candidates = match ids.as_slice() {
                [] => Vec::new(),
                [one] => self.get_resource(t, kind, one).await?.into_iter().collect(),
                many => self.get_many(t, kind, many).await?,
            };
            let residual = match &plan.residual {
                Some(r) => Some(
                    filter::compile(r, kind.def())
                        .map_err(|e| StoreError::Internal(e.to_string()))?,
                ),
                None => None,
            };
            let mut out = Vec::new();
            'candidates: for c in candidates {
                for other in &plan.lookups {
                    let ok = match other {
                        IndexKey::MemberValue(m) if kind == ResourceKind::Group => {
                            self.is_member(t, &c.id, m).await?
                        }
                        IndexKey::MemberValue(_) => false,
                        k => key_matches(k, &c),
                    };
                    if !ok {
                        continue 'candidates;
                    }
                }
                if residual
                    .as_ref()
                    .is_none_or(|r| matches_at(r, kind, &c.doc, req.now))
                {
                    out.push(c);
                }
            }
            out
        } else {
            let mut out = Vec::new();
            let mut after: Option<String> = None;
            let mut examined = 0usize;
            loop {
                let (items, more) = self.page_after(t, kind, after.as_deref(), 1000).await?;
                examined += items.len();
                after = items.last().map(|i| i.id.clone());
                out.extend(
                    items
                        .into_iter()
                        .filter(|i| matches_at(&compiled, kind, &i.doc, req.now)),
                );
                if !more {
                    break;
                }
                if examined >= MAX_SCAN_ITEMS {
                    return Err(StoreError::Internal(format!(
                        "filter examined more than {MAX_SCAN_ITEMS} items"
                    )));
                }
            }
            out
        };
        let total = matched.len() as u64;
        let count = req.count as usize;
        let fh = filter_hash(f);
        match req.paging {
            Paging::Index { start_index } => {
                let items = matched
                    .into_iter()
                    .skip((*start_index - 1) as usize)
                    .take(count)
                    .collect();
                Ok(ListPage {
                    items,
                    total,
                    next_cursor: None,
                })
            }
            Paging::Cursor(cursor) => {
                let after = match cursor {
                    None => None,
                    Some(c) => Some(decode_cursor(c, &fh)?),
                };
                let rest: Vec<Stored> = matched
                    .into_iter()
                    .filter(|m| after.as_deref().is_none_or(|a| m.id.as_str() > a))
                    .collect();
                let more = rest.len() > count;
                let items: Vec<Stored> = rest.into_iter().take(count).collect();
                let next_cursor = match (more, items.last()) {
                    (true, Some(l)) => Some(encode_cursor(&fh, &l.id)),
                    _ => None,
                };
                Ok(ListPage {
                    items,
                    total,
                    next_cursor,
                })
            }
        }
    }
}

/// Evaluates a filter on the document as reads see it at `now` (a passed end date reads
/// as inactive); clones only when the view differs.
fn matches_at(f: &filter::CompiledFilter, kind: ResourceKind, doc: &Doc, now: &str) -> bool {
    if kind == ResourceKind::User && resource::end_date_passed(doc, now) && resource::is_active(doc)
    {
        let mut view = doc.clone();
        resource::apply_end_date(&mut view, now);
        return f.matches(&view);
    }
    f.matches(doc)
}

/// The lookup that narrows most: id, then unique guards, then the rest.
fn best_lookup(lookups: &[IndexKey]) -> Option<&IndexKey> {
    let rank = |k: &IndexKey| match k {
        IndexKey::Id(_) => 0,
        IndexKey::UserName(_) => 1,
        IndexKey::ExternalId(_) => 2,
        IndexKey::EmailValue(_) => 3,
        IndexKey::DisplayName(_) => 4,
        IndexKey::MemberValue(_) => 5,
    };
    lookups.iter().min_by_key(|k| rank(k))
}

/// Re-checks an index clause on a candidate (the index is case-folded, the filter may not be).
fn key_matches(key: &IndexKey, c: &Stored) -> bool {
    match key {
        IndexKey::Id(id) => &c.id == id,
        IndexKey::UserName(u) => resource::str_attr(&c.doc, "userName")
            .is_some_and(|v| v.to_lowercase() == u.to_lowercase()),
        IndexKey::ExternalId(x) => resource::str_attr(&c.doc, "externalId") == Some(x.as_str()),
        IndexKey::EmailValue(e) => resource::email_values(&c.doc)
            .iter()
            .any(|v| v.to_lowercase() == e.to_lowercase()),
        IndexKey::DisplayName(d) => resource::str_attr(&c.doc, "displayName")
            .is_some_and(|v| v.to_lowercase() == d.to_lowercase()),
        IndexKey::MemberValue(_) => false,
    }
}

fn filter_hash(f: &filter::Filter) -> String {
    let d = Sha256::digest(f.to_string().as_bytes());
    d[..6].iter().map(|b| format!("{b:02x}")).collect()
}

fn encode_cursor(scope: &str, after: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{scope}|{after}"))
}

fn decode_cursor(cursor: &str, scope: &str) -> StoreResult<String> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor.trim())
        .map_err(|_| StoreError::InvalidCursor)?;
    let text = String::from_utf8(bytes).map_err(|_| StoreError::InvalidCursor)?;
    match text.split_once('|') {
        Some((sc, after)) if sc == scope && !after.is_empty() && after.len() <= 64 => {
            Ok(after.to_string())
        }
        _ => Err(StoreError::InvalidCursor),
    }
}

impl Store for DynamoStore {
    async fn get(&self, tenant: &str, kind: ResourceKind, id: &str) -> StoreResult<Option<Stored>> {
        self.get_resource(tenant, kind, id).await
    }

    async fn members(
        &self,
        tenant: &str,
        group_id: &str,
        limit: usize,
    ) -> StoreResult<Option<Vec<Member>>> {
        let items = self
            .query_keys(&membership_pk(tenant, group_id), limit.saturating_add(1))
            .await?;
        if items.len() > limit {
            return Ok(None);
        }
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            let m: MembershipItem =
                serde_dynamo::from_item(item).map_err(|e| StoreError::Internal(e.to_string()))?;
            out.push(Member {
                value: m.sk,
                type_: m.type_,
                display: m.display,
            });
        }
        Ok(Some(out))
    }

    async fn groups_of(&self, tenant: &str, user_id: &str) -> StoreResult<Vec<String>> {
        self.groups_of_inner(tenant, user_id).await
    }

    async fn list(
        &self,
        tenant: &str,
        kind: ResourceKind,
        request: &ListRequest<'_>,
    ) -> StoreResult<ListPage> {
        match request.filter {
            None => self.list_all(tenant, kind, request).await,
            Some(f) => self.list_filtered(tenant, kind, f, request).await,
        }
    }

    async fn create(
        &self,
        t: &str,
        kind: ResourceKind,
        r: &Stored,
        members: &[Member],
        audit: &Audit,
    ) -> StoreResult<()> {
        let mut head = vec![(
            self.put(
                Self::resource_item(t, kind, r)?,
                Some(("attribute_not_exists(pk)", vec![])),
            )?,
            Slot::Resource,
        )];
        head.extend(self.entry_puts(t, kind, r, &[])?);
        if kind == ResourceKind::User {
            if let Some(email) = resource::primary_email(&r.doc) {
                head.push(self.inactive_email_check(t, email)?);
            }
        }
        head.push((self.counter_update(t, kind, 1)?, Slot::Other));
        let changes = MemberChanges {
            replace_all: false,
            added: members.to_vec(),
            removed: Vec::new(),
        };
        head.push(self.audit_action(t, kind, r, audit, &changes)?);
        let pairs = members
            .iter()
            .map(|m| self.member_actions(t, &r.id, m))
            .collect::<StoreResult<Vec<_>>>()?;
        self.transact_chunked(t, head, pairs, Vec::new(), members)
            .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn update(
        &self,
        t: &str,
        kind: ResourceKind,
        before: &Stored,
        after: &Stored,
        members: &MemberChanges,
        guard: Guard,
        audit: &Audit,
    ) -> StoreResult<()> {
        let mut head = Vec::new();
        match guard {
            Guard::Version(v) => head.push((
                self.put(
                    Self::resource_item(t, kind, after)?,
                    Some(("v = :v", vec![(":v", n(v))])),
                )?,
                Slot::Resource,
            )),
            Guard::Exists => {
                let update = Update::builder()
                    .table_name(&self.table)
                    .set_key(Some(self.key(resource_pk(t, kind), before.id.clone())))
                    .update_expression("SET modified = :m ADD v :one")
                    .condition_expression("attribute_exists(pk)")
                    .expression_attribute_values(":m", s(&after.meta.last_modified))
                    .expression_attribute_values(":one", n(1))
                    .build()
                    .map_err(|e| StoreError::Internal(e.to_string()))?;
                head.push((
                    TransactWriteItem::builder().update(update).build(),
                    Slot::Resource,
                ));
            }
        }
        let old = index_entries(t, kind, &before.id, &before.doc);
        let new = index_entries(t, kind, &after.id, &after.doc);
        for (pk, sk, unique) in &old {
            if !new.iter().any(|(p, s2, _)| p == pk && s2 == sk) {
                let cond = unique.map(|_| ("id = :id", vec![(":id", s(&before.id))]));
                head.push((
                    self.delete_action(pk.clone(), sk.clone(), cond)?,
                    Slot::Other,
                ));
            }
        }
        head.extend(self.entry_puts(t, kind, after, &old)?);
        // A user who becomes inactive holds their primary email for a later re-add.
        if kind == ResourceKind::User && !resource::is_active(&after.doc) {
            let became_inactive = resource::is_active(&before.doc)
                || resource::primary_email(&before.doc) != resource::primary_email(&after.doc);
            if let (true, Some(email)) = (became_inactive, resource::primary_email(&after.doc)) {
                let expires = epoch_secs() + self.retention.tombstone_secs;
                head.push(self.inactive_email_put(t, email, &after.id, expires)?);
            }
        }
        head.push(self.audit_action(t, kind, after, audit, members)?);
        let added_ids: BTreeSet<&str> = members.added.iter().map(|m| m.value.as_str()).collect();
        let pairs = members
            .added
            .iter()
            .map(|m| self.member_actions(t, &after.id, m))
            .collect::<StoreResult<Vec<_>>>()?;
        let removals = if members.replace_all {
            Vec::new()
        } else {
            members
                .removed
                .iter()
                .filter(|id| !added_ids.contains(id.as_str()))
                .collect::<BTreeSet<_>>()
                .into_iter()
                .map(|id| {
                    self.delete_action(membership_pk(t, &after.id), id.clone(), None)
                        .map(|a| (a, Slot::Other))
                })
                .collect::<StoreResult<Vec<_>>>()?
        };
        self.transact_chunked(t, head, pairs, removals, &members.added)
            .await?;
        if members.replace_all && kind == ResourceKind::Group {
            self.clear_members(t, &after.id, &added_ids).await?;
        }
        Ok(())
    }

    async fn delete(
        &self,
        t: &str,
        kind: ResourceKind,
        before: &Stored,
        audit: &Audit,
    ) -> StoreResult<()> {
        let mut actions = vec![(
            self.delete_action(
                resource_pk(t, kind),
                before.id.clone(),
                Some(("v = :v", vec![(":v", n(before.meta.version))])),
            )?,
            Slot::Resource,
        )];
        if kind == ResourceKind::User {
            // The tombstone keeps the user (hidden from every read), their guards (now
            // expiring) and their groups, so the same person re-added gets them back.
            let expires = epoch_secs() + self.retention.tombstone_secs;
            let groups = self.groups_of_inner(t, &before.id).await?;
            let tomb = TombstoneItem {
                pk: tombstone_pk(t),
                sk: before.id.clone(),
                doc: serde_json::Value::Object(before.doc.clone()),
                v: before.meta.version,
                created: before.meta.created.clone(),
                modified: audit.at.clone(),
                pw: before.password_hash.clone(),
                groups,
                deleted_at: audit.at.clone(),
                expires_at: expires,
            };
            let tomb =
                serde_dynamo::to_item(tomb).map_err(|e| StoreError::Internal(e.to_string()))?;
            actions.push((self.put(tomb, None)?, Slot::Other));
            for (pk, sk, unique) in index_entries(t, kind, &before.id, &before.doc) {
                match unique {
                    Some(_) => {
                        let update = Update::builder()
                            .table_name(&self.table)
                            .set_key(Some(self.key(pk, sk)))
                            .update_expression("SET expiresAt = :e")
                            .condition_expression("id = :id")
                            .expression_attribute_values(":e", n(expires))
                            .expression_attribute_values(":id", s(&before.id))
                            .build()
                            .map_err(|e| StoreError::Internal(e.to_string()))?;
                        actions.push((
                            TransactWriteItem::builder().update(update).build(),
                            Slot::Other,
                        ));
                    }
                    None => actions.push((self.delete_action(pk, sk, None)?, Slot::Other)),
                }
            }
            if let Some(email) = resource::primary_email(&before.doc) {
                actions.push(self.inactive_email_put(t, email, &before.id, expires)?);
            }
        } else {
            for (pk, sk, unique) in index_entries(t, kind, &before.id, &before.doc) {
                let cond = unique.map(|_| ("id = :id", vec![(":id", s(&before.id))]));
                actions.push((self.delete_action(pk, sk, cond)?, Slot::Other));
            }
        }
        actions.push((self.counter_update(t, kind, -1)?, Slot::Other));
        actions.push((self.generation_bump(t, kind)?, Slot::Other));
        actions.push(self.audit_action(t, kind, before, audit, &MemberChanges::default())?);
        self.transact(actions).await?;
        // Memberships go after the resource: a concurrent add checks that the member exists.
        self.remove_from_all_groups(t, &before.id).await?;
        if kind == ResourceKind::Group {
            self.clear_members(t, &before.id, &BTreeSet::new()).await?;
        }
        Ok(())
    }

    async fn tombstone(&self, t: &str, id: &str) -> StoreResult<Option<Tombstone>> {
        inc(&self.calls.get_item);
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(self.key(tombstone_pk(t), id.to_string())))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| internal("GetItem", e))?;
        let Some(item) = out.item else {
            return Ok(None);
        };
        let item: TombstoneItem = serde_dynamo::from_item(item)
            .map_err(|e| StoreError::Internal(format!("deserialise: {e}")))?;
        // TTL deletes lazily; an expired tombstone is already gone for us.
        if item.expires_at <= epoch_secs() {
            return Ok(None);
        }
        let doc = match item.doc {
            serde_json::Value::Object(m) => m,
            _ => {
                return Err(StoreError::Internal(
                    "tombstone doc is not an object".into(),
                ))
            }
        };
        Ok(Some(Tombstone {
            user: Stored {
                id: item.sk,
                doc,
                meta: Meta {
                    created: item.created,
                    last_modified: item.modified,
                    version: item.v,
                },
                password_hash: item.pw,
            },
            groups: item.groups,
        }))
    }

    async fn restore(
        &self,
        t: &str,
        tombstone: &Tombstone,
        after: &Stored,
        audit: &Audit,
    ) -> StoreResult<()> {
        let kind = ResourceKind::User;
        let before = &tombstone.user;
        let mut head = vec![
            (
                self.delete_action(
                    tombstone_pk(t),
                    before.id.clone(),
                    Some(("attribute_exists(pk)", vec![])),
                )?,
                Slot::Resource,
            ),
            (
                self.put(
                    Self::resource_item(t, kind, after)?,
                    Some(("attribute_not_exists(pk)", vec![])),
                )?,
                Slot::Resource,
            ),
        ];
        let old = index_entries(t, kind, &before.id, &before.doc);
        let new = index_entries(t, kind, &after.id, &after.doc);
        for (pk, sk, unique) in &old {
            let kept = new.iter().any(|(p, s2, _)| p == pk && s2 == sk);
            if unique.is_some() && !kept {
                let cond = Some(("id = :id", vec![(":id", s(&before.id))]));
                head.push((
                    self.delete_action(pk.clone(), sk.clone(), cond)?,
                    Slot::Other,
                ));
            }
        }
        // Guards are rewritten (dropping the tombstone's expiry); index entries are new.
        head.extend(self.entry_puts(t, kind, after, &[])?);
        head.push((self.counter_update(t, kind, 1)?, Slot::Other));
        head.push((self.generation_bump(t, kind)?, Slot::Other));
        // The memberships of groups that still exist come back.
        let existing: Vec<Member> = if tombstone.groups.is_empty() {
            Vec::new()
        } else {
            self.get_many(t, ResourceKind::Group, &tombstone.groups)
                .await?
                .into_iter()
                .map(|g| Member {
                    value: g.id,
                    type_: Some("Group".into()),
                    display: None,
                })
                .collect()
        };
        head.push(self.audit_action(t, kind, after, audit, &MemberChanges::default())?);
        let mut pairs = Vec::new();
        for g in &existing {
            let item = MembershipItem {
                pk: membership_pk(t, &g.value),
                sk: after.id.clone(),
                gpk: membership_gpk(t, &after.id),
                gsk: g.value.clone(),
                type_: Some("User".into()),
                display: None,
            };
            let item =
                serde_dynamo::to_item(item).map_err(|e| StoreError::Internal(e.to_string()))?;
            let check = ConditionCheck::builder()
                .table_name(&self.table)
                .set_key(Some(
                    self.key(resource_pk(t, ResourceKind::Group), g.value.clone()),
                ))
                .condition_expression("attribute_exists(pk)")
                .build()
                .map_err(|e| StoreError::Internal(e.to_string()))?;
            pairs.push([
                (
                    TransactWriteItem::builder().condition_check(check).build(),
                    Slot::Member(g.value.clone()),
                ),
                (self.put(item, None)?, Slot::Other),
            ]);
        }
        self.transact_chunked(t, head, pairs, Vec::new(), &existing)
            .await
    }

    async fn clear_inactive_email(&self, t: &str, email: &str, holder: &str) -> StoreResult<()> {
        inc(&self.calls.delete_item);
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(self.key(inactive_email_pk(t, email), "~".into())))
            .condition_expression("id = :id")
            .expression_attribute_values(":id", s(holder))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // Someone else holds it now: nothing of ours to clear.
            Err(e) if format!("{e:?}").contains("ConditionalCheckFailed") => Ok(()),
            Err(e) => Err(internal("DeleteItem", e)),
        }
    }
}

/// Read and write request units consumed, summed over every call of a store built with
/// [`DynamoStore::with_capacity_accounting`]. For the cost model (`BENCHMARKS.md`); off
/// by default, so deployed functions never ask for `ReturnConsumedCapacity`.
#[derive(Debug, Default)]
pub struct Capacity {
    /// Thousandths of a unit (reads can be half units).
    read_milli: AtomicU64,
    write_milli: AtomicU64,
}

/// A snapshot of [`Capacity`], in request units.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct CapacityUnits {
    pub read: f64,
    pub write: f64,
}

impl Capacity {
    pub fn snapshot(&self) -> CapacityUnits {
        CapacityUnits {
            read: self.read_milli.load(Ordering::SeqCst) as f64 / 1000.0,
            write: self.write_milli.load(Ordering::SeqCst) as f64 / 1000.0,
        }
    }

    fn add(&self, c: &aws_sdk_dynamodb::types::ConsumedCapacity, write: bool) {
        let milli = |u: f64| (u * 1000.0).round() as u64;
        let (r, w) = match (c.read_capacity_units(), c.write_capacity_units()) {
            (None, None) => {
                let u = c.capacity_units().unwrap_or(0.0);
                if write {
                    (0.0, u)
                } else {
                    (u, 0.0)
                }
            }
            (r, w) => (r.unwrap_or(0.0), w.unwrap_or(0.0)),
        };
        self.read_milli.fetch_add(milli(r), Ordering::SeqCst);
        self.write_milli.fetch_add(milli(w), Ordering::SeqCst);
    }
}

impl CapacityUnits {
    /// The units consumed between `earlier` and `self`.
    pub fn since(&self, earlier: &CapacityUnits) -> CapacityUnits {
        CapacityUnits {
            read: self.read - earlier.read,
            write: self.write - earlier.write,
        }
    }
}

/// Sets `ReturnConsumedCapacity: TOTAL` on every data call and adds what comes back;
/// except for `TransactWriteItems`, whose units are computed from the request by
/// DynamoDB's published rule ([`transaction_write_units`]): DynamoDB Local reports 2.0
/// for a whole transaction however many items it writes (measured: five 100-byte Puts →
/// `CapacityUnits: 2.0`; DynamoDB charges 10).
#[derive(Debug)]
struct CapacityInterceptor(Arc<Capacity>);

/// The write units of the transaction being sent, carried from serialisation to the
/// response in the call's config bag.
#[derive(Debug, Clone, Copy)]
struct TransactionUnits(f64);

impl aws_smithy_types::config_bag::Storable for TransactionUnits {
    type Storer = aws_smithy_types::config_bag::StoreReplace<Self>;
}

/// DynamoDB's size of an item: attribute names plus values (numbers counted by their
/// digits, a close upper bound of DynamoDB's packed form), plus 3 bytes per list/map.
fn item_bytes(item: &HashMap<String, AttributeValue>) -> usize {
    fn value(v: &AttributeValue) -> usize {
        match v {
            AttributeValue::S(s) | AttributeValue::N(s) => s.len(),
            AttributeValue::B(b) => b.as_ref().len(),
            AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
            AttributeValue::Ss(v) | AttributeValue::Ns(v) => v.iter().map(String::len).sum(),
            AttributeValue::Bs(v) => v.iter().map(|b| b.as_ref().len()).sum(),
            AttributeValue::L(l) => 3 + l.iter().map(|v| 1 + value(v)).sum::<usize>(),
            AttributeValue::M(m) => 3 + item_bytes(m),
            _ => 0,
        }
    }
    item.iter().map(|(k, v)| k.len() + value(v)).sum()
}

/// Write request units of a `TransactWriteItems` call by DynamoDB's rule: two units
/// (prepare and commit) per item per started KB. A Put is sized from its item; an
/// Update from its key and new values, at least 1 KB (the stored item it rewrites is not
/// in the request; ours are under 1 KB except users, which are written by Put); a Delete
/// and a ConditionCheck as 1 KB (conservative: their item sizes are not in the request).
pub fn transaction_write_units(items: &[aws_sdk_dynamodb::types::TransactWriteItem]) -> f64 {
    let kb = |bytes: usize| bytes.div_ceil(1024).max(1) as f64;
    items
        .iter()
        .map(|t| {
            let size = if let Some(p) = t.put() {
                kb(item_bytes(p.item()))
            } else if let Some(u) = t.update() {
                let values = u.expression_attribute_values().map_or(0, item_bytes);
                kb(item_bytes(u.key()) + values)
            } else {
                1.0
            };
            2.0 * size
        })
        .sum()
}

impl aws_sdk_dynamodb::config::Intercept for CapacityInterceptor {
    fn name(&self) -> &'static str {
        "CapacityAccounting"
    }

    fn modify_before_serialization(
        &self,
        ctx: &mut aws_sdk_dynamodb::config::interceptors::BeforeSerializationInterceptorContextMut<
            '_,
        >,
        _rc: &aws_sdk_dynamodb::config::RuntimeComponents,
        _cfg: &mut aws_sdk_dynamodb::config::ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        use aws_sdk_dynamodb::operation as op;
        use aws_sdk_dynamodb::types::ReturnConsumedCapacity::Total;
        let input = ctx.input_mut();
        if let Some(i) = input.downcast_mut::<op::transact_write_items::TransactWriteItemsInput>() {
            let units = transaction_write_units(i.transact_items());
            _cfg.interceptor_state().store_put(TransactionUnits(units));
        }
        macro_rules! total {
            ($($t:ty),*) => {$(
                if let Some(i) = input.downcast_mut::<$t>() {
                    i.return_consumed_capacity = Some(Total);
                    return Ok(());
                }
            )*};
        }
        total!(
            op::get_item::GetItemInput,
            op::batch_get_item::BatchGetItemInput,
            op::query::QueryInput,
            op::scan::ScanInput,
            op::put_item::PutItemInput,
            op::update_item::UpdateItemInput,
            op::delete_item::DeleteItemInput,
            op::transact_write_items::TransactWriteItemsInput,
            op::batch_write_item::BatchWriteItemInput
        );
        Ok(())
    }

    fn read_after_deserialization(
        &self,
        ctx: &aws_sdk_dynamodb::config::interceptors::AfterDeserializationInterceptorContextRef<'_>,
        _rc: &aws_sdk_dynamodb::config::RuntimeComponents,
        _cfg: &mut aws_sdk_dynamodb::config::ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        use aws_sdk_dynamodb::operation as op;
        let Ok(out) = ctx.output_or_error() else {
            return Ok(());
        };
        macro_rules! one {
            ($write:expr; $($t:ty),*) => {$(
                if let Some(o) = out.downcast_ref::<$t>() {
                    if let Some(c) = o.consumed_capacity() {
                        self.0.add(c, $write);
                    }
                    return Ok(());
                }
            )*};
        }
        macro_rules! many {
            ($write:expr; $($t:ty),*) => {$(
                if let Some(o) = out.downcast_ref::<$t>() {
                    for c in o.consumed_capacity() {
                        self.0.add(c, $write);
                    }
                    return Ok(());
                }
            )*};
        }
        one!(false; op::get_item::GetItemOutput, op::query::QueryOutput, op::scan::ScanOutput);
        one!(true; op::put_item::PutItemOutput, op::update_item::UpdateItemOutput, op::delete_item::DeleteItemOutput);
        many!(false; op::batch_get_item::BatchGetItemOutput);
        if out
            .downcast_ref::<op::transact_write_items::TransactWriteItemsOutput>()
            .is_some()
        {
            if let Some(TransactionUnits(u)) = _cfg.load::<TransactionUnits>() {
                self.0
                    .write_milli
                    .fetch_add((u * 1000.0).round() as u64, Ordering::SeqCst);
            }
            return Ok(());
        }
        many!(true; op::batch_write_item::BatchWriteItemOutput);
        Ok(())
    }
}

impl DynamoStore {
    /// The same store, asking DynamoDB for the capacity every call consumes and adding it
    /// to `capacity`. Benchmarks and the cost model only.
    pub fn with_capacity_accounting(mut self, capacity: Arc<Capacity>) -> Self {
        let conf = self
            .client
            .config()
            .to_builder()
            .interceptor(CapacityInterceptor(capacity))
            .build();
        self.client = Client::from_conf(conf);
        self
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn transactions_cost_two_units_per_item_per_started_kb() {
        use aws_sdk_dynamodb::types::ConditionCheck;
        // The actions as the store builds them (no call is made).
        let conf = aws_sdk_dynamodb::Config::builder()
            .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
            .build();
        let store = DynamoStore::new(Client::from_conf(conf), "t");
        let key = store.key("t#U".into(), "u1".into());
        let small = store.put(key.clone(), None).unwrap();
        let mut big_item = key.clone();
        big_item.insert("doc".into(), AttributeValue::S("x".repeat(1500)));
        let big = store.put(big_item, None).unwrap();
        let update = store.shard_add("t", "UX#", 1).unwrap();
        let delete = store
            .delete_action("t#U".into(), "u1".into(), None)
            .unwrap();
        let check = TransactWriteItem::builder()
            .condition_check(
                ConditionCheck::builder()
                    .table_name("t")
                    .set_key(Some(key))
                    .condition_expression("attribute_exists(pk)")
                    .build()
                    .unwrap(),
            )
            .build();
        assert_eq!(transaction_write_units(std::slice::from_ref(&small)), 2.0);
        assert_eq!(transaction_write_units(&[big]), 4.0);
        assert_eq!(
            transaction_write_units(&[small, update, delete, check]),
            8.0
        );
    }

    #[test]
    fn cursors_round_trip_and_reject_tampering() {
        let c = encode_cursor("all", "0190-abc");
        assert_eq!(decode_cursor(&c, "all").unwrap(), "0190-abc");
        assert_eq!(decode_cursor(&c, "other"), Err(StoreError::InvalidCursor));
        assert_eq!(decode_cursor("!!!", "all"), Err(StoreError::InvalidCursor));
    }

    #[test]
    fn long_key_parts_are_digested() {
        let long = "a".repeat(2000);
        assert!(key_part(&long).len() < 100);
        assert_eq!(key_part("ann"), "ann");
    }
}
