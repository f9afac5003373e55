//! Microsoft Entra ID, request by request as Microsoft documents it:
//! - "Tutorial: Develop and plan provisioning for a SCIM endpoint in Microsoft Entra ID"
//!   (learn.microsoft.com/entra/identity/app-provisioning/use-scim-to-provision-users-and-groups):
//!   Test Connection, Create User, Get User (by id / by query / zero results), Update User
//!   (multi-valued and single-valued properties), Disable User, Delete User, and the Group
//!   operations, with their request bodies as printed there;
//! - "Known issues and resolutions with SCIM 2.0 protocol compliance of the Microsoft Entra
//!   user provisioning service"
//!   (learn.microsoft.com/entra/identity/app-provisioning/application-provisioning-config-problem-scim-compatibility):
//!   the PATCH requests sent without and with the `aadOptscim062020` flag.
//!
//! Note on that page: *without* the flag every operation carries a `path` and ops are
//! capitalised with string booleans; *with* the flag ops are lower case, booleans are real,
//! and "replace multiple attributes" is one path-less `replace` whose value has dotted and
//! schema-qualified keys. On-demand provisioning ignores the flag. Both shapes, and the
//! capitalised path-less mix, are exercised below.

use crate::harness::{ids, q, Server};
use scim_core::schema::{
    ENTERPRISE_USER_URN as ENTERPRISE, GROUP_SCHEMA_URN as GROUP, LIST_RESPONSE_URN as LIST,
    PATCH_OP_URN as PATCH_OP, USER_SCHEMA_URN as USER,
};
use scim_test_support::fixtures::{patch_op, AD_GROUP_URN as AD_GROUP};
use serde_json::{json, Value};

/// The tutorial's "Create User" request body, plus enterprise attributes (its `schemas`
/// already names the enterprise extension).
fn create_user_body(user_name: &str, external_id: &str, email: &str) -> Value {
    json!({
        "schemas": [USER, ENTERPRISE],
        "externalId": external_id,
        "userName": user_name,
        "active": true,
        "emails": [{
            "primary": true,
            "type": "work",
            "value": email
        }],
        "meta": {"resourceType": "User"},
        "name": {
            "formatted": "givenName familyName",
            "familyName": "familyName",
            "givenName": "givenName"
        },
        "roles": [],
        ENTERPRISE: {"department": "Engineering", "employeeNumber": "100009"}
    })
}

async fn create_test_user(s: &Server) -> String {
    s.user_from(&create_user_body(
        "Test_User_00aa00aa-bb11-cc22-dd33-44ee44ee44ee",
        "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
        "Test_User_11bb11bb-cc22-dd33-ee44-55ff55ff55ff@testuser.com",
    ))
    .await
}

fn emails_of_type<'a>(user: &'a Value, ty: &str) -> Vec<&'a Value> {
    user["emails"]
        .as_array()
        .map(|a| a.iter().filter(|e| e["type"] == ty).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn test_connection_with_a_random_guid_answers_200_with_an_empty_list_response() {
    let s = Server::start().await;
    s.user("someone@contoso.com").await;
    // "Test Connection queries the SCIM endpoint for a user that doesn't exist, using a
    // random GUID as the matching property ... HTTP 200 OK with an empty SCIM ListResponse."
    for filter in [
        "userName eq \"3c0f1a5e-2b9d-4f57-9e61-1f6c8a2d7b40\"",
        "externalId eq \"3c0f1a5e-2b9d-4f57-9e61-1f6c8a2d7b40\"",
        "userName eq \"non-existent user\"",
    ] {
        let r = s.get(&format!("/Users?filter={}", q(filter))).await;
        r.expect(200);
        assert_eq!(r.header("content-type"), Some("application/scim+json"));
        assert_eq!(r.body["schemas"], json!([LIST]), "{filter}");
        assert_eq!(r.body["totalResults"], 0, "{filter}");
        assert_eq!(r.body["startIndex"], 1, "{filter}");
        assert_eq!(r.body["itemsPerPage"], 0, "{filter}");
        assert_eq!(r.body["Resources"], json!([]), "{filter}");
    }
    // It fetches a random group the same way.
    let r = s
        .groups_where("displayName eq \"5e8d7c9a-0b3f-4e21-8d6c-2a9f0e1b7c34\"")
        .await;
    assert_eq!(r.body["totalResults"], 0);
}

#[tokio::test]
async fn create_flow_looks_the_user_up_then_posts_the_documented_body() {
    let s = Server::start().await;
    let user_name = "Test_User_00aa00aa-bb11-cc22-dd33-44ee44ee44ee";
    let r = s.users_where(&format!("userName eq \"{user_name}\"")).await;
    assert_eq!(r.body["totalResults"], 0);

    let r = s
        .post(
            "/Users",
            &create_user_body(
                user_name,
                "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
                "Test_User_11bb11bb-cc22-dd33-ee44-55ff55ff55ff@testuser.com",
            ),
        )
        .await;
    r.expect(201);
    let id = r.id();
    assert!(!id.is_empty());
    assert_eq!(
        r.header("location"),
        Some(format!("{}/Users/{id}", s.base).as_str())
    );
    let b = &r.body;
    assert_eq!(b["userName"], user_name);
    assert_eq!(b["externalId"], "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef");
    assert_eq!(b["active"], true);
    assert_eq!(
        b["name"],
        json!({"formatted": "givenName familyName", "familyName": "familyName", "givenName": "givenName"})
    );
    assert_eq!(
        b["emails"],
        json!([{"primary": true, "type": "work",
            "value": "Test_User_11bb11bb-cc22-dd33-ee44-55ff55ff55ff@testuser.com"}])
    );
    assert_eq!(b[ENTERPRISE]["department"], "Engineering");
    assert_eq!(b[ENTERPRISE]["employeeNumber"], "100009");
    assert!(b["schemas"].as_array().unwrap().contains(&json!(USER)));
    assert!(b["schemas"]
        .as_array()
        .unwrap()
        .contains(&json!(ENTERPRISE)));
    assert_eq!(b["meta"]["resourceType"], "User");
    assert!(b["meta"]["created"].is_string());
    assert!(b["meta"]["lastModified"].is_string());

    // "Get User by query": the next cycle finds it, in any case.
    for name in [user_name.to_string(), user_name.to_uppercase()] {
        let r = s.users_where(&format!("userName eq \"{name}\"")).await;
        assert_eq!(r.body["totalResults"], 1, "{name}");
        assert_eq!(ids(&r), vec![id.clone()]);
        assert_eq!(r.body["Resources"][0]["userName"], user_name);
        assert_eq!(r.body["Resources"][0]["active"], true);
    }
    // Users are also queried by work email (`emails[type eq "work"]`).
    let r = s
        .users_where(
            "emails[type eq \"work\"].value eq \"Test_User_11bb11bb-cc22-dd33-ee44-55ff55ff55ff@testuser.com\"",
        )
        .await;
    assert_eq!(ids(&r), vec![id.clone()]);

    // "Get User": by id.
    let r = s.get(&format!("/Users/{id}")).await;
    r.expect(200);
    assert_eq!(r.body["id"], id.as_str());
    assert_eq!(r.body["externalId"], "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef");
    // "User not found. The detail isn't required, only status."
    s.get("/Users/5171a35d82074e068ce2").await.expect(404);
}

#[tokio::test]
async fn lookup_by_external_id_finds_the_user_and_is_case_exact() {
    let s = Server::start().await;
    let id = create_test_user(&s).await;
    let r = s
        .users_where("externalId eq \"0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef\"")
        .await;
    assert_eq!(r.body["totalResults"], 1);
    assert_eq!(ids(&r), vec![id]);
    assert_eq!(
        r.body["Resources"][0]["externalId"],
        "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef"
    );
    // externalId is caseExact (RFC 7643 §3.1).
    let r = s
        .users_where("externalId eq \"0A21F0F2-8D2A-4F8E-BF98-7363C4AED4EF\"")
        .await;
    assert_eq!(r.body["totalResults"], 0);
}

#[tokio::test]
async fn update_user_multi_valued_properties_as_documented() {
    let s = Server::start().await;
    let id = create_test_user(&s).await;
    let r = s
        .patch(
            &format!("/Users/{id}"),
            &patch_op(json!([
                {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "updatedEmail@microsoft.com"},
                {"op": "Replace", "path": "name.familyName", "value": "updatedFamilyName"}
            ])),
        )
        .await;
    r.expect(200);
    assert_eq!(r.body["id"], id.as_str());
    assert_eq!(r.body["name"]["familyName"], "updatedFamilyName");
    assert_eq!(r.body["name"]["givenName"], "givenName");
    assert_eq!(
        r.body["emails"],
        json!([{"primary": true, "type": "work", "value": "updatedEmail@microsoft.com"}])
    );
    let found = s
        .users_where("emails[type eq \"work\"].value eq \"updatedEmail@microsoft.com\"")
        .await;
    assert_eq!(ids(&found), vec![id.clone()]);
    let old = s
        .users_where(
            "emails.value eq \"Test_User_11bb11bb-cc22-dd33-ee44-55ff55ff55ff@testuser.com\"",
        )
        .await;
    assert_eq!(old.body["totalResults"], 0);
}

#[tokio::test]
async fn update_user_single_valued_user_name_as_documented() {
    let s = Server::start().await;
    let id = create_test_user(&s).await;
    let r = s
        .patch(
            &format!("/Users/{id}"),
            &patch_op(json!([{
                "op": "Replace",
                "path": "userName",
                "value": "5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com"
            }])),
        )
        .await;
    r.expect(200);
    assert_eq!(
        r.body["userName"],
        "5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com"
    );
    let new = s
        .users_where("userName eq \"5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com\"")
        .await;
    assert_eq!(ids(&new), vec![id]);
    let old = s
        .users_where("userName eq \"Test_User_00aa00aa-bb11-cc22-dd33-44ee44ee44ee\"")
        .await;
    assert_eq!(old.body["totalResults"], 0);
}

#[tokio::test]
async fn patch_without_the_flag_capitalised_ops_string_booleans_and_a_path_per_op() {
    let s = Server::start().await;
    let id = create_test_user(&s).await;
    let path = format!("/Users/{id}");

    // "Requests to add a single-value string attribute", without the flag.
    let r = s
        .patch(
            &path,
            &patch_op(json!([{"op": "Add", "path": "nickName", "value": "Babs"}])),
        )
        .await;
    r.expect(200);
    assert_eq!(r.body["nickName"], "Babs");

    // "Requests to replace multiple attributes", without the flag: one op per attribute.
    let r = s
        .patch(
            &path,
            &patch_op(json!([
                {"op": "Replace", "path": "displayName", "value": "Pvlo"},
                {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "TestBcwqnm@test.microsoft.com"},
                {"op": "Replace", "path": "name.givenName", "value": "Gtfd"},
                {"op": "Replace", "path": "name.familyName", "value": "Pkqf"},
                {"op": "Replace", "path": "externalId", "value": "Eqpj"},
                {"op": "Replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber", "value": "Eqpj"}
            ])),
        )
        .await;
    r.expect(200);
    let b = &r.body;
    assert_eq!(b["displayName"], "Pvlo");
    assert_eq!(
        emails_of_type(b, "work"),
        vec![&json!({"primary": true, "type": "work", "value": "TestBcwqnm@test.microsoft.com"})]
    );
    assert_eq!(b["name"]["givenName"], "Gtfd");
    assert_eq!(b["name"]["familyName"], "Pkqf");
    assert_eq!(b["externalId"], "Eqpj");
    assert_eq!(b[ENTERPRISE]["employeeNumber"], "Eqpj");
    assert_eq!(b[ENTERPRISE]["department"], "Engineering");
    assert_eq!(b["nickName"], "Babs");
    let r = s.users_where("externalId eq \"Eqpj\"").await;
    assert_eq!(ids(&r), vec![id.clone()]);

    // "Requests made to disable users", without the flag: a string boolean.
    let r = s
        .patch(
            &path,
            &patch_op(json!([{"op": "Replace", "path": "active", "value": "False"}])),
        )
        .await;
    r.expect(200);
    assert_eq!(r.body["active"], false);
    assert_eq!(s.get(&path).await.body["active"], false);
}

#[tokio::test]
async fn patch_with_the_flag_lower_case_ops_real_booleans_and_a_pathless_replace() {
    let s = Server::start().await;
    let id = create_test_user(&s).await;
    let path = format!("/Users/{id}");

    let r = s
        .patch(
            &path,
            &patch_op(json!([{"op": "add", "path": "nickName", "value": "Babs"}])),
        )
        .await;
    r.expect(200);
    assert_eq!(r.body["nickName"], "Babs");

    // "Requests to replace multiple attributes", with the flag.
    let r = s
        .patch(
            &path,
            &patch_op(json!([
                {"op": "replace", "path": "emails[type eq \"work\"].value", "value": "TestMhvaes@test.microsoft.com"},
                {"op": "replace", "value": {
                    "displayName": "Bjfe",
                    "name.givenName": "Kkom",
                    "name.familyName": "Unua",
                    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": "Aklq"
                }}
            ])),
        )
        .await;
    r.expect(200);
    let b = &r.body;
    assert_eq!(
        emails_of_type(b, "work"),
        vec![&json!({"primary": true, "type": "work", "value": "TestMhvaes@test.microsoft.com"})]
    );
    assert_eq!(b["displayName"], "Bjfe");
    assert_eq!(
        b["name"],
        json!({"formatted": "givenName familyName", "givenName": "Kkom", "familyName": "Unua"})
    );
    assert_eq!(b[ENTERPRISE]["employeeNumber"], "Aklq");
    assert_eq!(b[ENTERPRISE]["department"], "Engineering");
    for literal in [
        "name.givenName",
        "name.familyName",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber",
    ] {
        assert!(b.get(literal).is_none(), "literal key {literal}: {b}");
    }

    // "Requests made to disable users", with the flag.
    let r = s
        .patch(
            &path,
            &patch_op(json!([{"op": "replace", "path": "active", "value": false}])),
        )
        .await;
    r.expect(200);
    assert_eq!(r.body["active"], false);
}

#[tokio::test]
async fn capitalised_pathless_replace_with_dotted_and_qualified_keys_and_string_booleans() {
    let s = Server::start().await;
    let id = create_test_user(&s).await;
    let r = s
        .patch(
            &format!("/Users/{id}"),
            &patch_op(json!([{"op": "Replace", "value": {
                "name.givenName": "Ann",
                "name.familyName": "Lee",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department": "Finance",
                "title": "Controller",
                "active": "False"
            }}])),
        )
        .await;
    r.expect(200);
    let b = &r.body;
    assert_eq!(b["name"]["givenName"], "Ann");
    assert_eq!(b["name"]["familyName"], "Lee");
    assert_eq!(b[ENTERPRISE]["department"], "Finance");
    assert_eq!(b[ENTERPRISE]["employeeNumber"], "100009");
    assert_eq!(b["title"], "Controller");
    assert_eq!(b["active"], false);
    assert!(b.get("name.givenName").is_none(), "{b}");
    let got = s.get(&format!("/Users/{id}")).await;
    assert_eq!(got.body["name"]["givenName"], "Ann");
    assert_eq!(got.body["active"], false);
}

#[tokio::test]
async fn a_work_email_or_work_address_that_does_not_exist_yet_is_created() {
    let s = Server::start().await;
    let id = s
        .user_from(
            &json!({"schemas": [USER], "userName": "noaddress@contoso.com", "active": true,
            "emails": [{"type": "other", "value": "private@example.org"}]}),
        )
        .await;
    let r = s
        .patch(
            &format!("/Users/{id}"),
            &patch_op(json!([
                {"op": "Add", "path": "emails[type eq \"work\"].value", "value": "noaddress@contoso.com"},
                {"op": "Replace", "path": "addresses[type eq \"work\"].formatted", "value": "1 Microsoft Way, Redmond"},
                {"op": "Replace", "path": "addresses[type eq \"work\"].streetAddress", "value": "1 Microsoft Way"},
                {"op": "Add", "path": "addresses[type eq \"work\"].postalCode", "value": "98052"},
                {"op": "Replace", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+1 555 0100"}
            ])),
        )
        .await;
    r.expect(200);
    let b = &r.body;
    assert_eq!(
        emails_of_type(b, "work"),
        vec![&json!({"type": "work", "value": "noaddress@contoso.com"})]
    );
    assert_eq!(
        emails_of_type(b, "other"),
        vec![&json!({"type": "other", "value": "private@example.org"})]
    );
    assert_eq!(
        b["addresses"],
        json!([{"type": "work", "formatted": "1 Microsoft Way, Redmond",
            "streetAddress": "1 Microsoft Way", "postalCode": "98052"}])
    );
    assert_eq!(
        b["phoneNumbers"],
        json!([{"type": "mobile", "value": "+1 555 0100"}])
    );
    // Replacing it again changes the one value, it does not add a second.
    let r = s
        .patch(
            &format!("/Users/{id}"),
            &patch_op(json!([
                {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "renamed@contoso.com"},
                {"op": "Replace", "path": "addresses[type eq \"work\"].formatted", "value": "2 Main St"}
            ])),
        )
        .await;
    r.expect(200);
    assert_eq!(
        emails_of_type(&r.body, "work"),
        vec![&json!({"type": "work", "value": "renamed@contoso.com"})]
    );
    assert_eq!(r.body["addresses"].as_array().unwrap().len(), 1);
    assert_eq!(r.body["addresses"][0]["formatted"], "2 Main St");
    assert_eq!(r.body["addresses"][0]["postalCode"], "98052");
}

#[tokio::test]
async fn manager_as_a_bare_id_string_is_set_and_cleared_by_empty_string_or_remove() {
    let s = Server::start().await;
    let boss = s.user("boss@contoso.com").await;
    let id = create_test_user(&s).await;
    let path = format!("/Users/{id}");
    let manager = format!("{ENTERPRISE}:manager");

    let r = s
        .patch(
            &path,
            &patch_op(json!([{"op": "Add", "path": manager, "value": boss}])),
        )
        .await;
    r.expect(200);
    assert_eq!(r.body[ENTERPRISE]["manager"]["value"], boss.as_str());
    assert_eq!(r.body[ENTERPRISE]["department"], "Engineering");

    // Cleared with "".
    let r = s
        .patch(
            &path,
            &patch_op(json!([{"op": "Replace", "path": manager, "value": ""}])),
        )
        .await;
    r.expect(200);
    assert!(r.body[ENTERPRISE].get("manager").is_none(), "{}", r.text);
    assert_eq!(r.body[ENTERPRISE]["department"], "Engineering");

    // Set again with Replace, then cleared with Remove.
    let r = s
        .patch(
            &path,
            &patch_op(json!([{"op": "Replace", "path": manager, "value": boss}])),
        )
        .await;
    r.expect(200);
    assert_eq!(r.body[ENTERPRISE]["manager"]["value"], boss.as_str());
    let r = s
        .patch(&path, &patch_op(json!([{"op": "Remove", "path": manager}])))
        .await;
    r.expect(200);
    assert!(r.body[ENTERPRISE].get("manager").is_none(), "{}", r.text);
    assert!(s.get(&path).await.body[ENTERPRISE].get("manager").is_none());

    // The same in a path-less Replace, as a qualified key.
    let r = s
        .patch(
            &path,
            &patch_op(json!([{"op": "Replace", "value": {manager.as_str(): boss}}])),
        )
        .await;
    r.expect(200);
    assert_eq!(r.body[ENTERPRISE]["manager"]["value"], boss.as_str());
}

#[tokio::test]
async fn manager_added_as_in_the_tutorial_example_with_an_unqualified_path() {
    // Tutorial, "Example 5. Request from Microsoft Entra ID to an SCIM endpoint to update a
    // user": `"path":"manager"` with a `$ref`/`value` array.
    let s = Server::start().await;
    let boss = s.user("boss@contoso.com").await;
    let id = create_test_user(&s).await;
    let r = s
        .patch(
            &format!("/Users/{id}"),
            &patch_op(json!([{
                "op": "Add",
                "path": "manager",
                "value": [{
                    "$ref": format!("{}/Users/{boss}", s.base),
                    "value": boss
                }]
            }])),
        )
        .await;
    r.expect(200);
    assert_eq!(r.body[ENTERPRISE]["manager"]["value"], boss.as_str());
}

#[tokio::test]
async fn soft_delete_keeps_the_user_visible_with_active_false_and_reactivation_restores_it() {
    let s = Server::start().await;
    let id = create_test_user(&s).await;
    let path = format!("/Users/{id}");
    // The tutorial's "Disable User" request.
    let r = s
        .patch(
            &path,
            &json!({"Operations": [{"op": "Replace", "path": "active", "value": false}],
                "schemas": [PATCH_OP]}),
        )
        .await;
    r.expect(200);
    assert_eq!(r.body["active"], false);
    assert_eq!(
        r.body["userName"],
        "Test_User_00aa00aa-bb11-cc22-dd33-44ee44ee44ee"
    );

    // "The user object should be returned in a request whether or not the user is active."
    let r = s.get(&path).await;
    r.expect(200);
    assert_eq!(r.body["active"], false);
    for filter in [
        "userName eq \"Test_User_00aa00aa-bb11-cc22-dd33-44ee44ee44ee\"",
        "externalId eq \"0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef\"",
    ] {
        let r = s.users_where(filter).await;
        assert_eq!(ids(&r), vec![id.clone()], "{filter}");
        assert_eq!(r.body["Resources"][0]["active"], false, "{filter}");
    }
    let all = s.get("/Users").await;
    assert_eq!(all.body["totalResults"], 1);
    assert_eq!(all.body["Resources"][0]["active"], false);

    // Restoring: `active=true`, as the string Entra sends without the flag.
    let r = s
        .patch(
            &path,
            &patch_op(json!([{"op": "Replace", "path": "active", "value": "True"}])),
        )
        .await;
    r.expect(200);
    assert_eq!(r.body["active"], true);
    assert_eq!(s.get(&path).await.body["active"], true);
}

#[tokio::test]
async fn hard_delete_answers_204_and_the_user_is_gone_everywhere() {
    let s = Server::start().await;
    let id = create_test_user(&s).await;
    let g = s.group("Sales").await;
    s.patch(
        &format!("/Groups/{g}"),
        &patch_op(json!([{"op": "Add", "path": "members", "value": [{"value": id}]}])),
    )
    .await
    .expect(204);
    let r = s.delete(&format!("/Users/{id}")).await;
    r.expect(204);
    assert!(r.text.is_empty());
    s.get(&format!("/Users/{id}")).await.expect(404);
    let r = s
        .users_where("userName eq \"Test_User_00aa00aa-bb11-cc22-dd33-44ee44ee44ee\"")
        .await;
    assert_eq!(r.body["totalResults"], 0);
    let r = s
        .users_where("externalId eq \"0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef\"")
        .await;
    assert_eq!(r.body["totalResults"], 0);
    assert!(s.member_ids(&g).await.is_empty());
    s.delete(&format!("/Users/{id}")).await.expect(404);
}

#[tokio::test]
async fn group_lifecycle_as_entra_drives_it() {
    let s = Server::start().await;
    let u1 = s.user("u1@contoso.com").await;
    let u2 = s.user("u2@contoso.com").await;
    let u3 = s.user("u3@contoso.com").await;

    // Lookup before create (always without members).
    let r = s.groups_where("displayName eq \"displayName\"").await;
    assert_eq!(r.body["totalResults"], 0);

    // "Create Group", with Entra's extra schema URN.
    let r = s
        .post(
            "/Groups",
            &json!({
                "schemas": [GROUP, AD_GROUP],
                "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
                "displayName": "displayName",
                "meta": {"resourceType": "Group"}
            }),
        )
        .await;
    r.expect(201);
    let g = r.id();
    assert_eq!(r.body["displayName"], "displayName");
    assert_eq!(r.body["externalId"], "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159");
    assert_eq!(r.body["meta"]["resourceType"], "Group");
    assert!(r.body["members"].as_array().is_none_or(|m| m.is_empty()));
    let group_path = format!("/Groups/{g}");

    // "Get Group" and "Get Group by displayName" (the documented parameter order).
    let r = s
        .get(&format!("/Groups/{g}?excludedAttributes=members"))
        .await;
    r.expect(200);
    assert_eq!(r.body["displayName"], "displayName");
    assert!(r.body.get("members").is_none());
    let r = s
        .get(&format!(
            "/Groups?excludedAttributes=members&filter={}",
            q("displayName eq \"displayName\"")
        ))
        .await;
    r.expect(200);
    assert_eq!(r.body["totalResults"], 1);
    assert_eq!(ids(&r), vec![g.clone()]);
    assert!(r.body["Resources"][0].get("members").is_none());
    let r = s
        .groups_where("externalId eq \"8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159\"")
        .await;
    assert_eq!(ids(&r), vec![g.clone()]);

    // "Update Group [Add Members]": several values at once, `$ref: null` as documented.
    let r = s
        .patch(
            &group_path,
            &patch_op(json!([{"op": "Add", "path": "members", "value": [
                {"$ref": null, "value": u1},
                {"$ref": null, "value": u2},
                {"$ref": null, "value": u3}
            ]}])),
        )
        .await;
    r.expect(204);
    assert!(r.text.is_empty(), "{}", r.text);
    let mut all = vec![u1.clone(), u2.clone(), u3.clone()];
    all.sort();
    assert_eq!(s.member_ids(&g).await, all);

    // Membership check: `id eq` and `members.value eq`, without members.
    for (u, expected) in [(u1.clone(), 1), ("not-a-member".to_string(), 0)] {
        let r = s
            .groups_where(&format!("id eq \"{g}\" and members.value eq \"{u}\""))
            .await;
        assert_eq!(r.body["totalResults"], expected, "{u}");
        if expected == 1 {
            assert_eq!(ids(&r), vec![g.clone()]);
            assert!(r.body["Resources"][0].get("members").is_none());
        }
    }

    // Remove with the flag: `members[value eq "id"]`.
    let r = s
        .patch(
            &group_path,
            &patch_op(json!([{"op": "remove", "path": format!("members[value eq \"{u1}\"]")}])),
        )
        .await;
    r.expect(204);
    let mut rest = vec![u2.clone(), u3.clone()];
    rest.sort();
    assert_eq!(s.member_ids(&g).await, rest);
    let r = s
        .groups_where(&format!("id eq \"{g}\" and members.value eq \"{u1}\""))
        .await;
    assert_eq!(r.body["totalResults"], 0);

    // "Update Group [Remove Members]" without the flag: a value array; only that one goes.
    let r = s
        .patch(
            &group_path,
            &patch_op(json!([{"op": "Remove", "path": "members", "value": [{"$ref": null, "value": u2}]}])),
        )
        .await;
    r.expect(204);
    assert_eq!(s.member_ids(&g).await, vec![u3.clone()]);

    // Removing someone who is not (or no longer) a member is not an error.
    s.patch(
        &group_path,
        &patch_op(json!([{"op": "Remove", "path": "members", "value": [{"value": u1}]}])),
    )
    .await
    .expect(204);
    assert_eq!(s.member_ids(&g).await, vec![u3.clone()]);

    // "Update Group [Non-member attributes]".
    let new_name = "1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName";
    let r = s
        .patch(
            &group_path,
            &patch_op(json!([{"op": "Replace", "path": "displayName", "value": new_name}])),
        )
        .await;
    r.expect(204);
    assert!(r.text.is_empty());
    let r = s
        .groups_where(&format!("displayName eq \"{new_name}\""))
        .await;
    assert_eq!(ids(&r), vec![g.clone()]);
    let r = s.groups_where("displayName eq \"displayName\"").await;
    assert_eq!(r.body["totalResults"], 0);
    assert_eq!(s.member_ids(&g).await, vec![u3.clone()]);

    // A body only when asked for with `attributes`.
    let r = s
        .patch(
            &format!("{group_path}?attributes=displayName"),
            &patch_op(json!([{"op": "Replace", "path": "displayName", "value": "Final"}])),
        )
        .await;
    r.expect(200);
    assert_eq!(r.body["displayName"], "Final");
    assert_eq!(r.body["id"], g.as_str());

    // "Delete Group".
    let r = s.delete(&group_path).await;
    r.expect(204);
    s.get(&group_path).await.expect(404);
    s.get(&format!("/Users/{u3}")).await.expect(200);
    let r = s.get(&format!("/Users/{u3}")).await;
    assert!(r.body["groups"].as_array().is_none_or(|g| g.is_empty()));
}

#[tokio::test]
async fn guest_users_are_matched_by_ext_user_name_and_by_object_id() {
    let s = Server::start().await;
    let upn = "ann_contoso.com#EXT#@fabrikam.onmicrosoft.com";
    let object_id = "7f4bc1a3-285e-48ae-8202-5accb43efb0e";
    let before = s.users_where(&format!("userName eq \"{upn}\"")).await;
    assert_eq!(before.body["totalResults"], 0);
    let r = s
        .post(
            "/Users",
            &json!({
                "schemas": [USER, ENTERPRISE],
                "externalId": object_id,
                "userName": upn,
                "active": true,
                "displayName": "Ann (Contoso)",
                "emails": [{"primary": true, "type": "work", "value": "ann@contoso.com"}],
                "meta": {"resourceType": "User"},
                "name": {"givenName": "Ann", "familyName": "Guest"}
            }),
        )
        .await;
    r.expect(201);
    let id = r.id();
    assert_eq!(r.body["userName"], upn);

    // `#` is sent percent-encoded (%23); it must not be taken for a fragment.
    let encoded = q(&format!("userName eq \"{upn}\""));
    assert!(encoded.contains("%23EXT%23"), "{encoded}");
    for name in [upn.to_string(), upn.to_uppercase(), upn.to_lowercase()] {
        let r = s.users_where(&format!("userName eq \"{name}\"")).await;
        assert_eq!(ids(&r), vec![id.clone()], "{name}");
        assert_eq!(r.body["Resources"][0]["userName"], upn);
    }
    let r = s
        .users_where(&format!("externalId eq \"{object_id}\""))
        .await;
    assert_eq!(ids(&r), vec![id.clone()]);
    let r = s.users_where("emails.value eq \"ann@contoso.com\"").await;
    assert_eq!(ids(&r), vec![id.clone()]);

    // Updated and soft-deleted like any user.
    let r = s
        .patch(
            &format!("/Users/{id}"),
            &patch_op(
                json!([{"op": "Replace", "path": "displayName", "value": "Ann Guest"},
                {"op": "Replace", "path": "active", "value": "False"}]),
            ),
        )
        .await;
    r.expect(200);
    assert_eq!(r.body["displayName"], "Ann Guest");
    assert_eq!(r.body["active"], false);
    let r = s.users_where(&format!("userName eq \"{upn}\"")).await;
    assert_eq!(r.body["Resources"][0]["active"], false);
}

#[tokio::test]
async fn stray_id_and_schemas_keys_inside_patch_values_do_not_fail_the_request() {
    let s = Server::start().await;
    let id = create_test_user(&s).await;
    let r = s
        .patch(
            &format!("/Users/{id}"),
            &patch_op(json!([{"op": "Replace", "value": {
                "id": id,
                "schemas": [USER, ENTERPRISE],
                "meta": {"resourceType": "User"},
                "displayName": "Stray Keys",
                "active": "False"
            }}])),
        )
        .await;
    r.expect(200);
    assert_eq!(r.body["id"], id.as_str());
    assert_eq!(r.body["displayName"], "Stray Keys");
    assert_eq!(r.body["active"], false);
    assert_eq!(r.body["schemas"][0], USER);

    // Inside an extension object too.
    let r = s
        .patch(
            &format!("/Users/{id}"),
            &patch_op(json!([{"op": "Replace", "path": ENTERPRISE,
                "value": {"schemas": [ENTERPRISE], "id": id, "department": "Ops"}}])),
        )
        .await;
    r.expect(200);
    assert_eq!(r.body[ENTERPRISE]["department"], "Ops");

    // And inside member values of a group.
    let g = s.group("Stray").await;
    let r = s
        .patch(
            &format!("/Groups/{g}"),
            &patch_op(json!([
                {"op": "Replace", "value": {"id": g, "schemas": [GROUP], "displayName": "Stray 2"}},
                {"op": "Add", "path": "members", "value": [{"value": id, "id": id, "schemas": [USER], "$ref": null}]}
            ])),
        )
        .await;
    r.expect(204);
    assert_eq!(s.member_ids(&g).await, vec![id]);
    let r = s.get(&format!("/Groups/{g}")).await;
    assert_eq!(r.body["displayName"], "Stray 2");
    assert_eq!(r.body["id"], g.as_str());
}
