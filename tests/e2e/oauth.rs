//! OAuth 2.0 beside the bearer token: the tenant's token endpoint over HTTP (client
//! credentials with `client_secret_basic` and `client_secret_post`, Entra's workload
//! identity federation with a client assertion from a loopback stand-in for Entra's
//! issuer), the access tokens every SCIM route accepts, and every refusal — on both
//! engines (the clients and replay markers live in the table).

use reqwest::{Method, StatusCode};
use scim_aws::DynamoStore;
use scim_service::http::App;
use scim_service::oauth::keys::{KeySet, OAuthAuthenticator, SigningKey};
use scim_test_support::engine::Table;
use scim_test_support::entra_issuer::{self, EntraIssuer, AUDIENCE, ENTRA_TENANT, SUBJECT};
use serde_json::{json, Value};
use std::sync::Arc;

const TENANT: &str = "tenant-a";

struct OAuthServer {
    root: String,
    bearer: String,
    app_key: String,
    store: DynamoStore,
    client: reqwest::Client,
    issuer: Arc<EntraIssuer>,
    keys: Arc<KeySet>,
    _table: Table,
}

#[derive(Debug)]
struct Reply {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    body: Value,
    text: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts an RFC 6749 §5.2 error.
    #[track_caller]
    fn oauth_error(&self, status: u16, code: &str) -> &Reply {
        assert_eq!(self.status.as_u16(), status, "{}", self.text);
        assert_eq!(self.body["error"], code, "{}", self.text);
        assert!(self.body["error_description"].is_string(), "{}", self.text);
        assert_eq!(self.header("cache-control"), Some("no-store"));
        if status == 401 {
            assert!(
                self.header("www-authenticate")
                    .is_some_and(|h| h.starts_with("Basic ")),
                "401 without WWW-Authenticate"
            );
        }
        self
    }
}

async fn reply(r: reqwest::Response) -> Reply {
    let status = r.status();
    let headers = r.headers().clone();
    let text = r.text().await.unwrap();
    Reply {
        status,
        headers,
        body: serde_json::from_str(&text).unwrap_or(Value::Null),
        text,
    }
}

impl OAuthServer {
    async fn start() -> OAuthServer {
        let issuer = Arc::new(EntraIssuer::start().await);
        let keys = Arc::new(KeySet::new(SigningKey::generate().unwrap()));
        Self::start_with(TENANT, issuer, keys).await
    }

    /// A server for `tenant` with these signing keys, trusting this Entra stand-in.
    async fn start_with(tenant: &str, issuer: Arc<EntraIssuer>, keys: Arc<KeySet>) -> OAuthServer {
        let table = Table::new("scim-oauth").await;
        let store = table.store();
        let bearer = scim_local::generate_token().unwrap();
        let app_key = scim_local::generate_token().unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let root = format!("http://{}", listener.local_addr().unwrap());
        let base = format!("{root}/scim/v2");
        let gate = Arc::new(scim_service::settings::Gate::default());
        let tokens = scim_local::tokens::LocalTokens::new(tenant, &bearer, None);
        let api = scim_service::app::AppApi {
            store: store.clone(),
            tokens: tokens.clone(),
            gate: gate.clone(),
            config: scim_service::app::AppConfig {
                tenant: tenant.into(),
                tenant_url: base.clone(),
                token_endpoint: None,
                key: Some(scim_service::auth::digest(&app_key)),
            },
        };
        let mut oauth = scim_service::oauth::OAuthConfig::new(tenant, 3600).unwrap();
        oauth.base_url = Some(base.clone());
        let endpoint = scim_local::LocalTokenEndpoint {
            store: store.clone(),
            jwks: scim_service::oauth::federation::Jwks::new(
                scim_aws::https::JwksFetch {
                    client: scim_aws::https::HttpClient::new().unwrap(),
                    timeout: std::time::Duration::from_secs(3),
                },
                &issuer.login_url,
            ),
            keys: Arc::clone(&keys),
            config: oauth,
            lockout: Default::default(),
        };
        let app = App {
            gate,
            store: store.clone(),
            auth: OAuthAuthenticator {
                bearer: tokens,
                keys: Arc::clone(&keys),
            },
            config: scim_service::http::HttpConfig {
                base_url: None,
                realm: "scim-test".into(),
                tenant: Some(tenant.into()),
                async_requests: Default::default(),
            },
        };
        tokio::spawn(async move {
            let _ = scim_local::serve_full(listener, app, api, endpoint).await;
        });
        OAuthServer {
            root,
            bearer,
            app_key,
            store,
            client: reqwest::Client::new(),
            issuer,
            keys,
            _table: table,
        }
    }

    async fn app(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        let mut req = self
            .client
            .request(method, format!("{}/app/v1{path}", self.root))
            .bearer_auth(&self.app_key);
        if let Some(b) = body {
            req = req.json(&b);
        }
        reply(req.send().await.unwrap()).await
    }

    /// A secret client: (id, secret).
    async fn secret_client(&self) -> (String, String) {
        let r = self
            .app(
                Method::POST,
                "/clients",
                Some(json!({"name": "Entra gallery"})),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        (
            r.body["clientId"].as_str().unwrap().to_string(),
            r.body["clientSecret"].as_str().unwrap().to_string(),
        )
    }

    async fn federated_client(&self) -> String {
        let r = self
            .app(
                Method::POST,
                "/clients",
                Some(json!({"type": "federated", "entraTenantId": ENTRA_TENANT,
                            "subject": SUBJECT, "audience": AUDIENCE})),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        assert!(r.body.get("clientSecret").is_none());
        r.body["clientId"].as_str().unwrap().to_string()
    }

    /// `POST /oauth2/token` with this form and optional Basic credentials.
    async fn token(&self, form: &[(&str, &str)], basic: Option<(&str, &str)>) -> Reply {
        let mut req = self
            .client
            .post(format!("{}/oauth2/token", self.root))
            .form(form);
        if let Some((id, secret)) = basic {
            req = req.basic_auth(id, Some(secret));
        }
        reply(req.send().await.unwrap()).await
    }

    /// Entra's documented federation request.
    async fn federate(&self, client_id: &str, assertion: &str) -> Reply {
        self.token(
            &[
                ("grant_type", "client_credentials"),
                ("client_id", client_id),
                (
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                ),
                ("client_assertion", assertion),
                ("scope", "scim"),
            ],
            None,
        )
        .await
    }

    async fn scim(&self, token: &str, method: Method, path: &str, body: Option<Value>) -> Reply {
        let mut req = self
            .client
            .request(method, format!("{}/scim/v2{path}", self.root))
            .bearer_auth(token);
        if let Some(b) = body {
            req = req
                .header("Content-Type", "application/scim+json")
                .body(b.to_string());
        }
        reply(req.send().await.unwrap()).await
    }
}

#[track_caller]
fn access_token(r: &Reply) -> String {
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["token_type"], "Bearer");
    assert_eq!(r.body["expires_in"], 3600);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    r.body["access_token"].as_str().unwrap().to_string()
}

fn user(name: &str) -> Value {
    json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": name, "active": true})
}

#[tokio::test]
async fn client_credentials_with_basic_and_post_give_tokens_every_scim_route_accepts() {
    let s = OAuthServer::start().await;
    let (id, secret) = s.secret_client().await;

    let basic = s
        .token(
            &[("grant_type", "client_credentials")],
            Some((&id, &secret)),
        )
        .await;
    let t1 = access_token(&basic);
    assert_eq!(basic.body["scope"], "scim");
    let post = s
        .token(
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &id),
                ("client_secret", &secret),
                ("scope", "scim.readwrite"),
            ],
            None,
        )
        .await;
    let t2 = access_token(&post);
    assert_eq!(post.body["scope"], "scim.readwrite");

    // The access token works on reads and writes; so does the bearer token, unchanged.
    let created = s
        .scim(&t1, Method::POST, "/Users", Some(user("oauth@contoso.com")))
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let id_u = created.body["id"].as_str().unwrap();
    for token in [&t1, &t2, &s.bearer] {
        let got = s
            .scim(token, Method::GET, &format!("/Users/{id_u}"), None)
            .await;
        assert_eq!(got.status, 200, "{}", got.text);
    }
    // The audit record names the client as the actor.
    let trail = s.store.audit_trail(TENANT, id_u).await.unwrap();
    assert_eq!(trail[0]["token"], id.as_str(), "{trail:?}");

    // The discovery document lists OAuth beside the bearer token.
    let spc = s
        .scim(&t2, Method::GET, "/ServiceProviderConfig", None)
        .await;
    let schemes = spc.body["authenticationSchemes"].as_array().unwrap();
    assert_eq!(schemes[1]["type"], "oauth2");
    assert_eq!(
        schemes[1]["documentationUri"],
        format!("{}/oauth2/token", s.root)
    );

    // The settings show when the client last called.
    let clients = s.app(Method::GET, "/clients", None).await;
    assert_eq!(
        clients.body["tokenEndpoint"],
        format!("{}/oauth2/token", s.root)
    );
    assert!(
        clients.body["clients"][0]["lastUsed"].is_string(),
        "{}",
        clients.text
    );
    assert!(!clients.text.contains(&secret), "a secret is never listed");
}

#[tokio::test]
async fn bad_token_requests_get_rfc_6749_errors() {
    let s = OAuthServer::start().await;
    let (id, secret) = s.secret_client().await;
    let cc = ("grant_type", "client_credentials");

    s.token(&[cc], None)
        .await
        .oauth_error(401, "invalid_client");
    s.token(&[cc], Some((&id, "wrong")))
        .await
        .oauth_error(401, "invalid_client");
    let unknown = s
        .token(&[cc], Some(("0123456789abcdef01234567", "x")))
        .await;
    unknown.oauth_error(401, "invalid_client");
    let wrong = s.token(&[cc], Some((&id, "wrong"))).await;
    assert_eq!(
        unknown.body["error_description"], wrong.body["error_description"],
        "an unknown client and a wrong secret are not told apart"
    );
    s.token(&[("client_id", &id), ("client_secret", &secret)], None)
        .await
        .oauth_error(400, "invalid_request");
    s.token(
        &[("grant_type", "password"), ("username", "a")],
        Some((&id, &secret)),
    )
    .await
    .oauth_error(400, "unsupported_grant_type");
    s.token(&[cc, ("scope", "admin")], Some((&id, &secret)))
        .await
        .oauth_error(400, "invalid_scope");
    s.token(&[cc, cc], Some((&id, &secret)))
        .await
        .oauth_error(400, "invalid_request");
    // Two authentication methods at once.
    s.token(
        &[cc, ("client_id", &id), ("client_secret", &secret)],
        Some((&id, &secret)),
    )
    .await
    .oauth_error(400, "invalid_request");
    // Not a form.
    let json_body = s
        .client
        .post(format!("{}/oauth2/token", s.root))
        .json(&json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .unwrap();
    reply(json_body).await.oauth_error(400, "invalid_request");
    let get = reply(
        s.client
            .get(format!("{}/oauth2/token", s.root))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(get.status, 405);
    assert_eq!(get.header("allow"), Some("POST"));
    // A huge body is refused, not read.
    let big = "a".repeat(100_000);
    s.token(&[cc, ("x", &big)], Some((&id, &secret)))
        .await
        .oauth_error(400, "invalid_request");
    // And after all that, the right secret still works (fewer than five failures).
    access_token(&s.token(&[cc], Some((&id, &secret))).await);
}

#[tokio::test]
async fn repeated_failures_lock_a_client_for_a_while() {
    let s = OAuthServer::start().await;
    let (id, secret) = s.secret_client().await;
    let cc = ("grant_type", "client_credentials");
    for _ in 0..5 {
        s.token(&[cc], Some((&id, "guess")))
            .await
            .oauth_error(401, "invalid_client");
    }
    let locked = s.token(&[cc], Some((&id, &secret))).await;
    assert_eq!(locked.status, 429, "{}", locked.text);
    assert_eq!(locked.body["error"], "invalid_client");
    let wait: u64 = locked.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=300).contains(&wait), "{wait}");
    // Another client is not affected.
    let (other, other_secret) = s.secret_client().await;
    access_token(&s.token(&[cc], Some((&other, &other_secret))).await);
}

#[tokio::test]
async fn an_expired_or_revoked_client_gets_nothing_and_its_tokens_stop() {
    let s = OAuthServer::start().await;
    let cc = ("grant_type", "client_credentials");
    // Expiry: a client whose secret expired yesterday, written as the store would hold it.
    let now = time::OffsetDateTime::now_utc();
    let old =
        scim_service::oauth::clients::new_secret_client(None, 1, now - time::Duration::days(2))
            .unwrap();
    use scim_service::oauth::clients::ClientStore;
    s.store.put_client(TENANT, &old.client).await.unwrap();
    let expired = s.token(&[cc], Some((&old.client.id, &old.secret))).await;
    expired.oauth_error(401, "invalid_client");
    assert!(expired.body["error_description"]
        .as_str()
        .unwrap()
        .contains("expired"));

    // Revocation: no new token at once, and the token already issued stops (the local
    // server's gate is the writer's, so at once here; within a minute in a stack).
    let (id, secret) = s.secret_client().await;
    let token = access_token(&s.token(&[cc], Some((&id, &secret))).await);
    assert_eq!(
        s.scim(&token, Method::GET, "/Users", None).await.status,
        200
    );
    let r = s.app(Method::DELETE, &format!("/clients/{id}"), None).await;
    assert_eq!(r.status, 204, "{}", r.text);
    s.token(&[cc], Some((&id, &secret)))
        .await
        .oauth_error(401, "invalid_client");
    let after = s.scim(&token, Method::GET, "/Users", None).await;
    assert_eq!(after.status, 401, "{}", after.text);
    assert_eq!(
        s.app(Method::DELETE, &format!("/clients/{id}"), None)
            .await
            .status,
        404
    );
    // The revocation is in the store for the other instances' gates.
    use scim_service::settings::SettingsStore;
    let settings = s.store.settings(TENANT).await.unwrap();
    assert!(settings.revoked_clients.contains(&id));
    // The bearer token is untouched.
    assert_eq!(
        s.scim(&s.bearer, Method::GET, "/Users", None).await.status,
        200
    );
}

#[tokio::test]
async fn bad_client_requests_to_the_application_api_are_problems_and_change_nothing() {
    let s = OAuthServer::start().await;
    for (body, status) in [
        (json!({"expiresInDays": 0}), 422),
        (json!({"expiresInDays": 1096}), 422),
        (json!({"expiresInDays": "365"}), 422),
        (json!({"type": "saml"}), 422),
        (
            json!({"type": "federated", "entraTenantId": "contoso", "subject": "s", "audience": "a"}),
            422,
        ),
        (
            json!({"type": "federated", "subject": "s", "audience": "a"}),
            422,
        ),
        (
            json!({"type": "federated", "entraTenantId": ENTRA_TENANT, "subject": "s", "audience": "a", "expiresInDays": 5}),
            422,
        ),
        (json!({"subject": "s"}), 422),
        (json!({"secret": "mine"}), 400),
    ] {
        let r = s.app(Method::POST, "/clients", Some(body.clone())).await;
        assert_eq!(r.status.as_u16(), status, "{body}: {}", r.text);
        assert_eq!(r.header("content-type"), Some("application/problem+json"));
    }
    assert_eq!(
        s.app(Method::DELETE, "/clients/not-a-client", None)
            .await
            .status,
        404
    );
    let list = s.app(Method::GET, "/clients", None).await;
    assert_eq!(list.body["clients"], json!([]), "nothing was created");
    // At most MAX_CLIENTS at once.
    for _ in 0..scim_service::oauth::clients::MAX_CLIENTS {
        s.secret_client().await;
    }
    let r = s.app(Method::POST, "/clients", Some(json!({}))).await;
    assert_eq!(r.status, 409, "{}", r.text);
}

#[tokio::test]
async fn entra_workload_identity_federation_gives_a_token() {
    let s = OAuthServer::start().await;
    let id = s.federated_client().await;
    let r = s.federate(&id, &s.issuer.assertion()).await;
    let token = access_token(&r);
    let created = s
        .scim(
            &token,
            Method::POST,
            "/Users",
            Some(user("wif@contoso.com")),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    // The RFC 7523 §2.1 grant form works too.
    let grant = s
        .token(
            &[
                ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
                ("client_id", &id),
                ("assertion", &s.issuer.assertion()),
            ],
            None,
        )
        .await;
    access_token(&grant);
    // The keys were fetched once for both.
    assert_eq!(s.issuer.fetches(), 1);
    // A federated client cannot use a secret, a secret client cannot federate.
    s.token(&[("grant_type", "client_credentials")], Some((&id, "x")))
        .await
        .oauth_error(401, "invalid_client");
    let (secret_id, _) = s.secret_client().await;
    s.federate(&secret_id, &s.issuer.assertion())
        .await
        .oauth_error(401, "invalid_client");
}

#[tokio::test]
async fn assertions_that_are_not_exactly_entras_are_refused() {
    let s = OAuthServer::start().await;
    let id = s.federated_client().await;
    let now = entra_issuer::now();
    let with = |k: &str, v: Value| {
        let mut c = EntraIssuer::claims(now);
        c[k] = v;
        c
    };
    let cases: Vec<(&str, String)> = vec![
        ("wrong issuer", s.issuer.sign("k1", &with("iss", json!("https://login.microsoftonline.com/00000000-0000-0000-0000-000000000000/v2.0")))),
        ("wrong audience", s.issuer.sign("k1", &with("aud", json!("api://someone-else")))),
        ("wrong subject", s.issuer.sign("k1", &with("sub", json!("another-app")))),
        ("wrong tenant", s.issuer.sign("k1", &with("tid", json!("00000000-0000-0000-0000-000000000000")))),
        ("expired", s.issuer.sign("k1", &EntraIssuer::claims(now - 4500))),
        ("not yet valid", s.issuer.sign("k1", &with("nbf", json!(now + 3000)))),
        ("too long", s.issuer.sign("k1", &with("exp", json!(now + 30 * 86_400)))),
        ("alg none", format!("{}.{}.", b64(&json!({"alg": "none", "kid": "k1"})), b64(&EntraIssuer::claims(now)))),
        ("HS256", format!("{}.{}.c2ln", b64(&json!({"alg": "HS256", "kid": "k1"})), b64(&EntraIssuer::claims(now)))),
        ("no kid", s.issuer.sign_as("k1", &json!({"alg": "RS256"}), &EntraIssuer::claims(now))),
        ("garbage", "not-a-jwt".to_string()),
    ];
    for (why, assertion) in &cases {
        let r = s.federate(&id, assertion).await;
        assert_eq!(r.status, 401, "{why}: {}", r.text);
        assert_eq!(r.body["error"], "invalid_client", "{why}");
    }
    // A key Microsoft never published (a forgery), and the same through the RFC 7523
    // grant, which answers invalid_grant.
    s.issuer.add_key("forged", false);
    let forged = s.issuer.sign("forged", &EntraIssuer::claims(now));
    s.federate(&id, &forged)
        .await
        .oauth_error(401, "invalid_client");
    let grant = s
        .token(
            &[
                ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
                ("client_id", &id),
                ("assertion", &forged),
            ],
            None,
        )
        .await;
    grant.oauth_error(400, "invalid_grant");
    // A kid signed by k1's key but naming k2 does not verify either.
    s.issuer.add_key("k2", true);
    let mislabelled = s.issuer.sign_as(
        "k1",
        &json!({"alg": "RS256", "kid": "k2"}),
        &EntraIssuer::claims(now),
    );
    // (k2 is unknown to the cache until a re-fetch is allowed; either way: refused.)
    s.federate(&id, &mislabelled)
        .await
        .oauth_error(401, "invalid_client");
}

fn b64(v: &Value) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
}

#[tokio::test]
async fn a_replayed_assertion_is_refused() {
    let s = OAuthServer::start().await;
    let id = s.federated_client().await;
    let assertion = s.issuer.assertion();
    access_token(&s.federate(&id, &assertion).await);
    let again = s.federate(&id, &assertion).await;
    again.oauth_error(401, "invalid_client");
    assert!(again.body["error_description"]
        .as_str()
        .unwrap()
        .contains("already used"));
    // A fresh assertion is fine.
    access_token(&s.federate(&id, &s.issuer.assertion()).await);
}

#[tokio::test]
async fn entra_key_rotation_is_followed_and_unknown_kids_refetch_within_bounds() {
    let s = OAuthServer::start().await;
    let id = s.federated_client().await;
    access_token(&s.federate(&id, &s.issuer.assertion()).await);
    assert_eq!(s.issuer.fetches(), 1);
    // Microsoft publishes a new key and signs with it: one re-fetch is allowed (the first
    // fetch was less than five minutes ago, so the new kid is refused for now...)
    s.issuer.add_key("k2", true);
    let with_k2 = s
        .issuer
        .sign("k2", &EntraIssuer::claims(entra_issuer::now()));
    s.federate(&id, &with_k2)
        .await
        .oauth_error(401, "invalid_client");
    // ...and a flood of unknown kids does not hammer Microsoft.
    for _ in 0..5 {
        let forged = s.issuer.sign_as(
            "k2",
            &json!({"alg": "RS256", "kid": "k9"}),
            &EntraIssuer::claims(entra_issuer::now()),
        );
        s.federate(&id, &forged)
            .await
            .oauth_error(401, "invalid_client");
    }
    assert_eq!(
        s.issuer.fetches(),
        1,
        "no re-fetch within five minutes of the last"
    );
    // A new server (a cold start) fetches the rotated set and accepts k2 at once.
    let fresh = OAuthServer::start_with(TENANT, Arc::clone(&s.issuer), Arc::clone(&s.keys)).await;
    let id2 = fresh.federated_client().await;
    let with_k2 = fresh
        .issuer
        .sign("k2", &EntraIssuer::claims(entra_issuer::now()));
    access_token(&fresh.federate(&id2, &with_k2).await);
}

#[tokio::test]
async fn tokens_of_one_tenant_are_refused_by_another() {
    let a = OAuthServer::start().await;
    let (id, secret) = a.secret_client().await;
    let token = access_token(
        &a.token(
            &[("grant_type", "client_credentials")],
            Some((&id, &secret)),
        )
        .await,
    );
    // Tenant b with its own keys: the token's key is unknown there.
    let b = OAuthServer::start_with(
        "tenant-b",
        Arc::clone(&a.issuer),
        Arc::new(KeySet::new(SigningKey::generate().unwrap())),
    )
    .await;
    let r = b.scim(&token, Method::GET, "/Users", None).await;
    assert_eq!(r.status, 401, "{}", r.text);
    // Even sharing the signing key (a misconfiguration), the tenant claim is checked.
    let c = OAuthServer::start_with("tenant-c", Arc::clone(&a.issuer), Arc::clone(&a.keys)).await;
    let r = c.scim(&token, Method::GET, "/Users", None).await;
    assert_eq!(r.status, 401, "{}", r.text);
    // And tenant a's client id means nothing to tenant b's token endpoint.
    b.token(
        &[("grant_type", "client_credentials")],
        Some((&id, &secret)),
    )
    .await
    .oauth_error(401, "invalid_client");
}

#[tokio::test]
async fn a_rotated_signing_key_keeps_issued_tokens_valid() {
    let issuer = Arc::new(EntraIssuer::start().await);
    let k1 = Arc::new(KeySet::new(SigningKey::generate().unwrap()));
    let s1 = OAuthServer::start_with(TENANT, Arc::clone(&issuer), Arc::clone(&k1)).await;
    let (id, secret) = s1.secret_client().await;
    let before = access_token(
        &s1.token(
            &[("grant_type", "client_credentials")],
            Some((&id, &secret)),
        )
        .await,
    );
    // The same tenant after a rotation (a new cold start reads the rotated secret).
    let k2 = Arc::new(k1.rotated(
        SigningKey::generate().unwrap(),
        time::OffsetDateTime::now_utc(),
    ));
    let s2 = OAuthServer::start_with(TENANT, issuer, k2).await;
    assert_eq!(
        s2.scim(&before, Method::GET, "/Users", None).await.status,
        200
    );
    let mut tampered = before.clone();
    tampered.pop();
    tampered.push(if before.ends_with('A') { 'B' } else { 'A' });
    assert_eq!(
        s2.scim(&tampered, Method::GET, "/Users", None).await.status,
        401
    );
}

#[tokio::test(flavor = "current_thread")]
async fn nothing_secret_is_logged_at_debug_level() {
    let (capture, guard) = scim_test_support::logs::capture(tracing::Level::DEBUG);
    let s = OAuthServer::start().await;
    let (id, secret) = s.secret_client().await;
    let cc = ("grant_type", "client_credentials");
    let token = access_token(&s.token(&[cc], Some((&id, &secret))).await);
    s.token(&[cc], Some((&id, "a-wrong-secret-value"))).await;
    s.scim(&token, Method::GET, "/Users", None).await;
    let fed = s.federated_client().await;
    let assertion = s.issuer.assertion();
    let wif = access_token(&s.federate(&fed, &assertion).await);
    s.federate(&fed, &assertion).await;
    drop(guard);
    let logs = capture.text();
    assert!(
        logs.contains("token request"),
        "the capture saw the server: {logs:.400}"
    );
    for (what, value) in [
        ("client secret", secret.as_str()),
        ("wrong secret", "a-wrong-secret-value"),
        ("access token", token.as_str()),
        ("federation token", wif.as_str()),
        ("assertion", assertion.as_str()),
    ] {
        // The signature part is the secret part of a JWT; check it and the whole.
        let tail = value.rsplit('.').next().unwrap();
        assert!(!logs.contains(value), "{what} in the logs");
        assert!(!logs.contains(tail), "{what}'s signature in the logs");
    }
}

async fn admin(
    sm: &aws_sdk_secretsmanager::Client,
    ddb: &aws_sdk_dynamodb::Client,
    table: &str,
    args: &[&str],
) -> (u8, String, String) {
    let mut args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    if args
        .get(1)
        .is_some_and(|c| c.ends_with("-client") || c == "list-clients")
    {
        args.extend(["--table".to_string(), table.to_string()]);
    }
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = scim_admin::run_with(sm, Some(ddb), &args, &mut out, &mut err).await;
    (
        code,
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}

#[tokio::test]
async fn the_admin_command_makes_lists_and_revokes_clients_and_rotates_the_signing_key() {
    let s = OAuthServer::start().await;
    let moto = scim_test_support::moto::start();
    let sm = scim_test_support::aws::secrets_manager(&moto.endpoint);
    let ddb = s._table.client.clone();
    let table = s._table.name.clone();

    let (code, out, err) = admin(
        &sm,
        &ddb,
        &table,
        &[
            "oauth",
            "create-client",
            "--tenant",
            TENANT,
            "--name",
            "Entra",
            "--days",
            "30",
        ],
    )
    .await;
    assert_eq!(code, 0, "{err}");
    let made: Value = serde_json::from_str(out.trim()).unwrap();
    let (id, secret) = (
        made["clientId"].as_str().unwrap(),
        made["clientSecret"].as_str().unwrap(),
    );
    // The secret works at the token endpoint, and is never listed.
    access_token(
        &s.token(&[("grant_type", "client_credentials")], Some((id, secret)))
            .await,
    );
    let (code, out, _) = admin(
        &sm,
        &ddb,
        &table,
        &["oauth", "list-clients", "--tenant", TENANT],
    )
    .await;
    assert_eq!(code, 0);
    assert!(
        out.contains(id) && out.contains("secret") && !out.contains(secret),
        "{out}"
    );

    let (code, out, err) = admin(
        &sm,
        &ddb,
        &table,
        &[
            "oauth",
            "create-client",
            "--tenant",
            TENANT,
            "--entra-tenant",
            ENTRA_TENANT,
            "--subject",
            SUBJECT,
            "--audience",
            AUDIENCE,
        ],
    )
    .await;
    assert_eq!(code, 0, "{err}");
    let fed: Value = serde_json::from_str(out.trim()).unwrap();
    assert!(fed.get("clientSecret").is_none());
    access_token(
        &s.federate(fed["clientId"].as_str().unwrap(), &s.issuer.assertion())
            .await,
    );

    // Bad arguments are usage errors and make nothing.
    for bad in [
        &["oauth", "create-client", "--tenant", TENANT, "--days", "0"][..],
        &[
            "oauth",
            "create-client",
            "--tenant",
            TENANT,
            "--subject",
            "s",
        ][..],
        &[
            "oauth",
            "create-client",
            "--tenant",
            TENANT,
            "--entra-tenant",
            "contoso",
            "--subject",
            "s",
            "--audience",
            "a",
        ][..],
    ] {
        let (code, _, err) = admin(&sm, &ddb, &table, bad).await;
        assert_eq!(code, 2, "{bad:?}: {err}");
    }
    let (_, out, _) = admin(
        &sm,
        &ddb,
        &table,
        &["oauth", "list-clients", "--tenant", TENANT],
    )
    .await;
    assert_eq!(out.lines().count(), 3, "header + two clients: {out}");

    let (code, _, _) = admin(
        &sm,
        &ddb,
        &table,
        &[
            "oauth",
            "revoke-client",
            "--tenant",
            TENANT,
            "--client-id",
            id,
        ],
    )
    .await;
    assert_eq!(code, 0);
    s.token(&[("grant_type", "client_credentials")], Some((id, secret)))
        .await
        .oauth_error(401, "invalid_client");
    let (code, _, err) = admin(
        &sm,
        &ddb,
        &table,
        &[
            "oauth",
            "revoke-client",
            "--tenant",
            TENANT,
            "--client-id",
            id,
        ],
    )
    .await;
    assert_eq!(code, 1, "{err}");

    // Key rotation on Secrets Manager (moto), starting from the stack's generated value.
    let secret_id = "scim/tenant-a/signing-key";
    sm.create_secret()
        .name(secret_id)
        .secret_string(format!(r#"{{"key":"{}"}}"#, "g".repeat(64)))
        .send()
        .await
        .unwrap();
    let before = scim_aws::oauth::read_keys(&sm, secret_id).await.unwrap();
    let (code, out, err) = admin(
        &sm,
        &ddb,
        &table,
        &["oauth", "rotate-key", "--tenant", TENANT],
    )
    .await;
    assert_eq!(code, 0, "{err}");
    let after = scim_aws::oauth::read_keys(&sm, secret_id).await.unwrap();
    assert_ne!(after.current().kid, before.current().kid);
    assert_eq!(
        after.kids()[1],
        before.current().kid,
        "the old key still verifies"
    );
    assert!(
        out.contains(&after.current().kid) && !out.contains(&"g".repeat(64)),
        "{out}"
    );
}

/// Microsoft's `Validate_Credentials_Test` (SCIM Validation Logic App): a form-encoded
/// client-credentials request with the secret in the body and an optional scope, then
/// `GET /Users?startIndex=1&count=1` with the token; both must answer 2xx.
#[tokio::test]
async fn gallery_validate_credentials_test_passes() {
    let s = OAuthServer::start().await;
    let (id, secret) = s.secret_client().await;
    for scope in [None, Some("scim")] {
        let mut form = vec![
            ("grant_type", "client_credentials"),
            ("client_id", id.as_str()),
            ("client_secret", secret.as_str()),
        ];
        if let Some(scope) = scope {
            form.push(("scope", scope));
        }
        let token = access_token(&s.token(&form, None).await);
        let r = reply(
            s.client
                .get(format!("{}/scim/v2/Users?startIndex=1&count=1", s.root))
                .bearer_auth(&token)
                .header("Accept", "application/scim+json")
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert!(r.status.is_success(), "{scope:?}: {}", r.text);
    }
}

/// Microsoft's `Federated_Identity_Test`, generic RFC 7523 branch: an Entra access token
/// as `client_assertion`, with the Logic App's extra `baseAddress` parameter.
#[tokio::test]
async fn gallery_federated_identity_test_passes() {
    let s = OAuthServer::start().await;
    let id = s.federated_client().await;
    let assertion = s.issuer.assertion();
    let r = s
        .token(
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &id),
                ("client_assertion", &assertion),
                (
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                ),
                ("baseAddress", &format!("{}/scim/v2", s.root)),
            ],
            None,
        )
        .await;
    access_token(&r);
}
