//! The handler: one `user.expired` event in, one outcome out (audited), or an error that
//! fails the invocation so Lambda retries it and finally parks it in the dead-letter queue.

use crate::audit::{AuditEntry, DynamoAudit};
use crate::credentials::{is_guid, CredentialsSource};
use crate::graph::{Budget, Failure, Graph};
use crate::http::HttpClient;
use crate::settings::{Mode, Settings};
use lambda_runtime::{Context, LambdaEvent};
use scim_aws::tokens::{Clock, SystemClock};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::time::{Duration, Instant, SystemTime};

/// Time kept back from the invocation's deadline for the audit write and the reply.
pub const BUDGET_RESERVE: Duration = Duration::from_secs(2);
/// The budget when the context names no deadline (local runs).
pub const DEFAULT_BUDGET: Duration = Duration::from_secs(30);
/// The change event this function handles.
pub const TRIGGER: &str = "user.expired";
const EVENT_SOURCE: &str = "scim.provisioning";

/// What happened to one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Disabled,
    Deleted,
    AlreadyGone,
    SkippedMember,
    SkippedNotGuid,
    Failed,
    /// `ENTRA_CLEANUP_MODE=off`: nothing read, called or written.
    Off,
    /// Not a `user.expired` event of a user (the rule should not deliver those).
    Ignored,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Disabled => "entra.disabled",
            Outcome::Deleted => "entra.deleted",
            Outcome::AlreadyGone => "entra.already-gone",
            Outcome::SkippedMember => "entra.skipped-member",
            Outcome::SkippedNotGuid => "entra.skipped-not-guid",
            Outcome::Failed => "entra.failed",
            Outcome::Off => "off",
            Outcome::Ignored => "ignored",
        }
    }
}

/// Why an invocation failed. The message names no secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CleanupError {
    /// The payload is not an EventBridge event with a change-event detail.
    #[error("not a user.expired change event: {0}")]
    BadEvent(String),
    /// The event belongs to another tenant than the one this function serves.
    #[error("the event is for tenant '{event}'; this function serves '{serves}'")]
    WrongTenant { event: String, serves: String },
    /// Graph or the token endpoint failed (audited as `entra.failed`).
    #[error("entra.failed: {0}")]
    Failed(String),
    /// The outcome could not be audited (the action is idempotent: a retry redoes it).
    #[error("{0}")]
    Audit(String),
}

impl From<CleanupError> for lambda_runtime::Diagnostic {
    fn from(e: CleanupError) -> lambda_runtime::Diagnostic {
        let error_type = match &e {
            CleanupError::BadEvent(_) => "BadEvent",
            CleanupError::WrongTenant { .. } => "WrongTenant",
            CleanupError::Failed(_) => "EntraCleanupFailed",
            CleanupError::Audit(_) => "AuditWriteFailed",
        };
        lambda_runtime::Diagnostic {
            error_type: error_type.into(),
            error_message: e.to_string(),
        }
    }
}

#[derive(Debug, Deserialize)]
struct Envelope {
    id: String,
    source: String,
    #[serde(rename = "detail-type")]
    detail_type: String,
    detail: Detail,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Detail {
    tenant: String,
    resource_type: String,
    id: String,
    #[serde(default)]
    external_id: Option<String>,
}

/// Everything an invocation needs, built once per cold start.
pub struct Cleanup<C, K = SystemClock> {
    settings: Settings,
    graph: Graph<C, K>,
    audit: DynamoAudit,
    /// Configuration problems already reported in this process.
    reported: std::sync::Mutex<HashSet<String>>,
}

impl<C: CredentialsSource> Cleanup<C, SystemClock> {
    pub fn new(
        settings: Settings,
        credentials: C,
        audit: DynamoAudit,
    ) -> Result<Cleanup<C, SystemClock>, String> {
        let graph = Graph::new(&settings, HttpClient::new()?, credentials, SystemClock);
        Ok(Cleanup {
            settings,
            graph,
            audit,
            reported: std::sync::Mutex::new(HashSet::new()),
        })
    }
}

impl<C: CredentialsSource, K: Clock> Cleanup<C, K> {
    /// The same with another clock for the token cache (tests).
    pub fn with_clock<K2: Clock>(self, clock: K2) -> Cleanup<C, K2> {
        Cleanup {
            settings: self.settings,
            graph: self.graph.with_clock(clock),
            audit: self.audit,
            reported: self.reported,
        }
    }

    /// The Lambda handler: the deadline comes from the invocation's context.
    pub async fn handle(&self, event: LambdaEvent<Value>) -> Result<Value, CleanupError> {
        let deadline = deadline_of(&event.context);
        // Boxed: keeps the runtime's future shallow (rustc's layout query depth).
        let outcome = Box::pin(self.handle_event(&event.payload, deadline)).await?;
        Ok(json!({ "outcome": outcome.as_str() }))
    }

    /// Handles one event; work stops [`BUDGET_RESERVE`] before `deadline`.
    pub async fn handle_event(
        &self,
        payload: &Value,
        deadline: Instant,
    ) -> Result<Outcome, CleanupError> {
        let event =
            Envelope::deserialize(payload).map_err(|e| CleanupError::BadEvent(e.to_string()))?;
        let detail = &event.detail;
        if event.source != EVENT_SOURCE
            || event.detail_type != TRIGGER
            || detail.resource_type != "User"
        {
            tracing::warn!(
                source = %event.source,
                detail_type = %event.detail_type,
                resource_type = %detail.resource_type,
                "not a user.expired event of a user: ignored"
            );
            return Ok(Outcome::Ignored);
        }
        if detail.tenant != self.settings.tenant {
            let e = CleanupError::WrongTenant {
                event: detail.tenant.clone(),
                serves: self.settings.tenant.clone(),
            };
            tracing::error!(error = %e, event_id = %event.id, "event for another tenant");
            return Err(e);
        }
        let mode = self.settings.mode;
        if mode == Mode::Off {
            tracing::info!(user = %detail.id, "ENTRA_CLEANUP_MODE is off: nothing to do");
            return Ok(Outcome::Off);
        }
        let external_id = detail
            .external_id
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty());
        let mut entry = AuditEntry {
            tenant: detail.tenant.clone(),
            user_id: detail.id.clone(),
            external_id: external_id.map(str::to_string),
            outcome: String::new(),
            mode,
            event_id: event.id.clone(),
            trigger: TRIGGER.into(),
            detail: None,
            user_type: None,
        };
        let budget = Budget {
            until: deadline.checked_sub(BUDGET_RESERVE).unwrap_or(deadline),
        };
        let result = match external_id {
            Some(object_id) if is_guid(object_id) => {
                // Graph correlates `client-request-id` (a GUID) with its own logs.
                let request_id = is_guid(&event.id).then_some(event.id.as_str());
                self.close(object_id, &budget, request_id, &mut entry).await
            }
            _ => {
                entry.detail = Some("externalId is not an Entra object id (GUID)".into());
                Ok(Outcome::SkippedNotGuid)
            }
        };
        let (outcome, failure) = match result {
            Ok(o) => (o, None),
            Err(f) => (Outcome::Failed, Some(f)),
        };
        entry.outcome = outcome.as_str().to_string();
        if let Some(f) = &failure {
            entry.detail = Some(f.short(mode));
            self.report(f);
        }
        if let Err(e) = self.audit.put(&entry).await {
            tracing::error!(user = %entry.user_id, outcome = outcome.as_str(), error = %e, "audit write failed");
            return Err(CleanupError::Audit(e));
        }
        match failure {
            None => {
                tracing::info!(
                    user = %entry.user_id,
                    external_id = entry.external_id.as_deref().unwrap_or(""),
                    outcome = outcome.as_str(),
                    mode = mode.as_str(),
                    "entra cleanup"
                );
                Ok(outcome)
            }
            Some(f) => Err(CleanupError::Failed(f.short(mode))),
        }
    }

    /// Reads the user from Entra, applies the guest rule, then disables or deletes.
    async fn close(
        &self,
        object_id: &str,
        budget: &Budget,
        request_id: Option<&str>,
        entry: &mut AuditEntry,
    ) -> Result<Outcome, Failure> {
        let Some(user) = self.graph.read_user(object_id, budget, request_id).await? else {
            entry.detail = Some("the Entra user does not exist (404)".into());
            return Ok(Outcome::AlreadyGone);
        };
        entry.user_type = user.user_type.clone();
        if !user.is_guest() {
            let user_type = user.user_type.as_deref().unwrap_or("(none)");
            tracing::warn!(
                user = %entry.user_id,
                external_id = object_id,
                user_type,
                "the Entra user is not a guest: left untouched"
            );
            entry.detail = Some(format!(
                "Entra userType is {user_type}, not Guest: left untouched"
            ));
            return Ok(Outcome::SkippedMember);
        }
        let (done, gone) = match self.settings.mode {
            Mode::Disable => (
                self.graph.disable(object_id, budget, request_id).await?,
                Outcome::Disabled,
            ),
            Mode::Delete => (
                self.graph.delete(object_id, budget, request_id).await?,
                Outcome::Deleted,
            ),
            Mode::Off => return Ok(Outcome::Off),
        };
        if done {
            Ok(gone)
        } else {
            entry.detail = Some("the Entra user was gone when acted on (404)".into());
            Ok(Outcome::AlreadyGone)
        }
    }

    /// Configuration problems once per cold start at error level (the full advice); again
    /// only briefly. Transient failures every time, briefly.
    fn report(&self, failure: &Failure) {
        let mode = self.settings.mode;
        match failure.report(mode, &self.graph.credentials_source()) {
            Some((key, message)) => {
                let first = self
                    .reported
                    .lock()
                    .map(|mut seen| seen.insert(key))
                    .unwrap_or(true);
                if first {
                    tracing::error!(problem = %message, "entra cleanup cannot work until this is fixed");
                } else {
                    tracing::warn!(error = %failure.short(mode), "entra cleanup failed (problem reported earlier)");
                }
            }
            None => tracing::warn!(error = %failure.short(mode), "entra cleanup failed"),
        }
    }
}

/// The instant the invocation must be done by, from the context's deadline (epoch ms).
pub fn deadline_of(context: &Context) -> Instant {
    if context.deadline == 0 {
        return Instant::now() + DEFAULT_BUDGET;
    }
    let left = context
        .deadline()
        .duration_since(SystemTime::now())
        .unwrap_or(Duration::ZERO);
    Instant::now() + left
}
