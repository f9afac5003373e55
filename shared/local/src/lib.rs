//! The local runtime: the embedded DynamoDB engine on loopback, an SDK client for any
//! endpoint, and an HTTP server that mounts every operation on one port.
//!
//! Used by the `scim-local` binary and by the end-to-end tests; never by a Lambda function.

pub mod jobs;
pub mod stream;
pub mod tokens;

use aws_sdk_dynamodb::Client;
use bytes::Bytes;
use scim_service::app::AppApi;
use scim_service::auth::Authenticator;
use scim_service::http::{handle, App, ScimRequest};
use scim_service::port::Store;
use scim_service::settings::{SettingsStore, TokenAdmin};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

pub mod inprocess;
pub mod refusals;

pub use inprocess::InProcess;

/// The embedded engine, serving the DynamoDB API on a loopback port until dropped, and in
/// process ([`Embedded::client`]).
pub struct Embedded {
    /// The loopback endpoint: for clients in other processes or of other SDKs (the stream
    /// follower, `cargo lambda watch`'s functions, the tests' fault proxy).
    pub endpoint: String,
    /// The same engine's router, for the in-process transport.
    router: axum::Router,
    #[cfg(test)]
    db: dynoxide::Database,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Embedded {
    /// A DynamoDB client that calls the engine in this process, without a socket
    /// ([`InProcess`]): what the local server's store uses.
    pub fn client(&self) -> Client {
        sdk_client(
            InProcess::new(self.router.clone()).http_client(),
            IN_PROCESS_ENDPOINT,
        )
    }
}

/// The endpoint the in-process client names (never resolved: no request leaves the process).
const IN_PROCESS_ENDPOINT: &str = "http://dynoxide.in-process";

impl Drop for Embedded {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The index dynoxide 3.2 does not make on its stream records. With the table's stream on,
/// the engine numbers every new record with
/// `SELECT COALESCE(MAX(CAST(sequence_number AS INTEGER)), 0) + 1 FROM _stream_records
/// WHERE table_name = ?` (`Storage::next_stream_sequence_number`) and reads a shard with
/// `... WHERE table_name = ? AND shard_id = ? AND CAST(sequence_number AS INTEGER) > ?
/// ORDER BY CAST(sequence_number AS INTEGER)` (`GetRecords`); without an index each is a
/// scan of every record the table ever had (the engine never trims them), so each write got
/// slower than the last. SQLite answers both from this expression index (the `MAX` as one
/// index seek); `shard_id` makes it cover `DescribeStream`'s range query too. Pinned by the
/// `stream_index_serves_the_engines_statements_*` tests below, with dynoxide's statements
/// copied from its source (`dynoxide-rs` is pinned to that version in the workspace).
pub const STREAM_INDEX: &str = "CREATE INDEX IF NOT EXISTS scim_stream_records_seq \
     ON _stream_records (table_name, CAST(sequence_number AS INTEGER), shard_id)";

/// When the engine's data file reaches the disk (on a file; in memory nothing does).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DiskSync {
    /// At the write-ahead log's checkpoints (SQLite's `synchronous = NORMAL`, WAL mode): a
    /// commit is in the log, in the OS's page cache, when it returns. A crash of the local
    /// server loses nothing; a power loss or an OS crash can lose the last commits before
    /// the next checkpoint, never the database's consistency.
    #[default]
    Checkpoints,
    /// At every commit (SQLite's default, `synchronous = FULL`): an `fsync` of the log
    /// per write, a third of a create's time on disk (BENCHMARKS.md).
    EveryCommit,
}

/// Opens the engine's database with [`STREAM_INDEX`]: on `file`, or in memory. dynoxide's
/// API gives no access to its SQLite connection, so a second connection to the same
/// database adds the index after the engine has made (or migrated) its schema; the engine's
/// connection sees it at its next statement. In memory that needs a named in-memory
/// database both connections can open (`file:…?mode=memory&cache=shared`, unique per
/// engine); it lives as long as the engine's connection.
///
/// On a file, [`DiskSync::Checkpoints`] is set through the one public call dynoxide has for
/// its connection's pragmas: `disable_bulk_loading` sets `synchronous = NORMAL` and SQLite's
/// defaults for the rest (`cache_size`, `temp_store`, `mmap_size`); pinned by
/// `the_engine_syncs_at_checkpoints_through_its_one_pragma_call`.
fn open_database(
    file: Option<&Path>,
    sync: DiskSync,
) -> Result<(dynoxide::Database, String), String> {
    let path = match file {
        Some(path) => {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            }
            path.to_string_lossy().into_owned()
        }
        None => {
            static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
            let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            format!(
                "file:scim-local-{}-{n}?mode=memory&cache=shared",
                std::process::id()
            )
        }
    };
    let db = dynoxide::Database::new(&path).map_err(|e| format!("{path}: {e}"))?;
    if file.is_some() && sync == DiskSync::Checkpoints {
        db.disable_bulk_loading()
            .map_err(|e| format!("{path}: synchronous = NORMAL: {e}"))?;
    }
    rusqlite::Connection::open(&path)
        .and_then(|conn| conn.execute_batch(STREAM_INDEX))
        .map_err(|e| format!("{path}: the stream records' index: {e}"))?;
    Ok((db, path))
}

/// Starts dynoxide in this process on `127.0.0.1:<free port>`, in memory or on a file
/// (synced at checkpoints: [`DiskSync::Checkpoints`]).
pub async fn start_embedded(file: Option<&Path>) -> Result<Embedded, String> {
    start_embedded_syncing(file, DiskSync::default()).await
}

/// [`start_embedded`], its data file synced as `sync` says.
pub async fn start_embedded_syncing(
    file: Option<&Path>,
    sync: DiskSync,
) -> Result<Embedded, String> {
    let (db, _) = open_database(file, sync)?;
    #[cfg(test)]
    let engine = db.clone();
    let router = dynoxide::server::router(db.clone());
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = dynoxide::server::serve_with_shutdown(listener, db, async {
            let _ = stopped.await;
        })
        .await;
    });
    Ok(Embedded {
        endpoint: format!("http://{addr}"),
        router,
        #[cfg(test)]
        db: engine,
        stop: Some(stop),
    })
}

/// A DynamoDB client for a local endpoint (any credentials are accepted locally).
pub async fn local_client(endpoint: &str) -> Client {
    sdk_client(scim_aws::sdk::http_client(), endpoint)
}

fn sdk_client(
    http: aws_smithy_runtime_api::client::http::SharedHttpClient,
    endpoint: &str,
) -> Client {
    let creds = aws_sdk_dynamodb::config::Credentials::new("local", "local", None, None, "local");
    let conf = aws_sdk_dynamodb::Config::builder()
        .http_client(http)
        .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
        .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
        .credentials_provider(creds)
        .endpoint_url(endpoint)
        .build();
    Client::from_conf(conf)
}

/// A DynamoDB client from the SDK's standard environment (`AWS_ENDPOINT_URL_DYNAMODB`,
/// region and credentials variables).
pub async fn env_client() -> Client {
    let sdk = scim_aws::sdk::load().await;
    Client::new(&sdk)
}

/// How long the local server waits for a client. A connection whose request head has not
/// arrived whole within `header` (also an idle keep-alive connection) is closed; a request
/// whose body has not arrived whole within `body` after its head is answered `408` with a
/// SCIM error and its connection closed. Other clients are served meanwhile: every
/// connection is its own task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub header: Duration,
    pub body: Duration,
}

impl Default for Timeouts {
    /// 30 s each (hyper's own default for the head; API Gateway's limit for a whole request).
    fn default() -> Self {
        Timeouts {
            header: Duration::from_secs(30),
            body: Duration::from_secs(30),
        }
    }
}

/// Serves every SCIM operation on `listener` until the process ends.
pub async fn serve<S, A>(listener: TcpListener, app: App<S, A>) -> Result<(), String>
where
    S: Store + SettingsStore + 'static,
    A: Authenticator + 'static,
{
    let app = Arc::new(app);
    let timeouts = Timeouts::default();
    run(listener, timeouts, move |req: axum::extract::Request| {
        let app = Arc::clone(&app);
        async move {
            match read(req, timeouts.body).await {
                Ok(request) => reply(handle(&app, request).await),
                Err(refusal) => refusal,
            }
        }
    })
    .await
}

/// The bounds every store the local server runs on meets: the application API's, for
/// every route it mounts.
pub trait LocalStore: scim_service::app::AppStore + 'static {}

impl<S> LocalStore for S where S: scim_service::app::AppStore + 'static {}

/// The token endpoint the local server runs (`POST /oauth2/token`): Entra's keys over
/// HTTPS (or a loopback stand-in), the signing keys fixed at start.
pub type LocalTokenEndpoint<S> = scim_service::oauth::TokenEndpoint<
    S,
    scim_aws::https::JwksFetch,
    Arc<scim_service::oauth::keys::KeySet>,
>;

/// Serves the SCIM operations, the application API under `/app/v1` and its settings page
/// at `/app/` on one listener, without a token endpoint (`/oauth2/token` is then an
/// unknown SCIM route).
pub async fn serve_with_app<S: LocalStore, A: Authenticator + 'static, T: TokenAdmin + 'static>(
    listener: TcpListener,
    app: App<S, A>,
    api: AppApi<S, T>,
) -> Result<(), String> {
    serve_routes(listener, app, api, None, Timeouts::default()).await
}

/// [`serve_with_app`] with these [`Timeouts`] (the tests' hanging clients use short ones).
pub async fn serve_with_app_timeouts<
    S: LocalStore,
    A: Authenticator + 'static,
    T: TokenAdmin + 'static,
>(
    listener: TcpListener,
    app: App<S, A>,
    api: AppApi<S, T>,
    timeouts: Timeouts,
) -> Result<(), String> {
    serve_routes(listener, app, api, None, timeouts).await
}

/// Everything `scim-local` serves on one listener: the SCIM operations, the OAuth token
/// endpoint at `/oauth2/token`, the application API under `/app/v1` and its settings page
/// at `/app/`.
pub async fn serve_full<S: LocalStore, A: Authenticator + 'static, T: TokenAdmin + 'static>(
    listener: TcpListener,
    app: App<S, A>,
    api: AppApi<S, T>,
    oauth: LocalTokenEndpoint<S>,
) -> Result<(), String> {
    serve_routes(listener, app, api, Some(oauth), Timeouts::default()).await
}

/// The one router of [`serve_with_app`] and [`serve_full`].
async fn serve_routes<S: LocalStore, A: Authenticator + 'static, T: TokenAdmin + 'static>(
    listener: TcpListener,
    app: App<S, A>,
    api: AppApi<S, T>,
    oauth: Option<LocalTokenEndpoint<S>>,
    timeouts: Timeouts,
) -> Result<(), String> {
    let app = Arc::new(app);
    let api = Arc::new(api);
    let oauth = oauth.map(Arc::new);
    run(listener, timeouts, move |req: axum::extract::Request| {
        let (app, api, oauth) = (Arc::clone(&app), Arc::clone(&api), oauth.clone());
        async move {
            let path = req.uri().path().to_string();
            if path == "/app" || path == "/app/" || path == "/app/index.html" {
                return page();
            }
            let request = match read(req, timeouts.body).await {
                Ok(r) => r,
                Err(refusal) => return refusal,
            };
            match oauth {
                _ if path.starts_with("/app/v1") => {
                    reply(scim_service::app::handle(&api, request).await)
                }
                Some(oauth) if path == scim_service::oauth::TOKEN_PATH => {
                    reply(scim_service::oauth::handle(&oauth, request).await)
                }
                _ => reply(handle(&app, request).await),
            }
        }
    })
    .await
}

/// The accept loop every `serve` function runs: one task per connection, HTTP/1.1 by
/// hyper with the head timeout of `timeouts`, and hyper's own refusals (`400` for a
/// malformed request line or header, `414`, `431`) turned into SCIM errors
/// ([`refusals::ScimRefusals`]).
async fn run<F, Fut>(listener: TcpListener, timeouts: Timeouts, handler: F) -> Result<(), String>
where
    F: Fn(axum::extract::Request) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = axum::response::Response> + Send + 'static,
{
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of file descriptors and the like: wait a moment, keep serving.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let handler = handler.clone();
        tokio::spawn(async move {
            let service =
                hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                    let handler = handler.clone();
                    async move {
                        Ok::<_, std::convert::Infallible>(
                            handler(req.map(axum::body::Body::new)).await,
                        )
                    }
                });
            let io = hyper_util::rt::TokioIo::new(refusals::ScimRefusals::new(stream));
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(timeouts.header)
                .serve_connection(io, service)
                .await;
        });
    }
}

/// The local server's signing keys: `<dir>/oauth-keys` (made on first run), or in memory
/// only when `dir` is `None`.
pub fn local_signing_keys(
    dir: Option<&Path>,
) -> Result<Arc<scim_service::oauth::keys::KeySet>, String> {
    use scim_service::oauth::keys::{KeySet, SigningKey};
    let Some(dir) = dir else {
        return Ok(Arc::new(KeySet::new(SigningKey::generate()?)));
    };
    let path = dir.join("oauth-keys");
    if let Ok(v) = std::fs::read_to_string(&path) {
        return KeySet::parse(&v)
            .map(Arc::new)
            .map_err(|e| format!("{}: {e}", path.display()));
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let keys = KeySet::new(SigningKey::generate()?);
    std::fs::write(&path, keys.to_secret_string())
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(Arc::new(keys))
}

/// The settings page: plain HTML and a little JavaScript calling `/app/v1`.
pub const SETTINGS_PAGE: &str = include_str!("settings.html");

fn page() -> axum::response::Response {
    let mut resp = axum::response::Response::new(axum::body::Body::from(SETTINGS_PAGE));
    let headers = resp.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-store"),
    );
    headers.insert(
        http::header::HeaderName::from_static("content-security-policy"),
        http::HeaderValue::from_static(
            "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'",
        ),
    );
    resp
}

fn reply(r: scim_service::http::ScimResponse) -> axum::response::Response {
    let mut resp = axum::response::Response::new(axum::body::Body::from(r.body));
    *resp.status_mut() = r.status;
    *resp.headers_mut() = r.headers;
    resp
}

/// Reads a request whole: its body up to one byte past the limit (a too-large body is
/// still answered by the handler: a SCIM `413`, or the application API's own), within
/// `timeout`. A body that does not arrive in time (`408`) or cannot be read (`400`: a
/// malformed chunk, a connection cut mid-body) is refused here with a SCIM error.
async fn read(
    req: axum::extract::Request,
    timeout: Duration,
) -> Result<ScimRequest, axum::response::Response> {
    use http_body_util::BodyExt;
    let (parts, body) = req.into_parts();
    let limit = scim_core_limit() + 1;
    let collected =
        tokio::time::timeout(timeout, http_body_util::Limited::new(body, limit).collect()).await;
    let body = match collected {
        Ok(Ok(b)) => b.to_bytes(),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => Bytes::from(vec![b' '; limit]),
        Ok(Err(_)) => {
            return Err(refusal(
                400,
                "The request body could not be read (malformed chunked encoding, or the connection ended early).",
            ))
        }
        Err(_) => {
            return Err(refusal(
                408,
                &format!("The request body did not arrive within {} s.", timeout.as_secs()),
            ))
        }
    };
    Ok(ScimRequest {
        method: parts.method,
        path: parts.uri.path().to_string(),
        query: parts.uri.query().map(str::to_string),
        headers: parts.headers,
        body,
        request_id: None,
    })
}

/// A refusal by the HTTP layer: a SCIM error, and the connection closed after it.
fn refusal(status: u16, detail: &str) -> axum::response::Response {
    let e = scim_core::ScimError::new(status, None, detail);
    let mut resp = reply(scim_service::http::ScimResponse::error(&e));
    resp.headers_mut().insert(
        http::header::CONNECTION,
        http::HeaderValue::from_static("close"),
    );
    resp
}

/// The largest body read: a bulk request's limit (the larger); the handler refuses a
/// body over its own endpoint's limit.
fn scim_core_limit() -> usize {
    scim_service::http::MAX_BODY_BYTES.max(scim_core::bulk::MAX_PAYLOAD_BYTES)
}

/// Binds the local server's address.
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, String> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))
}

/// The workspace's one token generator (256 bits from the OS CSPRNG, base64url).
pub use scim_service::auth::generate_token;

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// dynoxide 3.2.0's statements on `_stream_records` (`storage.rs`:
    /// `next_stream_sequence_number`, `stream_records_with_event_ids`,
    /// `get_shard_sequence_range`), verbatim.
    const NEXT_SEQUENCE: &str = "SELECT COALESCE(MAX(CAST(sequence_number AS INTEGER)), 0) + 1 FROM _stream_records WHERE table_name = ?1";
    const READ_SHARD: &str = "SELECT event_name, keys_json, new_image, old_image, sequence_number, created_at, user_identity, event_id
             FROM _stream_records
             WHERE table_name = ?1 AND shard_id = ?2 AND CAST(sequence_number AS INTEGER) > ?3
             ORDER BY CAST(sequence_number AS INTEGER) ASC
             LIMIT ?4";
    const SHARD_RANGE: &str = "SELECT MIN(CAST(sequence_number AS INTEGER)), MAX(CAST(sequence_number AS INTEGER)) FROM _stream_records WHERE table_name = ?1 AND shard_id = ?2";

    fn plan(conn: &rusqlite::Connection, sql: &str) -> String {
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let count = stmt.parameter_count();
        let params: Vec<i64> = vec![1; count];
        stmt.query_map(rusqlite::params_from_iter(params), |r| {
            r.get::<_, String>(3)
        })
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap()
        .join("; ")
    }

    fn assert_served(path: &str) {
        let conn = rusqlite::Connection::open(path).unwrap();
        for sql in [NEXT_SEQUENCE, READ_SHARD, SHARD_RANGE] {
            let plan = plan(&conn, sql);
            assert!(
                plan.contains("USING INDEX scim_stream_records_seq")
                    || plan.contains("USING COVERING INDEX scim_stream_records_seq"),
                "{sql}: {plan}"
            );
            assert!(!plan.contains("SCAN"), "{sql}: {plan}");
            assert!(!plan.contains("TEMP B-TREE"), "{sql}: {plan}");
        }
    }

    /// The engine is the patched copy in `vendor/dynoxide-rs` (vendor/README.md), and its
    /// idempotency still holds: a transaction sent again with its token is answered from
    /// the cache, not applied twice; a new token applies it (and fails its condition).
    #[tokio::test]
    async fn the_engine_is_the_patched_dynoxide() {
        assert!(include_str!("../../../Cargo.toml")
            .contains(r#"dynoxide-rs = { path = "vendor/dynoxide-rs" }"#));
        assert!(include_str!("../../../vendor/dynoxide-rs/src/lib.rs")
            .contains("fn forget_if_expired<T>(cache: &mut TokenCache<T>"));
        use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
        let engine = start_embedded(None).await.unwrap();
        let client = local_client(&engine.endpoint).await;
        scim_aws::table::ensure_table(&client, "tokens")
            .await
            .unwrap();
        let put = || {
            TransactWriteItem::builder()
                .put(
                    Put::builder()
                        .table_name("tokens")
                        .item("pk", AttributeValue::S("a".into()))
                        .item("sk", AttributeValue::S("b".into()))
                        .condition_expression("attribute_not_exists(pk)")
                        .build()
                        .unwrap(),
                )
                .build()
        };
        let send = |token: &'static str| {
            client
                .transact_write_items()
                .transact_items(put())
                .client_request_token(token)
                .send()
        };
        send("one").await.unwrap();
        send("one").await.unwrap();
        assert!(send("two").await.is_err());
    }

    /// The patched engine takes every statement our store's requests run from its
    /// connection's statement cache (vendor/README.md, fourth change): once each request
    /// type has run, running them all again compiles no SQL at all. SQLite calls the
    /// connection's authorizer only while compiling a statement, and the patch counts those
    /// calls; with the released engine's statements, the same 50 requests made 2,140 calls.
    #[tokio::test]
    async fn the_engine_compiles_no_statement_twice_for_the_store() {
        use scim_service::http::HttpConfig;
        let engine = start_embedded(None).await.unwrap();
        let client = engine.client();
        scim_aws::table::ensure_table(&client, "scim")
            .await
            .unwrap();
        let token = generate_token().unwrap();
        let app = App {
            gate: Arc::new(scim_service::settings::Gate::default()),
            store: scim_aws::DynamoStore::new(client, "scim"),
            auth: tokens::LocalTokens::new("local", &token, None),
            config: HttpConfig {
                base_url: None,
                realm: "scim-local".into(),
                tenant: Some("local".into()),
                async_requests: Default::default(),
            },
        };
        let send = |method: http::Method, path: String, query: Option<String>, body: String| {
            let mut headers = http::HeaderMap::new();
            headers.insert(
                http::header::AUTHORIZATION,
                format!("Bearer {token}").parse().unwrap(),
            );
            headers.insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/scim+json"),
            );
            let request = ScimRequest {
                method,
                path,
                query,
                headers,
                body: Bytes::from(body),
                request_id: None,
            };
            let app = &app;
            async move {
                let r = handle(app, request).await;
                assert!(
                    r.status.is_success(),
                    "{}",
                    String::from_utf8_lossy(&r.body)
                );
                serde_json::from_slice::<serde_json::Value>(&r.body).unwrap_or_default()
            }
        };
        let id = |v: &serde_json::Value| v["id"].as_str().unwrap().to_string();
        let group = send(
            http::Method::POST,
            "/scim/v2/Groups".into(),
            None,
            r#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"g"}"#
                .into(),
        )
        .await;
        let group = id(&group);
        // The side-by-side benchmark's five request types (tests/load/side-by-side.lua).
        let round = |n: usize| {
            let send = &send;
            let group = &group;
            async move {
                let name = format!("user{n}@contoso.com");
                let user = send(
                    http::Method::POST,
                    "/scim/v2/Users".into(),
                    None,
                    format!(
                        r#"{{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"{name}","emails":[{{"value":"{name}","primary":true}}],"active":true}}"#
                    ),
                )
                .await;
                let user = id(&user);
                send(
                    http::Method::GET,
                    "/scim/v2/Users".into(),
                    Some(format!("filter=userName%20eq%20%22{name}%22")),
                    String::new(),
                )
                .await;
                send(
                    http::Method::GET,
                    format!("/scim/v2/Users/{user}"),
                    None,
                    String::new(),
                )
                .await;
                let patch = |body: String| {
                    format!(
                        r#"{{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{body}]}}"#
                    )
                };
                send(
                    http::Method::PATCH,
                    format!("/scim/v2/Users/{user}"),
                    None,
                    patch(format!(
                        r#"{{"op":"replace","path":"title","value":"t{n}"}}"#
                    )),
                )
                .await;
                send(
                    http::Method::PATCH,
                    format!("/scim/v2/Groups/{group}"),
                    None,
                    patch(format!(
                        r#"{{"op":"add","path":"members","value":[{{"value":"{user}"}}]}}"#
                    )),
                )
                .await;
            }
        };
        for n in 0..3 {
            round(n).await;
        }
        let before = engine.db.authorizer_calls().unwrap();
        assert!(before > 0, "the engine counts its compilations");
        for n in 3..13 {
            round(n).await;
        }
        let compiled = engine.db.authorizer_calls().unwrap() - before;
        assert_eq!(compiled, 0, "SQL compiled again by 50 requests");
    }

    /// [`DiskSync::Checkpoints`] goes through dynoxide's `disable_bulk_loading`, which must
    /// set `synchronous = NORMAL` and leave every other pragma at SQLite's default (a
    /// connection's pragmas cannot be read from another connection, so its text is pinned).
    #[test]
    fn the_engine_syncs_at_checkpoints_through_its_one_pragma_call() {
        let storage = include_str!("../../../vendor/dynoxide-rs/src/storage.rs");
        let body = storage
            .split("pub fn disable_bulk_loading(&self) -> Result<()> {")
            .nth(1)
            .and_then(|rest| rest.split("Ok(())").next())
            .unwrap();
        let pragmas: Vec<&str> = body
            .split(';')
            .filter_map(|p| p.split("PRAGMA").nth(1))
            .map(str::trim)
            .collect();
        assert_eq!(
            pragmas,
            [
                "synchronous = NORMAL",
                "cache_size = -2000",
                "temp_store = DEFAULT",
                "mmap_size = 0"
            ]
        );
        let lib = include_str!("../../../vendor/dynoxide-rs/src/lib.rs");
        assert!(lib.contains("self.with_storage(|s| s.disable_bulk_loading())"));
    }

    /// The in-process client reaches the same engine as the loopback port: what one writes
    /// the other reads, and the engine's errors come back as the SDK's typed errors.
    #[tokio::test]
    async fn the_in_process_client_and_the_loopback_port_share_one_engine() {
        use aws_sdk_dynamodb::types::AttributeValue;
        let engine = start_embedded(None).await.unwrap();
        let inproc = engine.client();
        let remote = local_client(&engine.endpoint).await;
        scim_aws::table::ensure_table(&inproc, "shared")
            .await
            .unwrap();
        inproc
            .put_item()
            .table_name("shared")
            .item("pk", AttributeValue::S("a".into()))
            .item("sk", AttributeValue::S("b".into()))
            .item("v", AttributeValue::S("in process".into()))
            .send()
            .await
            .unwrap();
        let got = remote
            .get_item()
            .table_name("shared")
            .key("pk", AttributeValue::S("a".into()))
            .key("sk", AttributeValue::S("b".into()))
            .send()
            .await
            .unwrap();
        assert_eq!(
            got.item().and_then(|i| i.get("v")),
            Some(&AttributeValue::S("in process".into()))
        );
        let missing = inproc
            .get_item()
            .table_name("no-such-table")
            .key("pk", AttributeValue::S("a".into()))
            .send()
            .await
            .unwrap_err();
        assert!(
            missing
                .into_service_error()
                .is_resource_not_found_exception(),
            "a typed error through the in-process transport"
        );
        assert!(
            include_str!("../../../vendor/dynoxide-rs/src/server/mod.rs")
                .contains("pub fn router(db: Database) -> Router")
        );
    }

    #[test]
    fn stream_index_serves_the_engines_statements_in_memory() {
        let (_db, path) = open_database(None, DiskSync::default()).unwrap();
        assert_served(&path);
        // Each engine in memory is a database of its own.
        let (_other, other) = open_database(None, DiskSync::default()).unwrap();
        assert_ne!(path, other);
    }

    #[test]
    fn stream_index_serves_the_engines_statements_on_a_file_and_survives_a_restart() {
        let dir = std::env::temp_dir().join(format!("scim-local-index-{}", std::process::id()));
        let file = dir.join("engine.db");
        let (db, path) = open_database(Some(&file), DiskSync::default()).unwrap();
        assert_served(&path);
        drop(db);
        let (_db, path) = open_database(Some(&file), DiskSync::default()).unwrap();
        assert_served(&path);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
