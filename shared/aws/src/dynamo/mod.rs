//! The DynamoDB store: the one implementation of the storage port, over a single table.
//!
//! Where things are (each module depends only on those above it in this list):
//!
//! | module        | what it holds                                                        |
//! |---------------|----------------------------------------------------------------------|
//! | [`keys`]      | every key of the table, and the indexed attributes as one table ([`keys::INDEXED`]): guards, index entries, lookups |
//! | `items`       | the stored item shapes (resource, tombstone, audit, membership)      |
//! | `errors`      | SDK errors as store errors (by error code), backoff                  |
//! | [`instrument`]| call counts and capacity accounting                                  |
//! | `reads`       | get, get many, partition queries, index lookups, counters, audit trail |
//! | `transact`    | the actions of a write (guards, index entries, audit, members, counters) and running them |
//! | `lists`       | list pages: page memos, cursors, filters (index lookup or bounded walk) |
//! | `lifecycle`   | delete, tombstones, restore, inactive-email markers, membership clean-up |
//! | `writes`      | create and update                                                    |
//! | `expiry`      | the `expiring-contacts` index read (`due_contacts`)                  |
//! | `settings`    | the tenant's settings item: provisioning switch, token usage ([`scim_service::settings::SettingsStore`]) |
//! | `oauth`       | OAuth clients and assertion-replay markers ([`scim_service::oauth::clients::ClientStore`]) |
//! | `catalog`     | the tenant's entitlements and roles ([`scim_service::port::CatalogAdmin`]) |
//! | `directory`   | the application API's reads: user with groups, member pages, activity, counts ([`scim_service::port::DirectoryStore`]) |
//!
//! The port's operations are free functions named after them in their module; the
//! [`Store`] implementation below is the map from port to module. Helpers shared between
//! modules are methods of [`DynamoStore`] in the module of their concern.

mod catalog;
mod directory;
mod errors;
mod expiry;
pub mod instrument;
mod items;
pub mod jobs;
pub mod keys;
mod lifecycle;
mod lists;
mod oauth;
mod reads;
mod settings;
mod transact;
mod writes;

pub use instrument::{transaction_write_units, CallCounts, Calls, Capacity, CapacityUnits};
pub use items::AUDIT_RECORD;
pub use keys::MAX_INDEXED_EMAILS;

use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::Client;
use scim_core::patch::Member;
use scim_core::schema::ResourceKind;
use scim_service::port::{
    Audit, ListPage, ListRequest, Store, StoreResult, Stored, Tombstone, Update,
};
use std::sync::Arc;
use std::time::Duration;

/// The most items a filter no index serves may examine.
pub const MAX_SCAN_ITEMS: usize = 100_000;

/// The SDK's time limits on each store call: an attempt (one HTTP exchange) may take 3 s,
/// a call with the SDK's retries (three attempts) 7 s, a connection 1 s to open. DynamoDB
/// answers in milliseconds, so these only cut off a call that hangs, and let the SDK retry
/// it; a transaction's retry is answered from its `ClientRequestToken` (see `transact`).
/// What still fails is `503` ([`scim_service::port::StoreError::Unavailable`]). The
/// request as a whole ends before the function's timeout (`crate::lambda::handle_request`).
pub fn timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(1))
        .operation_attempt_timeout(Duration::from_secs(3))
        .operation_timeout(Duration::from_secs(7))
        .build()
}

#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
    calls: Arc<CallCounts>,
    retention: Retention,
    /// The most items a filter no index serves may examine ([`MAX_SCAN_ITEMS`]).
    scan_limit: usize,
}

/// How long deleted users' tombstones and audit records are kept (seconds).
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    pub tombstone_secs: i64,
    pub audit_secs: i64,
}

impl Retention {
    /// 90 days of tombstones, 400 days of audit records.
    pub const DEFAULT: Retention = Retention {
        tombstone_secs: 90 * 86_400,
        audit_secs: 400 * 86_400,
    };
}

impl Default for Retention {
    fn default() -> Self {
        Retention::DEFAULT
    }
}

impl DynamoStore {
    /// The store over `table`, counting every call made through its client (the client
    /// is rebuilt with the counting interceptor; see [`instrument`]).
    ///
    /// Every call is bounded by [`timeouts`] (see [`DynamoStore::reconfigure`]).
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        let calls = Arc::new(CallCounts::default());
        let client = Client::from_conf(
            client
                .config()
                .to_builder()
                .timeout_config(timeouts())
                .build(),
        );
        DynamoStore {
            client: instrument::counting(&client, Arc::clone(&calls)),
            table: table.into(),
            calls,
            retention: Retention::default(),
            scan_limit: MAX_SCAN_ITEMS,
        }
    }

    /// The same store with its client's configuration changed by `f` (the fault-injection
    /// tests' shorter timeouts and backoff). Calls are still counted.
    pub fn reconfigure(
        mut self,
        f: impl FnOnce(aws_sdk_dynamodb::config::Builder) -> aws_sdk_dynamodb::config::Builder,
    ) -> Self {
        self.client = Client::from_conf(f(self.client.config().to_builder()).build());
        self
    }

    /// The same store with another bound on the items an unindexed filter may examine
    /// (tests reach it without seeding 100,000 users).
    pub fn with_scan_limit(mut self, limit: usize) -> Self {
        self.scan_limit = limit;
        self
    }

    pub fn with_retention(mut self, retention: Retention) -> Self {
        self.retention = retention;
        self
    }

    /// The store's client: calls made with it are counted in [`DynamoStore::calls`].
    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// The calls made through the store's client so far, for tests and benchmarks.
    pub fn calls(&self) -> Calls {
        self.calls.snapshot()
    }
}

impl Store for DynamoStore {
    async fn catalog(
        &self,
        tenant: &str,
        kind: scim_core::schema::CatalogKind,
    ) -> StoreResult<Vec<scim_core::catalog::CatalogEntry>> {
        catalog::catalog(self, tenant, kind).await
    }

    async fn catalog_entry(
        &self,
        tenant: &str,
        kind: scim_core::schema::CatalogKind,
        id: &str,
    ) -> StoreResult<Option<scim_core::catalog::CatalogEntry>> {
        catalog::catalog_entry(self, tenant, kind, id).await
    }

    async fn get(&self, tenant: &str, kind: ResourceKind, id: &str) -> StoreResult<Option<Stored>> {
        reads::get(self, tenant, kind, id).await
    }

    async fn members(
        &self,
        tenant: &str,
        group_id: &str,
        limit: usize,
    ) -> StoreResult<Option<Vec<Member>>> {
        reads::members(self, tenant, group_id, limit).await
    }

    async fn groups_of(&self, tenant: &str, user_id: &str) -> StoreResult<Vec<String>> {
        reads::groups_of(self, tenant, user_id).await
    }

    async fn list(
        &self,
        tenant: &str,
        kind: ResourceKind,
        request: &ListRequest<'_>,
    ) -> StoreResult<ListPage> {
        lists::list(self, tenant, kind, request).await
    }

    async fn create(
        &self,
        tenant: &str,
        kind: ResourceKind,
        r: &Stored,
        members: &[Member],
        audit: &Audit,
    ) -> StoreResult<()> {
        writes::create(self, tenant, kind, r, members, audit).await
    }

    async fn update(&self, tenant: &str, change: Update<'_>) -> StoreResult<()> {
        writes::update(self, tenant, change).await
    }

    async fn delete(
        &self,
        tenant: &str,
        kind: ResourceKind,
        before: &Stored,
        audit: &Audit,
    ) -> StoreResult<()> {
        lifecycle::delete(self, tenant, kind, before, audit).await
    }

    async fn finish_delete(&self, tenant: &str, kind: ResourceKind, id: &str) -> StoreResult<()> {
        lifecycle::finish_delete(self, tenant, kind, id).await
    }

    async fn tombstone(
        &self,
        tenant: &str,
        id: &str,
        now: time::OffsetDateTime,
    ) -> StoreResult<Option<Tombstone>> {
        lifecycle::tombstone(self, tenant, id, now).await
    }

    async fn restore(
        &self,
        tenant: &str,
        tombstone: &Tombstone,
        after: &Stored,
        audit: &Audit,
    ) -> StoreResult<()> {
        lifecycle::restore(self, tenant, tombstone, after, audit).await
    }

    async fn clear_inactive_email(
        &self,
        tenant: &str,
        email: &str,
        holder: &str,
    ) -> StoreResult<()> {
        lifecycle::clear_inactive_email(self, tenant, email, holder).await
    }

    async fn accept_job(
        &self,
        job: &scim_service::jobs::Job,
        at: time::OffsetDateTime,
    ) -> StoreResult<()> {
        jobs::accept(self, job, at).await
    }

    async fn job(
        &self,
        tenant: &str,
        txn: &str,
    ) -> StoreResult<Option<scim_service::jobs::JobRecord>> {
        jobs::job(self, tenant, txn).await
    }

    async fn finish_job(&self, tenant: &str, txn: &str, sets: &[String]) -> StoreResult<()> {
        jobs::finish(self, tenant, txn, sets).await
    }
}
