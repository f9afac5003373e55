//! Asynchronous requests over HTTP ([`crate::jobs`]): accepting one (`202`), answering
//! `GET /AsyncRequests/{txn}`, and running a job through the same [`dispatch`] as the
//! synchronous request.

use super::bulk::{self, Outcome};
use super::{
    dispatch, json_body, operation, route, App, Authenticator, Context, Operation, ScimRequest,
    ScimResponse, Store, Target,
};
use crate::jobs::{self, AsyncRequests, Completion, Job, JobRecord, SetSigner};
use crate::ops::{now_string, store_error};
use crate::port::StoreResult;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use scim_core::error::{ScimError, ScimResult};
use scim_core::schema::ResourceKind;
use serde_json::{json, Map, Value};
use time::OffsetDateTime;

/// Accepts an authenticated, admitted write as a job: the body is checked as far as it
/// can be without the store (size, media type, JSON syntax; a bulk request's operations
/// and limits), the job item is stored, and the answer is RFC 9967 §2.5.1.1's `202`: no
/// body, `Set-Txn`, `Preference-Applied: respond-async`, and `Location` where the
/// completion is read. What only running can tell (a conflict, a missing resource) is in
/// the completion event.
pub(super) async fn accept<S: Store, A: Authenticator>(
    app: &App<S, A>,
    ctx: &Context,
    req: &ScimRequest,
    prefix: &str,
    op: Operation,
) -> ScimResult<ScimResponse> {
    if req.body.len() > jobs::MAX_BODY_BYTES {
        return Err(ScimError::new(
            413,
            Some(scim_core::error::ScimType::TooLarge),
            format!(
                "An asynchronous request's body is at most {} bytes; send it without Prefer: respond-async, or split it.",
                jobs::MAX_BODY_BYTES
            ),
        ));
    }
    match op {
        Operation::Bulk => {
            bulk::read(req)?;
        }
        Operation::Delete(_) => {}
        _ => {
            json_body(req)?;
        }
    }
    let txn = jobs::new_txn().map_err(|e| store_error(ResourceKind::User, e))?;
    let path = req.path.strip_prefix(prefix).unwrap_or(&req.path);
    let header = |name: http::header::HeaderName| {
        req.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let job = Job {
        txn: txn.clone(),
        tenant: ctx.tenant.clone(),
        token_id: ctx.token_id.clone(),
        request_id: ctx.request_id.clone(),
        base_url: ctx.base_url.clone(),
        method: req.method.as_str().to_string(),
        path: path.to_string(),
        query: req.query.clone(),
        if_match: header(http::header::IF_MATCH),
        // Valid UTF-8: it parsed as JSON above (a DELETE's body is never read).
        body: match op {
            Operation::Delete(_) => String::new(),
            _ => String::from_utf8_lossy(&req.body).into_owned(),
        },
        accepted: now_string(ctx.now),
    };
    app.store
        .accept_job(&job, ctx.now)
        .await
        .map_err(|e| store_error(ResourceKind::User, e))?;
    if let AsyncRequests::Run(runner) = &app.config.async_requests {
        runner.started(job);
    }
    let mut headers = HeaderMap::new();
    let mut set = |name: &'static str, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            headers.insert(name, v);
        }
    };
    set(jobs::SET_TXN, &txn);
    set("preference-applied", "respond-async");
    set("location", &location(&ctx.base_url, &txn));
    Ok(ScimResponse {
        status: StatusCode::ACCEPTED,
        headers,
        body: Bytes::new(),
    })
}

/// Where a job's completion is read.
fn location(base_url: &str, txn: &str) -> String {
    format!("{}{}/{txn}", base_url.trim_end_matches('/'), jobs::ENDPOINT)
}

/// `GET /AsyncRequests/{txn}`: `200` with the completion SETs once the job has run, in
/// RFC 8936's poll response shape (`{"sets": {jti: SET}, "moreAvailable": false}`);
/// `202` with `Retry-After` while it has not; `404` for a transaction this tenant never had
/// (or one past its retention).
pub(super) async fn status<S: Store>(
    store: &S,
    ctx: &Context,
    txn: &str,
) -> ScimResult<ScimResponse> {
    let unknown = || ScimError::not_found("There is no such asynchronous request.");
    if txn.is_empty() || txn.len() > 64 || !txn.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(unknown());
    }
    let record = store
        .job(&ctx.tenant, txn)
        .await
        .map_err(|e| store_error(ResourceKind::User, e))?
        .ok_or_else(unknown)?;
    let Some(sets) = record.sets else {
        let mut headers = HeaderMap::new();
        headers.insert(http::header::RETRY_AFTER, HeaderValue::from_static("1"));
        return Ok(ScimResponse {
            status: StatusCode::ACCEPTED,
            headers,
            body: Bytes::new(),
        });
    };
    let mut by_jti = Map::new();
    for token in sets {
        let jti = crate::oauth::jwt::Jws::parse(&token)
            .ok()
            .and_then(|j| j.claim_str("jti").map(str::to_string))
            .unwrap_or_default();
        by_jti.insert(jti, Value::String(token));
    }
    let mut r = ScimResponse::json(
        StatusCode::OK,
        &json!({"sets": by_jti, "moreAvailable": false}),
    );
    r.headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(r)
}

/// Runs an accepted job to completion and returns its signed completion SETs, recorded on
/// its item. A job that has already run answers its recorded SETs again (same `jti`s).
/// Only a store failure is an error (the caller tries again later); whatever the request
/// itself answers, success or SCIM error, is its completion.
///
/// The job was authenticated and admitted when it was accepted; it runs as that request
/// would have (`dispatch`), with its creates' ids derived from its `txn`.
pub async fn run_job<S: Store, A: Authenticator, const OPS: u16>(
    app: &App<S, A>,
    job: &Job,
    signer: &SetSigner,
) -> StoreResult<Vec<String>> {
    if let Some(JobRecord {
        sets: Some(sets), ..
    }) = app.store.job(&job.tenant, &job.txn).await?
    {
        return Ok(sets);
    }
    let now = OffsetDateTime::now_utc();
    let ctx = Context {
        tenant: job.tenant.clone(),
        base_url: job.base_url.clone(),
        token_id: job.token_id.clone(),
        request_id: job.request_id.clone(),
        now,
        replay: Some(job.txn.clone()),
    };
    let completions = completions::<S, A, OPS>(app, &ctx, job).await;
    let iat = now.unix_timestamp();
    let sets: Vec<String> = completions
        .iter()
        .map(|c| {
            let claims = c.claims(&job.tenant, &signer.issuer, &signer.audience, iat);
            signer.key.sign(crate::events::set::TYP, &claims)
        })
        .collect();
    match app.store.finish_job(&job.tenant, &job.txn, &sets).await {
        // The item outlived its retention while the job waited: nothing to record.
        Ok(()) | Err(crate::port::StoreError::NotFound) => Ok(sets),
        Err(e) => Err(e),
    }
}

/// The job's completions: one for a single request, one per operation of a bulk request
/// (`txn` `{txn}:{index}`, in request order, RFC 9967 §2.5.1.2).
async fn completions<S: Store, A: Authenticator, const OPS: u16>(
    app: &App<S, A>,
    ctx: &Context,
    job: &Job,
) -> Vec<Completion> {
    let req = ScimRequest {
        method: Method::from_bytes(job.method.as_bytes()).unwrap_or(Method::POST),
        path: job.path.clone(),
        query: job.query.clone(),
        headers: bulk::inner_headers(job.if_match.as_deref()),
        body: Bytes::from(job.body.clone()),
        request_id: Some(job.request_id.clone()),
    };
    let single = |o: Outcome| {
        let subject = jobs::subject(&ctx.base_url, o.location.as_deref(), &job.path);
        vec![Completion {
            txn: job.txn.clone(),
            subject,
            result: bulk::result(&job.method, None, o),
        }]
    };
    let (target, op) = match route(&job.path) {
        Some((t, prefix)) if prefix.is_empty() => match operation(&t, &req.method) {
            Ok(op) => (t, op),
            Err(e) => return single(Outcome::failed(e)),
        },
        _ => {
            return single(Outcome::failed(ScimError::not_found(
                "There is no such endpoint.",
            )))
        }
    };
    if op == Operation::Bulk {
        let request = match bulk::read(&req) {
            Ok(r) => r,
            Err(e) => return single(Outcome::failed(e)),
        };
        let outcomes =
            bulk::execute::<S, A, OPS>(app, ctx, &req, &request, jobs::BULK_TIME_BUDGET).await;
        return request
            .operations
            .iter()
            .zip(outcomes)
            .enumerate()
            .map(|(i, (bop, outcome))| {
                let outcome = outcome.unwrap_or_else(|| {
                    Outcome::failed(ScimError::new(
                        424,
                        None,
                        "Not run: the bulk request's failOnErrors limit was reached before this operation.",
                    ))
                });
                Completion {
                    txn: format!("{}:{i}", job.txn),
                    subject: jobs::subject(&ctx.base_url, outcome.location.as_deref(), &bop.path),
                    result: bulk::result(&bop.method_name, bop.bulk_id.as_deref(), outcome),
                }
            })
            .collect();
    }
    let item = match &target {
        Target::Item(kind, id) => {
            if !scim_core::limits::is_possible_id(id) {
                let e = ScimError::not_found(format!("The {} does not exist.", kind.name()));
                return single(Outcome::failed(e));
            }
            Some(crate::ops::location(ctx, *kind, id))
        }
        _ => None,
    };
    match dispatch::<S, A, OPS>(app, ctx, &target, op, &req).await {
        Ok(r) => single(Outcome::answered(
            &r,
            matches!(op, Operation::Create(_)),
            item,
        )),
        Err(e) => single(Outcome {
            location: item,
            ..Outcome::failed(e)
        }),
    }
}
