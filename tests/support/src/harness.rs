//! Starts the real service in-process over a real DynamoDB-compatible engine and talks to it
//! over HTTP, exactly as Entra ID or Okta would.
//!
//! Backend: the embedded engine (dynoxide, one per test) by default; Amazon's DynamoDB
//! Local when `SCIM_TEST_DYNAMODB_ENDPOINT` is set (by `with-dynamodb-local`). Every test
//! gets its own table ([`Table::new`]), so tests never see each other's data.

pub use crate::engine::backend_name;
use crate::engine::Table;
pub use crate::query::{q, q20};
use reqwest::{Method, StatusCode};
use scim_aws::{Calls, DynamoStore};
use scim_service::http::{App, HttpConfig};
use serde_json::Value;
use std::sync::Arc;

pub const TENANT: &str = "tenant-a";

pub struct Server {
    pub base: String,
    pub token: String,
    /// The application API's key (`/app/v1`, as the local server prints it).
    pub app_key: String,
    pub store: DynamoStore,
    pub client: reqwest::Client,
    /// The DynamoDB endpoint (the embedded engine's, or DynamoDB Local's).
    pub endpoint: String,
    _engine: Option<Arc<scim_local::Embedded>>,
}

/// A response as the tests read it.
#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn id(&self) -> String {
        self.body["id"].as_str().unwrap_or_default().to_string()
    }

    /// Asserts the status and, for errors, that the body is a SCIM error with that status.
    #[track_caller]
    pub fn expect(&self, status: u16) -> &Self {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected status; body: {}",
            self.text
        );
        if status >= 400 {
            assert_eq!(
                self.body["status"],
                status.to_string(),
                "error body: {}",
                self.text
            );
            assert_eq!(
                self.body["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:Error",
                "error body: {}",
                self.text
            );
        }
        self
    }

    #[track_caller]
    pub fn scim_type(&self) -> &str {
        self.body["scimType"].as_str().unwrap_or("")
    }
}

impl Server {
    pub async fn start() -> Server {
        Self::start_with(|_| {}).await
    }

    /// A deployed stack when `SCIM_BASE_URL` and `SCIM_TOKEN` are set (the smoke test),
    /// else the in-process server. Only HTTP-level tests may use a remote server: its
    /// `store` points nowhere.
    pub async fn start_remote_or_local() -> Server {
        match (std::env::var("SCIM_BASE_URL"), std::env::var("SCIM_TOKEN")) {
            (Ok(base), Ok(token)) if !base.is_empty() && !token.is_empty() => {
                let client = scim_local::local_client("http://127.0.0.1:9").await;
                Server {
                    base: base.trim_end_matches('/').to_string(),
                    token,
                    app_key: String::new(),
                    store: DynamoStore::new(client, "remote-stack-store-unavailable"),
                    client: reqwest::Client::new(),
                    endpoint: String::new(),
                    _engine: None,
                }
            }
            _ => Self::start().await,
        }
    }

    pub async fn start_with(configure: impl FnOnce(&mut HttpConfig)) -> Server {
        Self::start_on(Table::new("scim-test").await, configure).await
    }

    /// The server over this table (the scale test's has no stream, say).
    pub async fn start_on(table: Table, configure: impl FnOnce(&mut HttpConfig)) -> Server {
        let store = table.store();
        Self::start_with_store(table, store, configure).await
    }

    /// The server over `store`, a store of `table` built another way (through the fault
    /// proxy, say).
    pub async fn start_with_store(
        table: Table,
        store: DynamoStore,
        configure: impl FnOnce(&mut HttpConfig),
    ) -> Server {
        let token = scim_local::generate_token().expect("token");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let base = format!("http://{addr}/scim/v2");
        let mut config = HttpConfig {
            base_url: None,
            realm: "scim-test".into(),
            tenant: Some(TENANT.into()),
            async_requests: Default::default(),
        };
        // Asynchronous requests run by the local server's task, over the same store.
        config.async_requests = scim_local::jobs::start(store.clone(), &config).expect("jobs");
        configure(&mut config);
        let gate = std::sync::Arc::new(scim_service::settings::Gate::default());
        let tokens = scim_local::tokens::LocalTokens::new(TENANT, &token, None)
            .with_fixed("other-tenant-token", "tenant-b");
        let app_key = scim_local::generate_token().expect("app key");
        let api = scim_service::app::AppApi {
            store: store.clone(),
            tokens: tokens.clone(),
            gate: gate.clone(),
            config: scim_service::app::AppConfig {
                tenant: TENANT.into(),
                tenant_url: base.clone(),
                token_endpoint: None,
                key: Some(scim_service::auth::digest(&app_key)),
            },
        };
        let app = App {
            gate,
            store: store.clone(),
            auth: tokens,
            config,
        };
        tokio::spawn(async move {
            let _ = scim_local::serve_with_app(listener, app, api).await;
        });
        Server {
            base,
            token,
            app_key,
            store,
            client: reqwest::Client::new(),
            endpoint: table.endpoint,
            _engine: table.engine,
        }
    }

    pub fn calls(&self) -> Calls {
        self.store.calls()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// The application API's base URL (`http://host/app/v1`).
    pub fn app_base(&self) -> String {
        format!("{}/app/v1", self.base.trim_end_matches("/scim/v2"))
    }

    /// A request to the application API with the application key.
    pub async fn app(&self, method: Method, path: &str, body: Option<&Value>) -> Resp {
        let mut req = self
            .client
            .request(method, format!("{}{}", self.app_base(), path))
            .header("Authorization", format!("Bearer {}", self.app_key));
        if let Some(b) = body {
            req = req
                .header("Content-Type", "application/json")
                .body(serde_json::to_vec(b).expect("json"));
        }
        read(req.send().await.expect("request")).await
    }

    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Resp {
        let mut req = self
            .client
            .request(method, self.url(path))
            .header("Authorization", format!("Bearer {}", self.token));
        if let Some(b) = body {
            req = req
                .header("Content-Type", "application/scim+json")
                .body(serde_json::to_vec(b).expect("json"));
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().await.expect("request");
        read(resp).await
    }

    /// Sends exactly these bytes with exactly these headers (no Authorization added).
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Resp {
        let mut req = self.client.request(method, self.url(path)).body(body);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        read(req.send().await.expect("request")).await
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.send(Method::GET, path, None, &[]).await
    }
    pub async fn post(&self, path: &str, body: &Value) -> Resp {
        self.send(Method::POST, path, Some(body), &[]).await
    }
    pub async fn put(&self, path: &str, body: &Value) -> Resp {
        self.send(Method::PUT, path, Some(body), &[]).await
    }
    pub async fn patch(&self, path: &str, body: &Value) -> Resp {
        self.send(Method::PATCH, path, Some(body), &[]).await
    }
    pub async fn delete(&self, path: &str) -> Resp {
        self.send(Method::DELETE, path, None, &[]).await
    }

    /// Creates a user with this userName and returns its id.
    pub async fn user(&self, user_name: &str) -> String {
        let r = self
            .post(
                "/Users",
                &serde_json::json!({
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                    "userName": user_name,
                    "active": true,
                }),
            )
            .await;
        r.expect(201);
        r.id()
    }

    pub async fn group(&self, display_name: &str) -> String {
        let r = self
            .post(
                "/Groups",
                &serde_json::json!({
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                    "displayName": display_name,
                }),
            )
            .await;
        r.expect(201);
        r.id()
    }

    /// The member ids of a group, sorted.
    pub async fn member_ids(&self, group: &str) -> Vec<String> {
        let r = self.get(&format!("/Groups/{group}")).await;
        r.expect(200);
        let mut ids: Vec<String> = r.body["members"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|m| m["value"].as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        ids.sort();
        ids
    }
}

/// Reads a response whole.
pub async fn read(resp: reqwest::Response) -> Resp {
    let status = resp.status();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Resp {
        status,
        headers,
        body,
        text,
    }
}

/// The `id` of every resource of a list response, in the order returned.
pub fn ids(list: &Resp) -> Vec<String> {
    list.body["Resources"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|r| r["id"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

impl Server {
    /// `GET /Users?filter=<filter>` (Entra-style encoding), asserted 200.
    pub async fn users_where(&self, filter: &str) -> Resp {
        let r = self.get(&format!("/Users?filter={}", q(filter))).await;
        r.expect(200);
        r
    }

    /// `GET /Groups?filter=<filter>&excludedAttributes=members` as Entra ID sends it,
    /// asserted 200.
    pub async fn groups_where(&self, filter: &str) -> Resp {
        let r = self
            .get(&format!(
                "/Groups?filter={}&excludedAttributes=members",
                q(filter)
            ))
            .await;
        r.expect(200);
        r
    }

    /// Creates a user from this body and returns its id.
    pub async fn user_from(&self, body: &Value) -> String {
        let r = self.post("/Users", body).await;
        r.expect(201);
        r.id()
    }
}
