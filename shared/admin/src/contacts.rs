//! The admin command's user operations: a contact's end date, and a resource's audit trail.
//!
//! An end date set here goes through the same PATCH path as one sent by the identity
//! provider (`scim_service::ops::patch`): the sparse expiry index, the audit record and
//! the change event follow from the one write, and the audit names the actor `admin`.

use crate::AdminError;
use scim_aws::DynamoStore;
use scim_core::projection::Projection;
use scim_core::schema::{ResourceKind, CONTACT_USER_URN};
use scim_service::ops::{self, Context};
use serde_json::{json, Value};

/// The token id recorded as the actor of the admin command's writes.
pub const ADMIN_ACTOR: &str = "admin";

/// Sets (`Some`, an RFC 3339 date-time) or clears (`None`) a user's end date. Returns the
/// user as SCIM would answer it.
pub async fn set_end_date(
    store: &DynamoStore,
    tenant: &str,
    id: &str,
    end: Option<&str>,
) -> Result<Value, AdminError> {
    let path = format!("{CONTACT_USER_URN}:endDate");
    let op = match end {
        Some(date) => json!({"op": "replace", "path": path, "value": date}),
        None => json!({"op": "remove", "path": path}),
    };
    let body = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [op],
    });
    let ctx = Context {
        tenant: tenant.to_string(),
        base_url: String::new(),
        token_id: ADMIN_ACTOR.to_string(),
        request_id: format!("admin-{}", uuid::Uuid::now_v7()),
        // The command's one clock reading, as the HTTP edge takes one per request.
        now: time::OffsetDateTime::now_utc(),
        replay: None,
    };
    let write = ops::ItemWrite {
        kind: ResourceKind::User,
        id,
        body: &body,
        if_match: None,
        projection: &Projection::default(),
    };
    let reply = ops::patch(store, &ctx, &write, true)
        .await
        .map_err(|e| AdminError::Failed(format!("{} ({})", e.detail, e.status)))?;
    Ok(reply.body.map(Value::Object).unwrap_or(Value::Null))
}

/// The audit records of a user or group, oldest first.
pub async fn audit(store: &DynamoStore, tenant: &str, id: &str) -> Result<Vec<Value>, AdminError> {
    store
        .audit_trail(tenant, id)
        .await
        .map_err(|e| AdminError::Failed(e.to_string()))
}
