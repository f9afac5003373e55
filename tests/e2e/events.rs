//! Change events: every write's audit record goes through the table's stream to an event
//! sink. Over HTTP to moto's EventBridge (bus → rule → SQS queue, read back), the stream
//! handler on real Lambda stream-event JSON, failures reported as batch item failures, and
//! the local server's stream follower writing to a file.
//!
//! moto comes from `tests/tools/.venv` (`tests/tools/install.sh`, run by `tests/run.sh`);
//! without it the moto tests fail and say so. moto answers `PutEvents` with 500 when a rule
//! on the bus has a Lambda target, so the test bus has only an SQS target.

use crate::harness::{Server, TENANT};
use crate::moto;
use reqwest::Method;
use scim_aws::events::{
    handle_stream_batch, EventBridgeClient, EventBridgeSink, EventSink, LocalSink, Retry,
    StreamEvent,
};
use scim_service::auth::token_id;
use scim_service::events::{ChangeEvent, EVENT_NAMES, EVENT_SOURCE};
use scim_test_support::aws::{eventbridge, queue, sqs};
use serde_json::{json, Value};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const PASSWORD: &str = "Tr0ub4dor&3-never-published";

/// A bus whose every `scim.provisioning` event lands in an SQS queue; returns the queue URL.
async fn bus_into_queue(eb: &EventBridgeClient, sq: &aws_sdk_sqs::Client, bus: &str) -> String {
    eb.create_event_bus().name(bus).send().await.expect("bus");
    let (queue_url, queue_arn) = queue(sq, &format!("{bus}-events")).await;
    eb.put_rule()
        .name("scim-events-to-queue")
        .event_bus_name(bus)
        .event_pattern(json!({ "source": [EVENT_SOURCE] }).to_string())
        .send()
        .await
        .expect("rule");
    eb.put_targets()
        .rule("scim-events-to-queue")
        .event_bus_name(bus)
        .targets(
            aws_sdk_eventbridge::types::Target::builder()
                .id("queue")
                .arn(queue_arn)
                .build()
                .expect("target"),
        )
        .send()
        .await
        .expect("target");
    queue_url
}

/// Reads `n` messages (bodies as sent) from the queue, failing after 30 s.
async fn receive(sq: &aws_sdk_sqs::Client, queue_url: &str, n: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut bodies = Vec::new();
    while bodies.len() < n {
        assert!(
            Instant::now() < deadline,
            "only {} of {n} events arrived: {bodies:#?}",
            bodies.len()
        );
        let out = sq
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .expect("receive");
        for m in out.messages() {
            bodies.push(m.body().unwrap_or_default().to_string());
            if let Some(h) = m.receipt_handle() {
                sq.delete_message()
                    .queue_url(queue_url)
                    .receipt_handle(h)
                    .send()
                    .await
                    .expect("delete");
            }
        }
    }
    bodies
}

/// The follower of the server's table, publishing to `sink`.
async fn follow<S: EventSink + 'static>(s: &Server, sink: S) -> scim_local::stream::Follower {
    scim_local::stream::follow(
        s.store.client(),
        scim_local::stream::local_client(&s.endpoint),
        s.store.table(),
        sink,
    )
    .await
    .expect("follow the table's stream")
}

/// Sends a request and remembers the id the service gave it (its `X-Request-Id` answer,
/// which its audit record and change event carry) under `label`, for [`id_of`]. A client's
/// own `X-Request-Id` is ignored by the service (only API Gateway's id counts), so the test
/// sends one to show that.
async fn send(s: &Server, method: Method, path: &str, body: Option<&Value>, label: &str) -> Value {
    let r = s.send(method, path, body, &[("X-Request-Id", label)]).await;
    assert!(r.status.is_success(), "{path}: {} {}", r.status, r.text);
    let id = r.header("x-request-id").expect("X-Request-Id").to_string();
    assert_ne!(
        id, label,
        "a client's X-Request-Id must not become the request id"
    );
    LABELS.lock().expect("labels").insert(label.to_string(), id);
    r.body
}

/// Request ids by the labels tests gave them (labels are unique across this module).
static LABELS: std::sync::LazyLock<std::sync::Mutex<std::collections::HashMap<String, String>>> =
    std::sync::LazyLock::new(Default::default);

/// The request id of the request sent as `label`.
fn id_of(label: &str) -> String {
    LABELS
        .lock()
        .expect("labels")
        .get(label)
        .cloned()
        .unwrap_or_else(|| panic!("no request was sent as {label}"))
}

// ------------------------------------------------------------------ over HTTP, to EventBridge

#[tokio::test]
async fn a_provisioning_scenario_publishes_its_events_to_eventbridge() {
    let moto = moto::start();
    let eb = eventbridge(&moto.endpoint);
    let sq = sqs(&moto.endpoint);
    let bus = format!("scim-{TENANT}");
    let queue = bus_into_queue(&eb, &sq, &bus).await;
    let s = Server::start().await;
    let _follower = follow(&s, EventBridgeSink::new(eb.clone(), &bus)).await;

    let user = send(
        &s,
        Method::POST,
        "/Users",
        Some(&json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "ann@contoso.example",
            "externalId": "ext-ann",
            "name": {"givenName": "Ann"},
            "password": PASSWORD,
            "active": true,
        })),
        "req-create-user",
    )
    .await["id"]
        .as_str()
        .expect("user id")
        .to_string();
    send(
        &s,
        Method::PATCH,
        &format!("/Users/{user}"),
        Some(&json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "path": "active", "value": false}],
        })),
        "req-deactivate",
    )
    .await;
    let group = send(
        &s,
        Method::POST,
        "/Groups",
        Some(&json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": "Sales",
            "externalId": "ext-sales",
        })),
        "req-create-group",
    )
    .await["id"]
        .as_str()
        .expect("group id")
        .to_string();
    send(
        &s,
        Method::PATCH,
        &format!("/Groups/{group}"),
        Some(&json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "add", "path": "members", "value": [{"value": user}]}],
        })),
        "req-add-member",
    )
    .await;
    send(
        &s,
        Method::PATCH,
        &format!("/Groups/{group}"),
        Some(&json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "remove", "path": format!("members[value eq \"{user}\"]")}],
        })),
        "req-remove-member",
    )
    .await;
    send(
        &s,
        Method::DELETE,
        &format!("/Users/{user}"),
        None,
        "req-delete-user",
    )
    .await;
    send(
        &s,
        Method::DELETE,
        &format!("/Groups/{group}"),
        None,
        "req-delete-group",
    )
    .await;

    // (request id, event, resource type, id, externalId, changed, added, removed)
    let u = |event: &str, req: &str, changed: &[&str]| {
        json!({"requestId": id_of(req), "event": event, "resourceType": "User", "id": user,
               "externalId": "ext-ann", "changedAttributes": changed,
               "membersAdded": [], "membersRemoved": []})
    };
    let g = |event: &str, req: &str, changed: &[&str], added: &[&str], removed: &[&str]| {
        json!({"requestId": id_of(req), "event": event, "resourceType": "Group", "id": group,
               "externalId": "ext-sales", "changedAttributes": changed,
               "membersAdded": added, "membersRemoved": removed})
    };
    let expected = vec![
        u(
            "user.created",
            "req-create-user",
            &["active", "externalId", "name", "userName"],
        ),
        u("user.deactivated", "req-deactivate", &["active"]),
        g(
            "group.created",
            "req-create-group",
            &["displayName", "externalId"],
            &[],
            &[],
        ),
        g(
            "group.members.added",
            "req-add-member",
            &["members"],
            &[&user],
            &[],
        ),
        g(
            "group.members.removed",
            "req-remove-member",
            &["members"],
            &[],
            &[&user],
        ),
        u("user.deleted", "req-delete-user", &[]),
        g("group.deleted", "req-delete-group", &[], &[], &[]),
    ];

    let bodies = receive(&sq, &queue, expected.len()).await;
    let actor = token_id(&s.token);
    let mut got: Vec<Value> = Vec::new();
    for body in &bodies {
        assert!(!body.contains(PASSWORD), "a password in an event: {body}");
        assert!(
            !body.contains(&s.token),
            "a bearer token in an event: {body}"
        );
        assert!(
            !body.contains("$argon2"),
            "a password hash in an event: {body}"
        );
        let e: Value = serde_json::from_str(body).expect("event JSON");
        assert_eq!(e["source"], EVENT_SOURCE, "{body}");
        let d = &e["detail"];
        assert_eq!(e["detail-type"], d["event"], "{body}");
        assert!(
            EVENT_NAMES.contains(&d["event"].as_str().unwrap_or("")),
            "{body}"
        );
        assert_eq!(d["tenant"], TENANT, "{body}");
        assert_eq!(
            d["actor"],
            actor.as_str(),
            "the actor is the token's id: {body}"
        );
        assert!(d["at"].as_str().is_some_and(|t| t.ends_with('Z')), "{body}");
        let mut d = d.clone();
        let o = d.as_object_mut().expect("detail object");
        for k in ["tenant", "actor", "at"] {
            o.remove(k);
        }
        got.push(d);
    }
    // One event per write; SQS does not keep their order, the request ids do.
    let position = |v: &Value| {
        expected
            .iter()
            .position(|e| e["requestId"] == v["requestId"])
            .unwrap_or(usize::MAX)
    };
    got.sort_by_key(position);
    assert_eq!(got, expected);

    // Nothing else: no event for guards, index entries, counters or memberships.
    let more = sq
        .receive_message()
        .queue_url(&queue)
        .wait_time_seconds(1)
        .send()
        .await
        .expect("receive");
    assert!(
        more.messages().is_empty(),
        "unexpected events: {:?}",
        more.messages()
    );
}

// ------------------------------------------------------------------ the stream handler

/// A DynamoDB stream event as Lambda delivers it to `publish-events`: a user's audit
/// record, a group's (members added), a user item (the mapping's filter keeps such records
/// away in a stack; the handler ignores them anyway), and a TTL deletion of an expired
/// audit record (a REMOVE by the DynamoDB service, no NewImage).
fn stream_fixture() -> Value {
    let arn = "arn:aws:dynamodb:eu-west-1:123456789012:table/scim-acme-Table-1A2B3C/stream/2025-06-01T08:00:00.000";
    json!({
        "Records": [
            {
                "eventID": "7de3041dd709b024af6f29e4fa13d34c",
                "eventName": "INSERT",
                "eventVersion": "1.1",
                "eventSource": "aws:dynamodb",
                "awsRegion": "eu-west-1",
                "dynamodb": {
                    "ApproximateCreationDateTime": 1748764801,
                    "Keys": {
                        "sk": {"S": "2025-06-01T08:00:01.123Z#0b1b6a0e-5a1f-4f0e-9a43-6c0f0f1c2d3e"},
                        "pk": {"S": "acme#A#01972a3b-7c1d-7f00-8000-0a1b2c3d4e5f"}
                    },
                    "NewImage": {
                        "pk": {"S": "acme#A#01972a3b-7c1d-7f00-8000-0a1b2c3d4e5f"},
                        "sk": {"S": "2025-06-01T08:00:01.123Z#0b1b6a0e-5a1f-4f0e-9a43-6c0f0f1c2d3e"},
                        "rec": {"S": "audit"},
                        "tenant": {"S": "acme"},
                        "event": {"S": "user.deactivated"},
                        "resourceType": {"S": "User"},
                        "rid": {"S": "01972a3b-7c1d-7f00-8000-0a1b2c3d4e5f"},
                        "externalId": {"S": "5f2c9a7e-1d3b-4c8e-9f0a-b1c2d3e4f5a6"},
                        "changed": {"L": [{"S": "active"}]},
                        "token": {"S": "9f86d081"},
                        "req": {"S": "0b1b6a0e-5a1f-4f0e-9a43-6c0f0f1c2d3e"},
                        "at": {"S": "2025-06-01T08:00:01.123Z"},
                        "expiresAt": {"N": "1783324801"}
                    },
                    "SequenceNumber": "4421584500000000017450439091",
                    "SizeBytes": 512,
                    "StreamViewType": "NEW_IMAGE"
                },
                "eventSourceARN": arn
            },
            {
                "eventID": "b4a1e2f3c4d5e6f708192a3b4c5d6e7f",
                "eventName": "INSERT",
                "eventVersion": "1.1",
                "eventSource": "aws:dynamodb",
                "awsRegion": "eu-west-1",
                "dynamodb": {
                    "ApproximateCreationDateTime": 1748764802,
                    "Keys": {
                        "sk": {"S": "2025-06-01T08:00:02.000Z#req-2"},
                        "pk": {"S": "acme#A#01972a3c-0000-7000-8000-000000000001"}
                    },
                    "NewImage": {
                        "pk": {"S": "acme#A#01972a3c-0000-7000-8000-000000000001"},
                        "sk": {"S": "2025-06-01T08:00:02.000Z#req-2"},
                        "rec": {"S": "audit"},
                        "tenant": {"S": "acme"},
                        "event": {"S": "group.members.added"},
                        "resourceType": {"S": "Group"},
                        "rid": {"S": "01972a3c-0000-7000-8000-000000000001"},
                        "changed": {"L": [{"S": "members"}]},
                        "membersAdded": {"L": [
                            {"S": "01972a3b-7c1d-7f00-8000-0a1b2c3d4e5f"},
                            {"S": "01972a3b-7c1d-7f00-8000-0a1b2c3d4e60"}
                        ]},
                        "token": {"S": "9f86d081"},
                        "req": {"S": "req-2"},
                        "at": {"S": "2025-06-01T08:00:02.000Z"},
                        "expiresAt": {"N": "1783324802"}
                    },
                    "SequenceNumber": "4421584500000000017450439092",
                    "SizeBytes": 530,
                    "StreamViewType": "NEW_IMAGE"
                },
                "eventSourceARN": arn
            },
            {
                "eventID": "c0ffee00c0ffee00c0ffee00c0ffee00",
                "eventName": "INSERT",
                "eventVersion": "1.1",
                "eventSource": "aws:dynamodb",
                "awsRegion": "eu-west-1",
                "dynamodb": {
                    "ApproximateCreationDateTime": 1748764803,
                    "Keys": {"sk": {"S": "01972a3d-0000-7000-8000-000000000002"}, "pk": {"S": "acme#U"}},
                    "NewImage": {
                        "pk": {"S": "acme#U"},
                        "sk": {"S": "01972a3d-0000-7000-8000-000000000002"},
                        "doc": {"M": {"userName": {"S": "bob@acme.example"}}},
                        "v": {"N": "1"},
                        "created": {"S": "2025-06-01T08:00:03.000Z"},
                        "modified": {"S": "2025-06-01T08:00:03.000Z"}
                    },
                    "SequenceNumber": "4421584500000000017450439093",
                    "SizeBytes": 200,
                    "StreamViewType": "NEW_IMAGE"
                },
                "eventSourceARN": arn
            },
            {
                "eventID": "d41d8cd98f00b204e9800998ecf8427e",
                "eventName": "REMOVE",
                "eventVersion": "1.1",
                "eventSource": "aws:dynamodb",
                "awsRegion": "eu-west-1",
                "dynamodb": {
                    "ApproximateCreationDateTime": 1748764900,
                    "Keys": {
                        "sk": {"S": "2024-04-27T10:00:00.000Z#req-old"},
                        "pk": {"S": "acme#A#0190aaaa-0000-7000-8000-000000000003"}
                    },
                    "SequenceNumber": "4421584500000000017450439094",
                    "SizeBytes": 120,
                    "StreamViewType": "NEW_IMAGE"
                },
                "userIdentity": {"type": "Service", "principalId": "dynamodb.amazonaws.com"},
                "eventSourceARN": arn
            }
        ]
    })
}

/// Keeps what it is given; fails the positions listed.
#[derive(Default)]
struct Capture {
    events: Mutex<Vec<ChangeEvent>>,
    fail: Vec<usize>,
    fail_all: bool,
}

impl EventSink for Capture {
    async fn publish(&self, events: &[ChangeEvent]) -> Vec<usize> {
        self.events.lock().unwrap().extend(events.iter().cloned());
        if self.fail_all {
            (0..events.len()).collect()
        } else {
            self.fail.clone()
        }
    }
}

fn batch() -> StreamEvent {
    serde_json::from_value(stream_fixture()).expect("a Lambda DynamoDB stream event")
}

#[tokio::test]
async fn the_stream_handler_publishes_inserted_audit_records_and_ignores_ttl_deletions() {
    let sink = Capture::default();
    let r = handle_stream_batch(&sink, &batch()).await.expect("handled");
    assert_eq!(
        serde_json::to_value(&r).unwrap(),
        json!({"batchItemFailures": []})
    );
    let events = sink.events.lock().unwrap().clone();
    let details: Vec<Value> = events.iter().map(ChangeEvent::detail).collect();
    assert_eq!(
        details,
        vec![
            json!({
                "event": "user.deactivated",
                "tenant": "acme",
                "resourceType": "User",
                "id": "01972a3b-7c1d-7f00-8000-0a1b2c3d4e5f",
                "externalId": "5f2c9a7e-1d3b-4c8e-9f0a-b1c2d3e4f5a6",
                "changedAttributes": ["active"],
                "membersAdded": [],
                "membersRemoved": [],
                "requestId": "0b1b6a0e-5a1f-4f0e-9a43-6c0f0f1c2d3e",
                "actor": "9f86d081",
                "at": "2025-06-01T08:00:01.123Z",
            }),
            json!({
                "event": "group.members.added",
                "tenant": "acme",
                "resourceType": "Group",
                "id": "01972a3c-0000-7000-8000-000000000001",
                "externalId": null,
                "changedAttributes": ["members"],
                "membersAdded": [
                    "01972a3b-7c1d-7f00-8000-0a1b2c3d4e5f",
                    "01972a3b-7c1d-7f00-8000-0a1b2c3d4e60"
                ],
                "membersRemoved": [],
                "requestId": "req-2",
                "actor": "9f86d081",
                "at": "2025-06-01T08:00:02.000Z",
            }),
        ]
    );
}

// ------------------------------------------------------------------ never lost silently

#[tokio::test]
async fn events_a_sink_cannot_publish_are_reported_as_batch_item_failures() {
    // Every event fails: both audit records come back, the user item and the TTL
    // deletion (no event) do not.
    let sink = Capture {
        fail_all: true,
        ..Capture::default()
    };
    let r = handle_stream_batch(&sink, &batch()).await.expect("handled");
    assert_eq!(
        serde_json::to_value(&r).unwrap(),
        json!({"batchItemFailures": [
            {"itemIdentifier": "4421584500000000017450439091"},
            {"itemIdentifier": "4421584500000000017450439092"}
        ]})
    );
    // Only the second fails.
    let sink = Capture {
        fail: vec![1],
        ..Capture::default()
    };
    let r = handle_stream_batch(&sink, &batch()).await.expect("handled");
    assert_eq!(
        serde_json::to_value(&r).unwrap(),
        json!({"batchItemFailures": [{"itemIdentifier": "4421584500000000017450439092"}]})
    );
    // An audit record that cannot be read is a failure too (it goes to the dead-letter
    // queue after the retries), not skipped.
    let mut broken = stream_fixture();
    broken["Records"][0]["dynamodb"]["NewImage"]
        .as_object_mut()
        .unwrap()
        .remove("rid");
    let broken: StreamEvent = serde_json::from_value(broken).unwrap();
    let r = handle_stream_batch(&Capture::default(), &broken)
        .await
        .expect("handled");
    assert_eq!(
        serde_json::to_value(&r).unwrap(),
        json!({"batchItemFailures": [{"itemIdentifier": "4421584500000000017450439091"}]})
    );
}

#[tokio::test]
async fn an_unreachable_event_bus_reports_every_record_after_the_retries() {
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let sink = EventBridgeSink::new(eventbridge(&closed), "scim-acme").with_retry(Retry {
        attempts: 3,
        base_delay: Duration::from_millis(10),
    });
    let r = handle_stream_batch(&sink, &batch()).await.expect("handled");
    let ids: Vec<&str> = r
        .batch_item_failures
        .iter()
        .filter_map(|f| f.item_identifier.as_deref())
        .collect();
    assert_eq!(
        ids,
        [
            "4421584500000000017450439091",
            "4421584500000000017450439092"
        ]
    );
}

#[tokio::test]
async fn the_eventbridge_sink_puts_more_than_ten_events_in_batches() {
    let moto = moto::start();
    let eb = eventbridge(&moto.endpoint);
    let sq = sqs(&moto.endpoint);
    let queue = bus_into_queue(&eb, &sq, "scim-batches").await;
    let events: Vec<ChangeEvent> = (0..23)
        .map(|i| ChangeEvent {
            event: "user.updated".into(),
            tenant: "acme".into(),
            resource_type: "User".into(),
            id: format!("user-{i}"),
            external_id: None,
            changed_attributes: vec!["displayName".into()],
            members_added: vec![],
            members_removed: vec![],
            request_id: format!("req-{i}"),
            actor: "9f86d081".into(),
            at: "2025-06-01T08:00:00.000Z".into(),
        })
        .collect();
    let sink = EventBridgeSink::new(eb, "scim-batches");
    assert!(sink.publish(&events).await.is_empty());
    let bodies = receive(&sq, &queue, events.len()).await;
    let mut ids: Vec<String> = bodies
        .iter()
        .map(|b| {
            serde_json::from_str::<Value>(b).unwrap()["detail"]["id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    ids.sort();
    let mut want: Vec<String> = events.iter().map(|e| e.id.clone()).collect();
    want.sort();
    assert_eq!(ids, want);
}

// ------------------------------------------------------------------ the local follower

#[tokio::test]
async fn the_local_stream_follower_writes_the_event_of_a_write_to_a_file() {
    let s = Server::start().await;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let file =
        std::env::temp_dir().join(format!("scim-events-{}-{nanos}.jsonl", std::process::id()));
    let _follower = follow(&s, LocalSink::File(file.clone())).await;

    let user = send(
        &s,
        Method::POST,
        "/Users",
        Some(&json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "eve@contoso.example",
            "password": PASSWORD,
        })),
        "req-local-1",
    )
    .await["id"]
        .as_str()
        .expect("id")
        .to_string();

    let deadline = Instant::now() + Duration::from_secs(60);
    let text = loop {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        if !text.is_empty() || Instant::now() > deadline {
            break text;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // A little longer: nothing but the audit record makes a line.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let text = std::fs::read_to_string(&file).unwrap_or(text);
    let _ = std::fs::remove_file(&file);
    assert!(
        !text.contains(PASSWORD) && !text.contains(&s.token),
        "{text}"
    );
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    assert_eq!(lines.len(), 1, "{text}");
    let e = &lines[0];
    assert_eq!(e["source"], EVENT_SOURCE);
    assert_eq!(e["detail-type"], "user.created");
    let d = &e["detail"];
    assert_eq!(d["id"], user.as_str());
    assert_eq!(d["tenant"], TENANT);
    assert_eq!(d["resourceType"], "User");
    assert_eq!(d["requestId"], id_of("req-local-1").as_str());
    assert_eq!(d["externalId"], Value::Null);
    assert_eq!(d["actor"], token_id(&s.token).as_str());
    assert_eq!(e["time"], d["at"]);
}

/// Audit records and change events carry the core's change set: a department change is
/// `...:enterprise:2.0:User:department`, not the whole extension; an Entra path-less
/// `Replace` of the name's given name is `name`.
#[tokio::test]
async fn a_department_change_is_published_as_the_department_attribute() {
    const DEPARTMENT: &str =
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department";
    let s = Server::start().await;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let file = std::env::temp_dir().join(format!(
        "scim-events-dept-{}-{nanos}.jsonl",
        std::process::id()
    ));
    let _follower = follow(&s, LocalSink::File(file.clone())).await;
    let user = s
        .user_from(&json!({"userName": "dept@contoso.example",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":
                {"department": "Sales", "employeeNumber": "42"}}))
        .await;
    send(
        &s,
        Method::PATCH,
        &format!("/Users/{user}"),
        Some(
            &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "Replace", "path": DEPARTMENT, "value": "Marketing"}]}),
        ),
        "req-dept",
    )
    .await;
    send(
        &s,
        Method::PUT,
        &format!("/Users/{user}"),
        Some(&json!({"userName": "dept@contoso.example", "title": "Lead",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":
                {"department": "Marketing", "employeeNumber": "43"}})),
        "req-put",
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(60);
    let lines: Vec<Value> = loop {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        let lines: Vec<Value> = text
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        if lines.len() >= 3 || Instant::now() > deadline {
            break lines;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let _ = std::fs::remove_file(&file);
    let changed = |req: &str| {
        lines
            .iter()
            .find(|e| e["detail"]["requestId"] == req)
            .map(|e| e["detail"]["changedAttributes"].clone())
    };
    let created = lines
        .iter()
        .find(|e| e["detail-type"] == "user.created")
        .map(|e| e["detail"]["changedAttributes"].clone());
    assert_eq!(
        created,
        Some(json!([
            DEPARTMENT,
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber",
            "userName"
        ])),
        "{lines:?}"
    );
    assert_eq!(
        changed(&id_of("req-dept")),
        Some(json!([DEPARTMENT])),
        "{lines:?}"
    );
    assert_eq!(
        changed(&id_of("req-put")),
        Some(json!([
            "title",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber"
        ])),
        "{lines:?}"
    );
    // The audit record itself says the same.
    let trail = s
        .store
        .audit_trail(TENANT, &user)
        .await
        .expect("audit trail");
    let dept = trail
        .iter()
        .find(|r| r["req"] == id_of("req-dept").as_str())
        .expect("the PATCH's audit record");
    assert_eq!(dept["changed"], json!([DEPARTMENT]), "{dept}");
}

#[tokio::test]
async fn a_table_created_before_the_stream_existed_gets_it() {
    let s = Server::start().await;
    let client = s.store.client();
    let table = format!("{}-old", s.store.table());
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    };
    let mut create = client
        .create_table()
        .table_name(&table)
        .billing_mode(BillingMode::PayPerRequest);
    for (name, key) in [("pk", KeyType::Hash), ("sk", KeyType::Range)] {
        create = create
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name(name)
                    .key_type(key)
                    .build()
                    .unwrap(),
            )
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(name)
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .unwrap(),
            );
    }
    create.send().await.expect("old table");
    scim_aws::table::ensure_table(client, &table)
        .await
        .expect("ensure");
    let described = client
        .describe_table()
        .table_name(&table)
        .send()
        .await
        .unwrap();
    let t = described.table().unwrap();
    let spec = t.stream_specification().expect("stream");
    assert!(spec.stream_enabled());
    assert_eq!(
        spec.stream_view_type().map(|v| v.as_str()),
        Some("NEW_IMAGE")
    );
    assert!(t.latest_stream_arn().is_some());
}

#[tokio::test]
async fn a_table_whose_stream_was_turned_off_gets_it_back_from_ensure_table() {
    let s = Server::start().await;
    let client = s.store.client();
    let table = s.store.table();
    let stream_on = || async {
        client
            .describe_table()
            .table_name(table)
            .send()
            .await
            .unwrap()
            .table()
            .and_then(|t| t.stream_specification())
            .is_some_and(|spec| spec.stream_enabled())
    };
    assert!(stream_on().await);
    scim_local::stream::disable(client, table).await.unwrap();
    assert!(!stream_on().await);
    // Idempotent: turning it off again changes nothing and does not fail.
    scim_local::stream::disable(client, table).await.unwrap();
    assert!(!stream_on().await);
    // Writes still work without the stream.
    s.post("/Users", &json!({"userName": "no-stream@contoso.com"}))
        .await
        .expect(201);
    scim_aws::table::ensure_table(client, table).await.unwrap();
    assert!(stream_on().await);
}

// ------------------------------------------------------------------ RFC 9967 SETs

/// A receiver stand-in for the SETs on the bus: checks each token's signature with the
/// stack's key and its claims, and keeps the `jti`s it has seen (RFC 9967: a receiver drops
/// a SET whose `jti` it already processed).
#[derive(Default)]
struct SetReceiver {
    seen: std::collections::BTreeMap<String, Value>,
    repeats: usize,
}

impl SetReceiver {
    /// Takes one SET: `token`, and the EventBridge detail it came in when it came off the
    /// bus (whose `jti` and `txn` must be the token's own).
    fn take(
        &mut self,
        token: &str,
        detail: Option<&Value>,
        key: &str,
        issuer: &str,
        audience: &str,
    ) {
        use scim_service::oauth::jwt::Jws;
        let jws = Jws::parse(token).expect("a JWS");
        jws.verify_hs256(key.as_bytes())
            .expect("signed with the stack's SET key");
        assert_eq!(jws.alg(), Some("HS256"));
        let claims: Value = serde_json::from_slice(
            &scim_service::oauth::jwt::b64url(token.split('.').nth(1).unwrap()).unwrap(),
        )
        .unwrap();
        assert_eq!(claims["iss"], issuer, "{claims}");
        assert_eq!(claims["aud"], audience, "{claims}");
        assert!(
            claims["iat"].as_i64().is_some_and(|t| t > 1_700_000_000),
            "{claims}"
        );
        assert_eq!(claims["sub_id"]["format"], "scim", "{claims}");
        assert!(
            claims.get("sub").is_none(),
            "RFC 9967 §2.1: no sub: {claims}"
        );
        if let Some(detail) = detail {
            assert_eq!(detail["jti"], claims["jti"]);
            assert_eq!(detail["txn"], claims["txn"]);
        }
        let jti = claims["jti"].as_str().unwrap().to_string();
        if self.seen.insert(jti, claims).is_some() {
            self.repeats += 1;
        }
    }
}

/// A bus on moto whose events land in a queue, and a sink that publishes each change event
/// with its SET signed with `key` (issuer and audience as given).
async fn bus_with_sets(
    moto_endpoint: &str,
    bus: &str,
    key: &str,
    issuer: &str,
    audience: &str,
) -> (EventBridgeSink, aws_sdk_sqs::Client, String) {
    use scim_aws::events::{SetKeys, SetPublishing};
    use scim_service::oauth::keys::{KeySet, SigningKey};
    let eb = eventbridge(moto_endpoint);
    let sq = sqs(moto_endpoint);
    let queue = bus_into_queue(&eb, &sq, bus).await;
    let sink = EventBridgeSink::new(eb, bus).with_sets(SetPublishing {
        issuer: issuer.into(),
        audience: audience.into(),
        keys: SetKeys::Fixed(std::sync::Arc::new(KeySet::new(
            SigningKey::new(key).unwrap(),
        ))),
    });
    (sink, sq, queue)
}

#[tokio::test]
async fn every_change_event_goes_with_a_signed_set_and_a_redelivery_repeats_its_jti() {
    use scim_service::events::set;
    let moto = moto::start();
    let key = "set-signing-key-".repeat(4);
    let (issuer, audience) = ("https://scim.example/scim/v2", "urn:example:product");
    let (sink, sq, queue) =
        bus_with_sets(&moto.endpoint, "scim-sets", &key, issuer, audience).await;
    let mut receiver = SetReceiver::default();
    let mut change_events = Vec::new();
    // The batch twice: Lambda redelivers a batch whose invocation failed.
    for round in 0..2 {
        let r = handle_stream_batch(&sink, &batch()).await.expect("handled");
        assert!(r.batch_item_failures.is_empty(), "{r:?}");
        for body in receive(&sq, &queue, 4).await {
            let m: Value = serde_json::from_str(&body).unwrap();
            if m["detail-type"] == set::DETAIL_TYPE {
                let token = m["detail"]["set"].as_str().expect("a SET in the detail");
                receiver.take(token, Some(&m["detail"]), &key, issuer, audience);
            } else {
                change_events.push(m["detail"].clone());
            }
        }
        assert_eq!(receiver.seen.len(), 2, "round {round}");
    }
    // Each change once per round, today's contract unchanged; each SET's jti seen twice.
    assert_eq!(change_events.len(), 4);
    assert_eq!(change_events[0]["event"], "user.deactivated");
    assert_eq!(receiver.repeats, 2);
    let by_subject: std::collections::BTreeMap<String, Value> = receiver
        .seen
        .values()
        .map(|c| (c["sub_id"]["uri"].as_str().unwrap().to_string(), c.clone()))
        .collect();
    let user = &by_subject["/Users/01972a3b-7c1d-7f00-8000-0a1b2c3d4e5f"];
    assert_eq!(
        user["sub_id"]["externalId"],
        "5f2c9a7e-1d3b-4c8e-9f0a-b1c2d3e4f5a6"
    );
    assert_eq!(
        user["events"],
        json!({set::DEACTIVATE: {}, set::PATCH_NOTICE: {"attributes": ["active"]}})
    );
    let group = &by_subject["/Groups/01972a3c-0000-7000-8000-000000000001"];
    assert_eq!(
        group["events"],
        json!({set::PATCH_NOTICE: {"attributes": ["members"]}})
    );
    assert_ne!(user["txn"], group["txn"]);
}

#[tokio::test]
async fn sets_are_pushed_to_the_receiver_and_a_refused_push_fails_for_lambda_to_retry() {
    use scim_service::events::set;
    use scim_test_support::graph::{reply, StandIn};
    // The SETs as the bus delivers them to a rule's target: published through moto's
    // EventBridge and read back from the queue the rule feeds.
    let moto = moto::start();
    let key = "push-signing-key-".repeat(4);
    let (issuer, audience) = ("https://scim.example/scim/v2", "urn:example:receiver");
    let (sink, sq, queue) =
        bus_with_sets(&moto.endpoint, "scim-push", &key, issuer, audience).await;
    handle_stream_batch(&sink, &batch()).await.expect("handled");
    let events: Vec<Value> = receive(&sq, &queue, 4)
        .await
        .iter()
        .map(|b| serde_json::from_str::<Value>(b).unwrap())
        .filter(|m| m["detail-type"] == set::DETAIL_TYPE)
        .collect();
    assert_eq!(events.len(), 2);

    // The receiver: 202 to every push but the third, which it answers 503.
    let receiver = StandIn::start(|_, n| {
        if n == 2 {
            reply(503, json!({"err": "unavailable"}))
        } else {
            reply(202, Value::Null)
        }
    })
    .await;
    let pusher = push_sets::Pusher::new(Some(format!("{}/sets", receiver.base))).unwrap();
    for e in &events {
        pusher.handle(e).await.expect("delivered");
    }
    // Lambda delivers the first event again (a retried invocation): refused this time.
    let refused = pusher.handle(&events[0]).await.unwrap_err();
    assert_eq!(
        refused,
        push_sets::PushError::Refused(503, Some("unavailable".into()))
    );
    // And again: delivered.
    pusher.handle(&events[0]).await.expect("delivered on retry");

    let mut check = SetReceiver::default();
    let pushes = receiver.requests();
    assert_eq!(pushes.len(), 4);
    for p in &pushes {
        assert_eq!((p.method.as_str(), p.path.as_str()), ("POST", "/sets"));
        assert_eq!(p.header("content-type"), Some("application/secevent+jwt"));
        assert_eq!(p.header("accept"), Some("application/json"));
        // The body is the JWS itself.
        check.take(&p.body, None, &key, issuer, audience);
    }
    // Two SETs, each seen; the redeliveries repeat a jti the receiver already has.
    assert_eq!(check.seen.len(), 2);
    assert_eq!(check.repeats, 2);

    // No receiver configured: nothing sent, nothing failed; not a SET: failed.
    let idle = push_sets::Pusher::new(None).unwrap();
    idle.handle(&events[0]).await.expect("no receiver: done");
    assert_eq!(
        idle.handle(&json!({"detail": {"event": "user.created"}}))
            .await,
        Err(push_sets::PushError::NotASet)
    );
    // Unreachable: fails.
    let gone = push_sets::Pusher::new(Some("http://127.0.0.1:9/sets".into())).unwrap();
    assert!(matches!(
        gone.handle(&events[1]).await,
        Err(push_sets::PushError::Unreachable(_))
    ));
}

#[tokio::test]
async fn an_asynchronous_requests_completions_reach_the_bus_as_security_events() {
    // What async-worker puts on the bus (scim_aws::jobs::Bus), read back from a queue a
    // rule on moto's bus feeds: one scim.security-event entry per completion SET, the
    // detail's jti and txn the SET's own, more than one PutEvents call's worth.
    use scim_aws::jobs::SetOutlet;
    use scim_service::events::set;
    use scim_service::oauth::keys::SigningKey;
    let moto = moto::start();
    let eb = eventbridge(&moto.endpoint);
    let sq = sqs(&moto.endpoint);
    let queue = bus_into_queue(&eb, &sq, "scim-async").await;
    let key = SigningKey::new(&"async-signing-key".repeat(4)).unwrap();
    let sets: Vec<String> = (0..12)
        .map(|i| {
            let txn = format!("2d80e537a3f64622b0347b641ebc8f44:{i}");
            key.sign(
                set::TYP,
                &json!({"iss": "https://scim.example/scim/v2", "aud": "urn:x", "iat": 1,
                        "jti": set::async_jti(TENANT, &txn), "txn": txn,
                        "sub_id": {"format": "scim", "uri": "/Users"},
                        "events": {set::ASYNC_RESPONSE: {"method": "POST", "status": "201"}}}),
            )
        })
        .collect();
    let bus = scim_aws::jobs::Bus {
        client: eb,
        bus: "scim-async".into(),
    };
    bus.put(&sets).await.expect("put");
    let mut got: Vec<(String, String, String)> = receive(&sq, &queue, 12)
        .await
        .iter()
        .map(|body| {
            let m: Value = serde_json::from_str(body).unwrap();
            assert_eq!(m["source"], EVENT_SOURCE);
            assert_eq!(m["detail-type"], set::DETAIL_TYPE);
            let token = m["detail"]["set"].as_str().unwrap().to_string();
            assert!(sets.contains(&token));
            (
                token,
                m["detail"]["jti"].as_str().unwrap().to_string(),
                m["detail"]["txn"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    got.sort();
    got.dedup();
    assert_eq!(got.len(), 12);
    for (token, jti, txn) in got {
        let jws = scim_service::oauth::jwt::Jws::parse(&token).unwrap();
        assert_eq!(jws.claim_str("jti"), Some(jti.as_str()));
        assert_eq!(jws.claim_str("txn"), Some(txn.as_str()));
        assert_eq!(jti, set::async_jti(TENANT, &txn));
    }
}
