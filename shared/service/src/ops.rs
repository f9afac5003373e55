//! The domain operations: each SCIM operation as core calls around store calls.
//!
//! Invariants: a failed operation writes nothing; every write is guarded by the version it
//! read (or, for membership-only changes, by existence); a conflicting concurrent write
//! makes the operation re-read and re-apply, never overwrite.

use crate::port::{Guard, ListRequest, Store, StoreError, Stored};
use scim_core::error::{ScimError, ScimResult};
use scim_core::list::{ListQuery, Page, Paging};
use scim_core::patch::{self, Member, MemberChanges};
use scim_core::projection::Projection;
use scim_core::resource::{self, format_datetime, Doc, Meta};
use scim_core::schema::ResourceKind;
use serde_json::Value;
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
        StoreError::Uniqueness(attr) => ScimError::uniqueness(format!(
            "A {} with this {attr} already exists.",
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

fn location(ctx: &Context, kind: ResourceKind, id: &str) -> String {
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

/// Removes write-only attributes before storing. Passwords are not kept in clear text:
/// until password sync is built they are dropped.
fn strip_write_only(doc: &mut Doc) {
    doc.remove("password");
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
    };
    let page = store
        .list(&ctx.tenant, kind, &request)
        .await
        .map_err(|e| store_error(kind, e))?;
    let mut resources = Vec::with_capacity(page.items.len());
    // In lists a user's `groups` is returned only when asked for by name: it costs a query
    // per user, and neither Entra ID nor Okta reads it from a list.
    let user_groups_requested = kind == ResourceKind::User
        && query.projection.includes(kind, "groups")
        && query_names(query, "groups");
    for item in &page.items {
        let relations = kind == ResourceKind::Group || user_groups_requested;
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

fn query_names(query: &ListQuery, attr: &str) -> bool {
    query.projection.names_explicitly(attr)
}

/// `POST /{type}`
pub async fn create<S: Store>(
    store: &S,
    ctx: &Context,
    kind: ResourceKind,
    body: &Value,
    projection: &Projection,
    now: OffsetDateTime,
) -> ScimResult<ResourceReply> {
    let mut doc = resource::normalize_resource(kind, body)?;
    let members = take_members(kind, &mut doc)?.unwrap_or_default();
    strip_write_only(&mut doc);
    let stamp = now_string(now);
    let stored = Stored {
        id: uuid::Uuid::now_v7().to_string(),
        doc,
        meta: Meta {
            created: stamp.clone(),
            last_modified: stamp,
            version: 1,
        },
    };
    store
        .create(&ctx.tenant, kind, &stored, &members)
        .await
        .map_err(|e| store_error(kind, e))?;
    let mut body = represent(store, ctx, kind, &stored, projection, false).await?;
    if kind == ResourceKind::Group && !members.is_empty() && projection.includes(kind, "members") {
        let base = ctx.base_url.trim_end_matches('/').to_string();
        body.insert(
            "members".into(),
            Value::Array(members.into_iter().map(|m| member_json(&base, m)).collect()),
        );
    }
    Ok(reply(ctx, kind, &stored, Some(body)))
}

/// Runs `change` on a fresh read until the guarded write succeeds or attempts run out.
async fn write_loop<S, F>(
    store: &S,
    ctx: &Context,
    kind: ResourceKind,
    id: &str,
    if_match: Option<&str>,
    now: OffsetDateTime,
    mut change: F,
) -> ScimResult<(Stored, bool)>
where
    S: Store,
    F: FnMut(&Stored) -> ScimResult<(Doc, MemberChanges)>,
{
    for attempt in 0..MAX_WRITE_ATTEMPTS {
        let before = load(store, ctx, kind, id).await?;
        check_if_match(if_match, &before)?;
        let (mut doc, members) = change(&before)?;
        strip_write_only(&mut doc);
        let doc_changed = doc != before.doc;
        let members_changed =
            members.replace_all || !members.added.is_empty() || !members.removed.is_empty();
        if !doc_changed && !members_changed {
            return Ok((before, false));
        }
        let after = Stored {
            id: before.id.clone(),
            doc,
            meta: Meta {
                created: before.meta.created.clone(),
                last_modified: now_string(now),
                version: before.meta.version + 1,
            },
        };
        // Membership-only changes commute, so they need only existence; anything touching
        // the document is guarded by the version just read. An If-Match always pins it.
        let guard = if doc_changed || if_match.is_some() {
            Guard::Version(before.meta.version)
        } else {
            Guard::Exists
        };
        match store
            .update(&ctx.tenant, kind, &before, &after, &members, guard)
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

/// `PUT /{type}/{id}`
#[allow(clippy::too_many_arguments)]
pub async fn replace<S: Store>(
    store: &S,
    ctx: &Context,
    kind: ResourceKind,
    id: &str,
    body: &Value,
    if_match: Option<&str>,
    projection: &Projection,
    now: OffsetDateTime,
) -> ScimResult<ResourceReply> {
    let mut doc = resource::normalize_resource(kind, body)?;
    // A PUT without `members` leaves memberships alone (they are managed by PATCH);
    // a PUT with `members` (even empty) replaces them.
    let members = take_members(kind, &mut doc)?;
    let changes = match &members {
        Some(list) => MemberChanges {
            replace_all: true,
            added: list.clone(),
            removed: Vec::new(),
        },
        None => MemberChanges::default(),
    };
    let (stored, _) = write_loop(store, ctx, kind, id, if_match, now, |_| {
        Ok((doc.clone(), changes.clone()))
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
#[allow(clippy::too_many_arguments)]
pub async fn patch<S: Store>(
    store: &S,
    ctx: &Context,
    kind: ResourceKind,
    id: &str,
    body: &Value,
    if_match: Option<&str>,
    projection: &Projection,
    wants_body: bool,
    now: OffsetDateTime,
) -> ScimResult<ResourceReply> {
    let ops = patch::parse_patch(body)?;
    let (stored, _) = write_loop(store, ctx, kind, id, if_match, now, |before| {
        let outcome = patch::apply_patch(kind, &before.doc, &ops)?;
        Ok((outcome.doc, outcome.members))
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
    let before = load(store, ctx, kind, id).await?;
    check_if_match(if_match, &before)?;
    store
        .delete(&ctx.tenant, kind, &before)
        .await
        .map_err(|e| store_error(kind, e))
}
