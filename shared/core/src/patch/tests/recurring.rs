//! The PATCH items of "Recurring failures in other servers" in `clients.md`.

use super::*;

/// 1. Removing one member with a value array removes all members, or fails.
#[test]
fn a_remove_with_value_array_removes_only_those_members() {
    for value in [
        json!([{"value": "a"}, {"value": "b"}]),
        json!([{"value": "a", "$ref": null, "display": "A"}, {"value": "b", "type": "User"}]),
        json!([{"value": "a", "id": "a", "schemas": ["x"]}, "b"]),
    ] {
        let out = group(
            a_group(),
            json!([{"op": "Remove", "path": "members", "value": value.clone()}]),
        );
        assert_eq!(
            out.members,
            MemberChanges {
                replace_all: false,
                added: vec![],
                removed: vec!["a".into(), "b".into()]
            },
            "{value}"
        );
    }
    // An empty array removes nobody, rather than everybody.
    let out = group(
        a_group(),
        json!([{"op": "Remove", "path": "members", "value": []}]),
    );
    assert!(out.members.is_empty());
}

/// 2. Capitalised ops or string booleans rejected; deactivation silently ignored.
#[test]
fn capitalised_ops_and_string_booleans_are_applied() {
    for (op, value) in [
        ("Replace", json!("False")),
        ("REPLACE", json!("false")),
        ("replace", json!(" FALSE ")),
        ("Add", json!("False")),
    ] {
        let out = user(
            bjensen(),
            json!([{"op": op, "path": "active", "value": value.clone()}]),
        );
        assert_eq!(out.doc["active"], false, "{op} {value}");
        assert_eq!(changed(&out), ["active"]);
    }
    let out = user(
        bjensen(),
        json!([{"Op": "Replace", "Value": {"active": "False"}}]),
    );
    assert_eq!(out.doc["active"], false);
    assert_eq!(
        user_err(
            bjensen(),
            json!([{"op": "Replace", "path": "active", "value": "nope"}])
        ),
        ScimType::InvalidValue
    );
}

/// 3. Dotted keys in path-less ops stored as literal keys.
#[test]
fn dotted_keys_in_path_less_ops_land_in_their_attribute() {
    let out = user(
        bare_user(),
        json!([{"op": "add", "value": {"name.givenName": "Ann", "NAME.familyName": "Lee"}}]),
    );
    assert_eq!(
        doc_json(&out),
        json!({"userName": "ann", "name": {"givenName": "Ann", "familyName": "Lee"}})
    );
}

/// 4. `emails[type eq "work"].value` paths rejected, so the whole PATCH (and the
///    deactivation in it) is retried forever.
#[test]
fn a_filtered_email_path_is_accepted_alongside_a_deactivation() {
    let out = user(
        bjensen(),
        json!([
            {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "b.jensen@example.com"},
            {"op": "Replace", "path": "active", "value": "False"}
        ]),
    );
    assert_eq!(out.doc["emails"][0]["value"], "b.jensen@example.com");
    assert_eq!(out.doc["emails"][1]["value"], "babs@jensen.org");
    assert_eq!(out.doc["active"], false);
    assert_eq!(changed(&out), ["active", "emails"]);
}

/// 5. `manager` as a string rejected.
#[test]
fn manager_as_a_string_is_accepted_everywhere() {
    for ops in [
        json!([{"op": "Add", "path": ent("manager"), "value": "m1"}]),
        json!([{"op": "Replace", "value": {ent("manager"): "m1"}}]),
        json!([{"op": "Replace", "value": {ENTERPRISE_USER_URN: {"manager": "m1"}}}]),
        json!([{"op": "Replace", "path": ent("manager.value"), "value": "m1"}]),
        json!([{"op": "Replace", "path": ent("manager"), "value": ["m1"]}]),
    ] {
        let out = user(bare_user(), ops.clone());
        assert_eq!(
            out.doc[ENTERPRISE_USER_URN],
            json!({"manager": {"value": "m1"}}),
            "{ops}"
        );
    }
}

/// 9 and 10. Large groups loaded whole; concurrent membership PATCHes losing members.
///
/// Every membership operation becomes a change set computed without the member list.
#[test]
fn membership_changes_never_need_the_member_list() {
    let out = group(
        a_group(),
        json!([
            {"op": "Add", "path": "members", "value": [{"value": "a"}, {"value": "b"}]},
            {"op": "Remove", "path": "members[value eq \"c\" or value eq \"d\"]"},
            {"op": "Remove", "path": "members", "value": [{"value": "e"}]}
        ]),
    );
    assert_eq!(
        out.members,
        MemberChanges {
            replace_all: false,
            added: vec![member("a"), member("b")],
            removed: vec!["c".into(), "d".into(), "e".into()]
        }
    );
    assert!(out.doc.get("members").is_none());
    // Even a stored document that wrongly holds members comes back without them.
    let mut doc = stored(ResourceKind::Group, a_group());
    doc.insert("members".into(), json!([{"value": "x"}]));
    let out = patch(
        ResourceKind::Group,
        &doc,
        &body(json!([{"op": "add", "path": "members", "value": [{"value": "y"}]}])),
    )
    .unwrap();
    assert!(out.doc.get("members").is_none());
    assert_eq!(changed(&out), ["members"]);
}
