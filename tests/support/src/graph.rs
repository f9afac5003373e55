//! A loopback stand-in for Entra's token endpoint and Microsoft Graph: a small axum server
//! that records every request and answers each from a script, so `entra-guest-cleanup`'s
//! real client (token cache, retries, `Retry-After`) runs end to end without a network.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// The `request-id` every answer carries (Graph's correlation header).
pub const REQUEST_ID: &str = "5f2b7c1e-0000-4000-8000-00000000beef";

/// One request as the stand-in received it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub body: String,
    pub at: Instant,
}

impl Seen {
    /// `token` (the token endpoint), or Graph's `get`, `patch`, `delete`; else `other`.
    pub fn kind(&self) -> &'static str {
        if self.path.ends_with("/oauth2/v2.0/token") {
            return "token";
        }
        match self.method.as_str() {
            "GET" => "get",
            "PATCH" => "patch",
            "DELETE" => "delete",
            _ => "other",
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn header_names(&self) -> BTreeSet<String> {
        self.headers
            .keys()
            .map(|k| k.as_str().to_string())
            .collect()
    }

    /// The body as a form (the token request).
    pub fn form(&self) -> BTreeMap<String, String> {
        form_urlencoded::parse(self.body.as_bytes())
            .into_owned()
            .collect()
    }
}

/// An answer.
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
}

/// A JSON answer (no body for `null`) with Graph's headers.
pub fn reply(status: u16, body: Value) -> Reply {
    Reply {
        status,
        headers: vec![
            ("content-type", "application/json".into()),
            ("request-id", REQUEST_ID.into()),
        ],
        body: if body.is_null() {
            String::new()
        } else {
            body.to_string()
        },
    }
}

pub fn with_retry_after(mut r: Reply, secs: u64) -> Reply {
    r.headers.push(("retry-after", secs.to_string()));
    r
}

pub fn no_content() -> Reply {
    reply(204, Value::Null)
}

/// Graph's error body.
pub fn graph_error(status: u16, code: &str) -> Reply {
    reply(
        status,
        json!({"error": {"code": code, "message": "stand-in",
               "innerError": {"request-id": REQUEST_ID}}}),
    )
}

/// `script(request, n)`: the answer to a request that is the n-th (0-based) of its kind.
pub type Script = dyn Fn(&Seen, usize) -> Reply + Send + Sync;

struct Shared {
    seen: Mutex<Vec<Seen>>,
    script: Box<Script>,
}

/// The running stand-in; stops with the test's runtime.
pub struct StandIn {
    /// `http://127.0.0.1:<port>`: both the login and the Graph base URL.
    pub base: String,
    shared: Arc<Shared>,
    _server: tokio::task::JoinHandle<()>,
}

impl StandIn {
    /// `script(request, n)`: the answer to a request that is the n-th (0-based) of its
    /// kind (`token`, `get`, `patch`, `delete`).
    pub async fn start(script: impl Fn(&Seen, usize) -> Reply + Send + Sync + 'static) -> StandIn {
        let shared = Arc::new(Shared {
            seen: Mutex::new(Vec::new()),
            script: Box::new(script),
        });
        let app = axum::Router::new()
            .fallback(answer)
            .with_state(Arc::clone(&shared));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the stand-in");
        let base = format!("http://{}", listener.local_addr().expect("its address"));
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        StandIn {
            base,
            shared,
            _server: server,
        }
    }

    /// Every request so far, in order.
    pub fn requests(&self) -> Vec<Seen> {
        self.shared
            .seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The requests of one kind.
    pub fn of(&self, kind: &str) -> Vec<Seen> {
        self.requests()
            .into_iter()
            .filter(|s| s.kind() == kind)
            .collect()
    }

    pub fn kinds(&self) -> Vec<&'static str> {
        self.requests().iter().map(Seen::kind).collect()
    }
}

async fn answer(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, HeaderMap, String) {
    let seen = Seen {
        method: method.to_string(),
        path: uri.path().to_string(),
        query: uri.query().map(str::to_string),
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
        at: Instant::now(),
    };
    let nth = {
        let mut all = shared.seen.lock().unwrap_or_else(|e| e.into_inner());
        let nth = all.iter().filter(|s| s.kind() == seen.kind()).count();
        all.push(seen.clone());
        nth
    };
    let r = (shared.script)(&seen, nth);
    let mut out = HeaderMap::new();
    for (k, v) in r.headers {
        out.insert(k, v.parse().expect("a header value"));
    }
    (
        StatusCode::from_u16(r.status).expect("a status code"),
        out,
        r.body,
    )
}
