//! `POST /Bulk` (RFC 7644 §3.7). The request was authenticated and admitted once; each of
//! its operations then runs through [`dispatch`] as the single request it stands for (the
//! same validation, uniqueness guards, audit record and change event, and the same
//! DynamoDB budget as that request). The order and the `bulkId:` references are the core's
//! ([`scim_core::bulk`]).

use super::{
    dispatch, json_body_unbounded, operation, route, App, Authenticator, Context, ScimRequest,
    ScimResponse, Store, Target, SCIM_CONTENT_TYPE,
};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use scim_core::bulk::{self, BulkMethod, BulkOperation, BulkRequest, Step, BULK_RESPONSE_URN};
use scim_core::error::{ScimError, ScimResult};
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// No operation starts after this much of the request has passed; the rest answer `503`
/// (not run; send them again). With one store call bounded at 7 s (`dynamo::timeouts`),
/// the last operation ends before the bulk function's 29 s timeout and its 1.5 s margin.
pub const TIME_BUDGET: Duration = Duration::from_secs(20);

/// What one operation answered.
pub(super) struct Outcome {
    pub(super) status: StatusCode,
    pub(super) location: Option<String>,
    pub(super) version: Option<String>,
    /// The id a successful POST created (what `bulkId:` references resolve to).
    pub(super) created: Option<String>,
    pub(super) error: Option<ScimError>,
}

impl Outcome {
    pub(super) fn failed(e: ScimError) -> Outcome {
        Outcome {
            status: StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            location: None,
            version: None,
            created: None,
            error: Some(e),
        }
    }
}

/// Reads a bulk request's body: its size, media type, syntax and operations.
pub(super) fn read(req: &ScimRequest) -> ScimResult<BulkRequest> {
    if req.body.len() > bulk::MAX_PAYLOAD_BYTES {
        return Err(bulk::too_large(req.body.len()));
    }
    let body = json_body_unbounded(req)?;
    bulk::parse(&body)
}

pub(super) async fn run<S: Store, A: Authenticator, const OPS: u16>(
    app: &App<S, A>,
    ctx: &Context,
    req: &ScimRequest,
) -> ScimResult<ScimResponse> {
    let request = read(req)?;
    let outcomes = execute::<S, A, OPS>(app, ctx, req, &request, TIME_BUDGET).await;
    // The operations that ran (or were refused), in request order.
    let results: Vec<Value> = request
        .operations
        .iter()
        .zip(outcomes)
        .filter_map(|(op, outcome)| {
            outcome.map(|o| Value::Object(result(&op.method_name, op.bulk_id.as_deref(), o)))
        })
        .collect();
    let body = json!({"schemas": [BULK_RESPONSE_URN], "Operations": results});
    Ok(ScimResponse::json(StatusCode::OK, &body))
}

/// Runs a bulk request's operations in the core's order, until `failOnErrors` stops it;
/// none starts after `budget`. Each operation's outcome, by its index in the request
/// (`None`: not run, `failOnErrors` was reached first). When the request is a job's
/// (`ctx.replay`), each operation's creates derive their ids from `{replay}:{index}`.
pub(super) async fn execute<S: Store, A: Authenticator, const OPS: u16>(
    app: &App<S, A>,
    ctx: &Context,
    req: &ScimRequest,
    request: &BulkRequest,
    budget: Duration,
) -> Vec<Option<Outcome>> {
    let started = Instant::now();
    let mut ids: HashMap<String, String> = HashMap::new();
    let mut outcomes: Vec<Option<Outcome>> = request.operations.iter().map(|_| None).collect();
    let mut errors = 0usize;
    for step in bulk::plan(request) {
        if request.fail_on_errors.is_some_and(|limit| errors >= limit) {
            break;
        }
        let (index, outcome) = match step {
            Step::Refuse(i, why) => (i, Outcome::failed(why.error())),
            Step::Run(i) if started.elapsed() >= budget => (
                i,
                Outcome::failed(ScimError::new(
                    503,
                    None,
                    "Not run: the bulk request ran out of time before this operation; send it again.",
                )),
            ),
            Step::Run(i) => {
                let op = &request.operations[i];
                let own;
                let ctx = match &ctx.replay {
                    Some(seed) => {
                        own = Context {
                            replay: Some(format!("{seed}:{i}")),
                            ..ctx.clone()
                        };
                        &own
                    }
                    None => ctx,
                };
                (i, run_one::<S, A, OPS>(app, ctx, req, op, &ids).await)
            }
        };
        if outcome.error.is_some() {
            errors += 1;
        }
        if let (Some(bulk_id), Some(id)) = (&request.operations[index].bulk_id, &outcome.created) {
            ids.insert(bulk_id.clone(), id.clone());
        }
        outcomes[index] = Some(outcome);
    }
    outcomes
}

/// Runs one operation as the single request it stands for.
async fn run_one<S: Store, A: Authenticator, const OPS: u16>(
    app: &App<S, A>,
    ctx: &Context,
    outer: &ScimRequest,
    op: &BulkOperation,
    ids: &HashMap<String, String>,
) -> Outcome {
    let method = match &op.method {
        Ok(m) => *m,
        Err(e) => return Outcome::failed(e.clone()),
    };
    // An operation that names a resource another operation was to create, which failed.
    if let Some(missing) = bulk::references(op)
        .into_iter()
        .find(|r| !ids.contains_key(r))
    {
        return Outcome::failed(ScimError::conflict(format!(
            "The operation with bulkId '{}' that this one references did not create its resource.",
            scim_core::path::truncate(&missing, 64)
        )));
    }
    let (path, data) = bulk::substitute(op, ids);
    let target = match route(&path) {
        Some((t @ (Target::Collection(_) | Target::Item(..)), prefix)) if prefix.is_empty() => t,
        _ => {
            return Outcome::failed(ScimError::invalid_value(format!(
                "A bulk operation's path is /Users, /Groups, /Users/{{id}} or /Groups/{{id}}; not '{}'.",
                scim_core::path::truncate(&path, 128)
            )))
        }
    };
    let location = match &target {
        Target::Item(kind, id) => Some(crate::ops::location(ctx, *kind, id)),
        _ => None,
    };
    let http_method = match method {
        BulkMethod::Post => Method::POST,
        BulkMethod::Put => Method::PUT,
        BulkMethod::Patch => Method::PATCH,
        BulkMethod::Delete => Method::DELETE,
    };
    let single = match operation(&target, &http_method) {
        Ok(o) => o,
        Err(e) => {
            return Outcome {
                location,
                ..Outcome::failed(e)
            }
        }
    };
    if let Target::Item(kind, id) = &target {
        if !scim_core::limits::is_possible_id(id) {
            let e = ScimError::not_found(format!("The {} does not exist.", kind.name()));
            return Outcome {
                location,
                ..Outcome::failed(e)
            };
        }
    }
    let inner = ScimRequest {
        method: http_method,
        path,
        query: None,
        headers: inner_headers(op.version.as_deref()),
        body: data
            .map(|d| Bytes::from(serde_json::to_vec(&d).unwrap_or_default()))
            .unwrap_or_default(),
        request_id: outer.request_id.clone(),
    };
    // Boxed: `dispatch` is what called this bulk request (an operation is never a bulk).
    let answered = Box::pin(dispatch::<S, A, OPS>(app, ctx, &target, single, &inner)).await;
    match answered {
        Err(e) => Outcome {
            location,
            ..Outcome::failed(e)
        },
        Ok(r) => Outcome::answered(&r, method == BulkMethod::Post, location),
    }
}

impl Outcome {
    /// A successful single request's answer: its status, `Location`, `ETag`, and for a
    /// create the id it made.
    pub(super) fn answered(r: &ScimResponse, create: bool, location: Option<String>) -> Outcome {
        let header = |name: http::header::HeaderName| {
            r.headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let location = header(http::header::LOCATION).or(location);
        let created = create
            .then(|| {
                serde_json::from_slice::<Value>(&r.body)
                    .ok()
                    .and_then(|b| b.get("id").and_then(Value::as_str).map(str::to_string))
                    .or_else(|| {
                        location
                            .as_deref()
                            .and_then(|l| l.rsplit('/').next())
                            .map(str::to_string)
                    })
            })
            .flatten();
        Outcome {
            status: r.status,
            version: header(http::header::ETAG),
            location,
            created,
            error: None,
        }
    }
}

/// The headers of a request made from a bulk operation or a job: a SCIM body, and the
/// version it names as `If-Match`.
pub(super) fn inner_headers(if_match: Option<&str>) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static(SCIM_CONTENT_TYPE),
    );
    if let Some(v) = if_match.and_then(|v| HeaderValue::from_str(v).ok()) {
        headers.insert(http::header::IF_MATCH, v);
    }
    headers
}

/// One entry of the response's `Operations` (RFC 7644 §3.7.3): `status` as a string, the
/// SCIM error as `response` for a failure. Also the payload of an asynchronous request's
/// completion event (RFC 9967 §2.5.1.3).
pub(super) fn result(method: &str, bulk_id: Option<&str>, o: Outcome) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("method".into(), json!(method));
    if let Some(b) = bulk_id {
        m.insert("bulkId".into(), json!(b));
    }
    if let Some(l) = o.location {
        m.insert("location".into(), json!(l));
    }
    if let Some(v) = o.version {
        m.insert("version".into(), json!(v));
    }
    m.insert("status".into(), json!(o.status.as_u16().to_string()));
    if let Some(e) = o.error {
        m.insert("response".into(), e.to_json());
    }
    m
}
