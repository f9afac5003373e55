//! CloudWatch Embedded Metric Format: one JSON log line per HTTP request, which CloudWatch
//! Logs turns into metrics in the namespace `SCIM/<tenant>` (the stack's 401 metric's too).
//! No client library and no extra permission: the function's log group is the transport.
//!
//! Dimensions are bounded by construction: `Operation` is the API Gateway route key (the
//! stack's routes, or `$default`), `StatusClass` one of five, `ClientKind` one of three
//! (`entra`, `okta`, `other`, from the User-Agent). Never a user, group, token or path.

use scim_service::settings::ClientKind;
use serde_json::{json, Value};

/// The EMF record of one request.
pub fn request_record(
    tenant: &str,
    operation: &str,
    status: u16,
    client: ClientKind,
    latency_ms: f64,
    timestamp_ms: u128,
) -> Value {
    json!({
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": format!("SCIM/{tenant}"),
                "Dimensions": [["Operation", "StatusClass"], ["ClientKind"]],
                "Metrics": [
                    {"Name": "Requests", "Unit": "Count"},
                    {"Name": "Latency", "Unit": "Milliseconds"}
                ]
            }]
        },
        "Operation": bounded_operation(operation),
        "StatusClass": status_class(status),
        "ClientKind": client_kind(client),
        "Requests": 1,
        "Latency": latency_ms,
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
mod tests {
    use super::*;

    #[test]
    fn a_request_is_one_emf_record_with_bounded_dimensions() {
        let r = request_record(
            "contoso",
            "GET /scim/v2/Users/{id}",
            404,
            ClientKind::Entra,
            12.5,
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
            let r = request_record("t1", odd, 200, ClientKind::Other, 1.0, 0);
            assert_eq!(r["Operation"], "unknown", "{odd}");
        }
        assert_eq!(
            request_record("t1", "$default", 500, ClientKind::Okta, 1.0, 0)["Operation"],
            "$default"
        );
        assert_eq!(status_class(503), "5xx");
        assert_eq!(status_class(99), "other");
    }
}
