//! Contact end dates in DynamoDB, and the scheduled `expire-contacts` function.
//!
//! **The sparse index.** A user item carries `xpk = "{tenant}#X"` and
//! `xsk = "{end date}#{id}"` only while the user is active *and* has a contact-extension
//! `endDate` ([`index_entry`], used by every write of a user item). The GSI
//! `expiring-contacts` (keys only) therefore holds exactly the users an expiry could still
//! change: deactivating a user by any path (PATCH, PUT, the sweep) or clearing the end date
//! drops them from it, reactivating re-adds them. The end date is written fixed-width in
//! UTC (`YYYY-MM-DDTHH:MM:SSZ`, fractions truncated) so that `xsk` sorts by time as a
//! string; the document keeps its own value.
//!
//! **The read.** [`DynamoStore::due_contacts`] is one `Query` of that index per page
//! (`xpk = :p AND xsk < "{now}$"`): its cost grows with the number of users expiring, never
//! with the tenant's size, and it never reads the tenant's user partition.
//!
//! **The function.** An EventBridge schedule rule invokes `expire-contacts` with a
//! scheduled event ([`ScheduledEvent`]); `now` is the event's `time`, so a test (or a
//! replayed event) decides what "now" is. [`handle`] runs the sweep
//! ([`scim_service::expiry`]) and applies its failure rule.

use crate::config::check_tenant_id;
use crate::dynamo::{inc, internal, resource_pk, s, DynamoStore};
use crate::table::EXPIRING_CONTACTS;
use aws_sdk_dynamodb::types::AttributeValue;
use scim_core::resource::{self, Doc};
use scim_core::schema::ResourceKind;
use scim_service::expiry::{
    expire_contacts_until, DuePage, ExpiredAction, ExpiryIndex, ExpiryReport,
};
use scim_service::port::{Store, StoreError, StoreResult};
use serde::Deserialize;
use std::collections::HashMap;
use std::time::{Duration, Instant};
use time::{OffsetDateTime, UtcOffset};

/// The partition of a tenant's expiring users in the `expiring-contacts` index.
fn index_pk(t: &str) -> String {
    format!("{t}#X")
}

/// A time as the index sorts it: UTC, whole seconds, fixed width (`2026-11-22T08:00:00Z`).
pub fn key_time(t: OffsetDateTime) -> String {
    t.to_offset(UtcOffset::UTC)
        .format(time::macros::format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
        ))
        .unwrap_or_else(|_| "9999-12-31T23:59:59Z".to_string())
}

/// The index entry (`xpk`, `xsk`) of a user document: only while the user is active and
/// has an end date that parses.
pub(crate) fn index_entry(t: &str, id: &str, doc: &Doc) -> Option<(String, String)> {
    if !resource::is_active(doc) {
        return None;
    }
    let end = resource::parse_datetime(resource::end_date(doc)?)?;
    Some((index_pk(t), format!("{}#{id}", key_time(end))))
}

impl DynamoStore {
    /// Up to `limit` ids of active users whose end date is at or before `now` (to the
    /// second), earliest first, after the `xsk` `start` (an earlier page's `next`). One
    /// `Query` of the `expiring-contacts` index; nothing else is read.
    pub async fn due_contacts(
        &self,
        tenant: &str,
        now: OffsetDateTime,
        limit: usize,
        start: Option<&str>,
    ) -> StoreResult<DuePage> {
        // Every `xsk` of an end date at or before `now` sorts below "{now}$" ('$' follows
        // '#'), whatever the id after the '#'.
        let below = format!("{}$", key_time(now));
        let exclusive_start = match start {
            None => None,
            Some(xsk) => Some(self.index_start_key(tenant, xsk)?),
        };
        inc(&self.calls.query);
        inc(&self.calls.query_index);
        let resp = self
            .client()
            .query()
            .table_name(self.table())
            .index_name(EXPIRING_CONTACTS)
            .key_condition_expression("xpk = :p AND xsk < :below")
            .expression_attribute_values(":p", s(index_pk(tenant)))
            .expression_attribute_values(":below", s(below))
            .set_exclusive_start_key(exclusive_start)
            .limit(limit.clamp(1, 10_000) as i32)
            .send()
            .await
            .map_err(|e| internal("Query", e))?;
        let ids = resp
            .items
            .unwrap_or_default()
            .into_iter()
            .filter_map(|mut i| match i.remove("sk") {
                Some(AttributeValue::S(id)) => Some(id),
                _ => None,
            })
            .collect();
        let next = resp
            .last_evaluated_key
            .and_then(|mut k| match k.remove("xsk") {
                Some(AttributeValue::S(x)) => Some(x),
                _ => None,
            });
        Ok(DuePage { ids, next })
    }

    /// The `ExclusiveStartKey` of an index page from the last `xsk` seen (the index key and
    /// the table key: the id is what follows the fixed-width time and '#').
    fn index_start_key(
        &self,
        tenant: &str,
        xsk: &str,
    ) -> StoreResult<HashMap<String, AttributeValue>> {
        let (_, id) = xsk.split_once('#').ok_or(StoreError::InvalidCursor)?;
        Ok(HashMap::from([
            ("xpk".to_string(), s(index_pk(tenant))),
            ("xsk".to_string(), s(xsk)),
            ("pk".to_string(), s(resource_pk(tenant, ResourceKind::User))),
            ("sk".to_string(), s(id)),
        ]))
    }
}

impl ExpiryIndex for DynamoStore {
    async fn due_contacts(
        &self,
        tenant: &str,
        now: OffsetDateTime,
        limit: usize,
        start: Option<&str>,
    ) -> StoreResult<DuePage> {
        DynamoStore::due_contacts(self, tenant, now, limit, start).await
    }
}

/// An EventBridge scheduled event, as a schedule rule delivers it:
/// `{"version":"0","id":"…","detail-type":"Scheduled Event","source":"aws.events",
/// "account":"…","time":"2026-11-22T08:00:00Z","region":"…","resources":["arn:…"],"detail":{}}`.
#[derive(Debug, Clone, Deserialize)]
pub struct ScheduledEvent {
    #[serde(default)]
    pub id: String,
    #[serde(rename = "detail-type", default)]
    pub detail_type: String,
    #[serde(default)]
    pub source: String,
    /// When the schedule fired (RFC 3339): the sweep's `now`.
    pub time: String,
    #[serde(default)]
    pub resources: Vec<String>,
}

/// The function's settings, read once per cold start.
#[derive(Debug, Clone)]
pub struct ExpiryConfig {
    pub tenant: String,
    /// `EXPIRED_ACTION`: `deactivate` (default) or `delete`.
    pub action: ExpiredAction,
}

impl ExpiryConfig {
    pub fn new(tenant: &str, action: Option<&str>) -> Result<ExpiryConfig, String> {
        check_tenant_id(tenant)?;
        let action = match action.map(str::trim).filter(|a| !a.is_empty()) {
            None => ExpiredAction::default(),
            Some(a) => a.parse()?,
        };
        Ok(ExpiryConfig {
            tenant: tenant.to_string(),
            action,
        })
    }

    /// `TENANT_ID` and `EXPIRED_ACTION` from the environment.
    pub fn from_env() -> Result<ExpiryConfig, String> {
        let tenant = std::env::var("TENANT_ID").map_err(|_| "TENANT_ID is not set")?;
        ExpiryConfig::new(&tenant, std::env::var("EXPIRED_ACTION").ok().as_deref())
    }
}

/// Why an invocation failed (so the scheduler's retry runs it again).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExpiryError {
    /// The event has no usable `time`.
    BadEvent(String),
    /// Nothing could be processed: see [`ExpiryReport::nothing_processed`].
    NothingProcessed(ExpiryReport),
}

impl std::fmt::Display for ExpiryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExpiryError::BadEvent(m) => write!(f, "bad scheduled event: {m}"),
            ExpiryError::NothingProcessed(r) => write!(
                f,
                "expire-contacts could process nothing (examined {}, failed {}{})",
                r.examined,
                r.failed,
                r.index_error
                    .as_deref()
                    .map(|e| format!(", index: {e}"))
                    .unwrap_or_default()
            ),
        }
    }
}

impl std::error::Error for ExpiryError {}

/// Handles one scheduled event: `now` is the event's time, the request id its id.
///
/// Returns an error only when nothing could be processed at all (the index could not be
/// read, or every user examined failed), so that the invocation is retried; otherwise the
/// report, with failures counted and logged — those users are still indexed and the next
/// scheduled run retries them.
pub async fn handle<S>(
    store: &S,
    config: &ExpiryConfig,
    event: &ScheduledEvent,
    deadline: Option<Instant>,
) -> Result<ExpiryReport, ExpiryError>
where
    S: Store + ExpiryIndex,
{
    let now = resource::parse_datetime(&event.time).ok_or_else(|| {
        ExpiryError::BadEvent(format!(
            "'time' is not an RFC 3339 date-time: {:?}",
            event.time.chars().take(64).collect::<String>()
        ))
    })?;
    let report = expire_contacts_until(
        store,
        &config.tenant,
        now,
        &event.id,
        config.action,
        deadline,
    )
    .await;
    if report.nothing_processed() {
        return Err(ExpiryError::NothingProcessed(report));
    }
    Ok(report)
}

/// When to stop starting new index pages: a tenth of the remaining time (at most 30 s)
/// before the invocation's deadline (epoch milliseconds; 0 = none).
pub fn stop_before(deadline_ms: u64) -> Option<Instant> {
    if deadline_ms == 0 {
        return None;
    }
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let remaining = Duration::from_millis(deadline_ms.saturating_sub(now_ms));
    let margin = (remaining / 10).min(Duration::from_secs(30));
    Some(Instant::now() + remaining - margin)
}

/// The report as the function's JSON result.
pub fn report_json(r: &ExpiryReport) -> serde_json::Value {
    serde_json::json!({
        "examined": r.examined,
        "deactivated": r.deactivated,
        "deleted": r.deleted,
        "skipped": r.skipped,
        "failed": r.failed,
        "pages": r.pages,
        "complete": r.complete,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc(v: serde_json::Value) -> Doc {
        v.as_object().unwrap().clone()
    }

    const CONTACT: &str = scim_core::schema::CONTACT_USER_URN;

    #[test]
    fn the_index_key_is_fixed_width_utc_and_sorts_as_time() {
        let d = |end: &str| doc(json!({"userName": "a", CONTACT: {"endDate": end}}));
        let key = |end: &str| index_entry("t", "id", &d(end)).unwrap().1;
        assert_eq!(key("2026-11-22T08:00:00Z"), "2026-11-22T08:00:00Z#id");
        assert_eq!(key("2026-11-22T08:00:00.750Z"), "2026-11-22T08:00:00Z#id");
        assert_eq!(key("2026-11-22T09:30:00+01:00"), "2026-11-22T08:30:00Z#id");
        assert_eq!(key("2026-11-22"), "2026-11-22T00:00:00Z#id");
        // A fraction must not sort after a later whole second ('.' < 'Z').
        assert!(key("2026-11-22T08:00:00.9Z") < key("2026-11-22T08:00:01Z"));
        assert_eq!(index_entry("t", "id", &d("tomorrow")), None);
    }

    #[test]
    fn only_active_users_with_an_end_date_are_indexed() {
        let end = json!({"endDate": "2026-01-01T00:00:00Z"});
        assert!(index_entry("t", "i", &doc(json!({CONTACT: end}))).is_some());
        assert!(index_entry("t", "i", &doc(json!({"active": true, CONTACT: end}))).is_some());
        assert!(index_entry("t", "i", &doc(json!({"active": false, CONTACT: end}))).is_none());
        assert!(index_entry("t", "i", &doc(json!({"active": true}))).is_none());
    }

    #[test]
    fn config_reads_the_documented_actions() {
        assert_eq!(
            ExpiryConfig::new("contoso", None).unwrap().action,
            ExpiredAction::Deactivate
        );
        assert_eq!(
            ExpiryConfig::new("contoso", Some("delete")).unwrap().action,
            ExpiredAction::Delete
        );
        assert!(ExpiryConfig::new("contoso", Some("purge")).is_err());
        assert!(ExpiryConfig::new("Bad Tenant", None).is_err());
    }

    #[test]
    fn a_scheduled_event_parses() {
        let e: ScheduledEvent = serde_json::from_value(json!({
            "version": "0", "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
            "detail-type": "Scheduled Event", "source": "aws.events",
            "account": "123456789012", "time": "2026-11-22T08:00:00Z", "region": "eu-west-1",
            "resources": ["arn:aws:events:eu-west-1:123456789012:rule/expire"], "detail": {}
        }))
        .unwrap();
        assert_eq!(e.time, "2026-11-22T08:00:00Z");
        assert_eq!(e.detail_type, "Scheduled Event");
        assert_eq!(stop_before(0), None);
    }
}
