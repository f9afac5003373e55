//! `cargo run -p scim-local`: every SCIM route on http://127.0.0.1:8080/scim/v2 over the
//! embedded DynamoDB engine (persisted to `.local/dynoxide.db`), or over the endpoint in
//! `AWS_ENDPOINT_URL_DYNAMODB` when that is set. Prints the base URL and a bearer token.
//!
//! Environment: `SCIM_PORT` (8080), `SCIM_LOCAL_DIR` (.local), `SCIM_LOCAL_MEMORY=1` (keep
//! nothing on disk), `SCIM_LOCAL_SYNC` (`checkpoint`; `commit`: sync the data file at every
//! commit), `SCIM_TOKEN` (use this token instead of the stored one),
//! `TOKEN_SECRET_ARN` (take the tokens from this Secrets Manager secret instead, e.g. on
//! moto via `AWS_ENDPOINT_URL_SECRETS_MANAGER`),
//! `TABLE_NAME` (scim), `TENANT_ID` (local); change events: `SCIM_EVENTS_FILE` (append them
//! to this file instead of the log), `EVENT_BUS_NAME` + `AWS_ENDPOINT_URL_EVENTBRIDGE` (put
//! them on this EventBridge bus, e.g. on moto); OAuth: `SIGNING_SECRET_ARN` (the signing
//! keys from this secret instead of `.local/oauth-keys`), `ACCESS_TOKEN_LIFETIME` (3600),
//! `ENTRA_LOGIN_URL` (where Entra's signing keys are fetched).

use scim_aws::config::{check_tenant_id, init_tracing};
use scim_aws::table::ensure_table;
use scim_aws::tokens::admin::SecretsTokenAdmin;
use scim_aws::tokens::{self, SecretsTokenSource};
use scim_aws::DynamoStore;
use scim_local::tokens::LocalTokens;
use scim_service::app::{AppApi, AppConfig};
use scim_service::http::{App, HttpConfig};
use scim_service::oauth::keys::OAuthAuthenticator;
use std::net::SocketAddr;
use std::path::PathBuf;

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

#[tokio::main]
async fn main() -> Result<(), String> {
    init_tracing();
    let port: u16 = env("SCIM_PORT")
        .map(|p| {
            p.parse()
                .map_err(|_| format!("SCIM_PORT '{p}' is not a port"))
        })
        .transpose()?
        .unwrap_or(8080);
    let dir = PathBuf::from(env("SCIM_LOCAL_DIR").unwrap_or_else(|| ".local".into()));
    let table = env("TABLE_NAME").unwrap_or_else(|| "scim".into());
    let tenant = env("TENANT_ID").unwrap_or_else(|| "local".into());
    check_tenant_id(&tenant)?;

    let mut _embedded = None;
    let (client, engine) = match env("AWS_ENDPOINT_URL_DYNAMODB") {
        Some(url) => (scim_local::env_client().await, format!("DynamoDB at {url}")),
        None => {
            let memory = env("SCIM_LOCAL_MEMORY").is_some_and(|v| v == "1" || v == "true");
            let file = (!memory).then(|| dir.join("dynoxide.db"));
            let sync = match env("SCIM_LOCAL_SYNC").as_deref() {
                None | Some("checkpoint") => scim_local::DiskSync::Checkpoints,
                Some("commit") => scim_local::DiskSync::EveryCommit,
                Some(other) => {
                    return Err(format!(
                        "SCIM_LOCAL_SYNC '{other}' is neither 'checkpoint' nor 'commit'"
                    ))
                }
            };
            let embedded = scim_local::start_embedded_syncing(file.as_deref(), sync).await?;
            // In process: the same SDK client and store, without a loopback socket
            // (SCIM_LOCAL_LOOPBACK=1: over the engine's loopback port, to compare).
            let client = if env("SCIM_LOCAL_LOOPBACK").is_some_and(|v| v == "1") {
                scim_local::local_client(&embedded.endpoint).await
            } else {
                embedded.client()
            };
            let what = match &file {
                Some(f) => format!("embedded engine, data in {}", f.display()),
                None => "embedded engine, in memory".to_string(),
            };
            _embedded = Some(embedded);
            (client, what)
        }
    };
    ensure_table(&client, &table).await?;

    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let listener = scim_local::bind(addr).await?;
    let base_url = format!("http://{addr}/scim/v2");
    let store = DynamoStore::new(client, table);
    let mut config = HttpConfig {
        base_url: Some(base_url.clone()),
        realm: format!("scim-{tenant}"),
        tenant: Some(tenant.clone()),
        async_requests: Default::default(),
    };
    // `Prefer: respond-async`: jobs run by a task here, as async-worker runs them in a stack.
    config.async_requests = scim_local::jobs::start(store.clone(), &config)?;
    println!("SCIM 2.0 service on {engine}");
    println!("  Tenant URL / Base URL: {base_url}");
    // Change events: follow the table's stream, as publish-events does in a stack.
    let streams = match &_embedded {
        Some(e) => scim_local::stream::local_client(&e.endpoint),
        None => scim_local::stream::env_client().await,
    };
    let sink = scim_local::stream::sink_from_env().await;
    let where_to = sink.describe();
    let _events =
        match scim_local::stream::follow(store.client(), streams, store.table(), sink).await {
            Ok(f) => {
                println!("  Change events:         {where_to}");
                Some(f)
            }
            Err(e) => {
                println!("  Change events:         off ({e})");
                None
            }
        };
    serve(listener, store, config, &tenant, &dir).await
}

/// Serves until stopped, with the bearer tokens from Secrets Manager or the local token,
/// and the application API (`/app/v1`, its settings page at `/app/`) behind an application
/// key of its own.
async fn serve(
    listener: tokio::net::TcpListener,
    store: DynamoStore,
    config: HttpConfig,
    tenant: &str,
    dir: &std::path::Path,
) -> Result<(), String> {
    let base_url = config.base_url.clone().unwrap_or_default();
    let origin = base_url.trim_end_matches("/scim/v2").to_string();
    let app_key = match env("SCIM_APP_KEY") {
        Some(k) => k,
        None => stored_secret(dir, "app-key")?,
    };
    let gate = std::sync::Arc::new(scim_service::settings::Gate::default());
    let token_endpoint = scim_service::oauth::token_endpoint_for(&base_url);
    let app_config = AppConfig {
        tenant: tenant.to_string(),
        tenant_url: base_url.clone(),
        token_endpoint: Some(token_endpoint.clone()),
        key: Some(scim_service::auth::digest(&app_key)),
    };
    let keys = match env("SIGNING_SECRET_ARN") {
        Some(secret) => {
            let sdk = scim_aws::sdk::load().await;
            let keys = scim_aws::oauth::read_keys(&tokens::client(&sdk), secret.trim())
                .await
                .map_err(|e| format!("cannot read the signing secret {secret}: {e}"))?;
            std::sync::Arc::new(keys)
        }
        None => {
            let memory = env("SCIM_LOCAL_MEMORY").is_some_and(|v| v == "1" || v == "true");
            scim_local::local_signing_keys((!memory).then_some(dir))?
        }
    };
    let mut oauth_config =
        scim_service::oauth::OAuthConfig::new(tenant, scim_aws::oauth::lifetime_from_env()?)?;
    oauth_config.base_url = Some(base_url.clone());
    oauth_config.realm = config.realm.clone();
    let oauth = scim_local::LocalTokenEndpoint {
        store: store.clone(),
        jwks: scim_service::oauth::federation::Jwks::new(
            scim_aws::https::JwksFetch {
                client: scim_aws::https::HttpClient::new()?,
                timeout: std::time::Duration::from_secs(3),
            },
            &scim_aws::oauth::login_url_from_env()?,
        ),
        keys: keys.clone(),
        config: oauth_config,
        lockout: Default::default(),
    };
    println!("  OAuth token endpoint:  {token_endpoint}   (clients: POST {origin}/app/v1/clients)");
    // With TOKEN_SECRET_ARN the tokens come from Secrets Manager (moto locally, via
    // AWS_ENDPOINT_URL_SECRETS_MANAGER), exactly as in a deployed function.
    if let Some(secret) = env("TOKEN_SECRET_ARN") {
        let sdk = scim_aws::sdk::load().await;
        let client = tokens::client(&sdk);
        let auth =
            SecretsTokenSource::new(client.clone(), [secret.trim()]).with_fallback_tenant(tenant);
        auth.refresh()
            .await
            .map_err(|e| format!("cannot read the token secret {secret}: {e}"))?;
        println!("  Bearer tokens:         from secret {secret} (scim-admin generate / list / revoke-previous)");
        print_app(&origin, &app_key);
        let api = AppApi {
            store: store.clone(),
            tokens: SecretsTokenAdmin::new(client, secret.trim()),
            gate: gate.clone(),
            config: app_config,
        };
        let app = App {
            gate,
            store,
            auth: OAuthAuthenticator { bearer: auth, keys },
            config,
        };
        return scim_local::serve_full(listener, app, api, oauth).await;
    }
    let token = match env("SCIM_TOKEN") {
        Some(t) => t,
        None => stored_secret(dir, "token")?,
    };
    println!("  Bearer token:          {token}");
    print_app(&origin, &app_key);
    println!("Try: curl -H 'Authorization: Bearer {token}' {base_url}/ServiceProviderConfig");
    // A token given in SCIM_TOKEN is not written anywhere; generated ones are kept in `dir`.
    let keep = env("SCIM_TOKEN").is_none().then(|| dir.to_path_buf());
    let local = LocalTokens::new(tenant, &token, keep);
    let api = AppApi {
        store: store.clone(),
        tokens: local.clone(),
        gate: gate.clone(),
        config: app_config,
    };
    let app = App {
        gate,
        store,
        auth: OAuthAuthenticator {
            bearer: local,
            keys,
        },
        config,
    };
    scim_local::serve_full(listener, app, api, oauth).await
}

fn print_app(origin: &str, key: &str) {
    println!("  Application API:       {origin}/app/v1   (settings page: {origin}/app/)");
    println!("  Application key:       {key}");
}

/// Reads a generated secret (the local token, the application key) from `<dir>/<name>`,
/// creating it on first run.
fn stored_secret(dir: &std::path::Path, name: &str) -> Result<String, String> {
    let path = dir.join(name);
    if let Ok(t) = std::fs::read_to_string(&path) {
        if !t.trim().is_empty() {
            return Ok(t.trim().to_string());
        }
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let token = scim_local::generate_token()?;
    std::fs::write(&path, &token).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(token)
}
