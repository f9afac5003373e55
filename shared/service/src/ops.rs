//! The domain operations: each SCIM operation as core calls around store calls.
//!
//! Invariants: a failed operation writes nothing; every write is guarded by the version it
//! read (or, for membership-only changes, by existence); a conflicting concurrent write
//! makes the operation re-read and re-apply, never overwrite.

use crate::password;
use crate::port::{Audit, Guard, ListRequest, Store, StoreError, Stored, Tombstone, Update};
use scim_core::catalog::{self, CatalogQuery};
use scim_core::error::{ScimError, ScimResult};
use scim_core::list::{ListQuery, Page, Paging};
use scim_core::patch::{self, Member, MemberChanges};
use scim_core::projection::Projection;
use scim_core::resource::{self, format_datetime, Doc, Meta};
use scim_core::schema::{CatalogKind, ResourceKind};
use serde_json::Value;
use std::collections::BTreeSet;
use time::OffsetDateTime;

/// The most members a group representation carries; larger groups must be read with
/// `excludedAttributes=members` (a Lambda response is at most 6 MB).
pub const MAX_MEMBERS_RETURNED: usize = 10_000;

/// How many times a write that lost a race is re-read and re-applied.
const MAX_WRITE_ATTEMPTS: usize = 8;

/// Who asks, for which tenant, and where the service is reachable (for `location`).
#[derive(Debug, Clone)]
pub struct Context {
    pub tenant: String,
    pub base_url: String,
    /// The non-secret id of the token the request was made with.
    pub token_id: String,
    /// The request id (API Gateway's, or generated), for audit records and events.
    pub request_id: String,
    /// The request's one clock reading: every stamp, TTL and end-date check of the
    /// request is made against it.
    pub now: OffsetDateTime,
    /// Set when an asynchronous job runs (`crate::jobs`): what the ids of the resources
    /// it creates derive from (its `txn`, with the operation's index in a bulk job), so a
    /// job run again recognises what its first run created.
    pub replay: Option<String>,
}

impl Context {
    /// The id of a resource this request creates: new, or the job's own (see `replay`).
    fn new_id(&self) -> String {
        match &self.replay {
            Some(seed) => {
                use sha2::{Digest, Sha256};
                let d = Sha256::digest(format!("{}\u{0}{seed}", self.tenant).as_bytes());
                let mut b = [0u8; 16];
                b.copy_from_slice(&d[..16]);
                uuid::Builder::from_custom_bytes(b).into_uuid().to_string()
            }
            None => uuid::Uuid::now_v7().to_string(),
        }
    }

    fn audit(&self, event: impl Into<String>, changed: BTreeSet<String>) -> Audit {
        Audit {
            event: event.into(),
            token_id: self.token_id.clone(),
            request_id: self.request_id.clone(),
            changed: changed.into_iter().collect(),
            at: self.now,
        }
    }
}

/// A single-resource answer: the representation (if any) and its entity tag.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceReply {
    pub body: Option<Doc>,
    pub etag: String,
    pub location: String,
}

/// Maps a store failure to the SCIM error a client sees. The one place that does so.
pub fn store_error(kind: ResourceKind, e: StoreError) -> ScimError {
    match e {
        StoreError::NotFound => not_found(kind),
        StoreError::VersionMismatch => ScimError::precondition_failed(
            "The resource was changed by another request; read it again and retry.",
        ),
        StoreError::Uniqueness { attribute, .. } => ScimError::uniqueness(format!(
            "A {} with this {attribute} already exists.",
            kind.name()
        )),
        StoreError::MissingMember(id) => ScimError::invalid_value(format!(
            "The member '{}' does not exist.",
            scim_core::path::truncate(&id, 100)
        )),
        StoreError::InvalidCursor => ScimError::new(
            400,
            Some(scim_core::ScimType::InvalidValue),
            "The cursor is not valid for this request.",
        ),
        StoreError::Busy => ScimError::unavailable(),
        StoreError::Throttled => {
            ScimError::too_many_requests("Too many requests for this tenant; retry later.")
        }
        StoreError::SortTooBroad { limit } => ScimError::too_many(format!(
            "Sorting would read more than {limit} {}s; narrow the request with a filter, \
             or list without 'sortBy'.",
            kind.name()
        )),
        StoreError::FilterTooBroad { limit } => ScimError::too_many(format!(
            "The filter can use no index, and answering it would examine more than {limit} {}s; \
             add an 'eq' clause on {}.",
            kind.name(),
            match kind {
                ResourceKind::User => "id, userName, externalId or emails.value",
                ResourceKind::Group => "id, displayName, externalId or members.value",
            }
        )),
        StoreError::Unavailable(detail) => {
            tracing::warn!(error = %detail, "store unavailable");
            ScimError::unavailable()
        }
        StoreError::Internal(detail) => {
            tracing::error!(error = %detail, "store failure");
            ScimError::internal()
        }
    }
}

fn not_found(kind: ResourceKind) -> ScimError {
    ScimError::not_found(format!("The {} does not exist.", kind.name()))
}

pub fn now_string(now: OffsetDateTime) -> String {
    format_datetime(now)
}

pub(crate) fn location(ctx: &Context, kind: ResourceKind, id: &str) -> String {
    format!(
        "{}{}/{}",
        ctx.base_url.trim_end_matches('/'),
        kind.endpoint(),
        id
    )
}

/// Checks an `If-Match` precondition against the stored version.
fn check_if_match(if_match: Option<&str>, stored: &Stored) -> ScimResult<()> {
    let Some(text) = if_match else { return Ok(()) };
    // A list of tags is allowed; any match passes.
    for tag in text.split(',') {
        match resource::parse_etag(tag) {
            Ok(None) => return Ok(()),
            Ok(Some(v)) if v == stored.meta.version => return Ok(()),
            _ => {}
        }
    }
    Err(ScimError::precondition_failed(format!(
        "If-Match does not match the current version {}.",
        stored.meta.etag()
    )))
}

/// Splits a group's `members` off its document.
fn take_members(kind: ResourceKind, doc: &mut Doc) -> ScimResult<Option<Vec<Member>>> {
    if kind != ResourceKind::Group {
        return Ok(None);
    }
    let Some(value) = doc.remove("members") else {
        return Ok(None);
    };
    let mut out: Vec<Member> = Vec::new();
    for m in value.as_array().into_iter().flatten() {
        let Some(v) = m
            .get("value")
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty())
        else {
            return Err(ScimError::invalid_value("Every member needs a 'value'."));
        };
        if out.iter().any(|x| x.value == v) {
            continue;
        }
        out.push(Member {
            value: v.to_string(),
            type_: m.get("type").and_then(Value::as_str).map(str::to_string),
            display: m.get("display").and_then(Value::as_str).map(str::to_string),
        });
    }
    Ok(Some(out))
}

/// Takes the write-only `password` out of a document and hashes it (Argon2id). The clear
/// text is never stored, returned or logged.
fn take_password(doc: &mut Doc) -> ScimResult<Option<String>> {
    match doc.remove("password") {
        Some(Value::String(p)) if !p.is_empty() => password::hash(&p).map(Some).map_err(|e| {
            tracing::error!(error = %e, "password hashing failed");
            ScimError::internal()
        }),
        _ => Ok(None),
    }
}

/// The event name of a change (see README, "Change events").
fn event_name(
    kind: ResourceKind,
    before: Option<&Doc>,
    after: Option<&Doc>,
    members: &MemberChanges,
) -> String {
    let noun = match kind {
        ResourceKind::User => "user",
        ResourceKind::Group => "group",
    };
    let verb = match (before, after) {
        (None, Some(_)) => "created",
        (Some(_), None) => "deleted",
        (Some(b), Some(a)) if kind == ResourceKind::User => {
            match (resource::is_active(b), resource::is_active(a)) {
                (true, false) => "deactivated",
                (false, true) => "reactivated",
                _ => "updated",
            }
        }
        (Some(b), Some(a)) if b == a => {
            match (
                members.added.is_empty(),
                members.removed.is_empty() && !members.replace_all,
            ) {
                (false, true) => "members.added",
                (true, false) => "members.removed",
                _ => "members.changed",
            }
        }
        _ => "updated",
    };
    format!("{noun}.{verb}")
}

/// Builds the representation the client sees, reading members / groups only when the
/// projection returns them.
async fn represent<S: Store>(
    store: &S,
    ctx: &Context,
    kind: ResourceKind,
    stored: &Stored,
    projection: &Projection,
    with_relations: bool,
) -> ScimResult<Doc> {
    let mut full = resource::render(kind, &stored.id, &stored.doc, &stored.meta, &ctx.base_url);
    if kind == ResourceKind::User {
        resource::apply_end_date(&mut full, ctx.now);
    }
    match kind {
        ResourceKind::Group if with_relations && projection.includes(kind, "members") => {
            let members = store
                .members(&ctx.tenant, &stored.id, MAX_MEMBERS_RETURNED)
                .await
                .map_err(|e| store_error(kind, e))?
                .ok_or_else(|| {
                    ScimError::too_many(format!(
                        "The group has more than {MAX_MEMBERS_RETURNED} members; read it with excludedAttributes=members."
                    ))
                })?;
            if !members.is_empty() {
                let base = ctx.base_url.trim_end_matches('/');
                let list = members.into_iter().map(|m| member_json(base, m)).collect();
                full.insert("members".into(), Value::Array(list));
            }
        }
        ResourceKind::User if with_relations && projection.includes(kind, "groups") => {
            let groups = store
                .groups_of(&ctx.tenant, &stored.id)
                .await
                .map_err(|e| store_error(kind, e))?;
            if !groups.is_empty() {
                let base = ctx.base_url.trim_end_matches('/');
                let list = groups
                    .into_iter()
                    .map(|g| {
                        serde_json::json!({
                            "value": g,
                            "$ref": format!("{base}/Groups/{g}"),
                            "type": "direct",
                        })
                    })
                    .collect();
                full.insert("groups".into(), Value::Array(list));
            }
        }
        _ => {}
    }
    projection.apply(kind, &mut full);
    Ok(full)
}

fn member_json(base: &str, m: Member) -> Value {
    let kind = m.type_.as_deref().unwrap_or("User");
    let endpoint = if kind.eq_ignore_ascii_case("Group") {
        "Groups"
    } else {
        "Users"
    };
    let mut v = serde_json::json!({
        "value": m.value,
        "$ref": format!("{base}/{endpoint}/{}", m.value),
        "type": if kind.eq_ignore_ascii_case("Group") { "Group" } else { "User" },
    });
    if let (Some(d), Some(obj)) = (m.display, v.as_object_mut()) {
        obj.insert("display".into(), Value::String(d));
    }
    v
}

async fn load<S: Store>(
    store: &S,
    ctx: &Context,
    kind: ResourceKind,
    id: &str,
) -> ScimResult<Stored> {
    store
        .get(&ctx.tenant, kind, id)
        .await
        .map_err(|e| store_error(kind, e))?
        .ok_or_else(|| not_found(kind))
}

fn reply(ctx: &Context, kind: ResourceKind, stored: &Stored, body: Option<Doc>) -> ResourceReply {
    ResourceReply {
        body,
        etag: stored.meta.etag(),
        location: location(ctx, kind, &stored.id),
    }
}

/// `GET /{type}/{id}`
pub async fn get<S: Store>(
    store: &S,
    ctx: &Context,
    kind: ResourceKind,
    id: &str,
    projection: &Projection,
) -> ScimResult<ResourceReply> {
    let stored = load(store, ctx, kind, id).await?;
    let body = represent(store, ctx, kind, &stored, projection, true).await?;
    Ok(reply(ctx, kind, &stored, Some(body)))
}

/// `GET /{type}` and `POST /{type}/.search`
pub async fn list<S: Store>(
    store: &S,
    ctx: &Context,
    kind: ResourceKind,
    query: &ListQuery,
) -> ScimResult<Page> {
    let request = ListRequest {
        filter: query.filter.as_ref(),
        paging: &query.paging,
        count: query.count,
        sort: query.sort.as_ref(),
        now: ctx.now,
    };
    let page = store
        .list(&ctx.tenant, kind, &request)
        .await
        .map_err(|e| store_error(kind, e))?;
    let mut resources = Vec::with_capacity(page.items.len());
    // In lists a user's `groups` is returned only when asked for by name: it costs a query
    // per user, and neither Entra ID nor Okta reads it from a list.
    let relations = kind == ResourceKind::Group || query.projection.names_explicitly("groups");
    for item in &page.items {
        resources.push(represent(store, ctx, kind, item, &query.projection, relations).await?);
    }
    let start_index = match query.paging {
        Paging::Index { start_index } => Some(start_index),
        Paging::Cursor(_) => None,
    };
    Ok(Page {
        resources,
        total_results: page.total,
        start_index,
        next_cursor: page.next_cursor,
        previous_cursor: None,
    })
}

/// How many times a create is tried when what it collided with changed under it: a stale
/// inactive-email marker was cleared, or a concurrent request restored the holder first.
const MAX_CREATE_ATTEMPTS: usize = 6;

/// `POST /{type}`. A user whose `userName`, `externalId` or primary email matches a user
/// who was deactivated or deleted earlier is that person coming back: their record is
/// restored in place (same id, attributes from this request, `active: true`) and the
/// answer is `201`. A match with an active user is `409 uniqueness`.
///
/// Of simultaneous creates that match the same holder, exactly one restores it; the others
/// see their restore lose (the holder's version or tombstone is gone) and try again as
/// what they now are: a new user (an email is not unique), or a real `409` collision on
/// `userName`/`externalId`. A POST carries no `If-Match`, so it never answers `412`.
pub async fn create<S: Store>(
    store: &S,
    ctx: &Context,
    kind: ResourceKind,
    body: &Value,
    projection: &Projection,
) -> ScimResult<ResourceReply> {
    let mut doc = resource::normalize_resource(kind, body)?;
    let members = take_members(kind, &mut doc)?.unwrap_or_default();
    let password_hash = take_password(&mut doc)?;
    if kind == ResourceKind::User {
        check_catalog(store, ctx, None, &doc).await?;
    }
    let stamp = now_string(ctx.now);
    let id = ctx.new_id();
    // A job run again: its create committed the first time (same id). Answer as then.
    if ctx.replay.is_some() {
        if let Some(existing) = store
            .get(&ctx.tenant, kind, &id)
            .await
            .map_err(|e| store_error(kind, e))?
        {
            let body = represent(store, ctx, kind, &existing, projection, true).await?;
            return Ok(reply(ctx, kind, &existing, Some(body)));
        }
    }
    let stored = Stored {
        id,
        doc,
        meta: Meta {
            created: stamp.clone(),
            last_modified: stamp,
            version: 1,
        },
        password_hash,
    };
    let audit = ctx.audit(
        event_name(kind, None, Some(&stored.doc), &MemberChanges::default()),
        resource::changed_paths(kind, &Doc::new(), &stored.doc),
    );
    let mut attempt = 0;
    let result = loop {
        attempt += 1;
        let again = attempt < MAX_CREATE_ATTEMPTS;
        let (attribute, holder) = match store
            .create(&ctx.tenant, kind, &stored, &members, &audit)
            .await
        {
            Err(StoreError::Uniqueness {
                attribute,
                holder: Some(holder),
            }) if kind == ResourceKind::User => (attribute, holder),
            other => break other.map(|()| stored.clone()),
        };
        let restored = match restore_candidate(store, ctx, &holder).await? {
            Candidate::Inactive(before) => restore_inactive(store, ctx, before, &stored).await,
            Candidate::Deleted(tomb) => restore_deleted(store, ctx, tomb, &stored).await,
            Candidate::Active | Candidate::Gone if attribute == "emails" => {
                // Emails are not unique: the inactive-email marker outlived its reason
                // (the holder is active again, or purged). Clear it, retry.
                if !again {
                    break Err(StoreError::Busy);
                }
                if let Some(email) = resource::primary_email(&stored.doc) {
                    store
                        .clear_inactive_email(&ctx.tenant, email, &holder)
                        .await
                        .map_err(|e| store_error(kind, e))?;
                }
                continue;
            }
            Candidate::Active | Candidate::Gone => Err(StoreError::Uniqueness {
                attribute,
                holder: Some(holder),
            }),
        };
        match restored {
            // Another request restored (or changed) the holder first: start over.
            Err(StoreError::VersionMismatch | StoreError::NotFound) if again => {
                tracing::debug!(attempt, "restore lost a race; creating again");
            }
            Err(StoreError::VersionMismatch | StoreError::NotFound) => break Err(StoreError::Busy),
            other => break other,
        }
    };
    let created = result.map_err(|e| store_error(kind, e))?;
    let restored = created.id != stored.id;
    let mut body = represent(
        store,
        ctx,
        kind,
        &created,
        projection,
        restored && write_relations(kind, projection),
    )
    .await?;
    if kind == ResourceKind::Group && !members.is_empty() && projection.includes(kind, "members") {
        let base = ctx.base_url.trim_end_matches('/').to_string();
        body.insert(
            "members".into(),
            Value::Array(members.into_iter().map(|m| member_json(&base, m)).collect()),
        );
    }
    Ok(reply(ctx, kind, &created, Some(body)))
}

enum Candidate {
    Active,
    Inactive(Stored),
    Deleted(Tombstone),
    Gone,
}

/// What holds a value a new user collides with.
async fn restore_candidate<S: Store>(
    store: &S,
    ctx: &Context,
    holder: &str,
) -> ScimResult<Candidate> {
    let kind = ResourceKind::User;
    if let Some(user) = store
        .get(&ctx.tenant, kind, holder)
        .await
        .map_err(|e| store_error(kind, e))?
    {
        let mut view = user.doc.clone();
        resource::apply_end_date(&mut view, ctx.now);
        return Ok(if resource::is_active(&view) {
            Candidate::Active
        } else {
            Candidate::Inactive(user)
        });
    }
    match store
        .tombstone(&ctx.tenant, holder, ctx.now)
        .await
        .map_err(|e| store_error(kind, e))?
    {
        Some(t) => Ok(Candidate::Deleted(t)),
        None => Ok(Candidate::Gone),
    }
}

/// The restored document: the new request's attributes, active, and no end date left in
/// the past (a passed end date would deactivate the person again at once).
fn restored_doc(new: &Stored, now: OffsetDateTime) -> Doc {
    let mut doc = new.doc.clone();
    doc.insert("active".into(), Value::Bool(true));
    if resource::end_date_passed(&doc, now) {
        if let Some(Value::Object(c)) = doc.get_mut(scim_core::schema::CONTACT_USER_URN) {
            c.remove("endDate");
            if c.is_empty() {
                doc.remove(scim_core::schema::CONTACT_USER_URN);
            }
        }
    }
    doc
}

async fn restore_inactive<S: Store>(
    store: &S,
    ctx: &Context,
    before: Stored,
    new: &Stored,
) -> Result<Stored, StoreError> {
    let after = Stored {
        id: before.id.clone(),
        doc: restored_doc(new, ctx.now),
        meta: Meta {
            created: before.meta.created.clone(),
            last_modified: now_string(ctx.now),
            version: before.meta.version + 1,
        },
        password_hash: new.password_hash.clone().or(before.password_hash.clone()),
    };
    let audit = ctx.audit(
        "user.restored",
        resource::changed_paths(ResourceKind::User, &before.doc, &after.doc),
    );
    store
        .update(
            &ctx.tenant,
            Update::versioned(ResourceKind::User, &before, &after, &audit),
        )
        .await?;
    Ok(after)
}

async fn restore_deleted<S: Store>(
    store: &S,
    ctx: &Context,
    tomb: Tombstone,
    new: &Stored,
) -> Result<Stored, StoreError> {
    let before = &tomb.user;
    let after = Stored {
        id: before.id.clone(),
        doc: restored_doc(new, ctx.now),
        meta: Meta {
            created: before.meta.created.clone(),
            last_modified: now_string(ctx.now),
            version: before.meta.version + 1,
        },
        password_hash: new.password_hash.clone().or(before.password_hash.clone()),
    };
    let audit = ctx.audit(
        "user.restored",
        resource::changed_paths(ResourceKind::User, &before.doc, &after.doc),
    );
    store.restore(&ctx.tenant, &tomb, &after, &audit).await?;
    Ok(after)
}

/// A change computed from the current state: the new document, membership changes, and
/// the new password hash if the change set one.
pub struct Change {
    pub doc: Doc,
    pub members: MemberChanges,
    pub password_hash: Option<String>,
    /// The attributes the change alters, as the core names them
    /// ([`resource::changed_paths`], or a PATCH's [`patch::PatchOutcome::changed`]).
    pub changed: BTreeSet<String>,
}

/// Runs `change` on a fresh read until the guarded write succeeds or attempts run out.
async fn write_loop<S, F>(
    store: &S,
    ctx: &Context,
    kind: ResourceKind,
    id: &str,
    if_match: Option<&str>,
    mut change: F,
) -> ScimResult<(Stored, bool)>
where
    S: Store,
    F: FnMut(&Stored) -> ScimResult<Change>,
{
    for attempt in 0..MAX_WRITE_ATTEMPTS {
        let before = load(store, ctx, kind, id).await?;
        check_if_match(if_match, &before)?;
        let Change {
            doc,
            members,
            password_hash,
            mut changed,
        } = change(&before)?;
        if kind == ResourceKind::User {
            check_catalog(store, ctx, Some(&before.doc), &doc).await?;
        }
        let doc_changed = doc != before.doc;
        let password_changed = password_hash.is_some();
        let members_changed =
            members.replace_all || !members.added.is_empty() || !members.removed.is_empty();
        if !doc_changed && !members_changed && !password_changed {
            return Ok((before, false));
        }
        let after = Stored {
            id: before.id.clone(),
            doc,
            meta: Meta {
                created: before.meta.created.clone(),
                last_modified: now_string(ctx.now),
                version: before.meta.version + 1,
            },
            password_hash: password_hash.or_else(|| before.password_hash.clone()),
        };
        // Membership-only changes commute, so they need only existence; anything touching
        // the document is guarded by the version just read. An If-Match always pins it.
        let guard = if doc_changed || password_changed || if_match.is_some() {
            Guard::Version(before.meta.version)
        } else {
            Guard::Exists
        };
        if members_changed {
            changed.insert("members".into());
        }
        if password_changed {
            changed.insert("password".into());
        }
        let audit = ctx.audit(
            event_name(kind, Some(&before.doc), Some(&after.doc), &members),
            changed,
        );
        match store
            .update(
                &ctx.tenant,
                Update {
                    kind,
                    before: &before,
                    after: &after,
                    members: &members,
                    guard,
                    audit: &audit,
                },
            )
            .await
        {
            Ok(()) => return Ok((after, true)),
            Err(StoreError::VersionMismatch) if if_match.is_none() => {
                tracing::debug!(attempt, "write lost a race; re-reading");
                continue;
            }
            Err(e) => return Err(store_error(kind, e)),
        }
    }
    Err(ScimError::new(
        409,
        None,
        "The resource is being changed by many requests at once; retry later.",
    ))
}

/// Checks a user's new `entitlements` and `roles` values against the tenant's catalog
/// ([`catalog::check_assignments`]); the catalog of a kind is read only when the write adds
/// a value of that kind the user did not hold.
async fn check_catalog<S: Store>(
    store: &S,
    ctx: &Context,
    before: Option<&Doc>,
    after: &Doc,
) -> ScimResult<()> {
    for kind in CatalogKind::ALL {
        if catalog::assignments_changed(kind, before, after) {
            let entries = store
                .catalog(&ctx.tenant, kind)
                .await
                .map_err(|e| store_error(ResourceKind::User, e))?;
            catalog::check_assignments(kind, before, after, &entries)?;
        }
    }
    Ok(())
}

/// `GET /Entitlements` and `GET /Roles`: the tenant's catalog of that kind, filtered and
/// paged in memory (one paged query of a bounded partition).
pub async fn catalog_list<S: Store>(
    store: &S,
    ctx: &Context,
    kind: CatalogKind,
    query: &CatalogQuery,
) -> ScimResult<Page> {
    let entries = store
        .catalog(&ctx.tenant, kind)
        .await
        .map_err(|e| store_error(ResourceKind::User, e))?;
    Ok(query.page(kind, &entries, &ctx.base_url))
}

/// `GET /Entitlements/{id}` and `GET /Roles/{id}`: one read; `404` for an unknown id.
pub async fn catalog_get<S: Store>(
    store: &S,
    ctx: &Context,
    kind: CatalogKind,
    id: &str,
    projection: &Projection,
) -> ScimResult<Doc> {
    let unknown = || ScimError::not_found(format!("The {} does not exist.", kind.name()));
    if !catalog::is_possible_id(id) {
        return Err(unknown());
    }
    let entry = store
        .catalog_entry(&ctx.tenant, kind, id)
        .await
        .map_err(|e| store_error(ResourceKind::User, e))?
        .ok_or_else(unknown)?;
    let mut doc = entry.render(kind, &ctx.base_url);
    projection.apply(kind, &mut doc);
    Ok(doc)
}

/// A write to one resource, as the request gives it (`PUT` or `PATCH /{type}/{id}`).
#[derive(Debug, Clone, Copy)]
pub struct ItemWrite<'a> {
    pub kind: ResourceKind,
    pub id: &'a str,
    pub body: &'a Value,
    pub if_match: Option<&'a str>,
    pub projection: &'a Projection,
}

/// `PUT /{type}/{id}`
pub async fn replace<S: Store>(
    store: &S,
    ctx: &Context,
    write: &ItemWrite<'_>,
) -> ScimResult<ResourceReply> {
    let ItemWrite {
        kind,
        id,
        body,
        if_match,
        projection,
    } = *write;
    let mut doc = resource::normalize_resource(kind, body)?;
    // A PUT without `members` leaves memberships alone (they are managed by PATCH);
    // a PUT with `members` (even empty) replaces them.
    let members = take_members(kind, &mut doc)?;
    let password_hash = take_password(&mut doc)?;
    let changes = match &members {
        Some(list) => MemberChanges {
            replace_all: true,
            added: list.clone(),
            removed: Vec::new(),
        },
        None => MemberChanges::default(),
    };
    let (stored, _) = write_loop(store, ctx, kind, id, if_match, |before| {
        Ok(Change {
            doc: doc.clone(),
            members: changes.clone(),
            password_hash: password_hash.clone(),
            changed: resource::changed_paths(kind, &before.doc, &doc),
        })
    })
    .await?;
    let body = represent(
        store,
        ctx,
        kind,
        &stored,
        projection,
        write_relations(kind, projection),
    )
    .await?;
    Ok(reply(ctx, kind, &stored, Some(body)))
}

/// Whether a write's response reads relations: a group's members yes (when projected), a
/// user's `groups` only when asked for by name — it is read-only, and a write's budget is
/// one read and one transaction.
fn write_relations(kind: ResourceKind, projection: &Projection) -> bool {
    kind == ResourceKind::Group || projection.names_explicitly("groups")
}

/// `PATCH /{type}/{id}`. Groups answer 204 unless `attributes` asks for a body: a group's
/// representation may carry thousands of members, and Entra ID and Okta accept 204.
pub async fn patch<S: Store>(
    store: &S,
    ctx: &Context,
    write: &ItemWrite<'_>,
    wants_body: bool,
) -> ScimResult<ResourceReply> {
    let ItemWrite {
        kind,
        id,
        body,
        if_match,
        projection,
    } = *write;
    let ops = patch::parse_patch(body)?;
    let (stored, _) = write_loop(store, ctx, kind, id, if_match, |before| {
        let outcome = patch::apply_patch(kind, &before.doc, &ops)?;
        let mut doc = outcome.doc;
        let password_hash = take_password(&mut doc)?;
        let mut changed = outcome.changed;
        changed.remove("password");
        Ok(Change {
            doc,
            members: outcome.members,
            password_hash,
            changed,
        })
    })
    .await?;
    let body = if kind == ResourceKind::User || wants_body {
        Some(
            represent(
                store,
                ctx,
                kind,
                &stored,
                projection,
                write_relations(kind, projection),
            )
            .await?,
        )
    } else {
        None
    };
    Ok(reply(ctx, kind, &stored, body))
}

/// `DELETE /{type}/{id}`
pub async fn delete<S: Store>(
    store: &S,
    ctx: &Context,
    kind: ResourceKind,
    id: &str,
    if_match: Option<&str>,
) -> ScimResult<()> {
    let before = match load(store, ctx, kind, id).await {
        Err(e) if e.status == 404 => {
            // Perhaps a retry of a delete whose clean-up was cut short: finish it. A failure
            // here is not this request's answer, which is the 404.
            if let Err(f) = store.finish_delete(&ctx.tenant, kind, id).await {
                tracing::warn!(error = %f, "finishing an earlier delete failed");
            }
            return Err(e);
        }
        other => other?,
    };
    check_if_match(if_match, &before)?;
    let audit = ctx.audit(
        event_name(kind, Some(&before.doc), None, &MemberChanges::default()),
        BTreeSet::new(),
    );
    store
        .delete(&ctx.tenant, kind, &before, &audit)
        .await
        .map_err(|e| store_error(kind, e))
}
