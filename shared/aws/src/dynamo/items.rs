//! The stored shapes of the items the store reads whole, and their conversion to and from
//! the port's types. Keys come from [`super::keys`]; attribute names here are the table's
//! contract with its readers (the change-event publisher reads [`AuditItem`]'s, the Entra
//! cleanup function writes records of the same shape).

use super::keys::{
    self, activity_pk, activity_sk, audit_pk, audit_sk, membership_gpk, membership_pk, resource_pk,
};
use aws_sdk_dynamodb::types::AttributeValue;
use scim_core::patch::{Member, MemberChanges};
use scim_core::resource::{self, Meta};
use scim_core::schema::ResourceKind;
use scim_service::port::{Audit, StoreError, StoreResult, Stored, Tombstone};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// An item as the SDK sends and receives it.
pub(super) type Item = HashMap<String, AttributeValue>;

/// The value of `rec` that marks an audit record (the stream filter matches it).
pub const AUDIT_RECORD: &str = "audit";

pub(super) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub(super) fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

pub(super) fn to_item<T: Serialize>(v: T) -> StoreResult<Item> {
    serde_dynamo::to_item(v).map_err(|e| StoreError::Internal(format!("serialise: {e}")))
}

pub(super) fn from_item<T: DeserializeOwned>(item: Item) -> StoreResult<T> {
    serde_dynamo::from_item(item).map_err(|e| StoreError::Internal(format!("deserialise: {e}")))
}

/// Seconds since the epoch of a request's time, for TTL attributes (`expiresAt`).
pub(super) fn epoch_secs(at: time::OffsetDateTime) -> i64 {
    at.unix_timestamp()
}

fn object(doc: serde_json::Value, what: &str) -> StoreResult<resource::Doc> {
    match doc {
        serde_json::Value::Object(m) => Ok(m),
        _ => Err(StoreError::Internal(format!("{what} doc is not an object"))),
    }
}

/// The stored shape of a user or group.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct ResourceItem {
    pk: String,
    sk: String,
    doc: serde_json::Value,
    v: u64,
    created: String,
    modified: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    xpk: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    xsk: Option<String>,
    /// Argon2id password hash (users only); never part of `doc`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pw: Option<String>,
}

/// The item of a resource: users carry the sparse expiry index key while they are active
/// and have an end date.
pub(super) fn resource_item(t: &str, kind: ResourceKind, r: &Stored) -> StoreResult<Item> {
    let (xpk, xsk) = match kind {
        ResourceKind::User => keys::expiry_entry(t, &r.id, &r.doc).unzip(),
        ResourceKind::Group => (None, None),
    };
    to_item(ResourceItem {
        pk: resource_pk(t, kind),
        sk: r.id.clone(),
        doc: serde_json::Value::Object(r.doc.clone()),
        v: r.meta.version,
        created: r.meta.created.clone(),
        modified: r.meta.last_modified.clone(),
        xpk,
        xsk,
        pw: r.password_hash.clone(),
    })
}

/// A resource read back.
pub(super) fn stored(item: Item) -> StoreResult<Stored> {
    let item: ResourceItem = from_item(item)?;
    Ok(Stored {
        id: item.sk,
        doc: object(item.doc, "stored")?,
        meta: Meta {
            created: item.created,
            last_modified: item.modified,
            version: item.v,
        },
        password_hash: item.pw,
    })
}

/// A deleted user, kept under `{t}#UD` until `expiresAt`.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct TombstoneItem {
    pk: String,
    sk: String,
    doc: serde_json::Value,
    v: u64,
    created: String,
    modified: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pw: Option<String>,
    #[serde(default)]
    groups: Vec<String>,
    #[serde(rename = "deletedAt")]
    deleted_at: String,
    #[serde(rename = "expiresAt")]
    pub(super) expires_at: i64,
}

impl TombstoneItem {
    /// The tombstone of user `before`, deleted at `at`, in `groups`, kept until `expires`.
    pub(super) fn new(
        t: &str,
        before: &Stored,
        at: &str,
        groups: Vec<String>,
        expires: i64,
    ) -> TombstoneItem {
        TombstoneItem {
            pk: keys::tombstone_pk(t),
            sk: before.id.clone(),
            doc: serde_json::Value::Object(before.doc.clone()),
            v: before.meta.version,
            created: before.meta.created.clone(),
            modified: at.to_string(),
            pw: before.password_hash.clone(),
            groups,
            deleted_at: at.to_string(),
            expires_at: expires,
        }
    }

    pub(super) fn into_tombstone(self) -> StoreResult<Tombstone> {
        Ok(Tombstone {
            user: Stored {
                id: self.sk,
                doc: object(self.doc, "tombstone")?,
                meta: Meta {
                    created: self.created,
                    last_modified: self.modified,
                    version: self.v,
                },
                password_hash: self.pw,
            },
            groups: self.groups,
        })
    }
}

/// One append-only audit record per write, in the write's own transaction. It is also
/// what the change-event publisher reads (from the table's stream).
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct AuditItem {
    pk: String,
    sk: String,
    /// Marks the item kind for the stream filter ([`AUDIT_RECORD`]).
    rec: String,
    tenant: String,
    event: String,
    #[serde(rename = "resourceType")]
    resource_type: String,
    rid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(rename = "externalId")]
    external_id: Option<String>,
    changed: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[serde(rename = "membersAdded")]
    members_added: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[serde(rename = "membersRemoved")]
    members_removed: Vec<String>,
    token: String,
    req: String,
    at: String,
    #[serde(rename = "expiresAt")]
    expires_at: i64,
    /// The sparse `activity` index: the tenant's audit records, newest first.
    #[serde(default)]
    apk: String,
    #[serde(default)]
    ask: String,
}

impl AuditItem {
    /// The record of `audit` on resource `r` (as written), kept until `expires`.
    pub(super) fn new(
        t: &str,
        kind: ResourceKind,
        r: &Stored,
        audit: &Audit,
        members: &MemberChanges,
        expires: i64,
    ) -> AuditItem {
        let at = resource::format_datetime(audit.at);
        AuditItem {
            pk: audit_pk(t, &r.id),
            sk: audit_sk(&at, &audit.request_id),
            rec: AUDIT_RECORD.into(),
            tenant: t.to_string(),
            event: audit.event.clone(),
            resource_type: kind.name().to_string(),
            rid: r.id.clone(),
            external_id: resource::str_attr(&r.doc, "externalId").map(str::to_string),
            changed: audit.changed.clone(),
            members_added: members.added.iter().map(|m| m.value.clone()).collect(),
            members_removed: members.removed.clone(),
            token: audit.token_id.clone(),
            req: audit.request_id.clone(),
            ask: activity_sk(&at, &r.id, &audit.request_id),
            at,
            expires_at: expires,
            apk: activity_pk(t),
        }
    }
}

/// One member of one group (`{t}#M#{group}`, sk = member id), also in the
/// `memberships-by-user` index (`gpk`, `gsk`).
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct MembershipItem {
    pk: String,
    sk: String,
    gpk: String,
    gsk: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(rename = "type")]
    type_: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    display: Option<String>,
}

impl MembershipItem {
    /// Member `m` of `group`.
    pub(super) fn new(t: &str, group: &str, m: &Member) -> MembershipItem {
        MembershipItem {
            pk: membership_pk(t, group),
            sk: m.value.clone(),
            gpk: membership_gpk(t, &m.value),
            gsk: group.to_string(),
            type_: m.type_.clone(),
            display: m.display.clone(),
        }
    }

    pub(super) fn into_member(self) -> Member {
        Member {
            value: self.sk,
            type_: self.type_,
            display: self.display,
        }
    }
}
