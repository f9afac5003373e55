//! Index planning: which clauses a store answers from an index, and what is left for the
//! evaluator.

use super::*;
use crate::filter::{plan, IndexKey, Plan};
use crate::schema::ResourceKind::{self, Group, User};
use IndexKey::*;

/// Name, resource kind, filter, expected lookups, expected residual.
type Case = (
    &'static str,
    ResourceKind,
    &'static str,
    Vec<IndexKey>,
    Option<&'static str>,
);

fn key(f: fn(String) -> IndexKey, v: &str) -> IndexKey {
    f(v.to_string())
}

#[test]
fn eq_clauses_on_indexed_attributes_become_lookups() {
    let cases: &[Case] = &[
        (
            "user by userName",
            User,
            r#"userName eq "x""#,
            vec![key(UserName, "x")],
            None,
        ),
        (
            "entra test connection",
            User,
            r#"userName eq "Test_User_00aa00aa-bb11-cc22-dd33-44ee44ee44ee""#,
            vec![key(
                UserName,
                "Test_User_00aa00aa-bb11-cc22-dd33-44ee44ee44ee",
            )],
            None,
        ),
        (
            "user by externalId",
            User,
            r#"externalId eq "e-1""#,
            vec![key(ExternalId, "e-1")],
            None,
        ),
        (
            "user by id",
            User,
            r#"id eq "u-1""#,
            vec![key(Id, "u-1")],
            None,
        ),
        (
            "value kept as given",
            User,
            r#"USERNAME eq "Ann@Example.COM""#,
            vec![key(UserName, "Ann@Example.COM")],
            None,
        ),
        (
            "schema-qualified",
            User,
            r#"urn:ietf:params:scim:schemas:core:2.0:User:userName eq "x""#,
            vec![key(UserName, "x")],
            None,
        ),
        (
            "email value",
            User,
            r#"emails.value eq "a@b.c""#,
            vec![key(EmailValue, "a@b.c")],
            None,
        ),
        (
            "email without sub-attribute",
            User,
            r#"emails eq "a@b.c""#,
            vec![key(EmailValue, "a@b.c")],
            None,
        ),
        (
            "email value path",
            User,
            r#"emails[value eq "a@b.c"]"#,
            vec![key(EmailValue, "a@b.c")],
            None,
        ),
        (
            "email value path with type",
            User,
            r#"emails[type eq "work" and value eq "a@b.c"]"#,
            vec![key(EmailValue, "a@b.c")],
            Some(r#"emails[type eq "work" and value eq "a@b.c"]"#),
        ),
        (
            "filtered email path",
            User,
            r#"emails[type eq "work"].value eq "a@b.c""#,
            vec![key(EmailValue, "a@b.c")],
            Some(r#"emails[type eq "work" and value eq "a@b.c"]"#),
        ),
        (
            "group by displayName",
            Group,
            r#"displayName eq "Group1""#,
            vec![key(DisplayName, "Group1")],
            None,
        ),
        (
            "group by externalId",
            Group,
            r#"externalId eq "g""#,
            vec![key(ExternalId, "g")],
            None,
        ),
        (
            "entra membership check",
            Group,
            r#"id eq "x" and members.value eq "y""#,
            vec![key(Id, "x"), key(MemberValue, "y")],
            None,
        ),
        (
            "member value path",
            Group,
            r#"members[value eq "y"]"#,
            vec![key(MemberValue, "y")],
            None,
        ),
        (
            "members without sub-attribute",
            Group,
            r#"members eq "y""#,
            vec![key(MemberValue, "y")],
            None,
        ),
        (
            "nested ands",
            User,
            r#"(userName eq "x" and title pr) and (externalId eq "e" and active eq true)"#,
            vec![key(UserName, "x"), key(ExternalId, "e")],
            Some("title pr and active eq true"),
        ),
        (
            "lookup plus residual",
            User,
            r#"userName eq "x" and active eq true"#,
            vec![key(UserName, "x")],
            Some("active eq true"),
        ),
    ];
    check(cases);
}

#[test]
fn everything_else_is_residual() {
    let cases: &[Case] = &[
        (
            "or",
            User,
            r#"userName eq "x" or userName eq "y""#,
            vec![],
            Some(r#"userName eq "x" or userName eq "y""#),
        ),
        (
            "not",
            User,
            r#"not (userName eq "x")"#,
            vec![],
            Some(r#"not (userName eq "x")"#),
        ),
        (
            "ne",
            User,
            r#"userName ne "x""#,
            vec![],
            Some(r#"userName ne "x""#),
        ),
        (
            "co",
            User,
            r#"userName co "x""#,
            vec![],
            Some(r#"userName co "x""#),
        ),
        (
            "non-string value",
            User,
            "userName eq 5",
            vec![],
            Some("userName eq 5"),
        ),
        ("pr", User, "userName pr", vec![], Some("userName pr")),
        (
            "displayName is not indexed for users",
            User,
            r#"displayName eq "x""#,
            vec![],
            Some(r#"displayName eq "x""#),
        ),
        (
            "userName is not a group attribute",
            Group,
            r#"userName eq "x""#,
            vec![],
            Some(r#"userName eq "x""#),
        ),
        (
            "email type",
            User,
            r#"emails.type eq "work""#,
            vec![],
            Some(r#"emails.type eq "work""#),
        ),
        (
            "email value path without value",
            User,
            r#"emails[type eq "work"]"#,
            vec![],
            Some(r#"emails[type eq "work"]"#),
        ),
        (
            "email value path with or",
            User,
            r#"emails[value eq "a" or value eq "b"]"#,
            vec![],
            Some(r#"emails[value eq "a" or value eq "b"]"#),
        ),
        (
            "extension attribute",
            User,
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "1""#,
            vec![],
            Some(
                r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "1""#,
            ),
        ),
        (
            "unknown attribute",
            User,
            r#"nope eq "x""#,
            vec![],
            Some(r#"nope eq "x""#),
        ),
        (
            "rfc example",
            User,
            r#"title pr and userType eq "Employee""#,
            vec![],
            Some(r#"title pr and userType eq "Employee""#),
        ),
    ];
    check(cases);
}

fn check(cases: &[Case]) {
    for (name, kind, text, lookups, residual) in cases {
        let expected = Plan {
            lookups: lookups.clone(),
            residual: residual.map(p),
        };
        assert_eq!(plan(&p(text), *kind), expected, "{name}: {text}");
    }
}

#[test]
fn member_lookups_never_reach_the_residual_for_groups() {
    for text in [
        r#"members.value eq "u1""#,
        r#"displayName eq "G" and members[value eq "u1"]"#,
        r#"members eq "u1" and id eq "g1""#,
    ] {
        let plan = plan(&p(text), Group);
        assert!(plan.lookups.contains(&key(MemberValue, "u1")), "{text}");
        assert_eq!(plan.residual, None, "{text}");
    }
}

#[test]
fn lookups_and_residual_together_select_what_the_filter_selects() {
    // For every document, "matches every lookup and the residual" must equal "matches the
    // filter": here the lookups are checked with the evaluator itself.
    let docs = [
        full_user(),
        object(
            json!({"userName": "x", "emails": [{"value": "a@b.c", "type": "home"}, {"value": "z@b.c", "type": "work"}]}),
        ),
        object(
            json!({"userName": "x", "emails": [{"value": "a@b.c", "type": "work"}], "active": true}),
        ),
    ];
    let rt = User.def();
    for text in [
        r#"emails[type eq "work" and value eq "a@b.c"]"#,
        r#"emails[type eq "work"].value eq "a@b.c""#,
        r#"userName eq "X" and emails.value eq "a@b.c" and active eq true"#,
        r#"userName eq "bjensen@example.com" and title pr"#,
    ] {
        let filter = p(text);
        let plan = plan(&filter, User);
        assert!(!plan.lookups.is_empty(), "{text}");
        for doc in &docs {
            let by_lookups = plan.lookups.iter().all(|k| {
                let clause = match k {
                    UserName(v) => eq("userName", v),
                    EmailValue(v) => eq("emails.value", v),
                    other => panic!("unexpected {other:?}"),
                };
                clause.matches(rt, doc)
            });
            let by_residual = plan.residual.as_ref().is_none_or(|r| r.matches(rt, doc));
            assert_eq!(by_lookups && by_residual, filter.matches(rt, doc), "{text}");
        }
    }
}
