//! Asynchronous requests (RFC 9967 §2.5.1): `Prefer: respond-async` answered `202` with
//! `Set-Txn`, `Preference-Applied` and a `Location` where the completion is read; the job
//! runs as its synchronous request would; its completion is one
//! `urn:ietf:params:scim:event:misc:asyncresp` SET per operation. Through the local server's
//! runner here, and through the `async-worker` function's stream handler at the end.

use crate::harness::{Resp, Server, TENANT};
use reqwest::Method;
use scim_service::events::set::{ASYNC_RESPONSE, TYP};
use serde_json::{json, Value};
use std::time::Duration;

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const PATCH: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const BULK: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
const ASYNC: (&str, &str) = ("Prefer", "respond-async");

/// The claims of a SET (checked to be one: JWS compact, `typ` secevent+jwt).
fn claims(token: &str) -> Value {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "{token}");
    let header: Value =
        serde_json::from_slice(&scim_service::oauth::jwt::b64url(parts[0]).expect("header b64"))
            .expect("header json");
    assert_eq!(header["typ"], TYP);
    serde_json::from_slice(&scim_service::oauth::jwt::b64url(parts[1]).expect("payload b64"))
        .expect("payload json")
}

/// Checks the `202` RFC 9967 §2.5.1.1 asks for; returns the `Set-Txn` and the path below
/// the Tenant URL of its `Location`.
fn accepted(s: &Server, r: &Resp) -> (String, String) {
    r.expect(202);
    assert!(r.text.is_empty(), "a 202 carries no body: {}", r.text);
    assert_eq!(r.header("preference-applied"), Some("respond-async"));
    let txn = r.header("set-txn").expect("Set-Txn").to_string();
    let location = r.header("location").expect("Location");
    assert_eq!(location, s.url(&format!("/AsyncRequests/{txn}")));
    (txn.clone(), format!("/AsyncRequests/{txn}"))
}

/// Reads the completion until it is there; returns the SETs' claims, ordered by `txn`.
async fn completion(s: &Server, path: &str) -> Vec<Value> {
    for _ in 0..200 {
        let r = s.get(path).await;
        match r.status.as_u16() {
            202 => {
                assert_eq!(r.header("retry-after"), Some("1"));
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            200 => {
                assert_eq!(r.header("content-type"), Some("application/json"));
                assert_eq!(r.body["moreAvailable"], false);
                let sets = r.body["sets"].as_object().expect("sets");
                let mut out: Vec<Value> = sets
                    .iter()
                    .map(|(jti, token)| {
                        let c = claims(token.as_str().expect("a SET"));
                        assert_eq!(c["jti"], json!(jti));
                        c
                    })
                    .collect();
                out.sort_by_key(|c| c["txn"].as_str().unwrap_or_default().to_string());
                return out;
            }
            other => panic!("GET {path}: {other} {}", r.text),
        }
    }
    panic!("{path} did not complete");
}

/// The asyncresp event of a completion.
fn event(c: &Value) -> &Value {
    assert_eq!(c["events"].as_object().map(|m| m.len()), Some(1), "{c}");
    &c["events"][ASYNC_RESPONSE]
}

async fn user(s: &Server, name: &str) -> (String, String) {
    let r = s
        .post("/Users", &json!({"schemas": [USER], "userName": name}))
        .await;
    r.expect(201);
    (
        r.body["id"].as_str().unwrap_or_default().to_string(),
        r.header("etag").unwrap_or_default().to_string(),
    )
}

#[tokio::test]
async fn a_put_sent_with_respond_async_is_accepted_and_completes_like_the_rfc_example() {
    // RFC 9967 Figures 12–14: PUT with `Prefer: respond-async`, 202 with Set-Txn, then an
    // asyncresp event with method, version and status, about the user.
    let s = Server::start().await;
    let (id, _) = user(&s, "bjensen").await;
    let body = json!({
        "schemas": [USER],
        "id": id,
        "userName": "bjensen",
        "externalId": "bjensen",
        "name": {"formatted": "Ms. Barbara J Jensen III"},
        "roles": [],
        "emails": [{"value": "bjensen@example.com"}]
    });
    let r = s
        .send(Method::PUT, &format!("/Users/{id}"), Some(&body), &[ASYNC])
        .await;
    let (txn, path) = accepted(&s, &r);
    let done = completion(&s, &path).await;
    assert_eq!(done.len(), 1, "{done:?}");
    let c = &done[0];
    assert_eq!(c["txn"], json!(txn));
    assert_eq!(
        c["sub_id"],
        json!({"format": "scim", "uri": format!("/Users/{id}")})
    );
    assert_eq!(c["iss"], json!(s.url("")));
    assert!(c["iat"].as_i64().is_some_and(|t| t > 1_700_000_000), "{c}");
    let now = s.get(&format!("/Users/{id}")).await;
    now.expect(200);
    assert_eq!(now.body["name"]["formatted"], "Ms. Barbara J Jensen III");
    assert_eq!(
        event(c),
        &json!({
            "method": "PUT",
            "location": s.url(&format!("/Users/{id}")),
            "version": now.header("etag").expect("etag"),
            "status": "200"
        })
    );
}

#[tokio::test]
async fn an_asynchronous_create_delete_and_failure_each_complete_with_their_status() {
    let s = Server::start().await;
    let r = s
        .send(
            Method::POST,
            "/Users",
            Some(&json!({"schemas": [USER], "userName": "async.create"})),
            &[ASYNC, ("Prefer", "return=minimal")],
        )
        .await;
    let (_, path) = accepted(&s, &r);
    let created = completion(&s, &path).await;
    let e = event(&created[0]);
    assert_eq!(e["status"], "201", "{e}");
    assert_eq!(e["method"], "POST");
    let location = e["location"].as_str().expect("location");
    let id = location.rsplit('/').next().unwrap_or_default();
    assert_eq!(created[0]["sub_id"]["uri"], json!(format!("/Users/{id}")));
    let got = s.get(&format!("/Users/{id}")).await;
    got.expect(200);
    assert_eq!(got.body["userName"], "async.create");
    assert_eq!(e["version"], json!(got.header("etag").expect("etag")));

    // A failure is the completion's `response`, a SCIM error (RFC 9967 Figure 15).
    let r = s
        .send(
            Method::PATCH,
            "/Users/00000000-0000-0000-0000-000000000000",
            Some(&json!({"schemas": [PATCH], "Operations": [{"op": "replace", "path": "title", "value": "x"}]})),
            &[ASYNC],
        )
        .await;
    let (_, path) = accepted(&s, &r);
    let failed = completion(&s, &path).await;
    let e = event(&failed[0]);
    assert_eq!(e["status"], "404", "{e}");
    assert_eq!(e["response"]["status"], "404");
    assert_eq!(
        e["response"]["schemas"],
        json!(["urn:ietf:params:scim:api:messages:2.0:Error"])
    );
    assert_eq!(
        failed[0]["sub_id"]["uri"],
        "/Users/00000000-0000-0000-0000-000000000000"
    );

    // A conflict found only by running: same userName.
    let r = s
        .send(
            Method::POST,
            "/Users",
            Some(&json!({"schemas": [USER], "userName": "async.create"})),
            &[ASYNC],
        )
        .await;
    let (_, path) = accepted(&s, &r);
    let clash = completion(&s, &path).await;
    let e = event(&clash[0]);
    assert_eq!(e["status"], "409", "{e}");
    assert_eq!(e["response"]["scimType"], "uniqueness");
    assert_eq!(clash[0]["sub_id"]["uri"], "/Users");

    let r = s
        .send(Method::DELETE, &format!("/Users/{id}"), None, &[ASYNC])
        .await;
    let (_, path) = accepted(&s, &r);
    let deleted = completion(&s, &path).await;
    assert_eq!(event(&deleted[0])["status"], "204");
    s.get(&format!("/Users/{id}")).await.expect(404);
}

#[tokio::test]
async fn an_asynchronous_bulk_request_completes_once_per_operation_with_indexed_txns() {
    // RFC 9967 §2.5.1.2 and Figures 16–19: one completion per operation, `txn` `{txn}:{i}`
    // by the operation's index in the request, `bulkId` carried.
    let s = Server::start().await;
    let (existing, etag) = user(&s, "bulk.existing").await;
    let (gone, _) = user(&s, "bulk.gone").await;
    let request = json!({
        "schemas": [BULK],
        "failOnErrors": 5,
        "Operations": [
            {"method": "POST", "path": "/Users", "bulkId": "qwerty",
             "data": {"schemas": [USER], "userName": "Alice"}},
            {"method": "PUT", "path": format!("/Users/{existing}"), "version": etag,
             "data": {"schemas": [USER], "userName": "bulk.existing", "title": "Guide"}},
            {"method": "PATCH", "path": format!("/Users/{existing}"),
             "data": {"schemas": [PATCH], "Operations": [{"op": "replace", "path": "nickName", "value": "Babs"}]}},
            {"method": "DELETE", "path": format!("/Users/{gone}")}
        ]
    });
    let r = s
        .send(Method::POST, "/Bulk", Some(&request), &[ASYNC])
        .await;
    let (txn, path) = accepted(&s, &r);
    let done = completion(&s, &path).await;
    let txns: Vec<&str> = done
        .iter()
        .map(|c| c["txn"].as_str().unwrap_or("?"))
        .collect();
    let want: Vec<String> = (0..4).map(|i| format!("{txn}:{i}")).collect();
    assert_eq!(txns, want);
    let statuses: Vec<&str> = done
        .iter()
        .map(|c| event(c)["status"].as_str().unwrap_or("?"))
        .collect();
    assert_eq!(statuses, ["201", "200", "200", "204"]);
    assert_eq!(event(&done[0])["bulkId"], "qwerty");
    assert_eq!(event(&done[3])["method"], "DELETE");
    assert_eq!(
        done[1]["sub_id"]["uri"],
        json!(format!("/Users/{existing}"))
    );
    let alice = s.get("/Users?filter=userName%20eq%20%22Alice%22").await;
    assert_eq!(alice.body["totalResults"], 1);
    let after = s.get(&format!("/Users/{existing}")).await;
    assert_eq!(after.body["title"], "Guide");
    assert_eq!(after.body["nickName"], "Babs");
    // Every completion has its own jti.
    let mut jtis: Vec<&str> = done.iter().filter_map(|c| c["jti"].as_str()).collect();
    jtis.sort_unstable();
    jtis.dedup();
    assert_eq!(jtis.len(), 4);
}

#[tokio::test]
async fn what_can_be_refused_at_once_is_refused_at_once_and_stores_nothing() {
    let s = Server::start().await;
    // Malformed JSON: 400 now, not a job.
    let r = s
        .raw(
            Method::POST,
            "/Users",
            &[
                ("Authorization", &format!("Bearer {}", s.token)),
                ("Content-Type", "application/scim+json"),
                ASYNC,
            ],
            b"{\"userName\": ".to_vec(),
        )
        .await;
    r.expect(400);
    assert!(r.header("set-txn").is_none());
    // A bulk request over maxOperations: 413 tooMany now.
    let ops: Vec<Value> = (0..101)
        .map(|i| json!({"method": "DELETE", "path": format!("/Users/u{i}")}))
        .collect();
    let r = s
        .send(
            Method::POST,
            "/Bulk",
            Some(&json!({"schemas": [BULK], "Operations": ops})),
            &[ASYNC],
        )
        .await;
    r.expect(413);
    assert_eq!(r.body["scimType"], "tooMany");
    // A body larger than a job holds: 413 tooLarge, saying what to do.
    let big = "x".repeat(scim_service::jobs::MAX_BODY_BYTES);
    let r = s
        .send(
            Method::POST,
            "/Users",
            Some(&json!({"schemas": [USER], "userName": "big", "title": big})),
            &[ASYNC],
        )
        .await;
    r.expect(413);
    assert_eq!(r.body["scimType"], "tooLarge");
    // No token: 401 before anything.
    let r = s
        .raw(Method::DELETE, "/Users/x", &[ASYNC], Vec::new())
        .await;
    r.expect(401);
    // A search writes nothing and is answered at once.
    let r = s
        .send(
            Method::POST,
            "/Users/.search",
            Some(&json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], "count": 1})),
            &[ASYNC],
        )
        .await;
    r.expect(200);
    // None of the refused requests left a user.
    let all = s.get("/Users?count=0").await;
    assert_eq!(all.body["totalResults"], 0, "{}", all.text);
    // An unknown transaction, a malformed one.
    s.get("/AsyncRequests/0123456789abcdef0123456789abcdef")
        .await
        .expect(404);
    s.get("/AsyncRequests/..%2F..%2FUsers").await.expect(404);
    s.send(Method::DELETE, "/AsyncRequests/abc", None, &[])
        .await
        .expect(405);
}

#[tokio::test]
async fn service_provider_config_says_requests_may_be_asynchronous() {
    let s = Server::start().await;
    let spc = s.get("/ServiceProviderConfig").await;
    spc.expect(200);
    assert_eq!(spc.body["securityEvents"]["asyncRequest"], "request");
    let uris = spc.body["securityEvents"]["eventUris"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(uris.contains(&json!(ASYNC_RESPONSE)), "{uris:?}");
    // A deployment that runs no jobs says so, and answers at once.
    let off = Server::start_with(|c| c.async_requests = Default::default()).await;
    let spc = off.get("/ServiceProviderConfig").await;
    assert_eq!(spc.body["securityEvents"]["asyncRequest"], "none");
    let r = off
        .send(
            Method::POST,
            "/Users",
            Some(&json!({"schemas": [USER], "userName": "now"})),
            &[ASYNC],
        )
        .await;
    r.expect(201);
    assert!(r.header("preference-applied").is_none());
}

/// A job as the accepting request stores it.
fn job(txn: &str, method: &str, path: &str, body: Value) -> scim_service::jobs::Job {
    scim_service::jobs::Job {
        txn: txn.into(),
        tenant: TENANT.into(),
        token_id: "t0".into(),
        request_id: format!("req-{txn}"),
        base_url: "https://scim.example.com/scim/v2".into(),
        method: method.into(),
        path: path.into(),
        query: None,
        if_match: None,
        body: body.to_string(),
        accepted: "2026-12-06T10:00:00Z".into(),
    }
}

fn app(
    s: &Server,
) -> scim_service::http::App<scim_aws::DynamoStore, scim_service::jobs::NoCallers> {
    scim_service::http::App {
        gate: Default::default(),
        store: s.store.clone(),
        auth: scim_service::jobs::NoCallers,
        config: Default::default(),
    }
}

fn signer() -> scim_service::jobs::SetSigner {
    scim_service::jobs::SetSigner {
        issuer: "https://scim.example.com/scim/v2".into(),
        audience: "arn:aws:events:eu-west-1:123456789012:event-bus/scim-acme".into(),
        key: scim_service::oauth::keys::SigningKey::new(&"k".repeat(64)).expect("key"),
    }
}

#[tokio::test]
async fn a_job_run_again_after_its_create_committed_answers_as_the_first_run_did() {
    // The worker died after the create's transaction and before recording the completion
    // (here: the job item is absent, so nothing is recorded): the second run finds the
    // user its create made (the id derives from the txn) and answers 201 again, not 409.
    use scim_aws::jobs::WORKER_OPS;
    let s = Server::start().await;
    let app = app(&s);
    let j = job(
        "a1b2c3",
        "POST",
        "/Users",
        json!({"schemas": [USER], "userName": "replayed"}),
    );
    let first = scim_service::http::run_job::<_, _, WORKER_OPS>(&app, &j, &signer())
        .await
        .expect("first run");
    let again = scim_service::http::run_job::<_, _, WORKER_OPS>(&app, &j, &signer())
        .await
        .expect("second run");
    let (a, b) = (claims(&first[0]), claims(&again[0]));
    assert_eq!(event(&a)["status"], "201");
    assert_eq!(event(&b)["status"], "201", "{b}");
    assert_eq!(event(&a)["location"], event(&b)["location"]);
    assert_eq!(a["jti"], b["jti"]);
    let n = s.get("/Users?filter=userName%20eq%20%22replayed%22").await;
    assert_eq!(n.body["totalResults"], 1);
    // A new job (another txn) with the same userName is a real conflict.
    let other = job(
        "d4e5f6",
        "POST",
        "/Users",
        json!({"schemas": [USER], "userName": "replayed"}),
    );
    let sets = scim_service::http::run_job::<_, _, WORKER_OPS>(&app, &other, &signer())
        .await
        .expect("run");
    assert_eq!(event(&claims(&sets[0]))["status"], "409");
}

/// What the worker's stream handler put on the bus.
#[derive(Default)]
struct Collected(
    std::sync::Mutex<Vec<String>>,
    std::sync::atomic::AtomicUsize,
);

impl scim_aws::jobs::SetOutlet for Collected {
    async fn put(&self, sets: &[String]) -> Result<(), String> {
        // The first call fails, as a bus that is down would.
        if self.1.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
            return Err("bus down".into());
        }
        self.0.lock().expect("lock").extend(sets.iter().cloned());
        Ok(())
    }
}

#[tokio::test]
async fn the_worker_runs_each_new_job_item_once_and_publishes_signed_completions() {
    use scim_service::port::Store;
    let s = Server::start().await;
    let app = app(&s);
    let j = job(
        "f00d",
        "POST",
        "/Groups",
        json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Async Guides"}),
    );
    let at = time::OffsetDateTime::now_utc();
    s.store.accept_job(&j, at).await.expect("accept");
    let stored = s
        .store
        .job(TENANT, "f00d")
        .await
        .expect("read")
        .expect("item");
    assert_eq!(stored.job.as_ref(), Some(&j));
    assert!(stored.sets.is_none());
    // The stream record of the job item, as the event source mapping hands it over.
    let record = |seq: &str, name: &str, image: Value| {
        json!({"eventID": seq, "eventName": name, "eventVersion": "1.1",
               "eventSource": "aws:dynamodb", "awsRegion": "eu-west-1",
               "eventSourceARN": "arn:aws:dynamodb:eu-west-1:123456789012:table/scim/stream/x",
               "dynamodb": {"SequenceNumber": seq, "SizeBytes": 10, "StreamViewType": "NEW_IMAGE",
                            "Keys": {"pk": {"S": format!("{TENANT}#Q")}, "sk": {"S": "f00d"}},
                            "NewImage": image}})
    };
    let batch: scim_aws::events::StreamEvent = serde_json::from_value(json!({"Records": [
        record("100", "MODIFY", json!({"rec": {"S": "job"}})),
        record("101", "INSERT", json!({"pk": {"S": format!("{TENANT}#Q")}, "sk": {"S": "f00d"},
            "rec": {"S": "job"}, "job": {"S": serde_json::to_string(&j).expect("json")}})),
    ]}))
    .expect("stream event");
    let outlet = Collected::default();
    // The bus fails: the record is reported for a retry, and the job is recorded as run.
    let r = scim_aws::jobs::handle_job_batch(&app, &signer(), &outlet, &batch)
        .await
        .expect("batch");
    let failed: Vec<_> = r
        .batch_item_failures
        .iter()
        .filter_map(|f| f.item_identifier.clone())
        .collect();
    assert_eq!(failed, ["101"]);
    let recorded = s
        .store
        .job(TENANT, "f00d")
        .await
        .expect("read")
        .expect("item");
    assert!(recorded.job.is_none(), "the request is dropped once run");
    let sets = recorded.sets.expect("completion recorded");
    // The retry publishes the recorded completion; the group is not created twice.
    let r = scim_aws::jobs::handle_job_batch(&app, &signer(), &outlet, &batch)
        .await
        .expect("batch");
    assert!(r.batch_item_failures.is_empty());
    let published = outlet.0.lock().expect("lock").clone();
    assert_eq!(published, sets);
    let groups = s
        .get("/Groups?filter=displayName%20eq%20%22Async%20Guides%22")
        .await;
    assert_eq!(groups.body["totalResults"], 1, "{}", groups.text);
    let jws = scim_service::oauth::jwt::Jws::parse(&published[0]).expect("jws");
    jws.verify_hs256("k".repeat(64).as_bytes())
        .expect("signed with the SET key");
    assert!(jws.verify_hs256("x".repeat(64).as_bytes()).is_err());
    let c = claims(&published[0]);
    assert_eq!(c["txn"], "f00d");
    assert_eq!(c["iss"], "https://scim.example.com/scim/v2");
    assert_eq!(
        c["aud"],
        "arn:aws:events:eu-west-1:123456789012:event-bus/scim-acme"
    );
    assert_eq!(event(&c)["status"], "201");
    assert!(c["sub_id"]["uri"]
        .as_str()
        .is_some_and(|u| u.starts_with("/Groups/")));
    // Not a job item: nothing to run.
    assert!(scim_aws::jobs::record_job(
        "INSERT",
        &serde_json::from_value(json!({"rec": {"S": "audit"}})).expect("item")
    )
    .expect("read")
    .is_none());
}

#[tokio::test]
async fn accepting_is_one_put_and_a_job_costs_its_request_plus_three_calls() {
    use crate::budgets::cost;
    use scim_aws::jobs::WORKER_OPS;
    // Jobs stored, nothing here running them: what the write function itself pays.
    let s =
        Server::start_with(|c| c.async_requests = scim_service::jobs::AsyncRequests::Stored).await;
    s.post("/Users", &json!({"schemas": [USER], "userName": "warm-up"}))
        .await
        .expect(201);
    let accept = cost(&s, || async {
        let r = s
            .send(
                Method::POST,
                "/Users",
                Some(&json!({"schemas": [USER], "userName": "queued"})),
                &[ASYNC],
            )
            .await;
        accepted(&s, &r);
    })
    .await;
    assert_eq!((accept.put_item, accept.total()), (1, 1), "{accept:?}");
    let status = cost(&s, || async {
        s.get("/AsyncRequests/0123456789abcdef0123456789abcdef")
            .await
            .expect(404);
    })
    .await;
    assert_eq!((status.get_item, status.total()), (1, 1), "{status:?}");
    // The worker's side: the job item read, the create's replay check, the create, and the
    // completion recorded.
    let single = cost(&s, || async {
        s.post("/Users", &json!({"schemas": [USER], "userName": "single"}))
            .await
            .expect(201);
    })
    .await;
    let app = app(&s);
    let j = job(
        "c0ffee",
        "POST",
        "/Users",
        json!({"schemas": [USER], "userName": "worker"}),
    );
    let run = cost(&s, || async {
        scim_service::http::run_job::<_, _, WORKER_OPS>(&app, &j, &signer())
            .await
            .expect("run");
    })
    .await;
    assert_eq!(run.total(), single.total() + 3, "{single:?} {run:?}");
    assert_eq!(
        (run.get_item, run.update_item),
        (single.get_item + 2, single.update_item + 1),
        "{single:?} {run:?}"
    );
}

#[tokio::test]
async fn with_a_wait_a_single_write_is_answered_at_once_and_a_bulk_request_still_runs_as_a_job() {
    // RFC 7240 §4.3 (RFC 9967 §2.5.1.1: `wait` SHOULD be supported): the client waits up
    // to `wait` seconds; a single write takes milliseconds, so it is answered at once.
    let s = Server::start().await;
    let r = s
        .send(
            Method::POST,
            "/Users",
            Some(&json!({"schemas": [USER], "userName": "waited"})),
            &[("Prefer", "respond-async, wait=10")],
        )
        .await;
    r.expect(201);
    assert!(r.header("set-txn").is_none());
    let request = json!({"schemas": [BULK], "Operations": [
        {"method": "POST", "path": "/Users", "bulkId": "w",
         "data": {"schemas": [USER], "userName": "waited.bulk"}}
    ]});
    let r = s
        .send(
            Method::POST,
            "/Bulk",
            Some(&request),
            &[("Prefer", "respond-async, wait=10")],
        )
        .await;
    let (_, path) = accepted(&s, &r);
    let done = completion(&s, &path).await;
    assert_eq!(event(&done[0])["status"], "201");
}
