//! The semantics this module chooses where RFC 7644 §3.5.2 leaves room, and its errors.

use super::*;

/// `(behaviour, stored user, operations, expected document)`.
type Case = (&'static str, Value, Value, Value);

fn check(cases: Vec<Case>) {
    for (name, resource, ops, want) in cases {
        let out = run(ResourceKind::User, resource, ops)
            .unwrap_or_else(|e| panic!("{name}: PATCH failed: {e}"));
        assert_eq!(doc_json(&out), want, "{name}");
    }
}

#[test]
fn single_valued_and_complex_attributes() {
    check(vec![
        (
            "add on a single-valued attribute sets it",
            json!({"userName": "a", "title": "x"}),
            json!([{"op": "add", "path": "TITLE", "value": "y"}]),
            json!({"userName": "a", "title": "y"}),
        ),
        (
            "add on a complex attribute merges its sub-attributes",
            json!({"userName": "a", "name": {"givenName": "A", "familyName": "B"}}),
            json!([{"op": "add", "path": "name", "value": {"familyName": "C", "middleName": "M"}}]),
            json!({"userName": "a", "name": {"givenName": "A", "familyName": "C", "middleName": "M"}}),
        ),
        (
            "replace on a complex attribute leaves unnamed sub-attributes alone",
            json!({"userName": "a", "name": {"givenName": "A", "familyName": "B"}}),
            json!([{"op": "replace", "path": "name", "value": {"givenName": "Z"}}]),
            json!({"userName": "a", "name": {"givenName": "Z", "familyName": "B"}}),
        ),
        (
            "a null sub-attribute in a complex value unassigns it",
            json!({"userName": "a", "name": {"givenName": "A", "familyName": "B"}}),
            json!([{"op": "replace", "path": "name", "value": {"givenName": null}}]),
            json!({"userName": "a", "name": {"familyName": "B"}}),
        ),
        (
            "unknown and read-only sub-attributes inside a complex value are ignored",
            json!({"userName": "a"}),
            json!([{"op": "add", "path": ent("manager"), "value": {"value": "m", "displayName": "Boss", "x": 1}}]),
            json!({"userName": "a", ENTERPRISE_USER_URN: {"manager": {"value": "m"}}}),
        ),
        (
            "a sub-attribute path creates its parent",
            json!({"userName": "a"}),
            json!([{"op": "add", "path": "name.givenName", "value": "A"}]),
            json!({"userName": "a", "name": {"givenName": "A"}}),
        ),
        (
            "removing the last sub-attribute unassigns the parent",
            json!({"userName": "a", "name": {"givenName": "A"}}),
            json!([{"op": "remove", "path": "name.givenName"}]),
            json!({"userName": "a"}),
        ),
        (
            "add or replace with null unassigns",
            json!({"userName": "a", "title": "x", "nickName": "n", "name": {"givenName": "A"}}),
            json!([
                {"op": "add", "path": "title", "value": null},
                {"op": "replace", "path": "nickName", "value": null},
                {"op": "replace", "path": "name", "value": null}
            ]),
            json!({"userName": "a"}),
        ),
        (
            "a one-element array for a single value is that value; an empty one is null",
            json!({"userName": "a", "title": "x"}),
            json!([
                {"op": "replace", "path": "displayName", "value": ["D"]},
                {"op": "replace", "path": "title", "value": []}
            ]),
            json!({"userName": "a", "displayName": "D"}),
        ),
        (
            "remove of an attribute that is not there changes nothing",
            json!({"userName": "a"}),
            json!([
                {"op": "remove", "path": "title"},
                {"op": "remove", "path": "name.givenName"},
                {"op": "remove", "path": "emails"},
                {"op": "remove", "path": ent("department")}
            ]),
            json!({"userName": "a"}),
        ),
        (
            "values are coerced by the registry",
            json!({"userName": "a"}),
            json!([
                {"op": "add", "path": "urn:ietf:params:scim:schemas:extension:contact:2.0:User:endDate", "value": "2025-12-31"},
                {"op": "add", "path": ent("employeeNumber"), "value": 42}
            ]),
            json!({
                "userName": "a",
                ENTERPRISE_USER_URN: {"employeeNumber": "42"},
                "urn:ietf:params:scim:schemas:extension:contact:2.0:User": {"endDate": "2025-12-31T00:00:00Z"}
            }),
        ),
        (
            "a path that is just an extension URN sets that extension's attributes",
            json!({"userName": "a", ENTERPRISE_USER_URN: {"division": "D"}}),
            json!([{"op": "replace", "path": ENTERPRISE_USER_URN, "value": {"department": "X"}}]),
            json!({"userName": "a", ENTERPRISE_USER_URN: {"division": "D", "department": "X"}}),
        ),
    ]);
}

#[test]
fn multi_valued_attributes() {
    let two = json!({"userName": "a", "emails": [
        {"value": "w@x", "type": "work", "primary": true},
        {"value": "h@x", "type": "home"}
    ]});
    check(vec![
        (
            "add appends and skips exact duplicates",
            two.clone(),
            json!([{"op": "add", "path": "emails", "value": [{"value": "h@x", "type": "home"}, {"value": "o@x", "type": "other"}]}]),
            json!({"userName": "a", "emails": [
                {"value": "w@x", "type": "work", "primary": true},
                {"value": "h@x", "type": "home"},
                {"value": "o@x", "type": "other"}
            ]}),
        ),
        (
            "add of a single object appends it",
            json!({"userName": "a"}),
            json!([{"op": "add", "path": "emails", "value": {"value": "w@x", "type": "work"}}]),
            json!({"userName": "a", "emails": [{"value": "w@x", "type": "work"}]}),
        ),
        (
            "an added primary value takes primary from the others",
            two.clone(),
            json!([{"op": "add", "path": "emails", "value": [{"value": "n@x", "primary": "True"}]}]),
            json!({"userName": "a", "emails": [
                {"value": "w@x", "type": "work"},
                {"value": "h@x", "type": "home"},
                {"value": "n@x", "primary": true}
            ]}),
        ),
        (
            "add of null or [] to a multi-valued attribute adds nothing",
            two.clone(),
            json!([{"op": "add", "path": "emails", "value": null}, {"op": "add", "path": "emails", "value": []}]),
            two.clone(),
        ),
        (
            "replace without filter replaces every value",
            two.clone(),
            json!([{"op": "replace", "path": "emails", "value": [{"value": "n@x"}]}]),
            json!({"userName": "a", "emails": [{"value": "n@x"}]}),
        ),
        (
            "replace with [] unassigns",
            two.clone(),
            json!([{"op": "replace", "path": "emails", "value": []}]),
            json!({"userName": "a"}),
        ),
        (
            "remove without filter removes every value",
            two.clone(),
            json!([{"op": "remove", "path": "emails"}]),
            json!({"userName": "a"}),
        ),
        (
            "remove with a value removes only the listed values (case-insensitively)",
            two.clone(),
            json!([{"op": "remove", "path": "emails", "value": [{"value": "H@X"}]}]),
            json!({"userName": "a", "emails": [{"value": "w@x", "type": "work", "primary": true}]}),
        ),
        (
            "a sub-attribute without filter applies to every value",
            two.clone(),
            json!([{"op": "replace", "path": "emails.display", "value": "Ann"}]),
            json!({"userName": "a", "emails": [
                {"value": "w@x", "type": "work", "primary": true, "display": "Ann"},
                {"value": "h@x", "type": "home", "display": "Ann"}
            ]}),
        ),
        (
            "a sub-attribute without filter creates a value when there is none",
            json!({"userName": "a"}),
            json!([{"op": "add", "path": "emails.value", "value": "w@x"}]),
            json!({"userName": "a", "emails": [{"value": "w@x"}]}),
        ),
    ]);
}

#[test]
fn filtered_paths() {
    let two = json!({"userName": "a", "emails": [
        {"value": "w@x", "type": "work", "primary": true},
        {"value": "h@x", "type": "home"}
    ]});
    check(vec![
        (
            "filters compare case-insensitively where the schema says so",
            two.clone(),
            json!([{"op": "replace", "path": "EMAILS[TYPE EQ \"WORK\"].VALUE", "value": "w2@x"}]),
            json!({"userName": "a", "emails": [
                {"value": "w2@x", "type": "work", "primary": true},
                {"value": "h@x", "type": "home"}
            ]}),
        ),
        (
            "add on a matched element merges into it",
            two.clone(),
            json!([{"op": "add", "path": "emails[type eq \"home\"]", "value": {"display": "Home"}}]),
            json!({"userName": "a", "emails": [
                {"value": "w@x", "type": "work", "primary": true},
                {"value": "h@x", "type": "home", "display": "Home"}
            ]}),
        ),
        (
            "add of a bare value on a matched element sets its value",
            two.clone(),
            json!([{"op": "add", "path": "emails[type eq \"home\"]", "value": "h2@x"}]),
            json!({"userName": "a", "emails": [
                {"value": "w@x", "type": "work", "primary": true},
                {"value": "h2@x", "type": "home"}
            ]}),
        ),
        (
            "add of a whole element that is missing creates it from the filter and value",
            two.clone(),
            json!([{"op": "add", "path": "emails[type eq \"other\"]", "value": {"value": "o@x"}}]),
            json!({"userName": "a", "emails": [
                {"value": "w@x", "type": "work", "primary": true},
                {"value": "h@x", "type": "home"},
                {"type": "other", "value": "o@x"}
            ]}),
        ),
        (
            "every eq clause of an and-filter goes into the created element",
            json!({"userName": "a"}),
            json!([{"op": "add", "path": "phoneNumbers[type eq \"work\" and primary eq true].value", "value": "555"}]),
            json!({"userName": "a", "phoneNumbers": [{"type": "work", "primary": true, "value": "555"}]}),
        ),
        (
            "null on a filtered path removes the matching values",
            two.clone(),
            json!([{"op": "replace", "path": "emails[type eq \"home\"]", "value": null}]),
            json!({"userName": "a", "emails": [{"value": "w@x", "type": "work", "primary": true}]}),
        ),
        (
            "null on a filtered sub-attribute removes it from matching values",
            two.clone(),
            json!([{"op": "replace", "path": "emails[type eq \"work\"].primary", "value": null}]),
            json!({"userName": "a", "emails": [
                {"value": "w@x", "type": "work"},
                {"value": "h@x", "type": "home"}
            ]}),
        ),
        (
            "remove of a filtered sub-attribute keeps the rest of the value",
            two.clone(),
            json!([{"op": "remove", "path": "emails[type eq \"work\"].type"}]),
            json!({"userName": "a", "emails": [
                {"value": "w@x", "primary": true},
                {"value": "h@x", "type": "home"}
            ]}),
        ),
        (
            "removing the last matching value unassigns the attribute",
            json!({"userName": "a", "emails": [{"value": "w@x", "type": "work"}]}),
            json!([{"op": "remove", "path": "emails[value eq \"w@x\"]"}]),
            json!({"userName": "a"}),
        ),
        (
            "a filtered null on nothing creates nothing",
            json!({"userName": "a"}),
            json!([{"op": "add", "path": "emails[type eq \"work\"].value", "value": null}]),
            json!({"userName": "a"}),
        ),
    ]);
}

#[test]
fn the_changed_set_names_top_level_and_extension_attributes() {
    let out = user(
        bjensen(),
        json!([
            {"op": "replace", "path": "name.givenName", "value": "Barb"},
            {"op": "replace", "path": ent("department"), "value": "Sales"},
            {"op": "remove", "path": ent("manager")},
            {"op": "replace", "path": "title", "value": "Tour Guide"}
        ]),
    );
    assert_eq!(
        changed(&out),
        ["name", ent("department").as_str(), ent("manager").as_str()]
    );
}

#[test]
fn a_member_added_and_removed_in_one_request_ends_as_the_later_operation_says() {
    let added_last = group(
        a_group(),
        json!([
            {"op": "remove", "path": "members[value eq \"a\"]"},
            {"op": "add", "path": "members", "value": [{"value": "a"}]}
        ]),
    );
    assert_eq!(added_last.members.added, vec![member("a")]);
    assert!(added_last.members.removed.is_empty());

    let removed_last = group(
        a_group(),
        json!([
            {"op": "add", "path": "members", "value": [{"value": "a"}, {"value": "b"}]},
            {"op": "remove", "path": "members", "value": [{"value": "a"}]}
        ]),
    );
    assert_eq!(removed_last.members.added, vec![member("b")]);
    assert_eq!(removed_last.members.removed, vec!["a".to_string()]);

    let after_replace = group(
        a_group(),
        json!([
            {"op": "replace", "path": "members", "value": [{"value": "a"}, {"value": "b"}]},
            {"op": "remove", "path": "members[value eq \"a\"]"}
        ]),
    );
    assert!(after_replace.members.replace_all);
    assert_eq!(after_replace.members.added, vec![member("b")]);
    assert!(after_replace.members.removed.is_empty());
}

#[test]
fn member_sub_attribute_operations_are_accepted_and_change_nothing() {
    for ops in [
        json!([{"op": "replace", "path": "members[value eq \"a\"].display", "value": "A"}]),
        json!([{"op": "remove", "path": "members[value eq \"a\"].displayName"}]),
        json!([{"op": "add", "path": "members.display", "value": "A"}]),
    ] {
        let out = group(a_group(), ops.clone());
        assert!(out.members.is_empty(), "{ops}");
        assert!(out.changed.is_empty(), "{ops}");
    }
}

#[test]
fn member_values_and_filters_are_checked() {
    for (ops, want) in [
        (
            json!([{"op": "remove", "path": "members[display eq \"A\"]"}]),
            ScimType::InvalidFilter,
        ),
        (
            json!([{"op": "remove", "path": "members[value ne \"a\"]"}]),
            ScimType::InvalidFilter,
        ),
        (
            json!([{"op": "remove", "path": "members[value eq \"a\" and type eq \"User\"]"}]),
            ScimType::InvalidFilter,
        ),
        (
            json!([{"op": "remove", "path": "members[value eq \"\"]"}]),
            ScimType::InvalidValue,
        ),
        (
            json!([{"op": "add", "path": "members", "value": [{"value": ""}]}]),
            ScimType::InvalidValue,
        ),
        (
            json!([{"op": "add", "path": "members", "value": [{"value": 5}]}]),
            ScimType::InvalidValue,
        ),
        (
            json!([{"op": "add", "path": "members", "value": [{"display": "no id"}]}]),
            ScimType::InvalidValue,
        ),
        (
            json!([{"op": "add", "path": "members", "value": [{"value": "a", "display": 3}]}]),
            ScimType::InvalidValue,
        ),
        (
            json!([{"op": "add", "path": "members", "value": [[]]}]),
            ScimType::InvalidValue,
        ),
        (
            json!([{"op": "add", "path": "members[value eq \"a\"]", "value": {"value": "a"}}]),
            ScimType::InvalidPath,
        ),
    ] {
        assert_eq!(group_err(a_group(), ops.clone()), want, "{ops}");
    }
}

#[test]
fn read_only_targets_with_a_path_are_mutability_errors() {
    for path in [
        "id",
        "meta",
        "meta.created",
        "groups",
        "groups[value eq \"g\"]",
        "META.lastModified",
        &ent("manager.displayName"),
    ] {
        for op in ["add", "replace", "remove"] {
            assert_eq!(
                user_err(bjensen(), json!([{"op": op, "path": path, "value": "x"}])),
                ScimType::Mutability,
                "{op} {path}"
            );
        }
    }
    assert_eq!(
        group_err(
            a_group(),
            json!([{"op": "replace", "path": "id", "value": "x"}])
        ),
        ScimType::Mutability
    );
}

#[test]
fn read_only_unknown_and_descriptive_keys_in_path_less_values_are_ignored() {
    let out = user(
        bjensen(),
        json!([{"op": "replace", "value": {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "id": "other-id",
            "meta": {"version": "W/\"1\""},
            "groups": [{"value": "g"}],
            "favouriteColour": "blue",
            "urn:example:custom:2.0:User:worksiteId": "180",
            "urn:example:custom:2.0:User": {"worksiteId": "180"},
            "emails[type eq \"work\"].bogus": "x",
            "not a path": 1,
            "title": "Guide"
        }}]),
    );
    assert_eq!(changed(&out), ["title"]);
}

#[test]
fn unknown_attributes_with_a_path_are_invalid_path() {
    for path in [
        "favouriteColour",
        "name.nickName",
        "emails[type eq \"work\"].bogus",
        "urn:example:custom:2.0:User:worksiteId",
        "schemas",
        "members",
    ] {
        assert_eq!(
            user_err(
                bjensen(),
                json!([{"op": "add", "path": path, "value": "x"}])
            ),
            ScimType::InvalidPath,
            "{path}"
        );
    }
    assert_eq!(
        group_err(
            a_group(),
            json!([{"op": "add", "path": "emails", "value": "x"}])
        ),
        ScimType::InvalidPath
    );
    // A value filter on an attribute that is not multi-valued and complex.
    assert_eq!(
        user_err(
            bjensen(),
            json!([{"op": "add", "path": "name[givenName eq \"x\"]", "value": {}}])
        ),
        ScimType::InvalidPath
    );
}

#[test]
fn malformed_bodies_and_operations_are_rejected_with_the_right_type() {
    let one = json!([{"op": "add", "path": "title", "value": "x"}]);
    let doc = stored(ResourceKind::User, bjensen());
    let err = |body: Value| {
        patch(ResourceKind::User, &doc, &body)
            .unwrap_err()
            .scim_type
    };
    assert_eq!(
        err(json!(["not", "an", "object"])),
        Some(ScimType::InvalidSyntax)
    );
    assert_eq!(err(json!("x")), Some(ScimType::InvalidSyntax));
    assert_eq!(
        err(json!({"schemas": [PATCH_OP_URN]})),
        Some(ScimType::InvalidSyntax)
    );
    assert_eq!(
        err(json!({"Operations": {"op": "add"}})),
        Some(ScimType::InvalidSyntax)
    );
    assert_eq!(
        err(json!({"Operations": []})),
        Some(ScimType::InvalidSyntax)
    );
    assert_eq!(
        err(json!({"Operations": ["add"]})),
        Some(ScimType::InvalidSyntax)
    );
    assert_eq!(
        err(json!({"Operations": [{"path": "title", "value": "x"}]})),
        Some(ScimType::InvalidSyntax)
    );
    assert_eq!(
        err(json!({"Operations": [{"op": "move", "path": "title"}]})),
        Some(ScimType::InvalidValue)
    );
    assert_eq!(
        err(json!({"Operations": [{"op": 1, "path": "title"}]})),
        Some(ScimType::InvalidValue)
    );
    assert_eq!(
        err(json!({"Operations": [{"op": "add", "path": "title"}]})),
        Some(ScimType::InvalidValue)
    );
    assert_eq!(
        err(json!({"Operations": [{"op": "replace", "value": "x"}]})),
        Some(ScimType::InvalidValue)
    );
    assert_eq!(
        err(json!({"Operations": [{"op": "add", "path": 7, "value": "x"}]})),
        Some(ScimType::InvalidPath)
    );
    assert_eq!(
        err(json!({"Operations": [{"op": "add", "path": "emails[type eq]", "value": "x"}]})),
        Some(ScimType::InvalidFilter)
    );
    assert_eq!(
        err(json!({"Operations": [{"op": "add", "path": "active", "value": {"a": 1}}]})),
        Some(ScimType::InvalidValue)
    );
    assert_eq!(
        err(json!({"Operations": [{"op": "add", "path": ENTERPRISE_USER_URN, "value": "x"}]})),
        Some(ScimType::InvalidValue)
    );
    // Lenient: no `schemas`, any-case keys, a stray member.
    assert!(patch(
        ResourceKind::User,
        &doc,
        &json!({"operations": one, "extra": 1})
    )
    .is_ok());
    assert!(patch(
        ResourceKind::User,
        &doc,
        &json!({"OPERATIONS": [{"OP": "ADD", "PATH": "title", "VALUE": "x"}]})
    )
    .is_ok());
    // The detail names the operation.
    let e = patch(
        ResourceKind::User,
        &doc,
        &body(json!([one[0], {"op": "nope"}])),
    )
    .unwrap_err();
    assert!(e.detail.starts_with("Operation 2:"), "{}", e.detail);
}

#[test]
fn limits_answer_too_many() {
    let op = json!({"op": "add", "path": "title", "value": "x"});
    let ops = Value::Array(vec![op; MAX_PATCH_OPERATIONS + 1]);
    assert_eq!(user_err(bjensen(), ops), ScimType::TooMany);

    let ids: Vec<Value> = (0..=MAX_PATCH_MEMBER_VALUES)
        .map(|i| json!({"value": i.to_string()}))
        .collect();
    assert_eq!(
        group_err(
            a_group(),
            json!([{"op": "add", "path": "members", "value": ids}])
        ),
        ScimType::TooMany
    );
    let half: Vec<Value> = ids[..MAX_PATCH_MEMBER_VALUES / 2 + 1].to_vec();
    assert_eq!(
        group_err(
            a_group(),
            json!([
                {"op": "add", "path": "members", "value": half},
                {"op": "remove", "path": "members", "value": half}
            ])
        ),
        ScimType::TooMany
    );
    let exactly: Vec<Value> = ids[..MAX_PATCH_MEMBER_VALUES].to_vec();
    let out = group(
        a_group(),
        json!([{"op": "add", "path": "members", "value": exactly}]),
    );
    assert_eq!(out.members.added.len(), MAX_PATCH_MEMBER_VALUES);

    // Many path-less keys count as many operations.
    let mut value = serde_json::Map::new();
    for i in 0..=MAX_PATCH_OPERATIONS {
        value.insert(format!("emails[value eq \"{i}\"].display"), json!("x"));
    }
    assert_eq!(
        user_err(bjensen(), json!([{"op": "add", "value": value}])),
        ScimType::TooMany
    );
    // A multi-valued attribute cannot grow past the resource limit.
    let emails: Vec<Value> = (0..60)
        .map(|i| json!({"value": format!("{i}@x")}))
        .collect();
    assert_eq!(
        user_err(
            bjensen(),
            json!([
                {"op": "add", "path": "emails", "value": emails},
                {"op": "add", "path": "emails", "value": emails.iter().map(|e| json!({"value": format!("b{}", e["value"].as_str().unwrap())})).collect::<Vec<_>>()}
            ])
        ),
        ScimType::TooMany
    );
}

#[test]
fn operations_built_by_hand_without_a_path_are_split_when_applied() {
    let doc = stored(ResourceKind::User, bjensen());
    let ops = [PatchOperation {
        op: OpKind::Replace,
        path: None,
        value: Some(json!({"name.givenName": "B", "id": "x"})),
    }];
    let out = apply_patch(ResourceKind::User, &doc, &ops).unwrap();
    assert_eq!(out.doc["name"]["givenName"], "B");
    let remove = [PatchOperation {
        op: OpKind::Remove,
        path: None,
        value: None,
    }];
    assert_eq!(
        apply_patch(ResourceKind::User, &doc, &remove)
            .unwrap_err()
            .scim_type,
        Some(ScimType::NoTarget)
    );
}

#[test]
fn a_failing_operation_applies_nothing() {
    let doc = stored(ResourceKind::User, bjensen());
    let before = doc.clone();
    let r = patch(
        ResourceKind::User,
        &doc,
        &body(json!([
            {"op": "replace", "path": "title", "value": "changed"},
            {"op": "replace", "path": "id", "value": "x"}
        ])),
    );
    assert!(r.is_err());
    assert_eq!(doc, before);
}

#[test]
fn removing_a_whole_extension_by_its_urn_unassigns_its_attributes() {
    let out = user(
        bjensen(),
        json!([{"op": "remove", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"}]),
    );
    assert!(out
        .doc
        .get("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User")
        .is_none());
    assert!(changed(&out).contains(&ent("department").as_str()));
}
