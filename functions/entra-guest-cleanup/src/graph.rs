//! The token endpoint and Microsoft Graph: the client-credentials token (cached), the three
//! Graph calls, retries inside the invocation's time budget, and what each failure means.
//!
//! Nothing here logs a header, a request body or a response body: the client secret is
//! only in the token request's body, the access token only in `Authorization` headers
//! (marked sensitive) and in the cache, whose `Debug` hides it.

use crate::credentials::CredentialsSource;
use crate::http::{HttpClient, Reply};
use crate::settings::{Mode, Settings};
use bytes::Bytes;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, USER_AGENT};
use http::{HeaderValue, Method, Request, StatusCode};
use http_body_util::Full;
use scim_aws::retry::Backoff;
use scim_aws::tokens::Clock;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// A cached access token is replaced this long before it expires (or at half its lifetime,
/// when that is shorter).
pub const TOKEN_REFRESH_MARGIN: Duration = Duration::from_secs(300);
/// The longest a single request may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// No request is started with less time than this left.
pub const MIN_REQUEST_TIME: Duration = Duration::from_millis(250);
/// First backoff when a throttled or failed answer names no `Retry-After`; doubles per
/// attempt up to [`MAX_BACKOFF`].
pub const FIRST_BACKOFF: Duration = Duration::from_millis(500);
pub const MAX_BACKOFF: Duration = Duration::from_secs(8);

const USER_AGENT_VALUE: &str = concat!("scim-entra-guest-cleanup/", env!("CARGO_PKG_VERSION"));

/// Until when the invocation may keep trying.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// Past this, no new request starts and no wait begins.
    pub until: Instant,
}

impl Budget {
    fn left(&self) -> Duration {
        self.until.saturating_duration_since(Instant::now())
    }

    /// The timeout of the next request, or `None` when there is no time for one.
    fn request_timeout(&self) -> Option<Duration> {
        let left = self.left();
        (left >= MIN_REQUEST_TIME).then(|| left.min(REQUEST_TIMEOUT))
    }

    /// Whether waiting `wait` still leaves time for a request.
    fn can_wait(&self, wait: Duration) -> bool {
        self.left() >= wait + MIN_REQUEST_TIME
    }
}

/// The requests this function makes, for messages and permissions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Token,
    ReadUser,
    Disable,
    Delete,
}

impl Op {
    pub fn describe(self) -> &'static str {
        match self {
            Op::Token => "POST /oauth2/v2.0/token",
            Op::ReadUser => "GET /v1.0/users/{id}",
            Op::Disable => "PATCH /v1.0/users/{id} (accountEnabled false)",
            Op::Delete => "DELETE /v1.0/users/{id}",
        }
    }

    /// The least-privileged Graph application permission this request needs in `mode`.
    pub fn permission(self, mode: Mode) -> &'static str {
        match (self, mode) {
            (Op::ReadUser, Mode::Delete) | (Op::Delete, _) => "User.ReadWrite.All",
            (Op::ReadUser, _) => "User.Read.All",
            (Op::Disable, _) => "User.EnableDisableAccount.All",
            (Op::Token, _) => "none",
        }
    }
}

/// The app registration a token was issued to (for messages; not secret).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AppId {
    pub directory: String,
    pub client_id: String,
}

/// Why a step failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The credentials secret cannot be read or is malformed.
    Credentials(String),
    /// The token endpoint refused the credentials or the request (`400`/`401`).
    TokenRejected {
        status: u16,
        error: String,
        codes: Vec<i64>,
        app: AppId,
    },
    /// Graph answered `403`, or `401` again after a fresh token.
    Permission {
        op: Op,
        status: u16,
        code: Option<String>,
        request_id: Option<String>,
        app: AppId,
    },
    /// Throttled or unavailable until the time budget ran out.
    Exhausted { op: Op, attempts: u32, last: String },
    /// Any other answer.
    Unexpected {
        op: Op,
        status: u16,
        code: Option<String>,
        request_id: Option<String>,
    },
}

impl Failure {
    /// One line for the audit record and the invocation's error.
    pub fn short(&self, mode: Mode) -> String {
        match self {
            Failure::Credentials(m) => format!("credentials: {m}"),
            Failure::TokenRejected {
                status,
                error,
                codes,
                ..
            } => format!(
                "token endpoint refused the client credentials ({status} {error}{})",
                aadsts(codes)
            ),
            Failure::Permission {
                op, status, code, ..
            } => format!(
                "Graph {status} to {}{}: needs application permission {}",
                op.describe(),
                code.as_deref().map(|c| format!(" ({c})")).unwrap_or_default(),
                op.permission(mode)
            ),
            Failure::Exhausted { op, attempts, last } => format!(
                "Graph throttled or unavailable: {} gave up after {attempts} attempt(s) when the invocation's time ran out (last: {last})",
                op.describe()
            ),
            Failure::Unexpected {
                op,
                status,
                code,
                request_id,
            } => format!(
                "Graph answered {status}{} to {}{}",
                code.as_deref().map(|c| format!(" ({c})")).unwrap_or_default(),
                op.describe(),
                request_id
                    .as_deref()
                    .map(|r| format!(" (request-id {r})"))
                    .unwrap_or_default()
            ),
        }
    }

    /// For configuration problems (credentials, consent, permissions): a key so the
    /// problem is reported once per cold start, and the full report telling the operator
    /// what to fix. Transient failures have none.
    pub fn report(&self, mode: Mode, source: &str) -> Option<(String, String)> {
        match self {
            Failure::Credentials(m) => Some((
                "credentials".into(),
                format!("Entra cleanup cannot read the app registration's credentials ({source}): {m}"),
            )),
            Failure::TokenRejected {
                status,
                error,
                codes,
                app,
            } => Some((
                format!("token-{status}-{error}"),
                format!(
                    "Entra cleanup: the token endpoint refused the client credentials of app {} in directory {} \
                     ({status} {error}{}). Check the clientId and clientSecret in {source} (client secrets \
                     expire: create a new one and put it into the secret), that tenantId is the customer's \
                     directory, and that GRAPH_SCOPE/ENTRA_LOGIN_BASE_URL match the customer's cloud.",
                    app.client_id,
                    app.directory,
                    aadsts(codes)
                ),
            )),
            Failure::Permission {
                op,
                status,
                code,
                request_id,
                app,
            } => {
                let answer = if *status == 401 {
                    "401 Unauthorized (even with a fresh token)"
                } else {
                    "403 Forbidden"
                };
                let admins = match op {
                    Op::Disable | Op::Delete => {
                        " (If it has the permission: a guest who holds an Entra administrator role \
                         cannot be changed with it alone; remove the role first.)"
                    }
                    _ => "",
                };
                Some((
                    format!("graph-{status}-{op:?}"),
                    format!(
                        "Entra cleanup: Microsoft Graph answered {answer}{} to {} for app {} in directory {}{}. \
                         The app registration is missing the Microsoft Graph application permission {} \
                         (ENTRA_CLEANUP_MODE={} needs {}): add it under API permissions as an \
                         application permission (not delegated) and grant admin consent for the \
                         directory.{admins}",
                        code.as_deref().map(|c| format!(" ({c})")).unwrap_or_default(),
                        op.describe(),
                        app.client_id,
                        app.directory,
                        request_id
                            .as_deref()
                            .map(|r| format!(" (request-id {r})"))
                            .unwrap_or_default(),
                        op.permission(mode),
                        mode.as_str(),
                        mode.permissions(),
                    ),
                ))
            }
            Failure::Exhausted { .. } | Failure::Unexpected { .. } => None,
        }
    }
}

fn aadsts(codes: &[i64]) -> String {
    codes.iter().map(|c| format!(", AADSTS{c}")).collect()
}

/// An access token: `Debug` shows only when it will be replaced.
struct AccessToken {
    value: String,
    refresh_at: Instant,
    app: AppId,
}

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessToken")
            .field("value", &"<redacted>")
            .field("refresh_at", &self.refresh_at)
            .finish()
    }
}

/// How long a token with this `expires_in` is used.
pub fn token_lifetime(expires_in: Duration) -> Duration {
    expires_in - TOKEN_REFRESH_MARGIN.min(expires_in / 2)
}

/// `Retry-After` in seconds (what Graph sends); an HTTP date or garbage counts as absent.
pub fn retry_after(reply: &Reply) -> Option<Duration> {
    reply
        .header("retry-after")
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

/// The wait before attempt `attempt + 1` when the answer named none: exponential with
/// jitter (half fixed, half random).
pub fn backoff(attempt: u32) -> Duration {
    Backoff {
        first: FIRST_BACKOFF,
        cap: MAX_BACKOFF,
        spread: (0.5, 1.0),
    }
    .delay(attempt.saturating_sub(1))
}

fn retryable(status: StatusCode) -> bool {
    matches!(status.as_u16(), 429 | 500 | 502 | 503 | 504)
}

/// Graph's error code (`{"error":{"code":...}}`) and the response's `request-id`.
fn graph_error(reply: &Reply) -> (Option<String>, Option<String>) {
    let code = serde_json::from_slice::<serde_json::Value>(&reply.body)
        .ok()
        .and_then(|v| v["error"]["code"].as_str().map(str::to_string));
    (code, reply.header("request-id").map(str::to_string))
}

/// Whether the Graph user read says guest. `None` means the user does not exist (`404`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntraUser {
    pub user_type: Option<String>,
}

impl EntraUser {
    /// The guest rule: Entra's own `userType` is `Guest`.
    pub fn is_guest(&self) -> bool {
        self.user_type
            .as_deref()
            .is_some_and(|t| t.eq_ignore_ascii_case("Guest"))
    }
}

pub struct Graph<C, K> {
    http: HttpClient,
    login_base_url: String,
    graph_base_url: String,
    scope: String,
    credentials: C,
    clock: K,
    token: Mutex<Option<AccessToken>>,
}

impl<C: CredentialsSource, K: Clock> Graph<C, K> {
    pub fn new(settings: &Settings, http: HttpClient, credentials: C, clock: K) -> Graph<C, K> {
        Graph {
            http,
            login_base_url: settings.login_base_url.clone(),
            graph_base_url: settings.graph_base_url.clone(),
            scope: settings.graph_scope.clone(),
            credentials,
            clock,
            token: Mutex::new(None),
        }
    }

    pub fn with_clock<K2: Clock>(self, clock: K2) -> Graph<C, K2> {
        Graph {
            http: self.http,
            login_base_url: self.login_base_url,
            graph_base_url: self.graph_base_url,
            scope: self.scope,
            credentials: self.credentials,
            clock,
            token: Mutex::new(None),
        }
    }

    pub fn credentials_source(&self) -> String {
        self.credentials.describe()
    }

    /// `GET /v1.0/users/{id}?$select=id,userType`; `None` on `404`.
    pub async fn read_user(
        &self,
        object_id: &str,
        budget: &Budget,
        client_request_id: Option<&str>,
    ) -> Result<Option<EntraUser>, Failure> {
        let path = format!("/v1.0/users/{object_id}?$select=id,userType");
        let reply = self
            .call(
                Op::ReadUser,
                Method::GET,
                &path,
                None,
                budget,
                client_request_id,
            )
            .await?;
        match reply.status.as_u16() {
            200 => {
                let v: serde_json::Value =
                    serde_json::from_slice(&reply.body).map_err(|_| Failure::Unexpected {
                        op: Op::ReadUser,
                        status: 200,
                        code: Some("body is not JSON".into()),
                        request_id: reply.header("request-id").map(str::to_string),
                    })?;
                Ok(Some(EntraUser {
                    user_type: v["userType"].as_str().map(str::to_string),
                }))
            }
            404 => Ok(None),
            _ => Err(unexpected(Op::ReadUser, &reply)),
        }
    }

    /// `PATCH /v1.0/users/{id}` with `{"accountEnabled": false}`; `false` on `404`.
    pub async fn disable(
        &self,
        object_id: &str,
        budget: &Budget,
        client_request_id: Option<&str>,
    ) -> Result<bool, Failure> {
        let path = format!("/v1.0/users/{object_id}");
        let body = Bytes::from_static(br#"{"accountEnabled":false}"#);
        let reply = self
            .call(
                Op::Disable,
                Method::PATCH,
                &path,
                Some(body),
                budget,
                client_request_id,
            )
            .await?;
        done_or_gone(Op::Disable, &reply)
    }

    /// `DELETE /v1.0/users/{id}`; `false` on `404`.
    pub async fn delete(
        &self,
        object_id: &str,
        budget: &Budget,
        client_request_id: Option<&str>,
    ) -> Result<bool, Failure> {
        let path = format!("/v1.0/users/{object_id}");
        let reply = self
            .call(
                Op::Delete,
                Method::DELETE,
                &path,
                None,
                budget,
                client_request_id,
            )
            .await?;
        done_or_gone(Op::Delete, &reply)
    }

    /// One Graph request with a (cached) token. A `401` drops the token and tries once
    /// more with a fresh one; a second `401`, or a `403`, is a permission failure.
    async fn call(
        &self,
        op: Op,
        method: Method,
        path_and_query: &str,
        body: Option<Bytes>,
        budget: &Budget,
        client_request_id: Option<&str>,
    ) -> Result<Reply, Failure> {
        let url = format!("{}{}", self.graph_base_url, path_and_query);
        let mut fresh = false;
        loop {
            let (token, app) = self.token(budget).await?;
            let mut auth = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
                Failure::Unexpected {
                    op: Op::Token,
                    status: 200,
                    code: Some("access token is not a valid header value".into()),
                    request_id: None,
                }
            })?;
            auth.set_sensitive(true);
            let make = || {
                let mut req = Request::builder()
                    .method(method.clone())
                    .uri(&url)
                    .header(AUTHORIZATION, auth.clone())
                    .header(ACCEPT, "application/json")
                    .header(USER_AGENT, USER_AGENT_VALUE);
                if let Some(id) = client_request_id {
                    req = req.header("client-request-id", id);
                }
                match &body {
                    Some(b) => req
                        .header(CONTENT_TYPE, "application/json")
                        .body(Full::new(b.clone())),
                    None => req.body(Full::new(Bytes::new())),
                }
            };
            let reply = self.exchange(op, budget, make).await?;
            let (code, request_id) = graph_error(&reply);
            tracing::debug!(
                op = op.describe(),
                status = reply.status.as_u16(),
                code = code.as_deref().unwrap_or(""),
                request_id = request_id.as_deref().unwrap_or(""),
                "graph answered"
            );
            match reply.status.as_u16() {
                // A refused token is never used again; one fresh token is tried.
                401 if !fresh => {
                    fresh = true;
                    *self.token.lock().await = None;
                }
                status @ (401 | 403) => {
                    if status == 401 {
                        *self.token.lock().await = None;
                    }
                    return Err(Failure::Permission {
                        op,
                        status,
                        code,
                        request_id,
                        app,
                    });
                }
                _ => return Ok(reply),
            }
        }
    }

    /// The cached access token, or a new one (credentials read again for it).
    async fn token(&self, budget: &Budget) -> Result<(String, AppId), Failure> {
        let mut slot = self.token.lock().await;
        if let Some(t) = slot.as_ref() {
            if self.clock.now() < t.refresh_at {
                return Ok((t.value.clone(), t.app.clone()));
            }
        }
        *slot = None;
        let creds = self
            .credentials
            .load()
            .await
            .map_err(Failure::Credentials)?;
        let app = AppId {
            directory: creds.tenant_id.clone(),
            client_id: creds.client_id.clone(),
        };
        let url = format!(
            "{}/{}/oauth2/v2.0/token",
            self.login_base_url, creds.tenant_id
        );
        let form = Bytes::from(
            form_urlencoded::Serializer::new(String::new())
                .append_pair("client_id", &creds.client_id)
                .append_pair("scope", &self.scope)
                .append_pair("client_secret", creds.client_secret().expose())
                .append_pair("grant_type", "client_credentials")
                .finish(),
        );
        let make = || {
            Request::post(&url)
                .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                .header(ACCEPT, "application/json")
                .header(USER_AGENT, USER_AGENT_VALUE)
                .body(Full::new(form.clone()))
        };
        let requested_at = self.clock.now();
        let reply = self.exchange(Op::Token, budget, make).await?;
        let body: serde_json::Value = serde_json::from_slice(&reply.body).unwrap_or_default();
        match reply.status.as_u16() {
            200 => {
                let value = body["access_token"].as_str().unwrap_or_default();
                let expires_in = body["expires_in"]
                    .as_u64()
                    .or_else(|| body["expires_in"].as_str().and_then(|s| s.parse().ok()));
                let (false, Some(expires_in)) = (value.is_empty(), expires_in) else {
                    return Err(Failure::Unexpected {
                        op: Op::Token,
                        status: 200,
                        code: Some("no access_token or expires_in in the answer".into()),
                        request_id: None,
                    });
                };
                let lifetime = token_lifetime(Duration::from_secs(expires_in));
                tracing::debug!(
                    expires_in,
                    cached_for_secs = lifetime.as_secs(),
                    "new access token"
                );
                *slot = Some(AccessToken {
                    value: value.to_string(),
                    refresh_at: requested_at + lifetime,
                    app: app.clone(),
                });
                Ok((value.to_string(), app))
            }
            status @ (400 | 401) => Err(Failure::TokenRejected {
                status,
                error: body["error"].as_str().unwrap_or("unknown").to_string(),
                codes: body["error_codes"]
                    .as_array()
                    .map(|a| a.iter().filter_map(|c| c.as_i64()).collect())
                    .unwrap_or_default(),
                app,
            }),
            status => Err(Failure::Unexpected {
                op: Op::Token,
                status,
                code: body["error"].as_str().map(str::to_string),
                request_id: reply.header("x-ms-request-id").map(str::to_string),
            }),
        }
    }

    /// Sends the request `make` builds, again after `429`/`5xx`/transport errors (waiting
    /// `Retry-After` or a backoff) while the budget allows; returns the first other answer.
    async fn exchange(
        &self,
        op: Op,
        budget: &Budget,
        make: impl Fn() -> http::Result<Request<Full<Bytes>>>,
    ) -> Result<Reply, Failure> {
        let mut attempts = 0u32;
        let mut last = String::from("no time left for a request");
        loop {
            let Some(timeout) = budget.request_timeout() else {
                return Err(Failure::Exhausted { op, attempts, last });
            };
            let req = make().map_err(|_| Failure::Unexpected {
                op,
                status: 0,
                code: Some("cannot build the request".into()),
                request_id: None,
            })?;
            attempts += 1;
            let wait = match self.http.send(req, timeout).await {
                Ok(reply) if retryable(reply.status) => {
                    last = format!("{}", reply.status);
                    retry_after(&reply).unwrap_or_else(|| backoff(attempts))
                }
                Ok(reply) => return Ok(reply),
                Err(e) => {
                    last = e;
                    backoff(attempts)
                }
            };
            if !budget.can_wait(wait) {
                return Err(Failure::Exhausted { op, attempts, last });
            }
            tracing::info!(
                op = op.describe(),
                attempt = attempts,
                last = %last,
                wait_ms = wait.as_millis() as u64,
                "throttled or unavailable: retrying"
            );
            tokio::time::sleep(wait).await;
        }
    }
}

fn unexpected(op: Op, reply: &Reply) -> Failure {
    let (code, request_id) = graph_error(reply);
    Failure::Unexpected {
        op,
        status: reply.status.as_u16(),
        code,
        request_id,
    }
}

fn done_or_gone(op: Op, reply: &Reply) -> Result<bool, Failure> {
    match reply.status.as_u16() {
        200..=299 => Ok(true),
        404 => Ok(false),
        _ => Err(unexpected(op, reply)),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn reply_with(retry_after_value: Option<&str>) -> Reply {
        let mut headers = http::HeaderMap::new();
        if let Some(v) = retry_after_value {
            headers.insert("retry-after", HeaderValue::from_str(v).unwrap());
        }
        Reply {
            status: StatusCode::TOO_MANY_REQUESTS,
            headers,
            body: Bytes::new(),
        }
    }

    #[test]
    fn retry_after_is_seconds() {
        assert_eq!(
            retry_after(&reply_with(Some("7"))),
            Some(Duration::from_secs(7))
        );
        assert_eq!(retry_after(&reply_with(Some(" 0 "))), Some(Duration::ZERO));
        assert_eq!(
            retry_after(&reply_with(Some("Wed, 21 Oct 2015 07:28:00 GMT"))),
            None
        );
        assert_eq!(retry_after(&reply_with(None)), None);
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        for attempt in 1..20 {
            let full = FIRST_BACKOFF
                .saturating_mul(1 << (attempt - 1).min(8))
                .min(MAX_BACKOFF);
            let b = backoff(attempt);
            assert!(b >= full / 2 && b <= full, "{attempt}: {b:?}");
        }
        assert!(backoff(30) <= MAX_BACKOFF);
    }

    #[test]
    fn tokens_are_replaced_before_they_expire() {
        assert_eq!(
            token_lifetime(Duration::from_secs(3599)),
            Duration::from_secs(3299)
        );
        assert_eq!(
            token_lifetime(Duration::from_secs(300)),
            Duration::from_secs(150)
        );
        assert_eq!(token_lifetime(Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn permissions_per_mode() {
        assert_eq!(
            Op::Disable.permission(Mode::Disable),
            "User.EnableDisableAccount.All"
        );
        assert_eq!(Op::ReadUser.permission(Mode::Disable), "User.Read.All");
        assert_eq!(Op::Delete.permission(Mode::Delete), "User.ReadWrite.All");
        assert_eq!(Op::ReadUser.permission(Mode::Delete), "User.ReadWrite.All");
    }

    #[test]
    fn the_guest_rule() {
        let u = |t: Option<&str>| EntraUser {
            user_type: t.map(str::to_string),
        };
        assert!(u(Some("Guest")).is_guest());
        assert!(u(Some("guest")).is_guest());
        assert!(!u(Some("Member")).is_guest());
        assert!(!u(None).is_guest());
        assert!(!u(Some("")).is_guest());
    }

    #[test]
    fn the_token_debug_hides_the_value() {
        let t = AccessToken {
            value: "eyJ0eXAiOiJKV1Qi.secret".into(),
            refresh_at: Instant::now(),
            app: AppId::default(),
        };
        assert!(!format!("{t:?}").contains("eyJ0"), "{t:?}");
    }
}
