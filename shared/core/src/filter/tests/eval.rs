//! Evaluation against canonical documents: every operator on every attribute type,
//! case-exactness from the registry, multi-valued and complex attributes, value paths.

use super::*;
use crate::filter::compile;
use crate::schema::{
    AttrDef, AttrType, Mutability, ResourceKind, ResourceTypeDef, Returned, SchemaDef, Uniqueness,
};
use crate::ScimType;

fn user_rt() -> &'static ResourceTypeDef {
    ResourceKind::User.def()
}

fn check(doc: &Map<String, Value>, rt: &'static ResourceTypeDef, cases: &[(&str, &str, bool)]) {
    for &(name, text, expected) in cases {
        let filter = p(text);
        let compiled = compile(&filter, rt).unwrap_or_else(|e| panic!("{name}: {text}: {e}"));
        assert_eq!(compiled.matches(doc), expected, "{name}: {text}");
        assert_eq!(
            filter.matches(rt, doc),
            expected,
            "{name}: {text} (Filter::matches)"
        );
    }
}

#[test]
fn the_rfc_examples_evaluate_against_the_rfc_full_user() {
    check(
        &full_user(),
        user_rt(),
        &[
            (
                "equality ignores userName case",
                r#"userName eq "BJensen@Example.com""#,
                true,
            ),
            ("contains", r#"name.familyName co "ens""#, true),
            ("starts with", r#"userName sw "J""#, false),
            (
                "schema-qualified",
                r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "B""#,
                true,
            ),
            ("present", "title pr", true),
            (
                "after",
                r#"meta.lastModified gt "2011-05-13T04:42:33Z""#,
                true,
            ),
            (
                "at or after",
                r#"meta.lastModified ge "2011-05-13T04:42:34Z""#,
                true,
            ),
            (
                "before",
                r#"meta.lastModified lt "2011-05-13T04:42:34Z""#,
                false,
            ),
            (
                "at or before",
                r#"meta.lastModified le "2011-05-13T04:42:34Z""#,
                true,
            ),
            (
                "present and equal",
                r#"title pr and userType eq "Employee""#,
                true,
            ),
            (
                "present or equal",
                r#"title pr or userType eq "Intern""#,
                true,
            ),
            (
                "schemas from the extension key",
                &format!(r#"schemas eq "{ENT}""#),
                true,
            ),
            (
                "grouping",
                r#"userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")"#,
                true,
            ),
            (
                "not grouping",
                r#"userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")"#,
                false,
            ),
            (
                "redundant parentheses",
                r#"userType eq "Employee" and (emails.type eq "work")"#,
                true,
            ),
            (
                "value path",
                r#"userType eq "Employee" and emails[type eq "work" and value co "@example.com"]"#,
                true,
            ),
            (
                "two value paths",
                r#"emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]"#,
                true,
            ),
            (
                "operator case",
                r#"userName Eq "bjensen@example.com""#,
                true,
            ),
            (
                "attribute case",
                r#"USERNAME eq "bjensen@example.com""#,
                true,
            ),
        ],
    );
}

#[test]
fn strings_honour_case_exactness_from_the_registry() {
    check(
        &full_user(),
        user_rt(),
        &[
            (
                "id is case-exact",
                r#"id eq "2819C223-7F76-453A-919D-413861904646""#,
                false,
            ),
            (
                "id exact match",
                r#"id eq "2819c223-7f76-453a-919d-413861904646""#,
                true,
            ),
            ("externalId is case-exact", r#"externalId sw "7019""#, true),
            (
                "displayName is not",
                r#"displayName eq "BABS JENSEN""#,
                true,
            ),
            (
                "meta.version is case-exact",
                r#"meta.version eq "w/\"a330bc54f0671c9\"""#,
                false,
            ),
            (
                "meta.version escaped quotes",
                r#"meta.version eq "W/\"a330bc54f0671c9\"""#,
                true,
            ),
            (
                "references are case-exact",
                r#"profileUrl eq "HTTPS://login.example.com/bjensen""#,
                false,
            ),
            ("co ignores case", r#"title co "GUIDE""#, true),
            ("sw ignores case", r#"userName sw "BJ""#, true),
            ("ew ignores case", r#"userName ew ".COM""#, true),
            ("ew longer than value", r#"nickName ew "xBabs""#, false),
            ("co empty needle", r#"title co """#, true),
            ("gt lexicographic", r#"userName gt "a""#, true),
            ("lt lexicographic", r#"userName lt "a""#, false),
            ("ge equal ignoring case", r#"title ge "TOUR GUIDE""#, true),
            ("gt equal ignoring case", r#"title gt "tour guide""#, false),
            ("le", r#"title le "tour guidf""#, true),
            ("ne", r#"userType ne "Intern""#, true),
            ("ne same", r#"userType ne "EMPLOYEE""#, false),
        ],
    );
}

#[test]
fn non_ascii_strings_compare_with_unicode_case_folding() {
    let doc =
        object(json!({"userName": "FRANÇOIS", "displayName": "Zoë Ærø", "externalId": "Ünï"}));
    check(
        &doc,
        user_rt(),
        &[
            ("escaped needle", r#"userName eq "Fran\u00e7ois""#, true),
            ("raw needle", r#"userName eq "françois""#, true),
            ("co", r#"userName co "anç""#, true),
            ("sw", r#"displayName sw "zOË""#, true),
            ("ew", r#"displayName ew "ÆRØ""#, true),
            (
                "ascii needle, non-ascii value",
                r#"displayName co "zo""#,
                true,
            ),
            ("case-exact stays exact", r#"externalId eq "ünï""#, false),
            ("case-exact match", r#"externalId eq "Ünï""#, true),
            ("ordering", r#"userName gt "françoir""#, true),
        ],
    );
}

#[test]
fn guest_upns_with_hash_and_percent_match_literally() {
    let doc = object(
        json!({"userName": "ann_contoso.com#EXT#@fabrikam.onmicrosoft.com", "displayName": "100% Sales"}),
    );
    check(
        &doc,
        user_rt(),
        &[
            (
                "hash",
                r#"userName eq "ann_contoso.com#EXT#@fabrikam.onmicrosoft.com""#,
                true,
            ),
            (
                "hash case-insensitive",
                r#"userName eq "ANN_CONTOSO.COM#ext#@FABRIKAM.onmicrosoft.com""#,
                true,
            ),
            ("percent", r#"displayName eq "100% Sales""#, true),
            (
                "percent-encoded is not decoded here",
                r#"displayName eq "100%25 Sales""#,
                false,
            ),
        ],
    );
}

#[test]
fn multi_valued_attributes_match_if_any_value_matches() {
    check(
        &full_user(),
        user_rt(),
        &[
            (
                "sub-attribute of any element",
                r#"emails.value eq "babs@jensen.org""#,
                true,
            ),
            (
                "no element",
                r#"emails.value eq "nobody@jensen.org""#,
                false,
            ),
            (
                "complex without sub compares value",
                r#"emails eq "BABS@jensen.org""#,
                true,
            ),
            ("complex without sub co", r#"emails co "jensen.org""#, true),
            ("type of any element", r#"emails.type eq "home""#, true),
            (
                "independent clauses may hit different elements",
                r#"emails.type eq "work" and emails.value co "jensen.org""#,
                true,
            ),
            (
                "value path needs one element for all",
                r#"emails[type eq "work" and value co "jensen.org"]"#,
                false,
            ),
            (
                "value path one element",
                r#"emails[type eq "home" and value co "jensen.org"]"#,
                true,
            ),
            (
                "filtered sub-attribute form",
                r#"emails[type eq "home"].value eq "babs@jensen.org""#,
                true,
            ),
            (
                "filtered sub-attribute form, other element",
                r#"emails[type eq "work"].value eq "babs@jensen.org""#,
                false,
            ),
            (
                "value path with boolean",
                r#"emails[primary eq true].value eq "bjensen@example.com""#,
                true,
            ),
            (
                "value path with not",
                r#"emails[not (type eq "work")]"#,
                true,
            ),
            (
                "value path or-group",
                r#"phoneNumbers[type eq "fax" or (type eq "mobile" and value ew "4444")]"#,
                true,
            ),
            (
                "value path on a single complex attribute",
                r#"name[givenName eq "barbara"]"#,
                true,
            ),
            (
                "value path on unassigned attribute",
                r#"roles[value pr]"#,
                false,
            ),
            (
                "value path on a simple attribute",
                r#"userName[value eq "x"]"#,
                false,
            ),
            (
                "unknown sub-attribute in a value path",
                r#"emails[nope eq "x"]"#,
                false,
            ),
            (
                "complex without value sub-attribute",
                r#"name eq "Jensen""#,
                false,
            ),
            (
                "ne means some value differs",
                r#"emails.type ne "work""#,
                true,
            ),
        ],
    );
}

#[test]
fn present_means_non_null_non_empty() {
    let doc = object(json!({
        "userName": "a",
        "title": "",
        "nickName": null,
        "emails": [],
        "phoneNumbers": [{"value": "", "type": null}],
        "ims": [{"value": "x"}],
        "name": {"givenName": ""},
        "addresses": [{}],
        "active": false,
        ENT: {"manager": {"value": ""}, "department": "D"},
    }));
    check(
        &doc,
        user_rt(),
        &[
            ("string", "userName pr", true),
            ("empty string", "title pr", false),
            ("null", "nickName pr", false),
            ("missing", "displayName pr", false),
            ("empty array", "emails pr", false),
            ("array of empty elements", "phoneNumbers pr", false),
            ("array with a value", "ims pr", true),
            ("sub-attribute", "ims.value pr", true),
            ("empty sub-attribute", "phoneNumbers.value pr", false),
            ("complex with only empty values", "name pr", false),
            ("array of empty objects", "addresses pr", false),
            ("false is a value", "active pr", true),
            (
                "extension complex empty",
                &format!("{ENT}:manager pr"),
                false,
            ),
            ("extension attribute", &format!("{ENT}:department pr"), true),
            ("unknown", "nope pr", false),
            ("eq null is not present", "title eq null", true),
            ("eq null on missing", "displayName eq null", true),
            ("eq null on present", "userName eq null", false),
            ("ne null is present", "userName ne null", true),
            ("ne null on empty array", "emails ne null", false),
            ("eq null on unknown", "nope eq null", true),
            ("ne null on unknown", "nope ne null", false),
        ],
    );
}

#[test]
fn unknown_attributes_are_unassigned() {
    check(
        &full_user(),
        user_rt(),
        &[
            ("eq", r#"nope eq "x""#, false),
            ("ne", r#"nope ne "x""#, false),
            ("not of eq", r#"not (nope eq "x")"#, true),
            ("unknown sub-attribute", r#"name.nope eq "x""#, false),
            (
                "unknown schema",
                r#"urn:example:ext:1.0:User:thing eq "x""#,
                false,
            ),
            (
                // Only the enterprise extension defines it, so it resolves there (Entra's
                // tutorial itself sends `"path": "manager"` unqualified).
                "extension attribute without its urn",
                r#"department eq "Tour Operations""#,
                true,
            ),
            ("unknown in an or", r#"nope eq "x" or userName pr"#, true),
            ("unknown in an and", r#"nope pr and userName pr"#, false),
            (
                "ne on assigned attributes",
                r#"nickName ne "x" and locale ne "x""#,
                true,
            ),
            ("ne on an unassigned attribute", r#"password ne "x""#, false),
            (
                "not of eq on an unassigned attribute",
                r#"not (password eq "x")"#,
                true,
            ),
        ],
    );
}

#[test]
fn booleans_compare_with_eq_and_ne() {
    check(
        &full_user(),
        user_rt(),
        &[
            ("eq true", "active eq true", true),
            ("eq false", "active eq false", false),
            ("ne false", "active ne false", true),
            ("ne true", "active ne true", false),
            (
                "string boolean as Entra sends it",
                r#"active eq "True""#,
                true,
            ),
            ("other string", r#"active eq "yes""#, false),
            ("number", "active eq 1", false),
        ],
    );
}

#[test]
fn date_times_compare_chronologically() {
    check(
        &full_user(),
        user_rt(),
        &[
            (
                "same instant, other offset",
                r#"meta.lastModified eq "2011-05-13T06:42:34+02:00""#,
                true,
            ),
            (
                "same instant with fraction",
                r#"meta.lastModified eq "2011-05-13T04:42:34.000Z""#,
                true,
            ),
            (
                "ne",
                r#"meta.lastModified ne "2011-05-13T04:42:34Z""#,
                false,
            ),
            (
                "offset makes it later",
                r#"meta.lastModified lt "2011-05-13T04:42:34-00:01""#,
                true,
            ),
            (
                "created before",
                r#"meta.created lt "2011-01-01T00:00:00Z""#,
                true,
            ),
            (
                "range",
                r#"meta.created ge "2010-01-01T00:00:00Z" and meta.created le "2010-12-31T23:59:59Z""#,
                true,
            ),
            ("sw is textual", r#"meta.created sw "2010-01""#, true),
            ("not a string", "meta.created gt 5", false),
        ],
    );
}

#[test]
fn date_times_in_any_rfc3339_form_compare_as_instants() {
    let doc = object(json!({"meta": {
        "created": "2024-01-01T00:00:00.500Z",
        "lastModified": "2024-01-01T01:00:00+01:00"
    }}));
    check(
        &doc,
        user_rt(),
        &[
            (
                "fraction after the second",
                r#"meta.created gt "2024-01-01T00:00:00Z""#,
                true,
            ),
            (
                "fraction before the next second",
                r#"meta.created lt "2024-01-01T00:00:01Z""#,
                true,
            ),
            (
                "offset in the document",
                r#"meta.lastModified eq "2024-01-01T00:00:00Z""#,
                true,
            ),
            (
                "offset in both",
                r#"meta.lastModified ge "2023-12-31T23:00:00-01:00""#,
                true,
            ),
        ],
    );
}

#[test]
fn extension_attributes_are_found_under_their_urn() {
    check(
        &full_user(),
        user_rt(),
        &[
            (
                "colon form",
                &format!(r#"{ENT}:department eq "tour operations""#),
                true,
            ),
            (
                "entra dot form",
                &format!(r#"{ENT}.department eq "Tour Operations""#),
                true,
            ),
            (
                "upper-case urn",
                &format!(r#"{}:department pr"#, ENT.to_uppercase()),
                true,
            ),
            (
                "manager value",
                &format!(r#"{ENT}:manager.value eq "26118915-6090-4610-87e4-49d8ca9f808d""#),
                true,
            ),
            (
                "manager compares its value",
                &format!(r#"{ENT}:manager eq "26118915-6090-4610-87e4-49d8ca9f808d""#),
                true,
            ),
            (
                "manager value path",
                &format!(r#"{ENT}:manager[displayName sw "john"]"#),
                true,
            ),
            (
                "contact extension absent",
                &format!(r#"schemas eq "{}""#, crate::schema::CONTACT_USER_URN),
                false,
            ),
            (
                "core schema",
                r#"schemas eq "urn:ietf:params:scim:schemas:core:2.0:User""#,
                true,
            ),
            ("schemas pr", "schemas pr", true),
            ("schemas co", r#"schemas co "ENTERPRISE""#, true),
        ],
    );
}

#[test]
fn an_explicit_schemas_array_is_used_when_present() {
    let doc = object(
        json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], ENT: {"department": "x"}}),
    );
    check(
        &doc,
        user_rt(),
        &[
            (
                "listed",
                r#"schemas eq "urn:ietf:params:scim:schemas:core:2.0:User""#,
                true,
            ),
            ("not listed", &format!(r#"schemas eq "{ENT}""#), false),
        ],
    );
}

#[test]
fn groups_evaluate_against_the_group_schema() {
    check(
        &group(),
        ResourceKind::Group.def(),
        &[
            (
                "displayName ignores case",
                r#"displayName eq "group1""#,
                true,
            ),
            (
                "externalId is exact",
                r#"externalId eq "group1-ext""#,
                false,
            ),
            (
                "members are not in the document",
                r#"members.value eq "x""#,
                false,
            ),
            ("userName is not a group attribute", r#"userName pr"#, false),
            ("meta", r#"meta.resourceType eq "Group""#, true),
            (
                "group schema",
                r#"schemas eq "urn:ietf:params:scim:schemas:core:2.0:Group""#,
                true,
            ),
        ],
    );
}

#[test]
fn type_mismatches_never_match() {
    check(
        &full_user(),
        user_rt(),
        &[
            ("number against string", "userName eq 5", false),
            ("number ne string", "userName ne 5", false),
            ("boolean against string", "userName eq true", false),
            ("string against complex", r#"meta eq "x""#, false),
        ],
    );
}

const fn num_attr(name: &'static str, ty: AttrType, multi_valued: bool) -> AttrDef {
    AttrDef {
        name,
        ty,
        multi_valued,
        required: false,
        case_exact: false,
        mutability: Mutability::ReadWrite,
        returned: Returned::Default,
        uniqueness: Uniqueness::None,
        canonical_values: &[],
        reference_types: &[],
        sub_attributes: &[],
        description: "",
    }
}

static NUM_ATTRS: [AttrDef; 3] = [
    num_attr("age", AttrType::Integer, false),
    num_attr("ratio", AttrType::Decimal, false),
    num_attr("scores", AttrType::Integer, true),
];

static NUM_SCHEMA: SchemaDef = SchemaDef {
    id: "urn:example:params:scim:schemas:Numbers",
    name: "Numbers",
    description: "",
    attributes: &NUM_ATTRS,
};

static NUM_RT: ResourceTypeDef = ResourceTypeDef {
    id: "Numbers",
    name: "Numbers",
    endpoint: "/Numbers",
    description: "",
    schema: &NUM_SCHEMA,
    extensions: &[],
};

#[test]
fn numbers_compare_numerically() {
    let doc = object(json!({"age": 42, "ratio": 0.5, "scores": [3, 18446744073709551615u64, -4]}));
    check(
        &doc,
        &NUM_RT,
        &[
            ("eq", "age eq 42", true),
            ("eq as decimal", "age eq 42.0", true),
            ("eq exponent", "age eq 4.2e1", true),
            ("ne", "age ne 42", false),
            ("gt", "age gt 41", true),
            ("gt equal", "age gt 42", false),
            ("ge", "age ge 42", true),
            ("lt", "age lt 42.5", true),
            ("le", "age le 41.99", false),
            ("not lexicographic", "age gt 9", true),
            ("decimal", "ratio lt 1", true),
            ("decimal eq", "ratio eq 0.5", true),
            ("negative", "ratio gt -1e3", true),
            ("any of a multi-valued number", "scores lt 0", true),
            (
                "large integers stay exact",
                "scores eq 18446744073709551615",
                true,
            ),
            (
                "large integers stay exact 2",
                "scores gt 18446744073709551614",
                true,
            ),
            ("none", "scores gt 18446744073709551615", false),
            ("string against number", r#"age eq "42""#, false),
            ("pr", "age pr", true),
        ],
    );
}

#[test]
fn operators_without_meaning_for_the_type_are_invalid_filter() {
    let cases: &[(&str, &str, &'static ResourceTypeDef)] = &[
        ("ordering a boolean attribute", "active gt true", user_rt()),
        (
            "ordering a boolean attribute with a string",
            r#"active gt "a""#,
            user_rt(),
        ),
        ("substring on a boolean", r#"active co "t""#, user_rt()),
        ("ordering with null", "title gt null", user_rt()),
        ("substring with null", "title co null", user_rt()),
        ("ordering with a boolean value", "title lt false", user_rt()),
        (
            "ordering a binary attribute",
            r#"x509Certificates.value gt "a""#,
            user_rt(),
        ),
        (
            "a dateTime that is not RFC 3339",
            r#"meta.created gt "yesterday""#,
            user_rt(),
        ),
        (
            "a date without time",
            r#"meta.lastModified eq "2011-05-13""#,
            user_rt(),
        ),
        ("substring on a number", "age co 4", &NUM_RT),
    ];
    for &(name, text, rt) in cases {
        let err = compile(&p(text), rt).expect_err(name);
        assert_eq!(err.scim_type, Some(ScimType::InvalidFilter), "{name}");
        assert_eq!(err.status, 400, "{name}");
        assert!(!p(text).matches(rt, &full_user()), "{name}");
    }
}

#[test]
fn compiled_filters_are_reusable_across_documents() {
    let filter = compile(&p(r#"userName eq "a" or userName eq "b""#), user_rt()).unwrap();
    let docs = ["a", "B", "c"].map(|u| object(json!({ "userName": u })));
    let hits: Vec<bool> = docs.iter().map(|d| filter.matches(d)).collect();
    assert_eq!(hits, [true, true, false]);
}

#[test]
fn long_and_chains_evaluate_without_deep_recursion() {
    let clause = r#"userName pr and "#;
    let text = format!("{}title pr", clause.repeat(250));
    let filter = p(&text);
    assert!(filter.matches(user_rt(), &full_user()));
}
