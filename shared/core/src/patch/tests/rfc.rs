//! The examples of RFC 7644 §3.5.2 and the rules they illustrate.

use super::*;

const BABS: &str = "2819c223-7f76-453a-919d-413861904646";
const JAMES: &str = "08e1d05d-121c-4561-8b96-473d93df9210";

fn babs_and_james() -> Value {
    json!([
        {
            "display": "Babs Jensen",
            "$ref": format!("https://example.com/v2/Users/{BABS}"),
            "value": BABS
        },
        {
            "display": "James Smith",
            "$ref": format!("https://example.com/v2/Users/{JAMES}"),
            "value": JAMES
        }
    ])
}

fn with_display(id: &str, display: &str) -> Member {
    Member {
        display: Some(display.to_string()),
        ..member(id)
    }
}

#[test]
fn the_example_path_values_of_figure_8_all_parse() {
    for text in [
        "members",
        "name.familyName",
        r#"addresses[type eq "work"]"#,
        r#"members[value eq "2819c223-7f76-453a-919d-413861904646"]"#,
        r#"members[value eq "2819c223-7f76-453a-919d-413861904646"].displayName"#,
    ] {
        assert!(PatchPath::parse(text).is_ok(), "{text}");
    }
}

#[test]
fn an_add_of_members_adds_them_with_their_display() {
    let out = group(
        a_group(),
        json!([{
            "op": "add",
            "path": "members",
            "value": [{
                "display": "Babs Jensen",
                "$ref": format!("https://example.com/v2/Users/{BABS}"),
                "value": BABS
            }]
        }]),
    );
    assert_eq!(out.members.added, vec![with_display(BABS, "Babs Jensen")]);
    assert!(!out.members.replace_all && out.members.removed.is_empty());
    assert_eq!(changed(&out), ["members"]);
    assert!(out.doc.get("members").is_none());
}

#[test]
fn an_add_without_path_adds_every_attribute_of_its_value() {
    // §3.5.2.1: note the lower-case "nickname".
    let out = user(
        json!({"userName": "bjensen", "emails": [{"value": "bjensen@example.com", "type": "work"}]}),
        json!([{
            "op": "add",
            "value": {
                "emails": [{"value": "babs@jensen.org", "type": "home"}],
                "nickname": "Babs"
            }
        }]),
    );
    assert_eq!(
        doc_json(&out),
        json!({
            "userName": "bjensen",
            "emails": [
                {"value": "bjensen@example.com", "type": "work"},
                {"value": "babs@jensen.org", "type": "home"}
            ],
            "nickName": "Babs"
        })
    );
    assert_eq!(changed(&out), ["emails", "nickName"]);
}

#[test]
fn a_remove_with_a_member_filter_removes_that_member() {
    let out = group(
        a_group(),
        json!([{"op": "remove", "path": format!("members[value eq \"{BABS}\"]")}]),
    );
    assert_eq!(out.members.removed, vec![BABS.to_string()]);
    assert!(!out.members.replace_all && out.members.added.is_empty());
}

#[test]
fn a_remove_of_members_without_filter_or_value_removes_all_members() {
    let out = group(a_group(), json!([{"op": "remove", "path": "members"}]));
    assert_eq!(
        out.members,
        MemberChanges {
            replace_all: true,
            added: vec![],
            removed: vec![]
        }
    );
}

#[test]
fn a_remove_with_a_compound_filter_removes_only_matching_values() {
    let out = user(
        json!({"userName": "b", "emails": [
            {"value": "b@example.com", "type": "work"},
            {"value": "b@other.org", "type": "work"},
            {"value": "b2@example.com", "type": "home"}
        ]}),
        json!([{"op": "remove", "path": r#"emails[type eq "work" and value ew "example.com"]"#}]),
    );
    assert_eq!(
        out.doc["emails"],
        json!([{"value": "b@other.org", "type": "work"}, {"value": "b2@example.com", "type": "home"}])
    );
}

#[test]
fn a_remove_of_all_members_then_an_add_replaces_the_membership() {
    let out = group(
        a_group(),
        json!([
            {"op": "remove", "path": "members"},
            {"op": "add", "path": "members", "value": babs_and_james()}
        ]),
    );
    assert!(out.members.replace_all);
    assert_eq!(
        out.members.added,
        vec![
            with_display(JAMES, "James Smith"),
            with_display(BABS, "Babs Jensen")
        ]
    );
}

#[test]
fn a_replace_of_members_replaces_the_membership() {
    let out = group(
        a_group(),
        json!([{"op": "replace", "path": "members", "value": babs_and_james()}]),
    );
    assert!(out.members.replace_all);
    assert_eq!(out.members.added.len(), 2);
    assert!(out.members.removed.is_empty());
}

#[test]
fn a_replace_of_a_filtered_address_replaces_the_whole_element() {
    let address = json!({
        "type": "work",
        "streetAddress": "911 Universal City Plaza",
        "locality": "Hollywood",
        "region": "CA",
        "postalCode": "91608",
        "country": "US",
        "formatted": "911 Universal City Plaza\nHollywood, CA 91608 US",
        "primary": true
    });
    let out = user(
        bjensen(),
        json!([{"op": "replace", "path": r#"addresses[type eq "work"]"#, "value": address}]),
    );
    let addresses = out.doc["addresses"].as_array().unwrap();
    assert_eq!(addresses.len(), 2);
    assert_eq!(addresses[0], address);
    assert_eq!(addresses[1]["type"], "home");
    assert_eq!(changed(&out), ["addresses"]);
}

#[test]
fn a_replace_of_a_filtered_sub_attribute_changes_only_that_sub_attribute() {
    let out = user(
        bjensen(),
        json!([{
            "op": "replace",
            "path": r#"addresses[type eq "work"].streetAddress"#,
            "value": "1010 Broadway Ave"
        }]),
    );
    let work = &out.doc["addresses"][0];
    assert_eq!(work["streetAddress"], "1010 Broadway Ave");
    assert_eq!(work["locality"], "Hollywood");
    assert_eq!(
        out.doc["addresses"][1]["streetAddress"],
        "456 Hollywood Blvd"
    );
}

#[test]
fn a_replace_without_path_replaces_each_attribute_it_names() {
    let out = user(
        bjensen(),
        json!([{
            "op": "replace",
            "value": {
                "emails": [
                    {"value": "bjensen@example.com", "type": "work", "primary": true},
                    {"value": "babs@jensen.org", "type": "home"}
                ],
                "nickname": "Babs"
            }
        }]),
    );
    // Same values as before: nothing changed.
    assert!(out.changed.is_empty(), "{:?}", out.changed);
    let out = user(
        bjensen(),
        json!([{"op": "replace", "value": {"emails": [{"value": "new@example.com", "type": "work"}], "nickname": "B"}}]),
    );
    assert_eq!(
        out.doc["emails"],
        json!([{"value": "new@example.com", "type": "work"}])
    );
    assert_eq!(out.doc["nickName"], "B");
    assert_eq!(changed(&out), ["emails", "nickName"]);
}

#[test]
fn a_remove_without_path_is_no_target() {
    assert_eq!(
        user_err(bjensen(), json!([{"op": "remove"}])),
        ScimType::NoTarget
    );
    assert_eq!(
        group_err(
            a_group(),
            json!([{"op": "remove", "value": [{"value": BABS}]}])
        ),
        ScimType::NoTarget
    );
}

#[test]
fn an_add_of_a_value_already_there_changes_nothing() {
    let out = user(
        bjensen(),
        json!([
            {"op": "add", "path": "emails", "value": [{"value": "babs@jensen.org", "type": "home"}]},
            {"op": "add", "path": "nickName", "value": "Babs"}
        ]),
    );
    assert!(out.changed.is_empty(), "{:?}", out.changed);
    assert_eq!(out.doc, stored(ResourceKind::User, bjensen()));
}

#[test]
fn setting_primary_on_one_value_unsets_it_on_the_others() {
    for op in ["add", "replace"] {
        let out = user(
            bjensen(),
            json!([
                {"op": op, "path": r#"emails[type eq "home"].primary"#, "value": true},
                {"op": op, "path": r#"addresses[type eq "home"].primary"#, "value": "True"}
            ]),
        );
        assert_eq!(out.doc["emails"][0].get("primary"), None, "{op}");
        assert_eq!(out.doc["emails"][1]["primary"], true, "{op}");
        assert_eq!(out.doc["addresses"][0].get("primary"), None, "{op}");
        assert_eq!(out.doc["addresses"][1]["primary"], true, "{op}");
    }
}

#[test]
fn removing_a_required_attribute_is_a_mutability_error() {
    assert_eq!(
        user_err(bjensen(), json!([{"op": "remove", "path": "userName"}])),
        ScimType::Mutability
    );
    assert_eq!(
        user_err(
            bjensen(),
            json!([{"op": "replace", "path": "userName", "value": null}])
        ),
        ScimType::Mutability
    );
    assert_eq!(
        group_err(
            a_group(),
            json!([{"op": "replace", "path": "displayName", "value": ""}])
        ),
        ScimType::Mutability
    );
}

#[test]
fn a_filter_matching_nothing_that_describes_no_element_is_no_target() {
    for (op, path) in [
        (
            "replace",
            r#"emails[type eq "other" or type eq "home2"].value"#,
        ),
        ("replace", r#"emails[value co "nowhere"].display"#),
        (
            "add",
            r#"addresses[type ne "work" and type ne "home"].formatted"#,
        ),
    ] {
        assert_eq!(
            user_err(bjensen(), json!([{"op": op, "path": path, "value": "x"}])),
            ScimType::NoTarget,
            "{path}"
        );
    }
}

#[test]
fn a_remove_with_a_filter_matching_nothing_succeeds_without_change() {
    let out = user(
        bjensen(),
        json!([
            {"op": "remove", "path": r#"emails[type eq "other"]"#},
            {"op": "remove", "path": r#"phoneNumbers[type eq "fax"].value"#}
        ]),
    );
    assert!(out.changed.is_empty());
}
