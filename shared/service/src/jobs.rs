//! Asynchronous SCIM requests (RFC 9967 §2.5.1): a write sent with `Prefer: respond-async`
//! is accepted as a job and answered `202 Accepted` with `Set-Txn`, `Preference-Applied`
//! and a `Location` where its completion can be read (`GET /AsyncRequests/{txn}`).
//!
//! Accepting is one store write: the job item holds the request (method, path, body,
//! `If-Match`, who sent it). Something then runs it: on AWS the `async-worker` function,
//! which the table's stream hands every new job item; locally a task (see [`JobRunner`]).
//! Running a job ([`run`]) goes through the same `dispatch` as the synchronous request, so
//! it validates, guards, audits and publishes change events exactly as that request
//! would. Its completion is one `urn:ietf:params:scim:event:misc:asyncresp` SET per
//! operation (a bulk request's `txn` is `{txn}:{index}`), signed, recorded on the job item
//! and handed back for publishing.
//!
//! Running again is safe: a completed job's recorded SETs are answered again (same `jti`).
//! A job whose run was cut short before its completion was recorded runs again; the
//! resources its creates make have ids decided by the job (`Context::replay`), so a create
//! that had committed answers as it did the first time instead of `409`.

use crate::events::set;
use crate::oauth::keys::SigningKey;
use crate::port::{StoreError, StoreResult};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::sync::Arc;
use std::time::Duration;

/// The response header carrying the job's transaction id (RFC 9967 §3).
pub const SET_TXN: &str = "set-txn";
/// The endpoint where a job's completion is read (`{Tenant URL}/AsyncRequests/{txn}`).
pub const ENDPOINT: &str = "/AsyncRequests";
/// How long a job item (and its completion) is kept: 7 days.
pub const RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);
/// The largest request body accepted asynchronously: the job item holds it, and a
/// DynamoDB item is at most 400 KB.
pub const MAX_BODY_BYTES: usize = 300_000;
/// How long a job's bulk request may run before the operations not yet started answer
/// `503`: the worker's timeout is 300 s, and its duration alarm is at 80 % of it.
pub const BULK_TIME_BUDGET: Duration = Duration::from_secs(200);

/// An accepted request, as the job item keeps it until it has run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    /// The transaction id answered in `Set-Txn`; the job item's key.
    pub txn: String,
    pub tenant: String,
    /// The non-secret id of the token the request was made with (audit records).
    pub token_id: String,
    /// The accepting request's id (audit records and change events carry it).
    pub request_id: String,
    /// The Tenant URL as the request addressed it (`location`s).
    pub base_url: String,
    pub method: String,
    /// The path below the Tenant URL: `/Users`, `/Groups/{id}`, `/Bulk`.
    pub path: String,
    pub query: Option<String>,
    pub if_match: Option<String>,
    pub body: String,
    /// When it was accepted (RFC 3339).
    pub accepted: String,
}

/// A job item as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRecord {
    /// The request, until the job has run.
    pub job: Option<Job>,
    /// The completion SETs once it has run (in operation order).
    pub sets: Option<Vec<String>>,
}

/// What runs accepted jobs in this process, if anything does: the local server's task.
/// On AWS nothing is needed here (the stream starts `async-worker`), so a Lambda function
/// has none.
pub trait JobRunner: Send + Sync {
    /// Called once a job item is stored; must not wait for the job.
    fn started(&self, job: Job);
}

/// How this deployment treats `Prefer: respond-async`.
#[derive(Clone, Default)]
pub enum AsyncRequests {
    /// Not offered: such requests are answered synchronously (RFC 7240 lets a server
    /// ignore a preference), and ServiceProviderConfig says `asyncRequest: "none"`.
    #[default]
    Off,
    /// Jobs are stored and something else runs them (the stack's `async-worker`).
    Stored,
    /// Jobs are stored and handed to this runner too (the local server).
    Run(Arc<dyn JobRunner>),
}

impl AsyncRequests {
    pub fn offered(&self) -> bool {
        !matches!(self, AsyncRequests::Off)
    }
}

impl std::fmt::Debug for AsyncRequests {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AsyncRequests::Off => "Off",
            AsyncRequests::Stored => "Stored",
            AsyncRequests::Run(_) => "Run",
        })
    }
}

/// What a request's `Prefer` headers ask (RFC 7240; several preferences may share a
/// header, names are case-insensitive, parameters of other preferences are ignored).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Prefer {
    /// `respond-async` (§4.1).
    pub respond_async: bool,
    /// `wait=N` (§4.3): the seconds the client will wait for an answer.
    pub wait: Option<u64>,
}

impl Prefer {
    pub fn of(headers: &http::HeaderMap) -> Prefer {
        let mut out = Prefer::default();
        for p in headers
            .get_all("prefer")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
        {
            let token = p.split(';').next().unwrap_or("").trim();
            let (name, value) = match token.split_once('=') {
                Some((n, v)) => (n.trim(), Some(v.trim().trim_matches('"'))),
                None => (token, None),
            };
            if name.eq_ignore_ascii_case("respond-async") {
                out.respond_async = true;
            } else if name.eq_ignore_ascii_case("wait") {
                out.wait = value.and_then(|v| v.parse().ok());
            }
        }
        out
    }

    /// Whether a write is to run as a job: `respond-async`, unless a `wait` of a second or
    /// more leaves time to answer at once. A single-resource write completes well inside a
    /// second, so with `wait` it is answered synchronously (RFC 7240 §4.3: the server
    /// answers asynchronously when the work would outlast `wait`); a bulk request, which
    /// may take up to its time budget, always runs as a job.
    pub fn runs_as_job(&self, bulk: bool) -> bool {
        self.respond_async && (bulk || self.wait.is_none_or(|w| w < 1))
    }
}

/// A new transaction id: 128 random bits as hex (RFC 9967's examples' shape).
pub fn new_txn() -> StoreResult<String> {
    crate::auth::random_hex::<16>().map_err(StoreError::Internal)
}

/// The authenticator of a process that only runs jobs (the `async-worker` function, the
/// local runner's task): a job's caller was authenticated when it was accepted, and nobody
/// calls a job runner directly.
pub struct NoCallers;

impl crate::auth::Authenticator for NoCallers {
    async fn authenticate(
        &self,
        _authorization: Option<&str>,
    ) -> Result<crate::auth::Principal, crate::auth::AuthError> {
        Err(crate::auth::AuthError::Invalid)
    }
}

/// What signs completion SETs: the issuer (the Tenant URL), the audience and the key.
#[derive(Debug, Clone)]
pub struct SetSigner {
    pub issuer: String,
    pub audience: String,
    pub key: SigningKey,
}

/// One operation's completion: its `txn` (the job's, or `{txn}:{index}` in a bulk job),
/// the subject's relative URI, and the RFC 7644 §3.7.3 bulk response operation.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    pub txn: String,
    pub subject: String,
    pub result: Map<String, Value>,
}

impl Completion {
    /// The SET's claims (RFC 9967 §2.5.1.3): the event is the operation's result; `jti`
    /// derives from the tenant and `txn`, so a completion published again repeats it.
    pub fn claims(&self, tenant: &str, issuer: &str, audience: &str, iat: i64) -> Value {
        json!({
            "iss": issuer,
            "aud": audience,
            "iat": iat,
            "jti": set::async_jti(tenant, &self.txn),
            "txn": self.txn,
            "sub_id": {"format": "scim", "uri": self.subject},
            "events": {set::ASYNC_RESPONSE: Value::Object(self.result.clone())},
        })
    }
}

/// The subject of a completion: the `location` made relative to the Tenant URL, else the
/// operation's own path (a create that failed has no resource).
pub fn subject(base_url: &str, location: Option<&str>, path: &str) -> String {
    let base = base_url.trim_end_matches('/');
    match location.and_then(|l| l.strip_prefix(base)) {
        Some(rel) if rel.starts_with('/') => rel.to_string(),
        _ => path.to_string(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use http::{HeaderMap, HeaderValue};

    #[test]
    fn respond_async_and_wait_are_found_among_preferences() {
        let with = |v: &'static str| {
            let mut h = HeaderMap::new();
            h.append("prefer", HeaderValue::from_static(v));
            Prefer::of(&h)
        };
        let only = Prefer {
            respond_async: true,
            wait: None,
        };
        assert_eq!(with("respond-async"), only);
        assert_eq!(with("Respond-Async"), only);
        assert_eq!(
            with("return=minimal, respond-async; foo=bar, wait=10"),
            Prefer {
                respond_async: true,
                wait: Some(10)
            }
        );
        assert!(!with("return=representation").respond_async);
        assert!(!with("respond-asynchronously").respond_async);
        assert_eq!(Prefer::of(&HeaderMap::new()), Prefer::default());
        let mut two = HeaderMap::new();
        two.append("prefer", HeaderValue::from_static("wait=5"));
        two.append("prefer", HeaderValue::from_static("respond-async"));
        let p = Prefer::of(&two);
        assert_eq!(p.wait, Some(5));
        // With a wait, a single write is answered at once; a bulk request still runs as a job.
        assert!(!p.runs_as_job(false));
        assert!(p.runs_as_job(true));
        assert!(only.runs_as_job(false));
        assert!(with("respond-async, wait=0").runs_as_job(false));
        assert!(!with("wait=5").runs_as_job(true));
    }

    #[test]
    fn a_completion_is_an_asyncresp_set_about_its_subject() {
        let mut result = Map::new();
        result.insert("method".into(), json!("PUT"));
        result.insert("status".into(), json!("200"));
        let c = Completion {
            txn: "734f:1".into(),
            subject: subject(
                "https://x/scim/v2/",
                Some("https://x/scim/v2/Users/2819"),
                "/Users/2819",
            ),
            result,
        };
        let claims = c.claims("t1", "https://x/scim/v2", "urn:aud", 1_458_505_044);
        assert_eq!(
            claims["sub_id"],
            json!({"format": "scim", "uri": "/Users/2819"})
        );
        assert_eq!(claims["txn"], "734f:1");
        assert_eq!(
            claims["events"][set::ASYNC_RESPONSE],
            json!({"method": "PUT", "status": "200"})
        );
        assert_eq!(claims["jti"], c.claims("t1", "i", "a", 0)["jti"]);
        assert_ne!(claims["jti"], c.claims("t2", "i", "a", 0)["jti"]);
        assert_eq!(subject("https://x/scim/v2", None, "/Users"), "/Users");
        assert_eq!(
            subject("https://x/scim/v2", Some("https://evil/Users/1"), "/Users"),
            "/Users"
        );
    }

    #[test]
    fn transaction_ids_are_random_hex() {
        let a = new_txn().unwrap();
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(a, new_txn().unwrap());
    }
}
