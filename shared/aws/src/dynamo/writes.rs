//! Creating and updating a resource: one transaction holding the resource item, its guards
//! and index entries (the userName guard, say, is a `guard_put` from `entry_puts`), the
//! counter, the audit record and the membership actions.

use super::items::{epoch_secs, n, resource_item, s};
use super::keys::{index_entries, item_key, membership_pk, resource_pk};
use super::transact::Slot;
use super::DynamoStore;
use scim_core::patch::{Member, MemberChanges};
use scim_core::resource;
use scim_core::schema::ResourceKind;
use scim_service::port::{Audit, Guard, StoreResult, Stored, Update};
use std::collections::BTreeSet;

/// Creates a resource (and a group's first members): the item exists only if every guard
/// and, for a user, the inactive-email check of the primary email hold.
pub(super) async fn create(
    store: &DynamoStore,
    t: &str,
    kind: ResourceKind,
    r: &Stored,
    members: &[Member],
    audit: &Audit,
) -> StoreResult<()> {
    let mut head = vec![(
        store.put(
            resource_item(t, kind, r)?,
            Some(("attribute_not_exists(pk)", vec![])),
        )?,
        Slot::Resource,
    )];
    head.extend(store.entry_puts(t, kind, r, &[])?);
    if kind == ResourceKind::User {
        if let Some(email) = resource::primary_email(&r.doc) {
            head.push(store.inactive_email_check(t, email)?);
        }
    }
    head.push((store.counter_update(t, kind, 1)?, Slot::Other));
    let changes = MemberChanges {
        replace_all: false,
        added: members.to_vec(),
        removed: Vec::new(),
    };
    head.push(store.audit_action(t, kind, r, audit, &changes)?);
    let pairs = members
        .iter()
        .map(|m| store.member_actions(t, &r.id, m))
        .collect::<StoreResult<Vec<_>>>()?;
    store
        .transact_chunked(t, head, pairs, Vec::new(), members)
        .await
}

/// Updates a resource from `before` to `after`: guarded by the version read, or (for
/// membership-only changes, which commute) by existence; guards and index entries follow
/// the document; member changes are membership items.
pub(super) async fn update(store: &DynamoStore, t: &str, change: Update<'_>) -> StoreResult<()> {
    let Update {
        kind,
        before,
        after,
        members,
        guard,
        audit,
    } = change;
    let mut head = Vec::new();
    match guard {
        Guard::Version(v) => head.push((
            store.put(
                resource_item(t, kind, after)?,
                Some(("v = :v", vec![(":v", n(v))])),
            )?,
            Slot::Resource,
        )),
        Guard::Exists => head.push((
            store.update_action(
                item_key(resource_pk(t, kind), before.id.clone()),
                "SET modified = :m ADD v :one",
                "attribute_exists(pk)",
                vec![(":m", s(&after.meta.last_modified)), (":one", n(1))],
            )?,
            Slot::Resource,
        )),
    }
    let old = index_entries(t, kind, &before.id, &before.doc);
    let new = index_entries(t, kind, &after.id, &after.doc);
    for entry in &old {
        if !entry.is_in(&new) {
            let cond = entry
                .unique
                .map(|_| ("id = :id", vec![(":id", s(&before.id))]));
            head.push((
                store.delete_action(entry.pk.clone(), entry.sk.clone(), cond)?,
                Slot::Other,
            ));
        }
    }
    head.extend(store.entry_puts(t, kind, after, &old)?);
    // A user who becomes inactive holds their primary email for a later re-add.
    if kind == ResourceKind::User && !resource::is_active(&after.doc) {
        let became_inactive = resource::is_active(&before.doc)
            || resource::primary_email(&before.doc) != resource::primary_email(&after.doc);
        if let (true, Some(email)) = (became_inactive, resource::primary_email(&after.doc)) {
            let expires = epoch_secs(audit.at) + store.retention.tombstone_secs;
            head.push(store.inactive_email_put(t, email, &after.id, expires)?);
        }
    }
    head.push(store.audit_action(t, kind, after, audit, members)?);
    let added_ids: BTreeSet<&str> = members.added.iter().map(|m| m.value.as_str()).collect();
    let pairs = members
        .added
        .iter()
        .map(|m| store.member_actions(t, &after.id, m))
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
                store
                    .delete_action(membership_pk(t, &after.id), id.clone(), None)
                    .map(|a| (a, Slot::Other))
            })
            .collect::<StoreResult<Vec<_>>>()?
    };
    store
        .transact_chunked(t, head, pairs, removals, &members.added)
        .await?;
    if members.replace_all && kind == ResourceKind::Group {
        store.clear_members(t, &after.id, &added_ids).await?;
    }
    Ok(())
}
