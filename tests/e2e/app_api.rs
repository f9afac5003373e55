//! The application API (`/app/v1`) over HTTP, as the product's backend calls it: the
//! Workteam settings dialog (tokens, the Enabled switch), WorkZone's sign-in and "close a
//! contact", Workspace 365's groups and members, the activity log, every error as an
//! RFC 9457 problem, and the OpenAPI document checked against the implementation.

use crate::harness::{Resp, Server, TENANT};
use reqwest::Method;
use scim_aws::expiry::{self, ExpiryConfig};
use scim_core::schema::CONTACT_USER_URN as CONTACT;
use scim_test_support::fixtures::scheduled_event;
use serde_json::{json, Value};

const ENTRA_UA: &str = "Azure AD SCIM client";

#[track_caller]
fn problem(r: &Resp, status: u16) {
    assert_eq!(r.status.as_u16(), status, "{}", r.text);
    assert_eq!(
        r.header("content-type"),
        Some("application/problem+json"),
        "{}",
        r.text
    );
    assert_eq!(r.body["status"], status, "{}", r.text);
    assert!(
        r.body["title"].is_string() && r.body["detail"].is_string(),
        "{}",
        r.text
    );
}

async fn scim_with(s: &Server, token: &str, path: &str) -> Resp {
    s.raw(
        Method::GET,
        path,
        &[
            ("Authorization", &format!("Bearer {token}")),
            ("User-Agent", ENTRA_UA),
        ],
        Vec::new(),
    )
    .await
}

/// Entra's Test Connection: a filter on a random userName.
async fn test_connection(s: &Server, token: &str) -> Resp {
    scim_with(
        s,
        token,
        "/Users?filter=userName+eq+%227a3c1f0e-9b2d-4e5f-8a6b-1c2d3e4f5a6b%22",
    )
    .await
}

async fn guest(s: &Server, oid: &str, email: &str) -> String {
    s.user_from(&json!({
        "userName": format!("{}#EXT#@contoso.onmicrosoft.com", email.replace('@', "_")),
        "externalId": oid,
        "displayName": "Guest Partner",
        "emails": [{"value": email, "type": "work", "primary": true}],
        "active": true,
    }))
    .await
}

#[tokio::test]
async fn the_workteam_story_generate_a_token_test_connection_disable_and_enable() {
    let s = Server::start().await;
    let settings = s.app(Method::GET, "/settings", None).await;
    settings.expect(200);
    assert_eq!(settings.body["tenantUrl"], s.base.as_str());
    assert_eq!(settings.body["provisioningEnabled"], true);
    assert_eq!(settings.body["tokens"].as_array().map(Vec::len), Some(1));
    assert_eq!(settings.body["tokens"][0]["stage"], "current");
    assert_eq!(settings.body["lastCall"], Value::Null);

    // Generate Bearer Token: shown once; the replaced one keeps working as previous.
    let made = s.app(Method::POST, "/tokens", None).await;
    made.expect(201);
    assert_eq!(made.header("cache-control"), Some("no-store"));
    let new = made.body["token"].as_str().unwrap().to_string();
    assert_eq!(new.len(), 43);
    assert_eq!(made.body["id"], scim_service::auth::token_id(&new).as_str());
    test_connection(&s, &new).await.expect(200);
    test_connection(&s, &s.token).await.expect(200);

    let settings = s.app(Method::GET, "/settings", None).await;
    let tokens = settings.body["tokens"].as_array().unwrap().clone();
    assert_eq!(tokens.len(), 2, "{tokens:?}");
    assert_eq!(tokens[0]["id"], made.body["id"]);
    assert_eq!(tokens[0]["stage"], "current");
    assert_eq!(tokens[1]["stage"], "previous");
    assert!(tokens[0]["lastUsed"].is_string(), "{tokens:?}");
    assert_eq!(settings.body["lastCall"]["client"], "entra");
    assert!(
        !settings.text.contains(&new) && !settings.text.contains(&s.token),
        "settings never show a token"
    );

    // Enabled off: Test Connection fails with the reason; on again: it passes.
    let off = s
        .app(
            Method::PATCH,
            "/settings",
            Some(&json!({"provisioningEnabled": false})),
        )
        .await;
    off.expect(200);
    assert_eq!(off.body["provisioningEnabled"], false);
    let refused = test_connection(&s, &new).await;
    refused.expect(403);
    assert!(
        refused.body["detail"]
            .as_str()
            .unwrap()
            .contains("Provisioning is disabled"),
        "{}",
        refused.text
    );
    s.app(
        Method::PATCH,
        "/settings",
        Some(&json!({"provisioningEnabled": true})),
    )
    .await
    .expect(200);
    test_connection(&s, &new).await.expect(200);

    // Retire the previous token: refused at once; nothing left to retire.
    let retired = s.app(Method::DELETE, "/tokens/previous", None).await;
    assert_eq!(retired.status.as_u16(), 204, "{}", retired.text);
    test_connection(&s, &s.token).await.expect(401);
    test_connection(&s, &new).await.expect(200);
    problem(&s.app(Method::DELETE, "/tokens/previous", None).await, 404);
}

#[tokio::test]
async fn settings_refuse_bad_input_and_change_nothing() {
    let s = Server::start().await;
    for (body, status) in [
        (json!({"provisioningEnabled": "no"}), 422),
        (json!({"provisioningEnabled": false, "tenantUrl": "x"}), 400),
        (json!({}), 400),
        (json!([true]), 400),
    ] {
        problem(
            &s.app(Method::PATCH, "/settings", Some(&body)).await,
            status,
        );
    }
    let not_json = s
        .client
        .patch(format!("{}/settings", s.app_base()))
        .header("Authorization", format!("Bearer {}", s.app_key))
        .header("Content-Type", "text/plain")
        .body("provisioningEnabled=false")
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status().as_u16(), 415);
    let after = s.app(Method::GET, "/settings", None).await;
    assert_eq!(after.body["provisioningEnabled"], true);
    test_connection(&s, &s.token).await.expect(200);
}

#[tokio::test]
async fn the_workzone_story_sign_in_by_object_id_close_the_contact_and_come_back() {
    let s = Server::start().await;
    let oid = "5e4f0c1a-8b2d-4c3e-9f10-2a3b4c5d6e7f";
    let id = guest(&s, oid, "lena@partner.example").await;
    let group = s.group("Security Code 7").await;
    s.patch(
        &format!("/Groups/{group}"),
        &json!({"Operations": [{"op": "Add", "path": "members", "value": [{"value": id}]}]}),
    )
    .await
    .expect(204);

    let before = s.calls();
    let found = s
        .app(Method::GET, &format!("/signin?oid={oid}"), None)
        .await;
    let cost = s.calls().since(&before);
    found.expect(200);
    assert_eq!(
        (
            cost.query,
            cost.query_index,
            cost.batch_get_item,
            cost.total()
        ),
        (2, 1, 1, 3),
        "sign-in by oid: guard lookup, reverse index, one batched read: {cost:?}"
    );
    assert_eq!(found.body["id"], id.as_str());
    assert_eq!(found.body["matchedBy"], "oid");
    assert_eq!(found.body["status"], "active");
    assert_eq!(found.body["externalId"], oid);
    assert_eq!(
        found.body["groups"],
        json!([{"id": group, "displayName": "Security Code 7"}])
    );

    // WorkZone closes the contact with an end date in the past.
    let closed = s
        .app(
            Method::PUT,
            &format!("/users/{id}/end-date"),
            Some(&json!({"endDate": "2026-01-31T17:00:00Z"})),
        )
        .await;
    closed.expect(200);
    assert_eq!(closed.body["status"], "expired");
    assert_eq!(closed.body["endDate"], "2026-01-31T17:00:00Z");
    let scim = s.get(&format!("/Users/{id}")).await;
    scim.expect(200);
    assert_eq!(scim.body["active"], false);
    assert_eq!(scim.body[CONTACT]["endDate"], "2026-01-31T17:00:00Z");
    let signin = s
        .app(Method::GET, &format!("/signin?oid={oid}"), None)
        .await;
    assert_eq!(signin.body["status"], "expired");

    // The expiry job then writes the user.expired event's audit record.
    let event = expiry::scheduled_event(scheduled_event("2026-12-03T08:00:00Z", "run-1")).unwrap();
    let report = expiry::handle(
        &s.store,
        &ExpiryConfig::new(TENANT, Some("deactivate")).unwrap(),
        &event,
        None,
    )
    .await
    .unwrap();
    assert_eq!(report.deactivated, 1, "{report:?}");
    let activity = s
        .app(Method::GET, &format!("/activity?resourceId={id}"), None)
        .await;
    activity.expect(200);
    let events: Vec<&str> = activity.body["activity"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["event"].as_str().unwrap())
        .collect();
    assert_eq!(events.first(), Some(&"user.expired"), "{events:?}");
    assert!(events.contains(&"user.updated"), "{events:?}");
    let by_app = activity.body["activity"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["event"] == "user.updated" && a["actor"] == "app")
        .expect("the product's end date, actor app");
    assert_eq!(
        by_app["changedAttributes"],
        json!([format!("{CONTACT}:endDate")])
    );

    // Removed in Entra, invited again later: a new object id, the same email.
    s.delete(&format!("/Users/{id}")).await.expect(204);
    problem(
        &s.app(Method::GET, &format!("/signin?oid={oid}"), None)
            .await,
        404,
    );
    let oid2 = "6f5a1d2b-9c3e-4d4f-8a21-3b4c5d6e7f80";
    let back = guest(&s, oid2, "Lena@Partner.example").await;
    assert_eq!(back, id, "recognised by email: the same record");
    let again = s
        .app(
            Method::GET,
            &format!("/signin?oid={oid2}&email=lena%40partner.example"),
            None,
        )
        .await;
    again.expect(200);
    assert_eq!(again.body["id"], id.as_str());
    assert_eq!(again.body["status"], "active");
    assert_eq!(
        again.body["groups"][0]["id"],
        group.as_str(),
        "memberships came back"
    );
}

#[tokio::test]
async fn sign_in_falls_back_from_oid_to_upn_to_email_and_refuses_bad_queries() {
    let s = Server::start().await;
    let member = s
        .user_from(&json!({"userName": "Ann@Contoso.com",
            "emails": [{"value": "ann.private@example.org", "primary": true}]}))
        .await;
    let by_upn = s
        .app(
            Method::GET,
            "/signin?oid=00000000-0000-0000-0000-000000000000&upn=ann%40contoso.com",
            None,
        )
        .await;
    by_upn.expect(200);
    assert_eq!(by_upn.body["id"], member.as_str());
    assert_eq!(by_upn.body["matchedBy"], "upn");
    let by_email = s
        .app(Method::GET, "/signin?email=ANN.PRIVATE%40example.org", None)
        .await;
    assert_eq!(by_email.body["matchedBy"], "email");
    assert_eq!(by_email.body["id"], member.as_str());
    problem(&s.app(Method::GET, "/signin", None).await, 400);
    problem(&s.app(Method::GET, "/signin?oid=", None).await, 400);
    problem(&s.app(Method::GET, "/signin?oid=a&oid=b", None).await, 400);
    let long = "x".repeat(5000);
    problem(
        &s.app(Method::GET, &format!("/signin?upn={long}"), None)
            .await,
        400,
    );
    problem(
        &s.app(Method::GET, "/signin?upn=nobody%40x.org", None).await,
        404,
    );
    let before = s.calls();
    let user = s.app(Method::GET, &format!("/users/{member}"), None).await;
    let cost = s.calls().since(&before);
    user.expect(200);
    assert_eq!(
        (cost.query_index, cost.batch_get_item, cost.total()),
        (1, 1, 2),
        "a user by id: reverse index, one batched read: {cost:?}"
    );
    assert_eq!(user.body["userName"], "Ann@Contoso.com");
    assert_eq!(user.body["groups"], json!([]));
    problem(&s.app(Method::GET, "/users/no-such-id", None).await, 404);
    problem(
        &s.app(Method::GET, &format!("/users/{}", "y".repeat(3000)), None)
            .await,
        404,
    );
}

#[tokio::test]
async fn members_are_paged_by_cursor_whole_and_without_overlap() {
    let s = Server::start().await;
    let group = s.group("Workspace Editors").await;
    let mut users = Vec::new();
    for i in 0..5 {
        users.push(s.user(&format!("editor{i}@contoso.com")).await);
    }
    let value: Vec<Value> = users.iter().map(|u| json!({"value": u})).collect();
    s.patch(
        &format!("/Groups/{group}"),
        &json!({"Operations": [{"op": "add", "path": "members", "value": value}]}),
    )
    .await
    .expect(204);
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("/groups/{group}/members?limit=2&cursor={c}"),
            None => format!("/groups/{group}/members?limit=2"),
        };
        let before = s.calls();
        let page = s.app(Method::GET, &path, None).await;
        let cost = s.calls().since(&before);
        page.expect(200);
        assert_eq!(
            (cost.get_item, cost.query, cost.batch_get_item, cost.total()),
            (1, 1, 1, 3),
            "a page: the group, the page, its users: {cost:?}"
        );
        pages += 1;
        for m in page.body["members"].as_array().unwrap() {
            assert_eq!(m["type"], "User");
            assert_eq!(m["status"], "active");
            assert!(m["userName"].as_str().unwrap().starts_with("editor"));
            seen.push(m["id"].as_str().unwrap().to_string());
        }
        match page.body["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
        assert!(pages < 10, "paging ends");
    }
    users.sort();
    assert_eq!(seen, users, "every member once, in order");
    assert_eq!(pages, 3);

    let other = s.group("Other").await;
    let c = cursor_of(&s, &group).await;
    problem(
        &s.app(
            Method::GET,
            &format!("/groups/{other}/members?cursor={c}"),
            None,
        )
        .await,
        400,
    );
    problem(
        &s.app(
            Method::GET,
            &format!("/groups/{group}/members?limit=0"),
            None,
        )
        .await,
        400,
    );
    problem(&s.app(Method::GET, "/groups/nope/members", None).await, 404);
    let groups = s.app(Method::GET, "/groups?limit=1", None).await;
    groups.expect(200);
    assert_eq!(groups.body["groups"].as_array().map(Vec::len), Some(1));
    let next = groups.body["nextCursor"].as_str().expect("a second page");
    let second = s
        .app(Method::GET, &format!("/groups?limit=1&cursor={next}"), None)
        .await;
    second.expect(200);
    let names: Vec<&str> = [&groups, &second]
        .iter()
        .map(|r| r.body["groups"][0]["displayName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Workspace Editors", "Other"]);
}

async fn cursor_of(s: &Server, group: &str) -> String {
    let page = s
        .app(
            Method::GET,
            &format!("/groups/{group}/members?limit=1"),
            None,
        )
        .await;
    page.body["nextCursor"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn end_dates_refuse_bad_input_and_change_nothing() {
    let s = Server::start().await;
    let id = s.user("contact@partner.example").await;
    let path = format!("/users/{id}/end-date");
    let trail = || async { s.store.audit_trail(TENANT, &id).await.unwrap().len() };
    let before = trail().await;
    for (body, status) in [
        (json!({"endDate": "next friday"}), 422),
        (json!({"endDate": 20261231}), 422),
        (json!({"endDate": "2026-12-31T17:00:00Z", "x": 1}), 400),
        (json!({}), 400),
    ] {
        problem(&s.app(Method::PUT, &path, Some(&body)).await, status);
    }
    problem(
        &s.app(
            Method::PUT,
            "/users/no-such-user/end-date",
            Some(&json!({"endDate": "2026-12-31T17:00:00Z"})),
        )
        .await,
        404,
    );
    assert_eq!(trail().await, before, "nothing was written");
    let set = s
        .app(
            Method::PUT,
            &path,
            Some(&json!({"endDate": "2099-12-31T17:00:00Z"})),
        )
        .await;
    set.expect(200);
    assert_eq!(set.body["status"], "active");
    let cleared = s.app(Method::DELETE, &path, None).await;
    cleared.expect(200);
    assert_eq!(cleared.body["endDate"], Value::Null);
    assert_eq!(trail().await, before + 2);
}

#[tokio::test]
async fn the_activity_log_is_newest_first_and_pages() {
    let s = Server::start().await;
    let a = s.user("first@contoso.com").await;
    let g = s.group("Sales").await;
    s.patch(
        &format!("/Users/{a}"),
        &json!({"Operations": [{"op": "replace", "path": "active", "value": false}]}),
    )
    .await
    .expect(200);
    let before = s.calls();
    let all = s.app(Method::GET, "/activity", None).await;
    let cost = s.calls().since(&before);
    all.expect(200);
    assert_eq!(
        (cost.query_index, cost.total()),
        (1, 1),
        "one index query: {cost:?}"
    );
    let events: Vec<(&str, &str)> = all.body["activity"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["event"].as_str().unwrap(),
                e["resourceId"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        events,
        [
            ("user.deactivated", a.as_str()),
            ("group.created", g.as_str()),
            ("user.created", a.as_str())
        ]
    );
    let token = scim_service::auth::token_id(&s.token);
    assert_eq!(all.body["activity"][0]["actor"], token.as_str());
    assert_eq!(
        all.body["activity"][0]["changedAttributes"],
        json!(["active"])
    );
    let first = s.app(Method::GET, "/activity?limit=2", None).await;
    let c = first.body["nextCursor"].as_str().expect("more").to_string();
    let rest = s
        .app(Method::GET, &format!("/activity?limit=2&cursor={c}"), None)
        .await;
    rest.expect(200);
    assert_eq!(rest.body["activity"][0]["event"], "user.created");
    problem(
        &s.app(
            Method::GET,
            &format!("/activity?resourceId={a}&cursor={c}"),
            None,
        )
        .await,
        400,
    );
}

#[tokio::test]
async fn each_credential_opens_only_its_own_routes() {
    let s = Server::start().await;
    let anon = s
        .client
        .get(format!("{}/settings", s.app_base()))
        .send()
        .await
        .unwrap();
    assert_eq!(anon.status().as_u16(), 401);
    let scim_token_on_app = s
        .client
        .get(format!("{}/settings", s.app_base()))
        .header("Authorization", format!("Bearer {}", s.token))
        .send()
        .await
        .unwrap();
    assert_eq!(scim_token_on_app.status().as_u16(), 401);
    scim_with(&s, &s.app_key, "/Users").await.expect(401);
    problem(&s.app(Method::GET, "/nowhere", None).await, 404);
    let wrong = s.app(Method::POST, "/settings", None).await;
    problem(&wrong, 405);
    assert_eq!(wrong.header("allow"), Some("GET, PATCH"));
}

/// Every path and method the OpenAPI document names is answered by a route (not 404
/// "no such route", not 405), and every field a documented success response requires is
/// present in what the implementation answers.
#[tokio::test]
async fn the_openapi_document_matches_the_implementation() {
    let s = Server::start().await;
    let user = s.user("doc@contoso.com").await;
    let group = s.group("Doc").await;
    s.patch(
        &format!("/Groups/{group}"),
        &json!({"Operations": [{"op": "add", "path": "members", "value": [{"value": user}]}]}),
    )
    .await
    .expect(204);
    let doc = s.app(Method::GET, "/openapi.json", None).await;
    doc.expect(200);
    assert_eq!(doc.body["openapi"], "3.1.0");
    let doc = doc.body;
    let schemas = doc["components"]["schemas"].clone();
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let concrete = path.replace(
                "{id}",
                if path.starts_with("/groups") {
                    &group
                } else {
                    &user
                },
            );
            // Revoking needs a client: make one first.
            let concrete = if path == "/clients/{clientId}" {
                let made = s.app(Method::POST, "/clients", Some(&json!({}))).await;
                made.expect(201);
                path.replace("{clientId}", made.body["clientId"].as_str().unwrap())
            } else {
                concrete
            };
            let (concrete, body) = match (method.as_str(), path.as_str()) {
                ("get", "/signin") => (format!("{concrete}?upn=doc%40contoso.com"), None),
                ("post", "/clients") => (concrete, Some(json!({"name": "Entra"}))),
                ("put", "/entitlements") => (
                    concrete,
                    Some(json!({"entitlements": [{"id": "e1", "displayName": "E1"}]})),
                ),
                ("put", "/roles") => (concrete, Some(json!({"roles": []}))),
                ("put", _) => (concrete, Some(json!({"endDate": "2099-01-01T00:00:00Z"}))),
                ("patch", _) => (concrete, Some(json!({"provisioningEnabled": true}))),
                _ => (concrete, None),
            };
            let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            // Retiring needs a previous token: make one first.
            if path == "/tokens/previous" {
                s.app(Method::POST, "/tokens", None).await.expect(201);
            }
            let r = s.app(m, &concrete, body.as_ref()).await;
            let documented: Vec<&String> = op["responses"].as_object().unwrap().keys().collect();
            assert!(
                documented.contains(&&r.status.as_u16().to_string()),
                "{method} {path}: {} is not documented ({documented:?}): {}",
                r.status,
                r.text
            );
            assert!(r.status.is_success(), "{method} {path}: {}", r.text);
            let code = r.status.as_u16().to_string();
            if let Some(schema) =
                op["responses"][&code]["content"]["application/json"].get("schema")
            {
                required_fields_present(schema, &schemas, &r.body, &format!("{method} {path}"));
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 20, "every operation of the document was called");
}

fn resolve<'a>(schema: &'a Value, schemas: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(r) => &schemas[r.trim_start_matches("#/components/schemas/")],
        None => schema,
    }
}

fn required_fields_present(schema: &Value, schemas: &Value, value: &Value, at: &str) {
    let schema = resolve(schema, schemas);
    if let Some(all) = schema["allOf"].as_array() {
        for s in all {
            required_fields_present(s, schemas, value, at);
        }
        return;
    }
    if let Some(req) = schema["required"].as_array() {
        let obj = value
            .as_object()
            .unwrap_or_else(|| panic!("{at}: not an object: {value}"));
        for f in req {
            let f = f.as_str().unwrap();
            assert!(obj.contains_key(f), "{at}: '{f}' missing in {value}");
            if let Some(prop) = schema["properties"].get(f) {
                required_fields_present(prop, schemas, &obj[f], &format!("{at}.{f}"));
            }
        }
    }
    if let (Some(items), Some(list)) = (schema.get("items"), value.as_array()) {
        for v in list {
            required_fields_present(items, schemas, v, &format!("{at}[]"));
        }
    }
}

#[tokio::test]
async fn contacts_whose_end_date_is_near_come_from_the_expiry_index_earliest_first() {
    let s = Server::start().await;
    let soon = time::OffsetDateTime::now_utc() + time::Duration::days(3);
    let later = time::OffsetDateTime::now_utc() + time::Duration::days(20);
    let far = time::OffsetDateTime::now_utc() + time::Duration::days(200);
    let at = |t: time::OffsetDateTime| scim_core::resource::format_datetime(t);
    let mut ids = Vec::new();
    for (name, end) in [("later", later), ("soon", soon), ("far", far)] {
        ids.push(
            s.user_from(&json!({"userName": format!("{name}@partner.example"),
                CONTACT: {"endDate": at(end)}}))
                .await,
        );
    }
    s.user("permanent@contoso.com").await;
    let before = s.calls();
    let near = s.app(Method::GET, "/contacts/expiring", None).await;
    let cost = s.calls().since(&before);
    near.expect(200);
    assert_eq!(
        (cost.query_index, cost.batch_get_item, cost.total()),
        (1, 1, 2),
        "{cost:?}"
    );
    let names: Vec<&str> = near.body["contacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["userName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["soon@partner.example", "later@partner.example"]);
    let wide = s
        .app(Method::GET, "/contacts/expiring?days=366", None)
        .await;
    assert_eq!(wide.body["contacts"].as_array().map(Vec::len), Some(3));
    let first = s
        .app(Method::GET, "/contacts/expiring?days=366&limit=1", None)
        .await;
    let c = first.body["nextCursor"].as_str().expect("more").to_string();
    let second = s
        .app(
            Method::GET,
            &format!("/contacts/expiring?days=366&limit=1&cursor={c}"),
            None,
        )
        .await;
    assert_eq!(
        second.body["contacts"][0]["userName"],
        "later@partner.example"
    );
    problem(
        &s.app(Method::GET, "/contacts/expiring?days=0", None).await,
        400,
    );
    problem(
        &s.app(Method::GET, "/contacts/expiring?cursor=garbage", None)
            .await,
        400,
    );
    // Deactivated contacts leave the index.
    s.patch(
        &format!("/Users/{}", ids[1]),
        &json!({"Operations": [{"op": "replace", "path": "active", "value": false}]}),
    )
    .await
    .expect(200);
    let after = s.app(Method::GET, "/contacts/expiring", None).await;
    assert_eq!(
        after.body["contacts"][0]["userName"],
        "later@partner.example"
    );
}
