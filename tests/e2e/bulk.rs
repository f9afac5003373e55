//! `POST /Bulk` (RFC 7644 §3.7): the RFC's examples, `bulkId` graphs, `failOnErrors`, the
//! limits, and that each operation costs what its single request costs and leaves the same
//! audit record.

use crate::budgets::cost;
use crate::harness::{Server, TENANT};
use serde_json::{json, Value};

const BULK: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
const BULK_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:BulkResponse";
const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const PATCH: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

fn bulk(ops: Value) -> Value {
    json!({"schemas": [BULK], "Operations": ops})
}

/// The response's operations, checked to be a BulkResponse.
fn results(r: &crate::harness::Resp) -> Vec<Value> {
    r.expect(200);
    assert_eq!(r.body["schemas"], json!([BULK_RESPONSE]), "{}", r.text);
    r.body["Operations"].as_array().cloned().unwrap_or_default()
}

fn statuses(ops: &[Value]) -> Vec<&str> {
    ops.iter()
        .map(|o| o["status"].as_str().unwrap_or("?"))
        .collect()
}

fn id_in(location: &Value) -> String {
    location
        .as_str()
        .and_then(|l| l.rsplit('/').next())
        .unwrap_or_default()
        .to_string()
}

async fn total(s: &Server, endpoint: &str) -> u64 {
    s.get(&format!("/{endpoint}?count=0")).await.body["totalResults"]
        .as_u64()
        .unwrap_or(u64::MAX)
}

#[tokio::test]
async fn rfc_7644_bulk_id_example_creates_the_users_before_the_group_that_names_them() {
    // After RFC 7644 §3.7.2's example (a group and the users it names, in one request), with
    // the group first: it references two users that the following operations create.
    let s = Server::start().await;
    let request = json!({
      "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
      "Operations": [
        {
          "method": "POST",
          "path": "/Groups",
          "bulkId": "tourguides",
          "data": {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": "Tour Guides",
            "members": [
              {
                "type": "User",
                "value": "bulkId:qwerty"
              },
              {
                "type": "User",
                "value": "bulkId:ytrewq"
              }
            ]
          }
        },
        {
          "method": "POST",
          "path": "/Users",
          "bulkId": "qwerty",
          "data": {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "Alice"
          }
        },
        {
          "method": "POST",
          "path": "/Users",
          "bulkId": "ytrewq",
          "data": {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "Bob"
          }
        }
      ]
    });
    let r = s.post("/Bulk", &request).await;
    let ops = results(&r);
    assert_eq!(statuses(&ops), vec!["201", "201", "201"], "{}", r.text);
    // Request order and each bulkId echoed, with where each resource is and its version.
    let bulk_ids: Vec<&str> = ops.iter().map(|o| o["bulkId"].as_str().unwrap()).collect();
    assert_eq!(bulk_ids, vec!["tourguides", "qwerty", "ytrewq"]);
    for o in &ops {
        assert_eq!(o["method"], "POST");
        assert!(o["version"].as_str().unwrap().starts_with("W/\""), "{o}");
        assert!(o.get("response").is_none(), "{o}");
    }
    let group = id_in(&ops[0]["location"]);
    let (alice, bob) = (id_in(&ops[1]["location"]), id_in(&ops[2]["location"]));
    assert!(ops[0]["location"]
        .as_str()
        .unwrap()
        .ends_with(&format!("/Groups/{group}")));
    let mut members = s.member_ids(&group).await;
    members.sort();
    let mut expected = vec![alice.clone(), bob.clone()];
    expected.sort();
    assert_eq!(members, expected);
    let g = s.get(&format!("/Groups/{group}")).await;
    g.expect(200);
    assert_eq!(g.body["displayName"], "Tour Guides");
    // Each operation left its own audit record, carrying the bulk request's id.
    let request_id = r.header("x-request-id").unwrap().to_string();
    for id in [&alice, &bob] {
        let trail = s.store.audit_trail(TENANT, id).await.unwrap();
        assert_eq!(trail.len(), 1, "{trail:?}");
        assert_eq!(trail[0]["req"], request_id.as_str());
    }
}

#[tokio::test]
async fn rfc_7644_circular_reference_example_is_refused_with_409_and_writes_nothing() {
    // RFC 7644 §3.7.1's case: two groups that are each other's member.
    let s = Server::start().await;
    let r = s
        .post(
            "/Bulk",
            &json!({
              "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
              "Operations": [
                {
                  "method": "POST",
                  "path": "/Groups",
                  "bulkId": "qwerty",
                  "data": {
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                    "displayName": "Group A",
                    "members": [
                      {
                        "type": "Group",
                        "value": "bulkId:ytrewq"
                      }
                    ]
                  }
                },
                {
                  "method": "POST",
                  "path": "/Groups",
                  "bulkId": "ytrewq",
                  "data": {
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                    "displayName": "Group B",
                    "members": [
                      {
                        "type": "Group",
                        "value": "bulkId:qwerty"
                      }
                    ]
                  }
                }
              ]
            }),
        )
        .await;
    let ops = results(&r);
    assert_eq!(statuses(&ops), vec!["409", "409"], "{}", r.text);
    for o in &ops {
        assert_eq!(o["response"]["status"], "409");
        assert!(o.get("location").is_none(), "{o}");
    }
    assert_eq!(total(&s, "Groups").await, 0);
}

/// Three users as RFC 7644 §3.7.3's example expects them to exist (Bob to replace, one to
/// patch with a nickName, one to delete); their ids and versions.
async fn rfc_3_7_3_fixture(s: &Server) -> [(String, String); 3] {
    let mut out = Vec::new();
    for body in [
        json!({"schemas": [USER], "userName": "Bob"}),
        json!({"schemas": [USER], "userName": "Carol", "nickName": "Caz"}),
        json!({"schemas": [USER], "userName": "Erin"}),
    ] {
        let r = s.post("/Users", &body).await;
        r.expect(201);
        out.push((r.id(), r.header("etag").unwrap().to_string()));
    }
    [out[0].clone(), out[1].clone(), out[2].clone()]
}

/// The request of RFC 7644 §3.7.3's example (a POST, a PUT, a PATCH and a DELETE, with
/// `failOnErrors: 1`), with the ids and versions of `fixture` in place of the RFC's and
/// its PATCH `data` written as a PatchOp.
fn rfc_3_7_3_request(fixture: &[(String, String); 3]) -> Value {
    let [(bob, bob_v), (dave, dave_v), (gone, gone_v)] = fixture;
    json!({
      "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
      "failOnErrors": 1,
      "Operations": [
        {
          "method": "POST",
          "path": "/Users",
          "bulkId": "qwerty",
          "data": {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "Alice"
          }
        },
        {
          "method": "PUT",
          "path": format!("/Users/{bob}"),
          "version": bob_v,
          "data": {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "id": bob,
            "userName": "Bob"
          }
        },
        {
          "method": "PATCH",
          "path": format!("/Users/{dave}"),
          "version": dave_v,
          "data": {
            "schemas": [PATCH],
            "Operations": [
              {
                "op": "remove",
                "path": "nickName"
              },
              {
                "op": "replace",
                "path": "userName",
                "value": "Dave"
              }
            ]
          }
        },
        {
          "method": "DELETE",
          "path": format!("/Users/{gone}"),
          "version": gone_v
        }
      ]
    })
}

#[tokio::test]
async fn rfc_7644_bulk_example_runs_each_method_and_answers_each_status() {
    let s = Server::start().await;
    let fixture = rfc_3_7_3_fixture(&s).await;
    let r = s.post("/Bulk", &rfc_3_7_3_request(&fixture)).await;
    let ops = results(&r);
    assert_eq!(
        statuses(&ops),
        vec!["201", "200", "200", "204"],
        "{}",
        r.text
    );
    let methods: Vec<&str> = ops.iter().map(|o| o["method"].as_str().unwrap()).collect();
    assert_eq!(methods, vec!["POST", "PUT", "PATCH", "DELETE"]);
    let [(bob, bob_v), (dave, _), (gone, _)] = &fixture;
    assert!(ops[1]["location"]
        .as_str()
        .unwrap()
        .ends_with(&format!("/Users/{bob}")));
    // The PUT changed nothing (Bob stays Bob), so his version stands; the PATCH made a
    // new one; a DELETE has none.
    assert_eq!(ops[1]["version"], json!(bob_v));
    assert!(
        ops[2]["version"]
            .as_str()
            .is_some_and(|v| v.starts_with("W/")),
        "{}",
        ops[2]
    );
    assert!(ops[3].get("version").is_none(), "{}", ops[3]);
    let d = s.get(&format!("/Users/{dave}")).await;
    d.expect(200);
    assert_eq!(d.body["userName"], "Dave");
    assert!(d.body.get("nickName").is_none(), "{}", d.text);
    s.get(&format!("/Users/{gone}")).await.expect(404);
    assert_eq!(
        s.users_where("userName eq \"Alice\"").await.body["totalResults"],
        1
    );
}

#[tokio::test]
async fn rfc_7644_fail_on_errors_stops_at_the_first_error_and_keeps_what_ran() {
    // RFC 7644 §3.7.3: "an error occurred when attempting to create the User 'Alice'. The
    // service provider stops processing the bulk operation and immediately returns a
    // response to the client."
    let s = Server::start().await;
    let fixture = rfc_3_7_3_fixture(&s).await;
    s.post("/Users", &json!({"schemas": [USER], "userName": "Alice"}))
        .await
        .expect(201);
    let r = s.post("/Bulk", &rfc_3_7_3_request(&fixture)).await;
    let ops = results(&r);
    assert_eq!(statuses(&ops), vec!["409"], "{}", r.text);
    assert_eq!(ops[0]["bulkId"], "qwerty");
    assert_eq!(ops[0]["response"]["scimType"], "uniqueness");
    // Nothing after it ran: Carol kept her name, Erin is still there.
    let [_, (dave, dave_v), (gone, _)] = &fixture;
    let d = s.get(&format!("/Users/{dave}")).await;
    assert_eq!(d.body["userName"], "Carol");
    assert_eq!(d.header("etag"), Some(dave_v.as_str()));
    s.get(&format!("/Users/{gone}")).await.expect(200);
}

#[tokio::test]
async fn fail_on_errors_counts_errors_in_the_middle_and_without_it_every_operation_runs() {
    let s = Server::start().await;
    let taken = s.user("taken").await;
    let ops = json!([
        {"method": "POST", "path": "/Users", "bulkId": "a", "data": {"schemas": [USER], "userName": "a1"}},
        {"method": "POST", "path": "/Users", "bulkId": "b", "data": {"schemas": [USER], "userName": "taken"}},
        {"method": "PATCH", "path": "/Users/no-such-user", "data": {"schemas": [PATCH], "Operations": [{"op": "replace", "path": "active", "value": false}]}},
        {"method": "DELETE", "path": format!("/Users/{taken}"), "version": "W/\"not-the-version\""},
        {"method": "POST", "path": "/Users", "bulkId": "e", "data": {"schemas": [USER], "userName": "e1"}},
    ]);
    let mut request = bulk(ops.clone());
    request["failOnErrors"] = json!(2);
    let r = s.post("/Bulk", &request).await;
    let got = results(&r);
    // The second error (the PATCH's 404) stops the run: the last two never ran.
    assert_eq!(statuses(&got), vec!["201", "409", "404"], "{}", r.text);
    assert_eq!(got[2]["response"]["status"], "404");
    assert!(got[2]["location"]
        .as_str()
        .unwrap()
        .ends_with("/Users/no-such-user"));
    s.get(&format!("/Users/{taken}")).await.expect(200);
    assert_eq!(
        s.users_where("userName eq \"e1\"").await.body["totalResults"],
        0
    );

    // Without failOnErrors every operation runs and reports its own outcome.
    let mut again = ops;
    again[0]["data"]["userName"] = json!("a2");
    let r = s.post("/Bulk", &bulk(again)).await;
    let got = results(&r);
    assert_eq!(
        statuses(&got),
        vec!["201", "409", "404", "412", "201"],
        "{}",
        r.text
    );
    assert_eq!(
        s.users_where("userName eq \"e1\"").await.body["totalResults"],
        1
    );
}

#[tokio::test]
async fn an_operation_that_references_a_failed_create_fails_and_unknown_references_are_invalid() {
    let s = Server::start().await;
    s.user("dup").await;
    let r = s
        .post(
            "/Bulk",
            &bulk(json!([
                {"method": "POST", "path": "/Users", "bulkId": "u", "data": {"schemas": [USER], "userName": "dup"}},
                {"method": "POST", "path": "/Groups", "bulkId": "g", "data": {"schemas": [GROUP], "displayName": "G", "members": [{"value": "bulkId:u"}]}},
                {"method": "POST", "path": "/Groups", "bulkId": "h", "data": {"schemas": [GROUP], "displayName": "H", "members": [{"value": "bulkId:nobody"}]}},
                {"method": "POST", "path": "/Users", "bulkId": "v", "data": {"schemas": [USER], "userName": "fine"}},
                {"method": "PATCH", "path": "/Users/bulkId:v", "data": {"schemas": [PATCH], "Operations": [{"op": "replace", "path": "displayName", "value": "Fine"}]}},
            ])),
        )
        .await;
    let ops = results(&r);
    assert_eq!(
        statuses(&ops),
        vec!["409", "409", "400", "201", "200"],
        "{}",
        r.text
    );
    assert_eq!(ops[2]["response"]["scimType"], "invalidValue");
    assert_eq!(total(&s, "Groups").await, 0);
    let v = id_in(&ops[3]["location"]);
    assert!(ops[4]["location"]
        .as_str()
        .unwrap()
        .ends_with(&format!("/Users/{v}")));
    assert_eq!(
        s.get(&format!("/Users/{v}")).await.body["displayName"],
        "Fine"
    );
}

#[tokio::test]
async fn one_bulk_id_on_two_operations_refuses_the_whole_request() {
    let s = Server::start().await;
    let r = s
        .post(
            "/Bulk",
            &bulk(json!([
                {"method": "POST", "path": "/Users", "bulkId": "same", "data": {"schemas": [USER], "userName": "one"}},
                {"method": "POST", "path": "/Users", "bulkId": "same", "data": {"schemas": [USER], "userName": "two"}},
            ])),
        )
        .await;
    r.expect(400);
    assert_eq!(r.scim_type(), "invalidValue");
    assert_eq!(total(&s, "Users").await, 0);
}

#[tokio::test]
async fn malformed_operations_are_refused_one_by_one() {
    let s = Server::start().await;
    let r = s
        .post(
            "/Bulk",
            &bulk(json!([
                {"method": "GET", "path": "/Users"},
                {"method": "POST", "path": "/Users", "data": {"schemas": [USER], "userName": "no-bulk-id"}},
                {"method": "POST", "path": "/Schemas", "bulkId": "s", "data": {}},
                {"method": "POST", "path": "/Users/abc", "bulkId": "t", "data": {"schemas": [USER], "userName": "x"}},
                {"method": "PUT", "path": "/Users/abc"},
                {"method": "POST", "path": "/Users", "bulkId": "ok", "data": {"schemas": [USER], "userName": "ok"}},
            ])),
        )
        .await;
    let ops = results(&r);
    assert_eq!(
        statuses(&ops),
        vec!["400", "400", "400", "405", "400", "201"],
        "{}",
        r.text
    );
    for o in &ops[..5] {
        assert_eq!(
            o["response"]["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:Error",
            "{o}"
        );
    }
    assert_eq!(ops[0]["method"], "GET");
    assert_eq!(total(&s, "Users").await, 1);
}

#[tokio::test]
async fn the_limits_are_advertised_and_a_request_over_them_is_413_and_writes_nothing() {
    let s = Server::start().await;
    let spc = s.get("/ServiceProviderConfig").await;
    assert_eq!(spc.body["bulk"]["supported"], true);
    let max_ops = spc.body["bulk"]["maxOperations"].as_u64().unwrap() as usize;
    let max_payload = spc.body["bulk"]["maxPayloadSize"].as_u64().unwrap() as usize;
    assert_eq!(max_ops, scim_core::bulk::MAX_OPERATIONS);
    assert_eq!(max_payload, scim_core::bulk::MAX_PAYLOAD_BYTES);

    let create = |i: usize| {
        json!({"method": "POST", "path": "/Users", "bulkId": format!("u{i}"),
            "data": {"schemas": [USER], "userName": format!("user{i}")}})
    };
    let r = s
        .post(
            "/Bulk",
            &bulk(Value::Array((0..=max_ops).map(create).collect())),
        )
        .await;
    r.expect(413);
    assert_eq!(r.scim_type(), "tooMany");
    // One operation whose data pads the body past maxPayloadSize.
    let mut big = create(0);
    big["data"]["title"] = json!("x".repeat(max_payload));
    let r = s.post("/Bulk", &bulk(json!([big]))).await;
    r.expect(413);
    assert_eq!(r.scim_type(), "tooLarge");
    assert_eq!(total(&s, "Users").await, 0);
    // At the limit, every operation runs.
    let r = s
        .post(
            "/Bulk",
            &bulk(Value::Array((0..max_ops).map(create).collect())),
        )
        .await;
    assert!(statuses(&results(&r)).iter().all(|s| *s == "201"));
    assert_eq!(total(&s, "Users").await, max_ops as u64);
    // Not a BulkRequest at all.
    let r = s.post("/Bulk", &json!({"Operations": []})).await;
    r.expect(400);
    assert_eq!(r.scim_type(), "invalidSyntax");
    s.get("/Bulk").await.expect(405);
}

#[tokio::test]
async fn each_operation_costs_what_its_single_request_costs() {
    let s = Server::start().await;
    s.user("warm-up").await;
    let single = cost(&s, || async {
        s.post("/Users", &json!({"schemas": [USER], "userName": "single"}))
            .await
            .expect(201);
    })
    .await;
    let in_bulk = cost(&s, || async {
        let ops: Vec<Value> = (0..3)
            .map(|i| {
                json!({"method": "POST", "path": "/Users", "bulkId": format!("b{i}"),
                "data": {"schemas": [USER], "userName": format!("bulk{i}")}})
            })
            .collect();
        let r = s.post("/Bulk", &bulk(Value::Array(ops))).await;
        assert_eq!(statuses(&results(&r)), vec!["201"; 3]);
    })
    .await;
    assert!(single.total() > 0);
    assert_eq!(
        in_bulk.total(),
        3 * single.total(),
        "{single:?} {in_bulk:?}"
    );
}

/// RFC 7644 §3.7.3's bulk request as published, byte for byte as python-scim's
/// scim2-models keeps it (`samples/rfc7644-3.7.3-bulk_request-multiple_operations.json`),
/// including its versions' stray `\/`.
const RFC_7644_3_7_3_REQUEST: &str = r#"{
    "schemas": [
        "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
    ],
    "failOnErrors": 1,
    "Operations": [
        {
            "method": "POST",
            "path": "/Users",
            "bulkId": "qwerty",
            "data": {
                "schemas": [
                    "urn:ietf:params:scim:schemas:core:2.0:User"
                ],
                "userName": "Alice"
            }
        },
        {
            "method": "PUT",
            "path": "/Users/b7c14771-226c-4d05-8860-134711653041",
            "version": "W\\/\"3694e05e9dff591\"",
            "data": {
                "schemas": [
                    "urn:ietf:params:scim:schemas:core:2.0:User"
                ],
                "id": "b7c14771-226c-4d05-8860-134711653041",
                "userName": "Bob"
            }
        },
        {
            "method": "PATCH",
            "path": "/Users/5d8d29d3-342c-4b5f-8683-a3cb6763ffcc",
            "version": "W/\"edac3253e2c0ef2\"",
            "data": {
                "schemas": [
                    "urn:ietf:params:scim:api:messages:2.0:PatchOp"
                ],
                "Operations": [
                    {
                        "op": "remove",
                        "path": "nickName"
                    },
                    {
                        "op": "add",
                        "path": "userName",
                        "value": "Dave"
                    }
                ]
            }
        },
        {
            "method": "DELETE",
            "path": "/Users/e9025315-6bea-44e1-899c-1e07454e468b",
            "version": "W\\/\"0ee8add0a938e1a\""
        }
    ]
}
"#;

#[tokio::test]
async fn rfc_7644_bulk_request_verbatim_stops_at_a_version_this_server_never_issued() {
    // The RFC's users exist here under the RFC's ids (put through the store port: this
    // service assigns its own ids over SCIM); their versions are this server's, not the
    // RFC's. So the POST creates Alice, the PUT's If-Match names a version Bob never had
    // (412), and failOnErrors 1 stops the request there: the PATCH and DELETE never run.
    use scim_service::port::{Audit, Store, Stored};
    let s = Server::start().await;
    let at = time::OffsetDateTime::now_utc();
    for (id, doc) in [
        (
            "b7c14771-226c-4d05-8860-134711653041",
            json!({"userName": "Bob"}),
        ),
        (
            "5d8d29d3-342c-4b5f-8683-a3cb6763ffcc",
            json!({"userName": "Carol", "nickName": "Caz"}),
        ),
        (
            "e9025315-6bea-44e1-899c-1e07454e468b",
            json!({"userName": "Erin"}),
        ),
    ] {
        let stored = Stored {
            id: id.into(),
            doc: doc.as_object().cloned().unwrap(),
            meta: scim_core::resource::Meta {
                created: "2026-12-06T10:00:00Z".into(),
                last_modified: "2026-12-06T10:00:00Z".into(),
                version: 1,
            },
            password_hash: None,
        };
        let audit = Audit {
            event: "user.created".into(),
            token_id: "t0".into(),
            request_id: format!("seed-{id}"),
            changed: vec!["userName".into()],
            at,
        };
        s.store
            .create(
                TENANT,
                scim_core::schema::ResourceKind::User,
                &stored,
                &[],
                &audit,
            )
            .await
            .expect("seed");
        s.get(&format!("/Users/{id}")).await.expect(200);
    }
    let r = s
        .raw(
            reqwest::Method::POST,
            "/Bulk",
            &[
                ("Authorization", &format!("Bearer {}", s.token)),
                ("Content-Type", "application/scim+json"),
            ],
            RFC_7644_3_7_3_REQUEST.as_bytes().to_vec(),
        )
        .await;
    let ops = results(&r);
    assert_eq!(statuses(&ops), vec!["201", "412"], "{}", r.text);
    assert_eq!(ops[0]["bulkId"], "qwerty");
    assert_eq!(ops[1]["method"], "PUT");
    assert_eq!(
        ops[1]["location"],
        json!(s.url("/Users/b7c14771-226c-4d05-8860-134711653041"))
    );
    assert_eq!(ops[1]["response"]["status"], "412");
    let carol = s.get("/Users/5d8d29d3-342c-4b5f-8683-a3cb6763ffcc").await;
    assert_eq!(carol.body["userName"], "Carol");
    s.get("/Users/e9025315-6bea-44e1-899c-1e07454e468b")
        .await
        .expect(200);
    assert_eq!(
        s.users_where("userName eq \"Alice\"").await.body["totalResults"],
        1
    );
}
