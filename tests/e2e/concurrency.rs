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
