//! CloudWatch Embedded Metric Format: one JSON log line per HTTP request (SCIM API, token
//! endpoint, application API), which CloudWatch Logs turns into metrics in the namespace
//! `SCIM/<tenant>` (the stack's 401 metric's too). No client library and no extra
//! permission: the function's log group is the transport.
//!
//! Metrics per request: `Requests` (1), `Latency` (ms), `StoreCalls` (DynamoDB operations,
//! each counted once whatever the SDK's retries), `StoreTime` (ms, their summed wall time)
//! and `TokenCacheRefreshes` (reads of the bearer-token secret by the token cache: cold
//! start, the 60 s refresh, an unknown token's early re-read).
//!
//! The last three are process counters ([`count_store_call`], from the DynamoDB store's
//! interceptor; [`count_token_cache_refresh`], from the token cache), read before and after
//! the request ([`Usage::now`], [`Usage::since`]). A Lambda execution environment runs one
//! request at a time, so the difference is that request's; the local server, which runs
//! many at once, emits no metrics.
//!
//! Dimensions are bounded by construction: `Operation` is the API Gateway route key (the
//! stack's routes, or `$default`), `StatusClass` one of five, `ClientKind` one of three
//! (`entra`, `okta`, `other`, from the User-Agent). Never a user, group, token or path.

use scim_service::settings::ClientKind;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

static STORE_CALLS: AtomicU64 = AtomicU64::new(0);
static STORE_MICROS: AtomicU64 = AtomicU64::new(0);
static TOKEN_CACHE_REFRESHES: AtomicU64 = AtomicU64::new(0);

/// One DynamoDB operation finished after `took` (the store's interceptor calls this).
pub fn count_store_call(took: Duration) {
    STORE_CALLS.fetch_add(1, Ordering::Relaxed);
    STORE_MICROS.fetch_add(
        u64::try_from(took.as_micros()).unwrap_or(u64::MAX),
        Ordering::Relaxed,
    );
}

/// The token cache read the bearer-token secret (the cache calls this).
pub fn count_token_cache_refresh() {
    TOKEN_CACHE_REFRESHES.fetch_add(1, Ordering::Relaxed);
}

/// The process's counters at one moment, or the difference over a request.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    pub store_calls: u64,
    pub store_time: Duration,
    pub token_cache_refreshes: u64,
}

impl Usage {
    pub fn now() -> Usage {
        Usage {
            store_calls: STORE_CALLS.load(Ordering::Relaxed),
            store_time: Duration::from_micros(STORE_MICROS.load(Ordering::Relaxed)),
            token_cache_refreshes: TOKEN_CACHE_REFRESHES.load(Ordering::Relaxed),
        }
    }

    /// What was counted between `earlier` and `self`.
    pub fn since(&self, earlier: &Usage) -> Usage {
        Usage {
            store_calls: self.store_calls.saturating_sub(earlier.store_calls),
            store_time: self.store_time.saturating_sub(earlier.store_time),
            token_cache_refreshes: self
                .token_cache_refreshes
                .saturating_sub(earlier.token_cache_refreshes),
        }
    }
}

/// The EMF record of one request; `usage` is what the request itself caused.
pub fn request_record(
    tenant: &str,
    operation: &str,
    status: u16,
    client: ClientKind,
    latency_ms: f64,
    usage: &Usage,
    timestamp_ms: u128,
) -> Value {
    json!({
        "_aws": {
            "Timestamp": timestamp_ms,
            // Each (metric, dimension values) is a custom metric that costs by the month, so
            // the store figures are by operation only and the cache's refreshes per tenant.
            "CloudWatchMetrics": [{
                "Namespace": format!("SCIM/{tenant}"),
                "Dimensions": [["Operation", "StatusClass"], ["ClientKind"]],
                "Metrics": [
                    {"Name": "Requests", "Unit": "Count"},
                    {"Name": "Latency", "Unit": "Milliseconds"}
                ]
            }, {
                "Namespace": format!("SCIM/{tenant}"),
                "Dimensions": [["Operation"]],
                "Metrics": [
                    {"Name": "StoreCalls", "Unit": "Count"},
                    {"Name": "StoreTime", "Unit": "Milliseconds"}
                ]
            }, {
                "Namespace": format!("SCIM/{tenant}"),
                "Dimensions": [[]],
                "Metrics": [
                    {"Name": "TokenCacheRefreshes", "Unit": "Count"}
                ]
            }]
        },
        "Operation": bounded_operation(operation),
        "StatusClass": status_class(status),
        "ClientKind": client_kind(client),
        "Requests": 1,
        "Latency": latency_ms,
        "StoreCalls": usage.store_calls,
        "StoreTime": usage.store_time.as_secs_f64() * 1000.0,
        "TokenCacheRefreshes": usage.token_cache_refreshes,
    })
}

/// `2xx` … `5xx`, anything else `other`.
pub fn status_class(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        500..=599 => "5xx",
        _ => "other",
    }
}

fn client_kind(client: ClientKind) -> &'static str {
    match client {
        ClientKind::Entra => "entra",
        ClientKind::Okta => "okta",
        ClientKind::Other => "other",
    }
}

/// A route key is the stack's own (`METHOD /path` with `{id}` placeholders, or `$default`);
/// anything else (no request context, an odd value) is `unknown`, so a dimension never
/// carries what a client sent.
fn bounded_operation(route_key: &str) -> &str {
    let ok = route_key == "$default"
        || (route_key.len() <= 64
            && route_key.split_once(' ').is_some_and(|(m, p)| {
                m.bytes().all(|b| b.is_ascii_uppercase())
                    && p.starts_with('/')
                    && p.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"/{}._-$".contains(&b))
            }));
    if ok {
        route_key
    } else {
        "unknown"
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_request_is_one_emf_record_with_bounded_dimensions() {
        let usage = Usage {
            store_calls: 3,
            store_time: Duration::from_micros(4_250),
            token_cache_refreshes: 1,
        };
        let r = request_record(
            "contoso",
            "GET /scim/v2/Users/{id}",
            404,
            ClientKind::Entra,
            12.5,
            &usage,
            1_796_551_200_000,
        );
        let cw = &r["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(cw["Namespace"], "SCIM/contoso");
        assert_eq!(
            cw["Dimensions"],
            json!([["Operation", "StatusClass"], ["ClientKind"]])
        );
        assert_eq!(r["_aws"]["Timestamp"], 1_796_551_200_000u64);
        assert_eq!(r["Operation"], "GET /scim/v2/Users/{id}");
        assert_eq!(r["StatusClass"], "4xx");
        assert_eq!(r["ClientKind"], "entra");
        assert_eq!(r["Requests"], 1);
        assert_eq!(r["Latency"], 12.5);
        assert_eq!(r["StoreCalls"], 3);
        assert_eq!(r["StoreTime"], 4.25);
        assert_eq!(r["TokenCacheRefreshes"], 1);
        let directives = r["_aws"]["CloudWatchMetrics"].as_array().unwrap();
        assert_eq!(directives.len(), 3);
        assert_eq!(directives[1]["Dimensions"], json!([["Operation"]]));
        assert_eq!(directives[2]["Dimensions"], json!([[]]));
        let names: Vec<&str> = directives
            .iter()
            .flat_map(|d| d["Metrics"].as_array().unwrap())
            .map(|m| m["Name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "Requests",
                "Latency",
                "StoreCalls",
                "StoreTime",
                "TokenCacheRefreshes"
            ]
        );
        for d in directives {
            assert_eq!(d["Namespace"], "SCIM/contoso");
            for m in d["Metrics"].as_array().into_iter().flatten() {
                assert!(r.get(m["Name"].as_str().unwrap_or("")).is_some(), "{m}");
            }
            for set in d["Dimensions"].as_array().into_iter().flatten() {
                for k in set.as_array().into_iter().flatten() {
                    assert!(r.get(k.as_str().unwrap_or("")).is_some(), "{k}");
                }
            }
        }
        // Every metric named in the metadata is a member of the record (EMF's rule).
        for m in cw["Metrics"].as_array().into_iter().flatten() {
            assert!(r.get(m["Name"].as_str().unwrap_or("")).is_some(), "{m}");
        }
    }

    #[test]
    fn an_operation_that_is_not_a_route_key_is_unknown() {
        for odd in [
            "GET /scim/v2/Users/2819c223-7f76-453a-919d-413861904646?x=1",
            "get /x",
            "",
            "GET users",
        ] {
            let r = request_record("t1", odd, 200, ClientKind::Other, 1.0, &Usage::default(), 0);
            assert_eq!(r["Operation"], "unknown", "{odd}");
        }
        assert_eq!(
            request_record(
                "t1",
                "$default",
                500,
                ClientKind::Okta,
                1.0,
                &Usage::default(),
                0
            )["Operation"],
            "$default"
        );
        assert_eq!(status_class(503), "5xx");
        assert_eq!(status_class(99), "other");
    }

    #[test]
    fn usage_over_a_request_is_the_difference_of_the_counters() {
        let before = Usage::now();
        count_store_call(Duration::from_millis(2));
        count_store_call(Duration::from_millis(3));
        count_token_cache_refresh();
        let d = Usage::now().since(&before);
        // Other tests of this binary may count too (threads): at least ours.
        assert!(d.store_calls >= 2, "{d:?}");
        assert!(d.store_time >= Duration::from_millis(5), "{d:?}");
        assert!(d.token_cache_refreshes >= 1, "{d:?}");
        assert_eq!(
            before.since(&Usage::now()),
            Usage::default(),
            "never negative"
        );
    }
}
