//! Every PATCH body of Okta's "SCIM 2.0 protocol reference" (users: activation and
//! deactivation; groups: Group Push rename and membership), plus what Group Push sends.

use super::*;

#[test]
fn deactivate_and_reactivate_a_user_with_a_path_less_replace() {
    let out = user(
        bjensen(),
        json!([{"op": "replace", "value": {"active": false}}]),
    );
    assert_eq!(out.doc["active"], false);
    assert_eq!(changed(&out), ["active"]);
    let out = patch(
        ResourceKind::User,
        &out.doc,
        &body(json!([{"op": "replace", "value": {"active": true}}])),
    )
    .unwrap();
    assert_eq!(out.doc["active"], true);
    assert_eq!(out.doc, stored(ResourceKind::User, bjensen()));
}

#[test]
fn group_push_rename_ignores_the_id_in_the_value() {
    let out = group(
        a_group(),
        json!([{"op": "replace", "value": {
            "id": "abf4dd94-a4c0-4f67-89c9-76b03340cb9b",
            "displayName": "Test SCIMv2"
        }}]),
    );
    assert_eq!(
        doc_json(&out),
        json!({"displayName": "Test SCIMv2", "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159"})
    );
    assert_eq!(changed(&out), ["displayName"]);
    assert!(out.members.is_empty());
}

#[test]
fn group_push_membership_remove_by_filter_and_add_without_type() {
    let out = group(
        a_group(),
        json!([
            {"op": "remove", "path": "members[value eq \"89bb1940-b905-4575-9e7f-6f887cfb368e\"]"},
            {"op": "add", "path": "members", "value": [{
                "value": "23a35c27-23d3-4c03-b4c5-6443c09e7173",
                "display": "test.user@okta.local"
            }]}
        ]),
    );
    assert_eq!(
        out.members,
        MemberChanges {
            replace_all: false,
            added: vec![Member {
                value: "23a35c27-23d3-4c03-b4c5-6443c09e7173".into(),
                type_: None,
                display: Some("test.user@okta.local".into()),
            }],
            removed: vec!["89bb1940-b905-4575-9e7f-6f887cfb368e".into()],
        }
    );
}

#[test]
fn group_push_replace_with_members_and_display_name_in_one_value() {
    let out = group(
        a_group(),
        json!([{"op": "replace", "value": {
            "id": "abf4dd94-a4c0-4f67-89c9-76b03340cb9b",
            "displayName": "Test SCIMv2",
            "members": [{"value": "u1", "display": "One"}, {"value": "u2", "type": "user"}]
        }}]),
    );
    assert_eq!(out.doc["displayName"], "Test SCIMv2");
    assert!(out.members.replace_all);
    assert_eq!(
        out.members.added,
        vec![
            Member {
                value: "u1".into(),
                type_: None,
                display: Some("One".into())
            },
            Member {
                value: "u2".into(),
                type_: Some("User".into()),
                display: None
            },
        ]
    );
    assert_eq!(changed(&out), ["displayName", "members"]);
}
