//! `lambda-coldstart`: times a function binary's cold start against a local Lambda Runtime
//! API, as Lambda's `provided.al2023` runtime would start it.
//!
//! For each run: spawn the binary with the Lambda environment (`AWS_LAMBDA_RUNTIME_API`
//! pointing here), answer its first `GET /2018-06-01/runtime/invocation/next` with an API
//! Gateway HTTP API (v2) event, and take its `POST .../invocation/{id}/response`. Reports
//! time from spawn to the first `/next` (init done: configuration read, SDK clients built,
//! token cache warmed) and to the first response (the first invocation), median and p90, and
//! the function's peak RSS (`VmHWM`).
//!
//! DynamoDB is an embedded engine started here (with one user in it, so the first
//! invocation is a real `GET /Users/{id}`); tokens come from `SCIM_BEARER_TOKEN`, or with
//! `--secrets-endpoint` (a moto server) from a Secrets Manager secret via `TOKEN_SECRET_ARN`,
//! as in a deployed stack.
//!
//! ```text
//! lambda-coldstart --bin target/release/users-get --runs 20 [--secrets-endpoint http://127.0.0.1:5000]
//! ```

use bytes::Bytes;
use http::{Method, StatusCode};
use scim_aws::DynamoStore;
use scim_load::{ms, number, parse_args, Histogram};
use scim_service::auth::TokenSet;
use scim_service::http::{handle, App, HttpConfig, ScimRequest};
use scim_test_support::engine::{Engine, Stream};
use serde_json::{json, Value};
use std::process::{ExitCode, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

const TENANT: &str = "coldstart";
const TOKEN: &str = "coldstart-token-0123456789abcdef0123456789abcdef";
const TABLE: &str = "scim-coldstart";

/// Times a function binary's cold start against a local Lambda Runtime API.
#[derive(argh::FromArgs)]
struct Args {
    /// the function binary (e.g. target/release/users-get)
    #[argh(option)]
    bin: String,
    /// cold starts to time (20)
    #[argh(option, default = "20", from_str_fn(number))]
    runs: usize,
    /// a moto server: the tokens come from a Secrets Manager secret there, as in a stack
    #[argh(option)]
    secrets_endpoint: Option<String>,
    /// how long to wait for each run's response, in seconds (10)
    #[argh(option, default = "10", from_str_fn(number))]
    timeout_secs: u64,
}

/// What the emulator saw in the current run.
#[derive(Default)]
struct RunState {
    event: Value,
    first_next: Option<Instant>,
    response: Option<(Instant, Value)>,
    error: Option<String>,
    invocations: u32,
}

struct Emulator {
    state: Mutex<RunState>,
    done: Notify,
}

async fn runtime_api(emu: Arc<Emulator>, req: axum::extract::Request) -> axum::response::Response {
    let now = Instant::now();
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_string();
    let body = axum::body::to_bytes(body, 10 << 20)
        .await
        .unwrap_or_default();
    let reply = |status: StatusCode, body: Bytes| {
        let mut r = axum::response::Response::new(axum::body::Body::from(body));
        *r.status_mut() = status;
        r
    };
    if parts.method == Method::GET && path == "/2018-06-01/runtime/invocation/next" {
        let event = {
            let Ok(mut s) = emu.state.lock() else {
                return reply(StatusCode::INTERNAL_SERVER_ERROR, Bytes::new());
            };
            s.invocations += 1;
            if s.invocations > 1 {
                None
            } else {
                s.first_next.get_or_insert(now);
                Some(s.event.clone())
            }
        };
        let Some(event) = event else {
            // Only one invocation per run: the next poll waits until the run kills the process.
            std::future::pending::<()>().await;
            return reply(StatusCode::OK, Bytes::new());
        };
        let deadline = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() + 30_000)
            .unwrap_or(0);
        let mut r = reply(
            StatusCode::OK,
            Bytes::from(serde_json::to_vec(&event).unwrap_or_default()),
        );
        let h = r.headers_mut();
        let mut set = |k: &'static str, v: String| {
            if let Ok(v) = http::HeaderValue::from_str(&v) {
                h.insert(k, v);
            }
        };
        set("lambda-runtime-aws-request-id", "req-1".into());
        set("lambda-runtime-deadline-ms", deadline.to_string());
        set(
            "lambda-runtime-invoked-function-arn",
            "arn:aws:lambda:us-east-1:123456789012:function:users-get".into(),
        );
        set(
            "lambda-runtime-trace-id",
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=0".into(),
        );
        set("content-type", "application/json".into());
        return r;
    }
    if parts.method == Method::POST && path.ends_with("/response") {
        if let Ok(mut s) = emu.state.lock() {
            s.response = Some((now, serde_json::from_slice(&body).unwrap_or(Value::Null)));
        }
        emu.done.notify_one();
        return reply(StatusCode::ACCEPTED, Bytes::from_static(b"{}"));
    }
    if parts.method == Method::POST && path.ends_with("/error") {
        if let Ok(mut s) = emu.state.lock() {
            s.error = Some(format!("{path}: {}", String::from_utf8_lossy(&body)));
        }
        emu.done.notify_one();
        return reply(StatusCode::ACCEPTED, Bytes::from_static(b"{}"));
    }
    reply(StatusCode::NOT_FOUND, Bytes::new())
}

fn event(user_id: &str) -> Value {
    let path = format!("/scim/v2/Users/{user_id}");
    json!({
        "version": "2.0",
        "routeKey": "GET /scim/v2/Users/{id}",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {
            "authorization": format!("Bearer {TOKEN}"),
            "host": "abc123.execute-api.us-east-1.amazonaws.com",
            "x-forwarded-proto": "https",
            "accept": "application/scim+json"
        },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "domainName": "abc123.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "abc123",
            "http": {"method": "GET", "path": path, "protocol": "HTTP/1.1",
                     "sourceIp": "127.0.0.1", "userAgent": "lambda-coldstart"},
            "requestId": "req-1",
            "routeKey": "GET /scim/v2/Users/{id}",
            "stage": "$default",
            "time": "01/Jan/2026:00:00:00 +0000",
            "timeEpoch": 1767225600000u64
        },
        "pathParameters": {"id": user_id},
        "isBase64Encoded": false
    })
}

/// Peak resident set of a process, from `/proc/<pid>/status` (kB).
fn vm_hwm_kb(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args::<Args>() {
        Ok(a) => a,
        Err(exit) => return exit,
    };
    match main_inner(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lambda-coldstart: {e}");
            ExitCode::from(1)
        }
    }
}

async fn main_inner(args: Args) -> Result<(), String> {
    let Args {
        bin,
        runs,
        secrets_endpoint,
        timeout_secs,
    } = args;
    let timeout = Duration::from_secs(timeout_secs);

    // The DynamoDB engine, with a table and one user to read.
    let engine = Engine::at(None, None).await?;
    let client = engine.table(TABLE, Stream::On).await?.client;
    let app = App {
        gate: Default::default(),
        store: DynamoStore::new(client, TABLE),
        auth: TokenSet::new().with(TOKEN, TENANT),
        config: HttpConfig {
            base_url: None,
            realm: "x".into(),
            tenant: Some(TENANT.into()),
            async_requests: Default::default(),
        },
    };
    let mut headers = http::HeaderMap::new();
    headers.insert(
        http::header::AUTHORIZATION,
        http::HeaderValue::from_str(&format!("Bearer {TOKEN}")).map_err(|e| e.to_string())?,
    );
    let created = handle(
        &app,
        ScimRequest {
            method: Method::POST,
            path: "/scim/v2/Users".into(),
            query: None,
            headers,
            body: Bytes::from(
                serde_json::to_vec(&scim_load::entra_user("cold@contoso.com", 1))
                    .unwrap_or_default(),
            ),
            request_id: None,
        },
    )
    .await;
    let user: Value = serde_json::from_slice(&created.body).unwrap_or(Value::Null);
    let user_id = user["id"]
        .as_str()
        .ok_or_else(|| format!("could not create the user: {user}"))?
        .to_string();

    // Tokens: from a Secrets Manager secret on moto, or the local variable.
    let mut token_env: Vec<(&str, String)> = Vec::new();
    if let Some(sm) = secrets_endpoint.as_deref() {
        let sm_client = scim_test_support::aws::secrets_manager(sm);
        let value = json!({"tenant": TENANT, "token": TOKEN}).to_string();
        let name = format!("scim/coldstart/{}", std::process::id());
        let out = sm_client
            .create_secret()
            .name(&name)
            .secret_string(value)
            .send()
            .await
            .map_err(|e| format!("create_secret on {sm}: {e:?}"))?;
        let arn = out.arn().unwrap_or(&name).to_string();
        token_env.push(("TOKEN_SECRET_ARN", arn));
        token_env.push(("AWS_ENDPOINT_URL_SECRETS_MANAGER", sm.to_string()));
    } else {
        token_env.push(("SCIM_BEARER_TOKEN", TOKEN.to_string()));
    }

    // The Runtime API.
    let emu = Arc::new(Emulator {
        state: Mutex::new(RunState::default()),
        done: Notify::new(),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let api = listener.local_addr().map_err(|e| e.to_string())?;
    let router = axum::Router::new().fallback({
        let emu = Arc::clone(&emu);
        move |req: axum::extract::Request| runtime_api(Arc::clone(&emu), req)
    });
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });

    let size = std::fs::metadata(&bin).map(|m| m.len()).unwrap_or(0);
    eprintln!(
        "lambda-coldstart: {bin} ({:.2} MB), {runs} runs, runtime API {api}, DynamoDB {}, tokens from {}",
        size as f64 / 1_048_576.0,
        engine.endpoint,
        token_env[0].0
    );
    let name = std::path::Path::new(&bin)
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let (mut init, mut first, mut rss) = (
        Histogram::default(),
        Histogram::default(),
        Vec::<u64>::new(),
    );
    for run in 0..runs {
        if let Ok(mut s) = emu.state.lock() {
            *s = RunState {
                event: event(&user_id),
                ..RunState::default()
            };
        }
        let mut cmd = std::process::Command::new(&bin);
        cmd.env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("AWS_LAMBDA_RUNTIME_API", api.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", &name)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env(
                "AWS_LAMBDA_LOG_STREAM_NAME",
                "2026/01/01/[$LATEST]coldstart",
            )
            .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
            .env("AWS_REGION", "us-east-1")
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "x")
            .env("AWS_SECRET_ACCESS_KEY", "x")
            .env("AWS_SESSION_TOKEN", "x")
            .env("AWS_ENDPOINT_URL_DYNAMODB", &engine.endpoint)
            .env("TABLE_NAME", TABLE)
            .env("TENANT_ID", TENANT)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in &token_env {
            cmd.env(k, v);
        }
        let spawned = Instant::now();
        let mut child = cmd.spawn().map_err(|e| format!("{bin}: {e}"))?;
        let waited = tokio::time::timeout(timeout, emu.done.notified()).await;
        let peak = vm_hwm_kb(child.id());
        let _ = child.kill();
        let _ = child.wait();
        let mut stderr = String::new();
        if let Some(mut e) = child.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut e, &mut stderr);
        }
        if waited.is_err() {
            return Err(format!(
                "run {run}: no response within {timeout:?}; function stderr: {stderr}"
            ));
        }
        let s = emu.state.lock().map_err(|e| e.to_string())?;
        if let Some(e) = &s.error {
            return Err(format!("run {run}: the function reported {e}"));
        }
        let (Some(next_at), Some((resp_at, resp))) = (s.first_next, s.response.clone()) else {
            return Err(format!("run {run}: incomplete run"));
        };
        if resp["statusCode"] != 200 {
            return Err(format!("run {run}: the function answered {resp}"));
        }
        init.record(next_at - spawned, true);
        first.record(resp_at - spawned, true);
        if let Some(kb) = peak {
            rss.push(kb);
        }
    }
    rss.sort_unstable();
    println!(
        "{name}: size {:.2} MB; init (spawn -> first /next): median {:.1} ms, p90 {:.1} ms, max {:.1} ms; \
         first response (spawn -> response): median {:.1} ms, p90 {:.1} ms, max {:.1} ms; peak RSS median {} kB ({runs} runs)",
        size as f64 / 1_048_576.0,
        ms(init.quantile(0.5)),
        ms(init.quantile(0.9)),
        ms(init.max()),
        ms(first.quantile(0.5)),
        ms(first.quantile(0.9)),
        ms(first.max()),
        rss.get(rss.len() / 2).copied().unwrap_or(0)
    );
    Ok(())
}
