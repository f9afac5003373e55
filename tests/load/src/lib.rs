//! Shared pieces of the performance tools: latency histograms, the report format that
//! `scim-load` writes and `scim-cost` reads, command-line parsing (argh), and the price
//! list the cost model assumes. Engines, tables and in-process requests come from
//! `scim-test-support`.

use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Latencies of one kind of request (a sorted `Vec` is enough at these sizes).
#[derive(Debug, Default, Clone)]
pub struct Histogram {
    samples: Vec<Duration>,
    pub errors: u64,
}

impl Histogram {
    pub fn record(&mut self, d: Duration, ok: bool) {
        self.samples.push(d);
        if !ok {
            self.errors += 1;
        }
    }

    pub fn count(&self) -> usize {
        self.samples.len()
    }

    /// The `q`-quantile (0..=1), nearest rank.
    pub fn quantile(&self, q: f64) -> Duration {
        if self.samples.is_empty() {
            return Duration::ZERO;
        }
        let mut v = self.samples.clone();
        v.sort_unstable();
        let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
        v[rank - 1]
    }

    pub fn mean(&self) -> Duration {
        if self.samples.is_empty() {
            return Duration::ZERO;
        }
        self.samples.iter().sum::<Duration>() / self.samples.len() as u32
    }

    pub fn max(&self) -> Duration {
        self.samples.iter().max().copied().unwrap_or_default()
    }

    pub fn merge(&mut self, other: Histogram) {
        self.samples.extend(other.samples);
        self.errors += other.errors;
    }
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Per-operation histograms, in a stable order.
pub type Stats = BTreeMap<String, Histogram>;

/// A phase's rate per window of `size` finished jobs (`scim-load --window`): whether
/// throughput holds as the data grows. Windows are counted in completion order.
#[derive(Debug)]
pub struct Windows {
    size: usize,
    started: Instant,
    done: AtomicUsize,
    /// When each full window ended, from `started`.
    ends: Mutex<Vec<Duration>>,
}

impl Windows {
    pub fn new(size: usize, started: Instant) -> Windows {
        Windows {
            size,
            started,
            done: AtomicUsize::new(0),
            ends: Mutex::new(Vec::new()),
        }
    }

    pub fn size(&self) -> usize {
        self.size
    }

    /// Counts one finished job.
    pub fn tick(&self) {
        let n = self.done.fetch_add(1, Ordering::SeqCst) + 1;
        if self.size > 0 && n % self.size == 0 {
            if let Ok(mut ends) = self.ends.lock() {
                ends.push(self.started.elapsed());
            }
        }
    }

    /// Jobs per second in each full window, in order.
    pub fn rates(&self) -> Vec<f64> {
        let mut ends = self.ends.lock().map(|e| e.clone()).unwrap_or_default();
        ends.sort_unstable();
        let mut last = Duration::ZERO;
        ends.iter()
            .map(|&end| {
                let secs = (end - last).as_secs_f64();
                last = end;
                if secs > 0.0 {
                    self.size as f64 / secs
                } else {
                    0.0
                }
            })
            .collect()
    }
}

/// The JSON summary of one operation (as written by `scim-load --json`).
pub fn summary(name: &str, h: &Histogram, phase_secs: f64) -> Value {
    json!({
        "op": name,
        "count": h.count(),
        "errors": h.errors,
        "rps": if phase_secs > 0.0 { h.count() as f64 / phase_secs } else { 0.0 },
        "p50_ms": ms(h.quantile(0.50)),
        "p95_ms": ms(h.quantile(0.95)),
        "p99_ms": ms(h.quantile(0.99)),
        "max_ms": ms(h.max()),
        "mean_ms": ms(h.mean()),
    })
}

/// The tool's command line (argh), or its exit: help on stdout with 0, a usage error on
/// stderr with 2. `--name=value` is taken as `--name value`, which is all argh accepts.
pub fn parse_args<T: argh::FromArgs>() -> Result<T, std::process::ExitCode> {
    let args: Vec<String> = std::env::args().collect();
    let (program, rest) = args.split_first().map_or(("scim-load", &[][..]), |(p, r)| {
        (p.rsplit('/').next().unwrap_or(p), r)
    });
    let rest: Vec<&str> = rest
        .iter()
        .flat_map(|a| match a.split_once('=') {
            Some((name, value)) if name.starts_with("--") => vec![name, value],
            _ => vec![a.as_str()],
        })
        .collect();
    T::from_args(&[program], &rest).map_err(|exit| match exit.status {
        Ok(()) => {
            println!("{}", exit.output);
            std::process::ExitCode::SUCCESS
        }
        Err(()) => {
            eprintln!(
                "{program}: {}\nRun {program} --help for the options.",
                exit.output.trim()
            );
            std::process::ExitCode::from(2)
        }
    })
}

/// A count or number as an option's value; `_` may group digits (`--users 100_000`).
pub fn number<T: std::str::FromStr>(value: &str) -> Result<T, String> {
    value
        .replace('_', "")
        .parse()
        .map_err(|_| format!("'{value}' is not a number"))
}

/// A user as Entra ID creates it (default mappings, a department).
pub fn entra_user(user_name: &str, i: usize) -> Value {
    json!({
        "schemas": [
            "urn:ietf:params:scim:schemas:core:2.0:User",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
        ],
        "externalId": format!("{:08x}-0000-4000-8000-{:012x}", i, i),
        "userName": user_name,
        "active": true,
        "displayName": format!("Load User {i}"),
        "title": "Engineer",
        "emails": [{"primary": true, "type": "work", "value": user_name}],
        "name": {"formatted": format!("Load User {i}"), "familyName": "User", "givenName": "Load"},
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
            "department": format!("Dept {}", i % 50)
        }
    })
}

/// Entra ID's five-operation update PATCH.
pub fn entra_update(i: usize) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [
            {"op": "Replace", "path": "title", "value": format!("Senior Engineer {i}")},
            {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": format!("updated.{i}@contoso.com")},
            {"op": "Replace", "value": {"name.givenName": "Loaded", "name.familyName": format!("User-{i}")}},
            {"op": "Add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
             "value": "26118915-6090-4610-87e4-49d8ca9f808d"},
            {"op": "Replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
             "value": format!("Dept {}", i % 7)}
        ]
    })
}

/// Public us-east-1 list prices the cost model assumes (USD). Assumptions, not quotes.
pub mod prices {
    /// DynamoDB on-demand, per write request unit (after the November 2024 price cut).
    pub const DDB_WRU: f64 = 0.625 / 1e6;
    /// DynamoDB on-demand, per read request unit.
    pub const DDB_RRU: f64 = 0.125 / 1e6;
    /// Lambda arm64, per GB-second.
    pub const LAMBDA_GB_S: f64 = 0.000_013_333_4;
    /// Lambda, per request.
    pub const LAMBDA_REQUEST: f64 = 0.20 / 1e6;
    /// API Gateway HTTP API, per request (first 300 million a month).
    pub const HTTP_API_REQUEST: f64 = 1.00 / 1e6;
}
