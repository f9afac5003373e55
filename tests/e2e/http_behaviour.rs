//! HTTP behaviour every route shares: media types, status codes, ETags, limits, errors.

use crate::harness::{q, Server};
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn create_answers_201_with_location_etag_and_scim_content_type() {
    let s = Server::start().await;
    let r = s
        .post(
            "/Users",
            &json!({"userName": "Ann@Example.com", "externalId": "ext-1"}),
        )
        .await;
    r.expect(201);
    assert_eq!(r.header("content-type"), Some("application/scim+json"));
    let id = r.id();
    assert_eq!(
        r.header("location"),
        Some(format!("{}/Users/{id}", s.base).as_str())
    );
    assert_eq!(r.header("etag"), Some("W/\"1\""));
    assert_eq!(r.body["userName"], "Ann@Example.com");
    assert_eq!(r.body["externalId"], "ext-1");
    assert_eq!(r.body["meta"]["resourceType"], "User");
    assert_eq!(r.body["meta"]["version"], "W/\"1\"");
}

#[tokio::test]
async fn get_by_id_answers_the_resource_with_its_etag() {
    let s = Server::start().await;
    let id = s.user("bob").await;
    let r = s.get(&format!("/Users/{id}")).await;
    r.expect(200);
    assert_eq!(r.body["id"], id.as_str());
    assert_eq!(r.header("etag"), Some("W/\"1\""));
}

#[tokio::test]
async fn unknown_id_is_404_with_a_scim_error() {
    let s = Server::start().await;
    s.get("/Users/00000000-0000-0000-0000-000000000000")
        .await
        .expect(404);
    s.get("/Groups/nope").await.expect(404);
    s.delete("/Users/nope").await.expect(404);
    s.patch(
        "/Users/nope",
        &json!({"Operations": [{"op": "replace", "value": {"active": false}}]}),
    )
    .await
    .expect(404);
}

#[tokio::test]
async fn unknown_route_is_404_and_wrong_method_is_405() {
    let s = Server::start().await;
    s.get("/Nope").await.expect(404);
    let r = s.send(Method::DELETE, "/Users", None, &[]).await;
    r.expect(405);
    assert_eq!(r.header("allow"), Some("GET, POST"));
    s.send(
        Method::POST,
        "/ServiceProviderConfig",
        Some(&json!({})),
        &[],
    )
    .await
    .expect(405);
    s.send(Method::POST, "/Users/abc", Some(&json!({})), &[])
        .await
        .expect(405);
}

#[tokio::test]
async fn empty_filter_result_is_200_with_an_empty_list_response() {
    let s = Server::start().await;
    let r = s
        .get(&format!(
            "/Users?filter={}",
            q("userName eq \"8e8ab17c-7c33-4c3e-9ff3-35bc9d95c8f3\"")
        ))
        .await;
    r.expect(200);
    assert_eq!(r.body["totalResults"], 0);
    assert_eq!(r.body["itemsPerPage"], 0);
    assert_eq!(r.body["startIndex"], 1);
    assert_eq!(r.body["Resources"], json!([]));
    assert_eq!(
        r.body["schemas"][0],
        "urn:ietf:params:scim:api:messages:2.0:ListResponse"
    );
}

#[tokio::test]
async fn malformed_json_is_400_invalid_syntax_and_changes_nothing() {
    let s = Server::start().await;
    let r = s
        .raw(
            Method::POST,
            "/Users",
            &[
                ("Authorization", &format!("Bearer {}", s.token)),
                ("Content-Type", "application/scim+json"),
            ],
            b"{\"userName\": ".to_vec(),
        )
        .await;
    r.expect(400);
    assert_eq!(r.scim_type(), "invalidSyntax");
    let list = s.get("/Users").await;
    assert_eq!(list.body["totalResults"], 0);
}

#[tokio::test]
async fn json_and_scim_json_with_charset_are_accepted_other_types_are_415() {
    let s = Server::start().await;
    let auth = format!("Bearer {}", s.token);
    for ct in [
        "application/json",
        "application/scim+json; charset=utf-8",
        "application/json;charset=UTF-8",
    ] {
        let body = serde_json::to_vec(&json!({"userName": format!("u-{ct}")})).unwrap();
        s.raw(
            Method::POST,
            "/Users",
            &[("Authorization", &auth), ("Content-Type", ct)],
            body,
        )
        .await
        .expect(201);
    }
    let body = serde_json::to_vec(&json!({"userName": "x"})).unwrap();
    s.raw(
        Method::POST,
        "/Users",
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/xml"),
        ],
        body,
    )
    .await
    .expect(415);
}

#[tokio::test]
async fn missing_user_name_or_display_name_is_400_invalid_value() {
    let s = Server::start().await;
    let r = s.post("/Users", &json!({"displayName": "No Name"})).await;
    r.expect(400);
    assert_eq!(r.scim_type(), "invalidValue");
    let r = s.post("/Groups", &json!({"members": []})).await;
    r.expect(400);
    assert_eq!(r.scim_type(), "invalidValue");
}

#[tokio::test]
async fn body_over_the_limit_is_413() {
    let s = Server::start().await;
    let big = "x".repeat(1_100_000);
    let r = s
        .post("/Users", &json!({"userName": "a", "displayName": big}))
        .await;
    r.expect(413);
}

#[tokio::test]
async fn if_match_is_honoured_and_a_mismatch_is_412() {
    let s = Server::start().await;
    let id = s.user("carol").await;
    let path = format!("/Users/{id}");
    let body = json!({"Operations": [{"op": "replace", "path": "displayName", "value": "Carol"}]});
    s.send(
        Method::PATCH,
        &path,
        Some(&body),
        &[("If-Match", "W/\"7\"")],
    )
    .await
    .expect(412);
    let r = s
        .send(
            Method::PATCH,
            &path,
            Some(&body),
            &[("If-Match", "W/\"1\"")],
        )
        .await;
    r.expect(200);
    assert_eq!(r.header("etag"), Some("W/\"2\""));
    s.send(Method::DELETE, &path, None, &[("If-Match", "W/\"1\"")])
        .await
        .expect(412);
    s.send(Method::DELETE, &path, None, &[("If-Match", "W/\"2\"")])
        .await
        .expect(204);
}

#[tokio::test]
async fn delete_answers_204_and_the_user_is_gone() {
    let s = Server::start().await;
    let id = s.user("dave").await;
    let r = s.delete(&format!("/Users/{id}")).await;
    assert_eq!(r.status.as_u16(), 204);
    s.get(&format!("/Users/{id}")).await.expect(404);
}

#[tokio::test]
async fn count_above_the_maximum_is_clamped_and_start_index_below_one_is_one() {
    let s = Server::start().await;
    for i in 0..3 {
        s.user(&format!("user{i}")).await;
    }
    let r = s.get("/Users?startIndex=0&count=100000").await;
    r.expect(200);
    assert_eq!(r.body["startIndex"], 1);
    assert_eq!(r.body["itemsPerPage"], 3);
    assert_eq!(r.body["totalResults"], 3);
}

#[tokio::test]
async fn discovery_documents_are_served() {
    let s = Server::start().await;
    let r = s.get("/ServiceProviderConfig").await;
    r.expect(200);
    assert_eq!(r.body["patch"]["supported"], true);
    assert_eq!(r.body["filter"]["maxResults"], 200);
    let r = s.get("/ResourceTypes").await;
    r.expect(200);
    // User, Group, and the catalog's Entitlement and Role (Okta Identity Governance).
    assert_eq!(r.body["totalResults"], 4);
    s.get("/ResourceTypes/User").await.expect(200);
    let e = s.get("/ResourceTypes/Entitlement").await;
    e.expect(200);
    assert_eq!(e.body["endpoint"], "/Entitlements");
    s.get("/Schemas/urn:ietf:params:scim:schemas:core:2.0:User")
        .await
        .expect(200);
    s.get("/Schemas/urn:nope").await.expect(404);
}

#[tokio::test]
async fn a_missing_or_wrong_token_is_401_with_www_authenticate_and_changes_nothing() {
    let s = Server::start().await;
    let body = serde_json::to_vec(&json!({"userName": "mallory"})).unwrap();
    for auth in [
        None,
        Some("non-token"),
        Some("Bearer wrong-token"),
        Some("Basic dXNlcjpwYXNz"),
    ] {
        let mut headers = vec![("Content-Type", "application/scim+json")];
        if let Some(a) = auth {
            headers.push(("Authorization", a));
        }
        let r = s.raw(Method::POST, "/Users", &headers, body.clone()).await;
        r.expect(401);
        assert!(r
            .header("www-authenticate")
            .is_some_and(|h| h.starts_with("Bearer realm=")));
        assert!(!r.text.contains("wrong-token"));
    }
    let list = s.get("/Users").await;
    assert_eq!(list.body["totalResults"], 0);
}

#[tokio::test]
async fn a_token_of_another_tenant_is_refused() {
    let s = Server::start().await;
    let r = s
        .raw(
            Method::GET,
            "/Users",
            &[("Authorization", "Bearer other-tenant-token")],
            vec![],
        )
        .await;
    r.expect(401);
}
