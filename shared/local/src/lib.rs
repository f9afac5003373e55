//! The local runtime: the embedded DynamoDB engine on loopback, an SDK client for any
//! endpoint, and an HTTP server that mounts every operation on one port.
//!
//! Used by the `scim-local` binary and by the end-to-end tests; never by a Lambda function.

pub mod stream;
pub mod tokens;

use aws_sdk_dynamodb::Client;
use bytes::Bytes;
use scim_service::app::AppApi;
use scim_service::auth::Authenticator;
use scim_service::http::{handle, App, ScimRequest};
use scim_service::port::{DirectoryStore, Store};
use scim_service::settings::{SettingsStore, TokenAdmin};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use tokio::net::TcpListener;

/// The embedded engine, serving the DynamoDB API on a loopback port until dropped.
pub struct Embedded {
    pub endpoint: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for Embedded {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Starts dynoxide in this process on `127.0.0.1:<free port>`, in memory or on a file.
pub async fn start_embedded(file: Option<&Path>) -> Result<Embedded, String> {
    let db = match file {
        Some(path) => {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            }
            dynoxide::Database::new(&path.to_string_lossy()).map_err(|e| e.to_string())?
        }
        None => dynoxide::Database::memory().map_err(|e| e.to_string())?,
    };
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
        stop: Some(stop),
    })
}

/// A DynamoDB client for a local endpoint (any credentials are accepted locally).
pub async fn local_client(endpoint: &str) -> Client {
    let creds = aws_sdk_dynamodb::config::Credentials::new("local", "local", None, None, "local");
    let conf = aws_sdk_dynamodb::Config::builder()
        .http_client(scim_aws::sdk::http_client())
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

/// Serves every SCIM operation on `listener` until the process ends.
pub async fn serve<S, A>(listener: TcpListener, app: App<S, A>) -> Result<(), String>
where
    S: Store + SettingsStore + 'static,
    A: Authenticator + 'static,
{
    let app = Arc::new(app);
    let router = axum::Router::new().fallback(move |req: axum::extract::Request| {
        let app = Arc::clone(&app);
        async move {
            let request = read(req).await;
            reply(handle(&app, request).await)
        }
    });
    axum::serve(listener, router)
        .await
        .map_err(|e| e.to_string())
}

/// The bounds every store the local server runs on meets.
pub trait LocalStore:
    Store
    + SettingsStore
    + DirectoryStore
    + scim_service::expiry::ExpiryIndex
    + scim_service::oauth::clients::ClientStore
    + 'static
{
}

impl<S> LocalStore for S where
    S: Store
        + SettingsStore
        + DirectoryStore
        + scim_service::expiry::ExpiryIndex
        + scim_service::oauth::clients::ClientStore
        + 'static
{
}

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
    serve_routes(listener, app, api, None).await
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
    serve_routes(listener, app, api, Some(oauth)).await
}

/// The one router of [`serve_with_app`] and [`serve_full`].
async fn serve_routes<S: LocalStore, A: Authenticator + 'static, T: TokenAdmin + 'static>(
    listener: TcpListener,
    app: App<S, A>,
    api: AppApi<S, T>,
    oauth: Option<LocalTokenEndpoint<S>>,
) -> Result<(), String> {
    let app = Arc::new(app);
    let api = Arc::new(api);
    let oauth = oauth.map(Arc::new);
    let router = axum::Router::new().fallback(move |req: axum::extract::Request| {
        let (app, api, oauth) = (Arc::clone(&app), Arc::clone(&api), oauth.clone());
        async move {
            let path = req.uri().path().to_string();
            if path == "/app" || path == "/app/" || path == "/app/index.html" {
                return page();
            }
            let request = read(req).await;
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
    });
    axum::serve(listener, router)
        .await
        .map_err(|e| e.to_string())
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

async fn read(req: axum::extract::Request) -> ScimRequest {
    let (parts, body) = req.into_parts();
    // Read at most one byte more than the limit, so a too-large body is still a SCIM 413.
    let limit = scim_core_limit() + 1;
    let body = match axum::body::to_bytes(body, limit).await {
        Ok(b) => b,
        Err(_) => Bytes::from(vec![b' '; limit]),
    };
    ScimRequest {
        method: parts.method,
        path: parts.uri.path().to_string(),
        query: parts.uri.query().map(str::to_string),
        headers: parts.headers,
        body,
    }
}

fn scim_core_limit() -> usize {
    scim_service::http::MAX_BODY_BYTES
}

/// Binds the local server's address.
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, String> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))
}

/// The workspace's one token generator (256 bits from the OS CSPRNG, base64url).
pub use scim_service::auth::generate_token;
