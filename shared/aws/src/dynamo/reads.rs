//! Reads: a resource by id or many by id, a partition, the index lookups, memberships,
//! the counters, a guard's holder, the audit trail.

use super::errors::{backoff, build, sdk_error};
use super::items::{self, from_item, s, Item, MembershipItem};
use super::keys::{
    audit_pk, count_prefix, counter_pk, generation_prefix, item_key, membership_gpk, membership_pk,
    resource_pk, Entry, Indexed, SINGLE,
};
use super::{DynamoStore, MAX_SCAN_ITEMS};
use crate::table::MEMBERSHIPS_BY_USER;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use scim_core::patch::Member;
use scim_core::schema::ResourceKind;
use scim_service::port::{StoreError, StoreResult, Stored};
use std::collections::BTreeSet;

/// One resource by id (`GetItem`, consistent).
pub(super) async fn get(
    store: &DynamoStore,
    t: &str,
    kind: ResourceKind,
    id: &str,
) -> StoreResult<Option<Stored>> {
    let out = store
        .client
        .get_item()
        .table_name(&store.table)
        .set_key(Some(item_key(resource_pk(t, kind), id.to_string())))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| sdk_error("GetItem", e))?;
    out.item.map(items::stored).transpose()
}

/// A group's members, or `None` when it has more than `limit` (one paged `Query`).
pub(super) async fn members(
    store: &DynamoStore,
    t: &str,
    group_id: &str,
    limit: usize,
) -> StoreResult<Option<Vec<Member>>> {
    let items = store
        .query_keys(&membership_pk(t, group_id), limit.saturating_add(1))
        .await?;
    if items.len() > limit {
        return Ok(None);
    }
    items
        .into_iter()
        .map(|item| from_item::<MembershipItem>(item).map(MembershipItem::into_member))
        .collect::<StoreResult<Vec<_>>>()
        .map(Some)
}

/// The groups a member (user or group) is in, through the reverse index.
pub(super) async fn groups_of(
    store: &DynamoStore,
    t: &str,
    member: &str,
) -> StoreResult<Vec<String>> {
    let mut out = Vec::new();
    let mut start = None;
    loop {
        let resp = store
            .client
            .query()
            .table_name(&store.table)
            .index_name(MEMBERSHIPS_BY_USER)
            .key_condition_expression("gpk = :g")
            .expression_attribute_values(":g", s(membership_gpk(t, member)))
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .map_err(|e| sdk_error("Query", e))?;
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

impl DynamoStore {
    /// Reads many resources by id (BatchGetItem, 100 keys a call), in id order.
    pub(super) async fn get_many(
        &self,
        t: &str,
        kind: ResourceKind,
        ids: &[String],
    ) -> StoreResult<Vec<Stored>> {
        let unique: BTreeSet<&String> = ids.iter().collect();
        let keys: Vec<(ResourceKind, String)> =
            unique.into_iter().map(|id| (kind, id.clone())).collect();
        let mut out: Vec<Stored> = self
            .get_mixed(t, &keys)
            .await?
            .into_iter()
            .map(|(_, s)| s)
            .collect();
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    /// Resources of either kind by key: `BatchGetItem`, 100 keys a call, unprocessed keys
    /// retried with backoff. Each answer carries the kind it was read as.
    pub(super) async fn get_mixed(
        &self,
        t: &str,
        keys: &[(ResourceKind, String)],
    ) -> StoreResult<Vec<(ResourceKind, Stored)>> {
        let mut out = Vec::new();
        let user_pk = resource_pk(t, ResourceKind::User);
        for chunk in keys.chunks(100) {
            let mut pending: Vec<Item> = chunk
                .iter()
                .map(|(kind, id)| item_key(resource_pk(t, *kind), id.clone()))
                .collect();
            let mut attempt = 0;
            while !pending.is_empty() {
                let ka = KeysAndAttributes::builder()
                    .set_keys(Some(pending.clone()))
                    .consistent_read(true)
                    .build()
                    .map_err(build)?;
                let resp = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, ka)
                    .send()
                    .await
                    .map_err(|e| sdk_error("BatchGetItem", e))?;
                if let Some(found) = resp.responses.and_then(|mut r| r.remove(&self.table)) {
                    for item in found {
                        let is_user =
                            matches!(item.get("pk"), Some(AttributeValue::S(pk)) if *pk == user_pk);
                        let kind = if is_user {
                            ResourceKind::User
                        } else {
                            ResourceKind::Group
                        };
                        out.push((kind, items::stored(item)?));
                    }
                }
                pending = resp
                    .unprocessed_keys
                    .and_then(|mut u| u.remove(&self.table))
                    .map(|k| k.keys)
                    .unwrap_or_default();
                if !pending.is_empty() {
                    attempt += 1;
                    if attempt > 8 {
                        return Err(StoreError::Busy);
                    }
                    backoff(attempt).await;
                }
            }
        }
        Ok(out)
    }

    /// Queries one partition fully (paged, at most `limit` items), returning whole items.
    pub(super) async fn query_keys(&self, pk: &str, limit: usize) -> StoreResult<Vec<Item>> {
        let mut out = Vec::new();
        let mut start: Option<Item> = None;
        loop {
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
                .map_err(|e| sdk_error("Query", e))?;
            out.extend(resp.items.unwrap_or_default());
            match resp.last_evaluated_key {
                Some(k) if out.len() < limit => start = Some(k),
                _ => return Ok(out),
            }
        }
    }

    /// The ids of the resources that have `value` of the indexed attribute `row`.
    pub(super) async fn lookup(
        &self,
        t: &str,
        row: &Indexed,
        value: &str,
    ) -> StoreResult<Vec<String>> {
        let pk = match row.entry {
            Entry::Item => return Ok(vec![value.to_string()]),
            Entry::Membership => return groups_of(self, t, value).await,
            Entry::Unique { .. } | Entry::Index { .. } => match row.pk(t, value) {
                Some(pk) => pk,
                None => return Ok(Vec::new()),
            },
        };
        let found = self.query_keys(&pk, MAX_SCAN_ITEMS).await?;
        Ok(found
            .into_iter()
            .filter_map(|mut i| match (i.remove("id"), i.remove("sk")) {
                (Some(AttributeValue::S(id)), _) => Some(id),
                (_, Some(AttributeValue::S(sk))) if sk != SINGLE => Some(sk),
                _ => None,
            })
            .collect())
    }

    /// The audit records of one resource (its own writes, `rec = "audit"`, and those of
    /// other jobs, `"audit-ext"`), oldest first, without their keys. For `scim-admin audit`.
    pub async fn audit_trail(&self, t: &str, id: &str) -> StoreResult<Vec<serde_json::Value>> {
        self.query_keys(&audit_pk(t, id), usize::MAX)
            .await?
            .into_iter()
            .map(|item| {
                let mut v: serde_json::Value = from_item(item)?;
                if let Some(o) = v.as_object_mut() {
                    o.remove("pk");
                    o.remove("sk");
                }
                Ok(v)
            })
            .collect()
    }

    pub(super) async fn is_member(&self, t: &str, group: &str, member: &str) -> StoreResult<bool> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(item_key(membership_pk(t, group), member.to_string())))
            .consistent_read(true)
            .projection_expression("pk")
            .send()
            .await
            .map_err(|e| sdk_error("GetItem", e))?;
        Ok(out.item.is_some())
    }

    /// The number of resources of a kind, and its *generation*: a count of the writes that
    /// insert or remove items before the end of the id order (deletes and restores). A page
    /// memo is trusted only while the generation it was written under holds. One Query.
    pub(super) async fn total(&self, t: &str, kind: ResourceKind) -> StoreResult<(u64, i64)> {
        let shards = self.query_keys(&counter_pk(t), 1000).await?;
        let total = sum_shards(&shards, &count_prefix(kind));
        Ok((
            total.max(0) as u64,
            sum_shards(&shards, &generation_prefix(kind)),
        ))
    }

    /// Who holds a uniqueness guard (or an inactive-email marker), if anyone.
    pub(super) async fn guard_holder(&self, pk: &str) -> StoreResult<Option<String>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(item_key(pk.to_string(), SINGLE.into())))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error("GetItem", e))?;
        Ok(out.item.and_then(|mut i| match i.remove("id") {
            Some(AttributeValue::S(id)) => Some(id),
            _ => None,
        }))
    }
}

/// The sum of the counter shards whose sort key starts with `prefix`.
pub(super) fn sum_shards(shards: &[Item], prefix: &str) -> i64 {
    shards
        .iter()
        .filter_map(|i| match (i.get("sk"), i.get("n")) {
            (Some(AttributeValue::S(sk)), Some(AttributeValue::N(v))) if sk.starts_with(prefix) => {
                Some(v.parse::<i64>().unwrap_or(0))
            }
            _ => None,
        })
        .sum()
}
