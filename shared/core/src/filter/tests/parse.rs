//! Parsing and printing: the RFC 7644 §3.4.2.2 examples, what Entra ID and Okta send,
//! escapes, precedence, case-insensitivity and every kind of bad input.

use super::*;
use crate::filter::{MAX_FILTER_DEPTH, MAX_FILTER_LEN};
use crate::ScimType;
use CompareOp::*;

fn assert_parses(cases: &[(&str, &str, Filter)]) {
    for (name, text, expected) in cases {
        let got = parse(text).unwrap_or_else(|e| panic!("{name}: {text:?} failed: {e}"));
        assert_eq!(&got, expected, "{name}: {text:?}");
        let printed = got.to_string();
        assert_eq!(
            parse(&printed).as_ref(),
            Ok(&got),
            "{name}: reprint {printed:?}"
        );
    }
}

#[test]
fn every_rfc_7644_filter_example_parses_to_the_intended_tree() {
    let enterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
    let emails_or = || {
        or(
            cmp("emails", Co, s("example.com")),
            cmp("emails.value", Co, s("example.org")),
        )
    };
    let cases = [
        (
            "equality",
            r#"userName eq "bjensen""#,
            eq("userName", "bjensen"),
        ),
        (
            "contains with apostrophe",
            r#"name.familyName co "O'Malley""#,
            cmp("name.familyName", Co, s("O'Malley")),
        ),
        (
            "starts with",
            r#"userName sw "J""#,
            cmp("userName", Sw, s("J")),
        ),
        (
            "schema-qualified",
            r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J""#,
            Filter::Compare {
                path: AttrPath {
                    urn: Some("urn:ietf:params:scim:schemas:core:2.0:User".into()),
                    name: "userName".into(),
                    sub: None,
                },
                op: Sw,
                value: s("J"),
            },
        ),
        ("present", "title pr", pr("title")),
        (
            "greater than dateTime",
            r#"meta.lastModified gt "2011-05-13T04:42:34Z""#,
            cmp("meta.lastModified", Gt, s("2011-05-13T04:42:34Z")),
        ),
        (
            "greater or equal dateTime",
            r#"meta.lastModified ge "2011-05-13T04:42:34Z""#,
            cmp("meta.lastModified", Ge, s("2011-05-13T04:42:34Z")),
        ),
        (
            "less than dateTime",
            r#"meta.lastModified lt "2011-05-13T04:42:34Z""#,
            cmp("meta.lastModified", Lt, s("2011-05-13T04:42:34Z")),
        ),
        (
            "less or equal dateTime",
            r#"meta.lastModified le "2011-05-13T04:42:34Z""#,
            cmp("meta.lastModified", Le, s("2011-05-13T04:42:34Z")),
        ),
        (
            "present and equal",
            r#"title pr and userType eq "Employee""#,
            and(pr("title"), eq("userType", "Employee")),
        ),
        (
            "present or equal",
            r#"title pr or userType eq "Intern""#,
            or(pr("title"), eq("userType", "Intern")),
        ),
        (
            "schemas",
            r#"schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User""#,
            eq("schemas", enterprise),
        ),
        (
            "grouping",
            r#"userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")"#,
            and(eq("userType", "Employee"), emails_or()),
        ),
        (
            "not grouping",
            r#"userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")"#,
            and(cmp("userType", Ne, s("Employee")), not(emails_or())),
        ),
        (
            "redundant parentheses",
            r#"userType eq "Employee" and (emails.type eq "work")"#,
            and(eq("userType", "Employee"), eq("emails.type", "work")),
        ),
        (
            "value path",
            r#"userType eq "Employee" and emails[type eq "work" and value co "@example.com"]"#,
            and(
                eq("userType", "Employee"),
                vp(
                    "emails",
                    and(eq("type", "work"), cmp("value", Co, s("@example.com"))),
                ),
            ),
        ),
        (
            "two value paths",
            r#"emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]"#,
            or(
                vp(
                    "emails",
                    and(eq("type", "work"), cmp("value", Co, s("@example.com"))),
                ),
                vp(
                    "ims",
                    and(eq("type", "xmpp"), cmp("value", Co, s("@foo.com"))),
                ),
            ),
        ),
        (
            "operator case",
            r#"userName Eq "john""#,
            eq("userName", "john"),
        ),
        (
            "attribute case",
            r#"Username eq "john""#,
            eq("Username", "john"),
        ),
        (
            "search request (§3.4.3)",
            r#"displayName sw "smith""#,
            cmp("displayName", Sw, s("smith")),
        ),
    ];
    assert_parses(&cases);
}

#[test]
fn what_entra_and_okta_send_parses() {
    let enterprise_manager = Filter::Compare {
        path: AttrPath {
            urn: Some(ENT.into()),
            name: "manager".into(),
            sub: None,
        },
        op: Eq,
        value: s("26118915"),
    };
    let dot = format!(r#"{ENT}.manager eq "26118915""#);
    let colon = format!(r#"{ENT}:manager eq "26118915""#);
    let sub = format!(r#"{ENT}:manager.value eq "26118915""#);
    let cases: &[(&str, &str, Filter)] = &[
        (
            "entra test connection",
            r#"userName eq "Test_User_00aa00aa-bb11-cc22-dd33-44ee44ee44ee""#,
            eq("userName", "Test_User_00aa00aa-bb11-cc22-dd33-44ee44ee44ee"),
        ),
        (
            "entra externalId",
            r#"externalId eq "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef""#,
            eq("externalId", "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef"),
        ),
        (
            "entra group lookup",
            r#"displayName eq "Group1""#,
            eq("displayName", "Group1"),
        ),
        (
            "entra membership check",
            r#"id eq "x" and members.value eq "y""#,
            and(eq("id", "x"), eq("members.value", "y")),
        ),
        (
            "okta user lookup",
            r#"userName eq "x""#,
            eq("userName", "x"),
        ),
        (
            "okta group lookup",
            r#"displayName eq "y""#,
            eq("displayName", "y"),
        ),
        (
            "entra guest upn with # and %",
            r#"userName eq "ann_contoso.com#EXT#@fabrikam.onmicrosoft.com""#,
            eq("userName", "ann_contoso.com#EXT#@fabrikam.onmicrosoft.com"),
        ),
        (
            "percent is literal (URL decoding is the HTTP layer's job)",
            r#"displayName eq "100% Sales %41""#,
            eq("displayName", "100% Sales %41"),
        ),
        (
            "filtered path then sub-attribute",
            r#"emails[type eq "work"].value eq "x""#,
            vp("emails", and(eq("type", "work"), eq("value", "x"))),
        ),
        (
            "filtered path then sub-attribute present",
            r#"addresses[type eq "work"].formatted pr"#,
            vp("addresses", and(eq("type", "work"), pr("formatted"))),
        ),
        (
            "filtered path with or then sub-attribute",
            r#"emails[type eq "work" or primary eq true].value eq "x""#,
            vp(
                "emails",
                and(
                    or(
                        eq("type", "work"),
                        cmp("primary", Eq, CompValue::Bool(true)),
                    ),
                    eq("value", "x"),
                ),
            ),
        ),
        (
            "entra dot form of an extension path",
            &dot,
            enterprise_manager.clone(),
        ),
        (
            "colon form of an extension path",
            &colon,
            enterprise_manager,
        ),
        (
            "extension sub-attribute",
            &sub,
            Filter::Compare {
                path: AttrPath {
                    urn: Some(ENT.into()),
                    name: "manager".into(),
                    sub: Some("value".into()),
                },
                op: Eq,
                value: s("26118915"),
            },
        ),
    ];
    assert_parses(cases);
}

#[test]
fn string_escapes_and_non_ascii_decode() {
    let cases = [
        (
            "unicode escape",
            r#"userName eq "Fran\u00e7ois""#,
            eq("userName", "François"),
        ),
        (
            "upper-case hex",
            r#"userName eq "Fran\u00E7ois""#,
            eq("userName", "François"),
        ),
        (
            "escaped quote",
            r#"userName eq "a\"b""#,
            eq("userName", "a\"b"),
        ),
        (
            "escaped backslash",
            r#"userName eq "a\\b""#,
            eq("userName", "a\\b"),
        ),
        (
            "backslash before quote",
            r#"userName eq "a\\""#,
            eq("userName", "a\\"),
        ),
        ("solidus", r#"userName eq "a\/b""#, eq("userName", "a/b")),
        (
            "control escapes",
            r#"title eq "\b\f\n\r\t""#,
            eq("title", "\u{8}\u{c}\n\r\t"),
        ),
        (
            "surrogate pair",
            r#"title eq "\ud83d\ude00""#,
            eq("title", "😀"),
        ),
        (
            "raw non-ASCII",
            r#"displayName eq "Zoë 日本 😀""#,
            eq("displayName", "Zoë 日本 😀"),
        ),
        (
            "brackets and parens inside a string",
            r#"title eq "a[b](c) and d""#,
            eq("title", "a[b](c) and d"),
        ),
        ("empty string", r#"title eq """#, eq("title", "")),
    ];
    assert_parses(&cases);
}

#[test]
fn values_of_every_json_type_parse() {
    let num = |x: f64| CompValue::Number(serde_json::Number::from_f64(x).unwrap());
    let cases = [
        ("integer", "a eq 42", cmp("a", Eq, n(42))),
        ("zero", "a eq 0", cmp("a", Eq, n(0))),
        ("negative", "a eq -7", cmp("a", Eq, n(-7))),
        ("decimal", "a eq 3.25", cmp("a", Eq, num(3.25))),
        ("exponent", "a eq 1e3", cmp("a", Eq, num(1000.0))),
        (
            "negative exponent",
            "a ge -2.5E-3",
            cmp("a", Ge, num(-0.0025)),
        ),
        (
            "u64 max",
            "a lt 18446744073709551615",
            cmp("a", Lt, CompValue::Number(u64::MAX.into())),
        ),
        (
            "i64 min",
            "a gt -9223372036854775808",
            cmp("a", Gt, CompValue::Number(i64::MIN.into())),
        ),
        (
            "beyond u64 becomes a float",
            "a eq 18446744073709551616",
            cmp("a", Eq, num(18446744073709551616.0)),
        ),
        (
            "true",
            "active eq true",
            cmp("active", Eq, CompValue::Bool(true)),
        ),
        (
            "false",
            "active ne false",
            cmp("active", Ne, CompValue::Bool(false)),
        ),
        ("null", "title eq null", cmp("title", Eq, CompValue::Null)),
        (
            "keywords ignore case",
            "active eq TRUE or title eq Null",
            or(
                cmp("active", Eq, CompValue::Bool(true)),
                cmp("title", Eq, CompValue::Null),
            ),
        ),
    ];
    assert_parses(&cases);
}

#[test]
fn precedence_is_not_then_and_then_or_and_chains_associate_left() {
    let cases = [
        (
            "and binds tighter than or",
            "a eq 1 or b eq 2 and c eq 3",
            or(
                cmp("a", Eq, n(1)),
                and(cmp("b", Eq, n(2)), cmp("c", Eq, n(3))),
            ),
        ),
        (
            "and before or on the left",
            "a pr and b pr or c pr",
            or(and(pr("a"), pr("b")), pr("c")),
        ),
        (
            "parentheses override",
            "(a pr or b pr) and c pr",
            and(or(pr("a"), pr("b")), pr("c")),
        ),
        (
            "and chain",
            "a pr and b pr and c pr",
            and(and(pr("a"), pr("b")), pr("c")),
        ),
        (
            "or chain",
            "a pr or b pr or c pr",
            or(or(pr("a"), pr("b")), pr("c")),
        ),
        (
            "right grouping kept",
            "a pr and (b pr and c pr)",
            and(pr("a"), and(pr("b"), pr("c"))),
        ),
        (
            "not binds tightest",
            "not (a pr) and b pr",
            and(not(pr("a")), pr("b")),
        ),
        ("not without space", "not(a pr)", not(pr("a"))),
        (
            "not without parentheses (lenient)",
            "not a pr and b pr",
            and(not(pr("a")), pr("b")),
        ),
        ("double not", "not (not (a pr))", not(not(pr("a")))),
        ("nested groups", "((a pr))", pr("a")),
        (
            "grouping inside a value path",
            r#"emails[type eq "work" or (type eq "home" and value ew "@example.com")]"#,
            vp(
                "emails",
                or(
                    eq("type", "work"),
                    and(eq("type", "home"), cmp("value", Ew, s("@example.com"))),
                ),
            ),
        ),
        (
            "not inside a value path",
            r#"emails[not (type eq "work")]"#,
            vp("emails", not(eq("type", "work"))),
        ),
        ("attribute named not", "not pr", pr("not")),
        (
            "attribute named and",
            "and pr and or pr",
            and(pr("and"), pr("or")),
        ),
    ];
    assert_parses(&cases);
}

#[test]
fn operators_and_keywords_are_case_insensitive() {
    let cases = [
        ("EQ", r#"userName EQ "x""#, eq("userName", "x")),
        ("PR", "title PR", pr("title")),
        ("And", "a pr And b pr", and(pr("a"), pr("b"))),
        ("OR", "a pr OR b pr", or(pr("a"), pr("b"))),
        ("NOT", "NOT (a pr)", not(pr("a"))),
        (
            "mixed ops",
            r#"a Co "x" and b sW "y" and c eW "z""#,
            and(
                and(cmp("a", Co, s("x")), cmp("b", Sw, s("y"))),
                cmp("c", Ew, s("z")),
            ),
        ),
        (
            "all orderings",
            "a GT 1 or a Ge 1 or a lT 1 or a LE 1 or a Ne 1",
            or(
                or(
                    or(
                        or(cmp("a", Gt, n(1)), cmp("a", Ge, n(1))),
                        cmp("a", Lt, n(1)),
                    ),
                    cmp("a", Le, n(1)),
                ),
                cmp("a", Ne, n(1)),
            ),
        ),
    ];
    assert_parses(&cases);
}

#[test]
fn whitespace_is_flexible() {
    let cases = [
        (
            "surrounding",
            "  userName   eq   \"x\"  ",
            eq("userName", "x"),
        ),
        (
            "tabs and newlines",
            "a pr\tand\nb pr",
            and(pr("a"), pr("b")),
        ),
        (
            "tight parentheses",
            "(a pr)and(b pr)",
            and(pr("a"), pr("b")),
        ),
        (
            "space inside brackets",
            "emails[ type eq \"w\" ]",
            vp("emails", eq("type", "w")),
        ),
    ];
    assert_parses(&cases);
}

#[test]
fn printing_is_canonical() {
    let dot = format!("{ENT}.manager pr");
    let colon = format!("{ENT}:manager pr");
    let cases: &[(&str, &str)] = &[
        (r#"userName EQ "x""#, r#"userName eq "x""#),
        ("(a pr or b pr) and c pr", "(a pr or b pr) and c pr"),
        ("a pr or (b pr and c pr)", "a pr or b pr and c pr"),
        ("a pr and (b pr and c pr)", "a pr and (b pr and c pr)"),
        ("(a pr and b pr) and c pr", "a pr and b pr and c pr"),
        ("a pr or (b pr or c pr)", "a pr or (b pr or c pr)"),
        ("not a pr", "not (a pr)"),
        (
            r#"emails[type eq "work"].value eq "x""#,
            r#"emails[type eq "work" and value eq "x"]"#,
        ),
        (
            r#"emails[type eq "a" or type eq "b"].value pr"#,
            r#"emails[(type eq "a" or type eq "b") and value pr]"#,
        ),
        (
            r#"a eq "q\"b\\s\/\n\u0001\u00e9""#,
            r#"a eq "q\"b\\s/\n\u0001é""#,
        ),
        ("a eq 1E3", "a eq 1000.0"),
        (&dot, &colon),
    ];
    for &(input, printed) in cases {
        assert_eq!(p(input).to_string(), printed, "{input}");
    }
}

fn assert_invalid(name: &str, text: &str, detail_has: &str) {
    let err = parse(text).expect_err(name);
    assert_eq!(err.status, 400, "{name}");
    assert_eq!(err.scim_type, Some(ScimType::InvalidFilter), "{name}");
    assert!(
        err.detail.contains(detail_has),
        "{name}: detail {:?} should contain {detail_has:?}",
        err.detail
    );
}

#[test]
fn bad_filters_are_invalid_filter_with_a_helpful_detail() {
    let too_long = format!("userName eq \"{}\"", "x".repeat(MAX_FILTER_LEN));
    let deep = MAX_FILTER_DEPTH + 1;
    let deep_parens = format!("{}a pr{}", "(".repeat(deep), ")".repeat(deep));
    let deep_nots = format!("{}a pr", "not ".repeat(deep));
    let deep_not_parens = format!("{}a pr{}", "not (".repeat(deep), ")".repeat(deep));
    let cases: &[(&str, &str, &str)] = &[
        ("empty", "", "empty filter"),
        ("blank", "  \t ", "empty filter"),
        (
            "unterminated string",
            r#"userName eq "abc"#,
            "string is never closed (missing '\"') (at character 13)",
        ),
        (
            "unterminated after escape",
            r#"userName eq "abc\"#,
            "never closed",
        ),
        ("missing value", "userName eq", "missing value after 'eq'"),
        (
            "missing value before paren",
            "(userName eq)",
            "missing value after 'eq'",
        ),
        (
            "missing operator",
            "userName",
            "missing operator after 'userName'",
        ),
        (
            "unknown operator",
            r#"userName eqq "x""#,
            "unknown operator 'eqq'",
        ),
        (
            "unknown operator position",
            r#"userName like "x""#,
            "(at character 10)",
        ),
        (
            "unquoted string",
            "userName eq bjensen",
            "'bjensen' is not a value; strings must be in double quotes",
        ),
        ("single quotes", "userName eq 'bjensen'", "double quotes"),
        (
            "trailing garbage",
            r#"userName eq "x" foo"#,
            "expected 'and', 'or' or the end of the filter, found 'foo'",
        ),
        (
            "dangling and",
            r#"userName eq "x" and"#,
            "expected an expression but the filter ends",
        ),
        (
            "leading and",
            r#"and userName eq "x""#,
            "unknown operator 'userName'",
        ),
        (
            "unclosed parenthesis",
            r#"(userName eq "x""#,
            "'(' is never closed (at character 1)",
        ),
        (
            "unopened parenthesis",
            r#"userName eq "x")"#,
            "')' has no matching '('",
        ),
        (
            "empty parentheses",
            "()",
            "expected an attribute or '(', found ')'",
        ),
        (
            "junk inside parentheses",
            "(a pr b)",
            "expected 'and', 'or' or ')', found 'b'",
        ),
        (
            "unclosed bracket",
            r#"emails[type eq "work""#,
            "'[' is never closed",
        ),
        ("stray bracket", "a pr]", "']' has no matching '['"),
        (
            "nested value path",
            r#"emails[type[value eq "x"]]"#,
            "cannot contain another '[...]'",
        ),
        (
            "value path on a sub-attribute",
            r#"emails.value[type eq "x"]"#,
            "not a sub-attribute",
        ),
        (
            "dangling sub-attribute",
            r#"emails[type eq "work"]."#,
            "expected a sub-attribute name",
        ),
        (
            "sub-attribute without operator",
            r#"emails[type eq "work"].value"#,
            "missing operator after 'value'",
        ),
        ("invalid escape", r#"a eq "\x""#, "invalid escape"),
        ("short unicode escape", r#"a eq "\u12""#, "four hex digits"),
        (
            "lone high surrogate",
            r#"a eq "\ud800""#,
            "unpaired surrogate",
        ),
        (
            "lone low surrogate",
            r#"a eq "\udc00""#,
            "unpaired surrogate",
        ),
        (
            "high surrogate then non-low",
            r#"a eq "\ud800\u0041""#,
            "unpaired surrogate",
        ),
        ("leading zero", "a eq 01", "'01' is not a valid number"),
        ("bare minus", "a eq -", "is not a valid number"),
        ("missing fraction", "a eq 1.", "is not a valid number"),
        ("missing exponent", "a eq 1e", "is not a valid number"),
        (
            "letters after digits",
            "a eq 12abc",
            "'12abc' is not a valid number",
        ),
        ("plus sign", "a eq +1", "is not a value"),
        ("number out of range", "a eq 1e999", "out of range"),
        (
            "path starting with a digit",
            "9lives eq 1",
            "'9lives' is not a valid attribute path",
        ),
        (
            "path with two dots",
            "a.b.c eq 1",
            "not a valid attribute path",
        ),
        ("bare urn", "urn: pr", "not a valid attribute path"),
        (
            "quote where a path belongs",
            r#""x" eq "x""#,
            "expected an attribute or '('",
        ),
        (
            "position counts characters",
            r#"displayName eq "é" zz"#,
            "(at character 20)",
        ),
        ("too long", &too_long, "the limit is 4096"),
        ("too deep parentheses", &deep_parens, "deeper than 32"),
        ("too deep nots", &deep_nots, "deeper than 32"),
        ("too deep not-parens", &deep_not_parens, "deeper than 32"),
    ];
    for (name, text, detail_has) in cases {
        assert_invalid(name, text, detail_has);
    }
}

#[test]
fn nesting_up_to_the_limit_is_accepted() {
    let deep = format!(
        "{}a pr{}",
        "(".repeat(MAX_FILTER_DEPTH),
        ")".repeat(MAX_FILTER_DEPTH)
    );
    assert_eq!(p(&deep), pr("a"));
    let at_len = format!("title eq \"{}\"", "x".repeat(MAX_FILTER_LEN - 11));
    assert_eq!(at_len.len(), MAX_FILTER_LEN);
    assert!(parse(&at_len).is_ok());
}

#[test]
fn error_details_quote_at_most_a_little_of_the_input() {
    let long = "y".repeat(3000);
    for text in [
        format!("userName eq {long}"),
        format!("{long}! eq 1"),
        format!("userName {long} \"x\""),
        format!("userName eq \"x\" {long}"),
        format!("userName eq \"{long}"),
        format!("a eq 1{long}"),
    ] {
        let err = parse(&text).unwrap_err();
        assert!(err.detail.len() < 200, "{}", err.detail);
        assert!(!err.detail.contains(&"y".repeat(50)), "{}", err.detail);
    }
}

#[test]
fn filter_implements_from_str() {
    let f: Filter = r#"userName eq "x""#.parse().unwrap();
    assert_eq!(f, eq("userName", "x"));
}
