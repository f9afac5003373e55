//! One test per item of "Recurring failures in other servers" in
//! `shared/design/clients.md`: what other SCIM servers most often get wrong with Entra ID and
//! Okta, checked here over HTTP.

use crate::harness::{ids, q, q20, Server};
use futures::future::join_all;
use futures::stream::{self, StreamExt};
use reqwest::Method;
use scim_aws::Calls;
use scim_core::schema::{ENTERPRISE_USER_URN as ENTERPRISE, USER_SCHEMA_URN as USER};
use scim_test_support::fixtures::patch_op;
use serde_json::json;
use std::collections::BTreeSet;

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

async fn users(s: &Server, prefix: &str, n: usize) -> Vec<String> {
    stream::iter(0..n)
        .map(|i| {
            let name = format!("{prefix}{i:04}@contoso.com");
            async move { s.user(&name).await }
        })
        .buffered(8)
        .collect()
        .await
}

async fn add_members(s: &Server, group: &str, members: &[String]) {
    for chunk in members.chunks(500) {
        let value: Vec<_> = chunk.iter().map(|u| json!({"value": u})).collect();
        s.patch(
            &format!("/Groups/{group}"),
            &patch_op(json!([{"op": "Add", "path": "members", "value": value}])),
        )
        .await
        .expect(204);
    }
}

// 1 ---------------------------------------------------------------------------------------

#[tokio::test]
async fn a_remove_with_a_value_array_removes_only_those_members() {
    let s = Server::start().await;
    let u = users(&s, "member", 6).await;
    let g = s.group("Engineering").await;
    add_members(&s, &g, &u).await;
    let path = format!("/Groups/{g}");

    // Entra without the aadOptscim062020 flag: one member in a value array.
    s.patch(
        &path,
        &patch_op(json!([{"op": "Remove", "path": "members", "value": [{"value": u[0]}]}])),
    )
    .await
    .expect(204);
    assert_eq!(s.member_ids(&g).await, sorted(u[1..].to_vec()));

    // Two at once, with `$ref`, lower-case op.
    s.patch(
        &path,
        &patch_op(json!([{"op": "remove", "path": "members", "value": [
            {"$ref": null, "value": u[1]}, {"$ref": format!("{}/Users/{}", s.base, u[2]), "value": u[2]}]}])),
    )
    .await
    .expect(204);
    assert_eq!(s.member_ids(&g).await, sorted(u[3..].to_vec()));

    // An id that is not a member (the doc's "u1091") next to one that is.
    s.patch(
        &path,
        &patch_op(json!([{"op": "Remove", "path": "members", "value": [{"value": "u1091"}, {"value": u[3]}]}])),
    )
    .await
    .expect(204);
    assert_eq!(s.member_ids(&g).await, sorted(u[4..].to_vec()));

    // Only a non-member: nothing changes.
    s.patch(
        &path,
        &patch_op(json!([{"op": "Remove", "path": "members", "value": [{"value": "u1091"}]}])),
    )
    .await
    .expect(204);
    assert_eq!(s.member_ids(&g).await, sorted(u[4..].to_vec()));
}

// 2 ---------------------------------------------------------------------------------------

#[tokio::test]
async fn capitalised_ops_and_string_booleans_are_accepted_and_deactivation_is_not_ignored() {
    let s = Server::start().await;
    let id = s.user("capital@contoso.com").await;
    let path = format!("/Users/{id}");
    for (op, value, expected) in [
        ("Replace", json!("False"), false),
        ("REPLACE", json!("True"), true),
        ("Add", json!("false"), false),
        ("replace", json!("TRUE"), true),
        ("Replace", json!(false), false),
    ] {
        let r = s
            .patch(
                &path,
                &patch_op(json!([{"op": op, "path": "active", "value": value}])),
            )
            .await;
        r.expect(200);
        assert_eq!(r.body["active"], expected, "{op} {value}");
        let got = s.get(&path).await;
        assert_eq!(got.body["active"], expected, "{op} {value}: not stored");
        let listed = s.users_where("userName eq \"capital@contoso.com\"").await;
        assert_eq!(listed.body["Resources"][0]["active"], expected);
    }
    // A string boolean in a path-less value and on create as well.
    let r = s
        .patch(
            &path,
            &patch_op(json!([{"op": "Replace", "value": {"active": "True"}}])),
        )
        .await;
    r.expect(200);
    assert_eq!(r.body["active"], true);
    let r = s
        .post(
            "/Users",
            &json!({"userName": "created.inactive@contoso.com", "active": "False"}),
        )
        .await;
    r.expect(201);
    assert_eq!(r.body["active"], false);
    // "Remove" is capitalised too.
    s.patch(
        &path,
        &patch_op(json!([{"op": "Add", "path": "nickName", "value": "Cap"}])),
    )
    .await
    .expect(200);
    let r = s
        .patch(
            &path,
            &patch_op(json!([{"op": "Remove", "path": "nickName"}])),
        )
        .await;
    r.expect(200);
    assert!(r.body.get("nickName").is_none());
}

// 3 ---------------------------------------------------------------------------------------

#[tokio::test]
async fn dotted_keys_in_pathless_ops_set_sub_attributes_not_literal_keys() {
    let s = Server::start().await;
    let id = s
        .user_from(&json!({"userName": "dotted@contoso.com", "name": {"givenName": "Old", "familyName": "Name"}}))
        .await;
    let r = s
        .patch(
            &format!("/Users/{id}"),
            &patch_op(json!([
                {"op": "Replace", "value": {"name.givenName": "Ann", "NAME.familyName": "Lee"}},
                {"op": "Add", "value": {
                    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department": "Finance",
                    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:costCenter": "42",
                    "name.middleName": "Q"
                }}
            ])),
        )
        .await;
    r.expect(200);
    let b = &r.body;
    assert_eq!(
        b["name"],
        json!({"givenName": "Ann", "familyName": "Lee", "middleName": "Q"})
    );
    assert_eq!(b[ENTERPRISE]["department"], "Finance");
    assert_eq!(b[ENTERPRISE]["costCenter"], "42");
    for literal in [
        "name.givenName",
        "NAME.familyName",
        "name.familyName",
        "name.middleName",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:costCenter",
    ] {
        assert!(
            b.get(literal).is_none(),
            "literal key {literal} stored: {b}"
        );
        assert!(b[ENTERPRISE].get(literal).is_none(), "{literal}: {b}");
    }
    // Stored that way, so filters see it.
    let r = s.users_where("name.givenName eq \"Ann\"").await;
    assert_eq!(ids(&r), vec![id.clone()]);
    let r = s
        .users_where(
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq \"Finance\"",
        )
        .await;
    assert_eq!(ids(&r), vec![id]);
}

// 4 ---------------------------------------------------------------------------------------

#[tokio::test]
async fn a_work_email_value_path_is_applied_and_the_deactivation_beside_it_lands() {
    let s = Server::start().await;
    let id = s.user("no.email@contoso.com").await;
    let path = format!("/Users/{id}");
    // No email yet: the work email is created, and the deactivation in the same PATCH lands.
    let r = s
        .patch(
            &path,
            &patch_op(json!([
                {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "no.email@contoso.com"},
                {"op": "Replace", "path": "active", "value": "False"}
            ])),
        )
        .await;
    r.expect(200);
    assert_eq!(
        r.body["emails"],
        json!([{"type": "work", "value": "no.email@contoso.com"}])
    );
    assert_eq!(r.body["active"], false);
    assert_eq!(s.get(&path).await.body["active"], false);

    // Entra sends `Add` for a changed work email (learn.microsoft.com Q&A 1684621): the
    // existing work email takes the new value; no second work email appears.
    let r = s
        .patch(
            &path,
            &patch_op(json!([
                {"op": "Replace", "path": "title", "value": "tester"},
                {"op": "Add", "path": "emails[type eq \"work\"].value", "value": "changed@contoso.com"}
            ])),
        )
        .await;
    r.expect(200);
    assert_eq!(
        r.body["emails"],
        json!([{"type": "work", "value": "changed@contoso.com"}])
    );
    assert_eq!(r.body["title"], "tester");
    // Filters follow the change.
    let r = s
        .users_where("emails[type eq \"work\"].value eq \"changed@contoso.com\"")
        .await;
    assert_eq!(ids(&r), vec![id.clone()]);
    let r = s
        .users_where("emails.value eq \"no.email@contoso.com\"")
        .await;
    assert_eq!(r.body["totalResults"], 0);
    // Other filtered paths Entra maps by default.
    let r = s
        .patch(
            &path,
            &patch_op(json!([
                {"op": "Add", "path": "phoneNumbers[type eq \"work\"].value", "value": "+1 555 0101"},
                {"op": "Add", "path": "emails[type eq \"other\"].value", "value": "alias@contoso.com"},
                {"op": "Replace", "path": "addresses[type eq \"other\"].formatted", "value": "Building 4"}
            ])),
        )
        .await;
    r.expect(200);
    assert_eq!(r.body["emails"].as_array().unwrap().len(), 2);
    assert_eq!(r.body["phoneNumbers"][0]["value"], "+1 555 0101");
    assert_eq!(r.body["addresses"][0]["formatted"], "Building 4");
}

// 5 ---------------------------------------------------------------------------------------

#[tokio::test]
async fn manager_as_a_bare_string_is_accepted_everywhere() {
    let s = Server::start().await;
    let boss = s.user("boss@contoso.com").await;
    let boss2 = s.user("boss2@contoso.com").await;
    // On create, as Entra's default mapping sends it.
    let r = s
        .post(
            "/Users",
            &json!({"schemas": [USER, ENTERPRISE], "userName": "report@contoso.com",
                ENTERPRISE: {"manager": boss, "department": "Sales"}}),
        )
        .await;
    r.expect(201);
    let id = r.id();
    assert_eq!(r.body[ENTERPRISE]["manager"]["value"], boss.as_str());
    let path = format!("/Users/{id}");
    // PATCH with the qualified path, in both separators Entra has used.
    for (p, who) in [
        (format!("{ENTERPRISE}:manager"), &boss2),
        (format!("{ENTERPRISE}.manager"), &boss),
    ] {
        let r = s
            .patch(
                &path,
                &patch_op(json!([{"op": "Replace", "path": p, "value": who}])),
            )
            .await;
        r.expect(200);
        assert_eq!(r.body[ENTERPRISE]["manager"]["value"], who.as_str(), "{p}");
    }
    // PUT with a string.
    let r = s
        .put(
            &path,
            &json!({"userName": "report@contoso.com", ENTERPRISE: {"manager": boss2}}),
        )
        .await;
    r.expect(200);
    assert_eq!(r.body[ENTERPRISE]["manager"]["value"], boss2.as_str());
    // Cleared with "" and with Remove.
    let r = s
        .patch(
            &path,
            &patch_op(
                json!([{"op": "Replace", "path": format!("{ENTERPRISE}:manager"), "value": ""}]),
            ),
        )
        .await;
    r.expect(200);
    assert!(r
        .body
        .get(ENTERPRISE)
        .is_none_or(|e| e.get("manager").is_none()));
    s.patch(
        &path,
        &patch_op(json!([{"op": "Add", "path": format!("{ENTERPRISE}:manager"), "value": boss}])),
    )
    .await
    .expect(200);
    let r = s
        .patch(
            &path,
            &patch_op(json!([{"op": "Remove", "path": format!("{ENTERPRISE}:manager")}])),
        )
        .await;
    r.expect(200);
    assert!(r
        .body
        .get(ENTERPRISE)
        .is_none_or(|e| e.get("manager").is_none()));
}

// 6 ---------------------------------------------------------------------------------------

#[tokio::test]
async fn user_name_case_variants_are_caught_and_answered_409_uniqueness() {
    let s = Server::start().await;
    s.user("Ann.Lee@Contoso.com").await;
    s.user("Åsa.Ölund@Contoso.com").await;
    let other = s.user("other@contoso.com").await;
    for name in [
        "ann.lee@contoso.com",
        "ANN.LEE@CONTOSO.COM",
        "Ann.Lee@Contoso.com",
        "åsa.ölund@contoso.com",
        "ÅSA.ÖLUND@CONTOSO.COM",
    ] {
        let r = s.post("/Users", &json!({"userName": name})).await;
        r.expect(409);
        assert_eq!(r.scim_type(), "uniqueness", "{name}");
    }
    // A rename onto a case variant, by PATCH and by PUT.
    let r = s
        .patch(
            &format!("/Users/{other}"),
            &patch_op(
                json!([{"op": "Replace", "path": "userName", "value": "ANN.lee@contoso.com"}]),
            ),
        )
        .await;
    r.expect(409);
    assert_eq!(r.scim_type(), "uniqueness");
    let r = s
        .put(
            &format!("/Users/{other}"),
            &json!({"userName": "åSA.ölund@contoso.COM"}),
        )
        .await;
    r.expect(409);
    assert_eq!(r.scim_type(), "uniqueness");
    assert_eq!(s.get("/Users").await.body["totalResults"], 3);
    assert_eq!(
        s.get(&format!("/Users/{other}")).await.body["userName"],
        "other@contoso.com"
    );
}

// 7 ---------------------------------------------------------------------------------------

#[tokio::test]
async fn re_provisioning_a_deactivated_user_gives_them_their_record_back() {
    // Restore on re-add. A POST for the userName of a deactivated user is that
    // person coming back, not a conflict with their own old record (which left them locked
    // out elsewhere): 201 with the same id, active again, and still one user.
    let s = Server::start().await;
    let id = s
        .user_from(&json!({"schemas": [USER], "userName": "leaver@contoso.com",
            "externalId": "b0b0b0b0-1111-2222-3333-444444444444", "active": true}))
        .await;
    s.patch(
        &format!("/Users/{id}"),
        &patch_op(json!([{"op": "Replace", "path": "active", "value": "False"}])),
    )
    .await
    .expect(200);
    let r = s
        .post(
            "/Users",
            &json!({"schemas": [USER], "userName": "Leaver@Contoso.com",
                "externalId": "b0b0b0b0-1111-2222-3333-444444444444", "active": true,
                "displayName": "Back Again"}),
        )
        .await;
    r.expect(201);
    assert_eq!(r.id(), id);
    assert_eq!(r.body["active"], true);
    assert_eq!(r.body["userName"], "Leaver@Contoso.com");
    assert_eq!(r.body["displayName"], "Back Again");
    let found = s.users_where("userName eq \"leaver@contoso.com\"").await;
    assert_eq!(ids(&found), vec![id.clone()]);
    assert_eq!(found.body["Resources"][0]["active"], true);
    assert_eq!(s.get("/Users").await.body["totalResults"], 1);
    // An active user's userName is still a conflict.
    let r = s
        .post(
            "/Users",
            &json!({"schemas": [USER], "userName": "leaver@contoso.com"}),
        )
        .await;
    r.expect(409);
    assert_eq!(r.scim_type(), "uniqueness");
}

#[tokio::test]
async fn re_provisioning_a_deleted_user_gives_them_their_record_back() {
    // Restore on re-add: a guest who is removed and later re-added gets their old record
    // back.
    let s = Server::start().await;
    let body = json!({"schemas": [USER], "userName": "returner@contoso.com",
        "externalId": "c0c0c0c0-1111-2222-3333-444444444444", "active": true,
        "emails": [{"type": "work", "value": "returner@contoso.com", "primary": true}]});
    let old = s.user_from(&body).await;
    s.delete(&format!("/Users/{old}")).await.expect(204);
    s.get(&format!("/Users/{old}")).await.expect(404);
    let r = s.post("/Users", &body).await;
    r.expect(201);
    assert_eq!(r.id(), old);
    assert_eq!(r.body["active"], true);
    let found = s.users_where("userName eq \"returner@contoso.com\"").await;
    assert_eq!(ids(&found), vec![old.clone()]);
    let found = s
        .users_where("externalId eq \"c0c0c0c0-1111-2222-3333-444444444444\"")
        .await;
    assert_eq!(ids(&found), vec![old.clone()]);
    s.get(&format!("/Users/{old}")).await.expect(200);
    assert_eq!(s.get("/Users").await.body["totalResults"], 1);
}

// 8 ---------------------------------------------------------------------------------------

#[tokio::test]
async fn list_paging_is_one_based_with_exact_integer_counts_and_no_overlap() {
    let s = Server::start().await;
    let all: BTreeSet<String> = users(&s, "pager", 23).await.into_iter().collect();
    for (query, start, items) in [
        ("startIndex=1&count=10", 1, 10),
        ("startIndex=0&count=10", 1, 10),
        ("startIndex=-3&count=10", 1, 10),
        ("startIndex=21&count=10", 21, 3),
        ("startIndex=24&count=10", 24, 0),
        ("startIndex=1&count=0", 1, 0),
        ("startIndex=1&count=-1", 1, 0),
        ("startIndex=1", 1, 23),
        ("count=5", 1, 5),
        ("startIndex=2&count=100000", 2, 22),
    ] {
        let r = s.get(&format!("/Users?{query}")).await;
        r.expect(200);
        for k in ["totalResults", "itemsPerPage", "startIndex"] {
            assert!(
                r.body[k].is_u64(),
                "{query}: {k} must be an integer: {}",
                r.text
            );
        }
        assert_eq!(r.body["totalResults"], 23, "{query}");
        assert_eq!(r.body["startIndex"], start, "{query}");
        assert_eq!(r.body["itemsPerPage"], items, "{query}");
        assert_eq!(ids(&r).len(), items, "{query}");
    }
    let r = s.get("/Users?startIndex=abc").await;
    r.expect(400);
    assert_eq!(r.scim_type(), "invalidValue");

    // Pages of 4 cover everything once.
    let mut seen = Vec::new();
    for start in (1..=23).step_by(4) {
        let r = s.get(&format!("/Users?startIndex={start}&count=4")).await;
        seen.extend(ids(&r));
    }
    assert_eq!(seen.len(), 23);
    assert_eq!(seen.iter().cloned().collect::<BTreeSet<_>>(), all);

    // With a filter too (one that no index answers).
    let mut seen = Vec::new();
    for start in (1..=23).step_by(5) {
        let r = s
            .get(&format!(
                "/Users?filter={}&startIndex={start}&count=5",
                q("userName sw \"pager\"")
            ))
            .await;
        r.expect(200);
        assert_eq!(r.body["totalResults"], 23);
        assert_eq!(r.body["startIndex"], start);
        seen.extend(ids(&r));
    }
    assert_eq!(seen.iter().cloned().collect::<BTreeSet<_>>(), all);
    assert_eq!(seen.len(), 23);
}

/// Every page of `GET /Users` with `count=10`, as an import reads them; and every
/// `totalResults` seen.
async fn read_all_pages(s: &Server) -> (Vec<String>, BTreeSet<u64>) {
    let mut out = Vec::new();
    let mut totals = BTreeSet::new();
    let mut start = 1;
    loop {
        let r = s.get(&format!("/Users?startIndex={start}&count=10")).await;
        r.expect(200);
        totals.insert(r.body["totalResults"].as_u64().unwrap());
        let page = ids(&r);
        let n = page.len();
        out.extend(page);
        if n < 10 {
            break;
        }
        start += 10;
    }
    (out, totals)
}

#[tokio::test]
async fn pages_read_again_after_a_delete_neither_overlap_nor_skip() {
    let s = Server::start().await;
    let created = users(&s, "again", 25).await;
    // A first import pass.
    let (first, _) = read_all_pages(&s).await;
    assert_eq!(first.len(), 25);
    // Then a user of the first page is deleted, and another import pass runs.
    s.delete(&format!("/Users/{}", created[2]))
        .await
        .expect(204);
    let (second, totals) = read_all_pages(&s).await;
    assert_eq!(totals, BTreeSet::from([24]));
    let distinct: BTreeSet<&String> = second.iter().collect();
    assert_eq!(
        second.len(),
        distinct.len(),
        "the second pass returned a user twice: {second:?}"
    );
    let expected: BTreeSet<&String> = created.iter().filter(|u| **u != created[2]).collect();
    assert_eq!(distinct, expected, "the second pass skipped users");
}

#[tokio::test]
async fn a_page_read_on_its_own_after_a_delete_starts_at_the_right_user() {
    // An import that retries one page, or reads pages out of order, after a user of an
    // earlier page was deleted: `startIndex=11` is the 11th user of the current list.
    let s = Server::start().await;
    users(&s, "retry", 25).await;
    let (first, _) = read_all_pages(&s).await;
    s.delete(&format!("/Users/{}", first[3])).await.expect(204);
    let page = s.get("/Users?startIndex=11&count=10").await;
    page.expect(200);
    let truth = s.get("/Users?startIndex=1&count=200").await;
    let truth = ids(&truth);
    assert_eq!(truth.len(), 24);
    assert_eq!(page.body["totalResults"], 24);
    assert_eq!(
        ids(&page),
        truth[10..20].to_vec(),
        "startIndex=11 does not start at the 11th user"
    );
}

// 9 ---------------------------------------------------------------------------------------

async fn cost<F, Fut>(s: &Server, f: F) -> Calls
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let before = s.calls();
    f().await;
    s.calls().since(&before)
}

/// What Entra's and Okta's routine group requests cost on one group.
async fn routine_group_costs(s: &Server, g: &str, member: &str, newcomer: &str) -> Vec<Calls> {
    let name = s
        .get(&format!("/Groups/{g}?excludedAttributes=members"))
        .await
        .body["displayName"]
        .as_str()
        .unwrap()
        .to_string();
    let mut out = Vec::new();
    out.push(
        cost(s, || async {
            s.get(&format!("/Groups/{g}?excludedAttributes=members"))
                .await
                .expect(200);
        })
        .await,
    );
    out.push(
        cost(s, || async {
            let r = s.groups_where(&format!("displayName eq \"{name}\"")).await;
            assert_eq!(r.body["totalResults"], 1);
            assert!(r.body["Resources"][0].get("members").is_none());
        })
        .await,
    );
    out.push(
        cost(s, || async {
            let r = s
                .groups_where(&format!("id eq \"{g}\" and members.value eq \"{member}\""))
                .await;
            assert_eq!(r.body["totalResults"], 1);
        })
        .await,
    );
    out.push(
        cost(s, || async {
            s.patch(
                &format!("/Groups/{g}"),
                &patch_op(
                    json!([{"op": "Add", "path": "members", "value": [{"value": newcomer}]}]),
                ),
            )
            .await
            .expect(204);
        })
        .await,
    );
    out.push(
        cost(s, || async {
            s.patch(
                &format!("/Groups/{g}"),
                &patch_op(
                    json!([{"op": "Remove", "path": format!("members[value eq \"{newcomer}\"]")}]),
                ),
            )
            .await
            .expect(204);
        })
        .await,
    );
    out.push(
        cost(s, || async {
            s.patch(
                &format!("/Groups/{g}"),
                &patch_op(
                    json!([{"op": "Remove", "path": "members", "value": [{"value": newcomer}]}]),
                ),
            )
            .await
            .expect(204);
        })
        .await,
    );
    out.push(
        cost(s, || async {
            s.patch(
                &format!("/Groups/{g}"),
                &patch_op(json!([{"op": "replace", "value": {"id": g, "displayName": format!("{name} renamed")}}])),
            )
            .await
            .expect(204);
        })
        .await,
    );
    out
}

#[tokio::test]
async fn a_large_group_is_never_loaded_whole_for_routine_requests() {
    let s = Server::start().await;
    const BIG: usize = 1200;
    let members = users(&s, "big", BIG).await;
    let newcomers = users(&s, "new", 2).await;
    let small = s.group("Small").await;
    let big = s.group("Big").await;
    add_members(&s, &small, &members[..1]).await;
    add_members(&s, &big, &members).await;

    let small_costs = routine_group_costs(&s, &small, &members[0], &newcomers[0]).await;
    let big_costs = routine_group_costs(&s, &big, &members[0], &newcomers[1]).await;
    assert_eq!(small_costs, big_costs, "costs depend on the group's size");
    for c in &big_costs {
        assert_eq!(c.scan, 0, "{c:?}");
        assert!(c.total() <= 3, "{c:?}");
    }
    // Reading the whole group still works at this size.
    let r = s.get(&format!("/Groups/{big}")).await;
    r.expect(200);
    assert_eq!(r.body["members"].as_array().map(Vec::len), Some(BIG));
}

// 10 --------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_member_adds_and_removes_lose_nothing() {
    let s = Server::start().await;
    let old = users(&s, "old", 16).await;
    let new = users(&s, "new", 16).await;
    let g = s.group("Busy Group").await;
    add_members(&s, &g, &old).await;
    let path = format!("/Groups/{g}");
    let mut bodies = Vec::new();
    // Eight removes, in Entra's two forms.
    for (i, u) in old[..8].iter().enumerate() {
        bodies.push(if i % 2 == 0 {
            patch_op(json!([{"op": "remove", "path": format!("members[value eq \"{u}\"]")}]))
        } else {
            patch_op(json!([{"op": "Remove", "path": "members", "value": [{"value": u}]}]))
        });
    }
    // Eight adds of two members each, Okta-style with the unchanged name replace in front.
    for pair in new.chunks(2) {
        bodies.push(patch_op(json!([
            {"op": "replace", "value": {"id": g, "displayName": "Busy Group"}},
            {"op": "add", "path": "members", "value": [{"value": pair[0]}, {"value": pair[1]}]}
        ])));
    }
    let results = join_all(bodies.iter().map(|b| s.patch(&path, b))).await;
    for r in &results {
        assert_eq!(r.status.as_u16(), 204, "{}", r.text);
    }
    let mut expected: Vec<String> = old[8..].iter().chain(new.iter()).cloned().collect();
    expected.sort();
    assert_eq!(s.member_ids(&g).await, expected);
}

// 11 --------------------------------------------------------------------------------------

#[tokio::test]
async fn filter_values_with_escaped_quotes_and_backslashes_match_exactly() {
    let s = Server::start().await;
    let quote = s.user("o\"brien@contoso.com").await;
    let backslash = s.user("CONTOSO\\ann").await;
    let both = s.user("a\\\"b").await;
    s.user("CONTOSOann").await;
    s.user("obrien@contoso.com").await;
    for (filter, expected) in [
        ("userName eq \"o\\\"brien@contoso.com\"", &quote),
        ("userName eq \"CONTOSO\\\\ann\"", &backslash),
        ("userName eq \"contoso\\\\ANN\"", &backslash),
        ("userName eq \"a\\\\\\\"b\"", &both),
    ] {
        let r = s.users_where(filter).await;
        assert_eq!(ids(&r), vec![expected.clone()], "{filter}");
    }
    let g = s.group("R&D \"Core\" \\ Team").await;
    let r = s
        .groups_where("displayName eq \"R&D \\\"Core\\\" \\\\ Team\"")
        .await;
    assert_eq!(ids(&r), vec![g]);
    // A filter that is not valid (an unescaped quote) is 400 invalidFilter, not 500.
    let r = s
        .get(&format!(
            "/Users?filter={}",
            q("userName eq \"o\"brien@contoso.com\"")
        ))
        .await;
    r.expect(400);
    assert_eq!(r.scim_type(), "invalidFilter");
}

#[tokio::test]
async fn non_ascii_filter_values_match_case_insensitively() {
    let s = Server::start().await;
    let zoe = s.user("Zoë.Ørsted@Contoso.com").await;
    let jp = s.user("山田太郎@contoso.jp").await;
    for (filter, expected) in [
        ("userName eq \"Zoë.Ørsted@Contoso.com\"", &zoe),
        ("userName eq \"zoë.ørsted@contoso.com\"", &zoe),
        ("userName eq \"ZOË.ØRSTED@CONTOSO.COM\"", &zoe),
        ("userName eq \"zo\\u00eb.\\u00f8rsted@contoso.com\"", &zoe),
        ("userName eq \"山田太郎@contoso.jp\"", &jp),
        ("userName eq \"山田太郎@CONTOSO.JP\"", &jp),
    ] {
        let r = s.users_where(filter).await;
        assert_eq!(ids(&r), vec![expected.clone()], "{filter}");
    }
    let r = s
        .users_where("userName eq \"zoe.orsted@contoso.com\"")
        .await;
    assert_eq!(r.body["totalResults"], 0);
    let g = s.group("Équipe Données").await;
    let r = s.groups_where("displayName eq \"ÉQUIPE DONNÉES\"").await;
    assert_eq!(ids(&r), vec![g]);
    // Okta's %20 encoding of the same filter.
    let r = s
        .get(&format!(
            "/Users?filter={}",
            q20("userName eq \"ZOË.ØRSTED@CONTOSO.COM\"")
        ))
        .await;
    r.expect(200);
    assert_eq!(ids(&r), vec![zoe]);
}

#[tokio::test]
async fn percent_and_plus_in_filter_values_are_decoded_exactly_once() {
    let s = Server::start().await;
    let pct = s.user("100%real@contoso.com").await;
    let literal = s.user("pct%41@contoso.com").await;
    s.user("pctA@contoso.com").await;
    let plus = s.user("a+b@contoso.com").await;
    s.user("a b@contoso.com").await;
    for (filter, expected) in [
        ("userName eq \"100%real@contoso.com\"", &pct),
        ("userName eq \"pct%41@contoso.com\"", &literal),
        ("userName eq \"a+b@contoso.com\"", &plus),
    ] {
        // Entra's encoding (space as +, everything else %XX) and Okta's (space as %20).
        for encoded in [q(filter), q20(filter)] {
            let r = s.get(&format!("/Users?filter={encoded}")).await;
            r.expect(200);
            assert_eq!(ids(&r), vec![expected.clone()], "{filter} as {encoded}");
        }
    }
    // Sent exactly as a client would type it: quotes and @ encoded, spaces as %20.
    let r = s
        .get("/Users?filter=userName%20eq%20%22a%2Bb%40contoso.com%22&startIndex=1&count=100")
        .await;
    r.expect(200);
    assert_eq!(ids(&r), vec![plus]);
}

// 12 --------------------------------------------------------------------------------------

#[tokio::test]
async fn external_id_is_echoed_back_on_every_read_and_write() {
    let s = Server::start().await;
    let ext = "00aa00aa-bb11-cc22-dd33-44ee44ee44ee";
    let r = s
        .post(
            "/Users",
            &json!({"userName": "echo@contoso.com", "externalId": ext}),
        )
        .await;
    r.expect(201);
    assert_eq!(r.body["externalId"], ext);
    let id = r.id();
    let path = format!("/Users/{id}");
    assert_eq!(s.get(&path).await.body["externalId"], ext);
    assert_eq!(
        s.get("/Users").await.body["Resources"][0]["externalId"],
        ext
    );
    let r = s.users_where(&format!("externalId eq \"{ext}\"")).await;
    assert_eq!(r.body["Resources"][0]["externalId"], ext);
    let r = s
        .get(&format!("/Users/{id}?attributes=userName,externalId"))
        .await;
    assert_eq!(r.body["externalId"], ext);
    let r = s
        .patch(
            &path,
            &patch_op(json!([{"op": "Replace", "path": "displayName", "value": "Echo"}])),
        )
        .await;
    assert_eq!(r.body["externalId"], ext);
    let r = s
        .put(
            &path,
            &json!({"userName": "echo@contoso.com", "externalId": ext, "active": true}),
        )
        .await;
    r.expect(200);
    assert_eq!(r.body["externalId"], ext);
    let r = s
        .patch(
            &path,
            &patch_op(json!([{"op": "Replace", "path": "externalId", "value": "ext-2"}])),
        )
        .await;
    r.expect(200);
    assert_eq!(r.body["externalId"], "ext-2");
    assert_eq!(
        s.users_where(&format!("externalId eq \"{ext}\""))
            .await
            .body["totalResults"],
        0
    );
    assert_eq!(
        ids(&s.users_where("externalId eq \"ext-2\"").await),
        vec![id.clone()]
    );

    // Groups too.
    let gx = "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159";
    let r = s
        .post(
            "/Groups",
            &json!({"displayName": "Echo Group", "externalId": gx}),
        )
        .await;
    r.expect(201);
    assert_eq!(r.body["externalId"], gx);
    let g = r.id();
    assert_eq!(
        s.get(&format!("/Groups/{g}?excludedAttributes=members"))
            .await
            .body["externalId"],
        gx
    );
    let r = s.groups_where("displayName eq \"Echo Group\"").await;
    assert_eq!(r.body["Resources"][0]["externalId"], gx);
    let r = s
        .patch(
            &format!("/Groups/{g}?attributes=externalId,displayName"),
            &patch_op(json!([{"op": "Replace", "path": "displayName", "value": "Echo Group 2"}])),
        )
        .await;
    r.expect(200);
    assert_eq!(r.body["externalId"], gx);
    let r = s
        .put(
            &format!("/Groups/{g}"),
            &json!({"displayName": "Echo Group 3", "externalId": gx}),
        )
        .await;
    r.expect(200);
    assert_eq!(r.body["externalId"], gx);
}

// 13 --------------------------------------------------------------------------------------

const WRONG_TOKEN: &str = "wrong-secret-token-5f2c9e1d7a4b";

/// Runs in a child process started by `bearer_tokens_are_never_written_into_logs`: logs
/// through the service's own subscriber to stdout while serving authenticated and refused
/// requests.
#[tokio::test]
#[ignore = "the child process of bearer_tokens_are_never_written_into_logs, which runs it"]
async fn log_capture_child() {
    scim_aws::config::init_tracing();
    let s = Server::start().await;
    println!("CHILD-TOKEN={}", s.token);
    let id = s.user("logged@contoso.com").await;
    s.patch(
        &format!("/Users/{id}"),
        &patch_op(json!([{"op": "Replace", "path": "active", "value": "False"}])),
    )
    .await
    .expect(200);
    s.get(&format!(
        "/Users?filter={}",
        q("userName eq \"logged@contoso.com\"")
    ))
    .await
    .expect(200);
    s.get("/Users/does-not-exist").await.expect(404);
    for auth in [
        format!("Bearer {WRONG_TOKEN}"),
        format!("bearer {}", s.token),
        format!("Basic {WRONG_TOKEN}"),
        WRONG_TOKEN.to_string(),
    ] {
        let r = s
            .raw(Method::GET, "/Users", &[("Authorization", &auth)], vec![])
            .await;
        assert!(
            r.status.as_u16() == 401 || r.status.as_u16() == 200,
            "{auth}: {}",
            r.status
        );
    }
    s.raw(
        Method::POST,
        "/Users",
        &[
            ("Authorization", &format!("Bearer {WRONG_TOKEN}")),
            ("Content-Type", "application/scim+json"),
        ],
        b"{\"userName\": ".to_vec(),
    )
    .await
    .expect(401);
}

#[test]
fn bearer_tokens_are_never_written_into_logs() {
    let exe = std::env::current_exe().expect("test binary");
    let out = std::process::Command::new(exe)
        .args([
            "--exact",
            "failures::log_capture_child",
            "--ignored",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env("RUST_LOG", "debug")
        .output()
        .expect("run the child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "child failed:\n{stdout}\n{stderr}");
    let token = stdout
        .lines()
        .find_map(|l| l.strip_prefix("CHILD-TOKEN="))
        .expect("the child prints its token")
        .trim()
        .to_string();
    assert!(token.len() >= 40, "{token}");
    // The logs really were captured: one line per request, with the token's id only.
    assert!(
        stdout.contains("\"status\":401") && stdout.contains("token_id"),
        "no request logs captured:\n{stdout}"
    );
    for (i, line) in stdout.lines().chain(stderr.lines()).enumerate() {
        if line.starts_with("CHILD-TOKEN=") {
            continue;
        }
        assert!(!line.contains(&token), "line {i} logs the token: {line}");
        assert!(
            !line.contains(WRONG_TOKEN),
            "line {i} logs a presented token: {line}"
        );
        // Nor a recognisable part of it.
        assert!(
            !line.contains(&token[..16]) && !line.contains(&token[token.len() - 16..]),
            "line {i} logs part of the token: {line}"
        );
    }
}
