//! The one place that turns an HTTP request into a domain call and a result or error into
//! an HTTP response. The Lambda adapter and the local server both call [`handle`].
//!
//! Every response is `application/scim+json`; every error is a SCIM error body; a client
//! mistake is never a 5xx.

use crate::auth::{AuthError, Authenticator};
use crate::ops::{self, Context, ResourceReply};
use crate::port::Store;
use crate::settings::{ClientKind, Gate, SettingsStore};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use scim_core::catalog::CatalogQuery;
pub use scim_core::discovery::MAX_BODY_BYTES;
use scim_core::discovery::{self, ProviderFacts};
use scim_core::error::{ScimError, ScimResult};
use scim_core::list::{ListQuery, Page};
use scim_core::projection::Projection;
use scim_core::schema::{CatalogKind, ResourceKind};
use serde_json::Value;
use std::time::Instant;
use time::OffsetDateTime;

pub const SCIM_CONTENT_TYPE: &str = "application/scim+json";

mod bulk;
mod jobs;

pub use jobs::run_job;

/// A SCIM operation; each Lambda function serves one (discovery serves the rest).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Create(ResourceKind),
    Get(ResourceKind),
    List(ResourceKind),
    Replace(ResourceKind),
    Patch(ResourceKind),
    Delete(ResourceKind),
    /// `GET /Entitlements[/{id}]`, `GET /Roles[/{id}]`: the tenant's catalog, read-only.
    Catalog,
    Discovery,
    /// `POST /Bulk` (RFC 7644 §3.7): each operation runs as its own single request would.
    Bulk,
    /// `GET /AsyncRequests/{txn}`: an asynchronous request's completion (RFC 9967 §2.5.1).
    AsyncStatus,
}

impl Operation {
    pub const ALL: &'static [Operation] = &[
        Operation::Create(ResourceKind::User),
        Operation::Get(ResourceKind::User),
        Operation::List(ResourceKind::User),
        Operation::Replace(ResourceKind::User),
        Operation::Patch(ResourceKind::User),
        Operation::Delete(ResourceKind::User),
        Operation::Create(ResourceKind::Group),
        Operation::Get(ResourceKind::Group),
        Operation::List(ResourceKind::Group),
        Operation::Replace(ResourceKind::Group),
        Operation::Patch(ResourceKind::Group),
        Operation::Delete(ResourceKind::Group),
        Operation::Discovery,
        Operation::Catalog,
        Operation::Bulk,
        Operation::AsyncStatus,
    ];

    /// This operation's bit in an operation set ([`op_set`]).
    pub const fn bit(self) -> u16 {
        use ResourceKind::*;
        match self {
            Operation::Create(User) => 1,
            Operation::Get(User) => 1 << 1,
            Operation::List(User) => 1 << 2,
            Operation::Replace(User) => 1 << 3,
            Operation::Patch(User) => 1 << 4,
            Operation::Delete(User) => 1 << 5,
            Operation::Create(Group) => 1 << 6,
            Operation::Get(Group) => 1 << 7,
            Operation::List(Group) => 1 << 8,
            Operation::Replace(Group) => 1 << 9,
            Operation::Patch(Group) => 1 << 10,
            Operation::Delete(Group) => 1 << 11,
            Operation::Discovery => 1 << 12,
            Operation::Catalog => 1 << 13,
            Operation::Bulk => 1 << 14,
            Operation::AsyncStatus => 1 << 15,
        }
    }

    /// The function (Cargo package) name serving this operation.
    pub fn function_name(self) -> &'static str {
        use ResourceKind::*;
        match self {
            Operation::Create(User) => "users-create",
            Operation::Get(User) => "users-get",
            Operation::List(User) => "users-list",
            Operation::Replace(User) => "users-replace",
            Operation::Patch(User) => "users-patch",
            Operation::Delete(User) => "users-delete",
            Operation::Create(Group) => "groups-create",
            Operation::Get(Group) => "groups-get",
            Operation::List(Group) => "groups-list",
            Operation::Replace(Group) => "groups-replace",
            Operation::Patch(Group) => "groups-patch",
            Operation::Delete(Group) => "groups-delete",
            Operation::Discovery => "discovery",
            Operation::Catalog => "catalog-read",
            Operation::Bulk => "bulk",
            Operation::AsyncStatus => "async-status",
        }
    }
}

/// A set of operations as bits: what a binary compiles in. Each Lambda function passes
/// its own set as a const generic ([`handle_set`]), so the code of every operation it does
/// not serve is dropped at compile time (users-get links no PATCH engine, no password
/// hashing, no list paging); the local server compiles in [`ALL_OPS`].
pub const fn op_set(ops: &[Operation]) -> u16 {
    let mut set = 0;
    let mut i = 0;
    while i < ops.len() {
        set |= ops[i].bit();
        i += 1;
    }
    set
}

/// Every operation.
pub const ALL_OPS: u16 = op_set(Operation::ALL);

/// Whether the set holds `op`'s kind of operation (create, get...) for either resource type.
const fn holds(set: u16, op: Operation) -> bool {
    use ResourceKind::{Group, User};
    let both = match op {
        Operation::Create(_) => Operation::Create(User).bit() | Operation::Create(Group).bit(),
        Operation::Get(_) => Operation::Get(User).bit() | Operation::Get(Group).bit(),
        Operation::List(_) => Operation::List(User).bit() | Operation::List(Group).bit(),
        Operation::Replace(_) => Operation::Replace(User).bit() | Operation::Replace(Group).bit(),
        Operation::Patch(_) => Operation::Patch(User).bit() | Operation::Patch(Group).bit(),
        Operation::Delete(_) => Operation::Delete(User).bit() | Operation::Delete(Group).bit(),
        Operation::Discovery => Operation::Discovery.bit(),
        Operation::Catalog => Operation::Catalog.bit(),
        Operation::Bulk => Operation::Bulk.bit(),
        Operation::AsyncStatus => Operation::AsyncStatus.bit(),
    };
    set & both != 0
}

/// Whether a binary of the set `set` links `op`'s code: the operations it serves, and, in
/// a binary that serves `POST /Bulk`, the writes a bulk request may hold (run only inside a
/// bulk request: such a binary still answers `POST /Users` with "no such endpoint").
const fn compiles(set: u16, op: Operation) -> bool {
    let in_bulk = matches!(
        op,
        Operation::Create(_) | Operation::Replace(_) | Operation::Patch(_) | Operation::Delete(_)
    );
    holds(set, op) || (in_bulk && holds(set, Operation::Bulk))
}

/// What a request addresses, before the method is considered.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    Collection(ResourceKind),
    Search(ResourceKind),
    Item(ResourceKind, String),
    /// `/Entitlements` or `/Roles`, with an id or without.
    Catalog(CatalogKind, Option<String>),
    ServiceProviderConfig,
    ResourceTypes(Option<String>),
    Schemas(Option<String>),
    Bulk,
    /// `/AsyncRequests/{txn}`.
    AsyncRequest(String),
    Unsupported(&'static str),
}

/// A request as both the Lambda adapter and the local server hand it over.
#[derive(Debug, Clone)]
pub struct ScimRequest {
    pub method: Method,
    /// The path as received (may include a stage or any prefix before `/Users` etc.).
    pub path: String,
    /// The raw (still percent-encoded) query string.
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// API Gateway's id of this request (its request context's `requestId`: the access log's
    /// `requestId`), which audit records and change events carry. `None` off API Gateway (the
    /// local server: a new id per request). Never read from a header: a client sets those.
    pub request_id: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ScimResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl ScimResponse {
    fn json(status: StatusCode, body: &impl serde::Serialize) -> ScimResponse {
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static(SCIM_CONTENT_TYPE),
        );
        ScimResponse {
            status,
            headers,
            body: Bytes::from(serde_json::to_vec(body).unwrap_or_default()),
        }
    }

    fn empty(status: StatusCode) -> ScimResponse {
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static(SCIM_CONTENT_TYPE),
        );
        ScimResponse {
            status,
            headers,
            body: Bytes::new(),
        }
    }

    pub fn error(e: &ScimError) -> ScimResponse {
        let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        ScimResponse::json(status, &e.to_json())
    }

    fn header(mut self, name: http::header::HeaderName, value: &str) -> ScimResponse {
        if let Ok(v) = HeaderValue::from_str(value) {
            self.headers.insert(name, v);
        }
        self
    }
}

/// `503` with `Retry-After`: the answer to a request that cannot finish now but may later.
pub fn retry_later() -> ScimResponse {
    ScimResponse::error(&ScimError::unavailable()).header(http::header::RETRY_AFTER, "1")
}

/// Configuration the request path needs besides the store and the authenticator.
#[derive(Debug, Clone, Default)]
pub struct HttpConfig {
    /// The Tenant URL (`https://host/scim/v2`). When unset it is derived from the request.
    pub base_url: Option<String>,
    /// The realm named in `WWW-Authenticate`.
    pub realm: String,
    /// The tenant a principal must belong to, when this deployment serves one tenant.
    pub tenant: Option<String>,
    /// Whether writes sent with `Prefer: respond-async` are accepted as jobs
    /// ([`crate::jobs`]), and what runs them in this process.
    pub async_requests: crate::jobs::AsyncRequests,
}

/// Everything a handler needs, built once per cold start.
pub struct App<S, A> {
    pub store: S,
    pub auth: A,
    pub config: HttpConfig,
    /// The provisioning switch and usage record every request passes (see
    /// [`crate::settings`]); shared with the application API where both run in one process.
    pub gate: std::sync::Arc<Gate>,
}

/// Handles one request for any operation: what the local server, the benchmarks and the
/// test tools call.
pub async fn handle<S: Store + SettingsStore, A: Authenticator>(
    app: &App<S, A>,
    req: ScimRequest,
) -> ScimResponse {
    handle_set::<S, A, ALL_OPS>(app, req).await
}

/// Handles one request for the operations in `OPS`, a set fixed at compile time
/// ([`op_set`]): what a Lambda function calls, so that it links only its own operations.
///
/// A panic while handling the request is caught here and answered like any internal
/// failure (a generic `500` SCIM error), so the process keeps serving: the Lambda
/// execution environment stays warm and the local server keeps its connection. Asserting
/// unwind safety is sound because what a request shares with the next one (the store's
/// client, the token cache behind tokio locks) holds no invariant a panic can break half
/// way. The request is logged once, at error level, as `request panicked` (method, status,
/// time; nothing from the request); the panic's own message and location are on stderr from
/// the standard panic hook.
pub async fn handle_set<S: Store + SettingsStore, A: Authenticator, const OPS: u16>(
    app: &App<S, A>,
    req: ScimRequest,
) -> ScimResponse {
    use futures::FutureExt;
    let started = Instant::now();
    let method = req.method.clone();
    // The id audit records and change events carry, also answered as `X-Request-Id` so a
    // client (or a test) can find them.
    let rid = request_id(&req);
    let outcome = std::panic::AssertUnwindSafe(handle_inner::<S, A, OPS>(app, &req, &rid))
        .catch_unwind()
        .await;
    let Ok(outcome) = outcome else {
        let elapsed_us = started.elapsed().as_micros() as u64;
        tracing::error!(%method, status = 500, elapsed_us, "request panicked");
        return ScimResponse::error(&ScimError::internal()).header(X_REQUEST_ID, &rid);
    };
    let (response, token_id, op) = match outcome {
        Ok((r, token, op)) => (r, token, op),
        Err((e, token, op)) => {
            let mut r = ScimResponse::error(&e);
            if e.status == 401 {
                r = r.header(
                    http::header::WWW_AUTHENTICATE,
                    &format!("Bearer realm=\"{}\"", app.config.realm),
                );
            }
            if e.status == 405 {
                r = r.header(http::header::ALLOW, allowed_methods(&req.path));
            }
            if e.status == 503 || e.status == 429 {
                r = r.header(http::header::RETRY_AFTER, "1");
            }
            (r, token, op)
        }
    };
    let status = response.status.as_u16();
    let elapsed_us = started.elapsed().as_micros() as u64;
    let op_name = op.map(|o| o.function_name()).unwrap_or("none");
    if status >= 500 {
        tracing::error!(%method, op = op_name, status, elapsed_us, token_id = token_id.as_deref().unwrap_or("-"), "request failed");
    } else {
        tracing::info!(%method, op = op_name, status, elapsed_us, token_id = token_id.as_deref().unwrap_or("-"), "request");
    }
    response.header(X_REQUEST_ID, &rid)
}

/// The response header naming the request's id (see [`request_id`]).
const X_REQUEST_ID: http::header::HeaderName =
    http::header::HeaderName::from_static("x-request-id");

type Failure = (ScimError, Option<String>, Option<Operation>);

async fn handle_inner<S: Store + SettingsStore, A: Authenticator, const OPS: u16>(
    app: &App<S, A>,
    req: &ScimRequest,
    request_id: &str,
) -> Result<(ScimResponse, Option<String>, Option<Operation>), Failure> {
    let authorization = req
        .headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let principal = app.auth.authenticate(authorization).await.map_err(|e| {
        let err = match e {
            AuthError::Unavailable => ScimError::unavailable(),
            other => ScimError::unauthorized(other.detail()),
        };
        (err, None, None)
    })?;
    let token = Some(principal.token_id.clone());
    if let Some(tenant) = &app.config.tenant {
        if &principal.tenant != tenant {
            return Err((
                ScimError::unauthorized(AuthError::Invalid.detail()),
                token,
                None,
            ));
        }
    }
    let (target, prefix) = route(&req.path).ok_or_else(|| {
        (
            ScimError::not_found("There is no such endpoint."),
            token.clone(),
            None,
        )
    })?;
    let op = operation(&target, &req.method).map_err(|e| (e, token.clone(), None))?;
    if OPS & op.bit() == 0 {
        return Err((
            ScimError::not_found("There is no such endpoint."),
            token.clone(),
            Some(op),
        ));
    }
    // The one clock read of the request: what every write, TTL and end date is judged by.
    let clock = OffsetDateTime::now_utc();
    let now = ops::now_string(clock);
    let client = ClientKind::from_user_agent(
        req.headers
            .get(http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok()),
    );
    app.gate
        .admit(
            &app.store,
            &principal.tenant,
            &principal.token_id,
            client,
            &now,
        )
        .await
        .map_err(|e| (e, token.clone(), Some(op)))?;
    let ctx = Context {
        tenant: principal.tenant.clone(),
        base_url: base_url(&app.config, req, &prefix),
        token_id: principal.token_id.clone(),
        request_id: request_id.to_string(),
        now: clock,
        replay: None,
    };
    // An id longer than any the store assigns names nothing, and would not fit a key
    // (`scim_core::limits`): it is unknown, whatever the method.
    if let Target::Item(kind, id) = &target {
        if !scim_core::limits::is_possible_id(id) {
            let e = ScimError::not_found(format!("The {} does not exist.", kind.name()));
            return Err((e, token, Some(op)));
        }
    }
    if is_write(op)
        && app.config.async_requests.offered()
        && crate::jobs::Prefer::of(&req.headers).runs_as_job(op == Operation::Bulk)
    {
        let accepted = jobs::accept(app, &ctx, req, &prefix, op).await;
        return accepted
            .map(|r| (r, token.clone(), Some(op)))
            .map_err(|e| (e, token, Some(op)));
    }
    let result = dispatch::<S, A, OPS>(app, &ctx, &target, op, req).await;
    match result {
        Ok(r) => Ok((r, token, Some(op))),
        Err(e) => Err((e, token, Some(op))),
    }
}

/// The operations a client may ask to run asynchronously (RFC 9967 §2.5.1.1: POST, PUT,
/// PATCH, DELETE; a search is a POST that writes nothing, and is always answered at once).
fn is_write(op: Operation) -> bool {
    matches!(
        op,
        Operation::Create(_)
            | Operation::Replace(_)
            | Operation::Patch(_)
            | Operation::Delete(_)
            | Operation::Bulk
    )
}

/// Splits `.../{Users|Groups|...}[/{id}]` off the path; returns the target and the prefix
/// before it (the base path of the Tenant URL).
fn route(path: &str) -> Option<(Target, String)> {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let n = segments.len();
    // `.../{endpoint}/{id}` wins over `.../{endpoint}`, so an id that happens to be named
    // like an endpoint (`/Users/Groups`) is still an id.
    let pos = if n >= 2 && is_endpoint(segments[n - 2]) {
        n - 2
    } else if n >= 1 && is_single_endpoint(segments[n - 1]) {
        n - 1
    } else if n >= 1 && segments[n - 1] == ".search" {
        // Root-level search across resource types (RFC 7644 §3.4.3) is optional.
        let prefix = format!("/{}", segments[..n - 1].join("/"));
        return Some((
            Target::Unsupported(
                "Search at the root is not supported; use /Users/.search or /Groups/.search.",
            ),
            if prefix == "/" { String::new() } else { prefix },
        ));
    } else {
        return None;
    };
    let prefix = format!("/{}", segments[..pos].join("/"));
    let name = segments[pos].to_ascii_lowercase();
    let rest = segments.get(pos + 1).map(|s| percent_decode(s));
    let target = match (name.as_str(), rest) {
        ("users", None) => Target::Collection(ResourceKind::User),
        ("groups", None) => Target::Collection(ResourceKind::Group),
        ("users", Some(s)) if s == ".search" => Target::Search(ResourceKind::User),
        ("groups", Some(s)) if s == ".search" => Target::Search(ResourceKind::Group),
        ("users", Some(id)) => Target::Item(ResourceKind::User, id),
        ("groups", Some(id)) => Target::Item(ResourceKind::Group, id),
        ("entitlements", r) => Target::Catalog(CatalogKind::Entitlement, r),
        ("roles", r) => Target::Catalog(CatalogKind::Role, r),
        ("serviceproviderconfig" | "serviceproviderconfigs", None) => Target::ServiceProviderConfig,
        ("resourcetypes", r) => Target::ResourceTypes(r),
        ("schemas", r) => Target::Schemas(r),
        ("bulk", None) => Target::Bulk,
        ("asyncrequests", Some(txn)) => Target::AsyncRequest(txn),
        ("me", _) => Target::Unsupported("The /Me endpoint is not supported."),
        _ => return None,
    };
    Some((target, if prefix == "/" { String::new() } else { prefix }))
}

/// Endpoints that take an id segment.
fn is_endpoint(s: &str) -> bool {
    [
        "users",
        "groups",
        "entitlements",
        "roles",
        "resourcetypes",
        "schemas",
        "asyncrequests",
        "me",
    ]
    .iter()
    .any(|k| s.eq_ignore_ascii_case(k))
}

/// Endpoints that can be the last segment.
fn is_single_endpoint(s: &str) -> bool {
    is_endpoint(s)
        || ["serviceproviderconfig", "serviceproviderconfigs", "bulk"]
            .iter()
            .any(|k| s.eq_ignore_ascii_case(k))
}

pub(crate) fn percent_decode(s: &str) -> String {
    form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| s.to_string())
}

fn operation(target: &Target, method: &Method) -> ScimResult<Operation> {
    let wrong = || {
        ScimError::method_not_allowed(format!(
            "The method {method} is not allowed on this endpoint."
        ))
    };
    Ok(match target {
        Target::Collection(k) => match *method {
            Method::GET => Operation::List(*k),
            Method::POST => Operation::Create(*k),
            _ => return Err(wrong()),
        },
        Target::Search(k) => match *method {
            Method::POST => Operation::List(*k),
            _ => return Err(wrong()),
        },
        Target::Item(k, _) => match *method {
            Method::GET => Operation::Get(*k),
            Method::PUT => Operation::Replace(*k),
            Method::PATCH => Operation::Patch(*k),
            Method::DELETE => Operation::Delete(*k),
            _ => return Err(wrong()),
        },
        Target::Catalog(..) => match *method {
            Method::GET => Operation::Catalog,
            _ => return Err(wrong()),
        },
        Target::ServiceProviderConfig | Target::ResourceTypes(_) | Target::Schemas(_) => {
            match *method {
                Method::GET => Operation::Discovery,
                _ => return Err(wrong()),
            }
        }
        Target::Bulk => match *method {
            Method::POST => Operation::Bulk,
            _ => return Err(wrong()),
        },
        Target::AsyncRequest(_) => match *method {
            Method::GET => Operation::AsyncStatus,
            _ => return Err(wrong()),
        },
        Target::Unsupported(_) => match *method {
            Method::GET | Method::POST => Operation::Discovery,
            _ => return Err(wrong()),
        },
    })
}

fn allowed_methods(path: &str) -> &'static str {
    match route(path).map(|(t, _)| t) {
        Some(Target::Collection(_)) => "GET, POST",
        Some(Target::Search(_) | Target::Bulk) => "POST",
        Some(Target::Item(..)) => "GET, PUT, PATCH, DELETE",
        _ => "GET",
    }
}

fn base_url(config: &HttpConfig, req: &ScimRequest, prefix: &str) -> String {
    if let Some(b) = &config.base_url {
        return b.trim_end_matches('/').to_string();
    }
    request_base(req, prefix)
}

/// `{proto}://{host}{prefix}` as the client addressed this service (API Gateway's
/// forwarded host and protocol when present).
pub(crate) fn request_base(req: &ScimRequest, prefix: &str) -> String {
    let header = |name: &str| req.headers.get(name).and_then(|v| v.to_str().ok());
    let host = header("x-forwarded-host")
        .or_else(|| header("host"))
        .unwrap_or("localhost");
    let proto = header("x-forwarded-proto").unwrap_or(
        if host.starts_with("127.0.0.1") || host.starts_with("localhost") {
            "http"
        } else {
            "https"
        },
    );
    format!("{proto}://{host}{prefix}")
}

/// The request id API Gateway assigned (or the client's), else a new one.
pub(crate) fn request_id(req: &ScimRequest) -> String {
    req.request_id
        .as_deref()
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string())
}

fn query_params(req: &ScimRequest) -> Vec<(String, String)> {
    req.query
        .as_deref()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default()
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Reads and checks the JSON body: size, media type, syntax (no key twice in one object).
fn json_body(req: &ScimRequest) -> ScimResult<Value> {
    if req.body.len() > MAX_BODY_BYTES {
        return Err(ScimError::payload_too_large(format!(
            "The request body is larger than {MAX_BODY_BYTES} bytes."
        )));
    }
    json_body_unbounded(req)
}

/// [`json_body`] without its size check (the caller made its own).
fn json_body_unbounded(req: &ScimRequest) -> ScimResult<Value> {
    if let Some(ct) = req.headers.get(http::header::CONTENT_TYPE) {
        let ct = ct.to_str().unwrap_or("").to_ascii_lowercase();
        let essence = ct.split(';').next().unwrap_or("").trim();
        let ok = essence.is_empty()
            || essence == "application/json"
            || essence == SCIM_CONTENT_TYPE
            || essence.ends_with("+json")
            || essence == "*/*"
            || essence == "text/json";
        if !ok {
            return Err(ScimError::unsupported_media_type(
                "Send the body as application/scim+json or application/json.",
            ));
        }
    }
    if req.body.is_empty() {
        return Err(ScimError::invalid_syntax("The request body is empty."));
    }
    scim_core::json::parse_body(&req.body)
}

fn if_match(req: &ScimRequest) -> Option<&str> {
    req.headers
        .get(http::header::IF_MATCH)
        .and_then(|v| v.to_str().ok())
}

/// Whether a GET's `If-None-Match` names the resource's current version (or is `*`): the
/// client's copy is current, and the answer is `304 Not Modified` with the `ETag` and no
/// body (RFC 7644 §3.14; weak comparison, RFC 9110 §13.1.2). A tag that is not one of ours
/// never matches.
fn not_modified(req: &ScimRequest, etag: &str) -> bool {
    let Some(header) = req
        .headers
        .get(http::header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let current = scim_core::resource::parse_etag(etag).ok().flatten();
    header
        .split(',')
        .any(|tag| match scim_core::resource::parse_etag(tag) {
            Ok(None) => true,
            Ok(Some(v)) => Some(v) == current,
            Err(_) => false,
        })
}

fn projection(kind: ResourceKind, params: &[(String, String)]) -> ScimResult<Projection> {
    Projection::parse(
        kind,
        param(params, "attributes"),
        param(params, "excludedAttributes"),
    )
}

fn resource_response(
    status: StatusCode,
    reply: ResourceReply,
    with_location: bool,
) -> ScimResponse {
    let r = match &reply.body {
        Some(body) => ScimResponse::json(status, body),
        None => ScimResponse::empty(StatusCode::NO_CONTENT),
    };
    let r = r.header(http::header::ETAG, &reply.etag);
    if with_location {
        r.header(http::header::LOCATION, &reply.location)
    } else {
        r
    }
}

fn list_response(page: Page) -> ScimResponse {
    ScimResponse::json(StatusCode::OK, &page.to_json())
}

/// Every arm is guarded by a constant, so a binary keeps only the arms of its `OPS`.
async fn dispatch<S: Store, A: Authenticator, const OPS: u16>(
    app: &App<S, A>,
    ctx: &Context,
    target: &Target,
    op: Operation,
    req: &ScimRequest,
) -> ScimResult<ScimResponse> {
    let params = query_params(req);
    let store = &app.store;
    match (op, target) {
        (Operation::List(kind), Target::Search(_))
            if const { holds(OPS, Operation::List(ResourceKind::User)) } =>
        {
            let body = json_body(req)?;
            let query = ListQuery::from_search_body(kind, &body)?;
            Ok(list_response(ops::list(store, ctx, kind, &query).await?))
        }
        (Operation::List(kind), _) if const { holds(OPS, Operation::List(ResourceKind::User)) } => {
            let query =
                ListQuery::from_params(kind, params.iter().map(|(k, v)| (k.as_str(), v.as_str())))?;
            Ok(list_response(ops::list(store, ctx, kind, &query).await?))
        }
        (Operation::Create(kind), _)
            if const { compiles(OPS, Operation::Create(ResourceKind::User)) } =>
        {
            let body = json_body(req)?;
            let reply = ops::create(store, ctx, kind, &body, &projection(kind, &params)?).await?;
            Ok(resource_response(StatusCode::CREATED, reply, true))
        }
        (Operation::Get(kind), Target::Item(_, id))
            if const { holds(OPS, Operation::Get(ResourceKind::User)) } =>
        {
            let reply = ops::get(store, ctx, kind, id, &projection(kind, &params)?).await?;
            if not_modified(req, &reply.etag) {
                return Ok(ScimResponse {
                    status: StatusCode::NOT_MODIFIED,
                    headers: HeaderMap::new(),
                    body: Bytes::new(),
                }
                .header(http::header::ETAG, &reply.etag)
                .header(http::header::LOCATION, &reply.location));
            }
            Ok(resource_response(StatusCode::OK, reply, true))
        }
        (Operation::Replace(kind), Target::Item(_, id))
            if const { compiles(OPS, Operation::Replace(ResourceKind::User)) } =>
        {
            let body = json_body(req)?;
            let write = ops::ItemWrite {
                kind,
                id,
                body: &body,
                if_match: if_match(req),
                projection: &projection(kind, &params)?,
            };
            let reply = ops::replace(store, ctx, &write).await?;
            Ok(resource_response(StatusCode::OK, reply, true))
        }
        (Operation::Patch(kind), Target::Item(_, id))
            if const { compiles(OPS, Operation::Patch(ResourceKind::User)) } =>
        {
            let body = json_body(req)?;
            let wants_body = param(&params, "attributes").is_some();
            let write = ops::ItemWrite {
                kind,
                id,
                body: &body,
                if_match: if_match(req),
                projection: &projection(kind, &params)?,
            };
            let reply = ops::patch(store, ctx, &write, wants_body).await?;
            Ok(resource_response(StatusCode::OK, reply, true))
        }
        (Operation::Delete(kind), Target::Item(_, id))
            if const { compiles(OPS, Operation::Delete(ResourceKind::User)) } =>
        {
            ops::delete(store, ctx, kind, id, if_match(req)).await?;
            Ok(ScimResponse::empty(StatusCode::NO_CONTENT))
        }
        (Operation::Catalog, Target::Catalog(kind, None)) if const { holds(OPS, Operation::Catalog) } =>
        {
            let query = CatalogQuery::from_params(
                *kind,
                params.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            )?;
            Ok(list_response(
                ops::catalog_list(store, ctx, *kind, &query).await?,
            ))
        }
        (Operation::Catalog, Target::Catalog(kind, Some(id)))
            if const { holds(OPS, Operation::Catalog) } =>
        {
            let projection = Projection::parse(
                *kind,
                param(&params, "attributes"),
                param(&params, "excludedAttributes"),
            )?;
            let doc = ops::catalog_get(store, ctx, *kind, id, &projection).await?;
            Ok(ScimResponse::json(StatusCode::OK, &doc))
        }
        (Operation::Bulk, _) if const { holds(OPS, Operation::Bulk) } => {
            bulk::run::<S, A, OPS>(app, ctx, req).await
        }
        (Operation::AsyncStatus, Target::AsyncRequest(txn))
            if const { holds(OPS, Operation::AsyncStatus) } =>
        {
            jobs::status(store, ctx, txn).await
        }
        (Operation::Discovery, t) if const { holds(OPS, Operation::Discovery) } => {
            discovery_response(ctx, t, app.config.async_requests.offered())
        }
        _ => Err(ScimError::not_found("There is no such endpoint.")),
    }
}

fn discovery_response(
    ctx: &Context,
    target: &Target,
    async_requests: bool,
) -> ScimResult<ScimResponse> {
    let base = &ctx.base_url;
    let list = |items: Vec<Value>| {
        let n = items.len() as u64;
        serde_json::json!({
            "schemas": [scim_core::schema::LIST_RESPONSE_URN],
            "totalResults": n,
            "itemsPerPage": n,
            "startIndex": 1,
            "Resources": items,
        })
    };
    let body = match target {
        Target::ServiceProviderConfig => discovery::service_provider_config(&ProviderFacts {
            base_url: base.clone(),
            change_password: true,
            documentation_uri: None,
            token_endpoint: Some(crate::oauth::token_endpoint_for(base)),
            event_uris: crate::events::set::EVENT_URIS,
            async_requests,
        }),
        Target::ResourceTypes(None) => list(discovery::resource_types(base)),
        Target::ResourceTypes(Some(id)) => discovery::find_resource_type(id, base)
            .ok_or_else(|| ScimError::not_found("There is no such resource type."))?,
        Target::Schemas(None) => list(discovery::schemas(base)),
        Target::Schemas(Some(id)) => discovery::find_schema(id, base)
            .ok_or_else(|| ScimError::not_found("There is no such schema."))?,
        Target::Unsupported(detail) => return Err(ScimError::new(501, None, *detail)),
        _ => return Err(ScimError::not_found("There is no such endpoint.")),
    };
    Ok(ScimResponse::json(StatusCode::OK, &body))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_has_its_own_bit() {
        assert_eq!(ALL_OPS.count_ones() as usize, Operation::ALL.len());
        for op in Operation::ALL {
            assert!(holds(op.bit(), *op));
            for other in Operation::ALL {
                let same_kind = std::mem::discriminant(op) == std::mem::discriminant(other);
                assert_eq!(holds(op.bit(), *other), same_kind, "{op:?} {other:?}");
            }
        }
    }

    #[test]
    fn routes_with_any_prefix() {
        let (t, p) = route("/scim/v2/Users").unwrap();
        assert_eq!(
            (t, p.as_str()),
            (Target::Collection(ResourceKind::User), "/scim/v2")
        );
        let (t, p) = route("/prod/scim/v2/Groups/abc").unwrap();
        assert_eq!(
            (t, p.as_str()),
            (
                Target::Item(ResourceKind::Group, "abc".into()),
                "/prod/scim/v2"
            )
        );
        let (t, _) = route("/scim/v2/Entitlements/lic%2Dpro").unwrap();
        assert_eq!(
            t,
            Target::Catalog(CatalogKind::Entitlement, Some("lic-pro".into()))
        );
        let (t, _) = route("/scim/v2/Roles").unwrap();
        assert_eq!(t, Target::Catalog(CatalogKind::Role, None));
        let (t, _) = route("/Users/.search").unwrap();
        assert_eq!(t, Target::Search(ResourceKind::User));
        let (t, _) = route("/scim/v2/Schemas/urn:ietf:params:scim:schemas:core:2.0:User").unwrap();
        assert_eq!(
            t,
            Target::Schemas(Some("urn:ietf:params:scim:schemas:core:2.0:User".into()))
        );
        assert!(route("/scim/v2/Nope").is_none());
        assert!(route("/scim/v2/Users/a/b").is_none());
        assert!(matches!(
            route("/scim/v2/.search"),
            Some((Target::Unsupported(_), _))
        ));
    }

    #[test]
    fn an_id_named_like_an_endpoint_is_still_an_id() {
        let (t, _) = route("/scim/v2/Users/Groups").unwrap();
        assert_eq!(t, Target::Item(ResourceKind::User, "Groups".into()));
    }

    #[test]
    fn wrong_methods_are_405() {
        let e = operation(&Target::Collection(ResourceKind::User), &Method::DELETE).unwrap_err();
        assert_eq!(e.status, 405);
    }
}

#[cfg(test)]
mod request_id_tests {
    use super::{request_id, ScimRequest};
    use bytes::Bytes;
    use http::{HeaderMap, HeaderValue, Method};

    fn req(id: Option<&str>) -> ScimRequest {
        let mut headers = HeaderMap::new();
        for h in ["x-amzn-requestid", "x-amz-apigw-id", "x-request-id"] {
            headers.insert(h, HeaderValue::from_static("set-by-the-client"));
        }
        ScimRequest {
            method: Method::GET,
            path: "/scim/v2/Users".into(),
            query: None,
            headers,
            body: Bytes::new(),
            request_id: id.map(str::to_string),
        }
    }

    #[test]
    fn the_request_id_is_the_gateways_and_never_a_header_a_client_sets() {
        assert_eq!(
            request_id(&req(Some("JKJaXmPLvHcESHA="))),
            "JKJaXmPLvHcESHA="
        );
        let local = request_id(&req(None));
        assert_ne!(local, "set-by-the-client");
        assert!(uuid::Uuid::parse_str(&local).is_ok(), "{local}");
        let odd = request_id(&req(Some("has space")));
        assert_ne!(odd, "has space");
    }
}
