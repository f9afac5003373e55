//! The end of a resource and its way back: delete (a user becomes a tombstone), reading a
//! tombstone, restoring it, the inactive-email marker, and the membership clean-up after a
//! delete or a full member replace.
//!
//! A deleted user moves to `{t}#UD` with their groups; their unique guards stay with the
//! tombstone's expiry (so a re-add finds them), their index entries and memberships go.
//! Deletes and restores bump the counter generation (page memos written before are void).

use super::errors::{backoff, build, sdk_error};
use super::items::{epoch_secs, from_item, n, s, to_item, Item, TombstoneItem};
use super::keys::{
    inactive_email_pk, index_entries, item_key, membership_pk, resource_pk, tombstone_pk, SINGLE,
};
use super::transact::Slot;
use super::{reads, DynamoStore};
use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
use aws_sdk_dynamodb::types::{AttributeValue, DeleteRequest, WriteRequest};
use scim_core::patch::{Member, MemberChanges};
use scim_core::resource;
use scim_core::schema::ResourceKind;
use scim_service::port::{Audit, StoreError, StoreResult, Stored, Tombstone};
use std::collections::BTreeSet;

/// Deletes a resource: one transaction (the resource, its guards and index entries, the
/// counters, the audit record; for a user also the tombstone and the inactive-email
/// marker), then its memberships.
pub(super) async fn delete(
    store: &DynamoStore,
    t: &str,
    kind: ResourceKind,
    before: &Stored,
    audit: &Audit,
) -> StoreResult<()> {
    let mut removals = Vec::new();
    let mut actions = vec![(
        store.delete_action(
            resource_pk(t, kind),
            before.id.clone(),
            Some(("v = :v", vec![(":v", n(before.meta.version))])),
        )?,
        Slot::Resource,
    )];
    if kind == ResourceKind::User {
        // The tombstone keeps the user (hidden from every read), their guards (now
        // expiring) and their groups, so the same person re-added gets them back.
        let expires = epoch_secs(audit.at) + store.retention.tombstone_secs;
        let groups = reads::groups_of(store, t, &before.id).await?;
        let at = scim_core::resource::format_datetime(audit.at);
        let tomb = to_item(TombstoneItem::new(t, before, &at, groups.clone(), expires))?;
        actions.push((store.put(tomb, None)?, Slot::Other));
        for entry in index_entries(t, kind, &before.id, &before.doc) {
            match entry.unique {
                Some(_) => actions.push((
                    store.update_action(
                        item_key(entry.pk, entry.sk),
                        "SET expiresAt = :e",
                        "id = :id",
                        vec![(":e", n(expires)), (":id", s(&before.id))],
                    )?,
                    Slot::Other,
                )),
                None => actions.push((store.delete_action(entry.pk, entry.sk, None)?, Slot::Other)),
            }
        }
        if let Some(email) = resource::primary_email(&before.doc) {
            actions.push(store.inactive_email_put(t, email, &before.id, expires)?);
        }
        // The memberships known now go in the same transaction when they fit, so a fault
        // after it leaves none behind; beyond that they go in later ones (idempotent).
        for g in &groups {
            removals.push((
                store.delete_action(membership_pk(t, g), before.id.clone(), None)?,
                Slot::Other,
            ));
        }
    } else {
        for entry in index_entries(t, kind, &before.id, &before.doc) {
            let cond = entry
                .unique
                .map(|_| ("id = :id", vec![(":id", s(&before.id))]));
            actions.push((store.delete_action(entry.pk, entry.sk, cond)?, Slot::Other));
        }
    }
    actions.push((store.counter_update(t, kind, -1)?, Slot::Other));
    actions.push((store.generation_bump(t, kind)?, Slot::Other));
    actions.push(store.audit_action(t, kind, before, audit, &MemberChanges::default())?);
    store
        .transact_chunked(t, actions, Vec::new(), removals, &[])
        .await?;
    // What is left goes after the resource: memberships added concurrently (an add checks
    // that the member exists, so none can follow), and a group's members. If this is cut
    // short, the client's retry finds the resource gone and finishes it (`finish_delete`).
    finish_delete(store, t, kind, &before.id).await
}

/// A delete's membership clean-up (see `Store::finish_delete`): a member's memberships
/// through the reverse index, and a group's own.
pub(super) async fn finish_delete(
    store: &DynamoStore,
    t: &str,
    kind: ResourceKind,
    id: &str,
) -> StoreResult<()> {
    store.remove_from_all_groups(t, id).await?;
    if kind == ResourceKind::Group {
        store.clear_members(t, id, &BTreeSet::new()).await?;
    }
    Ok(())
}

/// A deleted user, unless the tombstone has expired (TTL deletes lazily).
pub(super) async fn tombstone(
    store: &DynamoStore,
    t: &str,
    id: &str,
    now: time::OffsetDateTime,
) -> StoreResult<Option<Tombstone>> {
    let out = store
        .client
        .get_item()
        .table_name(&store.table)
        .set_key(Some(item_key(tombstone_pk(t), id.to_string())))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| sdk_error("GetItem", e))?;
    let Some(item) = out.item else {
        return Ok(None);
    };
    let item: TombstoneItem = from_item(item)?;
    if item.expires_at <= epoch_secs(now) {
        return Ok(None);
    }
    item.into_tombstone().map(Some)
}

/// Brings a deleted user back as `after` (same id): the tombstone goes, the user item, its
/// guards and index entries come back, and the memberships of groups that still exist.
pub(super) async fn restore(
    store: &DynamoStore,
    t: &str,
    tombstone: &Tombstone,
    after: &Stored,
    audit: &Audit,
) -> StoreResult<()> {
    let kind = ResourceKind::User;
    let before = &tombstone.user;
    let mut head = vec![
        (
            store.delete_action(
                tombstone_pk(t),
                before.id.clone(),
                Some(("attribute_exists(pk)", vec![])),
            )?,
            Slot::Resource,
        ),
        (
            store.put(
                super::items::resource_item(t, kind, after)?,
                Some(("attribute_not_exists(pk)", vec![])),
            )?,
            Slot::Resource,
        ),
    ];
    let old = index_entries(t, kind, &before.id, &before.doc);
    let new = index_entries(t, kind, &after.id, &after.doc);
    for entry in old {
        if entry.unique.is_some() && !entry.is_in(&new) {
            let cond = Some(("id = :id", vec![(":id", s(&before.id))]));
            head.push((store.delete_action(entry.pk, entry.sk, cond)?, Slot::Other));
        }
    }
    // Guards are rewritten (dropping the tombstone's expiry); index entries are new.
    head.extend(store.entry_puts(t, kind, after, &[])?);
    head.push((store.counter_update(t, kind, 1)?, Slot::Other));
    head.push((store.generation_bump(t, kind)?, Slot::Other));
    // The memberships of groups that still exist come back.
    let existing: Vec<Member> = if tombstone.groups.is_empty() {
        Vec::new()
    } else {
        store
            .get_many(t, ResourceKind::Group, &tombstone.groups)
            .await?
            .into_iter()
            .map(|g| Member {
                value: g.id,
                type_: Some("Group".into()),
                display: None,
            })
            .collect()
    };
    head.push(store.audit_action(t, kind, after, audit, &MemberChanges::default())?);
    let as_member = Member {
        value: after.id.clone(),
        type_: Some("User".into()),
        display: None,
    };
    let mut pairs = Vec::new();
    for g in &existing {
        let item = to_item(super::items::MembershipItem::new(t, &g.value, &as_member))?;
        pairs.push([
            store.exists_check(t, ResourceKind::Group, &g.value)?,
            (store.put(item, None)?, Slot::Other),
        ]);
    }
    store
        .transact_chunked(t, head, pairs, Vec::new(), &existing)
        .await
}

/// Clears the inactive-email marker of `email` if `holder` still holds it.
pub(super) async fn clear_inactive_email(
    store: &DynamoStore,
    t: &str,
    email: &str,
    holder: &str,
) -> StoreResult<()> {
    let result = store
        .client
        .delete_item()
        .table_name(&store.table)
        .set_key(Some(item_key(inactive_email_pk(t, email), SINGLE.into())))
        .condition_expression("id = :id")
        .expression_attribute_values(":id", s(holder))
        .send()
        .await;
    match result {
        Ok(_) => Ok(()),
        // Someone else holds it now: nothing of ours to clear.
        Err(e)
            if matches!(
                e.as_service_error(),
                Some(DeleteItemError::ConditionalCheckFailedException(_))
            ) =>
        {
            Ok(())
        }
        Err(e) => Err(sdk_error("DeleteItem", e)),
    }
}

impl DynamoStore {
    /// Deletes items by key with BatchWriteItem (25 a call), retrying unprocessed ones.
    pub(super) async fn batch_delete(&self, keys: Vec<Item>) -> StoreResult<()> {
        let requests = keys
            .into_iter()
            .map(|k| {
                DeleteRequest::builder()
                    .set_key(Some(k))
                    .build()
                    .map(|d| WriteRequest::builder().delete_request(d).build())
                    .map_err(build)
            })
            .collect::<StoreResult<Vec<_>>>()?;
        self.batch_write(requests).await
    }

    /// Runs puts and deletes with BatchWriteItem (25 a call), retrying unprocessed ones
    /// with backoff (`Busy` after 8 tries). Each request is idempotent, so a retry of the
    /// whole call converges.
    pub(super) async fn batch_write(&self, all: Vec<WriteRequest>) -> StoreResult<()> {
        for chunk in all.chunks(25) {
            let mut requests: Vec<WriteRequest> = chunk.to_vec();
            let mut attempt = 0;
            while !requests.is_empty() {
                let resp = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, requests.clone())
                    .send()
                    .await
                    .map_err(|e| sdk_error("BatchWriteItem", e))?;
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
    pub(super) async fn clear_members(
        &self,
        t: &str,
        group: &str,
        keep: &BTreeSet<&str>,
    ) -> StoreResult<()> {
        let items = self
            .query_keys(&membership_pk(t, group), usize::MAX)
            .await?;
        let keys = items
            .into_iter()
            .filter(|i| {
                !matches!(i.get("sk"), Some(AttributeValue::S(sk)) if keep.contains(sk.as_str()))
            })
            .filter_map(|i| {
                Some(item_key(
                    i.get("pk")?.as_s().ok()?.clone(),
                    i.get("sk")?.as_s().ok()?.clone(),
                ))
            })
            .collect();
        self.batch_delete(keys).await
    }

    /// Deletes every membership of a member (user or group) through the reverse index.
    async fn remove_from_all_groups(&self, t: &str, member: &str) -> StoreResult<()> {
        let groups = reads::groups_of(self, t, member).await?;
        let keys = groups
            .into_iter()
            .map(|g| item_key(membership_pk(t, &g), member.to_string()))
            .collect();
        self.batch_delete(keys).await
    }
}
