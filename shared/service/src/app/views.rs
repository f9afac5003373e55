//! The JSON shapes of the application API (documented in `openapi.json`).

use crate::port::{ActivityRecord, GroupRef, Stored};
use crate::settings::{TenantSettings, TokenInfo, Usage};
use crate::signin;
use scim_core::patch::Member;
use scim_core::resource;
use serde_json::{json, Value};

fn group_ref(g: &GroupRef) -> Value {
    json!({"id": g.id, "displayName": g.display_name})
}

/// What the product knows of a user: identity, status, groups, roles and entitlements.
pub fn user_summary(user: &Stored, groups: &[GroupRef], now: time::OffsetDateTime) -> Value {
    let doc = &user.doc;
    let emails: Vec<Value> = doc
        .get("emails")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .map(|e| {
                    json!({
                        "value": e.get("value"),
                        "type": e.get("type"),
                        "primary": e.get("primary").and_then(Value::as_bool).unwrap_or(false),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let assignments = |name: &str| -> Vec<Value> {
        doc.get(name)
            .and_then(Value::as_array)
            .map(|list| {
                list.iter()
                    .map(|r| {
                        json!({
                            "value": r.get("value"),
                            "display": r.get("display"),
                            "type": r.get("type"),
                            "primary": r.get("primary").and_then(Value::as_bool).unwrap_or(false),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let roles = assignments("roles");
    let entitlements = assignments("entitlements");
    json!({
        "id": user.id,
        "userName": resource::str_attr(doc, "userName"),
        "displayName": resource::str_attr(doc, "displayName"),
        "externalId": resource::str_attr(doc, "externalId"),
        "emails": emails,
        "status": signin::status(user, now).as_str(),
        "endDate": resource::end_date(doc),
        "groups": groups.iter().map(group_ref).collect::<Vec<_>>(),
        "roles": roles,
        "entitlements": entitlements,
        "created": user.meta.created,
        "lastModified": user.meta.last_modified,
    })
}

fn usage(u: Option<&Usage>) -> Value {
    match u {
        Some(u) => json!({"at": u.at, "client": u.client.as_str()}),
        None => Value::Null,
    }
}

/// The settings dialog's data.
pub fn settings(
    tenant_url: &str,
    token_endpoint: Option<&str>,
    s: &TenantSettings,
    tokens: &[TokenInfo],
    counts: (u64, u64),
) -> Value {
    let tokens: Vec<Value> = tokens
        .iter()
        .map(|t| {
            json!({
                "id": t.id,
                "created": t.created,
                "stage": t.stage.as_str(),
                "lastUsed": s.token_usage.get(&t.id).map(|u| u.at.clone()),
            })
        })
        .collect();
    json!({
        "tenantUrl": tenant_url,
        "tokenEndpoint": token_endpoint,
        "provisioningEnabled": s.provisioning_enabled,
        "tokens": tokens,
        "lastCall": usage(s.last_call.as_ref()),
        "counts": {"users": counts.0, "groups": counts.1},
    })
}

/// A member of a group: users with their identity and status when known.
pub fn member(m: &Member, user: Option<&Stored>, now: time::OffsetDateTime) -> Value {
    match user {
        Some(u) => json!({
            "id": m.value,
            "type": "User",
            "userName": resource::str_attr(&u.doc, "userName"),
            "displayName": resource::str_attr(&u.doc, "displayName"),
            "externalId": resource::str_attr(&u.doc, "externalId"),
            "status": signin::status(u, now).as_str(),
        }),
        None => json!({
            "id": m.value,
            "type": m.type_.as_deref().unwrap_or("Group"),
            "displayName": m.display,
        }),
    }
}

pub fn group(g: &Stored) -> Value {
    json!({
        "id": g.id,
        "displayName": resource::str_attr(&g.doc, "displayName"),
        "externalId": resource::str_attr(&g.doc, "externalId"),
    })
}

pub fn activity(r: &ActivityRecord) -> Value {
    json!({
        "at": r.at,
        "event": r.event,
        "resourceType": r.resource_type,
        "resourceId": r.resource_id,
        "changedAttributes": r.changed,
        "actor": r.actor,
        "requestId": r.request_id,
    })
}
