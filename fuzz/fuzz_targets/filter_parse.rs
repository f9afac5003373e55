//! Any input either fails with `invalidFilter` or parses to a tree that prints back to
//! itself and compiles, evaluates and plans without panicking.
//!
//! Run: `cargo +nightly fuzz run filter_parse` from `fuzz/` (needs `cargo install cargo-fuzz`).

#![no_main]

use libfuzzer_sys::fuzz_target;
use scim_core::filter::{compile, parse, plan, MAX_FILTER_LEN};
use scim_core::schema::ResourceKind;
use scim_core::ScimType;
use serde_json::{json, Map, Value};
use std::sync::OnceLock;

fn user() -> &'static Map<String, Value> {
    static USER: OnceLock<Map<String, Value>> = OnceLock::new();
    USER.get_or_init(|| {
        let Value::Object(doc) = json!({
            "id": "2819c223", "externalId": "701984", "userName": "bjensen@example.com",
            "name": {"givenName": "Barbara", "familyName": "Jensen"},
            "displayName": "Babs Jensen", "title": "", "active": true,
            "emails": [{"value": "bjensen@example.com", "type": "work", "primary": true},
                       {"value": "babs@jensen.org", "type": "home"}],
            "x509Certificates": [{"value": "MIID"}],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":
                {"department": "Tour Operations", "manager": {"value": "26118915"}},
            "meta": {"created": "2010-01-23T04:56:22Z", "lastModified": "2011-05-13T04:42:34.5+02:00"}
        }) else {
            unreachable!()
        };
        doc
    })
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let filter = match parse(&text) {
        Ok(filter) => filter,
        Err(err) => {
            assert_eq!(err.scim_type, Some(ScimType::InvalidFilter));
            assert!(err.detail.len() < 300, "detail too long: {}", err.detail);
            return;
        }
    };
    let printed = filter.to_string();
    if printed.len() <= MAX_FILTER_LEN {
        assert_eq!(parse(&printed).as_ref(), Ok(&filter), "reprint: {printed}");
    }
    for kind in [ResourceKind::User, ResourceKind::Group] {
        if let Ok(compiled) = compile(&filter, kind.def()) {
            let _ = compiled.matches(user());
        }
        let plan = plan(&filter, kind);
        if let Some(residual) = plan.residual {
            let _ = residual.matches(kind.def(), user());
        }
    }
});
