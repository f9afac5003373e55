//! The application API (`/app/v1`): what the product behind this service calls — its SCIM
//! settings dialog (Base URL, tokens, the Enabled switch, when the IdP last called), sign-in
//! resolution, a user's groups and a group's members for permissions, closing a contact by
//! its end date, the provisioning activity log, and the catalog of entitlements and roles
//! Okta Identity Governance reads. JSON in and out; every error is an
//! RFC 9457 problem (`application/problem+json`). `openapi.json` describes exactly this.
//!
//! **Who may call.** In a stack, API Gateway's IAM authorization (SigV4) admits the
//! product's role before the function runs, and the SCIM bearer token opens nothing here.
//! Locally, the local server checks an application key ([`AppConfig::key`]) sent as
//! `Authorization: Bearer <key>`, compared in constant time; the SCIM token is refused.
//!
//! **Budgets.** Sign-in: 3 DynamoDB calls when the first claim given matches (index lookup,
//! reverse index, one batched read of the user and their groups); each claim that matches
//! nobody adds one. A user by id: 2. A page of members: 3 (the group, the page, its users),
//! whatever the group's size. Activity: 1 per page. Contacts whose end date is near: 2 per
//! page (the sparse expiry index, then one batched read of those users).

mod handlers;
mod views;

use crate::expiry::ExpiryIndex;
use crate::http::{ScimRequest, ScimResponse};
use crate::oauth::clients::ClientStore;
use crate::port::{CatalogAdmin, DirectoryStore, Store};
use crate::settings::{Gate, SettingsStore, TokenAdmin};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use scim_core::schema::CatalogKind;
use serde_json::Value;
use std::sync::Arc;
use std::time::Instant;
use subtle::ConstantTimeEq;
use time::OffsetDateTime;

/// The OpenAPI 3.1 description of this API, served at `/app/v1/openapi.json`.
pub const OPENAPI: &str = include_str!("openapi.json");

pub const JSON: &str = "application/json";
pub const PROBLEM_JSON: &str = "application/problem+json";

/// The actor named in audit records and change events for writes made through this API.
pub const APP_ACTOR: &str = "app";

/// Configuration of the application API, fixed at start.
#[derive(Clone)]
pub struct AppConfig {
    /// The one tenant this deployment serves.
    pub tenant: String,
    /// The Tenant URL the admin pastes into Entra ID or Okta (`https://host/scim/v2`);
    /// required (the application API is served from another host than the SCIM API).
    pub tenant_url: String,
    /// The OAuth 2.0 token endpoint, when the stack has one.
    pub token_endpoint: Option<String>,
    /// The SHA-256 digest of the application key the local server accepts; `None` in a
    /// stack, where API Gateway's IAM authorization has admitted the caller.
    pub key: Option<[u8; 32]>,
}

impl std::fmt::Debug for AppConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppConfig")
            .field("tenant", &self.tenant)
            .field("tenant_url", &self.tenant_url)
            .field("key", &self.key.map(|_| "<set>"))
            .finish()
    }
}

/// Everything the application API needs, built once per cold start. `gate` is the same
/// instance the SCIM path uses when both run in one process (the local server), so the
/// Enabled switch takes effect at once there.
pub struct AppApi<S, T> {
    pub store: S,
    pub tokens: T,
    pub gate: Arc<Gate>,
    pub config: AppConfig,
}

/// An RFC 9457 problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub status: u16,
    pub detail: String,
}

impl Problem {
    pub fn new(status: u16, detail: impl Into<String>) -> Problem {
        Problem {
            status,
            detail: detail.into(),
        }
    }

    pub fn bad_request(detail: impl Into<String>) -> Problem {
        Problem::new(400, detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Problem {
        Problem::new(404, detail)
    }

    pub fn unprocessable(detail: impl Into<String>) -> Problem {
        Problem::new(422, detail)
    }

    pub fn unavailable() -> Problem {
        Problem::new(503, "The service is temporarily unavailable; retry later.")
    }

    pub fn internal() -> Problem {
        Problem::new(500, "An internal error occurred.")
    }

    fn title(&self) -> &'static str {
        StatusCode::from_u16(self.status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("Error")
    }

    pub fn to_json(&self) -> Value {
        serde_json::json!({
            "type": "about:blank",
            "title": self.title(),
            "status": self.status,
            "detail": self.detail,
        })
    }

    fn response(&self) -> ScimResponse {
        let mut r = response(self.status, PROBLEM_JSON, self.to_json().to_string().into());
        if self.status == 503 || self.status == 429 {
            r.headers
                .insert(http::header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        if self.status == 401 {
            r.headers.insert(
                http::header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"scim-application-api\""),
            );
        }
        r
    }
}

/// A SCIM error from the shared domain operations, as a problem (same status and detail).
impl From<scim_core::error::ScimError> for Problem {
    fn from(e: scim_core::error::ScimError) -> Problem {
        Problem::new(e.status, e.detail)
    }
}

pub(crate) fn response(status: u16, content_type: &'static str, body: Bytes) -> ScimResponse {
    let mut headers = HeaderMap::new();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static(content_type),
    );
    headers.insert(
        http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-store"),
    );
    ScimResponse {
        status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        headers,
        body,
    }
}

pub(crate) fn json(status: u16, body: &Value) -> ScimResponse {
    response(status, JSON, body.to_string().into())
}

/// A route of the API, with its path parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Route {
    Settings,
    Tokens,
    PreviousToken,
    SignIn,
    User(String),
    EndDate(String),
    Groups,
    Members(String),
    Activity,
    Expiring,
    Clients,
    Client(String),
    /// `/entitlements` or `/roles`: the tenant's catalog.
    Catalog(CatalogKind),
    OpenApi,
}

impl Route {
    /// The methods each route answers (for `405` and `Allow`).
    fn methods(&self) -> &'static [Method] {
        match self {
            Route::Settings => &[Method::GET, Method::PATCH],
            Route::Tokens => &[Method::POST],
            Route::PreviousToken => &[Method::DELETE],
            Route::EndDate(_) => &[Method::PUT, Method::DELETE],
            Route::Clients => &[Method::GET, Method::POST],
            Route::Client(_) => &[Method::DELETE],
            Route::Catalog(_) => &[Method::GET, Method::PUT],
            _ => &[Method::GET],
        }
    }
}

/// The part of the path after `/app/v1` (any stage or prefix before it is ignored).
pub(crate) fn route(path: &str) -> Option<Route> {
    let rest = &path[path.find("/app/v1")? + "/app/v1".len()..];
    let segments: Vec<String> = rest
        .split('/')
        .filter(|s| !s.is_empty())
        .map(crate::http::percent_decode)
        .collect();
    let s: Vec<&str> = segments.iter().map(String::as_str).collect();
    Some(match s.as_slice() {
        ["settings"] => Route::Settings,
        ["tokens"] => Route::Tokens,
        ["tokens", "previous"] => Route::PreviousToken,
        ["signin"] => Route::SignIn,
        ["users", id] => Route::User(id.to_string()),
        ["users", id, "end-date"] => Route::EndDate(id.to_string()),
        ["groups"] => Route::Groups,
        ["groups", id, "members"] => Route::Members(id.to_string()),
        ["activity"] => Route::Activity,
        ["contacts", "expiring"] => Route::Expiring,
        ["clients"] => Route::Clients,
        ["clients", id] => Route::Client(id.to_string()),
        ["entitlements"] => Route::Catalog(CatalogKind::Entitlement),
        ["roles"] => Route::Catalog(CatalogKind::Role),
        ["openapi.json"] => Route::OpenApi,
        _ => return None,
    })
}

/// Whether the request carries the application key (locally); always true in a stack.
fn admitted(config: &AppConfig, headers: &HeaderMap) -> Result<(), Problem> {
    let Some(expected) = &config.key else {
        return Ok(());
    };
    let presented = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|h| crate::auth::bearer_token(Some(h)).ok());
    let ok = presented.is_some_and(|k| bool::from(crate::auth::digest(k).ct_eq(expected)));
    if ok {
        Ok(())
    } else {
        Err(Problem::new(
            401,
            "The application API needs the application key: 'Authorization: Bearer <key>'.",
        ))
    }
}

/// Every store port the application API's routes use (one bound for its handlers and for
/// the servers that mount it).
pub trait AppStore:
    Store + SettingsStore + DirectoryStore + ExpiryIndex + ClientStore + CatalogAdmin
{
}

impl<S> AppStore for S where
    S: Store + SettingsStore + DirectoryStore + ExpiryIndex + ClientStore + CatalogAdmin
{
}

/// Handles one request under `/app/v1`. The one place this API parses requests and maps
/// errors; a panic is answered as a generic `500` problem and the process keeps serving.
pub async fn handle<S, T>(api: &AppApi<S, T>, req: ScimRequest) -> ScimResponse
where
    S: AppStore,
    T: TokenAdmin,
{
    use futures::FutureExt;
    let started = Instant::now();
    let method = req.method.clone();
    let now = OffsetDateTime::now_utc();
    let outcome = std::panic::AssertUnwindSafe(dispatch(api, &req, now))
        .catch_unwind()
        .await;
    let response = match outcome {
        Ok(Ok(r)) => r,
        Ok(Err(problem)) => {
            let mut r = problem.response();
            if problem.status == 405 {
                if let Some(route) = route(&req.path) {
                    let allow: Vec<&str> = route.methods().iter().map(Method::as_str).collect();
                    if let Ok(v) = HeaderValue::from_str(&allow.join(", ")) {
                        r.headers.insert(http::header::ALLOW, v);
                    }
                }
            }
            r
        }
        Err(_) => {
            tracing::error!(%method, "application API request panicked");
            Problem::internal().response()
        }
    };
    let status = response.status.as_u16();
    let elapsed_us = started.elapsed().as_micros() as u64;
    if status >= 500 {
        tracing::error!(%method, status, elapsed_us, "application API request failed");
    } else {
        tracing::info!(%method, status, elapsed_us, "application API request");
    }
    response
}

async fn dispatch<S, T>(
    api: &AppApi<S, T>,
    req: &ScimRequest,
    now: OffsetDateTime,
) -> Result<ScimResponse, Problem>
where
    S: AppStore,
    T: TokenAdmin,
{
    admitted(&api.config, &req.headers)?;
    let route = route(&req.path)
        .ok_or_else(|| Problem::not_found("There is no such route in the application API."))?;
    if !route.methods().contains(&req.method) {
        return Err(Problem::new(
            405,
            format!("The method {} is not allowed on this route.", req.method),
        ));
    }
    // An id longer than any the store assigns names nothing, and would not fit a key.
    let unknown = match &route {
        Route::User(id) | Route::EndDate(id) => Some((id, "The user does not exist.")),
        Route::Members(id) => Some((id, "The group does not exist.")),
        Route::Client(id) => Some((id, "There is no such OAuth client.")),
        _ => None,
    };
    if let Some((_, detail)) = unknown.filter(|(id, _)| !scim_core::limits::is_possible_id(id)) {
        return Err(Problem::not_found(detail));
    }
    let call = handlers::Call {
        api,
        req,
        now,
        params: query_params(req),
    };
    match route {
        Route::Settings if req.method == Method::GET => call.settings().await,
        Route::Settings => call.set_settings().await,
        Route::Tokens => call.generate_token().await,
        Route::PreviousToken => call.retire_previous().await,
        Route::SignIn => call.sign_in().await,
        Route::User(id) => call.user(&id).await,
        Route::EndDate(id) if req.method == Method::PUT => call.set_end_date(&id).await,
        Route::EndDate(id) => call.clear_end_date(&id).await,
        Route::Groups => call.groups().await,
        Route::Members(id) => call.members(&id).await,
        Route::Activity => call.activity().await,
        Route::Expiring => call.expiring().await,
        Route::Clients if req.method == Method::GET => call.clients().await,
        Route::Clients => call.create_client().await,
        Route::Client(id) => call.revoke_client(&id).await,
        Route::Catalog(kind) if req.method == Method::GET => call.catalog(kind).await,
        Route::Catalog(kind) => call.set_catalog(kind).await,
        Route::OpenApi => Ok(response(200, JSON, Bytes::from_static(OPENAPI.as_bytes()))),
    }
}

fn query_params(req: &ScimRequest) -> Vec<(String, String)> {
    req.query
        .as_deref()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_found_after_any_prefix_and_ids_are_decoded() {
        assert_eq!(route("/app/v1/settings"), Some(Route::Settings));
        assert_eq!(
            route("/prod/app/v1/tokens/previous"),
            Some(Route::PreviousToken)
        );
        assert_eq!(
            route("/app/v1/users/a%2Fb/end-date"),
            Some(Route::EndDate("a/b".into()))
        );
        assert_eq!(
            route("/app/v1/groups/g1/members"),
            Some(Route::Members("g1".into()))
        );
        assert_eq!(route("/app/v1/users"), None);
        assert_eq!(route("/scim/v2/Users"), None);
    }

    #[test]
    fn problems_are_rfc_9457_documents() {
        let p = Problem::unprocessable("endDate is not an RFC 3339 date-time.");
        let v = p.to_json();
        assert_eq!(v["status"], 422);
        assert_eq!(v["title"], "Unprocessable Entity");
        assert_eq!(v["type"], "about:blank");
        let r = Problem::unavailable().response();
        assert_eq!(r.headers[http::header::CONTENT_TYPE], PROBLEM_JSON);
        assert_eq!(r.headers[http::header::RETRY_AFTER], "1");
    }

    #[test]
    fn the_openapi_document_is_json_and_names_every_route() {
        let doc: Value = serde_json::from_str(OPENAPI).unwrap_or(Value::Null);
        assert_eq!(doc["openapi"], "3.1.0");
        let paths = doc["paths"].as_object().map(|p| p.len()).unwrap_or(0);
        assert_eq!(paths, 15, "one path item per route");
    }
}
