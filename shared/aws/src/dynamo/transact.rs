//! Transactions: the actions a write is made of, and running them.
//!
//! Every write is one `TransactWriteItems` (or, for member changes beyond 100 actions, a
//! first transaction holding the resource write and later ones holding only idempotent
//! membership actions). Each action carries a [`Slot`], so that a cancellation is explained
//! by the position of the failed condition: a version mismatch, a uniqueness guard (and
//! who holds it), a missing member.

use super::errors::{backoff, build, sdk_error};
use super::items::{n, s, to_item, AuditItem, Item, MembershipItem};
use super::keys::{
    count_prefix, counter_pk, generation_prefix, inactive_email_pk, index_entries, item_key,
    resource_pk, IndexEntry, COUNTER_SHARDS, SINGLE,
};
use super::DynamoStore;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Delete, Put, ReturnValuesOnConditionCheckFailure,
    TransactWriteItem, Update,
};
use scim_core::patch::{Member, MemberChanges};
use scim_core::schema::ResourceKind;
use scim_service::port::{Audit, StoreError, StoreResult, Stored};
use std::collections::BTreeSet;

/// DynamoDB's limit of actions in one `TransactWriteItems`.
pub(super) const MAX_TRANSACTION_ITEMS: usize = 100;

/// The store's own attempts at one transaction (after conflicts and throttling, each of
/// which the SDK has already retried), and the time after which it stops starting new
/// ones, so that a request ends well inside the function's timeout.
const MAX_ATTEMPTS: u32 = 10;
const RETRY_TIME: std::time::Duration = std::time::Duration::from_secs(3);

/// A new `ClientRequestToken` for one `TransactWriteItems` call (see
/// [`DynamoStore::transact`]). Every transaction the store sends carries one.
pub(super) fn request_token() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}

/// Which part of a transaction an action is, to explain a cancellation.
#[derive(Debug, Clone)]
pub(super) enum Slot {
    Resource,
    /// A uniqueness guard (or the inactive-email marker) on this key.
    Unique(&'static str, String),
    Member(String),
    Other,
}

/// A condition expression and its values.
pub(super) type Condition<'a> = Option<(&'a str, Vec<(&'a str, AttributeValue)>)>;

/// The kind a member reference names (`type` "Group", else a user).
pub(super) fn member_kind(m: &Member) -> ResourceKind {
    if m.type_
        .as_deref()
        .is_some_and(|k| k.eq_ignore_ascii_case("Group"))
    {
        ResourceKind::Group
    } else {
        ResourceKind::User
    }
}

impl DynamoStore {
    /// Adds `delta` to the kind's count (a random shard of it).
    pub(super) fn counter_update(
        &self,
        t: &str,
        kind: ResourceKind,
        delta: i64,
    ) -> StoreResult<TransactWriteItem> {
        self.shard_add(t, &count_prefix(kind), delta)
    }

    /// Bumps the kind's generation: deletes and restores (see `reads::total`).
    pub(super) fn generation_bump(
        &self,
        t: &str,
        kind: ResourceKind,
    ) -> StoreResult<TransactWriteItem> {
        self.shard_add(t, &generation_prefix(kind), 1)
    }

    pub(super) fn shard_add(
        &self,
        t: &str,
        prefix: &str,
        delta: i64,
    ) -> StoreResult<TransactWriteItem> {
        let shard = fastrand::u32(0..COUNTER_SHARDS);
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(item_key(counter_pk(t), format!("{prefix}{shard}"))))
            .update_expression("ADD n :d")
            .expression_attribute_values(":d", n(delta))
            .build()
            .map_err(build)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    pub(super) fn put(
        &self,
        item: Item,
        condition: Condition<'_>,
    ) -> StoreResult<TransactWriteItem> {
        let mut b = Put::builder().table_name(&self.table).set_item(Some(item));
        if let Some((expr, values)) = condition {
            b = b.condition_expression(expr);
            for (k, v) in values {
                b = b.expression_attribute_values(k, v);
            }
        }
        let put = b.build().map_err(build)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// Sets attributes of an existing item, if `condition` holds.
    pub(super) fn update_action(
        &self,
        key: Item,
        expression: &str,
        condition: &str,
        values: Vec<(&str, AttributeValue)>,
    ) -> StoreResult<TransactWriteItem> {
        let mut b = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key))
            .update_expression(expression)
            .condition_expression(condition);
        for (k, v) in values {
            b = b.expression_attribute_values(k, v);
        }
        Ok(TransactWriteItem::builder()
            .update(b.build().map_err(build)?)
            .build())
    }

    /// A uniqueness guard owned by `id`: new, or already ours (idempotent rewrite). A
    /// failure returns the holder's item so a re-add can find who holds the value.
    pub(super) fn guard_put(
        &self,
        pk: String,
        id: &str,
        attribute: &'static str,
    ) -> StoreResult<(TransactWriteItem, Slot)> {
        let mut item = item_key(pk.clone(), SINGLE.into());
        item.insert("id".into(), s(id));
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk) OR id = :id")
            .expression_attribute_values(":id", s(id))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(build)?;
        Ok((
            TransactWriteItem::builder().put(put).build(),
            Slot::Unique(attribute, pk),
        ))
    }

    /// Checks that no inactive or deleted user holds this primary email.
    pub(super) fn inactive_email_check(
        &self,
        t: &str,
        email: &str,
    ) -> StoreResult<(TransactWriteItem, Slot)> {
        let pk = inactive_email_pk(t, email);
        let check = ConditionCheck::builder()
            .table_name(&self.table)
            .set_key(Some(item_key(pk.clone(), SINGLE.into())))
            .condition_expression("attribute_not_exists(pk)")
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(build)?;
        Ok((
            TransactWriteItem::builder().condition_check(check).build(),
            Slot::Unique("emails", pk),
        ))
    }

    /// Records that the inactive user `id` holds `email` (the latest one wins).
    pub(super) fn inactive_email_put(
        &self,
        t: &str,
        email: &str,
        id: &str,
        expires: i64,
    ) -> StoreResult<(TransactWriteItem, Slot)> {
        let mut item = item_key(inactive_email_pk(t, email), SINGLE.into());
        item.insert("id".into(), s(id));
        item.insert("expiresAt".into(), n(expires));
        Ok((self.put(item, None)?, Slot::Other))
    }

    /// The write's audit record (kept for the audit retention).
    pub(super) fn audit_action(
        &self,
        t: &str,
        kind: ResourceKind,
        r: &Stored,
        audit: &Audit,
        members: &MemberChanges,
    ) -> StoreResult<(TransactWriteItem, Slot)> {
        let expires = super::items::epoch_secs(audit.at) + self.retention.audit_secs;
        let item = to_item(AuditItem::new(t, kind, r, audit, members, expires))?;
        Ok((self.put(item, None)?, Slot::Other))
    }

    /// The guards and index entries of a document as actions, except those in `skip`.
    pub(super) fn entry_puts(
        &self,
        t: &str,
        kind: ResourceKind,
        r: &Stored,
        skip: &[IndexEntry],
    ) -> StoreResult<Vec<(TransactWriteItem, Slot)>> {
        let mut out = Vec::new();
        for entry in index_entries(t, kind, &r.id, &r.doc) {
            if entry.is_in(skip) {
                continue;
            }
            match entry.unique {
                Some(attr) => out.push(self.guard_put(entry.pk, &r.id, attr)?),
                None => {
                    let mut item = item_key(entry.pk, entry.sk);
                    item.insert("id".into(), s(&r.id));
                    out.push((self.put(item, None)?, Slot::Other));
                }
            }
        }
        Ok(out)
    }

    pub(super) fn delete_action(
        &self,
        pk: String,
        sk: String,
        condition: Condition<'_>,
    ) -> StoreResult<TransactWriteItem> {
        let mut b = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(item_key(pk, sk)));
        if let Some((expr, values)) = condition {
            b = b.condition_expression(expr);
            for (k, v) in values {
                b = b.expression_attribute_values(k, v);
            }
        }
        let d = b.build().map_err(build)?;
        Ok(TransactWriteItem::builder().delete(d).build())
    }

    /// A check that the resource `kind`/`id` exists, explained as a missing member `slot`.
    pub(super) fn exists_check(
        &self,
        t: &str,
        kind: ResourceKind,
        id: &str,
    ) -> StoreResult<(TransactWriteItem, Slot)> {
        let check = ConditionCheck::builder()
            .table_name(&self.table)
            .set_key(Some(item_key(resource_pk(t, kind), id.to_string())))
            .condition_expression("attribute_exists(pk)")
            .build()
            .map_err(build)?;
        Ok((
            TransactWriteItem::builder().condition_check(check).build(),
            Slot::Member(id.to_string()),
        ))
    }

    /// Adding member `m` to `group`: the member exists, and the membership item.
    pub(super) fn member_actions(
        &self,
        t: &str,
        group: &str,
        m: &Member,
    ) -> StoreResult<[(TransactWriteItem, Slot); 2]> {
        let item = to_item(MembershipItem::new(t, group, m))?;
        Ok([
            self.exists_check(t, member_kind(m), &m.value)?,
            (self.put(item, None)?, Slot::Other),
        ])
    }

    /// Runs one transaction, retrying conflicts; explains a cancellation by its slot.
    ///
    /// Each attempt carries its own `ClientRequestToken`, which the SDK sends unchanged on
    /// each of its own retries of that attempt. So when a transaction ran but its reply was
    /// lost (a 5xx or a timeout after DynamoDB committed it), the SDK's retry is answered
    /// as a success without running again, instead of failing its own conditions (a create
    /// answering `409` against the user it had just written, a counter added twice). A new
    /// attempt after a definite answer (a conflict, throttling) gets a new token: DynamoDB
    /// refuses a token reused with other parameters, and the caller's retries (ops) build
    /// other parameters.
    pub(super) async fn transact(
        &self,
        actions: Vec<(TransactWriteItem, Slot)>,
    ) -> StoreResult<()> {
        if actions.is_empty() {
            return Ok(());
        }
        let (items, slots): (Vec<_>, Vec<_>) = actions.into_iter().unzip();
        let started = std::time::Instant::now();
        let mut throttled = false;
        for attempt in 0..MAX_ATTEMPTS {
            if attempt > 0 && started.elapsed() >= RETRY_TIME {
                break;
            }
            let result = self
                .client
                .transact_write_items()
                .set_transact_items(Some(items.clone()))
                .client_request_token(request_token())
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
                    throttled = reasons.iter().any(|r| {
                        matches!(
                            r.code(),
                            Some("ThrottlingError" | "ProvisionedThroughputExceeded")
                        )
                    });
                    throttled
                        || reasons
                            .iter()
                            .any(|r| r.code() == Some("TransactionConflict"))
                }
                Some(TransactWriteItemsError::TransactionInProgressException(_)) => true,
                _ => false,
            };
            if !retry {
                return Err(sdk_error("TransactWriteItems", err));
            }
            tracing::debug!(attempt, "transaction conflict; retrying");
            backoff(attempt).await;
        }
        Err(if throttled {
            StoreError::Throttled
        } else {
            StoreError::Busy
        })
    }

    /// Runs the first chunk (holding the resource write) and then the rest. Later chunks
    /// hold only idempotent membership actions; members are checked up front when there
    /// is more than one chunk, so a missing member cannot leave half a write behind.
    pub(super) async fn transact_chunked(
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

    /// Checks that every member exists (`BatchGetItem`), before a write too large for one
    /// transaction's condition checks.
    async fn check_members_exist(&self, t: &str, members: &[Member]) -> StoreResult<()> {
        for kind in [ResourceKind::User, ResourceKind::Group] {
            let ids: Vec<String> = members
                .iter()
                .filter(|m| member_kind(m) == kind)
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
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::instrument::transaction_write_units;
    use super::*;
    use aws_sdk_dynamodb::Client;

    #[test]
    fn transactions_cost_two_units_per_item_per_started_kb() {
        // The actions as the store builds them (no call is made).
        let conf = aws_sdk_dynamodb::Config::builder()
            .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
            .build();
        let store = DynamoStore::new(Client::from_conf(conf), "t");
        let key = item_key("t#U".into(), "u1".into());
        let small = store.put(key.clone(), None).unwrap();
        let mut big_item = key.clone();
        big_item.insert("doc".into(), AttributeValue::S("x".repeat(1500)));
        let big = store.put(big_item, None).unwrap();
        let update = store.shard_add("t", "UX#", 1).unwrap();
        let delete = store
            .delete_action("t#U".into(), "u1".into(), None)
            .unwrap();
        let (check, _) = store.exists_check("t", ResourceKind::User, "u1").unwrap();
        assert_eq!(transaction_write_units(std::slice::from_ref(&small)), 2.0);
        assert_eq!(transaction_write_units(&[big]), 4.0);
        assert_eq!(
            transaction_write_units(&[small, update, delete, check]),
            8.0
        );
    }
}
