//! The function path: real API Gateway event JSON (HTTP API payload v2 and REST API v1)
//! through `lambda_http`'s own deserialiser, the adapter, and the shared handler — the
//! same code a deployed function runs, minus the runtime loop: each call compiles in only
//! the operations of one function (`handle_set` with `op_set`, as `lambda::serve` does).

use crate::harness::Server;
use scim_aws::lambda::{from_lambda, to_lambda};
use scim_core::schema::ResourceKind;
use scim_service::auth::TokenSet;
use scim_service::http::{handle_set, op_set, App, HttpConfig, Operation};
use serde_json::{json, Value};

async fn invoke<const OPS: u16>(s: &Server, event: Value) -> (u16, http::HeaderMap, Value) {
    let req = lambda_http::request::from_str(&event.to_string()).expect("event");
    let app = App {
        store: s.store.clone(),
        auth: TokenSet::new().with(&s.token, crate::harness::TENANT),
        config: HttpConfig {
            base_url: None,
            realm: "scim-test".into(),
            tenant: Some(crate::harness::TENANT.into()),
        },
    };
    let resp = to_lambda(handle_set::<_, _, OPS>(&app, from_lambda(req)).await);
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = match resp.body() {
        lambda_http::Body::Text(t) => serde_json::from_str(t).unwrap_or(Value::Null),
        _ => Value::Null,
    };
    (status, headers, body)
}

fn v2(method: &str, raw_path: &str, raw_query: &str, token: &str, body: Option<Value>) -> Value {
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
