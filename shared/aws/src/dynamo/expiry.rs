//! The store half of contact end dates: reading the sparse `expiring-contacts` index.
//!
//! A user item carries `xpk`/`xsk` ([`super::keys::expiry_entry`]) only while the user is
//! active *and* has a contact-extension `endDate`, so the index holds exactly the users an
//! expiry could still change: deactivating a user by any path (PATCH, PUT, the sweep) or
//! clearing the end date drops them from it, reactivating re-adds them.
//!
//! [`DynamoStore::due_contacts`] is one `Query` of that index per page
//! (`xpk = :p AND xsk < "{now}$"`): its cost grows with the number of users expiring, never
//! with the tenant's size, and it never reads the tenant's user partition. The scheduled
//! function around it is `crate::expiry`.

use super::errors::sdk_error;
use super::items::s;
use super::keys::{expiry_due_below, expiry_pk, expiry_start_key};
use super::DynamoStore;
use crate::table::EXPIRING_CONTACTS;
use aws_sdk_dynamodb::types::AttributeValue;
use scim_service::expiry::{DuePage, ExpiryIndex};
use scim_service::port::{StoreError, StoreResult};
use time::OffsetDateTime;

impl DynamoStore {
    /// Up to `limit` ids of active users whose end date is at or before `now` (to the
    /// second), earliest first, after the `xsk` `start` (an earlier page's `next`). One
    /// `Query` of the `expiring-contacts` index; nothing else is read.
    pub async fn due_contacts(
        &self,
        tenant: &str,
        now: OffsetDateTime,
        limit: usize,
        start: Option<&str>,
    ) -> StoreResult<DuePage> {
        let exclusive_start = match start {
            None => None,
            Some(xsk) => Some(expiry_start_key(tenant, xsk).ok_or(StoreError::InvalidCursor)?),
        };
        let resp = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(EXPIRING_CONTACTS)
            .key_condition_expression("xpk = :p AND xsk < :below")
            .expression_attribute_values(":p", s(expiry_pk(tenant)))
            .expression_attribute_values(":below", s(expiry_due_below(now)))
            .set_exclusive_start_key(exclusive_start)
            .limit(limit.clamp(1, 10_000) as i32)
            .send()
            .await
            .map_err(|e| sdk_error("Query", e))?;
        let ids = resp
            .items
            .unwrap_or_default()
            .into_iter()
            .filter_map(|mut i| match i.remove("sk") {
                Some(AttributeValue::S(id)) => Some(id),
                _ => None,
            })
            .collect();
        let next = resp
            .last_evaluated_key
            .and_then(|mut k| match k.remove("xsk") {
                Some(AttributeValue::S(x)) => Some(x),
                _ => None,
            });
        Ok(DuePage { ids, next })
    }
}

impl ExpiryIndex for DynamoStore {
    async fn due_contacts(
        &self,
        tenant: &str,
        now: OffsetDateTime,
        limit: usize,
        start: Option<&str>,
    ) -> StoreResult<DuePage> {
        DynamoStore::due_contacts(self, tenant, now, limit, start).await
    }
}
