//! Shared pieces of the performance tools: latency histograms, the report format that
//! `scim-load` writes and `scim-cost` reads, command-line parsing, and the price list the
//! cost model assumes.

use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::time::Duration;

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

/// `--name value` and `--flag` arguments.
#[derive(Debug, Default)]
pub struct Args {
    values: Map<String, Value>,
}

impl Args {
    pub fn parse(known: &[&str]) -> Result<Args, String> {
        let mut values = Map::new();
        let mut it = std::env::args().skip(1);
        while let Some(a) = it.next() {
            let Some(name) = a.strip_prefix("--") else {
                return Err(format!("unexpected argument '{a}'"));
            };
            let (name, value) = match name.split_once('=') {
                Some((n, v)) => (n.to_string(), v.to_string()),
                None => {
                    if !known.contains(&name) {
                        return Err(format!("unknown option --{name}"));
                    }
                    let v = it.next().ok_or_else(|| format!("--{name} needs a value"))?;
                    (name.to_string(), v)
                }
            };
            if !known.contains(&name.as_str()) {
                return Err(format!("unknown option --{name}"));
            }
            values.insert(name, Value::String(value));
        }
        Ok(Args { values })
    }

    pub fn str(&self, name: &str) -> Option<&str> {
        self.values.get(name).and_then(Value::as_str)
    }

    pub fn num<T: std::str::FromStr>(&self, name: &str, default: T) -> Result<T, String> {
        match self.str(name) {
            None => Ok(default),
            Some(v) => v
                .replace('_', "")
                .parse()
                .map_err(|_| format!("--{name} '{v}' is not a number")),
        }
    }
}

/// `filter=` percent-encoded the way Entra ID sends it (spaces as `+`).
pub fn encode(filter: &str) -> String {
    // Spaces as `+`, the rest form-encoded (form_urlencoded).
    form_urlencoded::byte_serialize(filter.as_bytes()).collect()
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
