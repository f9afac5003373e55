//! Any JSON body either fails with a client error or normalises to a canonical User and
//! Group document that normalises to itself again and satisfies the required attributes.
//!
//! Run: `cargo +nightly fuzz run resource_deserialize` from `fuzz/` (needs
//! `cargo install cargo-fuzz`).

#![no_main]

use libfuzzer_sys::fuzz_target;
use scim_core::resource::{check_required, normalize_resource};
use scim_core::schema::ResourceKind;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(body) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    for kind in [ResourceKind::User, ResourceKind::Group] {
        match normalize_resource(kind, &body) {
            Ok(doc) => {
                assert!(check_required(kind, &doc).is_ok());
                for key in ["id", "meta", "schemas"] {
                    assert!(!doc.contains_key(key), "{key} kept");
                }
                let again = normalize_resource(kind, &Value::Object(doc.clone()));
                assert_eq!(again.as_ref(), Ok(&doc), "normalisation is not idempotent");
            }
            Err(err) => assert!(err.is_client_error(), "{err}"),
        }
    }
});
