//! The scheduled `expire-contacts` function.
//!
//! **The index.** A user item carries `xpk = "{tenant}#X"` and `xsk = "{end date}#{id}"`
//! only while the user is active *and* has a contact-extension `endDate`
//! (`dynamo::keys::expiry_entry`, used by every write of a user item); the end date is
//! written fixed-width in UTC (`YYYY-MM-DDTHH:MM:SSZ`, fractions truncated) so that `xsk`
//! sorts by time as a string; the document keeps its own value. The store reads the GSI
//! `expiring-contacts` with `DynamoStore::due_contacts` (`dynamo::expiry`).
//!
//! **The function.** An EventBridge schedule rule invokes `expire-contacts` with a
//! scheduled event ([`ScheduledEvent`], read by [`scheduled_event`]); `now` is the event's
//! `time`, so a test (or a replayed event) decides what "now" is. [`handle`] runs the
//! sweep ([`scim_service::expiry`]) and applies its failure rule.

use crate::config::check_tenant_id;
use aws_lambda_events::cloudwatch_events::CloudWatchEvent;
use scim_service::expiry::{expire_contacts_until, ExpiredAction, ExpiryIndex, ExpiryReport};
use scim_service::port::Store;
use std::time::{Duration, Instant};
use time::OffsetDateTime;

/// An EventBridge scheduled event, as a schedule rule delivers it:
/// `{"version":"0","id":"…","detail-type":"Scheduled Event","source":"aws.events",
/// "account":"…","time":"2026-11-22T08:00:00Z","region":"…","resources":["arn:…"],"detail":{}}`.
///
/// `aws_lambda_events`' CloudWatch Events envelope, which is EventBridge's: its `time` is
/// required (the sweep's `now`), `id`, `detail-type` and `source` optional. (Its
/// `EventBridgeEvent` is the same envelope, but its feature links `serde_with` into every
/// function for nothing this one needs.)
pub type ScheduledEvent = CloudWatchEvent<serde_json::Value>;

/// The invocation's payload as a scheduled event. `time` is parsed here, eagerly, so a
/// payload without one, or with one that is not an RFC 3339 date-time, is
/// [`ExpiryError::BadEvent`] (the invocation's error), like anything else that is not a
/// scheduled event.
pub fn scheduled_event(payload: serde_json::Value) -> Result<ScheduledEvent, ExpiryError> {
    serde_json::from_value(payload).map_err(|e| ExpiryError::BadEvent(e.to_string()))
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
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExpiryError {
    /// The payload is not a scheduled event, or has no usable `time`.
    #[error("bad scheduled event: {0}")]
    BadEvent(String),
    /// Nothing could be processed: see [`ExpiryReport::nothing_processed`].
    #[error(
        "expire-contacts could process nothing (examined {}, failed {}{})",
        .0.examined,
        .0.failed,
        index_note(.0)
    )]
    NothingProcessed(ExpiryReport),
}

/// `", index: {error}"` when the index could not be read, else nothing.
fn index_note(r: &ExpiryReport) -> String {
    r.index_error
        .as_deref()
        .map(|e| format!(", index: {e}"))
        .unwrap_or_default()
}

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
    let now = event_time(event)?;
    let report = expire_contacts_until(
        store,
        &config.tenant,
        now,
        event.id.as_deref().unwrap_or_default(),
        config.action,
        deadline,
    )
    .await;
    if report.nothing_processed() {
        return Err(ExpiryError::NothingProcessed(report));
    }
    Ok(report)
}

/// The scheduled event's `time`: the run's "now".
pub fn event_time(event: &ScheduledEvent) -> Result<OffsetDateTime, ExpiryError> {
    event
        .time
        .timestamp_nanos_opt()
        .and_then(|ns| OffsetDateTime::from_unix_timestamp_nanos(i128::from(ns)).ok())
        .ok_or_else(|| ExpiryError::BadEvent(format!("'time' out of range: {}", event.time)))
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

    fn event(time: serde_json::Value) -> serde_json::Value {
        json!({
            "version": "0", "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
            "detail-type": "Scheduled Event", "source": "aws.events",
            "account": "123456789012", "time": time, "region": "eu-west-1",
            "resources": ["arn:aws:events:eu-west-1:123456789012:rule/expire"], "detail": {}
        })
    }

    #[test]
    fn a_scheduled_event_parses() {
        let e = scheduled_event(event(json!("2026-11-22T08:00:00+01:00"))).unwrap();
        assert_eq!(e.time.to_rfc3339(), "2026-11-22T07:00:00+00:00");
        assert_eq!(e.detail_type.as_deref(), Some("Scheduled Event"));
        assert_eq!(stop_before(0), None);
    }

    #[test]
    fn a_payload_that_is_not_a_scheduled_event_is_a_bad_event() {
        for payload in [
            event(json!("next tuesday")),
            event(json!(null)),
            json!({"detail-type": "Scheduled Event", "resources": []}),
            json!("2026-11-22T08:00:00Z"),
        ] {
            assert!(
                matches!(
                    scheduled_event(payload.clone()),
                    Err(ExpiryError::BadEvent(_))
                ),
                "{payload}"
            );
        }
    }
}
