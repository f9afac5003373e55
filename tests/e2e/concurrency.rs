//! Nothing is lost: concurrent requests never lose a membership, duplicate a user or leave
//! half of one write mixed with another.

use crate::harness::Server;
use futures::future::join_all;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_concurrent_member_patches_lose_no_member() {
    let s = Server::start().await;
    let g = s.group("Concurrent").await;
    let mut users = Vec::new();
    for i in 0..48 {
        users.push(s.user(&format!("c{i}")).await);
    }
    let path = format!("/Groups/{g}");
    let requests = users.chunks(3).map(|chunk| {
        let value: Vec<_> = chunk.iter().map(|u| json!({"value": u})).collect();
        let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "Add", "path": "members", "value": value}]});
        let (s, path) = (&s, path.clone());
        async move { s.patch(&path, &body).await }
    });
    let results = join_all(requests).await;
    assert_eq!(results.len(), 16);
    for r in &results {
        assert_eq!(r.status.as_u16(), 204, "{}", r.text);
    }
    let mut expected = users.clone();
    expected.sort();
    assert_eq!(s.member_ids(&g).await, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_concurrent_creates_of_one_user_name_give_one_201_and_seven_409s() {
    let s = Server::start().await;
    let names = [
        "Same.User@Contoso.com",
        "same.user@contoso.com",
        "SAME.USER@CONTOSO.COM",
        "Same.user@contoso.com",
        "same.User@contoso.com",
        "same.user@Contoso.com",
        "SAME.user@contoso.com",
        "same.USER@contoso.COM",
    ];
    let results = join_all(names.iter().map(|n| {
        let s = &s;
        async move { s.post("/Users", &json!({"userName": n})).await }
    }))
    .await;
    let created = results.iter().filter(|r| r.status.as_u16() == 201).count();
    let conflicts: Vec<_> = results
        .iter()
        .filter(|r| r.status.as_u16() == 409)
        .collect();
    assert_eq!(
        created,
        1,
        "{:?}",
        results.iter().map(|r| &r.text).collect::<Vec<_>>()
    );
    assert_eq!(conflicts.len(), 7);
    for c in conflicts {
        assert_eq!(c.scim_type(), "uniqueness");
    }
    let list = s.get("/Users").await;
    assert_eq!(list.body["totalResults"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_put_racing_a_patch_never_interleaves_half_of_each() {
    let s = Server::start().await;
    for round in 0..6 {
        let id = s.user(&format!("race{round}")).await;
        let path = format!("/Users/{id}");
        let put = json!({"userName": format!("race{round}"), "displayName": "from-put", "title": "from-put"});
        let patch = json!({"Operations": [
            {"op": "replace", "path": "displayName", "value": "from-patch"},
            {"op": "replace", "path": "title", "value": "from-patch"}]});
        let (a, b) = tokio::join!(s.put(&path, &put), s.patch(&path, &patch));
        assert!(a.status.is_success(), "{}", a.text);
        assert!(b.status.is_success(), "{}", b.text);
        let r = s.get(&path).await;
        assert_eq!(
            r.body["displayName"], r.body["title"],
            "round {round}: {}",
            r.text
        );
        assert_eq!(r.body["meta"]["version"], "W/\"3\"");
    }
}

#[tokio::test]
async fn deleting_a_user_removes_them_from_every_group() {
    let s = Server::start().await;
    let u = s.user("leaver").await;
    let stay = s.user("stayer").await;
    let mut groups = Vec::new();
    for i in 0..3 {
        let g = s.group(&format!("G{i}")).await;
        s.patch(
            &format!("/Groups/{g}"),
            &json!({"Operations": [{"op": "add", "path": "members",
            "value": [{"value": u}, {"value": stay}]}]}),
        )
        .await;
        groups.push(g);
    }
    let r = s.get(&format!("/Users/{u}")).await;
    assert_eq!(
        r.body["groups"].as_array().map(|a| a.len()),
        Some(3),
        "{}",
        r.text
    );
    s.delete(&format!("/Users/{u}")).await.expect(204);
    for g in &groups {
        assert_eq!(s.member_ids(g).await, vec![stay.clone()]);
    }
}

/// Sixteen simultaneous `POST /Users` with different userNames, all carrying the primary
/// email of a user who is no longer active (Microsoft's pagination check creates its users
/// five at a time with one shared email): exactly one restores that person, every other is
/// a new user. Never 412, never 5xx.
async fn sixteen_parallel_creates_sharing_a_retired_email(retire: &str) {
    let s = Server::start().await;
    let email = "shared@contoso.com";
    let holder = s
        .user_from(&json!({"userName": "first@contoso.com",
            "emails": [{"value": email, "type": "work", "primary": true}]}))
        .await;
    let path = format!("/Users/{holder}");
    match retire {
        "delete" => {
            s.delete(&path).await.expect(204);
        }
        _ => {
            s.patch(
                &path,
                &json!({"Operations": [{"op": "replace", "path": "active", "value": false}]}),
            )
            .await
            .expect(200);
        }
    }
    let results = join_all((0..16).map(|i| {
        let s = &s;
        async move {
            s.post(
                "/Users",
                &json!({"userName": format!("parallel{i}@contoso.com"), "active": true,
                    "emails": [{"value": email, "type": "work", "primary": true}]}),
            )
            .await
        }
    }))
    .await;
    for r in &results {
        assert_eq!(r.status.as_u16(), 201, "every create succeeds: {}", r.text);
    }
    let ids: std::collections::BTreeSet<String> = results.iter().map(|r| r.id()).collect();
    assert_eq!(ids.len(), 16, "sixteen distinct users");
    assert_eq!(
        results.iter().filter(|r| r.id() == holder).count(),
        1,
        "exactly one create restores the retired holder"
    );
    let list = s.get("/Users?count=100").await;
    list.expect(200);
    assert_eq!(list.body["totalResults"], 16);
    for r in &results {
        let got = s.get(&format!("/Users/{}", r.id())).await;
        got.expect(200);
        assert_eq!(got.body["active"], true);
        assert_eq!(got.body["userName"], r.body["userName"]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_parallel_creates_sharing_a_deleted_users_email_restore_once_and_create_the_rest() {
    sixteen_parallel_creates_sharing_a_retired_email("delete").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_parallel_creates_sharing_a_deactivated_users_email_restore_once_and_create_the_rest(
) {
    sixteen_parallel_creates_sharing_a_retired_email("deactivate").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_parallel_re_adds_of_a_deleted_user_name_restore_once_and_409_the_rest() {
    let s = Server::start().await;
    let holder = s.user("returning@contoso.com").await;
    s.delete(&format!("/Users/{holder}")).await.expect(204);
    let results = join_all((0..16).map(|_| {
        let s = &s;
        async move {
            s.post("/Users", &json!({"userName": "Returning@Contoso.com"}))
                .await
        }
    }))
    .await;
    let restored: Vec<_> = results
        .iter()
        .filter(|r| r.status.as_u16() == 201)
        .collect();
    assert_eq!(
        restored.len(),
        1,
        "{:?}",
        results.iter().map(|r| &r.text).collect::<Vec<_>>()
    );
    assert_eq!(restored[0].id(), holder);
    for r in results.iter().filter(|r| r.status.as_u16() != 201) {
        r.expect(409);
        assert_eq!(r.scim_type(), "uniqueness");
    }
    assert_eq!(s.get("/Users").await.body["totalResults"], 1);
}
