//! Hostile input never panics: deep nesting, arrays past every limit, every wrong type in
//! every place, and arbitrary JSON.

use super::*;
use proptest::prelude::*;

fn apply_both(body: &Value) {
    for (kind, resource) in [
        (ResourceKind::User, bjensen()),
        (ResourceKind::Group, a_group()),
    ] {
        let doc = stored(kind, resource);
        if let Ok(out) = patch(kind, &doc, body) {
            // Whatever is accepted yields a document that is still valid.
            assert!(crate::resource::check_required(kind, &out.doc).is_ok());
            assert!(kind == ResourceKind::User || out.doc.get("members").is_none());
        }
    }
}

fn nested(depth: usize) -> Value {
    let mut v = json!({"value": "x"});
    for i in 0..depth {
        v = if i % 2 == 0 {
            json!([v])
        } else {
            json!({"value": v})
        };
    }
    v
}

#[test]
fn deep_nesting_is_rejected_or_applied_without_panic() {
    let deep = nested(600);
    apply_both(&deep);
    apply_both(&json!({"Operations": deep}));
    apply_both(&body(
        json!([{"op": "add", "path": "members", "value": deep}]),
    ));
    apply_both(&body(
        json!([{"op": "add", "value": {"name": deep, "emails": deep}}]),
    ));
    apply_both(&body(
        json!([{"op": "replace", "path": "emails[type eq \"work\"]", "value": deep}]),
    ));
    let parens = format!(
        "emails[{}type eq \"work\"{}]",
        "(".repeat(5000),
        ")".repeat(5000)
    );
    apply_both(&body(json!([{"op": "remove", "path": parens}])));
    let brackets = format!("emails{}", "[".repeat(10_000));
    apply_both(&body(json!([{"op": "remove", "path": brackets}])));
    // Nesting as deep as serde_json reads from text.
    let text = format!("{}{}", "[".repeat(127), "]".repeat(127));
    let parsed: Value = serde_json::from_str(&text).unwrap();
    apply_both(&body(
        json!([{"op": "add", "path": "members", "value": parsed}]),
    ));
}

#[test]
fn arrays_far_past_the_limits_are_too_many() {
    let ops = Value::Array(vec![json!({"op": "remove", "path": "title"}); 50_000]);
    let doc = stored(ResourceKind::User, bjensen());
    assert_eq!(
        patch(ResourceKind::User, &doc, &body(ops))
            .unwrap_err()
            .scim_type,
        Some(ScimType::TooMany)
    );
    let ids: Vec<Value> = (0..100_000)
        .map(|i| json!({"value": i.to_string()}))
        .collect();
    for op in ["add", "replace", "remove"] {
        assert_eq!(
            group_err(
                a_group(),
                json!([{"op": op, "path": "members", "value": ids}])
            ),
            ScimType::TooMany
        );
    }
    let emails: Vec<Value> = (0..10_000).map(|i| json!(format!("{i}@x"))).collect();
    assert_eq!(
        user_err(
            bjensen(),
            json!([{"op": "add", "path": "emails", "value": emails}])
        ),
        ScimType::TooMany
    );
    let many_ors = (0..2000)
        .map(|i| format!("value eq \"{i}\""))
        .collect::<Vec<_>>()
        .join(" or ");
    let err = group_err(
        a_group(),
        json!([{"op": "remove", "path": format!("members[{many_ors}]")}]),
    );
    assert!(
        matches!(err, ScimType::InvalidFilter | ScimType::TooMany),
        "{err:?}"
    );
}

#[test]
fn every_wrong_type_in_every_place_is_an_error_or_applies() {
    let long = "x".repeat(100_000);
    let ops = [
        json!("add"),
        json!("replace"),
        json!("remove"),
        json!("Add"),
        json!(""),
        json!("copy"),
        Value::Null,
        json!(1),
        json!(["add"]),
    ];
    let paths = [
        json!("active"),
        json!("title"),
        json!("name"),
        json!("name.givenName"),
        json!("emails"),
        json!("emails[type eq \"work\"]"),
        json!("emails[type eq \"work\"].value"),
        json!("emails.value"),
        json!("emails[primary eq true].primary"),
        json!(ent("manager")),
        json!(ent("manager.value")),
        json!("members"),
        json!("members[value eq \"a\"]"),
        json!("members[value eq \"a\"].display"),
        json!("id"),
        json!("meta.created"),
        json!("groups"),
        json!(ENTERPRISE_USER_URN),
        json!("urn:ietf:params:scim:schemas:extension:contact:2.0:User:endDate"),
        json!(""),
        json!("["),
        json!("]"),
        json!("emails["),
        json!("a.b.c"),
        json!(long.clone()),
        json!(format!("emails[type eq \"{long}\"]")),
        json!(format!("members[value eq \"{long}\"]")),
        Value::Null,
        json!(5),
        json!({"path": "title"}),
        json!(["title"]),
    ];
    let values = [
        Value::Null,
        json!(true),
        json!(0),
        json!(-1.5),
        json!(1e300),
        json!(""),
        json!("x"),
        json!("False"),
        json!([]),
        json!([null]),
        json!([1, 2]),
        json!({}),
        json!({"value": null}),
        json!({"value": ""}),
        json!({"value": {"value": "x"}}),
        json!([{"value": []}]),
        json!({"emails": "x", "name.givenName": 1}),
        json!(long),
        nested(20),
    ];
    for op in &ops {
        for path in &paths {
            for value in &values {
                apply_both(&body(json!([{"op": op, "path": path, "value": value}])));
            }
            apply_both(&body(json!([{"op": op, "path": path}])));
        }
        for value in &values {
            apply_both(&body(json!([{"op": op, "value": value}])));
        }
    }
    for odd in [
        json!(null),
        json!([]),
        json!({}),
        json!({"Operations": null}),
        json!({"Operations": [null, 1, "x", []]}),
    ] {
        apply_both(&odd);
    }
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("op".to_string()),
        Just("path".to_string()),
        Just("value".to_string()),
        Just("Operations".to_string()),
        Just("members".to_string()),
        Just("emails".to_string()),
        Just("name.givenName".to_string()),
        Just("active".to_string()),
        Just("type".to_string()),
        Just("primary".to_string()),
        Just("id".to_string()),
        Just(ENTERPRISE_USER_URN.to_string()),
        Just(ent("manager")),
        "[a-zA-Z.:\\[\\]\" ]{0,12}",
    ]
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("finite", |f| serde_json::Number::from_f64(f)
            .map(Value::Number)),
        key().prop_map(Value::String),
        prop_oneof![
            Just("add"),
            Just("Replace"),
            Just("remove"),
            Just("members[value eq \"a\"]"),
            Just("emails[type eq \"work\"].value"),
            Just("False"),
            Just("")
        ]
        .prop_map(|s| Value::String(s.to_string())),
    ];
    leaf.prop_recursive(5, 96, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::btree_map(key(), inner, 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn arb_op() -> impl Strategy<Value = Value> {
    (
        prop_oneof![
            Just(json!("add")),
            Just(json!("Replace")),
            Just(json!("remove")),
            arb_json()
        ],
        prop_oneof![
            Just(json!("members")),
            Just(json!("emails[type eq \"work\"].value")),
            Just(json!("name")),
            Just(json!(ent("manager"))),
            arb_json()
        ],
        arb_json(),
    )
        .prop_map(|(op, path, value)| json!({"op": op, "path": path, "value": value}))
}

proptest! {
    #[test]
    fn arbitrary_json_bodies_never_panic(body in arb_json()) {
        apply_both(&body);
        apply_both(&json!({"Operations": [body]}));
    }

    #[test]
    fn arbitrary_operations_never_panic(ops in prop::collection::vec(arb_op(), 1..6)) {
        apply_both(&body(Value::Array(ops)));
    }
}
