//! The storage port: what the domain operations need from a store, and nothing about how.
//!
//! One real implementation exists (the DynamoDB adapter in `scim-aws`); it runs against
//! AWS, Amazon's DynamoDB Local and the embedded engine alike.

use scim_core::catalog::CatalogEntry;
use scim_core::filter::Filter;
use scim_core::list::Paging;
use scim_core::patch::{Member, MemberChanges};
use scim_core::resource::{Doc, Meta};
use scim_core::schema::{CatalogKind, ResourceKind};
use std::fmt;
use std::future::Future;
use time::OffsetDateTime;

/// A resource as stored: id, canonical document, and server-managed metadata.
/// Group documents never hold `members`; memberships are separate items.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    pub id: String,
    pub doc: Doc,
    pub meta: Meta,
    /// A user's Argon2id password hash; never part of the document, never returned.
    pub password_hash: Option<String>,
}

/// Who made a write and why: recorded in the audit record written in the same
/// transaction, and carried by the change event published from it. Never a token or a
/// password: the token is named by its non-secret id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Audit {
    /// `user.created`, `user.deactivated`, `group.members.added`, ... (see `events`).
    pub event: String,
    pub token_id: String,
    pub request_id: String,
    /// Canonical names of the attributes that changed.
    pub changed: Vec<String>,
    /// The time of the write: the request's one clock reading. The store derives the
    /// write's stamps and retention (TTL) from it and never reads a clock itself.
    pub at: OffsetDateTime,
}

/// A deleted user kept (hidden from every SCIM read) so a re-added person gets their
/// record back; purged after the retention period.
#[derive(Debug, Clone, PartialEq)]
pub struct Tombstone {
    pub user: Stored,
    /// The groups the user was a direct member of when deleted.
    pub groups: Vec<String>,
}

/// A list request as the store sees it.
#[derive(Debug, Clone)]
pub struct ListRequest<'a> {
    pub filter: Option<&'a Filter>,
    pub paging: &'a Paging,
    pub count: u64,
    /// `sortBy`/`sortOrder`, if asked for.
    pub sort: Option<&'a scim_core::sort::Sort>,
    /// The time the request is answered: a contact whose end date has passed is inactive.
    pub now: OffsetDateTime,
}

/// One page from the store.
#[derive(Debug, Clone, Default)]
pub struct ListPage {
    pub items: Vec<Stored>,
    pub total: u64,
    pub next_cursor: Option<String>,
}

/// One update of a resource, as [`Store::update`] applies it.
#[derive(Debug, Clone, Copy)]
pub struct Update<'a> {
    pub kind: ResourceKind,
    pub before: &'a Stored,
    pub after: &'a Stored,
    /// Membership changes (groups only; empty otherwise).
    pub members: &'a MemberChanges,
    pub guard: Guard,
    pub audit: &'a Audit,
}

impl<'a> Update<'a> {
    /// A document change guarded by the version read, with no membership change.
    pub fn versioned(
        kind: ResourceKind,
        before: &'a Stored,
        after: &'a Stored,
        audit: &'a Audit,
    ) -> Update<'a> {
        static NONE: MemberChanges = MemberChanges {
            replace_all: false,
            added: Vec::new(),
            removed: Vec::new(),
        };
        Update {
            kind,
            before,
            after,
            members: &NONE,
            guard: Guard::Version(before.meta.version),
            audit,
        }
    }
}

/// How a write is guarded against concurrent writers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guard {
    /// The stored version must still be this one (optimistic concurrency).
    Version(u64),
    /// Only existence is required: used for membership-only changes, which commute.
    Exists,
}

/// What can go wrong in a store, in the store's own terms. The service maps these to SCIM
/// errors in exactly one place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    NotFound,
    /// The version guard failed: someone else wrote first.
    VersionMismatch,
    /// A uniqueness guard failed: the canonical attribute name, and the id of the user
    /// holding the value when the store knows it (so a re-add can restore that user).
    Uniqueness {
        attribute: &'static str,
        holder: Option<String>,
    },
    /// A member to add does not exist; its id.
    MissingMember(String),
    /// A cursor the store cannot read.
    InvalidCursor,
    /// A filter no index serves would examine more than `limit` items (`400 tooMany`).
    FilterTooBroad {
        limit: usize,
    },
    /// A sorted listing would hold more than `limit` items to sort (`400 tooMany`).
    SortTooBroad {
        limit: usize,
    },
    /// Too much contention after the store's own retries (`503`).
    Busy,
    /// The database refused the call for throughput after every retry (`429`).
    Throttled,
    /// A transient failure that outlasted the retries: the database answered 5xx, timed
    /// out, or could not be reached (`503`). The text is for logs, never for clients.
    Unavailable(String),
    /// A defect: anything else (`500`). The text is for logs, never for clients.
    Internal(String),
}

impl StoreError {
    /// Whether the same request may succeed if retried later (`429`/`503`).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            StoreError::Busy | StoreError::Throttled | StoreError::Unavailable(_)
        )
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::NotFound => f.write_str("not found"),
            StoreError::VersionMismatch => f.write_str("version mismatch"),
            StoreError::Uniqueness { attribute, .. } => write!(f, "uniqueness of {attribute}"),
            StoreError::MissingMember(id) => write!(f, "member {id} does not exist"),
            StoreError::InvalidCursor => f.write_str("invalid cursor"),
            StoreError::FilterTooBroad { limit } => write!(f, "filter examines over {limit} items"),
            StoreError::SortTooBroad { limit } => write!(f, "sort over more than {limit} items"),
            StoreError::Busy => f.write_str("busy"),
            StoreError::Throttled => f.write_str("throttled"),
            StoreError::Unavailable(e) => write!(f, "unavailable: {e}"),
            StoreError::Internal(e) => write!(f, "internal: {e}"),
        }
    }
}

impl std::error::Error for StoreError {}

pub type StoreResult<T> = Result<T, StoreError>;

/// The storage port. `tenant` scopes every call: no call can reach another tenant's items.
pub trait Store: Send + Sync {
    /// The tenant's whole catalog of one kind (entitlements or roles), in no particular
    /// order: one paged query of a bounded partition (`scim_core::catalog`). Empty when the
    /// product has defined none.
    fn catalog(
        &self,
        tenant: &str,
        kind: CatalogKind,
    ) -> impl Future<Output = StoreResult<Vec<CatalogEntry>>> + Send;

    /// One value of the catalog by id (one read).
    fn catalog_entry(
        &self,
        tenant: &str,
        kind: CatalogKind,
        id: &str,
    ) -> impl Future<Output = StoreResult<Option<CatalogEntry>>> + Send;

    /// Reads one resource with a strongly consistent read.
    fn get(
        &self,
        tenant: &str,
        kind: ResourceKind,
        id: &str,
    ) -> impl Future<Output = StoreResult<Option<Stored>>> + Send;

    /// The members of a group, at most `limit` (the store pages internally). `None` when
    /// the group has more than `limit` members.
    fn members(
        &self,
        tenant: &str,
        group_id: &str,
        limit: usize,
    ) -> impl Future<Output = StoreResult<Option<Vec<Member>>>> + Send;

    /// The ids of the groups a user is a direct member of.
    fn groups_of(
        &self,
        tenant: &str,
        user_id: &str,
    ) -> impl Future<Output = StoreResult<Vec<String>>> + Send;

    /// A page of resources matching the request.
    fn list(
        &self,
        tenant: &str,
        kind: ResourceKind,
        request: &ListRequest<'_>,
    ) -> impl Future<Output = StoreResult<ListPage>> + Send;

    /// Writes a new resource (and a group's initial members) in one transaction, with its
    /// uniqueness guards and audit record. For users, the transaction also checks that no
    /// inactive or deleted user holds the primary email (`Uniqueness { "emails", holder }`).
    fn create(
        &self,
        tenant: &str,
        kind: ResourceKind,
        resource: &Stored,
        members: &[Member],
        audit: &Audit,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// Replaces `before` by `after` (same id), moving uniqueness guards and index entries as
    /// the document changed, and applies membership changes.
    fn update(
        &self,
        tenant: &str,
        change: Update<'_>,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// Deletes a resource and every membership it takes part in. A user leaves a tombstone
    /// that keeps its guards and remembers its groups until the retention ends.
    fn delete(
        &self,
        tenant: &str,
        kind: ResourceKind,
        before: &Stored,
        audit: &Audit,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// The clean-up of a delete, run again for a resource that is already gone: removes the
    /// memberships of `kind`/`id` that a delete cut short after its transaction (a fault, a
    /// timeout) may have left behind. Idempotent. Called when a `DELETE` finds nothing, so
    /// that the client's retry of a delete that answered `503` converges.
    fn finish_delete(
        &self,
        tenant: &str,
        kind: ResourceKind,
        id: &str,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// A deleted user's tombstone, if it is still kept at `now` (retention not over).
    fn tombstone(
        &self,
        tenant: &str,
        id: &str,
        now: OffsetDateTime,
    ) -> impl Future<Output = StoreResult<Option<Tombstone>>> + Send;

    /// Brings a deleted user back under the same id with the document `after`, re-adding
    /// the memberships of groups that still exist.
    fn restore(
        &self,
        tenant: &str,
        tombstone: &Tombstone,
        after: &Stored,
        audit: &Audit,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// Removes a marker that says an inactive user holds `email`, if `holder` still owns
    /// it (the marker outlived its reason: the holder was reactivated or purged).
    fn clear_inactive_email(
        &self,
        tenant: &str,
        email: &str,
        holder: &str,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// Stores an accepted asynchronous request ([`crate::jobs`]): one put of its job item
    /// (`job.tenant`, `job.txn`), kept until [`crate::jobs::RETENTION`] after `at`.
    fn accept_job(
        &self,
        job: &crate::jobs::Job,
        at: OffsetDateTime,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// A job item (consistent read): its request until it has run, its completion after.
    fn job(
        &self,
        tenant: &str,
        txn: &str,
    ) -> impl Future<Output = StoreResult<Option<crate::jobs::JobRecord>>> + Send;

    /// Records a job's completion SETs on its item and drops the request it held.
    fn finish_job(
        &self,
        tenant: &str,
        txn: &str,
        sets: &[String],
    ) -> impl Future<Output = StoreResult<()>> + Send;
}

/// A group as the application API names it: id and display name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRef {
    pub id: String,
    pub display_name: Option<String>,
}

/// One page of a group's members, in member-id order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemberPage {
    pub members: Vec<Member>,
    /// The last member id of this page when more may follow.
    pub next_after: Option<String>,
}

/// One entry of a tenant's provisioning activity: an audit record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivityRecord {
    pub at: String,
    pub event: String,
    pub resource_type: String,
    pub resource_id: String,
    pub changed: Vec<String>,
    /// The token id that made the change, or the job or API that did.
    pub actor: String,
    pub request_id: String,
}

/// One page of activity, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ActivityPage {
    pub records: Vec<ActivityRecord>,
    /// An opaque cursor for the next page, when more may follow.
    pub next_cursor: Option<String>,
}

/// The tenant's catalog of entitlements and roles as the product defines it (the
/// application API's `PUT /app/v1/catalog/{kind}`, `scim-admin catalog set`). Reads are the
/// [`Store`]'s ([`Store::catalog`]); only the product writes.
pub trait CatalogAdmin: Send + Sync {
    /// Replaces the whole kind with `entries` (already checked by
    /// `scim_core::catalog::parse_entries`): puts every entry, then deletes the values no
    /// longer listed. Not one transaction (a kind holds up to 1,000 values): cut short, it
    /// leaves both sets' values, and the same call again converges.
    fn replace_catalog(
        &self,
        tenant: &str,
        kind: CatalogKind,
        entries: &[CatalogEntry],
    ) -> impl Future<Output = StoreResult<()>> + Send;
}

/// What the application API reads besides the SCIM operations: each call is O(page).
pub trait DirectoryStore: Send + Sync {
    /// The ids of the users an index holds for this value (`userName`, `externalId` or an
    /// email, as a filter would name it): one lookup, no item read. May name deleted users
    /// (their guards outlive them until purged); [`DirectoryStore::user_with_groups`]
    /// answers `None` for those.
    fn user_ids(
        &self,
        tenant: &str,
        key: &scim_core::filter::IndexKey,
    ) -> impl Future<Output = StoreResult<Vec<String>>> + Send;

    /// Several users by id, those that exist (one batched read).
    fn users(
        &self,
        tenant: &str,
        ids: &[String],
    ) -> impl Future<Output = StoreResult<Vec<Stored>>> + Send;

    /// A user and the groups they are a direct member of, with the groups' display names:
    /// two calls (the reverse index, then one batched read of the user and the groups).
    fn user_with_groups(
        &self,
        tenant: &str,
        id: &str,
    ) -> impl Future<Output = StoreResult<Option<(Stored, Vec<GroupRef>)>>> + Send;

    /// A page of a group's members after `after` (exclusive), at most `limit`: one query.
    fn member_page(
        &self,
        tenant: &str,
        group_id: &str,
        after: Option<&str>,
        limit: usize,
    ) -> impl Future<Output = StoreResult<MemberPage>> + Send;

    /// The tenant's activity (or one resource's), newest first: one query.
    fn activity(
        &self,
        tenant: &str,
        resource_id: Option<&str>,
        cursor: Option<&str>,
        limit: usize,
    ) -> impl Future<Output = StoreResult<ActivityPage>> + Send;

    /// The number of users and groups (the counters; one query).
    fn counts(&self, tenant: &str) -> impl Future<Output = StoreResult<(u64, u64)>> + Send;
}
