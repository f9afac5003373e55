//! The serve helper: what every HTTP function's `main` calls. Clients, configuration and
//! the token cache are built once per cold start and borrowed by every invocation.

use crate::config::{init_tracing, Config};
use crate::dynamo::DynamoStore;
use crate::oauth::FunctionKeys;
use crate::tokens::{self, SecretsTokenSource};
use bytes::Bytes;
use lambda_http::{service_fn, Body, Request, Response};
use scim_service::auth::{Authenticator, TokenSet};
use scim_service::http::{handle_set, App, ScimRequest, ScimResponse};
use scim_service::oauth::keys::OAuthAuthenticator;
use scim_service::port::Store;
use scim_service::settings::SettingsStore;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

pub type Error = lambda_http::Error;

/// Converts an API Gateway request (REST v1 or HTTP API v2) into the shared request type.
pub fn from_lambda(req: Request) -> ScimRequest {
    use lambda_http::request::RequestContext;
    use lambda_http::RequestExt;
    // A REST API (v1) strips its stage from the path; its request context keeps the full
    // path, so `Location` and `meta.location` carry the stage the client called. The request
    // id is API Gateway's (the access log's `requestId`), from the context, not a header.
    let (full_path, request_id) = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV1(ctx)) => (ctx.path.clone(), ctx.request_id.clone()),
        Some(RequestContext::ApiGatewayV2(ctx)) => (None, ctx.request_id.clone()),
        _ => (None, None),
    };
    let (parts, body) = req.into_parts();
    let body = match body {
        Body::Empty => Bytes::new(),
        Body::Text(t) => Bytes::from(t),
        Body::Binary(b) => Bytes::from(b),
        _ => Bytes::new(),
    };
    ScimRequest {
        method: parts.method,
        path: full_path.unwrap_or_else(|| parts.uri.path().to_string()),
        query: parts.uri.query().map(str::to_string),
        headers: parts.headers,
        body,
        request_id,
    }
}

pub fn to_lambda(r: ScimResponse) -> Response<Body> {
    let body = if r.body.is_empty() {
        Body::Empty
    } else {
        match String::from_utf8(r.body.to_vec()) {
            Ok(t) => Body::Text(t),
            Err(e) => Body::Binary(e.into_bytes()),
        }
    };
    let mut resp = Response::new(body);
    *resp.status_mut() = r.status;
    *resp.headers_mut() = r.headers;
    resp
}

/// How long before the invocation's deadline a request that is still running is answered
/// `503` (with `Retry-After`) instead, so that the client gets a SCIM error it retries
/// rather than API Gateway's bare `500`/`503` for a function that timed out.
pub const DEADLINE_MARGIN: Duration = Duration::from_millis(1500);

/// One request's metrics (`crate::metrics`): started before the handler, recorded after.
pub struct Meter {
    started: std::time::Instant,
    before: crate::metrics::Usage,
    route_key: Option<String>,
    client: scim_service::settings::ClientKind,
}

impl Meter {
    pub fn start(req: &Request) -> Meter {
        Meter {
            started: std::time::Instant::now(),
            before: crate::metrics::Usage::now(),
            route_key: route_key(req),
            client: scim_service::settings::ClientKind::from_user_agent(
                req.headers()
                    .get(http::header::USER_AGENT)
                    .and_then(|v| v.to_str().ok()),
            ),
        }
    }

    /// The request's EMF record.
    pub fn record(&self, tenant: &str, status: u16) -> serde_json::Value {
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or_default();
        crate::metrics::request_record(
            tenant,
            self.route_key.as_deref().unwrap_or(""),
            status,
            self.client,
            self.started.elapsed().as_secs_f64() * 1000.0,
            &crate::metrics::Usage::now().since(&self.before),
            now,
        )
    }

    /// Writes the record where CloudWatch reads EMF: one line on stdout (the function's log
    /// group), on Lambda only.
    pub fn emit(&self, tenant: &str, status: u16) {
        let emit =
            EMIT_METRICS.get_or_init(|| std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some());
        if *emit {
            println!("{}", self.record(tenant, status));
        }
    }
}

/// One invocation: an API Gateway request through the shared handler for the operations in
/// `OPS`. Never fails: every outcome, a panic in the handler and a request that runs out of
/// the invocation's time included, is a SCIM response.
pub async fn handle_request<S: Store + SettingsStore, A: Authenticator, const OPS: u16>(
    app: &App<S, A>,
    req: Request,
) -> Response<Body> {
    let meter = Meter::start(&req);
    let response = scim_response::<S, A, OPS>(app, req).await;
    meter.emit(
        app.config.tenant.as_deref().unwrap_or("unknown"),
        response.status.as_u16(),
    );
    to_lambda(response)
}

/// [`handle_request`] with the request's metrics record returned instead of written (tests).
pub async fn handle_request_metered<S: Store + SettingsStore, A: Authenticator, const OPS: u16>(
    app: &App<S, A>,
    req: Request,
) -> (Response<Body>, serde_json::Value) {
    let meter = Meter::start(&req);
    let response = scim_response::<S, A, OPS>(app, req).await;
    let record = meter.record(
        app.config.tenant.as_deref().unwrap_or("unknown"),
        response.status.as_u16(),
    );
    (to_lambda(response), record)
}

async fn scim_response<S: Store + SettingsStore, A: Authenticator, const OPS: u16>(
    app: &App<S, A>,
    req: Request,
) -> ScimResponse {
    use lambda_http::RequestExt;
    let remaining = req.lambda_context_ref().and_then(|ctx| {
        ctx.deadline()
            .duration_since(SystemTime::now())
            .ok()
            .map(|left| left.saturating_sub(DEADLINE_MARGIN))
    });
    let request = handle_set::<S, A, OPS>(app, from_lambda(req));
    match remaining {
        Some(left) => match tokio::time::timeout(left, request).await {
            Ok(r) => r,
            Err(_) => {
                tracing::warn!(status = 503, "request ran out of the invocation's time");
                scim_service::http::retry_later()
            }
        },
        None => request.await,
    }
}

/// Metrics (crate::metrics) are written on Lambda (and under `cargo lambda watch`), which sets
/// `AWS_LAMBDA_FUNCTION_NAME`; not by tests or the local server.
static EMIT_METRICS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();

/// The API Gateway route key of the request (`POST /scim/v2/Users`, `$default`; REST: the
/// resource path), from its request context.
fn route_key(req: &Request) -> Option<String> {
    use lambda_http::request::RequestContext;
    use lambda_http::RequestExt;
    match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.route_key.clone(),
        Some(RequestContext::ApiGatewayV1(ctx)) => Some(format!(
            "{} {}",
            ctx.http_method,
            ctx.resource_path.clone().unwrap_or_default()
        )),
        _ => None,
    }
}

/// Runs the Lambda event loop for the operations in `OPS` (`scim_service::http::op_set`),
/// with any store and authenticator.
pub async fn run_with<S, A, const OPS: u16>(app: App<S, A>) -> Result<(), Error>
where
    S: Store + SettingsStore + 'static,
    A: Authenticator + 'static,
{
    let app = Arc::new(app);
    lambda_http::run(service_fn(move |req: Request| {
        let app = Arc::clone(&app);
        async move { Ok::<_, Error>(handle_request::<S, A, OPS>(&app, req).await) }
    }))
    .await
}

/// The standard wiring of an HTTP function: configuration from the environment, the
/// DynamoDB store, the tenant's bearer tokens.
///
/// Tokens come from the Secrets Manager secret named by `TOKEN_SECRET_ARN` (how every
/// deployed function is configured), read at cold start and cached (`tokens`). Only when
/// that is unset, `SCIM_BEARER_TOKEN` is the one accepted token: for `cargo lambda watch`
/// on a developer machine, never in a stack.
///
/// `OPS` is the function's operation set, `op_set(&[Operation::Get(ResourceKind::User)])`:
/// a constant, so the binary links only the code of those operations.
pub async fn serve<const OPS: u16>() -> Result<(), Error> {
    init_tracing();
    let config = Config::from_env()?;
    let sdk = crate::sdk::load().await;
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), &config.table_name)
        .with_retention(config.retention);
    let http = config.http();
    let keys = FunctionKeys::from_env(&sdk);
    match crate::config::var("TOKEN_SECRET_ARN") {
        Some(secret) => {
            let bearer = SecretsTokenSource::new(tokens::client(&sdk), [secret.trim()])
                .with_fallback_tenant(&config.tenant_id);
            // The two cold-start reads run side by side.
            let ((), read) = tokio::join!(keys.warm(), bearer.refresh());
            if let Err(e) = read {
                // Not fatal: requests retry the read and answer 503 until it succeeds.
                tracing::error!(error = %e, "cold start: cannot read the bearer-token secret");
            }
            run_with::<_, _, OPS>(App {
                gate: Default::default(),
                store,
                auth: OAuthAuthenticator { bearer, keys },
                config: http,
            })
            .await
        }
        None => {
            keys.warm().await;
            let bearer = local_token_from_env(&config)?;
            run_with::<_, _, OPS>(App {
                gate: Default::default(),
                store,
                auth: OAuthAuthenticator { bearer, keys },
                config: http,
            })
            .await
        }
    }
}

/// The wiring of the token endpoint (`functions/oauth-token`, `POST /oauth2/token`): the
/// store (clients, replay markers), the signing keys (`SIGNING_SECRET_ARN`, required), the
/// HTTPS client for Entra's keys (`ENTRA_LOGIN_URL`), the lifetime
/// (`ACCESS_TOKEN_LIFETIME`). It never reads the bearer-token secret.
#[cfg(feature = "oauth")]
pub async fn serve_oauth() -> Result<(), Error> {
    use scim_service::oauth::{federation::Jwks, OAuthConfig, TokenEndpoint};
    init_tracing();
    let config = Config::from_env()?;
    let sdk = crate::sdk::load().await;
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), &config.table_name)
        .with_retention(config.retention);
    let mut oauth = OAuthConfig::new(&config.tenant_id, crate::oauth::lifetime_from_env()?)?;
    oauth.base_url = config.base_url.clone();
    oauth.realm = config.realm.clone();
    let keys = match FunctionKeys::from_env(&sdk) {
        FunctionKeys::None => return Err("SIGNING_SECRET_ARN is not set".into()),
        keys => keys,
    };
    keys.warm().await;
    let fetch = crate::https::JwksFetch {
        client: crate::https::HttpClient::new()?,
        timeout: std::time::Duration::from_secs(3),
    };
    let endpoint = Arc::new(TokenEndpoint {
        store,
        jwks: Jwks::new(fetch, &crate::oauth::login_url_from_env()?),
        keys,
        config: oauth,
        lockout: Default::default(),
    });
    let tenant: Arc<str> = config.tenant_id.into();
    lambda_http::run(service_fn(move |req: Request| {
        let (endpoint, tenant) = (Arc::clone(&endpoint), Arc::clone(&tenant));
        async move {
            let meter = Meter::start(&req);
            let response = scim_service::oauth::handle(&endpoint, from_lambda(req)).await;
            meter.emit(&tenant, response.status.as_u16());
            Ok::<_, Error>(to_lambda(response))
        }
    }))
    .await
}

/// Local only (`cargo lambda watch`): `SCIM_BEARER_TOKEN`, one token for the configured tenant.
fn local_token_from_env(config: &Config) -> Result<TokenSet, Error> {
    let token = std::env::var("SCIM_BEARER_TOKEN").map_err(|_| {
        "TOKEN_SECRET_ARN is not set (SCIM_BEARER_TOKEN is accepted for local runs only)"
    })?;
    tracing::warn!("TOKEN_SECRET_ARN is not set: accepting SCIM_BEARER_TOKEN (local use only)");
    Ok(TokenSet::new().with(token.trim(), &config.tenant_id))
}

/// A token admin for the application API's functions that do not manage tokens
/// (`app-directory`, `app-contacts`): API Gateway never routes token calls to them, and
/// their roles could not touch the secret anyway.
pub struct NoTokenAdmin;

impl scim_service::settings::TokenAdmin for NoTokenAdmin {
    async fn tokens(
        &self,
        _tenant: &str,
    ) -> Result<Vec<scim_service::settings::TokenInfo>, scim_service::settings::TokenAdminError>
    {
        Err(scim_service::settings::TokenAdminError(
            "this function does not manage tokens".into(),
        ))
    }
    async fn generate(
        &self,
        _tenant: &str,
    ) -> Result<scim_service::settings::NewToken, scim_service::settings::TokenAdminError> {
        Err(scim_service::settings::TokenAdminError(
            "this function does not manage tokens".into(),
        ))
    }
    async fn retire_previous(
        &self,
        _tenant: &str,
    ) -> Result<Option<scim_service::settings::TokenInfo>, scim_service::settings::TokenAdminError>
    {
        Err(scim_service::settings::TokenAdminError(
            "this function does not manage tokens".into(),
        ))
    }
}

/// Runs the Lambda event loop of an application API function.
pub async fn run_app<T>(api: scim_service::app::AppApi<DynamoStore, T>) -> Result<(), Error>
where
    T: scim_service::settings::TokenAdmin + 'static,
{
    let api = Arc::new(api);
    lambda_http::run(service_fn(move |req: Request| {
        let api = Arc::clone(&api);
        async move {
            let meter = Meter::start(&req);
            let response = scim_service::app::handle(&api, from_lambda(req)).await;
            meter.emit(&api.config.tenant, response.status.as_u16());
            Ok::<_, Error>(to_lambda(response))
        }
    }))
    .await
}

/// The wiring of an application API function (`/app/v1`, IAM-authorized by API Gateway):
/// configuration from the environment, the store, and — with `TOKEN_SECRET_ARN` set
/// (`app-settings` only) — the tenant's token secret to generate and retire tokens.
/// `TENANT_URL` (or `SCIM_BASE_URL`) is the SCIM base URL shown to the admin; the cold start
/// fails without it (this API runs on another host than the SCIM API, so it cannot be
/// derived from the request).
pub async fn serve_app() -> Result<(), Error> {
    init_tracing();
    let config = Config::from_env()?;
    let sdk = crate::sdk::load().await;
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), &config.table_name)
        .with_retention(config.retention);
    let tenant_url = std::env::var("TENANT_URL")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .or(config.base_url.clone())
        .ok_or("TENANT_URL is not set (the SCIM base URL the settings show the admin)")?;
    let app_config = scim_service::app::AppConfig {
        tenant: config.tenant_id.clone(),
        tenant_url,
        token_endpoint: std::env::var("TOKEN_ENDPOINT")
            .ok()
            .filter(|v| !v.is_empty()),
        key: None,
    };
    let gate = Arc::new(scim_service::settings::Gate::default());
    match std::env::var("TOKEN_SECRET_ARN")
        .ok()
        .filter(|v| !v.trim().is_empty())
    {
        Some(secret) => {
            run_app(scim_service::app::AppApi {
                store,
                tokens: crate::tokens::admin::SecretsTokenAdmin::new(
                    tokens::client(&sdk),
                    secret.trim(),
                ),
                gate,
                config: app_config,
            })
            .await
        }
        None => {
            run_app(scim_service::app::AppApi {
                store,
                tokens: NoTokenAdmin,
                gate,
                config: app_config,
            })
            .await
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::from_lambda;
    use serde_json::json;

    /// An HTTP API (payload 2.0) event whose client sent the headers that used to name the
    /// request: the request id is the context's, which API Gateway sets and logs.
    #[test]
    fn the_request_id_is_api_gateways_from_the_context_never_a_header() {
        let event = json!({
            "version": "2.0",
            "routeKey": "POST /scim/v2/Users",
            "rawPath": "/scim/v2/Users",
            "rawQueryString": "",
            "headers": {
                "x-amzn-requestid": "spoofed-1",
                "x-amz-apigw-id": "spoofed-2",
                "x-request-id": "spoofed-3",
                "content-type": "application/scim+json"
            },
            "requestContext": {
                "accountId": "111111111111",
                "apiId": "abc123",
                "domainName": "abc123.execute-api.eu-west-1.amazonaws.com",
                "domainPrefix": "abc123",
                "http": {
                    "method": "POST",
                    "path": "/scim/v2/Users",
                    "protocol": "HTTP/1.1",
                    "sourceIp": "192.0.2.1",
                    "userAgent": "test"
                },
                "requestId": "JKJaXmPLvHcESHA=",
                "routeKey": "POST /scim/v2/Users",
                "stage": "$default",
                "time": "06/Dec/2026:10:00:00 +0000",
                "timeEpoch": 1796551200000u64
            },
            "body": "{}",
            "isBase64Encoded": false
        });
        let req = lambda_http::request::from_str(&event.to_string()).unwrap();
        let scim = from_lambda(req);
        assert_eq!(scim.request_id.as_deref(), Some("JKJaXmPLvHcESHA="));
        assert_eq!(scim.path, "/scim/v2/Users");
    }
}
