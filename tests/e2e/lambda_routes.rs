//! The route table against the real function binaries, through `lambda-gateway` (README,
//! "Running the real function binaries"): these fail when `infra/functions.json` (or the
//! table in `SCIM_ROUTES`, e.g. one taken from a template), the operations each function
//! binary compiles in (`op_set` in `functions/*/src/main.rs`) and the application API's
//! operations (its `openapi.json`) disagree — by real requests, not by reading files.
//!
//! `#[ignore]`d: they need the gateway, which sets `SCIM_BASE_URL`, `SCIM_TOKEN`,
//! `SCIM_APP_KEY` and `SCIM_ROUTES` for the command it runs (as `tests/run.sh` does):
//!
//! ```sh
//! cargo build --workspace --bins
//! SCIM_GATEWAY_BUILD=0 target/debug/lambda-gateway \
//!   cargo nextest run -p scim-tests --test e2e --run-ignored only --test-threads 1 lambda_routes
//! ```
//!
//! Run one at a time: `every_route_answers_from_a_function_that_serves_it` makes a new
//! bearer token (the gateway's becomes the previous one, still accepted), once per gateway.

use futures::future::join_all;
use reqwest::Method;
use scim_test_support::gateway::{Api, RouteTable, DIRECT_PREFIX};
use serde_json::{json, Value};
use std::path::PathBuf;

const NO_SUCH_ENDPOINT: &str = "There is no such endpoint.";
const NO_SUCH_APP_ROUTE: &str = "There is no such route in the application API.";
/// An id nothing has: probes must not change anything.
const ABSENT: &str = "route-probe-00000000";

/// Every SCIM operation (RFC 7644 §3), as a request: what some function must compile in.
const SCIM_OPERATIONS: &[&str] = &[
    "POST /scim/v2/Users",
    "GET /scim/v2/Users",
    "POST /scim/v2/Users/.search",
    "GET /scim/v2/Users/{id}",
    "PUT /scim/v2/Users/{id}",
    "PATCH /scim/v2/Users/{id}",
    "DELETE /scim/v2/Users/{id}",
    "POST /scim/v2/Groups",
    "GET /scim/v2/Groups",
    "POST /scim/v2/Groups/.search",
    "GET /scim/v2/Groups/{id}",
    "PUT /scim/v2/Groups/{id}",
    "PATCH /scim/v2/Groups/{id}",
    "DELETE /scim/v2/Groups/{id}",
    "GET /scim/v2/ServiceProviderConfig",
    "GET /scim/v2/ResourceTypes",
    "GET /scim/v2/ResourceTypes/{id}",
    "GET /scim/v2/Schemas",
    "GET /scim/v2/Schemas/{id}",
    "GET /scim/v2/Entitlements",
    "GET /scim/v2/Entitlements/{id}",
    "GET /scim/v2/Roles",
    "GET /scim/v2/Roles/{id}",
    "POST /scim/v2/Bulk",
    "GET /scim/v2/AsyncRequests/{txn}",
];

struct Gateway {
    origin: String,
    token: String,
    app_key: String,
    table: RouteTable,
    client: reqwest::Client,
}

#[derive(Debug)]
struct Answer {
    status: u16,
    body: Value,
    text: String,
}

impl Answer {
    /// A SCIM error body (a function answered, not the gateway).
    fn is_scim_error(&self) -> bool {
        self.body["schemas"][0] == "urn:ietf:params:scim:api:messages:2.0:Error"
    }

    /// API Gateway's own answer (`{"message": ...}`): the request reached no function.
    fn is_gateway_message(&self) -> bool {
        self.body.as_object().is_some_and(|o| o.len() == 1) && self.body["message"].is_string()
    }

    /// Whether a SCIM function served the operation (it compiles it in).
    fn served(&self) -> bool {
        let no_such_endpoint = self.status == 404 && self.body["detail"] == NO_SUCH_ENDPOINT;
        let answered = self.status < 300 || self.is_scim_error();
        answered && !no_such_endpoint && self.status != 401 && self.status < 500
    }
}

enum Auth<'a> {
    None,
    Bearer(&'a str),
}

fn gateway() -> Gateway {
    let base = std::env::var("SCIM_BASE_URL").expect(
        "SCIM_BASE_URL: the gateway's Tenant URL (tests/run.sh starts lambda-gateway and sets it)",
    );
    let routes = std::env::var("SCIM_ROUTES")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../infra/functions.json")
        });
    Gateway {
        origin: base
            .trim_end_matches('/')
            .trim_end_matches("/scim/v2")
            .to_string(),
        token: std::env::var("SCIM_TOKEN").expect("SCIM_TOKEN"),
        app_key: std::env::var("SCIM_APP_KEY").expect("SCIM_APP_KEY"),
        table: RouteTable::load(&routes).unwrap(),
        client: reqwest::Client::builder().no_proxy().build().unwrap(),
    }
}

/// A route key's request with every `{param}` an id nothing has.
fn concrete(key: &str) -> (Method, String) {
    let (method, path) = key.split_once(' ').unwrap();
    let path = path
        .split('/')
        .map(|s| if s.starts_with('{') { ABSENT } else { s })
        .collect::<Vec<_>>()
        .join("/");
    (Method::from_bytes(method.as_bytes()).unwrap(), path)
}

impl Gateway {
    async fn call(
        &self,
        method: Method,
        path: &str,
        auth: Auth<'_>,
        body: Option<&Value>,
    ) -> Answer {
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.origin));
        if let Auth::Bearer(t) = auth {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        if let Some(b) = body {
            let kind = if path.starts_with("/app/") || path.contains("/app/") {
                "application/json"
            } else {
                "application/scim+json"
            };
            req = req.header("Content-Type", kind).body(b.to_string());
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        Answer {
            status,
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
            text,
        }
    }

    /// A SCIM probe: with the bearer token, an empty object as the body of a write (a `400`
    /// or a `404` for the absent id where the operation is compiled in: nothing changes).
    async fn scim(&self, method: Method, path: &str) -> Answer {
        let body = [Method::POST, Method::PUT, Method::PATCH]
            .contains(&method)
            .then(|| json!({}));
        self.call(method, path, Auth::Bearer(&self.token), body.as_ref())
            .await
    }

    /// The SCIM functions: the HTTP functions whose routes (if any) are all under `/scim/v2`
    /// or `$default`.
    fn scim_functions(&self) -> Vec<String> {
        self.table
            .functions
            .iter()
            // A function the table gives no route is asked too: it may compile in an
            // operation that is routed elsewhere or nowhere.
            .filter(|f| f.is_http())
            .filter(|f| {
                f.routes.iter().all(|r| {
                    r == "$default"
                        || r.split_once(' ')
                            .is_some_and(|(_, p)| p.starts_with("/scim/v2/"))
                })
            })
            .map(|f| f.name.clone())
            .collect()
    }
}

/// Each SCIM operation is compiled into exactly one function binary, and the route table
/// sends it there: asked directly (`/_lambda/<function>/...`), every SCIM function answers
/// every operation, and only the routed one may serve it (the others answer 404 "There is no
/// such endpoint."). Then the same requests through the route table.
#[tokio::test]
#[ignore = "needs lambda-gateway (tests/run.sh starts it and runs this by name)"]
async fn every_scim_operation_is_compiled_into_the_one_function_its_route_names() {
    let g = gateway();
    let functions = g.scim_functions();
    assert!(
        !functions.is_empty(),
        "no SCIM functions in the route table"
    );
    let mut probes: Vec<String> = SCIM_OPERATIONS.iter().map(|s| s.to_string()).collect();
    for (key, _) in g.table.route_keys() {
        if key.contains(" /scim/v2/") && !probes.contains(&key) {
            probes.push(key);
        }
    }
    // Each function answers every probe (one process per function: its probes in order,
    // the functions side by side).
    let answers: Vec<Vec<Answer>> = join_all(functions.iter().map(|f| {
        let g = &g;
        let probes = &probes;
        async move {
            let mut out = Vec::new();
            for p in probes {
                let (method, path) = concrete(p);
                out.push(g.scim(method, &format!("{DIRECT_PREFIX}{f}{path}")).await);
            }
            out
        }
    }))
    .await;
    let mut wrong = Vec::new();
    for (i, probe) in probes.iter().enumerate() {
        let (method, path) = concrete(probe);
        let routed = g.table.resolve(method.as_str(), &path);
        let compiled: Vec<&str> = functions
            .iter()
            .zip(&answers)
            .filter(|(_, a)| a[i].served())
            .map(|(f, _)| f.as_str())
            .collect();
        for (f, a) in functions.iter().zip(&answers) {
            assert!(
                a[i].is_scim_error() || a[i].status < 400,
                "{probe} sent to {f} directly: not a SCIM answer: {} {}",
                a[i].status,
                a[i].text
            );
            assert!(
                a[i].status < 500 && a[i].status != 401,
                "{probe} in {f}: {} {}",
                a[i].status,
                a[i].text
            );
        }
        if compiled != routed.into_iter().collect::<Vec<_>>() {
            wrong.push(format!(
                "{probe}: routed to {}, compiled into {compiled:?}",
                routed.unwrap_or("nothing (API Gateway's 404)")
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "the route table and the functions' operation sets disagree:\n  {}",
        wrong.join("\n  ")
    );
    // Through the route table, every operation is served.
    for probe in &probes {
        let (method, path) = concrete(probe);
        let a = g.scim(method, &path).await;
        assert!(
            a.served() && a.status < 500,
            "{probe} through the gateway: {} {}",
            a.status,
            a.text
        );
    }
}

/// Every route of the table reaches a function that answers it: SCIM routes a SCIM answer
/// that is not "no such endpoint", the token endpoint an RFC 6749 error, the application
/// API's routes (with the key standing in for IAM) an answer that is not "no such route"
/// and no 5xx; `$default` takes unknown paths and methods, as in a stack.
#[tokio::test]
#[ignore = "needs lambda-gateway (tests/run.sh starts it and runs this by name)"]
async fn every_route_answers_from_a_function_that_serves_it() {
    let g = gateway();
    let mut keys = g.table.route_keys();
    // The token calls last: POST /app/v1/tokens makes SCIM_TOKEN the previous token (it
    // keeps working); retiring the previous one would retire it.
    keys.sort_by_key(|(k, _)| (k == "POST /app/v1/tokens", k.clone()));
    let mut failures = Vec::new();
    for (key, function) in &keys {
        if key == "$default" {
            for (method, path) in [
                (Method::GET, "/scim/v2/NoSuchEndpoint"),
                (Method::DELETE, "/scim/v2/ServiceProviderConfig"),
                (Method::GET, "/"),
            ] {
                let a = g.scim(method.clone(), path).await;
                if !a.is_scim_error() || a.status >= 500 {
                    failures.push(format!(
                        "$default ({function}): {method} {path}: {} {}",
                        a.status, a.text
                    ));
                }
            }
            continue;
        }
        let (method, path) = concrete(key);
        let a = if path == "/oauth2/token" {
            // No credentials: the function itself refuses (RFC 6749 §5.2).
            let resp = g
                .client
                .post(format!("{}{path}", g.origin))
                .form(&[("grant_type", "client_credentials")])
                .send()
                .await
                .unwrap();
            let status = resp.status().as_u16();
            let text = resp.text().await.unwrap_or_default();
            let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            if !(status == 400 || status == 401) || !body["error"].is_string() {
                failures.push(format!("{key} ({function}): {status} {text}"));
            }
            continue;
        } else if Api::of_path(&path) == Api::App {
            // IAM's stand-in: neither no credential nor the SCIM token opens the route.
            for auth in [Auth::None, Auth::Bearer(&g.token)] {
                let a = g.call(method.clone(), &path, auth, None).await;
                if a.status != 403 || !a.is_gateway_message() {
                    failures.push(format!(
                        "{key} without the application key: {} {}",
                        a.status, a.text
                    ));
                }
            }
            if key == "DELETE /app/v1/tokens/previous" || key == "POST /app/v1/tokens" {
                let settings = g
                    .call(
                        Method::GET,
                        "/app/v1/settings",
                        Auth::Bearer(&g.app_key),
                        None,
                    )
                    .await;
                if settings.text.contains("\"previous\"") {
                    // A second run on one gateway: the first made SCIM_TOKEN the previous
                    // token. Retiring it, or rotating again, would retire SCIM_TOKEN.
                    continue;
                }
            }
            let body = [Method::POST, Method::PUT, Method::PATCH]
                .contains(&method)
                .then(|| json!({}));
            g.call(method, &path, Auth::Bearer(&g.app_key), body.as_ref())
                .await
        } else {
            g.scim(method, &path).await
        };
        let refused = a.status >= 500
            || a.is_gateway_message()
            || (a.status == 404
                && (a.body["detail"] == NO_SUCH_ENDPOINT || a.body["detail"] == NO_SUCH_APP_ROUTE));
        if refused {
            failures.push(format!("{key} ({function}): {} {}", a.status, a.text));
        }
    }
    assert!(
        failures.is_empty(),
        "routes not served:\n  {}",
        failures.join("\n  ")
    );
}

/// Every operation of the application API (its `openapi.json`, as the running
/// `app-directory` serves it) has a route: without credentials each answers IAM's `403`
/// (the route exists), never API Gateway's `404 {"message":"Not Found"}`.
#[tokio::test]
#[ignore = "needs lambda-gateway (tests/run.sh starts it and runs this by name)"]
async fn every_application_api_operation_has_a_route() {
    let g = gateway();
    let doc = g
        .call(
            Method::GET,
            "/app/v1/openapi.json",
            Auth::Bearer(&g.app_key),
            None,
        )
        .await;
    assert_eq!(doc.status, 200, "{}", doc.text);
    let base = doc.body["servers"][0]["url"].as_str().unwrap_or("/app/v1");
    let mut missing = Vec::new();
    let mut n = 0;
    for (path, ops) in doc.body["paths"].as_object().unwrap() {
        for method in ops.as_object().unwrap().keys() {
            let Ok(method) = Method::from_bytes(method.to_ascii_uppercase().as_bytes()) else {
                continue;
            };
            if !["GET", "PUT", "POST", "PATCH", "DELETE"].contains(&method.as_str()) {
                continue;
            }
            n += 1;
            let (_, concrete_path) = concrete(&format!("{method} {base}{path}"));
            let a = g
                .call(method.clone(), &concrete_path, Auth::None, None)
                .await;
            if !(a.status == 403 && a.is_gateway_message()) {
                missing.push(format!("{method} {base}{path}: {} {}", a.status, a.text));
            }
        }
    }
    assert!(n >= 10, "openapi.json lists only {n} operations");
    assert!(
        missing.is_empty(),
        "application API operations without a route:\n  {}",
        missing.join("\n  ")
    );
}

/// One tenant across the functions: the store (a client made by `app-settings` is read by
/// `oauth-token`; a user made by `users-create` is found by `app-directory` and closed by
/// `app-contacts`; an entitlement defined by `app-catalog` is read by `catalog-read` and
/// checked by `users-patch`) and the signing key (an access token `oauth-token` signs opens
/// `users-list`; after `app-settings` revokes the client it no longer gets one).
#[tokio::test]
#[ignore = "needs lambda-gateway (tests/run.sh starts it and runs this by name)"]
async fn the_functions_share_the_tenant_store_and_signing_key() {
    let g = gateway();
    let key = Auth::Bearer(&g.app_key);
    let made = g
        .call(
            Method::POST,
            "/app/v1/clients",
            key,
            Some(&json!({"name": "lambda-gateway test"})),
        )
        .await;
    assert_eq!(made.status, 201, "{}", made.text);
    let id = made.body["clientId"].as_str().unwrap().to_string();
    let secret = made.body["clientSecret"].as_str().unwrap().to_string();
    let token = |id: String, secret: String| {
        let g = &g;
        async move {
            let resp = g
                .client
                .post(format!("{}/oauth2/token", g.origin))
                .form(&[
                    ("grant_type", "client_credentials"),
                    ("client_id", id.as_str()),
                    ("client_secret", secret.as_str()),
                ])
                .send()
                .await
                .unwrap();
            let status = resp.status().as_u16();
            let body: Value =
                serde_json::from_str(&resp.text().await.unwrap()).unwrap_or(Value::Null);
            (status, body)
        }
    };
    let (status, issued) = token(id.clone(), secret.clone()).await;
    assert_eq!(status, 200, "{issued}");
    let access = issued["access_token"].as_str().unwrap().to_string();
    let listed = g
        .call(
            Method::GET,
            "/scim/v2/Users?count=1",
            Auth::Bearer(&access),
            None,
        )
        .await;
    assert_eq!(listed.status, 200, "{}", listed.text);

    let name = format!(
        "gateway-{}@contoso.example",
        &scim_service::auth::generate_token().unwrap()[..10]
    );
    let user = g
        .call(
            Method::POST,
            "/scim/v2/Users",
            Auth::Bearer(&g.token),
            Some(&json!({"userName": name, "emails": [{"value": name, "primary": true}]})),
        )
        .await;
    assert_eq!(user.status, 201, "{}", user.text);
    let uid = user.body["id"].as_str().unwrap().to_string();
    let found = g
        .call(
            Method::GET,
            &format!("/app/v1/signin?upn={name}"),
            Auth::Bearer(&g.app_key),
            None,
        )
        .await;
    assert_eq!(found.status, 200, "{}", found.text);
    assert_eq!(found.body["id"], uid.as_str());
    let end = g
        .call(
            Method::PUT,
            &format!("/app/v1/users/{uid}/end-date"),
            Auth::Bearer(&g.app_key),
            Some(&json!({"endDate": "2099-12-31T17:00:00Z"})),
        )
        .await;
    assert!(end.status < 300, "{}", end.text);
    let read = g
        .call(
            Method::GET,
            &format!("/scim/v2/Users/{uid}"),
            Auth::Bearer(&access),
            None,
        )
        .await;
    assert_eq!(read.status, 200, "{}", read.text);
    assert!(read.text.contains("2099-12-31T17:00:00Z"), "{}", read.text);
    let cleared = g
        .call(
            Method::DELETE,
            &format!("/app/v1/users/{uid}/end-date"),
            Auth::Bearer(&g.app_key),
            None,
        )
        .await;
    assert!(cleared.status < 300, "{}", cleared.text);
    // The catalog: defined by `app-catalog`, read by `catalog-read`, checked by
    // `users-patch`; then removed again (the tenant is shared with the other checks).
    let defined = g
        .call(
            Method::PUT,
            "/app/v1/entitlements",
            Auth::Bearer(&g.app_key),
            Some(&json!({"entitlements": [{"id": "gw-seat", "displayName": "Seat", "type": "License"}]})),
        )
        .await;
    assert_eq!(defined.status, 200, "{}", defined.text);
    let seat = g
        .call(
            Method::GET,
            "/scim/v2/Entitlements/gw-seat",
            Auth::Bearer(&access),
            None,
        )
        .await;
    assert_eq!(seat.status, 200, "{}", seat.text);
    assert_eq!(seat.body["displayName"], "Seat");
    for (value, status) in [("gw-seat", 200), ("gw-other", 400)] {
        let granted = g
            .call(
                Method::PATCH,
                &format!("/scim/v2/Users/{uid}"),
                Auth::Bearer(&g.token),
                Some(&json!({"Operations": [{"op": "add", "path": "entitlements", "value": [{"value": value}]}]})),
            )
            .await;
        assert_eq!(granted.status, status, "{value}: {}", granted.text);
    }
    let removed = g
        .call(
            Method::PUT,
            "/app/v1/entitlements",
            Auth::Bearer(&g.app_key),
            Some(&json!({"entitlements": []})),
        )
        .await;
    assert_eq!(removed.status, 200, "{}", removed.text);
    let deleted = g
        .call(
            Method::DELETE,
            &format!("/scim/v2/Users/{uid}"),
            Auth::Bearer(&g.token),
            None,
        )
        .await;
    assert_eq!(deleted.status, 204, "{}", deleted.text);

    let revoked = g
        .call(
            Method::DELETE,
            &format!("/app/v1/clients/{id}"),
            Auth::Bearer(&g.app_key),
            None,
        )
        .await;
    assert!(revoked.status < 300, "{}", revoked.text);
    let (status, refused) = token(id, secret).await;
    assert!(status == 400 || status == 401, "{status} {refused}");
    assert_eq!(refused["error"], "invalid_client");
}
