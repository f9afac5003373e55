//! The contact end-date sweep: what the scheduled `expire-contacts` function runs.
//!
//! Users who are active and have a contact-extension `endDate` sit in a sparse index (the
//! store's [`ExpiryIndex`]); deactivation by any path, or clearing the end date, takes them
//! out of it. A run reads the index up to `now` — so its cost grows with the number of
//! users expiring, not with the tenant's size — and for each id found:
//!
//! 1. re-reads the user (one strongly consistent `get`);
//! 2. skips them if they are gone, already inactive, or their end date is no longer at or
//!    before `now` (cleared or moved later since the index was read);
//! 3. else writes `active: false` guarded by the version it read ([`ExpiredAction::Deactivate`],
//!    the default) or deletes the user, leaving the usual tombstone ([`ExpiredAction::Delete`]),
//!    with an audit record `user.expired` whose actor is [`ACTOR`] and whose request id is the
//!    scheduled event's id.
//!
//! Idempotent: a processed user has left the index, so a second run finds nothing to do.
//! Partial failure: a user whose write failed (or lost a race to a concurrent write) is
//! still indexed, and the next run retries them. Nothing here reads a clock: `now` is the
//! scheduled event's time.

use crate::port::{Audit, Store, StoreError, StoreResult, Stored, Update};
use futures::stream::{self, StreamExt};
use scim_core::resource::{self, format_datetime, parse_datetime, Meta};
use scim_core::schema::ResourceKind;
use serde_json::Value;
use std::future::Future;
use std::str::FromStr;
use std::time::Instant;
use time::OffsetDateTime;

/// The actor recorded in the audit record (`token_id`) of every expiry.
pub const ACTOR: &str = "expire-contacts";
/// The event name recorded for every expiry, deactivation or deletion alike.
pub const EVENT: &str = "user.expired";
/// Ids read from the index per page.
pub const PAGE_SIZE: usize = 1000;
/// Users processed at once.
pub const CONCURRENCY: usize = 16;

/// What happens to a contact whose end date has passed: the tenant's `EXPIRED_ACTION`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExpiredAction {
    /// `active: false`; nothing else changes (memberships, attributes stay).
    #[default]
    Deactivate,
    /// Delete the user as `DELETE /Users/{id}` does: a hidden tombstone that keeps the
    /// record for a re-add until the retention ends; memberships are removed.
    Delete,
}

impl ExpiredAction {
    pub fn as_str(self) -> &'static str {
        match self {
            ExpiredAction::Deactivate => "deactivate",
            ExpiredAction::Delete => "delete",
        }
    }
}

impl FromStr for ExpiredAction {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "deactivate" => Ok(ExpiredAction::Deactivate),
            "delete" => Ok(ExpiredAction::Delete),
            other => Err(format!(
                "EXPIRED_ACTION '{other}' must be 'deactivate' or 'delete'"
            )),
        }
    }
}

/// One page of the expiry index.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DuePage {
    /// Ids of users whose indexed end date is at or before `now`, earliest first.
    pub ids: Vec<String>,
    /// Where the next page starts; `None` after the last page.
    pub next: Option<String>,
}

/// The sparse index of active users with an end date.
pub trait ExpiryIndex: Send + Sync {
    /// Up to `limit` ids of users whose end date is at or before `now` (to the second),
    /// after `start` (a `DuePage::next` of an earlier call).
    fn due_contacts(
        &self,
        tenant: &str,
        now: OffsetDateTime,
        limit: usize,
        start: Option<&str>,
    ) -> impl Future<Output = StoreResult<DuePage>> + Send;
}

/// What one run did. `examined` = `deactivated + deleted + skipped + failed`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExpiryReport {
    /// Ids read from the index.
    pub examined: u64,
    pub deactivated: u64,
    pub deleted: u64,
    /// Gone, already inactive, end date cleared or moved later, or lost a race to a
    /// concurrent write (then still indexed: the next run looks again).
    pub skipped: u64,
    /// Reads or writes that failed; still indexed, retried by the next run.
    pub failed: u64,
    /// Index pages read.
    pub pages: u64,
    /// False when the run stopped before the end of the index: the deadline came, or
    /// reading the index failed (`index_error`).
    pub complete: bool,
    /// Why reading the index failed, for the log.
    pub index_error: Option<String>,
}

impl ExpiryReport {
    /// The failure rule: a run fails (so the scheduler retries it) only when nothing could
    /// be processed at all — the index could not be read before any user was examined, or
    /// every user examined failed. Anything less is a success with failures counted and
    /// logged; what failed is still indexed and is retried by the next scheduled run.
    pub fn nothing_processed(&self) -> bool {
        (self.examined == 0 && self.index_error.is_some())
            || (self.examined > 0 && self.failed == self.examined)
    }
}

/// Runs the sweep over every expiring user of the tenant.
pub async fn expire_contacts<S>(
    store: &S,
    tenant: &str,
    now: OffsetDateTime,
    request_id: &str,
    action: ExpiredAction,
) -> ExpiryReport
where
    S: Store + ExpiryIndex,
{
    expire_contacts_until(store, tenant, now, request_id, action, None).await
}

/// [`expire_contacts`], starting no new index page after `deadline` (a Lambda function's
/// deadline minus a margin). Users left over are picked up by the next run.
pub async fn expire_contacts_until<S>(
    store: &S,
    tenant: &str,
    now: OffsetDateTime,
    request_id: &str,
    action: ExpiredAction,
    deadline: Option<Instant>,
) -> ExpiryReport
where
    S: Store + ExpiryIndex,
{
    let started = Instant::now();
    let run = Run {
        tenant,
        now,
        now_text: format_datetime(now),
        request_id,
        action,
    };
    let mut report = ExpiryReport::default();
    let mut start: Option<String> = None;
    loop {
        if deadline.is_some_and(|d| Instant::now() >= d) {
            tracing::warn!(
                tenant,
                "expire-contacts: deadline reached; the rest is left for the next run"
            );
            break;
        }
        let page = match store
            .due_contacts(tenant, now, PAGE_SIZE, start.as_deref())
            .await
        {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(tenant, error = %e, "expire-contacts: cannot read the expiry index");
                report.index_error = Some(e.to_string());
                break;
            }
        };
        report.pages += 1;
        report.examined += page.ids.len() as u64;
        let outcomes: Vec<Outcome> = stream::iter(page.ids.iter())
            .map(|id| run.expire_one(store, id))
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        for o in outcomes {
            match o {
                Outcome::Deactivated => report.deactivated += 1,
                Outcome::Deleted => report.deleted += 1,
                Outcome::Skipped => report.skipped += 1,
                Outcome::Failed => report.failed += 1,
            }
        }
        match page.next {
            Some(n) => start = Some(n),
            None => {
                report.complete = true;
                break;
            }
        }
    }
    tracing::info!(
        tenant,
        request_id,
        now = %run.now_text,
        action = action.as_str(),
        examined = report.examined,
        deactivated = report.deactivated,
        deleted = report.deleted,
        skipped = report.skipped,
        failed = report.failed,
        pages = report.pages,
        complete = report.complete,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "expire-contacts run"
    );
    report
}

enum Outcome {
    Deactivated,
    Deleted,
    Skipped,
    Failed,
}

struct Run<'a> {
    tenant: &'a str,
    now: OffsetDateTime,
    now_text: String,
    request_id: &'a str,
    action: ExpiredAction,
}

impl Run<'_> {
    async fn expire_one<S: Store>(&self, store: &S, id: &str) -> Outcome {
        let kind = ResourceKind::User;
        let before = match store.get(self.tenant, kind, id).await {
            Ok(Some(u)) => u,
            Ok(None) => return Outcome::Skipped,
            Err(e) => {
                tracing::warn!(tenant = self.tenant, id, error = %e, "expire-contacts: read failed; retried next run");
                return Outcome::Failed;
            }
        };
        // The index may be behind the item (it is eventually consistent, and the user may
        // have changed since the page was read): the item decides.
        if !resource::is_active(&before.doc) || !resource::end_date_passed(&before.doc, self.now) {
            return Outcome::Skipped;
        }
        let result = match self.action {
            ExpiredAction::Deactivate => self
                .deactivate(store, &before)
                .await
                .map(|()| Outcome::Deactivated),
            ExpiredAction::Delete => {
                let audit = self.audit(Vec::new(), self.stamp(&before));
                store
                    .delete(self.tenant, kind, &before, &audit)
                    .await
                    .map(|()| Outcome::Deleted)
            }
        };
        match result {
            Ok(o) => o,
            Err(StoreError::VersionMismatch | StoreError::NotFound) => {
                // A concurrent write won: the user is re-examined by the next run if they
                // are still active with a passed end date.
                tracing::info!(
                    tenant = self.tenant,
                    id,
                    "expire-contacts: user changed meanwhile; skipped"
                );
                Outcome::Skipped
            }
            Err(e) => {
                tracing::warn!(tenant = self.tenant, id, error = %e, "expire-contacts: write failed; retried next run");
                Outcome::Failed
            }
        }
    }

    async fn deactivate<S: Store>(&self, store: &S, before: &Stored) -> StoreResult<()> {
        let mut doc = before.doc.clone();
        doc.insert("active".into(), Value::Bool(false));
        let stamp = self.stamp(before);
        let after = Stored {
            id: before.id.clone(),
            doc,
            meta: Meta {
                created: before.meta.created.clone(),
                last_modified: format_datetime(stamp),
                version: before.meta.version + 1,
            },
            password_hash: before.password_hash.clone(),
        };
        let audit = self.audit(vec!["active".into()], stamp);
        store
            .update(
                self.tenant,
                Update::versioned(ResourceKind::User, before, &after, &audit),
            )
            .await
    }

    /// The write's time: the event's time, but never before the user's last change (an
    /// event retried late must not move `lastModified` backwards).
    fn stamp(&self, before: &Stored) -> OffsetDateTime {
        match parse_datetime(&before.meta.last_modified) {
            Some(last) if last > self.now => last,
            _ => self.now,
        }
    }

    fn audit(&self, changed: Vec<String>, at: OffsetDateTime) -> Audit {
        Audit {
            event: EVENT.into(),
            token_id: ACTOR.into(),
            request_id: self.request_id.to_string(),
            changed,
            at,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn expired_action_parses_the_documented_values_only() {
        assert_eq!("deactivate".parse(), Ok(ExpiredAction::Deactivate));
        assert_eq!(" Delete ".parse(), Ok(ExpiredAction::Delete));
        assert!("purge".parse::<ExpiredAction>().is_err());
        assert_eq!(ExpiredAction::default(), ExpiredAction::Deactivate);
    }

    #[test]
    fn a_run_fails_only_when_nothing_could_be_processed() {
        let mut r = ExpiryReport {
            index_error: Some("down".into()),
            ..Default::default()
        };
        assert!(r.nothing_processed());
        r.examined = 3;
        r.failed = 3;
        assert!(r.nothing_processed());
        r.failed = 2;
        r.deactivated = 1;
        assert!(
            !r.nothing_processed(),
            "partial failure is retried next run"
        );
        assert!(
            !ExpiryReport::default().nothing_processed(),
            "nothing due is fine"
        );
    }
}
