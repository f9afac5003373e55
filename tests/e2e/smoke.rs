//! The smoke test: Entra ID and Okta flows that are safe to run against a deployed stack.
//!
//! `SCIM_BASE_URL=https://<api>/scim/v2 SCIM_TOKEN=<token> cargo nextest run -p scim-tests --test e2e smoke`
//!
//! Without those variables it runs in-process like the rest of the suite. Every name is
//! unique per run and everything created is deleted at the end, so a stack's real data is
//! neither assumed nor disturbed; nothing here reads the store directly.

use crate::harness::{q, Server};
use serde_json::json;

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        scim_service::auth::generate_token().unwrap_or_default()[..12].to_ascii_lowercase()
    )
}

#[tokio::test]
async fn smoke_entra_and_okta_provisioning_cycle() {
    let s = Server::start_remote_or_local().await;
    // Test Connection (Entra) and Test API Credentials (Okta).
    let r = s
        .get(&format!(
            "/Users?filter={}",
            q(&format!("userName eq \"{}\"", unique("nobody")))
        ))
        .await;
    r.expect(200);
    assert_eq!(r.body["totalResults"], 0);
    s.get("/Users?startIndex=1&count=2").await.expect(200);
    s.get("/ServiceProviderConfig").await.expect(200);

    // Entra: look up, create, patch (capitalised, string boolean, filtered email), deactivate.
    let name = format!("{}@smoke.example", unique("ann"));
    let oid = format!("{}-0000-4000-8000-000000000000", &unique("x")[2..10]);
    let r = s
        .get(&format!(
            "/Users?filter={}",
            q(&format!("userName eq \"{name}\""))
        ))
        .await;
    assert_eq!(r.body["totalResults"], 0);
    let created = s
        .post(
            "/Users",
            &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
                "userName": name, "externalId": oid, "active": true,
                "name": {"givenName": "Ann", "familyName": "Smoke"},
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "QA"}}),
        )
        .await;
    created.expect(201);
    let id = created.id();
    let path = format!("/Users/{id}");
    let r = s
        .get(&format!(
            "/Users?filter={}",
            q(&format!("externalId eq \"{oid}\""))
        ))
        .await;
    assert_eq!(r.body["Resources"][0]["id"], id.as_str());
    let r = s
        .patch(
            &path,
            &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [
                {"op": "Replace", "path": "displayName", "value": "Ann Smoke"},
                {"op": "Add", "path": "emails[type eq \"work\"].value", "value": name},
                {"op": "Replace", "path": "active", "value": "False"}]}),
        )
        .await;
    r.expect(200);
    assert_eq!(r.body["active"], false);
    assert_eq!(r.body["emails"][0]["value"], name.as_str());

    // Okta: reactivate, Group Push with a member, remove it by filter, clean up.
    s.patch(
        &path,
        &json!({"Operations": [{"op": "replace", "value": {"active": true}}]}),
    )
    .await
    .expect(200);
    let group = s
        .post(
            "/Groups",
            &json!({"displayName": unique("smoke-group"), "members": []}),
        )
        .await;
    group.expect(201);
    let gid = group.id();
    let gpath = format!("/Groups/{gid}");
    let r = s
        .patch(
            &gpath,
            &json!({"Operations": [{"op": "add", "path": "members", "value": [{"value": id}]}]}),
        )
        .await;
    assert!(r.status.is_success(), "{}", r.text);
    let r = s
        .get(&format!(
            "/Groups?filter={}&excludedAttributes=members",
            q(&format!("id eq \"{gid}\" and members.value eq \"{id}\""))
        ))
        .await;
    assert_eq!(r.body["totalResults"], 1);
    let r = s.patch(&gpath, &json!({"Operations": [{"op": "remove", "path": format!("members[value eq \"{id}\"]")}]})).await;
    assert!(r.status.is_success(), "{}", r.text);
    s.delete(&gpath).await.expect(204);
    s.delete(&path).await.expect(204);
    s.get(&path).await.expect(404);
}
