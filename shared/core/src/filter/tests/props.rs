//! Property and hostile-input tests: printing then parsing gives the same tree, and no input
//! makes the parser, printer, compiler, evaluator or planner panic or overflow the stack.
//! Seeds are fixed so every run checks the same cases.

use super::*;
use crate::filter::{compile, plan, MAX_FILTER_DEPTH, MAX_FILTER_LEN};
use crate::schema::ResourceKind;
use crate::ScimType;
use proptest::prelude::*;
use proptest::test_runner::RngSeed;

/// `cases` per property unless `PROPTEST_CASES` asks for more (or fewer).
fn config(cases: u32) -> ProptestConfig {
    let defaults = ProptestConfig::default();
    ProptestConfig {
        cases: if std::env::var_os("PROPTEST_CASES").is_some() {
            defaults.cases
        } else {
            cases
        },
        rng_seed: RngSeed::Fixed(0x5C1A_F117),
        failure_persistence: None,
        ..defaults
    }
}

const NAMES: &[&str] = &[
    "userName",
    "emails",
    "value",
    "type",
    "meta",
    "lastModified",
    "not",
    "and",
    "or",
    "pr",
    "eq",
    "true",
    "null",
    "x-y_z9",
    "$ref",
];

fn arb_name() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(NAMES).prop_map(str::to_string),
        "[a-zA-Z][a-zA-Z0-9_-]{0,8}",
    ]
}

fn arb_urn() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        3 => Just(None),
        1 => (prop::sample::select(KNOWN_URNS), 0..3u8).prop_map(|(u, case)| Some(match case {
            0 => u.to_string(),
            1 => u.to_uppercase(),
            _ => u.to_lowercase(),
        })),
        1 => Just(Some("urn:example:ext:1.0".to_string())),
    ]
}

/// A top-level attribute path: optional URN, name, optional sub-attribute.
fn arb_path() -> impl Strategy<Value = AttrPath> {
    (arb_urn(), arb_name(), prop::option::of(arb_name())).prop_map(|(urn, name, sub)| AttrPath {
        urn,
        name,
        sub,
    })
}

/// A path inside `[...]`: a plain sub-attribute name.
fn arb_rel_path() -> impl Strategy<Value = AttrPath> {
    arb_name().prop_map(|n| AttrPath::simple(&n))
}

fn arb_op() -> impl Strategy<Value = CompareOp> {
    prop::sample::select(vec![
        CompareOp::Eq,
        CompareOp::Ne,
        CompareOp::Co,
        CompareOp::Sw,
        CompareOp::Ew,
        CompareOp::Gt,
        CompareOp::Ge,
        CompareOp::Lt,
        CompareOp::Le,
    ])
}

fn arb_value() -> impl Strategy<Value = CompValue> {
    prop_oneof![
        Just(CompValue::Null),
        any::<bool>().prop_map(CompValue::Bool),
        any::<i64>().prop_map(|n| CompValue::Number(n.into())),
        any::<u64>().prop_map(|n| CompValue::Number(n.into())),
        any::<f64>()
            .prop_filter_map("finite", serde_json::Number::from_f64)
            .prop_map(CompValue::Number),
        "(?s).{0,16}".prop_map(CompValue::String),
        "[\"\\\\/ a-z#%é😀\u{1}\n]{0,8}".prop_map(CompValue::String),
    ]
}

fn arb_tree(leaf: BoxedStrategy<Filter>, depth: u32) -> BoxedStrategy<Filter> {
    leaf.prop_recursive(depth, 24, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(l, r)| Filter::And(Box::new(l), Box::new(r))),
            (inner.clone(), inner.clone()).prop_map(|(l, r)| Filter::Or(Box::new(l), Box::new(r))),
            inner.prop_map(|f| Filter::Not(Box::new(f))),
        ]
    })
    .boxed()
}

fn arb_attr_exp(path: BoxedStrategy<AttrPath>) -> BoxedStrategy<Filter> {
    prop_oneof![
        3 => (path.clone(), arb_op(), arb_value())
            .prop_map(|(path, op, value)| Filter::Compare { path, op, value }),
        1 => path.prop_map(Filter::Present),
    ]
    .boxed()
}

fn arb_filter() -> impl Strategy<Value = Filter> {
    let inner = arb_tree(arb_attr_exp(arb_rel_path().boxed()), 2);
    let value_path = (arb_urn(), arb_name(), inner).prop_map(|(urn, name, f)| Filter::ValuePath {
        path: AttrPath {
            urn,
            name,
            sub: None,
        },
        filter: Box::new(f),
    });
    let leaf = prop_oneof![
        4 => arb_attr_exp(arb_path().boxed()),
        1 => value_path,
    ]
    .boxed();
    arb_tree(leaf, 4)
}

/// Pieces of filter syntax, valid and not, glued together at random.
const TOKENS: &[&str] = &[
    "userName",
    "emails",
    "emails.value",
    "members",
    "meta.lastModified",
    "title",
    "active",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User.manager",
    "urn:",
    ":",
    ".",
    "value",
    "type",
    " ",
    " ",
    " ",
    "\t",
    "(",
    ")",
    "[",
    "]",
    "not",
    "not ",
    " and ",
    " or ",
    "and",
    "or",
    " eq ",
    " ne ",
    " co ",
    " sw ",
    " ew ",
    " gt ",
    " ge ",
    " lt ",
    " le ",
    " pr",
    "EQ",
    "Pr",
    "\"x\"",
    "\"",
    "\\",
    "\\\"",
    "\\u",
    "\\ud83d",
    "\\ude00",
    "00e9",
    "\"a\\\"b\"",
    "12",
    "-",
    "0",
    "1e",
    "1.5",
    "e+",
    "true",
    "false",
    "null",
    "é",
    "日本",
    "😀",
    "\u{0}",
    "#EXT#",
    "%",
    "%22",
    "'",
];

fn arb_tokens() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(TOKENS), 0..40).prop_map(|t| t.concat())
}

/// Everything downstream of a successful parse must hold up too.
fn exercise(text: &str) -> Result<(), TestCaseError> {
    let Ok(filter) = parse(text) else {
        let err = parse(text).unwrap_err();
        prop_assert_eq!(err.scim_type, Some(ScimType::InvalidFilter));
        prop_assert!(err.detail.len() < 300, "detail too long: {}", err.detail);
        return Ok(());
    };
    let printed = filter.to_string();
    // The canonical form can be longer than the input (`not a pr` prints `not (a pr)`).
    if printed.len() <= MAX_FILTER_LEN {
        let reparsed = parse(&printed);
        prop_assert!(
            reparsed.as_ref() == Ok(&filter),
            "reprint differs: {}",
            crate::path::truncate(&printed, 200)
        );
    }
    for kind in [ResourceKind::User, ResourceKind::Group] {
        if let Ok(compiled) = compile(&filter, kind.def()) {
            compiled.matches(&full_user());
            compiled.matches(&group());
        }
        let plan = plan(&filter, kind);
        if let Some(residual) = plan.residual {
            residual.matches(kind.def(), &full_user());
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(1000))]

    #[test]
    fn printing_then_parsing_gives_the_same_tree(filter in arb_filter()) {
        let printed = filter.to_string();
        prop_assume!(printed.len() <= MAX_FILTER_LEN);
        prop_assert_eq!(parse(&printed), Ok(filter), "printed: {}", printed);
    }

    #[test]
    fn printed_random_trees_evaluate_and_plan_without_panicking(filter in arb_filter()) {
        let printed = filter.to_string();
        prop_assume!(printed.len() <= MAX_FILTER_LEN);
        exercise(&printed)?;
    }

    #[test]
    fn arbitrary_strings_never_panic(text in any::<String>()) {
        exercise(&text)?;
    }

    #[test]
    fn grammar_shaped_strings_never_panic(text in arb_tokens()) {
        exercise(&text)?;
    }

    #[test]
    fn mangled_valid_filters_never_panic(filter in arb_filter(), cut in any::<prop::sample::Index>(), junk in prop::sample::select(TOKENS)) {
        let printed = filter.to_string();
        let mut at = cut.index(printed.len() + 1);
        while !printed.is_char_boundary(at) {
            at -= 1;
        }
        let (head, tail) = printed.split_at(at);
        exercise(&format!("{head}{junk}{tail}"))?;
        exercise(head)?;
    }
}

#[test]
fn hostile_inputs_are_rejected_or_handled_without_panicking() {
    let chain = |clause: &str, sep: &str| {
        let mut text = clause.to_string();
        while text.len() + sep.len() + clause.len() <= MAX_FILTER_LEN {
            text.push_str(sep);
            text.push_str(clause);
        }
        text
    };
    let over = MAX_FILTER_DEPTH + 1;
    let hostile: Vec<String> = vec![
        "(".repeat(100_000),
        "(".repeat(MAX_FILTER_LEN),
        ")".repeat(MAX_FILTER_LEN),
        "[".repeat(MAX_FILTER_LEN),
        format!("a{}", "[".repeat(2000)),
        "not ".repeat(1000),
        "not (".repeat(800),
        "not(".repeat(1000),
        format!("{}a pr{}", "(".repeat(over), ")".repeat(over)),
        format!("emails[{}type pr{}]", "(".repeat(over), ")".repeat(over)),
        chain("a pr", " and "),
        chain("a pr", " or "),
        chain("a eq 1", " and "),
        chain("a pr", " and not "),
        chain("emails[type eq \"w\"]", " or "),
        format!("title eq \"{}\"", "\\\"".repeat(2000)),
        format!("title eq \"{}\"", "\\u00e9".repeat(600)),
        format!("title eq \"{}\"", "\\ud83d\\ude00".repeat(300)),
        format!("{} eq 1", "ü".repeat(2000)),
        format!("title eq \"{}", "ü".repeat(2000)),
        format!("title eq {}", "9".repeat(4000)),
        format!("title eq 0.{}", "0".repeat(4000)),
        format!("title eq 1e{}", "9".repeat(400)),
        format!("title eq -{}", "9".repeat(400)),
        format!("{}:x pr", "urn:".repeat(500)),
        "urn:ietf:params:scim:schemas:core:2.0:User".into(),
        "urn:ietf:params:scim:schemas:core:2.0:User.".into(),
        "urn:ietf:params:scim:schemas:core:2.0:User: pr".into(),
        "urn:ietf:params:scim:schemas:core:2.0:Useré:x pr".into(),
        "urn:ietf:params:scim:schemas:core:2.0:User日本 pr".into(),
        "urn::: pr".into(),
        "emails[type eq \"work\"].".into(),
        "emails[type eq \"work\"].value".into(),
        "emails[type eq \"work\"].value eq".into(),
        "emails[type eq \"work\"].value.x eq 1".into(),
        "emails[type eq \"work\"]value eq 1".into(),
        "emails[].value eq 1".into(),
        "emails[]".into(),
        "[]".into(),
        "]".into(),
        "\"".into(),
        "\\".into(),
        "\"\\".into(),
        "\"\\u".into(),
        "a eq \"\\u".into(),
        "a eq \"\\ud800\\u".into(),
        "a eq \"\\ud800\\".into(),
        "a eq \"\\uD83D\\uDE00\"".into(),
        "a eq \"\u{0}\"".into(),
        "a\u{0}eq 1".into(),
        "a eq 1\u{0}".into(),
        "\u{feff}userName eq \"x\"".into(),
        "userName\u{a0}eq \"x\"".into(),
        "userName eq\u{2003}\"x\"".into(),
        "é".into(),
        "a eq é".into(),
        "é eq 1".into(),
        "😀 pr".into(),
        "a pr and 😀".into(),
        "a eq -".into(),
        "a eq --1".into(),
        "a eq 1..2".into(),
        "a eq 1e+".into(),
        "a eq .5".into(),
        "a eq NaN".into(),
        "a eq Infinity".into(),
        "a eq -0".into(),
        "a eq -0.0".into(),
        "a eq 1E-400".into(),
        "()".into(),
        "( )".into(),
        "not".into(),
        "not ".into(),
        "not (".into(),
        "not ()".into(),
        "a pr and".into(),
        "and".into(),
        "or".into(),
        "pr".into(),
        "eq".into(),
        "a pr pr".into(),
        "a eq 1 eq 1".into(),
        "\t\r\n".into(),
        "title pr\u{85}".into(),
        "title eq \"\u{10FFFF}\"".into(),
        "title eq \"\u{7f}\u{80}\u{ff}\"".into(),
    ];
    for text in &hostile {
        let result = parse(text);
        if let Err(err) = &result {
            assert_eq!(err.scim_type, Some(ScimType::InvalidFilter), "{err}");
            assert!(err.detail.len() < 300, "{}", err.detail);
        }
        exercise(text).unwrap_or_else(|e| panic!("{:?}: {e}", truncate_for_msg(text)));
    }
}

fn truncate_for_msg(text: &str) -> String {
    crate::path::truncate(text, 80)
}

#[test]
fn the_longest_logical_chain_is_handled_on_half_a_default_thread_stack() {
    // `a pr or a pr ...` is the densest chain (8 bytes a link, ~500 links). Parsing,
    // compiling, evaluating, planning and printing loop over chains; the derived `Clone`,
    // `PartialEq` and `Drop` recurse once per link, which in a debug build needs under
    // 512 KiB. Threads get 2 MiB by default.
    let handle = std::thread::Builder::new()
        .stack_size(1024 * 1024)
        .spawn(|| {
            for sep in [" or ", " and "] {
                let mut text = "a pr".to_string();
                while text.len() + sep.len() + 4 <= MAX_FILTER_LEN {
                    text.push_str(sep);
                    text.push_str("a pr");
                }
                let filter = parse(&text).unwrap();
                assert_eq!(parse(&filter.to_string()).as_ref(), Ok(&filter));
                let compiled = compile(&filter, ResourceKind::User.def()).unwrap();
                assert!(!compiled.matches(&full_user()));
                let plan = plan(&filter, ResourceKind::User);
                assert!(plan.lookups.is_empty() && plan.residual.is_some());
            }
        })
        .unwrap();
    handle.join().unwrap();
}
