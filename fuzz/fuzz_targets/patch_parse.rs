//! Any JSON body either fails with a client error or parses and applies to a fixed user and
//! a fixed group; what applies yields a valid document, never a Group with `members`, and
//! its normalised form (`to_body`) parses back to the same operations (when no printed
//! filter outgrows `MAX_FILTER_LEN`).
//!
//! Run: `cargo +nightly fuzz run patch_parse` from `fuzz/` (needs `cargo install cargo-fuzz`).

#![no_main]

use libfuzzer_sys::fuzz_target;
use scim_core::filter::MAX_FILTER_LEN;
use scim_core::patch::{apply_patch, parse_patch, to_body};
use scim_core::resource::{check_required, normalize_resource, Doc};
use scim_core::schema::ResourceKind;
use serde_json::{json, Value};
use std::sync::OnceLock;

fn user() -> &'static Doc {
    static USER: OnceLock<Doc> = OnceLock::new();
    USER.get_or_init(|| {
        let body = json!({
            "userName": "bjensen@example.com",
            "externalId": "701984",
            "name": {"givenName": "Barbara", "familyName": "Jensen"},
            "displayName": "Babs Jensen",
            "active": true,
            "emails": [{"value": "bjensen@example.com", "type": "work", "primary": true},
                       {"value": "babs@jensen.org", "type": "home"}],
            "addresses": [{"type": "work", "formatted": "100 Universal City Plaza"}],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":
                {"department": "Tour Operations", "manager": {"value": "26118915"}}
        });
        normalize_resource(ResourceKind::User, &body).expect("valid fixture")
    })
}

fn group() -> &'static Doc {
    static GROUP: OnceLock<Doc> = OnceLock::new();
    GROUP.get_or_init(|| {
        let body = json!({"displayName": "Tour Guides", "externalId": "8aa1a0c0"});
        normalize_resource(ResourceKind::Group, &body).expect("valid fixture")
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(body) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let ops = match parse_patch(&body) {
        Ok(ops) => ops,
        Err(err) => {
            assert!(err.is_client_error(), "{err}");
            return;
        }
    };
    let printable = ops.iter().all(|op| {
        op.path
            .as_ref()
            .and_then(|p| p.filter.as_ref())
            .is_none_or(|f| f.to_string().len() <= MAX_FILTER_LEN)
    });
    if printable {
        assert_eq!(parse_patch(&to_body(&ops)).as_ref(), Ok(&ops));
    }
    for (kind, doc) in [(ResourceKind::User, user()), (ResourceKind::Group, group())] {
        match apply_patch(kind, doc, &ops) {
            Ok(out) => {
                assert!(check_required(kind, &out.doc).is_ok());
                assert!(kind == ResourceKind::User || !out.doc.contains_key("members"));
                assert!(out.members.added.iter().all(|m| !m.value.trim().is_empty()));
            }
            Err(err) => assert!(err.is_client_error(), "{err}"),
        }
    }
});
