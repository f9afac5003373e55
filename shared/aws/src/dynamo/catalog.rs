//! The tenant's catalog of entitlements and roles ([`scim_service::port::Store::catalog`],
//! [`scim_service::port::CatalogAdmin`]).
//!
//! | item | pk | sk | attributes |
//! |---|---|---|---|
//! | catalog value | `{t}#E` (entitlements) / `{t}#R` (roles) | the value's id | `dn` (displayName), `ty` (type), `ds` (description) |
//!
//! A kind is at most `scim_core::catalog::MAX_CATALOG_ENTRIES` values, read whole with one
//! paged `Query` of its partition; a value by id is one `GetItem`.

use super::errors::sdk_error;
use super::items::{s, Item};
use super::keys::{catalog_pk, item_key};
use super::DynamoStore;
use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
use scim_core::catalog::{CatalogEntry, MAX_CATALOG_ENTRIES};
use scim_core::schema::CatalogKind;
use scim_service::port::{CatalogAdmin, StoreError, StoreResult};
use std::collections::HashSet;

fn text(item: &Item, name: &str) -> Option<String> {
    item.get(name).and_then(|v| v.as_s().ok()).cloned()
}

fn entry_of(item: &Item) -> StoreResult<CatalogEntry> {
    Ok(CatalogEntry {
        id: text(item, "sk")
            .ok_or_else(|| StoreError::Internal("catalog item without sk".into()))?,
        display_name: text(item, "dn").unwrap_or_default(),
        kind_type: text(item, "ty"),
        description: text(item, "ds"),
    })
}

fn item_of(t: &str, kind: CatalogKind, e: &CatalogEntry) -> Item {
    let mut item = item_key(catalog_pk(t, kind), e.id.clone());
    item.insert("dn".into(), s(&e.display_name));
    if let Some(v) = &e.kind_type {
        item.insert("ty".into(), s(v));
    }
    if let Some(v) = &e.description {
        item.insert("ds".into(), s(v));
    }
    item
}

/// The whole kind (one paged `Query`). Bounded at twice the catalog's size: a replace cut
/// short may leave the old and the new values side by side until it is run again.
pub(super) async fn catalog(
    store: &DynamoStore,
    t: &str,
    kind: CatalogKind,
) -> StoreResult<Vec<CatalogEntry>> {
    store
        .query_keys(&catalog_pk(t, kind), 2 * MAX_CATALOG_ENTRIES)
        .await?
        .iter()
        .map(entry_of)
        .collect()
}

/// One value by id (`GetItem`, consistent).
pub(super) async fn catalog_entry(
    store: &DynamoStore,
    t: &str,
    kind: CatalogKind,
    id: &str,
) -> StoreResult<Option<CatalogEntry>> {
    let out = store
        .client
        .get_item()
        .table_name(&store.table)
        .set_key(Some(item_key(catalog_pk(t, kind), id.to_string())))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| sdk_error("GetItem", e))?;
    out.item.as_ref().map(entry_of).transpose()
}

impl CatalogAdmin for DynamoStore {
    async fn replace_catalog(
        &self,
        tenant: &str,
        kind: CatalogKind,
        entries: &[CatalogEntry],
    ) -> StoreResult<()> {
        let before = catalog(self, tenant, kind).await?;
        let puts = entries
            .iter()
            .map(|e| {
                PutRequest::builder()
                    .set_item(Some(item_of(tenant, kind, e)))
                    .build()
                    .map(|p| WriteRequest::builder().put_request(p).build())
                    .map_err(super::errors::build)
            })
            .collect::<StoreResult<Vec<_>>>()?;
        self.batch_write(puts).await?;
        let kept: HashSet<&str> = entries.iter().map(|e| e.id.as_str()).collect();
        let gone = before
            .iter()
            .filter(|e| !kept.contains(e.id.as_str()))
            .map(|e| item_key(catalog_pk(tenant, kind), e.id.clone()))
            .collect();
        self.batch_delete(gone).await
    }
}
