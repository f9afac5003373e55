//! `lambda-gateway`: the real function binaries behind API Gateway's route table, on one base
//! URL — what a deployed stack looks like to Entra ID, Okta and the product, on loopback.
//!
//! ```text
//! client ─▶ lambda-gateway (route table of infra/functions.json; /app/v1 behind a key)
//!             ─▶ cargo lambda watch --only-lambda-apis (function URLs → API Gateway v2
//!                events; the Lambda runtime API)
//!                  ─▶ target/debug/<function>, one process per function, started on its
//!                     first request with the environment functions.json gives it
//!                       ─▶ DynamoDB (embedded engine or AWS_ENDPOINT_URL_DYNAMODB)
//!                          Secrets Manager (moto, or AWS_ENDPOINT_URL_SECRETS_MANAGER)
//! ```
//!
//! The gateway starts the functions itself (`--only-lambda-apis`) from the workspace build
//! (`cargo build --workspace --bins`) instead of letting `cargo lambda watch` run
//! `cargo run --bin <function>`: that builds each function with only its own features
//! (resolver 2), so it would recompile `scim-aws` and its dependencies once per feature set
//! instead of reusing the binaries the test suite already built, and a function could not
//! get its own environment.
//!
//! Routing follows API Gateway HTTP APIs: a path under `/app/` is on the application API
//! (no `$default`: an unknown route is `404 {"message":"Not Found"}`), everything else on
//! the SCIM API, where an unknown route or method reaches the `$default` function. The most
//! specific route wins (a literal segment over `{param}` over `{param+}`, a method over
//! `ANY`). In a stack every `/app/v1` route is IAM-authorized; here the gateway stands in
//! for IAM with an application key (`Authorization: Bearer <key>`, as `scim-local`):
//! without it `403 {"message":"Forbidden"}`, and the key is not passed on, as a SigV4
//! signature opens nothing in the function. SCIM routes and the token endpoint have no
//! authorizer: the functions check bearer tokens, access tokens and client credentials.
//!
//! `/_lambda/<function>/<path>` reaches one function directly, whatever the route table
//! says (the app key is still required for an application API function): how the route
//! tests find out which operations each binary compiles in.

#![warn(clippy::unwrap_used, clippy::expect_used)]

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use serde_json::Value;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// API Gateway's payload limit.
const MAX_BODY: usize = 10 * 1024 * 1024;
/// API Gateway's integration timeout for HTTP APIs.
const INTEGRATION_TIMEOUT: Duration = Duration::from_secs(30);
/// How `cargo lambda watch`'s own errors begin (problem details), unlike any function's.
const EMULATOR_ERROR: &str = r#"{"type":"https://httpstatuses.com/"#;
/// Where the gateway reaches one function directly.
pub const DIRECT_PREFIX: &str = "/_lambda/";

/// Which of a stack's two HTTP APIs a path is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// `/scim/v2`, `/oauth2/token` and `$default`: the IdP's API.
    Scim,
    /// `/app/v1`: the product's API, IAM-authorized in a stack.
    App,
}

impl Api {
    pub fn of_path(path: &str) -> Api {
        if path == "/app" || path.starts_with("/app/") {
            Api::App
        } else {
            Api::Scim
        }
    }
}

/// One function of `infra/functions.json` (what the gateway needs of it).
#[derive(Debug, Clone)]
pub struct FunctionDef {
    pub name: String,
    pub kind: String,
    /// `"METHOD /path"` route keys, or `$default`.
    pub routes: Vec<String>,
    /// The exact environment, when functions.json lists one.
    pub environment: Option<Vec<String>>,
    /// Whether it has actions on the signing key secret (then the common environment has
    /// `SIGNING_SECRET_ARN`).
    pub signing_secret: bool,
}

impl FunctionDef {
    pub fn is_http(&self) -> bool {
        self.kind == "http"
    }

    /// The API its routes are on (a function's routes are all on one).
    pub fn api(&self) -> Api {
        match self.routes.first() {
            Some(r) => match r.split_once(' ') {
                Some((_, path)) => Api::of_path(path),
                None => Api::Scim,
            },
            None => Api::Scim,
        }
    }

    /// The names of its environment variables: its `environment` list, else the common one
    /// (`infra/lib/definitions.ts`, `environmentVariables`). Never `ASYNC_REQUESTS`, which the
    /// stacks add to the SCIM functions: no worker runs here, so the functions answer
    /// `Prefer: respond-async` synchronously.
    pub fn environment_names(&self) -> Vec<String> {
        if let Some(env) = &self.environment {
            return env.clone();
        }
        let mut names: Vec<String> = [
            "TABLE_NAME",
            "TENANT_ID",
            "TOKEN_SECRET_ARN",
            "EVENT_BUS_NAME",
            "RUST_LOG",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        if self.signing_secret {
            names.push("SIGNING_SECRET_ARN".into());
        }
        names
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Seg {
    // Declared most specific first: `Ord` ranks them.
    Lit(String),
    Param,
    Greedy,
}

#[derive(Debug, Clone)]
struct Route {
    key: String,
    /// `None`: `ANY`.
    method: Option<String>,
    segments: Vec<Seg>,
    function: String,
}

impl Route {
    fn parse(key: &str, function: &str) -> Result<Route, String> {
        let (method, path) = key
            .split_once(' ')
            .ok_or_else(|| format!("route '{key}' of {function} is not 'METHOD /path'"))?;
        if !path.starts_with('/') {
            return Err(format!(
                "route '{key}' of {function}: the path must start with /"
            ));
        }
        let segments = path[1..]
            .split('/')
            .map(|s| {
                if s.starts_with('{') && s.ends_with("+}") {
                    Ok(Seg::Greedy)
                } else if s.starts_with('{') && s.ends_with('}') {
                    Ok(Seg::Param)
                } else if s.contains('{') || s.contains('}') {
                    Err(format!("route '{key}' of {function}: bad segment '{s}'"))
                } else {
                    Ok(Seg::Lit(s.to_string()))
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Route {
            key: key.to_string(),
            method: (method != "ANY").then(|| method.to_string()),
            segments,
            function: function.to_string(),
        })
    }

    /// The specificity of the match of `path` (lower is more specific), if it matches.
    fn matches(&self, method: &str, path: &[&str]) -> Option<(Vec<Seg>, bool)> {
        if self.method.as_deref().is_some_and(|m| m != method) {
            return None;
        }
        let mut rank = Vec::with_capacity(self.segments.len());
        for (i, seg) in self.segments.iter().enumerate() {
            match seg {
                Seg::Greedy => {
                    // `{proxy+}` takes the rest: at least one non-empty segment.
                    if path.len() <= i || path[i..].iter().all(|s| s.is_empty()) {
                        return None;
                    }
                    rank.push(Seg::Greedy);
                    return Some((rank, self.method.is_none()));
                }
                Seg::Param => {
                    if path.get(i).is_none_or(|s| s.is_empty()) {
                        return None;
                    }
                    rank.push(Seg::Param);
                }
                Seg::Lit(l) => {
                    if path.get(i) != Some(&l.as_str()) {
                        return None;
                    }
                    rank.push(Seg::Lit(String::new()));
                }
            }
        }
        (path.len() == self.segments.len()).then_some((rank, self.method.is_none()))
    }
}

/// The route table of a stack's two HTTP APIs, from `infra/functions.json` (or any file of
/// its shape).
#[derive(Debug, Clone)]
pub struct RouteTable {
    pub functions: Vec<FunctionDef>,
    routes: Vec<Route>,
    default: Option<String>,
}

impl RouteTable {
    pub fn load(path: &Path) -> Result<RouteTable, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        RouteTable::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    pub fn parse(json: &str) -> Result<RouteTable, String> {
        let doc: Value = serde_json::from_str(json).map_err(|e| format!("not JSON: {e}"))?;
        let list = doc["functions"].as_array().ok_or("no \"functions\" list")?;
        let strings = |v: &Value| -> Vec<String> {
            v.as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|s| s.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default()
        };
        let mut functions = Vec::new();
        let mut routes = Vec::new();
        let mut default = None;
        for f in list {
            let name = f["name"].as_str().ok_or("a function without a name")?;
            let def = FunctionDef {
                name: name.to_string(),
                kind: f["kind"].as_str().unwrap_or("http").to_string(),
                routes: strings(&f["routes"]),
                environment: f.get("environment").map(strings),
                signing_secret: !strings(&f["signingSecret"]).is_empty(),
            };
            for key in &def.routes {
                if key == "$default" {
                    if let Some(other) = default.replace(name.to_string()) {
                        return Err(format!("$default is routed to both {other} and {name}"));
                    }
                } else {
                    let route = Route::parse(key, name)?;
                    if let Some(dup) = routes.iter().find(|r: &&Route| r.key == *key) {
                        return Err(format!(
                            "route '{key}' is routed to both {} and {name}",
                            dup.function
                        ));
                    }
                    routes.push(route);
                }
            }
            functions.push(def);
        }
        Ok(RouteTable {
            functions,
            routes,
            default,
        })
    }

    pub fn function(&self, name: &str) -> Option<&FunctionDef> {
        self.functions.iter().find(|f| f.name == name)
    }

    /// The function API Gateway sends this request to; `None` is API Gateway's own 404.
    pub fn resolve(&self, method: &str, path: &str) -> Option<&str> {
        let api = Api::of_path(path);
        let segments: Vec<&str> = path.strip_prefix('/').unwrap_or(path).split('/').collect();
        let best = self
            .routes
            .iter()
            .filter(|r| Api::of_path(r.key.split_once(' ').map_or("", |(_, p)| p)) == api)
            .filter_map(|r| r.matches(method, &segments).map(|rank| (rank, r)))
            .min_by(|a, b| a.0.cmp(&b.0));
        match (best, api) {
            (Some((_, r)), _) => Some(r.function.as_str()),
            (None, Api::Scim) => self.default.as_deref(),
            (None, Api::App) => None,
        }
    }

    /// Every route key with its function (`$default` included).
    pub fn route_keys(&self) -> Vec<(String, String)> {
        let mut keys: Vec<(String, String)> = self
            .routes
            .iter()
            .map(|r| (r.key.clone(), r.function.clone()))
            .collect();
        if let Some(d) = &self.default {
            keys.push(("$default".into(), d.clone()));
        }
        keys
    }
}

/// The values of the environment variables functions.json may name.
#[derive(Debug, Clone)]
pub struct StackEnv {
    pub values: HashMap<String, String>,
    /// Set on every function: the AWS endpoints, region and credentials.
    pub aws: Vec<(String, String)>,
}

impl StackEnv {
    /// The environment of one function, as the stack would give it (plus the local AWS
    /// endpoints); an unknown variable name is an error.
    pub fn for_function(&self, f: &FunctionDef) -> Result<Vec<(String, String)>, String> {
        let mut env = self.aws.clone();
        for name in f.environment_names() {
            let value = self.values.get(&name).ok_or_else(|| {
                format!(
                    "{}: lambda-gateway has no value for its variable {name}",
                    f.name
                )
            })?;
            env.push((name, value.clone()));
        }
        Ok(env)
    }
}

/// The running function processes, killed when dropped.
pub struct Functions {
    bin_dir: PathBuf,
    log_dir: PathBuf,
    runtime_api: String,
    env: HashMap<String, Vec<(String, String)>>,
    running: Mutex<HashMap<String, Child>>,
}

impl Functions {
    /// Starts `name` unless it is running (a cold start on its first request, and again
    /// after it exited).
    fn ensure_running(&self, name: &str) -> Result<(), String> {
        let mut running = self
            .running
            .lock()
            .map_err(|_| "the process table is poisoned".to_string())?;
        if let Some(child) = running.get_mut(name) {
            match child.try_wait() {
                Ok(None) => return Ok(()),
                Ok(Some(status)) => eprintln!(
                    "lambda-gateway: {name} exited ({status}); starting it again (see {})",
                    self.log_dir.join(format!("{name}.log")).display()
                ),
                Err(e) => eprintln!("lambda-gateway: {name}: {e}"),
            }
        }
        let env = self
            .env
            .get(name)
            .ok_or_else(|| format!("{name} is not an http function of the route table"))?;
        let log_path = self.log_dir.join(format!("{name}.log"));
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|e| format!("cannot open {}: {e}", log_path.display()))?;
        let log2 = log.try_clone().map_err(|e| e.to_string())?;
        let child = Command::new(self.bin_dir.join(name))
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k, v)))
            .env(
                "AWS_LAMBDA_RUNTIME_API",
                format!("{}/{name}", self.runtime_api),
            )
            .env("AWS_LAMBDA_FUNCTION_NAME", name)
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log2))
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", self.bin_dir.join(name).display()))?;
        running.insert(name.to_string(), child);
        Ok(())
    }
}

impl Drop for Functions {
    fn drop(&mut self) {
        if let Ok(mut running) = self.running.lock() {
            for child in running.values_mut() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

/// What each request needs.
pub struct Gateway {
    pub table: RouteTable,
    /// `http://127.0.0.1:<port>`: `cargo lambda watch`.
    pub lambda_url: String,
    pub functions: Functions,
    app_key: [u8; 32],
    client: reqwest::Client,
}

fn message(status: StatusCode, text: &str) -> Response {
    // API Gateway's own answers: `{"message": ...}`, application/json.
    let mut r = Response::new(Body::from(
        serde_json::json!({ "message": text }).to_string(),
    ));
    *r.status_mut() = status;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// Constant-time comparison of the presented key's digest with the expected one.
fn key_matches(headers: &HeaderMap, expected: &[u8; 32]) -> bool {
    let Some(presented) = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return false;
    };
    let digest = scim_service::auth::digest(presented.trim());
    digest
        .iter()
        .zip(expected.iter())
        .fold(0u8, |acc, (a, b)| acc | (a ^ b))
        == 0
}

const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "host",
    "content-length",
];

impl Gateway {
    /// One request: route, authorize (`/app/v1`), forward, answer.
    pub async fn handle(&self, req: http::Request<Body>) -> Response {
        let (parts, body) = req.into_parts();
        let path = parts.uri.path().to_string();
        let query = parts.uri.query().map(str::to_string);
        let (function, path) = match path.strip_prefix(DIRECT_PREFIX) {
            Some(rest) => {
                let (name, rest) = rest.split_once('/').unwrap_or((rest, ""));
                match self.table.function(name).filter(|f| f.is_http()) {
                    Some(f) => (f.name.clone(), format!("/{rest}")),
                    None => return message(StatusCode::NOT_FOUND, "Not Found"),
                }
            }
            None => match self.table.resolve(parts.method.as_str(), &path) {
                Some(f) => (f.to_string(), path),
                None => return message(StatusCode::NOT_FOUND, "Not Found"),
            },
        };
        let mut headers = parts.headers;
        let app_function = self
            .table
            .function(&function)
            .is_some_and(|f| f.api() == Api::App);
        if app_function || Api::of_path(&path) == Api::App {
            // IAM in a stack: a request without the application key never reaches the function.
            if !key_matches(&headers, &self.app_key) {
                return message(StatusCode::FORBIDDEN, "Forbidden");
            }
            headers.remove(http::header::AUTHORIZATION);
        }
        let body = match axum::body::to_bytes(body, MAX_BODY).await {
            Ok(b) => b,
            Err(_) => return message(StatusCode::PAYLOAD_TOO_LARGE, "Request Entity Too Large"),
        };
        let host = headers
            .get(http::header::HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("127.0.0.1")
            .to_string();
        for h in HOP_BY_HOP {
            headers.remove(*h);
        }
        // What API Gateway tells a function about the client's view of the URL.
        if let Ok(v) = HeaderValue::from_str(&host) {
            headers.insert("x-forwarded-host", v);
        }
        headers.insert("x-forwarded-proto", HeaderValue::from_static("http"));
        self.forward(&function, parts.method, &path, query, headers, body)
            .await
    }

    /// Starts `function` and invokes it once (`GET /`); `false` when no answer came from
    /// the function (tried three times).
    async fn warm(&self, function: &str) -> bool {
        for _ in 0..3 {
            let r = self
                .forward(
                    function,
                    Method::GET,
                    "/",
                    None,
                    HeaderMap::new(),
                    Bytes::new(),
                )
                .await;
            // A function's answer is always 4xx here; 5xx is the emulator's or ours.
            if r.status().is_client_error() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        false
    }

    async fn forward(
        &self,
        function: &str,
        method: Method,
        path: &str,
        query: Option<String>,
        headers: HeaderMap,
        body: Bytes,
    ) -> Response {
        if let Err(e) = self.functions.ensure_running(function) {
            eprintln!("lambda-gateway: {e}");
            return message(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error");
        }
        let mut url = format!("{}/lambda-url/{function}{path}", self.lambda_url);
        if let Some(q) = query {
            url.push('?');
            url.push_str(&q);
        }
        // cargo lambda watch (1.9.2) acknowledges a function's response before it has read
        // its body, so a response of more than a few KB (openapi.json, /Schemas, a long
        // list) is now and then lost: the emulator answers its own 500, or never answers.
        // The function did answer; a read-only request is sent again (at most twice, each
        // try given a third of API Gateway's timeout), anything else is not.
        let read_only =
            method == Method::GET || method == Method::HEAD || path.ends_with("/.search");
        let (tries, per_try) = if read_only {
            (3, INTEGRATION_TIMEOUT / 3)
        } else {
            (1, INTEGRATION_TIMEOUT)
        };
        let mut attempt = 0;
        let (status, headers, body) = loop {
            attempt += 1;
            let sent = self
                .client
                .request(method.clone(), &url)
                .headers(headers.clone())
                .body(body.clone())
                .timeout(per_try)
                .send()
                .await;
            let resp = match sent {
                Ok(r) => r,
                Err(e) if e.is_timeout() && attempt < tries => {
                    eprintln!("lambda-gateway: {function}: no answer to {method} {path} from the emulator; sending it again");
                    continue;
                }
                Err(e) if e.is_timeout() => {
                    return message(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable")
                }
                Err(e) => {
                    eprintln!("lambda-gateway: {function}: {e}");
                    return message(StatusCode::BAD_GATEWAY, "Internal Server Error");
                }
            };
            let status = resp.status();
            let mut headers = resp.headers().clone();
            for h in HOP_BY_HOP {
                headers.remove(*h);
            }
            let body = match resp.bytes().await {
                Ok(b) => b,
                Err(e) => {
                    eprintln!("lambda-gateway: {function}: {e}");
                    return message(StatusCode::BAD_GATEWAY, "Internal Server Error");
                }
            };
            let lost = status == StatusCode::INTERNAL_SERVER_ERROR
                && body.starts_with(EMULATOR_ERROR.as_bytes());
            if lost && attempt < tries {
                eprintln!("lambda-gateway: {function}: the emulator lost the response of {method} {path}; sending it again");
                continue;
            }
            break (status, headers, body);
        };
        let mut r = Response::new(Body::from(body));
        *r.status_mut() = status;
        *r.headers_mut() = headers;
        r
    }
}

/// The configuration of one run, from the environment (`README`, "Running the real
/// function binaries").
struct Settings {
    root: PathBuf,
    port: u16,
    tenant: String,
    table: String,
    token: String,
    app_key: String,
    routes: PathBuf,
    build: bool,
    out_dir: PathBuf,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

impl Settings {
    fn from_env(command: bool) -> Result<Settings, String> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .canonicalize()
            .map_err(|e| format!("cannot find the workspace: {e}"))?;
        let port = match env("SCIM_PORT") {
            Some(p) => p
                .parse()
                .map_err(|_| format!("SCIM_PORT '{p}' is not a port"))?,
            None if command => crate::launch::free_port()?,
            None => 8080,
        };
        let tenant = env("TENANT_ID").unwrap_or_else(|| "local".into());
        scim_aws::config::check_tenant_id(&tenant)?;
        let target = env("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("target"));
        // A relative SCIM_ROUTES is relative to where the gateway was started.
        let routes = match env("SCIM_ROUTES").map(PathBuf::from) {
            Some(r) if r.is_relative() => std::env::current_dir()
                .map_err(|e| format!("current directory: {e}"))?
                .join(r),
            Some(r) => r,
            None => root.join("infra/functions.json"),
        };
        Ok(Settings {
            port,
            table: env("TABLE_NAME").unwrap_or_else(|| "scim".into()),
            token: match env("SCIM_TOKEN") {
                Some(t) => t,
                None => scim_service::auth::generate_token()?,
            },
            app_key: match env("SCIM_APP_KEY") {
                Some(k) => k,
                None => scim_service::auth::generate_token()?,
            },
            routes,
            build: env("SCIM_GATEWAY_BUILD").is_none_or(|v| v != "0"),
            out_dir: target.join("lambda-gateway"),
            tenant,
            root,
        })
    }

    fn bin_dir(&self) -> PathBuf {
        self.out_dir
            .parent()
            .map(|t| t.join("debug"))
            .unwrap_or_else(|| self.root.join("target/debug"))
    }
}

/// `cargo-lambda`: `CARGO_LAMBDA`, else the test tools' venv (`tests/tools/install.sh`),
/// else the one on `PATH`.
fn cargo_lambda() -> PathBuf {
    if let Some(p) = env("CARGO_LAMBDA") {
        return PathBuf::from(p);
    }
    let venv = crate::launch::tools_dir().join(".venv/bin/cargo-lambda");
    if venv.is_file() {
        return venv;
    }
    PathBuf::from("cargo-lambda")
}

/// A child process killed when dropped (`cargo lambda watch`).
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn wait_for_port(port: u16, child: &mut Child, log: &Path) -> Result<(), String> {
    let started = Instant::now();
    loop {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return Ok(());
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!(
                "cargo lambda watch exited ({status}); log {}:\n{}",
                log.display(),
                crate::launch::log_tail(log)
            ));
        }
        if started.elapsed() > Duration::from_secs(60) {
            return Err(format!(
                "cargo lambda watch did not listen on port {port} within 60 s; log {}",
                log.display()
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Puts `value` as the current version of `name`, creating the secret if needed.
async fn put_secret(
    client: &aws_sdk_secretsmanager::Client,
    name: &str,
    value: &str,
) -> Result<(), String> {
    let created = client
        .create_secret()
        .name(name)
        .secret_string(value)
        .send()
        .await;
    match created {
        Ok(_) => Ok(()),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_exists_exception()) =>
        {
            client
                .put_secret_value()
                .secret_id(name)
                .secret_string(value)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| format!("PutSecretValue {name}: {e}"))
        }
        Err(e) => Err(format!("CreateSecret {name}: {e}")),
    }
}

/// `lambda-gateway`'s `main`: starts everything, serves until stopped; everything it
/// started stops with it (Ctrl-C stops the whole process group).
pub fn main() -> std::process::ExitCode {
    let command: Vec<String> = std::env::args().skip(1).collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build();
    let result = match runtime {
        Ok(rt) => rt.block_on(run(command)),
        Err(e) => Err(format!("tokio: {e}")),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("lambda-gateway: {e}");
            std::process::ExitCode::from(2)
        }
    }
}

/// Starts everything, then serves until stopped; or, given a command, runs it with
/// `SCIM_BASE_URL`, `SCIM_TOKEN` and `SCIM_APP_KEY` set to the gateway's (on a free port
/// unless `SCIM_PORT` is set), stops everything and exits with the command's status.
pub async fn run(command: Vec<String>) -> Result<std::process::ExitCode, String> {
    let s = Settings::from_env(!command.is_empty())?;
    let table = RouteTable::load(&s.routes)?;
    std::fs::create_dir_all(&s.out_dir)
        .map_err(|e| format!("cannot create {}: {e}", s.out_dir.display()))?;

    if s.build {
        // The same build as tests/run.sh's, so nothing is compiled twice (a no-op when
        // fresh); SCIM_GATEWAY_BUILD=0 skips it.
        eprintln!("lambda-gateway: cargo build --workspace --bins");
        let status = Command::new(env("CARGO").unwrap_or_else(|| "cargo".into()))
            .args(["build", "--workspace", "--bins", "--quiet"])
            .current_dir(&s.root)
            .status()
            .map_err(|e| format!("cannot run cargo: {e}"))?;
        if !status.success() {
            return Err(format!("cargo build --workspace --bins failed ({status})"));
        }
    }
    let bin_dir = s.bin_dir();
    let http_functions: Vec<&FunctionDef> =
        table.functions.iter().filter(|f| f.is_http()).collect();
    for f in &http_functions {
        if !bin_dir.join(&f.name).is_file() {
            return Err(format!(
                "{} is missing: run `cargo build --workspace --bins`",
                bin_dir.join(&f.name).display()
            ));
        }
    }

    // DynamoDB: the embedded engine, or the endpoint given.
    let mut _embedded = None;
    let (ddb, ddb_endpoint, ddb_what) = match env("AWS_ENDPOINT_URL_DYNAMODB") {
        Some(url) => (scim_local::env_client().await, url.clone(), url),
        None => {
            let e = scim_local::start_embedded(None).await?;
            let client = scim_local::local_client(&e.endpoint).await;
            let endpoint = e.endpoint.clone();
            _embedded = Some(e);
            (
                client,
                endpoint.clone(),
                format!("embedded engine, in memory, at {endpoint}"),
            )
        }
    };
    scim_aws::table::ensure_table(&ddb, &s.table).await?;

    // Secrets Manager: moto, or the endpoint given. The tenant's two secrets, named as in a
    // stack: the bearer token and the access tokens' signing key.
    let mut _moto = None;
    let sm_endpoint = match env("AWS_ENDPOINT_URL_SECRETS_MANAGER") {
        Some(url) => url,
        None => {
            let m = crate::moto::MotoServer::start().map_err(|e| {
                format!(
                    "{e}\n(set AWS_ENDPOINT_URL_SECRETS_MANAGER to use another Secrets Manager)"
                )
            })?;
            let url = m.endpoint.clone();
            _moto = Some(m);
            url
        }
    };
    let sm = crate::aws::secrets_manager(&sm_endpoint);
    let token_secret = format!("scim/{}/bearer-token", s.tenant);
    let signing_secret = format!("scim/{}/signing-key", s.tenant);
    let token = scim_aws::tokens::BearerToken::parse(&s.token).map_err(|e| e.to_string())?;
    let value = scim_aws::tokens::TokenSecret::new(&s.tenant, token)
        .map_err(|e| e.to_string())?
        .to_secret_string();
    put_secret(&sm, &token_secret, &value).await?;
    let keys =
        scim_service::oauth::keys::KeySet::new(scim_service::oauth::keys::SigningKey::generate()?);
    put_secret(&sm, &signing_secret, &keys.to_secret_string()).await?;

    // cargo lambda watch: function URLs and the Lambda runtime API, no builds.
    let lambda_port = match env("SCIM_LAMBDA_PORT") {
        Some(p) => p
            .parse()
            .map_err(|_| format!("SCIM_LAMBDA_PORT '{p}' is not a port"))?,
        None => crate::launch::free_port()?,
    };
    let watch_log = s.out_dir.join("cargo-lambda.log");
    let log = std::fs::File::create(&watch_log)
        .map_err(|e| format!("cannot create {}: {e}", watch_log.display()))?;
    let log2 = log.try_clone().map_err(|e| e.to_string())?;
    let bin = cargo_lambda();
    // No `--timeout`: it also cuts the functions' long polls for their next event, which
    // kills every idle function after that long (lambda_runtime panics on the answer). The
    // gateway's own client times out instead, as API Gateway does.
    let mut watch = Command::new(&bin)
        .args(["lambda", "watch", "--only-lambda-apis", "--ignore-changes"])
        .args(["--disable-cors", "--invoke-address", "127.0.0.1"])
        .args(["--invoke-port", &lambda_port.to_string()])
        .current_dir(&s.root)
        .stdin(Stdio::null())
        .stdout(Stdio::from(log))
        .stderr(Stdio::from(log2))
        .spawn()
        .map_err(|e| {
            format!(
                "cannot run {}: {e}\ninstall cargo-lambda: python3 -m venv tests/tools/.venv && tests/tools/.venv/bin/pip install cargo-lambda==1.9.2",
                bin.display()
            )
        })?;
    wait_for_port(lambda_port, &mut watch, &watch_log).await?;
    let _watch = Guard(watch);
    let lambda_url = format!("http://127.0.0.1:{lambda_port}");

    let addr = SocketAddr::from(([127, 0, 0, 1], s.port));
    let listener = scim_local::bind(addr).await?;
    let origin = format!("http://{addr}");
    let base_url = format!("{origin}/scim/v2");
    let token_endpoint = format!("{origin}/oauth2/token");

    let values: HashMap<String, String> = [
        ("TABLE_NAME", s.table.clone()),
        ("TENANT_ID", s.tenant.clone()),
        ("TOKEN_SECRET_ARN", token_secret.clone()),
        ("SIGNING_SECRET_ARN", signing_secret.clone()),
        ("EVENT_BUS_NAME", format!("scim-{}", s.tenant)),
        ("RUST_LOG", env("RUST_LOG").unwrap_or_else(|| "info".into())),
        ("TENANT_URL", base_url.clone()),
        ("TOKEN_ENDPOINT", token_endpoint.clone()),
        (
            "ACCESS_TOKEN_LIFETIME",
            env("ACCESS_TOKEN_LIFETIME").unwrap_or_else(|| "3600".into()),
        ),
        (
            "ENTRA_LOGIN_URL",
            env("ENTRA_LOGIN_URL")
                .unwrap_or_else(|| scim_service::oauth::federation::DEFAULT_LOGIN_URL.into()),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let stack = StackEnv {
        values,
        aws: vec![
            ("AWS_REGION".into(), "us-east-1".into()),
            ("AWS_ACCESS_KEY_ID".into(), "local".into()),
            ("AWS_SECRET_ACCESS_KEY".into(), "local".into()),
            ("AWS_ENDPOINT_URL_DYNAMODB".into(), ddb_endpoint),
            (
                "AWS_ENDPOINT_URL_SECRETS_MANAGER".into(),
                sm_endpoint.clone(),
            ),
        ],
    };
    let names: Vec<String> = http_functions.iter().map(|f| f.name.clone()).collect();
    let mut envs = HashMap::new();
    for f in &http_functions {
        envs.insert(f.name.clone(), stack.for_function(f)?);
    }
    let client = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(INTEGRATION_TIMEOUT)
        .build()
        .map_err(|e| format!("HTTP client: {e}"))?;
    let gateway = Arc::new(Gateway {
        functions: Functions {
            bin_dir: bin_dir.clone(),
            log_dir: s.out_dir.clone(),
            runtime_api: format!("{lambda_url}/.rt"),
            env: envs,
            running: Mutex::new(HashMap::new()),
        },
        table,
        lambda_url: lambda_url.clone(),
        app_key: scim_service::auth::digest(&s.app_key),
        client,
    });

    // Every function's cold start now, side by side, not in a client's first request: each
    // is started and invoked once (`GET /`, which each answers with an error of its own).
    let started = Instant::now();
    let mut warming = tokio::task::JoinSet::new();
    for name in &names {
        let (gateway, name) = (Arc::clone(&gateway), name.clone());
        warming.spawn(async move { (gateway.warm(&name).await, name) });
    }
    let mut cold = Vec::new();
    while let Some(done) = warming.join_next().await {
        match done {
            Ok((true, _)) => {}
            Ok((false, name)) => cold.push(name),
            Err(e) => cold.push(e.to_string()),
        }
    }
    if !cold.is_empty() {
        eprintln!(
            "lambda-gateway: no answer from {} at start-up (logs in {})",
            cold.join(", "),
            s.out_dir.display()
        );
    }

    println!(
        "The function binaries ({}) behind API Gateway's route table ({})",
        bin_dir.display(),
        s.routes.display()
    );
    println!("  Tenant URL / Base URL: {base_url}");
    println!("  Bearer token:          {}", s.token);
    println!("  Token endpoint:        {token_endpoint}");
    println!("  Application API:       {origin}/app/v1");
    println!("  Application key:       {}", s.app_key);
    println!("  cargo lambda watch:    {lambda_url} (function URLs: {lambda_url}/lambda-url/<function>/)");
    println!("  DynamoDB:              {ddb_what}");
    println!("  Secrets Manager:       {sm_endpoint} ({token_secret}, {signing_secret})");
    println!(
        "  Logs:                  {}/<function>.log",
        s.out_dir.display()
    );
    println!(
        "  Functions:             {} of {} started and invoked once in {} ms",
        names.len() - cold.len(),
        names.len(),
        started.elapsed().as_millis()
    );

    let app = axum::Router::new().fallback(move |req: http::Request<Body>| {
        let gateway = Arc::clone(&gateway);
        async move { gateway.handle(req).await }
    });
    let server = axum::serve(listener, app);
    let Some((program, args)) = command.split_first() else {
        return tokio::select! {
            served = server => served
                .map(|()| std::process::ExitCode::SUCCESS)
                .map_err(|e| format!("server: {e}")),
            signal = stop_signal() => signal.map(|()| std::process::ExitCode::SUCCESS),
        };
    };
    let child = Command::new(program)
        .args(args)
        .env("SCIM_BASE_URL", &base_url)
        .env("SCIM_TOKEN", &s.token)
        .env("SCIM_APP_KEY", &s.app_key)
        .env("SCIM_ROUTES", &s.routes)
        .spawn()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    let pid = child.id();
    let mut waited = tokio::task::spawn_blocking(move || {
        let mut child = child;
        child.wait()
    });
    let status = tokio::select! {
        served = server => return Err(format!("server stopped: {served:?}")),
        status = &mut waited => status,
        signal = stop_signal() => {
            // Stopped: the command too (then everything else, as this returns).
            let _ = Command::new("kill").arg(pid.to_string()).status();
            let _ = waited.await;
            return signal.map(|()| std::process::ExitCode::from(130));
        }
    };
    // Everything started here stops when this returns (the guards' Drop).
    match status {
        Ok(Ok(s)) if s.success() => Ok(std::process::ExitCode::SUCCESS),
        Ok(Ok(s)) => Ok(std::process::ExitCode::from(
            s.code().unwrap_or(1).clamp(1, 255) as u8,
        )),
        Ok(Err(e)) => Err(format!("{program}: {e}")),
        Err(e) => Err(format!("{program}: {e}")),
    }
}

/// SIGTERM or SIGINT: time to stop (and stop what was started, by returning).
async fn stop_signal() -> Result<(), String> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).map_err(|e| format!("SIGTERM: {e}"))?;
    let mut int = signal(SignalKind::interrupt()).map_err(|e| format!("SIGINT: {e}"))?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    eprintln!("lambda-gateway: stopping");
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn table() -> RouteTable {
        RouteTable::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../infra/functions.json"))
            .unwrap()
    }

    #[test]
    fn routes_resolve_as_api_gateway_does() {
        let t = table();
        let r = |m: &str, p: &str| t.resolve(m, p);
        assert_eq!(r("GET", "/scim/v2/Users"), Some("users-list"));
        assert_eq!(r("POST", "/scim/v2/Users/.search"), Some("users-list"));
        // A literal segment beats a path parameter; other methods fall through.
        assert_eq!(r("GET", "/scim/v2/Users/.search"), Some("users-get"));
        assert_eq!(r("GET", "/scim/v2/Users/abc"), Some("users-get"));
        assert_eq!(r("PATCH", "/scim/v2/Groups/abc"), Some("groups-patch"));
        assert_eq!(r("POST", "/oauth2/token"), Some("oauth-token"));
        assert_eq!(r("GET", "/scim/v2/Entitlements"), Some("catalog-read"));
        assert_eq!(r("GET", "/scim/v2/Roles/role-1"), Some("catalog-read"));
        // Read-only: a write to the catalog over SCIM reaches $default (405, Allow: GET).
        assert_eq!(r("POST", "/scim/v2/Roles"), Some("discovery"));
        // $default: unknown paths and methods on the SCIM API.
        assert_eq!(r("DELETE", "/scim/v2/Users"), Some("discovery"));
        assert_eq!(r("GET", "/scim/v2/Users/a/b"), Some("discovery"));
        assert_eq!(r("GET", "/scim/v2/Users/"), Some("discovery"));
        assert_eq!(r("GET", "/"), Some("discovery"));
        // The application API has no $default.
        assert_eq!(r("GET", "/app/v1/settings"), Some("app-settings"));
        assert_eq!(r("DELETE", "/app/v1/clients/x"), Some("app-settings"));
        assert_eq!(r("PUT", "/app/v1/users/x/end-date"), Some("app-contacts"));
        assert_eq!(r("GET", "/app/v1/users/x"), Some("app-directory"));
        assert_eq!(r("PUT", "/app/v1/entitlements"), Some("app-catalog"));
        assert_eq!(r("GET", "/app/v1/roles"), Some("app-catalog"));
        assert_eq!(r("GET", "/app/v1/nothing"), None);
        assert_eq!(r("POST", "/app/v1/settings"), None);
    }

    #[test]
    fn a_greedy_parameter_and_any_rank_below_exact_routes() {
        let t = RouteTable::parse(
            r#"{"functions": [
                {"name": "a", "routes": ["ANY /x/{p+}"]},
                {"name": "b", "routes": ["GET /x/{id}"]},
                {"name": "c", "routes": ["GET /x/y", "ANY /x/z"]},
                {"name": "d", "routes": ["POST /x/z"]}]}"#,
        )
        .unwrap();
        assert_eq!(t.resolve("GET", "/x/y"), Some("c"));
        assert_eq!(t.resolve("GET", "/x/q"), Some("b"));
        assert_eq!(t.resolve("GET", "/x/q/r"), Some("a"));
        assert_eq!(t.resolve("POST", "/x/z"), Some("d"));
        assert_eq!(t.resolve("GET", "/x/z"), Some("c"));
        assert_eq!(t.resolve("GET", "/x"), None);
    }

    #[test]
    fn a_route_on_two_functions_is_refused() {
        let e = RouteTable::parse(
            r#"{"functions": [{"name": "a", "routes": ["GET /x"]}, {"name": "b", "routes": ["GET /x"]}]}"#,
        )
        .unwrap_err();
        assert!(e.contains("both a and b"), "{e}");
    }

    #[test]
    fn each_function_gets_the_environment_functions_json_gives_it() {
        let t = table();
        let names = |n: &str| t.function(n).unwrap().environment_names();
        assert!(names("users-get").contains(&"SIGNING_SECRET_ARN".to_string()));
        assert!(names("users-get").contains(&"TOKEN_SECRET_ARN".to_string()));
        assert!(!names("app-directory").contains(&"TOKEN_SECRET_ARN".to_string()));
        assert!(names("app-settings").contains(&"TOKEN_SECRET_ARN".to_string()));
        assert!(!names("oauth-token").contains(&"TOKEN_SECRET_ARN".to_string()));
        // No async-worker runs behind the gateway: no function is told to accept jobs.
        for f in &t.functions {
            assert!(
                !f.environment_names().iter().any(|n| n == "ASYNC_REQUESTS"),
                "{}",
                f.name
            );
        }
    }
}
