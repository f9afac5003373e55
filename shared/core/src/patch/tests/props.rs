//! Normalisation is faithful: a PATCH and its normalised form (parsed, then printed back
//! with [`to_body`]) have the same effect, and normalising twice changes nothing.

use super::*;
use proptest::prelude::*;

fn add_or_replace() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        Just("add"),
        Just("Add"),
        Just("replace"),
        Just("Replace"),
        Just("REPLACE")
    ]
}

fn any_op() -> impl Strategy<Value = &'static str> {
    prop_oneof![add_or_replace(), Just("remove"), Just("Remove")]
}

fn word() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!("Ann")),
        Just(json!("b@example.com")),
        Just(json!("work")),
        Just(json!("")),
        Just(Value::Null),
    ]
}

fn boolean() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!(true)),
        Just(json!(false)),
        Just(json!("False")),
        Just(json!("TRUE")),
    ]
}

fn email_type() -> impl Strategy<Value = &'static str> {
    prop_oneof![Just("work"), Just("home"), Just("other")]
}

fn user_op() -> impl Strategy<Value = Value> {
    prop_oneof![
        (add_or_replace(), word())
            .prop_map(|(op, v)| json!({"op": op, "path": "title", "value": v})),
        (add_or_replace(), boolean())
            .prop_map(|(op, v)| json!({"op": op, "path": "active", "value": v})),
        (add_or_replace(), boolean()).prop_map(|(op, v)| json!({"op": op, "value": {"active": v}})),
        (add_or_replace(), email_type(), word()).prop_map(|(op, t, v)| {
            json!({"op": op, "path": format!("emails[type eq \"{t}\"].value"), "value": v})
        }),
        (add_or_replace(), email_type(), boolean()).prop_map(|(op, t, v)| {
            json!({"op": op, "path": format!("emails[type eq \"{t}\"].primary"), "value": v})
        }),
        (add_or_replace(), word()).prop_map(|(op, v)| {
            json!({"op": op, "path": "addresses[type eq \"work\"].formatted", "value": v})
        }),
        (add_or_replace(), word(), word()).prop_map(|(op, g, f)| {
            json!({"op": op, "value": {"name.givenName": g, "name.familyName": f, "id": "x"}})
        }),
        (add_or_replace(), word())
            .prop_map(|(op, v)| json!({"op": op, "value": {ent("department"): v}})),
        (add_or_replace(), word()).prop_map(|(op, v)| {
            json!({"op": op, "value": {ENTERPRISE_USER_URN: {"manager": v, "costCenter": "1"}}})
        }),
        (add_or_replace(), word())
            .prop_map(|(op, v)| json!({"op": op, "path": ent("manager"), "value": v})),
        (add_or_replace(), email_type(), word(), boolean()).prop_map(|(op, t, v, p)| {
            json!({"op": op, "path": "emails", "value": [{"type": t, "value": v, "primary": p}]})
        }),
        (any_op(), email_type()).prop_map(|(op, t)| {
            json!({"op": op, "path": format!("emails[type eq \"{t}\"]"), "value": {"value": "z@x"}})
        }),
        prop_oneof![
            Just("title"),
            Just("name.givenName"),
            Just("emails"),
            Just("emails[type eq \"home\"]"),
            Just("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User.manager"),
            Just("addresses[type eq \"work\"].formatted"),
        ]
        .prop_map(|path| json!({"op": "Remove", "path": path})),
    ]
}

fn member_list() -> impl Strategy<Value = Value> {
    prop::collection::vec(
        prop_oneof![Just("a"), Just("b"), Just("c")]
            .prop_map(|id| json!({"value": id, "$ref": null})),
        0..3,
    )
    .prop_map(Value::Array)
}

fn group_op() -> impl Strategy<Value = Value> {
    prop_oneof![
        (add_or_replace(), member_list())
            .prop_map(|(op, v)| json!({"op": op, "path": "members", "value": v})),
        member_list().prop_map(|v| json!({"op": "Remove", "path": "members", "value": v})),
        Just(json!({"op": "remove", "path": "members"})),
        prop_oneof![Just("a"), Just("b")]
            .prop_map(|id| json!({"op": "remove", "path": format!("members[value eq \"{id}\"]")})),
        (add_or_replace(), member_list()).prop_map(|(op, m)| {
            json!({"op": op, "value": {"id": "g", "displayName": "G2", "members": m}})
        }),
        (add_or_replace(), word())
            .prop_map(|(op, v)| json!({"op": op, "path": "displayName", "value": v})),
    ]
}

/// Applies `ops` directly and through their normalised form; both must agree.
fn same_effect(kind: ResourceKind, resource: Value, ops: Vec<Value>) -> Result<(), TestCaseError> {
    let doc = stored(kind, resource);
    let original = body(Value::Array(ops));
    let direct = patch(kind, &doc, &original);
    let parsed = match parse_patch(&original) {
        Ok(parsed) => parsed,
        Err(e) => {
            prop_assert_eq!(direct.err().map(|e| e.scim_type), Some(e.scim_type));
            return Ok(());
        }
    };
    let normalised = to_body(&parsed);
    prop_assert_eq!(&parse_patch(&normalised).ok(), &Some(parsed.clone()));
    prop_assert!(parsed.iter().all(|op| op.path.is_some()));
    let again = patch(kind, &doc, &normalised);
    match (direct, again) {
        (Ok(a), Ok(b)) => prop_assert_eq!(a, b),
        (Err(a), Err(b)) => prop_assert_eq!(a.scim_type, b.scim_type),
        (a, b) => prop_assert!(false, "direct {:?} but normalised {:?}", a, b),
    }
    Ok(())
}

proptest! {
    #[test]
    fn a_user_patch_and_its_normalised_form_have_the_same_effect(
        ops in prop::collection::vec(user_op(), 1..8),
        full in any::<bool>(),
    ) {
        let resource = if full { bjensen() } else { entra_user() };
        same_effect(ResourceKind::User, resource, ops)?;
    }

    #[test]
    fn a_group_patch_and_its_normalised_form_have_the_same_effect(
        ops in prop::collection::vec(group_op(), 1..8),
    ) {
        same_effect(ResourceKind::Group, a_group(), ops)?;
    }
}
