//! Fixtures for the whole-request benchmarks (`benches/handler.rs`): the shared handler
//! over the embedded DynamoDB engine, Entra-style request bodies, and a canned store that
//! answers from memory so the service's own time can be told apart from the store's.
//!
//! The canned store is a benchmark instrument only: it keeps nothing, checks nothing and
//! must never be used to test behaviour (the one store is `scim_aws::DynamoStore`).

use http::Method;
use scim_aws::DynamoStore;
use scim_core::patch::Member;
use scim_core::resource::{normalize_resource, Meta};
use scim_core::schema::ResourceKind;
use scim_service::auth::TokenSet;
use scim_service::http::{handle, App, HttpConfig, ScimRequest, ScimResponse};
use scim_service::port::{
    Audit, ListPage, ListRequest, Store, StoreResult, Stored, Tombstone, Update,
};
use scim_service::settings::{ClientKind, SettingsStore, TenantSettings};
use scim_test_support::engine::{Engine, Stream};
use scim_test_support::request::scim_request;
use serde_json::{json, Value};

pub const TENANT: &str = "bench";
pub const TOKEN: &str = "bench-token-0123456789abcdef0123456789abcdef";
pub const TABLE: &str = "scim-bench";

/// A request as API Gateway or the local server hands it to `handle`, with the bench's
/// token.
pub fn request(method: Method, path_and_query: &str, body: Option<&Value>) -> ScimRequest {
    scim_request(method, path_and_query, TOKEN, body)
}

/// The user Entra ID creates with its default attribute mappings (plus the enterprise
/// extension's department and manager).
pub fn entra_user(user_name: &str) -> Value {
    json!({
        "schemas": [
            "urn:ietf:params:scim:schemas:core:2.0:User",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
        ],
        "externalId": format!("ext-{user_name}"),
        "userName": user_name,
        "active": true,
        "displayName": "Barbara Jensen",
        "title": "Tour Guide",
        "preferredLanguage": "en-US",
        "emails": [{"primary": true, "type": "work", "value": user_name}],
        "name": {"formatted": "Barbara Jensen", "familyName": "Jensen", "givenName": "Barbara"},
        "addresses": [{"type": "work", "formatted": "100 Universal City Plaza", "streetAddress": "100 Universal City Plaza",
                       "locality": "Hollywood", "region": "CA", "postalCode": "91608", "country": "US", "primary": true}],
        "phoneNumbers": [{"type": "work", "value": "555-555-5555"}, {"type": "mobile", "value": "555-555-4444"}],
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
            "employeeNumber": "701984",
            "department": "Tour Operations",
            "manager": {"value": "26118915-6090-4610-87e4-49d8ca9f808d"}
        }
    })
}

/// Entra ID's five-operation PATCH; `i` varies the values so every call changes the user.
pub fn entra_patch(i: u64) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [
            {"op": "Replace", "path": "active", "value": if i % 2 == 0 { "False" } else { "True" }},
            {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": format!("barbara.{i}@example.com")},
            {"op": "Replace", "value": {"name.givenName": "Barb", "name.familyName": format!("Jensen-{i}")}},
            {"op": "Add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
             "value": "b2f7e0a7-1d0c-4b4c-9f8a-2c3e5d6f7a8b"},
            {"op": "Replace", "path": "title", "value": format!("Guide {i}")}
        ]
    })
}

fn http_config() -> HttpConfig {
    HttpConfig {
        base_url: Some("http://127.0.0.1:8080/scim/v2".into()),
        realm: "scim-bench".into(),
        tenant: Some(TENANT.into()),
        async_requests: Default::default(),
    }
}

/// The handler over the embedded engine, with its own Tokio runtime.
pub struct Embedded {
    pub rt: tokio::runtime::Runtime,
    pub app: App<DynamoStore, TokenSet>,
    pub client: aws_sdk_dynamodb::Client,
    _engine: Engine,
}

/// Which Tokio runtime the benchmark drives: `BENCH_RT=current` runs the handler, the SDK's
/// connections and the engine on one thread; the default is a two-worker runtime like the
/// local server's.
pub fn runtime() -> tokio::runtime::Runtime {
    let current = std::env::var("BENCH_RT").is_ok_and(|v| v == "current");
    let built = if current {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
    };
    match built {
        Ok(rt) => rt,
        Err(e) => panic!("tokio runtime: {e}"),
    }
}

impl Embedded {
    pub fn start() -> Result<Embedded, String> {
        let rt = runtime();
        let (engine, client) = rt.block_on(async {
            let engine = Engine::at(None, None).await?;
            // No stream: the engine would write each stream record inside the measured
            // request, which DynamoDB does not charge a deployed function for.
            let table = engine.table(TABLE, Stream::Off).await?;
            Ok::<_, String>((engine, table.client))
        })?;
        let app = App {
            gate: Default::default(),
            store: DynamoStore::new(client.clone(), TABLE),
            auth: TokenSet::new().with(TOKEN, TENANT),
            config: http_config(),
        };
        Ok(Embedded {
            rt,
            app,
            client,
            _engine: engine,
        })
    }

    pub fn run(&self, req: ScimRequest) -> ScimResponse {
        self.rt.block_on(handle(&self.app, req))
    }

    /// Runs a request that must answer `status`; returns the body.
    pub fn expect(&self, req: ScimRequest, status: u16) -> Result<Value, String> {
        let what = format!("{} {}", req.method, req.path);
        let r = self.run(req);
        if r.status.as_u16() != status {
            return Err(format!(
                "{what}: {} (wanted {status}): {}",
                r.status,
                String::from_utf8_lossy(&r.body)
            ));
        }
        Ok(serde_json::from_slice(&r.body).unwrap_or(Value::Null))
    }

    pub fn create_user(&self, user_name: &str) -> Result<String, String> {
        let body = self.expect(
            request(Method::POST, "/scim/v2/Users", Some(&entra_user(user_name))),
            201,
        )?;
        Ok(body["id"].as_str().unwrap_or_default().to_string())
    }

    pub fn create_group(&self, name: &str) -> Result<String, String> {
        let body = self.expect(
            request(
                Method::POST,
                "/scim/v2/Groups",
                Some(&json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": name})),
            ),
            201,
        )?;
        Ok(body["id"].as_str().unwrap_or_default().to_string())
    }
}

/// A store that answers every read with the same canned user or group and accepts every
/// write without doing anything: the handler's time minus the store's I/O.
#[derive(Clone)]
pub struct CannedStore {
    pub user: Stored,
    pub group: Stored,
}

impl CannedStore {
    pub fn new() -> Result<CannedStore, String> {
        let meta = Meta {
            created: "2026-01-01T00:00:00Z".into(),
            last_modified: "2026-01-01T00:00:00Z".into(),
            version: 3,
        };
        let user = normalize_resource(ResourceKind::User, &entra_user("bjensen@example.com"))
            .map_err(|e| e.detail.clone())?;
        let group = normalize_resource(
            ResourceKind::Group,
            &json!({"displayName": "Tour Guides", "externalId": "g-1"}),
        )
        .map_err(|e| e.detail.clone())?;
        Ok(CannedStore {
            user: Stored {
                id: "0190a000-0000-7000-8000-000000000001".into(),
                doc: user,
                meta: meta.clone(),
                password_hash: None,
            },
            group: Stored {
                id: "0190a000-0000-7000-8000-000000000002".into(),
                doc: group,
                meta,
                password_hash: None,
            },
        })
    }

    fn of(&self, kind: ResourceKind) -> &Stored {
        match kind {
            ResourceKind::User => &self.user,
            ResourceKind::Group => &self.group,
        }
    }

    pub fn app(self) -> App<CannedStore, TokenSet> {
        App {
            gate: Default::default(),
            store: self,
            auth: TokenSet::new().with(TOKEN, TENANT),
            config: http_config(),
        }
    }
}

/// Provisioning is always on and usage goes nowhere: the handler's own CPU work only.
impl SettingsStore for CannedStore {
    async fn settings(&self, _t: &str) -> StoreResult<TenantSettings> {
        Ok(TenantSettings::default())
    }
    async fn set_provisioning_enabled(
        &self,
        _t: &str,
        _enabled: bool,
        _at: &str,
    ) -> StoreResult<TenantSettings> {
        Ok(TenantSettings::default())
    }
    async fn record_usage(
        &self,
        _t: &str,
        _token: &str,
        _client: ClientKind,
        _at: &str,
    ) -> StoreResult<TenantSettings> {
        Ok(TenantSettings::default())
    }
}

impl Store for CannedStore {
    async fn catalog(
        &self,
        _t: &str,
        _kind: scim_core::schema::CatalogKind,
    ) -> StoreResult<Vec<scim_core::catalog::CatalogEntry>> {
        Ok(Vec::new())
    }

    async fn catalog_entry(
        &self,
        _t: &str,
        _kind: scim_core::schema::CatalogKind,
        _id: &str,
    ) -> StoreResult<Option<scim_core::catalog::CatalogEntry>> {
        Ok(None)
    }

    async fn get(&self, _t: &str, kind: ResourceKind, id: &str) -> StoreResult<Option<Stored>> {
        let mut s = self.of(kind).clone();
        s.id = id.to_string();
        Ok(Some(s))
    }

    async fn members(&self, _t: &str, _g: &str, _limit: usize) -> StoreResult<Option<Vec<Member>>> {
        Ok(Some(Vec::new()))
    }

    async fn groups_of(&self, _t: &str, _u: &str) -> StoreResult<Vec<String>> {
        Ok(Vec::new())
    }

    async fn list(
        &self,
        _t: &str,
        kind: ResourceKind,
        request: &ListRequest<'_>,
    ) -> StoreResult<ListPage> {
        let n = if request.filter.is_some() {
            1
        } else {
            request.count as usize
        };
        Ok(ListPage {
            items: vec![self.of(kind).clone(); n],
            total: n as u64,
            next_cursor: None,
        })
    }

    async fn create(
        &self,
        _t: &str,
        _k: ResourceKind,
        _r: &Stored,
        _m: &[Member],
        _a: &Audit,
    ) -> StoreResult<()> {
        Ok(())
    }

    async fn update(&self, _t: &str, _change: Update<'_>) -> StoreResult<()> {
        Ok(())
    }

    async fn delete(&self, _t: &str, _k: ResourceKind, _b: &Stored, _a: &Audit) -> StoreResult<()> {
        Ok(())
    }

    async fn finish_delete(&self, _t: &str, _k: ResourceKind, _id: &str) -> StoreResult<()> {
        Ok(())
    }

    async fn tombstone(
        &self,
        _t: &str,
        _id: &str,
        _now: time::OffsetDateTime,
    ) -> StoreResult<Option<Tombstone>> {
        Ok(None)
    }

    async fn restore(
        &self,
        _t: &str,
        _tomb: &Tombstone,
        _after: &Stored,
        _a: &Audit,
    ) -> StoreResult<()> {
        Ok(())
    }

    async fn clear_inactive_email(&self, _t: &str, _e: &str, _h: &str) -> StoreResult<()> {
        Ok(())
    }

    async fn accept_job(
        &self,
        _job: &scim_service::jobs::Job,
        _at: time::OffsetDateTime,
    ) -> StoreResult<()> {
        Ok(())
    }

    async fn job(
        &self,
        _t: &str,
        _txn: &str,
    ) -> StoreResult<Option<scim_service::jobs::JobRecord>> {
        Ok(None)
    }

    async fn finish_job(&self, _t: &str, _txn: &str, _sets: &[String]) -> StoreResult<()> {
        Ok(())
    }
}
