//! The storage port: what the domain operations need from a store, and nothing about how.
//!
//! One real implementation exists (the DynamoDB adapter in `scim-aws`); it runs against
//! AWS, Amazon's DynamoDB Local and the embedded engine alike.

use scim_core::filter::Filter;
use scim_core::list::Paging;
use scim_core::patch::{Member, MemberChanges};
use scim_core::resource::{Doc, Meta};
use scim_core::schema::ResourceKind;
use std::fmt;
use std::future::Future;

/// A resource as stored: id, canonical document, and server-managed metadata.
/// Group documents never hold `members`; memberships are separate items.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    pub id: String,
    pub doc: Doc,
    pub meta: Meta,
}

/// A list request as the store sees it.
#[derive(Debug, Clone)]
pub struct ListRequest<'a> {
    pub filter: Option<&'a Filter>,
    pub paging: &'a Paging,
    pub count: u64,
}

/// One page from the store.
#[derive(Debug, Clone, Default)]
pub struct ListPage {
    pub items: Vec<Stored>,
    pub total: u64,
    pub next_cursor: Option<String>,
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
    /// A uniqueness guard failed; the canonical attribute name.
    Uniqueness(&'static str),
    /// A member to add does not exist; its id.
    MissingMember(String),
    /// A cursor the store cannot read.
    InvalidCursor,
    /// Too much contention or throttling after the store's own retries.
    Busy,
    /// Anything else; the text is for logs, never for clients.
    Internal(String),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::NotFound => f.write_str("not found"),
            StoreError::VersionMismatch => f.write_str("version mismatch"),
            StoreError::Uniqueness(a) => write!(f, "uniqueness of {a}"),
            StoreError::MissingMember(id) => write!(f, "member {id} does not exist"),
            StoreError::InvalidCursor => f.write_str("invalid cursor"),
            StoreError::Busy => f.write_str("busy"),
            StoreError::Internal(e) => write!(f, "internal: {e}"),
        }
    }
}

impl std::error::Error for StoreError {}

pub type StoreResult<T> = Result<T, StoreError>;

/// The storage port. `tenant` scopes every call: no call can reach another tenant's items.
pub trait Store: Send + Sync {
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
    /// uniqueness guards.
    fn create(
        &self,
        tenant: &str,
        kind: ResourceKind,
        resource: &Stored,
        members: &[Member],
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// Replaces `before` by `after` (same id), moving uniqueness guards and index entries as
    /// the document changed, and applies membership changes.
    fn update(
        &self,
        tenant: &str,
        kind: ResourceKind,
        before: &Stored,
        after: &Stored,
        members: &MemberChanges,
        guard: Guard,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// Deletes a resource, its guards and every membership it takes part in.
    fn delete(
        &self,
        tenant: &str,
        kind: ResourceKind,
        before: &Stored,
    ) -> impl Future<Output = StoreResult<()>> + Send;
}
