//! Entitlements and roles for Okta Identity Governance: the product defines its catalog
//! (the application API's `PUT /app/v1/entitlements` and `/roles`, or `scim-admin catalog`),
//! Okta discovers it and reads it, and users carry their assignments.
//!
//! The requests follow Okta's documents:
//! - "Build a SCIM 2.0 server with entitlements" (developer.okta.com/docs/guides/
//!   scim-with-entitlements/main/): the call sequence `/ResourceTypes` → `/Schemas` → every
//!   endpoint a resource type with the schema `urn:okta:scim:schemas:core:1.0:Entitlement`
//!   or `...:Role` names; the catalog values' `id`/`displayName`/`type`; a user's
//!   `entitlements` (`value`, `display`, `type` = the category, e.g. `License`, `Profile`)
//!   and `roles` (`value`, `display`);
//! - the "Okta SCIM 2.0 Entitlements Test" (Okta-SCIM-20-Entitlements-Test.json, Runscope):
//!   `GET {SCIMBaseURL}{EntitlementEndpoint}?count=1&startIndex=1` with `Accept:
//!   application/scim+json`, `User-Agent: OKTA SCIM Integration`, asserting 200, a non-empty
//!   `Resources`, the ListResponse schema, numeric `startIndex` and `totalResults`, and
//!   `itemsPerPage` 1;
//! - the "Okta SCIM 2.0 with entitlements CRUD test" (Okta-SCIM-20-With-Entitlements-CRUD-
//!   Test.json): it drives Okta's own API (create an Okta user, assign it to the app with
//!   entitlements, change them, unassign) and checks what reached the SCIM server. Only its
//!   opening steps were readable to us; the SCIM requests below are those Okta's SCIM 2.0
//!   reference documents for each of those steps (the `userName eq` check, POST the user
//!   with its assignments, PUT the whole user on a profile change, PATCH `active: false`),
//!   plus RFC 7644 §3.5.2 PATCHes of the assignments (add a value; remove one by a value
//!   filter), as a client that changes one grant sends them.
//!
//! Run on both engines (the embedded one, and DynamoDB Local under `with-dynamodb-local`).

use crate::harness::{q20, Resp, Server, TENANT};
use reqwest::Method;
use scim_core::schema::{LIST_RESPONSE_URN as LIST, PATCH_OP_URN as PATCH_OP, USER_SCHEMA_URN};
use serde_json::{json, Value};

const ENTITLEMENT_URN: &str = "urn:okta:scim:schemas:core:1.0:Entitlement";
const ROLE_URN: &str = "urn:okta:scim:schemas:core:1.0:Role";

/// The catalog a product defines: licences and profiles (two categories of entitlement),
/// and roles.
async fn define_catalog(s: &Server) {
    let r = s
        .app(
            Method::PUT,
            "/entitlements",
            Some(&json!({"entitlements": [
                {"id": "lic-pro", "displayName": "Pro licence", "type": "License",
                 "description": "Every feature"},
                {"id": "lic-basic", "displayName": "Basic licence", "type": "License"},
                {"id": "profile-123", "displayName": "Profile 123", "type": "Profile"},
            ]})),
        )
        .await;
    r.expect(200);
    assert_eq!(r.body["entitlements"][0]["id"], "lic-basic", "in id order");
    s.app(
        Method::PUT,
        "/roles",
        Some(&json!({"roles": [
            {"id": "role-1", "displayName": "First Role"},
            {"id": "role-2", "displayName": "Second Role"},
        ]})),
    )
    .await
    .expect(200);
}

/// A request as Okta's Runscope tests send it.
async fn okta_get(s: &Server, path: &str) -> Resp {
    s.send(
        Method::GET,
        path,
        None,
        &[
            ("Accept", "application/scim+json"),
            ("Accept-Charset", "utf-8"),
            ("User-Agent", "OKTA SCIM Integration"),
        ],
    )
    .await
}

fn values(list: &Value) -> Vec<String> {
    let mut v: Vec<String> = list
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|i| i["value"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[tokio::test]
async fn okta_discovers_the_catalog_reads_it_and_provisions_users_with_entitlements_and_roles() {
    let s = Server::start().await;
    define_catalog(&s).await;

    // 1. /ResourceTypes: Okta finds the endpoints of every resource type with its
    //    Entitlement or Role schema.
    let types = okta_get(&s, "/ResourceTypes").await;
    types.expect(200);
    let mut endpoints: Vec<(String, String)> = types.body["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["schema"] == ENTITLEMENT_URN || t["schema"] == ROLE_URN)
        .map(|t| {
            (
                t["schema"].as_str().unwrap().to_string(),
                t["endpoint"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    endpoints.sort();
    assert_eq!(
        endpoints,
        [
            (ENTITLEMENT_URN.to_string(), "/Entitlements".to_string()),
            (ROLE_URN.to_string(), "/Roles".to_string())
        ]
    );
    // 2. /Schemas: Okta knows these two schemas, but they are there for any other client.
    let schema = okta_get(&s, &format!("/Schemas/{ENTITLEMENT_URN}")).await;
    schema.expect(200);
    assert_eq!(schema.body["id"], ENTITLEMENT_URN);

    // 3. The Entitlements Test, on each endpoint: one value per page.
    for (_, endpoint) in &endpoints {
        let r = okta_get(&s, &format!("{endpoint}?count=1&startIndex=1")).await;
        r.expect(200);
        assert_eq!(r.body["schemas"], json!([LIST]), "{endpoint}");
        assert!(
            !r.body["Resources"].as_array().unwrap().is_empty(),
            "{endpoint}"
        );
        assert!(r.body["startIndex"].is_u64() && r.body["totalResults"].is_u64());
        assert_eq!(r.body["itemsPerPage"], 1, "{endpoint}");
    }
    // ... and the import of every value, page by page.
    let mut seen = Vec::new();
    let mut start = 1;
    // Bounded: a server that ignored startIndex would otherwise be read for ever.
    for _ in 0..10 {
        let r = okta_get(&s, &format!("/Entitlements?startIndex={start}&count=2")).await;
        r.expect(200);
        assert_eq!(r.body["totalResults"], 3);
        let page = r.body["Resources"].as_array().unwrap().clone();
        if page.is_empty() {
            break;
        }
        for e in &page {
            assert_eq!(e["schemas"], json!([ENTITLEMENT_URN]));
            seen.push(e["id"].as_str().unwrap().to_string());
        }
        start += page.len();
    }
    assert_eq!(start, 4, "the import ends after the last page");
    assert_eq!(seen, ["lic-basic", "lic-pro", "profile-123"]);
    let roles = okta_get(&s, "/Roles").await;
    assert_eq!(
        roles.body["Resources"][0],
        json!({"schemas": [ROLE_URN], "id": "role-1", "displayName": "First Role",
               "meta": {"resourceType": "Role", "location": s.url("/Roles/role-1")}})
    );

    // Assign: the user-exists check, then the user with its grants.
    let user_name = "ent.user@okta.local";
    let found = s
        .get(&format!(
            "/Users?filter={}&startIndex=1&count=100",
            q20(&format!("userName eq \"{user_name}\""))
        ))
        .await;
    assert_eq!(found.body["totalResults"], 0);
    let body = json!({
        "schemas": [USER_SCHEMA_URN],
        "userName": user_name,
        "name": {"givenName": "Ent", "familyName": "User"},
        "emails": [{"primary": true, "value": user_name, "type": "work"}],
        "active": true,
        "entitlements": [
            {"value": "lic-pro", "display": "Pro licence", "type": "License"},
            {"value": "profile-123", "display": "Profile 123", "type": "Profile"}
        ],
        "roles": [{"value": "role-1", "display": "First Role"}]
    });
    let created = s.post("/Users", &body).await;
    created.expect(201);
    let id = created.id();
    assert_eq!(
        values(&created.body["entitlements"]),
        ["lic-pro", "profile-123"]
    );
    assert_eq!(created.body["entitlements"][0]["type"], "License");
    assert_eq!(values(&created.body["roles"]), ["role-1"]);

    // A grant changes: one entitlement added, one removed by a value filter.
    let r = s
        .patch(
            &format!("/Users/{id}"),
            &json!({"schemas": [PATCH_OP], "Operations": [
                {"op": "add", "path": "entitlements",
                 "value": [{"value": "lic-basic", "display": "Basic licence", "type": "License"}]},
                {"op": "remove", "path": "entitlements[value eq \"lic-pro\"]"}
            ]}),
        )
        .await;
    r.expect(200);
    assert_eq!(
        values(&r.body["entitlements"]),
        ["lic-basic", "profile-123"]
    );
    // A profile change: Okta PUTs the whole user, grants included.
    let mut put = body.clone();
    put["roles"] = json!([{"value": "role-2", "display": "Second Role"}]);
    put["entitlements"] = json!([{"value": "lic-basic", "type": "License"}]);
    let r = s.put(&format!("/Users/{id}"), &put).await;
    r.expect(200);
    assert_eq!(values(&r.body["roles"]), ["role-2"]);
    assert_eq!(values(&r.body["entitlements"]), ["lic-basic"]);
    let got = s.get(&format!("/Users/{id}")).await;
    assert_eq!(values(&got.body["roles"]), ["role-2"]);

    // A value outside the catalog is refused, and the user keeps what it had.
    let r = s
        .patch(
            &format!("/Users/{id}"),
            &json!({"schemas": [PATCH_OP], "Operations": [
                {"op": "add", "path": "entitlements", "value": [{"value": "lic-gold", "type": "License"}]}
            ]}),
        )
        .await;
    r.expect(400);
    assert_eq!(r.scim_type(), "invalidValue");
    assert!(r.body["detail"].as_str().unwrap().contains("lic-gold"));
    let mut bad = body.clone();
    bad["userName"] = json!("other@okta.local");
    bad["roles"] = json!([{"value": "role-9"}]);
    let r = s.post("/Users", &bad).await;
    r.expect(400);
    assert!(r.body["detail"].as_str().unwrap().contains("role-9"));
    let got = s.get(&format!("/Users/{id}")).await;
    assert_eq!(values(&got.body["entitlements"]), ["lic-basic"]);

    // The product reads the grants in the user summary.
    let summary = s.app(Method::GET, &format!("/users/{id}"), None).await;
    summary.expect(200);
    assert_eq!(
        summary.body["entitlements"],
        json!([{"value": "lic-basic", "display": null, "type": "License", "primary": false}])
    );
    assert_eq!(summary.body["roles"][0]["value"], "role-2");

    // Unassign: deactivate.
    s.patch(
        &format!("/Users/{id}"),
        &json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "value": {"active": false}}]}),
    )
    .await
    .expect(200);
}

#[tokio::test]
async fn the_catalog_answers_filters_projection_single_values_and_scim_errors() {
    let s = Server::start().await;
    define_catalog(&s).await;
    let list = |filter: &str| format!("/Entitlements?filter={}", q20(filter));
    let r = s.get(&list("type eq \"License\"")).await;
    r.expect(200);
    assert_eq!(r.body["totalResults"], 2);
    let r = s.get(&list("displayName eq \"profile 123\"")).await;
    assert_eq!(r.body["totalResults"], 1, "displayName is case-insensitive");
    assert_eq!(r.body["Resources"][0]["id"], "profile-123");
    let r = s.get(&list("id eq \"lic-pro\"")).await;
    assert_eq!(r.body["Resources"][0]["description"], "Every feature");
    let r = s
        .get("/Entitlements?attributes=displayName&filter=id%20eq%20%22lic-pro%22")
        .await;
    assert_eq!(
        r.body["Resources"][0],
        json!({"schemas": [ENTITLEMENT_URN], "id": "lic-pro", "displayName": "Pro licence"})
    );
    let r = s
        .get("/Entitlements/lic-pro?excludedAttributes=description,type")
        .await;
    r.expect(200);
    assert!(r.body.get("description").is_none() && r.body.get("type").is_none());
    assert_eq!(r.body["displayName"], "Pro licence");
    assert_eq!(r.body["meta"]["location"], s.url("/Entitlements/lic-pro"));

    let r = s.get("/Entitlements/lic-gold").await;
    r.expect(404);
    assert_eq!(r.body["status"], "404");
    s.get(&format!("/Roles/{}", "r".repeat(300)))
        .await
        .expect(404);
    let r = s.get(&list("displayName eq")).await;
    r.expect(400);
    assert_eq!(r.scim_type(), "invalidFilter");
    s.get("/Roles?sortBy=displayName").await.expect(400);
    let r = s
        .post("/Roles", &json!({"id": "x", "displayName": "x"}))
        .await;
    r.expect(405);
    assert_eq!(r.header("allow"), Some("GET"));
    s.send(Method::DELETE, "/Entitlements/lic-pro", None, &[])
        .await
        .expect(405);
    // The same authentication as every SCIM route.
    let r = s
        .raw(
            Method::GET,
            "/Entitlements",
            &[("Authorization", "Bearer wrong")],
            Vec::new(),
        )
        .await;
    r.expect(401);
}

#[tokio::test]
async fn without_a_catalog_any_role_is_kept_and_the_lists_are_empty() {
    let s = Server::start().await;
    let r = s.get("/Entitlements").await;
    r.expect(200);
    assert_eq!(r.body["totalResults"], 0);
    // Microsoft Entra's app roles, with no catalog defined: kept as sent.
    let r = s
        .post(
            "/Users",
            &json!({"userName": "entra@contoso.com", "roles": [
                {"value": "Admin", "display": "Admin", "type": "WindowsAzureActiveDirectoryRole", "primary": true}
            ]}),
        )
        .await;
    r.expect(201);
    assert_eq!(values(&r.body["roles"]), ["Admin"]);
    let id = r.id();
    // Once a roles catalog exists, a role outside it is refused; the role the user already
    // held stays through other changes.
    s.app(
        Method::PUT,
        "/roles",
        Some(&json!({"roles": [{"id": "Reader", "displayName": "Reader"}]})),
    )
    .await
    .expect(200);
    s.patch(
        &format!("/Users/{id}"),
        &json!({"Operations": [{"op": "replace", "path": "displayName", "value": "Entra User"}]}),
    )
    .await
    .expect(200);
    s.patch(
        &format!("/Users/{id}"),
        &json!({"Operations": [{"op": "add", "path": "roles", "value": [{"value": "Writer"}]}]}),
    )
    .await
    .expect(400);
    let r = s
        .patch(
            &format!("/Users/{id}"),
            &json!({"Operations": [{"op": "add", "path": "roles", "value": [{"value": "Reader"}]}]}),
        )
        .await;
    r.expect(200);
    assert_eq!(values(&r.body["roles"]), ["Admin", "Reader"]);
    // An empty list removes the catalog, and with it the check.
    s.app(Method::PUT, "/roles", Some(&json!({"roles": []})))
        .await
        .expect(200);
    s.patch(
        &format!("/Users/{id}"),
        &json!({"Operations": [{"op": "add", "path": "roles", "value": [{"value": "Writer"}]}]}),
    )
    .await
    .expect(200);
}

#[tokio::test]
async fn the_product_replaces_the_catalog_whole_and_bad_catalogs_are_problems() {
    let s = Server::start().await;
    define_catalog(&s).await;
    // Replace: one kept (renamed), one new, the rest gone.
    let r = s
        .app(
            Method::PUT,
            "/entitlements",
            Some(&json!({"entitlements": [
                {"id": "lic-pro", "displayName": "Professional", "type": "License"},
                {"id": "lic-team", "displayName": "Team", "type": "License"},
            ]})),
        )
        .await;
    r.expect(200);
    let got = s.app(Method::GET, "/entitlements", None).await;
    got.expect(200);
    assert_eq!(got.body, r.body);
    let scim = s.get("/Entitlements").await;
    let ids: Vec<&str> = scim.body["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["lic-pro", "lic-team"]);
    assert_eq!(scim.body["Resources"][0]["displayName"], "Professional");
    s.get("/Entitlements/profile-123").await.expect(404);

    let problem = |r: &Resp, status: u16, says: &str| {
        assert_eq!(r.status.as_u16(), status, "{}", r.text);
        assert_eq!(r.header("content-type"), Some("application/problem+json"));
        assert!(
            r.body["detail"].as_str().unwrap().contains(says),
            "{}",
            r.text
        );
    };
    let s = &s;
    let put = |body: Value| async move { s.app(Method::PUT, "/entitlements", Some(&body)).await };
    problem(
        &put(json!({"entitlements": [{"id": "a"}]})).await,
        400,
        "entitlements[0]: 'displayName'",
    );
    problem(
        &put(json!({"entitlements": [{"id": "a", "displayName": "A"}, {"id": "a", "displayName": "B"}]}))
            .await,
        400,
        "given twice",
    );
    problem(&put(json!({"roles": []})).await, 400, "'roles'");
    problem(&put(json!({})).await, 400, "Send");
    let many: Vec<Value> = (0..1001)
        .map(|i| json!({"id": format!("e{i}"), "displayName": "E"}))
        .collect();
    problem(
        &put(json!({"entitlements": many})).await,
        400,
        "At most 1000",
    );
    problem(
        &s.app(Method::DELETE, "/entitlements", None).await,
        405,
        "not allowed",
    );
    // Nothing of the refused bodies was written.
    let got = s.app(Method::GET, "/entitlements", None).await;
    assert_eq!(got.body["entitlements"].as_array().unwrap().len(), 2);
}

/// `scim-admin catalog`: the same check and store call as the application API.
#[tokio::test]
async fn the_admin_command_sets_the_catalog_from_a_file_and_prints_it() {
    use aws_sdk_secretsmanager::config::{BehaviorVersion, Region};
    let s = Server::start().await;
    let sm = aws_sdk_secretsmanager::Client::from_conf(
        aws_sdk_secretsmanager::Config::builder()
            .http_client(scim_aws::sdk::http_client())
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .build(),
    );
    let dir = std::env::temp_dir().join(format!("scim-catalog-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let run = |file: Option<&str>| {
        let mut args = vec![
            "catalog".to_string(),
            "--tenant".into(),
            TENANT.into(),
            "--table".into(),
            s.store.table().to_string(),
        ];
        if let Some(f) = file {
            let path = dir.join("catalog.json");
            std::fs::write(&path, f).unwrap();
            args.extend(["--file".to_string(), path.display().to_string()]);
        }
        let (sm, client) = (sm.clone(), s.store.client().clone());
        async move {
            let (mut out, mut err) = (Vec::new(), Vec::new());
            let code = scim_admin::run_with(&sm, Some(&client), &args, &mut out, &mut err).await;
            (
                code,
                String::from_utf8(out).unwrap(),
                String::from_utf8(err).unwrap(),
            )
        }
    };
    let (code, out, err) = run(Some(
        r#"{"roles": [{"id": "admin", "displayName": "Administrator", "description": "All of it"}],
            "entitlements": [{"id": "seat", "displayName": "Seat", "type": "License"}]}"#,
    ))
    .await;
    assert_eq!(code, 0, "{err}");
    let printed: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(printed["roles"][0]["id"], "admin");
    assert_eq!(printed["entitlements"][0]["type"], "License");
    let r = s.get("/Roles/admin").await;
    r.expect(200);
    assert_eq!(r.body["description"], "All of it");
    // A kind left out of the file is kept; a bad file changes nothing.
    let (code, _, _) = run(Some(r#"{"entitlements": []}"#)).await;
    assert_eq!(code, 0);
    let (code, _, err) = run(Some(r#"{"roles": [{"id": "x/y", "displayName": "X"}]}"#)).await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("roles[0]"), "{err}");
    let (code, out, _) = run(None).await;
    assert_eq!(code, 0);
    let printed: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(
        printed,
        json!({"entitlements": [], "roles": [
            {"id": "admin", "displayName": "Administrator", "description": "All of it"}
        ]})
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// Every key carries the tenant: another tenant's catalog is neither listed nor used to
/// check this tenant's users.
#[tokio::test]
async fn another_tenants_catalog_is_invisible() {
    use scim_core::catalog::parse_entries;
    use scim_core::schema::CatalogKind;
    use scim_service::port::CatalogAdmin;
    let s = Server::start().await;
    let theirs = parse_entries(
        CatalogKind::Role,
        &json!([{"id": "their-role", "displayName": "Theirs"}]),
    )
    .unwrap();
    s.store
        .replace_catalog("tenant-b", CatalogKind::Role, &theirs)
        .await
        .unwrap();
    let r = s.get("/Roles").await;
    r.expect(200);
    assert_eq!(r.body["totalResults"], 0, "{}", r.text);
    s.get("/Roles/their-role").await.expect(404);
    // With no roles catalog of its own, this tenant keeps any role.
    s.post(
        "/Users",
        &json!({"userName": "iso@okta.local", "roles": [{"value": "mine"}]}),
    )
    .await
    .expect(201);
}
