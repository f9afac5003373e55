//! Okta, request by request as Okta documents it:
//! - "SCIM 2.0 protocol reference" (developer.okta.com/docs/reference/scim/scim-20/): the
//!   user-exists check with `filter=userName%20eq%20"..."&startIndex=1&count=100`, Create
//!   User (with `password`), Retrieve Users (`startIndex`/`count=100` paging, integer
//!   counts), Retrieve a specific User, Update (PUT with the whole resource), deactivate
//!   (`{"op":"replace","value":{"active":false}}`), Group Push (POST, path-less replace of
//!   `{"id","displayName"}`, member remove by filter + add without `type`, full replace,
//!   DELETE), and the 409 for an existing user;
//! - "Build a SCIM provisioning integration" (developer.okta.com/docs/guides/
//!   scim-provisioning-integration-prepare/ and -test/) and its Runscope SPEC test: Test API
//!   Credentials (`GET /Users?startIndex=1&count=2`, then a `userName eq` filter), the
//!   "Username Case Sensitivity Check", "Expect failure when recreating user with same
//!   values".

use crate::harness::{ids, q20, Server};
use futures::stream::{self, StreamExt};
use scim_core::schema::{
    GROUP_SCHEMA_URN as GROUP, LIST_RESPONSE_URN as LIST, PATCH_OP_URN as PATCH_OP,
    USER_SCHEMA_URN as USER,
};
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// The reference's "Create the User" body. `externalId` is the Okta user id, one per user.
fn create_body(user_name: &str) -> Value {
    json!({
        "schemas": [USER],
        "userName": user_name,
        "name": {"givenName": "Test", "familyName": "User"},
        "emails": [{"primary": true, "value": user_name.to_lowercase(), "type": "work"}],
        "displayName": "Test User",
        "locale": "en-US",
        "externalId": format!("00u-{}", user_name.to_lowercase()),
        "groups": [],
        "password": "1mz050nq",
        "active": true
    })
}

fn deactivate(active: bool) -> Value {
    json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "value": {"active": active}}]})
}

/// Okta's user-exists check, encoded as in the reference.
async fn find_by_user_name(s: &Server, user_name: &str) -> Value {
    let r = s
        .get(&format!(
            "/Users?filter={}&startIndex=1&count=100",
            q20(&format!("userName eq \"{user_name}\""))
        ))
        .await;
    r.expect(200);
    r.body
}

fn assert_integer_counts(body: &Value) {
    for k in ["totalResults", "itemsPerPage", "startIndex"] {
        assert!(body[k].is_u64(), "{k} must be an integer: {body}");
    }
    assert_eq!(body["schemas"], json!([LIST]));
}

#[tokio::test]
async fn test_api_credentials_answers_a_two_user_page_then_the_user_name_filter() {
    let s = Server::start().await;
    // A brand-new tenant first.
    let r = s.get("/Users?startIndex=1&count=2").await;
    r.expect(200);
    assert_integer_counts(&r.body);
    assert_eq!(
        (
            &r.body["totalResults"],
            &r.body["itemsPerPage"],
            &r.body["startIndex"]
        ),
        (&json!(0), &json!(0), &json!(1))
    );

    for i in 0..3 {
        s.user_from(&create_body(&format!("user{i}@okta.local")))
            .await;
    }
    // The SPEC test's own variant as well (`count=1&startIndex=1`).
    for (query, n) in [("startIndex=1&count=2", 2), ("count=1&startIndex=1", 1)] {
        let r = s.get(&format!("/Users?{query}")).await;
        r.expect(200);
        assert_integer_counts(&r.body);
        assert_eq!(r.body["totalResults"], 3, "{query}");
        assert_eq!(r.body["itemsPerPage"], n, "{query}");
        assert_eq!(r.body["startIndex"], 1, "{query}");
        let first = &r.body["Resources"][0];
        for k in ["id", "userName", "active"] {
            assert!(!first[k].is_null(), "{k}: {first}");
        }
        assert_eq!(first["name"]["givenName"], "Test");
        assert!(first["emails"][0]["value"].is_string());
    }

    let miss = find_by_user_name(&s, "test.user@okta.local").await;
    assert_integer_counts(&miss);
    assert_eq!(miss["totalResults"], 0);
    assert_eq!(miss["Resources"], json!([]));
    let hit = find_by_user_name(&s, "user1@okta.local").await;
    assert_eq!(hit["totalResults"], 1);
    assert_eq!(hit["Resources"][0]["userName"], "user1@okta.local");

    // The groups cache read when "To App" is saved.
    let r = s.get("/Groups?startIndex=1&count=100").await;
    r.expect(200);
    assert_integer_counts(&r.body);
}

#[tokio::test]
async fn create_with_a_password_echoes_the_user_name_case_and_never_returns_the_password() {
    let s = Server::start().await;
    let user_name = "Test.User@Okta.Local";
    assert_eq!(find_by_user_name(&s, user_name).await["totalResults"], 0);
    let mut body = create_body(user_name);
    body["externalId"] = json!("00ujl29u0le5T6Aj10h7");
    let r = s.post("/Users", &body).await;
    r.expect(201);
    let id = r.id();
    assert_eq!(r.body["userName"], user_name);
    assert_eq!(r.body["externalId"], "00ujl29u0le5T6Aj10h7");
    assert_eq!(r.body["displayName"], "Test User");
    assert_eq!(r.body["locale"], "en-US");
    assert_eq!(r.body["active"], true);
    assert_eq!(r.body["name"]["familyName"], "User");
    assert!(r.body.get("password").is_none(), "{}", r.text);
    assert!(!r.text.contains("1mz050nq"));

    for path in [
        format!("/Users/{id}"),
        format!("/Users/{id}?attributes=password"),
        "/Users?startIndex=1&count=100".to_string(),
        "/Users?attributes=password,userName".to_string(),
    ] {
        let r = s.get(&path).await;
        r.expect(200);
        assert!(!r.text.contains("1mz050nq"), "{path}: {}", r.text);
        assert!(!r.text.contains("\"password\""), "{path}: {}", r.text);
    }
    // Found in any case, echoed in the original one.
    let found = find_by_user_name(&s, "test.user@okta.local").await;
    assert_eq!(found["totalResults"], 1);
    assert_eq!(found["Resources"][0]["userName"], user_name);
    let found = find_by_user_name(&s, "TEST.USER@OKTA.LOCAL").await;
    assert_eq!(found["Resources"][0]["id"], id.as_str());
}

#[tokio::test]
async fn retrieve_a_specific_user_by_id() {
    let s = Server::start().await;
    let id = s.user_from(&create_body("test.user@okta.local")).await;
    let r = s.get(&format!("/Users/{id}")).await;
    r.expect(200);
    assert_eq!(r.body["id"], id.as_str());
    assert_eq!(r.body["userName"], "test.user@okta.local");
    assert_eq!(r.body["name"]["givenName"], "Test");
    assert_eq!(r.body["active"], true);
    assert_eq!(
        r.body["emails"],
        json!([{"primary": true, "value": "test.user@okta.local", "type": "work"}])
    );
    assert_eq!(r.body["meta"]["resourceType"], "User");
    // "Test invalid User by ID".
    let r = s.get("/Users/010101010101010101010101").await;
    r.expect(404);
    assert!(r.body["detail"].is_string());
}

#[tokio::test]
async fn put_with_the_whole_profile_updates_the_user() {
    let s = Server::start().await;
    let id = s.user_from(&create_body("test.user@okta.local")).await;
    let path = format!("/Users/{id}");
    // Okta first GETs the user, modifies the attributes that changed, and PUTs the body.
    let current = s.get(&path).await;
    current.expect(200);
    let mut body = current.body.clone();
    body["name"] = json!({"givenName": "Another", "middleName": "Excited", "familyName": "User"});
    body["emails"][0]["display"] = json!("test.user@okta.local");
    body["groups"] = json!([]);
    let r = s.put(&path, &body).await;
    r.expect(200);
    assert_eq!(r.body["id"], id.as_str());
    assert_eq!(
        r.body["name"],
        json!({"givenName": "Another", "middleName": "Excited", "familyName": "User"})
    );
    assert_eq!(r.body["active"], true);
    assert_eq!(r.body["userName"], "test.user@okta.local");
    assert_eq!(r.body["externalId"], "00u-test.user@okta.local");
    assert_eq!(r.body["displayName"], "Test User");
    assert_eq!(r.body["emails"][0]["display"], "test.user@okta.local");
    assert!(r.body.get("password").is_none());
    assert_eq!(r.header("etag"), Some("W/\"2\""));
    let got = s.get(&path).await;
    assert_eq!(got.body["name"]["middleName"], "Excited");
    assert_eq!(got.body["meta"]["version"], "W/\"2\"");

    // The reference's PUT body as printed (no externalId, displayName or locale) is
    // accepted too.
    let r = s
        .put(
            &path,
            &json!({
                "schemas": [USER],
                "id": id,
                "userName": "test.user@okta.local",
                "name": {"givenName": "Another", "middleName": "Excited", "familyName": "User"},
                "emails": [{"primary": true, "value": "test.user@okta.local", "type": "work",
                    "display": "test.user@okta.local"}],
                "active": true,
                "groups": [],
                "meta": {"resourceType": "User"}
            }),
        )
        .await;
    r.expect(200);
    assert_eq!(r.body["name"]["middleName"], "Excited");
    assert_eq!(r.body["active"], true);
}

#[tokio::test]
async fn deactivate_and_reactivate_with_a_pathless_replace() {
    let s = Server::start().await;
    let id = s.user_from(&create_body("test.user@okta.local")).await;
    let path = format!("/Users/{id}");
    let r = s.patch(&path, &deactivate(false)).await;
    r.expect(200);
    assert_eq!(r.body["active"], false);
    assert_eq!(r.body["userName"], "test.user@okta.local");
    assert_eq!(r.body["name"]["givenName"], "Test");
    assert_eq!(s.get(&path).await.body["active"], false);
    let found = find_by_user_name(&s, "test.user@okta.local").await;
    assert_eq!(found["Resources"][0]["active"], false);

    let r = s.patch(&path, &deactivate(true)).await;
    r.expect(200);
    assert_eq!(r.body["active"], true);
    assert_eq!(s.get(&path).await.body["active"], true);

    // AIW integrations deactivate with a PUT carrying `active: false`.
    let mut body = s.get(&path).await.body;
    body["active"] = json!(false);
    let r = s.put(&path, &body).await;
    r.expect(200);
    assert_eq!(r.body["active"], false);
    assert_eq!(r.body["name"]["givenName"], "Test");
}

#[tokio::test]
async fn renaming_user_name_with_put_moves_the_name_and_keeps_uniqueness() {
    let s = Server::start().await;
    let id = s.user_from(&create_body("old.name@okta.local")).await;
    let other = s.user_from(&create_body("other@okta.local")).await;
    let path = format!("/Users/{id}");
    let mut body = s.get(&path).await.body;
    body["userName"] = json!("New.Name@okta.local");
    let r = s.put(&path, &body).await;
    r.expect(200);
    assert_eq!(r.body["userName"], "New.Name@okta.local");

    assert_eq!(
        find_by_user_name(&s, "old.name@okta.local").await["totalResults"],
        0
    );
    let found = find_by_user_name(&s, "new.name@okta.local").await;
    assert_eq!(found["Resources"][0]["id"], id.as_str());
    assert_eq!(found["Resources"][0]["userName"], "New.Name@okta.local");

    // The new name is taken: another user cannot move onto it, in any case.
    let mut other_body = s.get(&format!("/Users/{other}")).await.body;
    other_body["userName"] = json!("NEW.NAME@OKTA.LOCAL");
    let r = s.put(&format!("/Users/{other}"), &other_body).await;
    r.expect(409);
    assert_eq!(r.scim_type(), "uniqueness");
    assert_eq!(
        s.get(&format!("/Users/{other}")).await.body["userName"],
        "other@okta.local"
    );
    // The old name is free again.
    let r = s
        .post(
            "/Users",
            &json!({"schemas": [USER], "userName": "old.name@okta.local"}),
        )
        .await;
    r.expect(201);
    // A case-only rename of oneself is not a conflict.
    body["userName"] = json!("new.name@okta.local");
    let r = s.put(&path, &body).await;
    r.expect(200);
    assert_eq!(r.body["userName"], "new.name@okta.local");
}

#[tokio::test]
async fn renaming_user_name_with_patch_moves_the_name_and_keeps_uniqueness() {
    let s = Server::start().await;
    let id = s.user_from(&create_body("before@okta.local")).await;
    s.user_from(&create_body("taken@okta.local")).await;
    let path = format!("/Users/{id}");

    let r = s
        .patch(
            &path,
            &json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "value": {"userName": "After@okta.local"}}]}),
        )
        .await;
    r.expect(200);
    assert_eq!(r.body["userName"], "After@okta.local");
    assert_eq!(
        find_by_user_name(&s, "before@okta.local").await["totalResults"],
        0
    );
    assert_eq!(
        find_by_user_name(&s, "after@okta.local").await["Resources"][0]["id"],
        id.as_str()
    );

    let r = s
        .patch(
            &path,
            &json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "userName", "value": "Taken@Okta.Local"}]}),
        )
        .await;
    r.expect(409);
    assert_eq!(r.scim_type(), "uniqueness");
    assert_eq!(s.get(&path).await.body["userName"], "After@okta.local");

    let r = s
        .patch(
            &path,
            &json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "userName", "value": "final@okta.local"}]}),
        )
        .await;
    r.expect(200);
    assert_eq!(
        find_by_user_name(&s, "after@okta.local").await["totalResults"],
        0
    );
    assert_eq!(
        find_by_user_name(&s, "final@okta.local").await["totalResults"],
        1
    );
    // The email can change too, and filters follow it.
    let r = s
        .patch(
            &path,
            &json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "emails[type eq \"work\"].value", "value": "final@okta.local"}]}),
        )
        .await;
    r.expect(200);
    let r = s
        .get(&format!(
            "/Users?filter={}",
            q20("emails.value eq \"final@okta.local\"")
        ))
        .await;
    assert_eq!(ids(&r), vec![id.clone()]);
    let r = s
        .get(&format!(
            "/Users?filter={}",
            q20("emails.value eq \"before@okta.local\"")
        ))
        .await;
    assert_eq!(r.body["totalResults"], 0);
}

#[tokio::test]
async fn import_pages_through_every_user_with_start_index_and_count() {
    let s = Server::start().await;
    const N: usize = 230;
    let created: Vec<String> = stream::iter(0..N)
        .map(|i| {
            let s = &s;
            async move {
                s.user_from(
                    &json!({"schemas": [USER], "userName": format!("import{i:03}@okta.local"),
                    "name": {"givenName": "Imp", "familyName": format!("{i}")}, "active": true}),
                )
                .await
            }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    let created: BTreeSet<String> = created.into_iter().collect();
    assert_eq!(created.len(), N);

    // Okta: count=100, startIndex += 100 until all are read.
    let mut order = Vec::new();
    let mut start = 1usize;
    loop {
        let r = s.get(&format!("/Users?startIndex={start}&count=100")).await;
        r.expect(200);
        assert_integer_counts(&r.body);
        assert_eq!(r.body["totalResults"], N, "page at {start}");
        assert_eq!(r.body["startIndex"], start, "page at {start}");
        let page = ids(&r);
        assert_eq!(r.body["itemsPerPage"], page.len(), "page at {start}");
        assert_eq!(page.len(), 100.min(N - (start - 1)), "page at {start}");
        order.extend(page);
        start += 100;
        if start > N {
            break;
        }
    }
    let seen: BTreeSet<String> = order.iter().cloned().collect();
    assert_eq!(order.len(), N, "overlap: {} distinct", seen.len());
    assert_eq!(seen, created, "pages skipped users");

    // Past the end: an empty page with the right total.
    let r = s
        .get(&format!("/Users?startIndex={}&count=100", N + 1))
        .await;
    r.expect(200);
    assert_integer_counts(&r.body);
    assert_eq!(r.body["totalResults"], N);
    assert_eq!(r.body["itemsPerPage"], 0);

    // The same ordering whatever the page size.
    let mut other = Vec::new();
    let mut start = 1usize;
    while start <= N {
        let r = s.get(&format!("/Users?startIndex={start}&count=37")).await;
        r.expect(200);
        other.extend(ids(&r));
        start += 37;
    }
    assert_eq!(other, order);
    let r = s.get("/Users?startIndex=150&count=3").await;
    assert_eq!(ids(&r), order[149..152].to_vec());
}

#[tokio::test]
async fn group_push_create_rename_members_and_delete() {
    let s = Server::start().await;
    let a = s.user_from(&create_body("a@okta.local")).await;
    let b = s.user_from(&create_body("b@okta.local")).await;
    let c = s.user_from(&create_body("c@okta.local")).await;

    // Create Groups.
    let r = s
        .post(
            "/Groups",
            &json!({"schemas": [GROUP], "displayName": "Test SCIMv2", "members": []}),
        )
        .await;
    r.expect(201);
    let g = r.id();
    assert_eq!(r.body["displayName"], "Test SCIMv2");
    assert_eq!(r.body["schemas"], json!([GROUP]));
    let path = format!("/Groups/{g}");

    // Update a specific Group name: path-less replace carrying id and displayName.
    let r = s
        .patch(
            &path,
            &json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace",
                "value": {"id": g, "displayName": "Test SCIMv20"}}]}),
        )
        .await;
    r.expect(204);
    let got = s.get(&path).await;
    got.expect(200);
    assert_eq!(got.body["displayName"], "Test SCIMv20");
    assert_eq!(got.body["id"], g.as_str());

    // Members added without `type`, with `display`.
    let r = s
        .patch(
            &path,
            &json!({"schemas": [PATCH_OP], "Operations": [{"op": "add", "path": "members",
                "value": [{"value": a, "display": "a@okta.local"}, {"value": b, "display": "b@okta.local"}]}]}),
        )
        .await;
    r.expect(204);
    let mut ab = vec![a.clone(), b.clone()];
    ab.sort();
    assert_eq!(s.member_ids(&g).await, ab);

    // Update specific Group membership: remove by filter and add, in one request.
    let r = s
        .patch(
            &path,
            &json!({"schemas": [PATCH_OP], "Operations": [
                {"op": "remove", "path": format!("members[value eq \"{a}\"]")},
                {"op": "add", "path": "members", "value": [{"value": c, "display": "c@okta.local"}]}
            ]}),
        )
        .await;
    r.expect(204);
    let mut bc = vec![b.clone(), c.clone()];
    bc.sort();
    assert_eq!(s.member_ids(&g).await, bc);
    let got = s.get(&path).await;
    let members = got.body["members"].as_array().unwrap();
    assert!(members.iter().all(|m| m["type"] == "User"), "{members:?}");

    // The group name update Okta sends with each membership update changes nothing else.
    s.patch(
        &path,
        &json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace",
            "value": {"id": g, "displayName": "Test SCIMv20"}}]}),
    )
    .await;
    assert_eq!(s.member_ids(&g).await, bc);

    // A full push of the membership with replace.
    let r = s
        .patch(
            &path,
            &json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "members",
                "value": [{"value": a, "display": "a@okta.local"}, {"value": c, "display": "c@okta.local"}]}]}),
        )
        .await;
    r.expect(204);
    let mut ac = vec![a.clone(), c.clone()];
    ac.sort();
    assert_eq!(s.member_ids(&g).await, ac);
    let r = s.get(&format!("/Users/{a}")).await;
    assert_eq!(r.body["groups"][0]["value"], g.as_str());

    // Import Groups sees it with its members.
    let r = s.get("/Groups?startIndex=1&count=100").await;
    r.expect(200);
    assert_eq!(r.body["totalResults"], 1);
    assert_eq!(
        r.body["Resources"][0]["members"].as_array().unwrap().len(),
        2
    );

    // Delete a specific Group.
    let r = s.delete(&path).await;
    r.expect(204);
    s.get(&path).await.expect(404);
    for u in [&a, &b, &c] {
        let r = s.get(&format!("/Users/{u}")).await;
        r.expect(200);
        assert!(r.body["groups"].as_array().is_none_or(|g| g.is_empty()));
    }
    assert_eq!(s.get("/Groups").await.body["totalResults"], 0);
}

#[tokio::test]
async fn recreating_an_existing_user_name_is_409_with_scim_type_uniqueness() {
    let s = Server::start().await;
    let body = json!({"schemas": [USER], "userName": "Dupe.User@okta.local",
        "name": {"givenName": "Dupe", "familyName": "User"},
        "emails": [{"primary": true, "value": "dupe.user@okta.local", "type": "work"}],
        "displayName": "Dupe User", "active": true});
    s.post("/Users", &body).await.expect(201);
    for name in [
        "Dupe.User@okta.local",
        "dupe.user@okta.local",
        "DUPE.USER@OKTA.LOCAL",
    ] {
        let mut b = body.clone();
        b["userName"] = json!(name);
        let r = s.post("/Users", &b).await;
        r.expect(409);
        assert_eq!(r.scim_type(), "uniqueness", "{name}");
        assert!(r.body["detail"].is_string());
    }
    // "Username Case Sensitivity Check": the filter finds it whatever the case.
    let r = find_by_user_name(&s, "DUPE.USER@OKTA.LOCAL").await;
    assert_eq!(r["totalResults"], 1);
    assert_eq!(s.get("/Users").await.body["totalResults"], 1);
}
