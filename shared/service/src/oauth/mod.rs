//! OAuth 2.0 for the SCIM API: the tenant's token endpoint (`POST /oauth2/token`), the
//! clients allowed to use it, and the access tokens every SCIM function accepts beside the
//! static bearer token — as Microsoft's gallery requirements ask (client credentials, or
//! workload identity federation with an Entra-signed client assertion).
//!
//! - [`jwt`]: the JWS compact form, HS256 and RS256 only.
//! - [`keys`]: the access tokens and their signing keys; [`keys::OAuthAuthenticator`].
//! - [`clients`]: secret and federated clients, and their store port.
//! - [`federation`]: Entra's assertions and the JWKS cache.
//! - here: the token endpoint itself — one place that parses a token request, authenticates
//!   the client and maps every failure to an RFC 6749 §5.2 error.
//!
//! **Grants.** `grant_type=client_credentials` (RFC 6749 §4.4) with the client
//! authenticated by `client_secret_basic`, `client_secret_post`, or a JWT-bearer client
//! assertion (RFC 7523 §2.2, what Entra sends); and `grant_type=
//! urn:ietf:params:oauth:grant-type:jwt-bearer` with `assertion` (RFC 7523 §2.1), the same
//! check with its failures answered `invalid_grant`.
//!
//! **Abuse bounds.** [`Lockout`]: five wrong secrets for one client id within five minutes
//! lock it for five minutes (`429` with `Retry-After`, even with the right secret),
//! per process, in a bounded map; each lock is logged at warn level as `oauth client
//! locked` for an operator's alarm. Secrets, assertions and tokens are never logged.

pub mod clients;
pub mod federation;
pub mod jwt;
pub mod keys;

use crate::http::{ScimRequest, ScimResponse};
use base64::Engine;
use bytes::Bytes;
use clients::{ClientAuth, ClientStore, OAuthClient};
use federation::{AssertionError, Fetch, Jwks};
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use keys::{Grant, KeySource};
use serde_json::json;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use time::OffsetDateTime;

pub const TOKEN_PATH: &str = "/oauth2/token";
pub const CLIENT_ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
pub const JWT_BEARER_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// The scopes a token may carry; a request without `scope` gets the first.
pub const SCOPES: &[&str] = &["scim", "scim.readwrite"];
/// The largest token request read (an assertion is ~1.5 KB).
pub const MAX_REQUEST_BYTES: usize = 16 * 1024;

/// The token endpoint for a Tenant URL: `https://host[/stage]/scim/v2` →
/// `https://host[/stage]/oauth2/token`.
pub fn token_endpoint_for(tenant_url: &str) -> String {
    let base = tenant_url.trim_end_matches('/');
    let root = base.strip_suffix("/scim/v2").unwrap_or(base);
    format!("{root}{TOKEN_PATH}")
}

/// Configuration fixed at cold start.
#[derive(Debug, Clone)]
pub struct OAuthConfig {
    /// The one tenant this deployment serves.
    pub tenant: String,
    /// Lifetime of issued access tokens, seconds ([`keys::MIN_LIFETIME_SECS`] to
    /// [`keys::MAX_LIFETIME_SECS`]).
    pub lifetime: u32,
    /// The Tenant URL, when configured (else derived from the request's host).
    pub base_url: Option<String>,
    pub realm: String,
}

impl OAuthConfig {
    /// Checks the lifetime (a stack parameter, bounded the same way there).
    pub fn new(tenant: &str, lifetime: u32) -> Result<OAuthConfig, String> {
        if !(keys::MIN_LIFETIME_SECS..=keys::MAX_LIFETIME_SECS).contains(&lifetime) {
            return Err(format!(
                "the access-token lifetime must be {} to {} seconds, not {lifetime}",
                keys::MIN_LIFETIME_SECS,
                keys::MAX_LIFETIME_SECS
            ));
        }
        Ok(OAuthConfig {
            tenant: tenant.to_string(),
            lifetime,
            base_url: None,
            realm: "scim".into(),
        })
    }
}

/// Everything the token endpoint needs, built once per cold start.
pub struct TokenEndpoint<S, F, K> {
    pub store: S,
    pub jwks: Jwks<F>,
    pub keys: K,
    pub config: OAuthConfig,
    pub lockout: Lockout,
}

/// An RFC 6749 §5.2 error response.
#[derive(Debug, Clone, PartialEq, Eq)]
struct OAuthError {
    status: StatusCode,
    code: &'static str,
    description: String,
    retry_after: Option<u64>,
}

impl OAuthError {
    fn new(code: &'static str, description: impl Into<String>) -> OAuthError {
        let status = match code {
            "invalid_client" => StatusCode::UNAUTHORIZED,
            "temporarily_unavailable" => StatusCode::SERVICE_UNAVAILABLE,
            "server_error" => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        };
        OAuthError {
            status,
            code,
            description: description.into(),
            retry_after: (status == StatusCode::SERVICE_UNAVAILABLE).then_some(1),
        }
    }

    fn request(d: impl Into<String>) -> OAuthError {
        OAuthError::new("invalid_request", d)
    }

    fn client(d: impl Into<String>) -> OAuthError {
        OAuthError::new("invalid_client", d)
    }

    fn unavailable() -> OAuthError {
        OAuthError::new(
            "temporarily_unavailable",
            "The token service is temporarily unavailable; retry later.",
        )
    }
}

fn headers(status: StatusCode) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json;charset=UTF-8"),
    );
    h.insert(
        http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-store"),
    );
    h.insert(http::header::PRAGMA, HeaderValue::from_static("no-cache"));
    if status == StatusCode::METHOD_NOT_ALLOWED {
        h.insert(http::header::ALLOW, HeaderValue::from_static("POST"));
    }
    h
}

fn error_response(e: &OAuthError, realm: &str) -> ScimResponse {
    let mut h = headers(e.status);
    if e.status == StatusCode::UNAUTHORIZED {
        if let Ok(v) = HeaderValue::from_str(&format!("Basic realm=\"{realm}\"")) {
            h.insert(http::header::WWW_AUTHENTICATE, v);
        }
    }
    if let Some(s) = e.retry_after {
        h.insert(http::header::RETRY_AFTER, HeaderValue::from(s));
    }
    ScimResponse {
        status: e.status,
        headers: h,
        body: Bytes::from(json!({"error": e.code, "error_description": e.description}).to_string()),
    }
}

/// How a client authenticated.
enum Credential {
    Secret { id: String, secret: String },
    Assertion { id: String, assertion: String },
}

/// The parameters of a token request, each at most once (RFC 6749 §3.2).
struct Form(HashMap<String, String>);

impl Form {
    fn parse(body: &[u8]) -> Result<Form, OAuthError> {
        let mut map = HashMap::new();
        for (k, v) in form_urlencoded::parse(body) {
            if map.insert(k.to_string(), v.to_string()).is_some() {
                return Err(OAuthError::request(format!(
                    "The parameter '{k}' is given more than once."
                )));
            }
        }
        Ok(Form(map))
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }
}

/// `client_secret_basic`: `Basic base64(urlencode(id) ":" urlencode(secret))` (RFC 6749
/// §2.3.1).
fn basic_credentials(header: &str) -> Result<(String, String), OAuthError> {
    let bad = || {
        OAuthError::client(
            "The Authorization header must be 'Basic' with the client id and secret.",
        )
    };
    let (scheme, value) = header.trim().split_once(' ').ok_or_else(bad)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(bad());
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(value.trim())
        .map_err(|_| bad())?;
    let decoded = String::from_utf8(decoded).map_err(|_| bad())?;
    let (id, secret) = decoded.split_once(':').ok_or_else(bad)?;
    let unescape = |s: &str| -> String {
        form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Ok((unescape(id), unescape(secret)))
}

fn credential(req: &ScimRequest, form: &Form) -> Result<Credential, OAuthError> {
    let authorization = req
        .headers
        .get(http::header::AUTHORIZATION)
        .map(|v| v.to_str().unwrap_or(""));
    let basic = authorization.map(basic_credentials).transpose()?;
    let post = form.get("client_secret");
    let assertion = form.get("client_assertion");
    let methods = [basic.is_some(), post.is_some(), assertion.is_some()]
        .iter()
        .filter(|m| **m)
        .count();
    if methods > 1 {
        return Err(OAuthError::request(
            "Use exactly one client authentication method.",
        ));
    }
    let form_id = form.get("client_id").map(str::to_string);
    if let Some((id, secret)) = basic {
        if form_id.as_ref().is_some_and(|f| *f != id) {
            return Err(OAuthError::request(
                "client_id differs from the client authenticated in the Authorization header.",
            ));
        }
        return Ok(Credential::Secret { id, secret });
    }
    if let Some(secret) = post {
        let id = form_id.ok_or_else(|| OAuthError::request("client_id is required."))?;
        return Ok(Credential::Secret {
            id,
            secret: secret.to_string(),
        });
    }
    if let Some(assertion) = assertion {
        if form.get("client_assertion_type") != Some(CLIENT_ASSERTION_TYPE) {
            return Err(OAuthError::request(format!(
                "client_assertion_type must be {CLIENT_ASSERTION_TYPE}."
            )));
        }
        let id = form_id
            .ok_or_else(|| OAuthError::request("client_id is required with a client assertion."))?;
        return Ok(Credential::Assertion {
            id,
            assertion: assertion.to_string(),
        });
    }
    Err(OAuthError::client("Client authentication is required."))
}

fn scope(form: &Form) -> Result<String, OAuthError> {
    let Some(asked) = form.get("scope") else {
        return Ok(SCOPES[0].to_string());
    };
    let mut granted = Vec::new();
    for s in asked.split(' ').filter(|s| !s.is_empty()) {
        if !SCOPES.contains(&s) {
            return Err(OAuthError::new(
                "invalid_scope",
                format!("Unknown scope; this service grants: {}.", SCOPES.join(", ")),
            ));
        }
        if !granted.contains(&s) {
            granted.push(s);
        }
    }
    if granted.is_empty() {
        return Ok(SCOPES[0].to_string());
    }
    Ok(granted.join(" "))
}

/// Answers one token request. Never panics into the caller: a panic is a `server_error`.
pub async fn handle<S: ClientStore, F: Fetch, K: KeySource>(
    ep: &TokenEndpoint<S, F, K>,
    req: ScimRequest,
) -> ScimResponse {
    use futures::FutureExt;
    let started = Instant::now();
    let outcome = std::panic::AssertUnwindSafe(token(ep, &req))
        .catch_unwind()
        .await;
    let (response, client) = match outcome {
        Ok(Ok((r, client))) => (r, Some(client)),
        Ok(Err((e, client))) => (error_response(&e, &ep.config.realm), client),
        Err(_) => {
            tracing::error!("token request panicked");
            (
                error_response(
                    &OAuthError::new("server_error", "The token service failed."),
                    &ep.config.realm,
                ),
                None,
            )
        }
    };
    let status = response.status.as_u16();
    let elapsed_us = started.elapsed().as_micros() as u64;
    let client = client.as_deref().unwrap_or("-");
    if status >= 500 {
        tracing::error!(status, elapsed_us, client, "token request failed");
    } else {
        tracing::info!(status, elapsed_us, client, "token request");
    }
    response
}

type Outcome = Result<(ScimResponse, String), (OAuthError, Option<String>)>;

async fn token<S: ClientStore, F: Fetch, K: KeySource>(
    ep: &TokenEndpoint<S, F, K>,
    req: &ScimRequest,
) -> Outcome {
    if req.method != Method::POST {
        return Err((
            OAuthError {
                status: StatusCode::METHOD_NOT_ALLOWED,
                code: "invalid_request",
                description: "The token endpoint accepts POST only.".into(),
                retry_after: None,
            },
            None,
        ));
    }
    let content_type = req
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let media = content_type.split(';').next().unwrap_or("").trim();
    if !media.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        return Err((
            OAuthError::request("The request must be application/x-www-form-urlencoded."),
            None,
        ));
    }
    if req.body.len() > MAX_REQUEST_BYTES {
        return Err((OAuthError::request("The request is too large."), None));
    }
    let form = Form::parse(&req.body).map_err(|e| (e, None))?;
    let grant_type = form
        .get("grant_type")
        .ok_or_else(|| (OAuthError::request("grant_type is required."), None))?;
    let now = OffsetDateTime::now_utc();
    let instant = Instant::now();
    let (credential, grant_errors) = match grant_type {
        "client_credentials" => (credential(req, &form).map_err(|e| (e, None))?, "invalid_client"),
        JWT_BEARER_GRANT => {
            let assertion = form
                .get("assertion")
                .ok_or_else(|| (OAuthError::request("assertion is required."), None))?;
            let id = form
                .get("client_id")
                .ok_or_else(|| (OAuthError::request("client_id is required."), None))?;
            (
                Credential::Assertion {
                    id: id.to_string(),
                    assertion: assertion.to_string(),
                },
                "invalid_grant",
            )
        }
        _ => {
            return Err((
                OAuthError::new(
                    "unsupported_grant_type",
                    "This service supports grant_type client_credentials (and the RFC 7523 jwt-bearer grant).",
                ),
                None,
            ))
        }
    };
    let scope = scope(&form).map_err(|e| (e, None))?;
    let id = match &credential {
        Credential::Secret { id, .. } | Credential::Assertion { id, .. } => id.clone(),
    };
    let refuse = |why: &str| -> (OAuthError, Option<String>) {
        let e = if grant_errors == "invalid_grant" {
            OAuthError::new("invalid_grant", why)
        } else {
            OAuthError::client(why)
        };
        (e, Some(id.clone()))
    };
    if let Some(wait) = ep.lockout.locked(&id, instant) {
        let mut e = OAuthError::new(
            "invalid_client",
            "Too many failed attempts for this client; retry later.",
        );
        e.status = StatusCode::TOO_MANY_REQUESTS;
        e.retry_after = Some(wait.as_secs().max(1));
        return Err((e, Some(id)));
    }
    let client = if clients::valid_client_id(&id) {
        ep.store.client(&ep.config.tenant, &id).await.map_err(|e| {
            tracing::error!(error = %e, "cannot read the OAuth client");
            (OAuthError::unavailable(), Some(id.clone()))
        })?
    } else {
        None
    };
    let checked = authenticate(ep, client.as_ref(), &credential, now, instant).await;
    let client = match checked {
        Ok(c) => c,
        Err(Failure::Refused(why)) => {
            // Only guessed secrets count: an assertion cannot be guessed (it is signed),
            // and counting its failures would let anyone who knows a federated client's
            // (not secret) id lock Entra out.
            if matches!(credential, Credential::Secret { .. }) {
                ep.lockout.failed(&id, instant);
            }
            tracing::info!(client = %id, reason = why, "client authentication refused");
            // Whether a client id exists, or which kind it is, is not told to the caller.
            let public = match why {
                UNKNOWN | WRONG_SECRET | WRONG_METHOD => "Client authentication failed.",
                other => other,
            };
            return Err(refuse(public));
        }
        Err(Failure::Unavailable) => return Err((OAuthError::unavailable(), Some(id))),
    };
    let keys = ep
        .keys
        .keys(None)
        .await
        .map_err(|_| (OAuthError::unavailable(), Some(id.clone())))?;
    let issuer = match &ep.config.base_url {
        Some(b) => token_endpoint_for(b),
        None => {
            let prefix = req.path.strip_suffix(TOKEN_PATH).unwrap_or("");
            format!("{}{TOKEN_PATH}", crate::http::request_base(req, prefix))
        }
    };
    let grant = Grant {
        tenant: ep.config.tenant.clone(),
        client_id: client.id.clone(),
        scope: scope.clone(),
    };
    let access_token = keys::mint(
        &keys,
        &issuer,
        &grant,
        now.unix_timestamp(),
        ep.config.lifetime,
    );
    ep.lockout.succeeded(&client.id);
    let body = json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": ep.config.lifetime,
        "scope": scope,
    });
    Ok((
        ScimResponse {
            status: StatusCode::OK,
            headers: headers(StatusCode::OK),
            body: Bytes::from(body.to_string()),
        },
        client.id.clone(),
    ))
}

const UNKNOWN: &str = "unknown client";
const WRONG_SECRET: &str = "wrong secret";
const WRONG_METHOD: &str = "the client authenticates another way";

enum Failure {
    Refused(&'static str),
    Unavailable,
}

async fn authenticate<'c, S: ClientStore, F: Fetch, K>(
    ep: &TokenEndpoint<S, F, K>,
    client: Option<&'c OAuthClient>,
    credential: &Credential,
    now: OffsetDateTime,
    instant: Instant,
) -> Result<&'c OAuthClient, Failure> {
    // Unknown clients and wrong secrets get the same answer.
    let Some(client) = client else {
        return Err(Failure::Refused(UNKNOWN));
    };
    match (credential, &client.auth) {
        (Credential::Secret { secret, .. }, ClientAuth::Secret(_)) => {
            if !client.secret_matches(secret) {
                return Err(Failure::Refused(WRONG_SECRET));
            }
            if client.expired(now) {
                return Err(Failure::Refused("the client secret has expired"));
            }
            Ok(client)
        }
        (Credential::Assertion { assertion, .. }, ClientAuth::Federated(trust)) => {
            let accepted = ep
                .jwks
                .verify(assertion, trust, now.unix_timestamp(), instant)
                .await
                .map_err(|e| match e {
                    AssertionError::KeysUnavailable => Failure::Unavailable,
                    other => Failure::Refused(other.describe()),
                })?;
            let until = OffsetDateTime::from_unix_timestamp(accepted.expires).unwrap_or(now);
            let first = ep
                .store
                .claim_assertion(&ep.config.tenant, &accepted.replay_key, until, now)
                .await
                .map_err(|e| {
                    tracing::error!(error = %e, "cannot record the client assertion");
                    Failure::Unavailable
                })?;
            if !first {
                return Err(Failure::Refused("the client assertion was already used"));
            }
            Ok(client)
        }
        (Credential::Secret { .. }, ClientAuth::Federated(_))
        | (Credential::Assertion { .. }, ClientAuth::Secret(_)) => {
            Err(Failure::Refused(WRONG_METHOD))
        }
    }
}

/// Failed-authentication bookkeeping per client id, per process, bounded.
pub struct Lockout {
    max_failures: u32,
    window: Duration,
    lock_for: Duration,
    capacity: usize,
    entries: Mutex<HashMap<String, Attempts>>,
}

#[derive(Clone, Copy)]
struct Attempts {
    first: Instant,
    failures: u32,
    locked_until: Option<Instant>,
}

impl Default for Lockout {
    fn default() -> Self {
        Lockout::new(5, Duration::from_secs(300), Duration::from_secs(300), 4096)
    }
}

impl Lockout {
    pub fn new(
        max_failures: u32,
        window: Duration,
        lock_for: Duration,
        capacity: usize,
    ) -> Lockout {
        Lockout {
            max_failures,
            window,
            lock_for,
            capacity,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// How long `id` stays locked, if it is.
    pub fn locked(&self, id: &str, now: Instant) -> Option<Duration> {
        let map = self.entries.lock().ok()?;
        let until = map.get(id)?.locked_until?;
        (until > now).then(|| until - now)
    }

    pub fn failed(&self, id: &str, now: Instant) {
        let Ok(mut map) = self.entries.lock() else {
            return;
        };
        if map.len() >= self.capacity && !map.contains_key(id) {
            // Forget what no longer matters; if every entry still does, forget the oldest
            // half (memory stays bounded; an attacker spraying ids only dilutes the map).
            map.retain(|_, a| {
                a.locked_until.is_some_and(|u| u > now)
                    || now.saturating_duration_since(a.first) < self.window
            });
            if map.len() >= self.capacity {
                let mut firsts: Vec<Instant> = map.values().map(|a| a.first).collect();
                firsts.sort();
                let cut = firsts[firsts.len() / 2];
                map.retain(|_, a| a.first > cut);
            }
        }
        let a = map.entry(id.to_string()).or_insert(Attempts {
            first: now,
            failures: 0,
            locked_until: None,
        });
        if now.saturating_duration_since(a.first) >= self.window {
            *a = Attempts {
                first: now,
                failures: 0,
                locked_until: None,
            };
        }
        a.failures += 1;
        if a.failures >= self.max_failures {
            a.locked_until = Some(now + self.lock_for);
            a.failures = 0;
            a.first = now;
            tracing::warn!(client = %id, lock_s = self.lock_for.as_secs(), "oauth client locked");
        }
    }

    pub fn succeeded(&self, id: &str) {
        if let Ok(mut map) = self.entries.lock() {
            map.remove(id);
        }
    }

    pub fn len(&self) -> usize {
        self.entries.lock().map(|m| m.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn token_endpoints_follow_the_tenant_url() {
        assert_eq!(
            token_endpoint_for("https://h.example/scim/v2"),
            "https://h.example/oauth2/token"
        );
        assert_eq!(
            token_endpoint_for("https://h.example/prod/scim/v2/"),
            "https://h.example/prod/oauth2/token"
        );
        assert_eq!(
            token_endpoint_for("http://127.0.0.1:8080"),
            "http://127.0.0.1:8080/oauth2/token"
        );
    }

    #[test]
    fn basic_credentials_are_url_decoded() {
        let enc = base64::engine::general_purpose::STANDARD.encode("my%20id:s%3Acret");
        assert_eq!(
            basic_credentials(&format!("Basic {enc}")).unwrap(),
            ("my id".to_string(), "s:cret".to_string())
        );
        assert!(basic_credentials("Bearer abc").is_err());
        assert!(basic_credentials("Basic !!!").is_err());
        let no_colon = base64::engine::general_purpose::STANDARD.encode("abc");
        assert!(basic_credentials(&format!("Basic {no_colon}")).is_err());
    }

    #[test]
    fn scopes_are_checked_and_repeated_parameters_refused() {
        let f = |s: &str| Form::parse(s.as_bytes());
        assert_eq!(scope(&f("").unwrap()).unwrap(), "scim");
        assert_eq!(
            scope(&f("scope=scim.readwrite").unwrap()).unwrap(),
            "scim.readwrite"
        );
        assert_eq!(scope(&f("scope=scim+scim").unwrap()).unwrap(), "scim");
        assert_eq!(
            scope(&f("scope=admin").unwrap()).unwrap_err().code,
            "invalid_scope"
        );
        assert_eq!(f("a=1&a=2").err().unwrap().code, "invalid_request");
    }

    #[test]
    fn five_failures_lock_a_client_for_a_while_and_memory_is_bounded() {
        let l = Lockout::new(5, Duration::from_secs(300), Duration::from_secs(300), 8);
        let t0 = Instant::now();
        for i in 0..4 {
            l.failed("c", t0 + Duration::from_secs(i));
        }
        assert_eq!(l.locked("c", t0 + Duration::from_secs(5)), None);
        l.failed("c", t0 + Duration::from_secs(5));
        assert!(l.locked("c", t0 + Duration::from_secs(6)).is_some());
        assert_eq!(l.locked("c", t0 + Duration::from_secs(306)), None);
        // Failures spread beyond the window never lock.
        for i in 0..10 {
            l.failed("d", t0 + Duration::from_secs(301 * i));
        }
        assert_eq!(l.locked("d", t0 + Duration::from_secs(3011)), None);
        for i in 0..100 {
            l.failed(&format!("spray{i}"), t0 + Duration::from_secs(i));
        }
        assert!(l.len() <= 8, "{}", l.len());
        l.succeeded("c");
    }
}
