//! The serve helper: what every HTTP function's `main` calls. Clients, configuration and
//! the token cache are built once per cold start and borrowed by every invocation.

use crate::config::{init_tracing, Config};
use crate::dynamo::DynamoStore;
use crate::tokens::{self, SecretsTokenSource};
use bytes::Bytes;
use lambda_http::{service_fn, Body, Request, Response};
use scim_service::auth::{Authenticator, TokenSet};
use scim_service::http::{handle_set, App, ScimRequest, ScimResponse};
use scim_service::port::Store;
use std::sync::Arc;

pub type Error = lambda_http::Error;

/// Converts an API Gateway request (REST v1 or HTTP API v2) into the shared request type.
pub fn from_lambda(req: Request) -> ScimRequest {
    use lambda_http::request::RequestContext;
    use lambda_http::RequestExt;
    // A REST API (v1) strips its stage from the path; its request context keeps the full
    // path, so `Location` and `meta.location` carry the stage the client called.
    let full_path = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV1(ctx)) => ctx.path.clone(),
        _ => None,
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

/// One invocation: an API Gateway request through the shared handler for the operations in
/// `OPS`. Never fails: every outcome, a panic in the handler included, is a SCIM response.
pub async fn handle_request<S: Store, A: Authenticator, const OPS: u16>(
    app: &App<S, A>,
    req: Request,
) -> Response<Body> {
    to_lambda(handle_set::<S, A, OPS>(app, from_lambda(req)).await)
}

/// Runs the Lambda event loop for the operations in `OPS` (`scim_service::http::op_set`),
/// with any store and authenticator.
pub async fn run_with<S, A, const OPS: u16>(app: App<S, A>) -> Result<(), Error>
where
    S: Store + 'static,
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
    match std::env::var("TOKEN_SECRET_ARN")
        .ok()
        .filter(|v| !v.trim().is_empty())
    {
        Some(secret) => {
            let auth = SecretsTokenSource::new(tokens::client(&sdk), [secret.trim()])
                .with_fallback_tenant(&config.tenant_id);
            if let Err(e) = auth.refresh().await {
                // Not fatal: requests retry the read and answer 503 until it succeeds.
                tracing::error!(error = %e, "cold start: cannot read the bearer-token secret");
            }
            run_with::<_, _, OPS>(App {
                store,
                auth,
                config: http,
            })
            .await
        }
        None => {
            let auth = local_token_from_env(&config)?;
            run_with::<_, _, OPS>(App {
                store,
                auth,
                config: http,
            })
            .await
        }
    }
}

/// Local only (`cargo lambda watch`): `SCIM_BEARER_TOKEN`, one token for the configured tenant.
fn local_token_from_env(config: &Config) -> Result<TokenSet, Error> {
    let token = std::env::var("SCIM_BEARER_TOKEN").map_err(|_| {
        "TOKEN_SECRET_ARN is not set (SCIM_BEARER_TOKEN is accepted for local runs only)"
    })?;
    tracing::warn!("TOKEN_SECRET_ARN is not set: accepting SCIM_BEARER_TOKEN (local use only)");
    Ok(TokenSet::new().with(token.trim(), &config.tenant_id))
}
