//! The scheduled token check: tells the operator, once per token, when a rotation produced a
//! token nobody uses, and when the token in use is too old (feature `notices`; run by the
//! `expire-contacts` schedule after its sweep).
//!
//! Two conditions, from the secret's labelled versions and the token usage the request path
//! records (`u_{token id}` on the tenant's settings item):
//!
//! - **`token.unused`**: the `AWSCURRENT` token is at least `NEW_TOKEN_UNUSED_NOTIFY_DAYS`
//!   (default 7) old and has never been used: the new token was not pasted into the identity
//!   provider, which still sends the previous one (named in the notice with its last use).
//!   Until it is, a scheduled rotation refuses to retire that previous token
//!   ([`super::rotation::RetireGuard`]).
//! - **`token.max-age`**: a token used in the last `TOKEN_RETIRE_AFTER_UNUSED_DAYS` (default
//!   14) is at least `TOKEN_MAX_AGE_DAYS` (default 180) old.
//!
//! Each notice goes to the stack's alarm topic (SNS: a subject and a text that says what to
//! do) and to the tenant's bus (EventBridge: source `scim.tokens`, detail-type the
//! condition, detail [`Notice`]'s JSON). Once per condition and token: a marker item
//! (`notice#{kind}#{token id}` in the tenant's settings partition) is written after both
//! publications succeed, so a failure retries on the next run and a success never repeats.
//! Never a token: only token ids.

use super::admin::{list, TokenVersion};
use super::{TokenError, AWSCURRENT, AWSPREVIOUS};
use crate::DynamoStore;
use aws_sdk_secretsmanager::Client;
use scim_core::resource::{format_datetime, parse_datetime};
use scim_service::settings::{SettingsStore, Usage};
use serde::Serialize;
use std::collections::BTreeMap;
use std::future::Future;
use time::{Duration, OffsetDateTime};

/// The `source` of the token notices on the tenant's bus.
pub const NOTICE_SOURCE: &str = "scim.tokens";
/// Default of `NEW_TOKEN_UNUSED_NOTIFY_DAYS`.
pub const NEW_TOKEN_UNUSED_NOTIFY_DAYS: i64 = 7;
/// Default of `TOKEN_MAX_AGE_DAYS`.
pub const TOKEN_MAX_AGE_DAYS: i64 = 180;

/// The check's thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WatchPolicy {
    /// `token.unused` once the current token is this old and unused.
    pub new_token_unused: Duration,
    /// `token.max-age` once a token in use is this old.
    pub max_age: Duration,
    /// "In use": used within this long (the rotation guard's window).
    pub in_use: Duration,
}

impl Default for WatchPolicy {
    fn default() -> Self {
        WatchPolicy {
            new_token_unused: Duration::days(NEW_TOKEN_UNUSED_NOTIFY_DAYS),
            max_age: Duration::days(TOKEN_MAX_AGE_DAYS),
            in_use: Duration::days(super::rotation::RETIRE_AFTER_UNUSED_DAYS),
        }
    }
}

impl WatchPolicy {
    /// `NEW_TOKEN_UNUSED_NOTIFY_DAYS`, `TOKEN_MAX_AGE_DAYS`, `TOKEN_RETIRE_AFTER_UNUSED_DAYS`.
    pub fn from_env() -> Result<WatchPolicy, String> {
        use super::rotation::days_var;
        Ok(WatchPolicy {
            new_token_unused: Duration::days(days_var(
                "NEW_TOKEN_UNUSED_NOTIFY_DAYS",
                NEW_TOKEN_UNUSED_NOTIFY_DAYS,
            )?),
            max_age: Duration::days(days_var("TOKEN_MAX_AGE_DAYS", TOKEN_MAX_AGE_DAYS)?),
            in_use: Duration::days(super::rotation::retire_after_unused_days()?),
        })
    }
}

/// Which condition a notice reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum NoticeKind {
    Unused,
    MaxAge,
}

impl NoticeKind {
    /// The EventBridge detail-type.
    pub fn detail_type(self) -> &'static str {
        match self {
            NoticeKind::Unused => "token.unused",
            NoticeKind::MaxAge => "token.max-age",
        }
    }
}

/// One notice: the EventBridge detail (camelCase JSON). Never a token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Notice {
    /// `token.unused` or `token.max-age`.
    pub notice: &'static str,
    pub tenant: String,
    pub token_id: String,
    pub version_id: String,
    /// `current` or `previous`.
    pub stage: &'static str,
    /// When the token was made (RFC 3339).
    pub created: String,
    pub age_days: i64,
    /// Its last recorded use, if any, and by which client kind.
    pub last_used: Option<String>,
    pub last_client: Option<&'static str>,
    /// The threshold that was reached, in days.
    pub threshold_days: i64,
    /// For `token.unused`: the token the IdP still sends, and its last use.
    pub previous_token_id: Option<String>,
    pub previous_last_used: Option<String>,
    /// When the check ran.
    pub at: String,
    #[serde(skip)]
    pub kind: NoticeKind,
}

impl Notice {
    /// The marker's key: once per condition and token.
    pub fn key(&self) -> String {
        format!("{}#{}", self.notice, self.token_id)
    }

    /// The SNS subject (at most 100 characters).
    pub fn subject(&self) -> String {
        let s = match self.kind {
            NoticeKind::Unused => format!(
                "SCIM {}: the new bearer token is not used after {} days",
                self.tenant, self.age_days
            ),
            _ => format!(
                "SCIM {}: the bearer token in use is {} days old",
                self.tenant, self.age_days
            ),
        };
        s.chars().take(100).collect()
    }

    /// The SNS message: what happened and what to do.
    pub fn message(&self) -> String {
        let what = match self.kind {
            NoticeKind::Unused => format!(
                "The current bearer token {} of tenant {} (version {}, made {}) has not been used in the {} days since it was made. \
                 {} \
                 Paste the current token into Entra ID or Okta (aws secretsmanager get-secret-value --secret-id <TokenSecretArn> --version-stage AWSCURRENT) and press Test Connection. \
                 Until then the scheduled rotation will not retire the previous token.",
                self.token_id,
                self.tenant,
                self.version_id,
                self.created,
                self.age_days,
                match (&self.previous_token_id, &self.previous_last_used) {
                    (Some(p), Some(at)) => format!("The identity provider still sends the previous token {p} (last used {at})."),
                    (Some(p), None) => format!("The previous token {p} has no recorded use either: is the provisioning job running?"),
                    _ => "No identity provider has connected with it yet.".to_string(),
                },
            ),
            _ => format!(
                "The bearer token {} ({} token of tenant {}, version {}, made {}) is {} days old and still in use (last used {}); the maximum age is {} days. \
                 Rotate it (scim-admin generate --tenant {}), paste the new token into the identity provider, then run scim-admin revoke-previous.",
                self.token_id,
                self.stage,
                self.tenant,
                self.version_id,
                self.created,
                self.age_days,
                self.last_used.as_deref().unwrap_or("never"),
                self.threshold_days,
                self.tenant,
            ),
        };
        format!(
            "{what}\n\n{}",
            serde_json::to_string_pretty(self).unwrap_or_default()
        )
    }
}

fn stage_of(v: &TokenVersion) -> Option<&'static str> {
    if v.stages.iter().any(|s| s == AWSCURRENT) {
        Some("current")
    } else if v.stages.iter().any(|s| s == AWSPREVIOUS) {
        Some("previous")
    } else {
        None
    }
}

/// The notices due for these versions and usage at `now` (pure: the tests' table).
pub fn evaluate(
    versions: &[TokenVersion],
    usage: &BTreeMap<String, Usage>,
    policy: &WatchPolicy,
    now: OffsetDateTime,
) -> Vec<Notice> {
    let previous = versions
        .iter()
        .find(|v| stage_of(v) == Some("previous"))
        .and_then(|v| v.token_id.clone());
    let mut out = Vec::new();
    for v in versions {
        let (Some(stage), Some(token_id), Some(tenant)) = (stage_of(v), &v.token_id, &v.tenant)
        else {
            continue;
        };
        let Some(created) = v.created.as_deref().and_then(parse_datetime) else {
            continue;
        };
        let age = now - created;
        let used = usage.get(token_id);
        let last_used_at = used.and_then(|u| parse_datetime(&u.at));
        let notice = |kind: NoticeKind, threshold: Duration| Notice {
            notice: kind.detail_type(),
            tenant: tenant.clone(),
            token_id: token_id.clone(),
            version_id: v.version_id.clone(),
            stage,
            created: format_datetime(created),
            age_days: age.whole_days(),
            last_used: used.map(|u| u.at.clone()),
            last_client: used.map(|u| u.client.as_str()),
            threshold_days: threshold.whole_days(),
            previous_token_id: previous.clone(),
            previous_last_used: previous
                .as_ref()
                .and_then(|p| usage.get(p))
                .map(|u| u.at.clone()),
            at: format_datetime(now),
            kind,
        };
        if stage == "current" && used.is_none() && age >= policy.new_token_unused {
            out.push(notice(NoticeKind::Unused, policy.new_token_unused));
        }
        let in_use = last_used_at.is_some_and(|at| now - at < policy.in_use);
        if in_use && age >= policy.max_age {
            out.push(notice(NoticeKind::MaxAge, policy.max_age));
        }
    }
    out
}

/// Where notices go: the alarm topic and the tenant's bus in a stack.
pub trait NoticeSink: Send + Sync {
    fn publish(&self, notice: &Notice) -> impl Future<Output = Result<(), String>> + Send;
}

/// SNS (the stack's alarm topic) and EventBridge (the tenant's bus).
pub struct AwsNotices {
    pub sns: aws_sdk_sns::Client,
    pub topic_arn: String,
    pub events: aws_sdk_eventbridge::Client,
    pub bus: String,
}

impl NoticeSink for AwsNotices {
    async fn publish(&self, notice: &Notice) -> Result<(), String> {
        let detail = serde_json::to_string(notice).map_err(|e| e.to_string())?;
        let entry = aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
            .event_bus_name(&self.bus)
            .source(NOTICE_SOURCE)
            .detail_type(notice.notice)
            .detail(detail)
            .build();
        let out = self
            .events
            .put_events()
            .entries(entry)
            .send()
            .await
            .map_err(|e| {
                format!(
                    "PutEvents: {}",
                    aws_sdk_eventbridge::error::DisplayErrorContext(&e)
                )
            })?;
        if out.failed_entry_count() > 0 {
            let why = out
                .entries()
                .iter()
                .filter_map(|e| e.error_message())
                .collect::<Vec<_>>()
                .join("; ");
            return Err(format!("PutEvents refused the notice: {why}"));
        }
        self.sns
            .publish()
            .topic_arn(&self.topic_arn)
            .subject(notice.subject())
            .message(notice.message())
            .send()
            .await
            .map_err(|e| format!("Publish: {}", aws_sdk_sns::error::DisplayErrorContext(&e)))?;
        Ok(())
    }
}

/// What a run did.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WatchReport {
    /// The notices sent in this run (detail-type and token id).
    pub sent: Vec<String>,
    /// Notices due but sent before.
    pub already_sent: usize,
}

/// Checks `secret_id` at `now` and sends each notice due that was not sent before.
pub async fn run<N: NoticeSink>(
    client: &Client,
    store: &DynamoStore,
    sink: &N,
    secret_id: &str,
    fallback_tenant: Option<&str>,
    policy: &WatchPolicy,
    now: OffsetDateTime,
) -> Result<WatchReport, TokenError> {
    let versions = list(client, secret_id, fallback_tenant).await?;
    let Some(tenant) = versions.iter().find_map(|v| v.tenant.clone()) else {
        return Ok(WatchReport::default());
    };
    let store_err = |e: scim_service::port::StoreError| TokenError::Sdk(format!("the table: {e}"));
    let usage = store
        .settings(&tenant)
        .await
        .map_err(store_err)?
        .token_usage;
    let mut report = WatchReport::default();
    for notice in evaluate(&versions, &usage, policy, now) {
        let key = notice.key();
        if store.notice_sent(&tenant, &key).await.map_err(store_err)? {
            report.already_sent += 1;
            continue;
        }
        sink.publish(&notice)
            .await
            .map_err(|e| TokenError::Sdk(format!("sending the {} notice: {e}", notice.notice)))?;
        store
            .record_notice(&tenant, &key, &notice.at, now.unix_timestamp())
            .await
            .map_err(store_err)?;
        tracing::warn!(
            tenant = %tenant,
            notice = notice.notice,
            token_id = %notice.token_id,
            age_days = notice.age_days,
            "token notice sent"
        );
        report.sent.push(key);
    }
    Ok(report)
}

/// The check as the scheduled job runs it: configured from the environment once per cold
/// start (`TOKEN_SECRET_ARN`, `ALARM_TOPIC_ARN`, `EVENT_BUS_NAME`, `TENANT_ID` for a
/// bare-token value, and the thresholds of [`WatchPolicy::from_env`]).
pub struct Watch {
    client: Client,
    sink: AwsNotices,
    secret_id: String,
    tenant: Option<String>,
    policy: WatchPolicy,
}

impl Watch {
    /// `None` when `TOKEN_SECRET_ARN` is unset (no token to watch).
    pub fn from_env(sdk: &aws_config::SdkConfig) -> Result<Option<Watch>, String> {
        use crate::config::var;
        let Some(secret_id) = var("TOKEN_SECRET_ARN") else {
            return Ok(None);
        };
        let topic_arn = var("ALARM_TOPIC_ARN")
            .ok_or("ALARM_TOPIC_ARN must name the stack's alarm topic (token notices)")?;
        let bus = var("EVENT_BUS_NAME")
            .ok_or("EVENT_BUS_NAME must name the tenant's bus (token notices)")?;
        Ok(Some(Watch {
            client: super::client(sdk),
            sink: AwsNotices {
                sns: aws_sdk_sns::Client::new(sdk),
                topic_arn,
                events: aws_sdk_eventbridge::Client::new(sdk),
                bus,
            },
            secret_id,
            tenant: var("TENANT_ID"),
            policy: WatchPolicy::from_env()?,
        }))
    }

    pub async fn run(
        &self,
        store: &DynamoStore,
        now: OffsetDateTime,
    ) -> Result<WatchReport, TokenError> {
        run(
            &self.client,
            store,
            &self.sink,
            &self.secret_id,
            self.tenant.as_deref(),
            &self.policy,
            now,
        )
        .await
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use scim_service::settings::ClientKind;
    use time::macros::datetime;

    fn version(id: &str, token: &str, stage: &str, created: &str) -> TokenVersion {
        TokenVersion {
            version_id: id.into(),
            token_id: Some(token.into()),
            tenant: Some("acme".into()),
            stages: vec![stage.into()],
            created: Some(created.into()),
        }
    }

    fn used(at: &str) -> Usage {
        Usage {
            at: at.into(),
            client: ClientKind::Entra,
        }
    }

    #[test]
    fn a_new_token_unused_after_the_threshold_is_reported_once_per_token_with_the_one_in_use() {
        let versions = [
            version("v2", "bbbb", AWSCURRENT, "2026-01-01T00:00:00Z"),
            version("v1", "aaaa", AWSPREVIOUS, "2025-10-01T00:00:00Z"),
        ];
        let usage = BTreeMap::from([("aaaa".to_string(), used("2026-01-07T12:00:00Z"))]);
        let p = WatchPolicy::default();
        assert!(evaluate(&versions, &usage, &p, datetime!(2026-01-07 23:59 UTC)).is_empty());
        let n = evaluate(&versions, &usage, &p, datetime!(2026-01-08 00:00 UTC));
        assert_eq!(n.len(), 1, "{n:?}");
        assert_eq!(n[0].notice, "token.unused");
        assert_eq!(n[0].token_id, "bbbb");
        assert_eq!(n[0].key(), "token.unused#bbbb");
        assert_eq!(n[0].age_days, 7);
        assert_eq!(n[0].previous_token_id.as_deref(), Some("aaaa"));
        assert_eq!(
            n[0].previous_last_used.as_deref(),
            Some("2026-01-07T12:00:00Z")
        );
        // Once used, nothing.
        let mut usage = usage;
        usage.insert("bbbb".into(), used("2026-01-09T00:00:00Z"));
        assert!(evaluate(&versions, &usage, &p, datetime!(2026-01-10 00:00 UTC)).is_empty());
    }

    #[test]
    fn only_a_token_in_use_is_reported_for_its_age() {
        let versions = [
            version("v2", "bbbb", AWSCURRENT, "2026-01-01T00:00:00Z"),
            version("v1", "aaaa", AWSPREVIOUS, "2025-01-01T00:00:00Z"),
        ];
        let p = WatchPolicy::default();
        let now = datetime!(2026-03-01 00:00 UTC);
        // The old previous token, last used long ago: not in use, nothing to say.
        let usage = BTreeMap::from([
            ("aaaa".to_string(), used("2026-01-02T00:00:00Z")),
            ("bbbb".to_string(), used("2026-02-28T00:00:00Z")),
        ]);
        assert!(evaluate(&versions, &usage, &p, now).is_empty());
        // Still in use: reported.
        let usage = BTreeMap::from([
            ("aaaa".to_string(), used("2026-02-27T00:00:00Z")),
            ("bbbb".to_string(), used("2026-02-28T00:00:00Z")),
        ]);
        let n = evaluate(&versions, &usage, &p, now);
        assert_eq!(n.len(), 1, "{n:?}");
        assert_eq!(n[0].notice, "token.max-age");
        assert_eq!(n[0].stage, "previous");
        assert_eq!(n[0].threshold_days, 180);
        assert!(n[0].age_days >= 180);
        assert!(n[0].subject().len() <= 100);
        assert!(n[0].message().contains("revoke-previous"));
    }
}
