//! A DynamoDB fault proxy on loopback: the store's client talks to it, it talks to the
//! engine (embedded or DynamoDB Local), and it makes a chosen share of the data-plane calls
//! fail the ways DynamoDB and the network fail in production:
//!
//! | [`Fault`]       | what the SDK sees                                   | did the call run? |
//! |-----------------|-----------------------------------------------------|-------------------|
//! | `Throttle`      | 400 `ProvisionedThroughputExceededException`        | no                |
//! | `ServerError`   | 500 `InternalServerError`                           | no                |
//! | `LostReply`     | 500 `InternalServerError`                           | **yes**           |
//! | `Slow`          | the real reply, after [`FaultProxy::slow`]          | yes               |
//! | `Reset`         | the connection reset, no reply                      | **yes**           |
//!
//! Only calls with an `X-Amz-Target` (DynamoDB's data and control plane) are faulted; the
//! proxy speaks plain HTTP/1.1 with `Content-Length` bodies, which is what the SDK sends.
//! The fault rate can be changed at any time ([`FaultProxy::set_rate`]; 0 turns faults off),
//! and every fault injected is counted by kind ([`FaultProxy::injected`]).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// One way a call fails (see the module's table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Fault {
    Throttle,
    ServerError,
    LostReply,
    Slow,
    Reset,
}

impl Fault {
    pub const ALL: [Fault; 5] = [
        Fault::Throttle,
        Fault::ServerError,
        Fault::LostReply,
        Fault::Slow,
        Fault::Reset,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Fault::Throttle => "throttle",
            Fault::ServerError => "500",
            Fault::LostReply => "reply lost after the call ran",
            Fault::Slow => "slow",
            Fault::Reset => "connection reset after the call ran",
        }
    }
}

struct State {
    upstream: String,
    http: reqwest::Client,
    /// Faults per million calls.
    rate_ppm: AtomicU64,
    modes: Mutex<Vec<Fault>>,
    /// The operations faulted (`None`: every one).
    only: Mutex<Option<Vec<String>>>,
    rng: Mutex<fastrand::Rng>,
    slow: Duration,
    injected: Mutex<BTreeMap<Fault, u64>>,
    /// Calls by operation (`X-Amz-Target`'s operation), faulted or not.
    calls: Mutex<BTreeMap<String, u64>>,
    forwarded: AtomicU64,
}

/// The proxy; it runs until the test's runtime ends.
#[derive(Clone)]
pub struct FaultProxy {
    /// What the store's client should use as its endpoint.
    pub endpoint: String,
    state: Arc<State>,
}

impl FaultProxy {
    /// A proxy in front of `upstream`, faults off, choosing faults with a generator seeded
    /// with `seed`; a `Slow` reply is held for `slow`.
    pub async fn start(upstream: &str, seed: u64, slow: Duration) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
        let state = Arc::new(State {
            upstream: upstream.trim_end_matches('/').to_string(),
            http: reqwest::Client::new(),
            rate_ppm: AtomicU64::new(0),
            modes: Mutex::new(Fault::ALL.to_vec()),
            only: Mutex::new(None),
            rng: Mutex::new(fastrand::Rng::with_seed(seed)),
            slow,
            injected: Mutex::new(BTreeMap::new()),
            calls: Mutex::new(BTreeMap::new()),
            forwarded: AtomicU64::new(0),
        });
        let accept = Arc::clone(&state);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let state = Arc::clone(&accept);
                tokio::spawn(async move {
                    let _ = serve(stream, state).await;
                });
            }
        });
        FaultProxy { endpoint, state }
    }

    /// The share of calls (0.0 to 1.0) that fail from now on.
    pub fn set_rate(&self, rate: f64) {
        let ppm = (rate.clamp(0.0, 1.0) * 1_000_000.0) as u64;
        self.state.rate_ppm.store(ppm, Ordering::SeqCst);
    }

    /// The faults chosen from (each equally likely).
    pub fn set_modes(&self, modes: &[Fault]) {
        *self.state.modes.lock().expect("modes") = modes.to_vec();
    }

    /// Faults only for these operations (`"TransactWriteItems"`, …); `None`: every one.
    pub fn set_operations(&self, ops: Option<&[&str]>) {
        *self.state.only.lock().expect("only") =
            ops.map(|o| o.iter().map(|s| s.to_string()).collect());
    }

    /// The faults injected so far, by kind.
    pub fn injected(&self) -> BTreeMap<Fault, u64> {
        self.state.injected.lock().expect("injected").clone()
    }

    /// The calls seen so far, by DynamoDB operation.
    pub fn calls(&self) -> BTreeMap<String, u64> {
        self.state.calls.lock().expect("calls").clone()
    }

    /// Calls passed on to the engine (a `LostReply`, `Slow` or `Reset` call is passed on).
    pub fn forwarded(&self) -> u64 {
        self.state.forwarded.load(Ordering::SeqCst)
    }

    /// Faults injected so far, all kinds together.
    pub fn injected_total(&self) -> u64 {
        self.state.injected.lock().expect("injected").values().sum()
    }

    /// How long a `Slow` reply is held.
    pub fn slow(&self) -> Duration {
        self.state.slow
    }
}

/// A request as read off the connection.
struct Request {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Reads one request; `None` at the end of the connection.
async fn read_request(r: &mut BufReader<TcpStream>) -> std::io::Result<Option<Request>> {
    let mut line = String::new();
    if r.read_line(&mut line).await? == 0 {
        return Ok(None);
    }
    let mut parts = line.split_whitespace();
    let (Some(method), Some(path)) = (parts.next(), parts.next()) else {
        return Ok(None);
    };
    let (method, path) = (method.to_string(), path.to_string());
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if r.read_line(&mut h).await? == 0 {
            return Ok(None);
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    let len = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    r.read_exact(&mut body).await?;
    Ok(Some(Request {
        method,
        path,
        headers,
        body,
    }))
}

async fn serve(stream: TcpStream, state: Arc<State>) -> std::io::Result<()> {
    let mut conn = BufReader::new(stream);
    while let Some(req) = read_request(&mut conn).await? {
        let op = req
            .header("x-amz-target")
            .map(|t| t.rsplit('.').next().unwrap_or(t).to_string());
        if let Some(op) = &op {
            *state
                .calls
                .lock()
                .expect("calls")
                .entry(op.clone())
                .or_default() += 1;
        }
        let fault = op.as_deref().and_then(|op| choose(&state, op));
        if let Some(f) = fault {
            *state
                .injected
                .lock()
                .expect("injected")
                .entry(f)
                .or_default() += 1;
        }
        match fault {
            Some(Fault::Throttle) => {
                let body = error_body("ProvisionedThroughputExceededException");
                write_reply(conn.get_mut(), 400, &json_headers(), &body).await?;
            }
            Some(Fault::ServerError) => {
                let body = error_body("InternalServerError");
                write_reply(conn.get_mut(), 500, &json_headers(), &body).await?;
            }
            Some(Fault::LostReply) => {
                let _ = forward(&state, &req).await;
                let body = error_body("InternalServerError");
                write_reply(conn.get_mut(), 500, &json_headers(), &body).await?;
            }
            Some(Fault::Reset) => {
                let _ = forward(&state, &req).await;
                // Linger 0: closing sends a reset instead of an orderly end.
                let _ = conn.get_ref().set_zero_linger();
                return Ok(());
            }
            Some(Fault::Slow) => {
                let reply = forward(&state, &req).await;
                tokio::time::sleep(state.slow).await;
                write_forwarded(conn.get_mut(), reply).await?;
            }
            None => {
                let reply = forward(&state, &req).await;
                write_forwarded(conn.get_mut(), reply).await?;
            }
        }
    }
    Ok(())
}

fn choose(state: &State, op: &str) -> Option<Fault> {
    let rate = state.rate_ppm.load(Ordering::SeqCst);
    if rate == 0 {
        return None;
    }
    if let Some(only) = state.only.lock().expect("only").as_ref() {
        if !only.iter().any(|o| o == op) {
            return None;
        }
    }
    let mut rng = state.rng.lock().expect("rng");
    if rng.u64(0..1_000_000) >= rate {
        return None;
    }
    let modes = state.modes.lock().expect("modes");
    if modes.is_empty() {
        return None;
    }
    Some(modes[rng.usize(0..modes.len())])
}

type Reply = (u16, Vec<(String, String)>, Vec<u8>);

async fn forward(state: &State, req: &Request) -> Result<Reply, reqwest::Error> {
    state.forwarded.fetch_add(1, Ordering::SeqCst);
    let method =
        reqwest::Method::from_bytes(req.method.as_bytes()).unwrap_or(reqwest::Method::POST);
    let mut out = state
        .http
        .request(method, format!("{}{}", state.upstream, req.path))
        .body(req.body.clone());
    for (k, v) in &req.headers {
        if !["host", "content-length", "connection"].contains(&k.to_ascii_lowercase().as_str()) {
            out = out.header(k, v);
        }
    }
    let resp = out.send().await?;
    let status = resp.status().as_u16();
    let headers = resp
        .headers()
        .iter()
        .filter(|(k, _)| {
            !["content-length", "transfer-encoding", "connection"].contains(&k.as_str())
        })
        .filter_map(|(k, v)| Some((k.to_string(), v.to_str().ok()?.to_string())))
        .collect();
    let body = resp.bytes().await?.to_vec();
    Ok((status, headers, body))
}

async fn write_forwarded(
    conn: &mut TcpStream,
    reply: Result<Reply, reqwest::Error>,
) -> std::io::Result<()> {
    match reply {
        Ok((status, headers, body)) => write_reply(conn, status, &headers, &body).await,
        Err(_) => {
            let body = error_body("InternalServerError");
            write_reply(conn, 500, &json_headers(), &body).await
        }
    }
}

fn json_headers() -> Vec<(String, String)> {
    vec![("content-type".into(), "application/x-amz-json-1.0".into())]
}

fn error_body(code: &str) -> Vec<u8> {
    format!(
        r#"{{"__type":"com.amazonaws.dynamodb.v20120810#{code}","message":"injected by the fault proxy"}}"#
    )
    .into_bytes()
}

async fn write_reply(
    conn: &mut TcpStream,
    status: u16,
    headers: &[(String, String)],
    body: &[u8],
) -> std::io::Result<()> {
    let mut head = format!("HTTP/1.1 {status} X\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!("content-length: {}\r\n\r\n", body.len()));
    conn.write_all(head.as_bytes()).await?;
    conn.write_all(body).await?;
    conn.flush().await
}
