//! Every PATCH body of Microsoft's "Tutorial: Develop and plan provisioning for a SCIM
//! endpoint in Microsoft Entra ID" and "Known issues and resolutions with SCIM 2.0 protocol
//! compliance of the Microsoft Entra user provisioning service" (with and without the
//! `aadOptscim062020` flag), and Entra's `manager` handling.

use super::*;

#[test]
fn update_user_multi_valued_properties() {
    let out = user(
        entra_user(),
        json!([
            {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "updatedEmail@microsoft.com"},
            {"op": "Replace", "path": "name.familyName", "value": "updatedFamilyName"}
        ]),
    );
    assert_eq!(
        out.doc["emails"],
        json!([{"value": "updatedEmail@microsoft.com", "type": "work", "primary": true}])
    );
    assert_eq!(out.doc["name"]["familyName"], "updatedFamilyName");
    assert_eq!(out.doc["name"]["givenName"], "givenName");
    assert_eq!(changed(&out), ["emails", "name"]);
}

#[test]
fn update_user_single_valued_properties() {
    let out = user(
        entra_user(),
        json!([{"op": "Replace", "path": "userName", "value": "5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com"}]),
    );
    assert_eq!(
        out.doc["userName"],
        "5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com"
    );
    assert_eq!(changed(&out), ["userName"]);
}

#[test]
fn disable_user_in_every_dialect() {
    for ops in [
        // Tutorial.
        json!([{"op": "Replace", "path": "active", "value": false}]),
        // Known issues, without the flag.
        json!([{"op": "Replace", "path": "active", "value": "False"}]),
        // Known issues, with the flag.
        json!([{"op": "replace", "path": "active", "value": false}]),
    ] {
        let out = user(entra_user(), ops.clone());
        assert_eq!(out.doc["active"], false, "{ops}");
        assert_eq!(changed(&out), ["active"], "{ops}");
    }
}

#[test]
fn add_a_single_value_string_attribute_with_and_without_the_flag() {
    for op in ["Add", "add"] {
        let out = user(
            entra_user(),
            json!([{"op": op, "path": "nickName", "value": "Babs"}]),
        );
        assert_eq!(out.doc["nickName"], "Babs");
    }
}

#[test]
fn replace_multiple_attributes_without_the_flag() {
    let out = user(
        entra_user(),
        json!([
            {"op": "Replace", "path": "displayName", "value": "Pvlo"},
            {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "TestBcwqnm@test.microsoft.com"},
            {"op": "Replace", "path": "name.givenName", "value": "Gtfd"},
            {"op": "Replace", "path": "name.familyName", "value": "Pkqf"},
            {"op": "Replace", "path": "externalId", "value": "Eqpj"},
            {"op": "Replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber", "value": "Eqpj"}
        ]),
    );
    assert_eq!(out.doc["displayName"], "Pvlo");
    assert_eq!(
        out.doc["emails"][0]["value"],
        "TestBcwqnm@test.microsoft.com"
    );
    assert_eq!(out.doc["name"]["givenName"], "Gtfd");
    assert_eq!(out.doc["name"]["familyName"], "Pkqf");
    assert_eq!(out.doc["externalId"], "Eqpj");
    assert_eq!(out.doc[ENTERPRISE_USER_URN]["employeeNumber"], "Eqpj");
    assert_eq!(
        changed(&out),
        [
            "displayName",
            "emails",
            "externalId",
            "name",
            ent("employeeNumber").as_str(),
        ]
    );
}

#[test]
fn replace_multiple_attributes_with_the_flag() {
    let out = user(
        entra_user(),
        json!([
            {"op": "replace", "path": "emails[type eq \"work\"].value", "value": "TestMhvaes@test.microsoft.com"},
            {"op": "replace", "value": {
                "displayName": "Bjfe",
                "name.givenName": "Kkom",
                "name.familyName": "Unua",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": "Aklq"
            }}
        ]),
    );
    assert_eq!(
        out.doc["emails"][0]["value"],
        "TestMhvaes@test.microsoft.com"
    );
    assert_eq!(out.doc["displayName"], "Bjfe");
    assert_eq!(
        out.doc["name"],
        json!({"formatted": "givenName familyName", "givenName": "Kkom", "familyName": "Unua"})
    );
    assert_eq!(
        out.doc[ENTERPRISE_USER_URN],
        json!({"employeeNumber": "Aklq"})
    );
    assert!(out.doc.get("name.givenName").is_none());
}

#[test]
fn update_group_non_member_attributes() {
    let out = group(
        a_group(),
        json!([{"op": "Replace", "path": "displayName", "value": "1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName"}]),
    );
    assert_eq!(
        out.doc["displayName"],
        "1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName"
    );
    assert_eq!(changed(&out), ["displayName"]);
    assert!(out.members.is_empty());
}

#[test]
fn update_group_add_members_with_a_null_ref() {
    let out = group(
        a_group(),
        json!([{"op": "Add", "path": "members", "value": [{"$ref": null, "value": "f648f8d5ea4e4cd38e9c"}]}]),
    );
    assert_eq!(out.members.added, vec![member("f648f8d5ea4e4cd38e9c")]);
    assert!(!out.members.replace_all);
}

#[test]
fn update_group_remove_members_with_a_value_array() {
    let out = group(
        a_group(),
        json!([{"op": "Remove", "path": "members", "value": [{"$ref": null, "value": "f648f8d5ea4e4cd38e9c"}]}]),
    );
    assert_eq!(
        out.members.removed,
        vec!["f648f8d5ea4e4cd38e9c".to_string()]
    );
    assert!(!out.members.replace_all && out.members.added.is_empty());
}

#[test]
fn remove_a_group_member_with_and_without_the_flag() {
    let without = group(
        a_group(),
        json!([{"op": "Remove", "path": "members", "value": [{"value": "u1091"}]}]),
    );
    assert_eq!(without.members.removed, vec!["u1091".to_string()]);
    assert!(!without.members.replace_all);
    let with = group(
        a_group(),
        json!([{"op": "remove", "path": "members[value eq \"7f4bc1a3-285e-48ae-8202-5accb43efb0e\"]"}]),
    );
    assert_eq!(
        with.members.removed,
        vec!["7f4bc1a3-285e-48ae-8202-5accb43efb0e".to_string()]
    );
    assert!(!with.members.replace_all);
}

#[test]
fn an_add_of_a_work_email_that_does_not_exist_creates_it() {
    // The forum thread "Entra ID patch sending Add instead of Replace", on a user without
    // a work email and on one with.
    let ops = json!([
        {"op": "Replace", "path": "title", "value": "tester"},
        {"op": "Add", "path": "emails[type eq \"work\"].value", "value": "joe@joe.com"}
    ]);
    let out = user(bare_user(), ops.clone());
    assert_eq!(
        out.doc["emails"],
        json!([{"type": "work", "value": "joe@joe.com"}])
    );
    assert_eq!(out.doc["title"], "tester");
    let out = user(entra_user(), ops);
    assert_eq!(
        out.doc["emails"],
        json!([{"value": "joe@joe.com", "type": "work", "primary": true}])
    );
}

#[test]
fn a_replace_of_a_work_address_that_does_not_exist_creates_it() {
    let out = user(
        entra_user(),
        json!([{"op": "Replace", "path": "addresses[type eq \"work\"].formatted", "value": "1 Main St\nSpringfield"}]),
    );
    assert_eq!(
        out.doc["addresses"],
        json!([{"type": "work", "formatted": "1 Main St\nSpringfield"}])
    );
    assert_eq!(changed(&out), ["addresses"]);
}

#[test]
fn manager_as_a_bare_id_in_colon_and_dot_form() {
    for path in [
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User.manager",
    ] {
        for op in ["Add", "Replace"] {
            let out = user(
                entra_user(),
                json!([{"op": op, "path": path, "value": "b2f7e0a7-1d0c-4b4c-9f8a-2c3e5d6f7a8b"}]),
            );
            assert_eq!(
                out.doc[ENTERPRISE_USER_URN]["manager"],
                json!({"value": "b2f7e0a7-1d0c-4b4c-9f8a-2c3e5d6f7a8b"}),
                "{op} {path}"
            );
            assert_eq!(changed(&out), [ent("manager")]);
        }
    }
}

#[test]
fn a_new_manager_id_replaces_the_old_manager_whole() {
    let out = user(
        bjensen(),
        json!([{"op": "Add", "path": ent("manager"), "value": "new-boss"}]),
    );
    assert_eq!(
        out.doc[ENTERPRISE_USER_URN]["manager"],
        json!({"value": "new-boss"})
    );
    assert_eq!(
        out.doc[ENTERPRISE_USER_URN]["department"],
        "Tour Operations"
    );
}

#[test]
fn manager_cleared_by_an_empty_string_or_a_remove() {
    for ops in [
        json!([{"op": "Replace", "path": ent("manager"), "value": ""}]),
        json!([{"op": "Add", "path": ent("manager"), "value": ""}]),
        json!([{"op": "Remove", "path": ent("manager")}]),
        json!([{"op": "Remove", "path": ent("manager"), "value": [{"value": "26118915-6090-4610-87e4-49d8ca9f808d"}]}]),
        json!([{"op": "replace", "value": {ENTERPRISE_USER_URN: {"manager": ""}}}]),
        json!([{"op": "replace", "value": {ent("manager"): null}}]),
    ] {
        let out = user(bjensen(), ops.clone());
        assert!(
            out.doc[ENTERPRISE_USER_URN].get("manager").is_none(),
            "{ops}"
        );
        assert_eq!(
            out.doc[ENTERPRISE_USER_URN]["department"],
            "Tour Operations"
        );
        assert_eq!(changed(&out), [ent("manager")], "{ops}");
    }
    // Clearing the last enterprise attribute drops the extension object.
    let out = user(
        json!({"userName": "a", ENTERPRISE_USER_URN: {"manager": "m"}}),
        json!([{"op": "Remove", "path": ent("manager")}]),
    );
    assert_eq!(doc_json(&out), json!({"userName": "a"}));
}

#[test]
fn schema_qualified_keys_in_a_path_less_value_land_in_the_extension() {
    for value in [
        json!({ent("department"): "Sales", ent("manager"): "boss"}),
        json!({ENTERPRISE_USER_URN: {"department": "Sales", "manager": "boss"}}),
        json!({"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User.department": "Sales",
               ENTERPRISE_USER_URN: {"manager": {"value": "boss"}}}),
    ] {
        let out = user(
            entra_user(),
            json!([{"op": "Replace", "value": value.clone()}]),
        );
        assert_eq!(
            out.doc[ENTERPRISE_USER_URN],
            json!({"department": "Sales", "manager": {"value": "boss"}}),
            "{value}"
        );
        assert_eq!(changed(&out), [ent("department"), ent("manager")]);
    }
}

#[test]
fn a_path_less_replace_with_dotted_name_keys_updates_the_name() {
    let out = user(
        entra_user(),
        json!([{"op": "Replace", "value": {"name.givenName": "A", "name.familyName": "B"}}]),
    );
    assert_eq!(
        out.doc["name"],
        json!({"formatted": "givenName familyName", "givenName": "A", "familyName": "B"})
    );
}

/// `AppRoleAssignmentsComplex` without the flag: each role is JSON inside a string (the
/// example of Microsoft's "Customize user provisioning attribute-mappings").
#[test]
fn app_role_assignments_complex_strings_become_roles_and_remove_by_value() {
    let role = |v: &str, d: &str| json!({"value": json!({"id": "06b07648-ecfe-589f-9d2f-6325724a46ee", "value": v, "displayName": d}).to_string()});
    let out = user(
        entra_user(),
        json!([{"op": "Add", "path": "roles", "value": [role("25", "Role1234"), role("26", "Other")]}]),
    );
    assert_eq!(
        out.doc["roles"],
        json!([
            {"value": "25", "display": "Role1234", "primary": false},
            {"value": "26", "display": "Other", "primary": false}
        ])
    );
    // Removed by the inner value, whatever the display name says now.
    let out = user(
        Value::Object(out.doc),
        json!([{"op": "Remove", "path": "roles", "value": [role("25", "Renamed")]}]),
    );
    assert_eq!(
        out.doc["roles"],
        json!([{"value": "26", "display": "Other", "primary": false}])
    );
    // Not an assignment: a plain value, as written.
    let out = user(
        Value::Object(out.doc),
        json!([{"op": "add", "path": "roles", "value": [{"value": "{\"no\": 1}"}]}]),
    );
    assert_eq!(out.doc["roles"][1], json!({"value": "{\"no\": 1}"}));
}
