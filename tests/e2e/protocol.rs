//! Protocol breadth: Entra's app roles in both documented shapes, conditional GET
//! (`If-None-Match`, RFC 7644 §3.14).
//!
//! App roles, as Microsoft documents them ("Customize user provisioning attribute-mappings",
//! *Provisioning a role to a SCIM app*):
//! - `SingleAppRoleAssignment`: mapped to `roles[primary eq "True"].value` (and `.display`,
//!   `.type`): a POST carries `roles: [{"primary": true, "type": "WindowsAzureActiveDirectoryRole",
//!   "value": "Admin"}]`; a PATCH sets that one role's sub-attributes by the filtered path.
//! - `AppRoleAssignmentsComplex`: every role `primary: false`; a POST carries the objects
//!   (with `type` and `display`), a PATCH carries `value` as **JSON inside a string**
//!   (`{"id","value","displayName"}`, no `type`) — unless the app has the
//!   `aadOptscim062020` flag, when the PATCH carries the same objects as the POST.

use crate::harness::Server;
use reqwest::Method;
use serde_json::{json, Value};

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const PATCH: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const AAD_ROLE: &str = "WindowsAzureActiveDirectoryRole";

fn patch(ops: Value) -> Value {
    json!({"schemas": [PATCH], "Operations": ops})
}

/// `roles` of a user as the service returns them, sorted by value.
fn roles(user: &Value) -> Vec<Value> {
    let mut r: Vec<Value> = user["roles"].as_array().cloned().unwrap_or_default();
    r.sort_by_key(|v| v["value"].as_str().unwrap_or_default().to_string());
    r
}

/// Entra's JSON-in-a-string role value of an `AppRoleAssignmentsComplex` PATCH.
fn complex_value(assignment: &str, value: &str, display: &str) -> Value {
    json!({"value": json!({"id": assignment, "value": value, "displayName": display}).to_string()})
}

#[tokio::test]
async fn single_app_role_assignment_is_one_primary_role_set_by_its_filtered_path() {
    let s = Server::start().await;
    let r = s
        .post(
            "/Users",
            &json!({"schemas": [USER], "userName": "single@contoso.com", "active": true,
                "roles": [{"primary": "True", "type": AAD_ROLE, "value": "Admin"}]}),
        )
        .await;
    r.expect(201);
    assert_eq!(
        roles(&r.body),
        vec![json!({"primary": true, "type": AAD_ROLE, "value": "Admin"})]
    );
    let id = r.id();
    // The role changes: Entra replaces the primary role's value (capitalised op, no flag).
    let r = s
        .patch(
            &format!("/Users/{id}"),
            &patch(json!([
                {"op": "Replace", "path": "roles[primary eq \"True\"].value", "value": "Reader"},
                {"op": "Replace", "path": "roles[primary eq \"True\"].display", "value": "Reader role"}
            ])),
        )
        .await;
    r.expect(200);
    assert_eq!(
        roles(&r.body),
        vec![
            json!({"primary": true, "type": AAD_ROLE, "value": "Reader", "display": "Reader role"})
        ]
    );
    // A user created without a role gets one the way Entra adds it: the filtered path on a
    // role that does not exist yet creates it.
    let other = s.user("norole@contoso.com").await;
    let r = s
        .patch(
            &format!("/Users/{other}"),
            &patch(json!([
                {"op": "Add", "path": "roles[primary eq \"True\"].value", "value": "Admin"},
                {"op": "Add", "path": "roles[primary eq \"True\"].type", "value": AAD_ROLE}
            ])),
        )
        .await;
    r.expect(200);
    assert_eq!(
        roles(&r.body),
        vec![json!({"primary": true, "type": AAD_ROLE, "value": "Admin"})]
    );
    // The assignment is removed.
    let r = s
        .patch(
            &format!("/Users/{other}"),
            &patch(json!([{"op": "Remove", "path": "roles[primary eq \"True\"]"}])),
        )
        .await;
    r.expect(200);
    assert!(roles(&r.body).is_empty(), "{}", r.text);
}

#[tokio::test]
async fn app_role_assignments_complex_json_in_a_string_becomes_proper_roles() {
    let s = Server::start().await;
    // The POST: objects, every one primary false, with type and display.
    let r = s
        .post(
            "/Users",
            &json!({"schemas": [USER], "userName": "complex@contoso.com", "active": true,
                "roles": [
                    {"primary": false, "type": AAD_ROLE, "display": "Admin", "value": "Admin"},
                    {"primary": false, "type": AAD_ROLE, "display": "User", "value": "User"}]}),
        )
        .await;
    r.expect(201);
    let id = r.id();
    assert_eq!(roles(&r.body).len(), 2);

    // Without the flag: Add with the value as JSON inside a string (Microsoft's example).
    let add = patch(json!([{"op": "Add", "path": "roles", "value": [
        complex_value("06b07648-ecfe-589f-9d2f-6325724a46ee", "25", "Role1234")]}]));
    let r = s.patch(&format!("/Users/{id}"), &add).await;
    r.expect(200);
    let got = roles(&r.body);
    assert_eq!(got.len(), 3, "{}", r.text);
    assert_eq!(
        got[0],
        json!({"primary": false, "value": "25", "display": "Role1234"}),
        "stored as a role, not as the raw string: {}",
        r.text
    );
    // The same add again (Entra re-sends on the next cycle): still one role "25".
    let r = s.patch(&format!("/Users/{id}"), &add).await;
    assert_eq!(roles(&r.body).len(), 3, "{}", r.text);

    // Removed the same way: the string names the role by its inner value.
    let remove = patch(json!([{"op": "Remove", "path": "roles", "value": [
        complex_value("06b07648-ecfe-589f-9d2f-6325724a46ee", "25", "Role1234")]}]));
    let r = s.patch(&format!("/Users/{id}"), &remove).await;
    r.expect(200);
    let values: Vec<String> = roles(&r.body)
        .iter()
        .map(|r| r["value"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(values, ["Admin", "User"], "{}", r.text);

    // With the flag, the PATCH carries the POST's objects: Replace sets the whole list.
    let replace = patch(json!([{"op": "replace", "path": "roles", "value": [
        {"primary": false, "type": AAD_ROLE, "display": "Writer", "value": "Writer"}]}]));
    let r = s.patch(&format!("/Users/{id}"), &replace).await;
    r.expect(200);
    assert_eq!(
        roles(&r.body),
        vec![json!({"primary": false, "type": AAD_ROLE, "display": "Writer", "value": "Writer"})]
    );
    // Read back: the same.
    let r = s.get(&format!("/Users/{id}")).await;
    assert_eq!(roles(&r.body)[0]["value"], "Writer");

    // The product sees the roles in the application API's user summary and sign-in answer.
    let summary = s.app(Method::GET, &format!("/users/{id}"), None).await;
    assert_eq!(summary.status.as_u16(), 200, "{}", summary.text);
    assert_eq!(
        summary.body["roles"],
        json!([{"value": "Writer", "display": "Writer", "type": AAD_ROLE, "primary": false}])
    );
    let signin = s
        .app(Method::GET, "/signin?upn=complex%40contoso.com", None)
        .await;
    assert_eq!(signin.status.as_u16(), 200, "{}", signin.text);
    assert_eq!(signin.body["roles"][0]["value"], "Writer");

    // A string that is not an assignment is a plain role value, as any client may send.
    let r = s
        .patch(
            &format!("/Users/{id}"),
            &patch(json!([{"op": "add", "path": "roles", "value": [{"value": "{not json"}]}])),
        )
        .await;
    r.expect(200);
    assert!(roles(&r.body).iter().any(|r| r["value"] == "{not json"));
}

#[tokio::test]
async fn if_none_match_with_the_current_etag_is_304_and_after_a_change_200() {
    let s = Server::start().await;
    let id = s.user("etag@contoso.com").await;
    let r = s.get(&format!("/Users/{id}")).await;
    let etag = r.header("etag").unwrap().to_string();
    let conditional = |tag: &str| {
        let (s, id, tag) = (&s, id.clone(), tag.to_string());
        async move {
            s.send(
                Method::GET,
                &format!("/Users/{id}"),
                None,
                &[("If-None-Match", &tag)],
            )
            .await
        }
    };
    let r = conditional(&etag).await;
    assert_eq!(r.status.as_u16(), 304, "{}", r.text);
    assert!(r.text.is_empty());
    assert_eq!(r.header("etag"), Some(etag.as_str()));
    // Strong form, a list, and `*` match too; another version does not.
    let strong = etag.trim_start_matches("W/").to_string();
    assert_eq!(conditional(&strong).await.status.as_u16(), 304);
    assert_eq!(
        conditional(&format!("W/\"999\", {etag}"))
            .await
            .status
            .as_u16(),
        304
    );
    assert_eq!(conditional("*").await.status.as_u16(), 304);
    assert_eq!(conditional("W/\"999\"").await.status.as_u16(), 200);
    assert_eq!(conditional("garbage").await.status.as_u16(), 200);
    // After a change the old tag no longer matches.
    let body = patch(json!([{"op": "replace", "path": "displayName", "value": "Changed"}]));
    s.patch(&format!("/Users/{id}"), &body).await.expect(200);
    let r = conditional(&etag).await;
    r.expect(200);
    assert_eq!(r.body["displayName"], "Changed");
    // Groups too.
    let g = s.group("Tagged").await;
    let r = s.get(&format!("/Groups/{g}")).await;
    let tag = r.header("etag").unwrap().to_string();
    let r = s
        .send(
            Method::GET,
            &format!("/Groups/{g}"),
            None,
            &[("If-None-Match", &tag)],
        )
        .await;
    assert_eq!(r.status.as_u16(), 304);
}

/// The ids of a list response, in order.
fn ids(r: &crate::harness::Resp) -> Vec<String> {
    r.body["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn lists_sort_by_the_attributes_a_product_sorts_by_in_either_order_and_page() {
    let s = Server::start().await;
    let people = [
        ("carol@contoso.com", Some("Zed"), "z@contoso.com"),
        ("Alice@contoso.com", None, "c@contoso.com"),
        ("bob@contoso.com", Some("Adams"), "a@contoso.com"),
        ("dave@contoso.com", Some("baker"), "b@contoso.com"),
    ];
    let mut id = std::collections::HashMap::new();
    for (name, family, email) in people {
        let mut body = json!({"schemas": [USER], "userName": name, "active": true,
            "emails": [{"value": email, "primary": true}]});
        if let Some(f) = family {
            body["name"] = json!({"familyName": f});
        }
        let r = s.post("/Users", &body).await;
        r.expect(201);
        id.insert(name.split('@').next().unwrap().to_lowercase(), r.id());
    }
    let order = |names: &[&str]| -> Vec<String> { names.iter().map(|n| id[*n].clone()).collect() };
    let list = |q: &str| {
        let (s, q) = (&s, q.to_string());
        async move {
            let r = s.get(&format!("/Users?{q}")).await;
            r.expect(200);
            r
        }
    };
    let r = list("sortBy=userName").await;
    assert_eq!(ids(&r), order(&["alice", "bob", "carol", "dave"]));
    assert_eq!(r.body["totalResults"], 4);
    let r = list("sortBy=userName&sortOrder=descending").await;
    assert_eq!(ids(&r), order(&["dave", "carol", "bob", "alice"]));
    // No family name: last, in either order.
    let r = list("sortBy=name.familyName").await;
    assert_eq!(ids(&r), order(&["bob", "dave", "carol", "alice"]));
    let r = list("sortBy=name.familyName&sortOrder=descending").await;
    assert_eq!(ids(&r), order(&["carol", "dave", "bob", "alice"]));
    let r = list("sortBy=emails.value").await;
    assert_eq!(ids(&r), order(&["bob", "dave", "alice", "carol"]));
    let r = list("sortBy=meta.created&sortOrder=descending").await;
    assert_eq!(ids(&r), order(&["dave", "bob", "alice", "carol"]));
    // Pages of a sorted list by startIndex and by cursor.
    let r = list("sortBy=userName&startIndex=2&count=2").await;
    assert_eq!(ids(&r), order(&["bob", "carol"]));
    let first = list("sortBy=userName&count=3&cursor=").await;
    assert_eq!(ids(&first), order(&["alice", "bob", "carol"]));
    let cursor = first.body["nextCursor"].as_str().unwrap().to_string();
    let rest = list(&format!("sortBy=userName&count=3&cursor={cursor}")).await;
    assert_eq!(ids(&rest), order(&["dave"]));
    assert!(rest.body.get("nextCursor").is_none_or(Value::is_null));
    // A cursor of another order is refused.
    let other = s
        .get(&format!(
            "/Users?sortBy=userName&sortOrder=descending&count=3&cursor={cursor}"
        ))
        .await;
    other.expect(400);
    // With a filter, indexed or not.
    let r = list(&format!(
        "filter={}&sortBy=userName&sortOrder=descending",
        crate::harness::q("active eq true and name.familyName pr")
    ))
    .await;
    assert_eq!(ids(&r), order(&["dave", "carol", "bob"]));
    let r = list(&format!(
        "filter={}&sortBy=userName",
        crate::harness::q("userName eq \"bob@contoso.com\"")
    ))
    .await;
    assert_eq!(ids(&r), order(&["bob"]));
    // POST /.search takes them in its body.
    let r = s
        .post(
            "/Users/.search",
            &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
                "sortBy": "userName", "sortOrder": "descending", "count": 2}),
        )
        .await;
    assert_eq!(r.status.as_u16(), 200, "{}", r.text);
    assert_eq!(ids(&r), order(&["dave", "carol"]));
    // Groups by displayName.
    let (b, a) = (s.group("beta").await, s.group("Alpha").await);
    let r = s
        .get("/Groups?sortBy=displayName&excludedAttributes=members")
        .await;
    assert_eq!(ids(&r), vec![a, b]);
    // What cannot be sorted by is a client error.
    for q in [
        "sortBy=nope",
        "sortBy=name",
        "sortBy=userName&sortOrder=sideways",
    ] {
        let r = s.get(&format!("/Users?{q}")).await;
        r.expect(400);
        assert_eq!(r.scim_type(), "invalidValue", "{q}: {}", r.text);
    }
    let spc = s.get("/ServiceProviderConfig").await;
    assert_eq!(spc.body["sort"]["supported"], true);
}

#[tokio::test]
async fn a_sort_over_more_than_the_bound_is_400_too_many() {
    let table = scim_test_support::engine::Table::new("scim-sort").await;
    let store = table.store().with_scan_limit(5);
    let s = Server::start_with_store(table, store, |_| {}).await;
    for i in 0..5 {
        s.user(&format!("u{i}@contoso.com")).await;
    }
    // Exactly at the bound: sorted.
    let r = s.get("/Users?sortBy=userName&sortOrder=descending").await;
    r.expect(200);
    assert_eq!(r.body["Resources"][0]["userName"], "u4@contoso.com");
    s.user("u5@contoso.com").await;
    let before = s.calls();
    let r = s.get("/Users?sortBy=userName").await;
    r.expect(400);
    assert_eq!(r.scim_type(), "tooMany");
    assert!(
        r.body["detail"].as_str().unwrap().contains('5'),
        "{}",
        r.text
    );
    assert_eq!(s.calls().since(&before).scan, 0);
    // Unsorted, the same list is answered.
    s.get("/Users").await.expect(200);
}
