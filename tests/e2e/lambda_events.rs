//! The function path: real API Gateway event JSON (HTTP API payload v2 and REST API v1)
//! through `lambda_http`'s own deserialiser and `scim_aws::lambda::handle_request` — the
//! same code a deployed function runs for each invocation, minus the runtime loop: each
//! call compiles in only the operations of one function (`op_set`, as `lambda::serve`
//! does). Also what a panicking request becomes, here and on the local server.

use crate::harness::Server;
use scim_aws::DynamoStore;
use scim_core::error::{ScimError, ERROR_SCHEMA};
use scim_core::schema::ResourceKind;
use scim_service::auth::{AuthError, Authenticator, Principal, TokenSet};
use scim_service::http::{op_set, App, HttpConfig, Operation};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, Ordering};

fn app<A: Authenticator>(s: &Server, auth: A) -> App<DynamoStore, A> {
    App {
        gate: Default::default(),
        store: s.store.clone(),
        auth,
        config: HttpConfig {
            base_url: None,
            realm: "scim-test".into(),
            tenant: Some(crate::harness::TENANT.into()),
            async_requests: Default::default(),
        },
    }
}

fn tokens(s: &Server) -> TokenSet {
    TokenSet::new().with(&s.token, crate::harness::TENANT)
}

pub(crate) async fn invoke<const OPS: u16>(
    s: &Server,
    event: Value,
) -> (u16, http::HeaderMap, Value) {
    invoke_app::<OPS, _>(&app(s, tokens(s)), event).await
}

async fn invoke_app<const OPS: u16, A: Authenticator>(
    app: &App<DynamoStore, A>,
    event: Value,
) -> (u16, http::HeaderMap, Value) {
    let req = lambda_http::request::from_str(&event.to_string()).expect("event");
    let resp = scim_aws::lambda::handle_request::<_, _, OPS>(app, req).await;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = match resp.body() {
        lambda_http::Body::Text(t) => serde_json::from_str(t).unwrap_or(Value::Null),
        _ => Value::Null,
    };
    (status, headers, body)
}

/// Test only: an authenticator whose first call panics (after an await, as a bug deep in a
/// request would), then [`TokenSet`]'s. No client can make a deployed function panic on
/// purpose; this makes one request do so through the real handler.
struct PanicsOnce {
    armed: AtomicBool,
    tokens: TokenSet,
}

impl PanicsOnce {
    fn new(tokens: TokenSet) -> PanicsOnce {
        PanicsOnce {
            armed: AtomicBool::new(true),
            tokens,
        }
    }
}

impl Authenticator for PanicsOnce {
    async fn authenticate(&self, authorization: Option<&str>) -> Result<Principal, AuthError> {
        tokio::task::yield_now().await;
        if self.armed.swap(false, Ordering::SeqCst) {
            panic!("test: a bug while handling a request");
        }
        self.tokens.authenticate(authorization).await
    }
}

/// A panic answered as a generic SCIM 500: nothing of the panic reaches the client.
#[track_caller]
fn assert_generic_500(status: u16, body: &Value) {
    assert_eq!(status, 500, "{body}");
    assert_eq!(body["schemas"], json!([ERROR_SCHEMA]), "{body}");
    assert_eq!(body["status"], "500", "{body}");
    assert_eq!(
        body["detail"],
        ScimError::internal().detail.as_str(),
        "{body}"
    );
    assert!(!body.to_string().contains("panic"), "{body}");
}

pub(crate) fn v2(
    method: &str,
    raw_path: &str,
    raw_query: &str,
    token: &str,
    body: Option<Value>,
) -> Value {
    json!({
        "version": "2.0",
        "routeKey": format!("{method} /scim/v2/Users"),
        "rawPath": raw_path,
        "rawQueryString": raw_query,
        "headers": {
            "authorization": format!("Bearer {token}"),
            "content-type": "application/scim+json",
            "host": "abc123.execute-api.eu-west-1.amazonaws.com",
            "x-forwarded-proto": "https"
        },
        "requestContext": {
            "accountId": "123456789012", "apiId": "abc123",
            "domainName": "abc123.execute-api.eu-west-1.amazonaws.com", "domainPrefix": "abc123",
            "http": {"method": method, "path": raw_path, "protocol": "HTTP/1.1", "sourceIp": "203.0.113.7", "userAgent": "Microsoft.Identity.Provisioning"},
            "requestId": "req-1", "routeKey": format!("{method} /scim/v2/Users"), "stage": "$default",
            "time": "22/Nov/2026:07:00:00 +0000", "timeEpoch": 1795330800000u64
        },
        "body": body.map(|b| b.to_string()),
        "isBase64Encoded": false
    })
}

#[tokio::test]
async fn an_http_api_v2_event_creates_and_finds_a_user() {
    let s = Server::start().await;
    let create = v2(
        "POST",
        "/scim/v2/Users",
        "",
        &s.token,
        Some(json!({"userName": "ann@contoso.com"})),
    );
    let (status, headers, body) =
        invoke::<{ op_set(&[Operation::Create(ResourceKind::User)]) }>(&s, create).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        headers.get("content-type").unwrap(),
        "application/scim+json"
    );
    let id = body["id"].as_str().unwrap().to_string();
    assert_eq!(
        headers.get("location").unwrap().to_str().unwrap(),
        format!("https://abc123.execute-api.eu-west-1.amazonaws.com/scim/v2/Users/{id}")
    );
    // Entra's lookup: spaces as '+', quotes percent-encoded.
    let lookup = v2(
        "GET",
        "/scim/v2/Users",
        "filter=userName+eq+%22ANN%40contoso.com%22",
        &s.token,
        None,
    );
    let (status, _, body) =
        invoke::<{ op_set(&[Operation::List(ResourceKind::User)]) }>(&s, lookup).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["totalResults"], 1);
    assert_eq!(body["Resources"][0]["id"], id.as_str());
}

#[tokio::test]
async fn a_rest_api_v1_event_with_a_stage_reads_a_user() {
    let s = Server::start().await;
    let id = s.user("bob@contoso.com").await;
    let event = json!({
        "resource": "/scim/v2/Users/{id}",
        "path": format!("/scim/v2/Users/{id}"),
        "httpMethod": "GET",
        "headers": {"Authorization": format!("Bearer {}", s.token), "Host": "abc123.execute-api.eu-west-1.amazonaws.com", "X-Forwarded-Proto": "https"},
        "multiValueHeaders": {"Authorization": [format!("Bearer {}", s.token)], "Host": ["abc123.execute-api.eu-west-1.amazonaws.com"], "X-Forwarded-Proto": ["https"]},
        "queryStringParameters": {"excludedAttributes": "groups"},
        "multiValueQueryStringParameters": {"excludedAttributes": ["groups"]},
        "pathParameters": {"id": id},
        "stageVariables": null,
        "requestContext": {
            "accountId": "123456789012", "resourceId": "r1", "stage": "prod", "requestId": "req-2",
            "identity": {"sourceIp": "203.0.113.7", "userAgent": "Okta SCIM Client 1.0.0"},
            "resourcePath": "/scim/v2/Users/{id}", "httpMethod": "GET", "apiId": "abc123",
            "path": format!("/prod/scim/v2/Users/{id}")
        },
        "body": null,
        "isBase64Encoded": false
    });
    let (status, headers, body) =
        invoke::<{ op_set(&[Operation::Get(ResourceKind::User)]) }>(&s, event).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["userName"], "bob@contoso.com");
    assert_eq!(headers.get("etag").unwrap(), "W/\"1\"");
    assert!(body.get("groups").is_none());
    assert_eq!(
        body["meta"]["location"],
        format!("https://abc123.execute-api.eu-west-1.amazonaws.com/prod/scim/v2/Users/{id}")
    );
}

#[tokio::test]
async fn a_function_answers_404_for_an_operation_it_does_not_serve_and_405_for_a_wrong_method() {
    let s = Server::start().await;
    let event = v2("GET", "/scim/v2/Groups", "", &s.token, None);
    let (status, _, body) = invoke::<{ op_set(&[Operation::Discovery]) }>(&s, event).await;
    assert_eq!((status, body["status"].as_str()), (404, Some("404")));
    let event = v2("DELETE", "/scim/v2/Schemas", "", &s.token, None);
    let (status, _, body) = invoke::<{ op_set(&[Operation::Discovery]) }>(&s, event).await;
    assert_eq!((status, body["status"].as_str()), (405, Some("405")));
}

#[tokio::test]
async fn a_function_serves_its_resource_type_only() {
    // users-get's operation set: GET /Groups/{id} is another function's, so 404, and the
    // user is still read.
    let s = Server::start().await;
    let id = s.user("cy@contoso.com").await;
    const USERS_GET: u16 = op_set(&[Operation::Get(ResourceKind::User)]);
    let event = v2("GET", &format!("/scim/v2/Groups/{id}"), "", &s.token, None);
    let (status, _, body) = invoke::<USERS_GET>(&s, event).await;
    assert_eq!((status, body["status"].as_str()), (404, Some("404")));
    let event = v2("GET", &format!("/scim/v2/Users/{id}"), "", &s.token, None);
    let (status, _, body) = invoke::<USERS_GET>(&s, event).await;
    assert_eq!(
        (status, body["userName"].as_str()),
        (200, Some("cy@contoso.com"))
    );
    let event = v2(
        "DELETE",
        &format!("/scim/v2/Users/{id}"),
        "",
        &s.token,
        None,
    );
    let (status, _, _) = invoke::<USERS_GET>(&s, event).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_panicking_request_is_a_scim_500_and_the_next_request_on_the_same_function_succeeds() {
    let s = Server::start().await;
    let id = s.user("dee@contoso.com").await;
    const USERS_GET: u16 = op_set(&[Operation::Get(ResourceKind::User)]);
    let app = app(&s, PanicsOnce::new(tokens(&s)));
    let event = v2("GET", &format!("/scim/v2/Users/{id}"), "", &s.token, None);
    let (status, headers, body) = invoke_app::<USERS_GET, _>(&app, event.clone()).await;
    assert_generic_500(status, &body);
    assert_eq!(
        headers.get("content-type").unwrap(),
        "application/scim+json"
    );
    let (status, _, body) = invoke_app::<USERS_GET, _>(&app, event).await;
    assert_eq!(
        (status, body["userName"].as_str()),
        (200, Some("dee@contoso.com")),
        "{body}"
    );
}

#[tokio::test]
async fn a_panicking_request_on_the_local_server_is_a_scim_500_and_the_server_keeps_serving() {
    let s = Server::start().await;
    let id = s.user("eve@contoso.com").await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/scim/v2/Users/{id}",
        listener.local_addr().unwrap()
    );
    let app = app(&s, PanicsOnce::new(tokens(&s)));
    tokio::spawn(async move { scim_local::serve(listener, app).await });
    let get = || async {
        let r = s
            .client
            .get(&url)
            .bearer_auth(&s.token)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json::<Value>().await.unwrap())
    };
    let (status, body) = get().await;
    assert_generic_500(status, &body);
    let (status, body) = get().await;
    assert_eq!(
        (status, body["userName"].as_str()),
        (200, Some("eve@contoso.com")),
        "{body}"
    );
}

/// Test only: an authenticator that takes `delay` (a store that hangs, as far as the
/// request's time goes), then [`TokenSet`]'s.
struct Slow {
    delay: std::time::Duration,
    tokens: TokenSet,
}

impl Authenticator for Slow {
    async fn authenticate(&self, authorization: Option<&str>) -> Result<Principal, AuthError> {
        tokio::time::sleep(self.delay).await;
        self.tokens.authenticate(authorization).await
    }
}

/// A request still running near the invocation's deadline is answered `503` with
/// `Retry-After` (a SCIM error the IdP retries) before Lambda would cut it off and API
/// Gateway answer its own bare error; with time to spare the same request is answered.
#[tokio::test]
async fn a_request_near_the_invocations_deadline_is_503_with_retry_after() {
    use lambda_http::RequestExt;
    let s = Server::start().await;
    const GET: u16 = op_set(&[Operation::Get(ResourceKind::User)]);
    let id = s.user("deadline@example.com").await;
    let event = v2("GET", &format!("/scim/v2/Users/{id}"), "", &s.token, None);
    let slow = app(
        &s,
        Slow {
            delay: std::time::Duration::from_secs(3),
            tokens: tokens(&s),
        },
    );
    let call = |left: std::time::Duration| {
        let mut ctx = lambda_runtime::Context::default();
        let deadline = std::time::SystemTime::now() + left;
        ctx.deadline = deadline
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        lambda_http::request::from_str(&event.to_string())
            .expect("event")
            .with_lambda_context(ctx)
    };
    let started = std::time::Instant::now();
    let resp = scim_aws::lambda::handle_request::<_, _, GET>(
        &slow,
        call(std::time::Duration::from_secs(2)),
    )
    .await;
    assert_eq!(resp.status().as_u16(), 503);
    assert_eq!(resp.headers()["retry-after"], "1");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(2),
        "answered before the deadline"
    );
    let resp = scim_aws::lambda::handle_request::<_, _, GET>(
        &slow,
        call(std::time::Duration::from_secs(10)),
    )
    .await;
    assert_eq!(resp.status().as_u16(), 200);
}

/// The metrics each request writes (one EMF record) count what that request really did:
/// the DynamoDB calls the store's client made for it (the same interceptor that the call
/// budgets read), their time, and the token cache's reads of the bearer-token secret
/// (moto). Each test runs in its own process (nextest), so the process counters are this
/// test's.
#[tokio::test]
async fn each_requests_metrics_count_the_store_calls_and_token_reads_it_caused() {
    use scim_aws::tokens::{ManualClock, SecretsTokenSource, CACHE_TTL};
    const SECRET: &str = "scim/tenant-a/bearer-token";
    let s = Server::start().await;
    let moto = crate::moto::start();
    let sm = scim_test_support::aws::secrets_manager(&moto.endpoint);
    let token = scim_admin::generate(&sm, SECRET, Some(crate::harness::TENANT))
        .await
        .unwrap()
        .token;
    let clock = ManualClock::new();
    let source = SecretsTokenSource::new(sm.clone(), [SECRET]).with_clock(clock.clone());
    let app = app(&s, source);
    let okta = |mut event: Value| {
        event["headers"]["user-agent"] = json!("Okta SCIM Client 1.0.0");
        lambda_http::request::from_str(&event.to_string()).expect("event")
    };
    const CREATE: u16 = op_set(&[Operation::Create(ResourceKind::User)]);
    const LIST: u16 = op_set(&[Operation::List(ResourceKind::User)]);

    // Cold cache: one read of the secret; the gate's usage record and the create.
    let before = s.store.calls();
    let create = v2(
        "POST",
        "/scim/v2/Users",
        "",
        token.expose(),
        Some(json!({"userName": "m@contoso.com"})),
    );
    let (resp, r) =
        scim_aws::lambda::handle_request_metered::<_, _, CREATE>(&app, okta(create)).await;
    let calls = s.store.calls().since(&before).total();
    assert_eq!(resp.status().as_u16(), 201);
    assert_eq!(r["Operation"], "POST /scim/v2/Users");
    assert_eq!(r["StatusClass"], "2xx");
    assert_eq!(r["ClientKind"], "okta");
    assert!(calls >= 2, "{calls}");
    assert_eq!(r["StoreCalls"], calls, "{r}");
    assert!(r["StoreTime"].as_f64().unwrap() > 0.0, "{r}");
    assert_eq!(r["TokenCacheRefreshes"], 1, "{r}");

    // Warm: no read; only this request's calls.
    let before = s.store.calls();
    let list = v2(
        "GET",
        "/scim/v2/Users",
        "filter=userName+eq+%22m%40contoso.com%22",
        token.expose(),
        None,
    );
    let (resp, r) =
        scim_aws::lambda::handle_request_metered::<_, _, LIST>(&app, okta(list.clone())).await;
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(
        r["StoreCalls"],
        s.store.calls().since(&before).total(),
        "{r}"
    );
    assert_eq!(r["TokenCacheRefreshes"], 0, "{r}");

    // Past the cache's TTL: read again, once.
    clock.advance(CACHE_TTL + std::time::Duration::from_secs(1));
    let (_, r) = scim_aws::lambda::handle_request_metered::<_, _, LIST>(&app, okta(list)).await;
    assert_eq!(r["TokenCacheRefreshes"], 1, "{r}");
}
