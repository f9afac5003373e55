//! The audit record of each outcome, in the table's audit partition of the user.
//!
//! Same shape as the store's audit items (`AuditItem` in `shared/aws/src/dynamo/items.rs`:
//! `pk` = `scim_aws::dynamo::keys::audit_pk` of the user, `sk` = `audit_sk` of the time and
//! the event id, `tenant`, `event`, `resourceType`, `rid`, `externalId`, `changed`,
//! `token` = actor, `req`, `at`, `expiresAt`), so one `Query` on the user's audit partition
//! reads the SCIM writes and the Entra outcomes in time order. The difference is
//! `rec = "audit-ext"`: the change-event publisher turns only `rec = "audit"` items into
//! events (its stream filter and `scim_aws::events::change_event`), so an outcome never
//! produces another event — no loop. Extra attributes: `mode`, `trigger` (the event
//! name), `detail` (why, for skips and failures), `userType` (as Entra answered).

use crate::settings::Mode;
use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::types::AttributeValue;
use scim_aws::dynamo::keys::{activity_pk, activity_sk, audit_pk, audit_sk};
use scim_aws::dynamo::Retention;
use std::collections::HashMap;

/// `rec` of these records: not `"audit"`, so the change-event publisher ignores them.
pub const AUDIT_EXT_RECORD: &str = "audit-ext";
/// The actor (`token`) of these records.
pub const ACTOR: &str = "entra-guest-cleanup";
/// Kept as long as the store keeps its audit records by default.
pub const RETENTION_SECS: i64 = Retention::DEFAULT.audit_secs;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub tenant: String,
    pub user_id: String,
    pub external_id: Option<String>,
    /// `entra.disabled`, `entra.deleted`, `entra.already-gone`, `entra.skipped-member`,
    /// `entra.skipped-not-guid` or `entra.failed`.
    pub outcome: String,
    pub mode: Mode,
    /// The EventBridge event's id: the record's request id.
    pub event_id: String,
    /// The event name that triggered it (`user.expired`).
    pub trigger: String,
    pub detail: Option<String>,
    pub user_type: Option<String>,
}

impl AuditEntry {
    /// The item written for this entry at `at` (RFC 3339) with the TTL from `now_epoch`.
    pub fn item(&self, at: &str, now_epoch: i64) -> HashMap<String, AttributeValue> {
        let s = |v: &str| AttributeValue::S(v.to_string());
        let mut item = HashMap::from([
            ("pk".to_string(), s(&audit_pk(&self.tenant, &self.user_id))),
            ("sk".to_string(), s(&audit_sk(at, &self.event_id))),
            // Also in the tenant's activity log (the application API's `GET /activity`).
            ("apk".to_string(), s(&activity_pk(&self.tenant))),
            (
                "ask".to_string(),
                s(&activity_sk(at, &self.user_id, &self.event_id)),
            ),
            ("rec".to_string(), s(AUDIT_EXT_RECORD)),
            ("tenant".to_string(), s(&self.tenant)),
            ("event".to_string(), s(&self.outcome)),
            ("resourceType".to_string(), s("User")),
            ("rid".to_string(), s(&self.user_id)),
            ("changed".to_string(), AttributeValue::L(Vec::new())),
            ("token".to_string(), s(ACTOR)),
            ("req".to_string(), s(&self.event_id)),
            ("at".to_string(), s(at)),
            (
                "expiresAt".to_string(),
                AttributeValue::N((now_epoch + RETENTION_SECS).to_string()),
            ),
            ("mode".to_string(), s(self.mode.as_str())),
            ("trigger".to_string(), s(&self.trigger)),
        ]);
        for (name, value) in [
            ("externalId", &self.external_id),
            ("detail", &self.detail),
            ("userType", &self.user_type),
        ] {
            if let Some(v) = value {
                item.insert(name.to_string(), s(v));
            }
        }
        item
    }
}

/// Writes audit records with `PutItem` (the function's only table permission).
#[derive(Clone, Debug)]
pub struct DynamoAudit {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl DynamoAudit {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> DynamoAudit {
        DynamoAudit {
            client,
            table: table.into(),
        }
    }

    pub async fn put(&self, entry: &AuditEntry) -> Result<(), String> {
        let now = time::OffsetDateTime::now_utc();
        let at = scim_core::resource::format_datetime(now);
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(entry.item(&at, now.unix_timestamp())))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| format!("writing the audit record: {}", DisplayErrorContext(&e)))
    }
}
