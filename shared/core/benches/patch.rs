//! PATCH benchmarks: a five-operation Entra PATCH (capitalised ops, a string boolean, a
//! filtered email path, dotted path-less keys, a bare manager id) on a full user with the
//! enterprise extension (target: < 10 µs parse and apply, release build).

#![allow(clippy::unwrap_used, clippy::expect_used)]

// The allocator the functions run with (scim-aws sets it for every deployed binary).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use criterion::{criterion_group, criterion_main, Criterion};
use scim_core::patch::{apply_patch, parse_patch, patch};
use scim_core::resource::normalize_resource;
use scim_core::schema::ResourceKind;
use serde_json::{json, Value};
use std::hint::black_box;

fn full_user() -> Value {
    json!({
        "schemas": [
            "urn:ietf:params:scim:schemas:core:2.0:User",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
        ],
        "externalId": "701984",
        "userName": "bjensen@example.com",
        "name": {
            "formatted": "Ms. Barbara J Jensen, III",
            "familyName": "Jensen",
            "givenName": "Barbara",
            "middleName": "Jane",
            "honorificPrefix": "Ms.",
            "honorificSuffix": "III"
        },
        "displayName": "Babs Jensen",
        "nickName": "Babs",
        "profileUrl": "https://login.example.com/bjensen",
        "emails": [
            {"value": "bjensen@example.com", "type": "work", "primary": true},
            {"value": "babs@jensen.org", "type": "home"}
        ],
        "addresses": [
            {
                "type": "work",
                "streetAddress": "100 Universal City Plaza",
                "locality": "Hollywood",
                "region": "CA",
                "postalCode": "91608",
                "country": "USA",
                "formatted": "100 Universal City Plaza\nHollywood, CA 91608 USA",
                "primary": true
            },
            {
                "type": "home",
                "streetAddress": "456 Hollywood Blvd",
                "locality": "Hollywood",
                "region": "CA",
                "postalCode": "91608",
                "country": "USA",
                "formatted": "456 Hollywood Blvd\nHollywood, CA 91608 USA"
            }
        ],
        "phoneNumbers": [
            {"value": "555-555-5555", "type": "work"},
            {"value": "555-555-4444", "type": "mobile"}
        ],
        "ims": [{"value": "someaimhandle", "type": "aim"}],
        "photos": [{"value": "https://photos.example.com/profilephoto/72930000000Ccne/F", "type": "photo"}],
        "userType": "Employee",
        "title": "Tour Guide",
        "preferredLanguage": "en-US",
        "locale": "en-US",
        "timezone": "America/Los_Angeles",
        "active": true,
        "entitlements": [{"value": "Tour Guide"}],
        "roles": [{"value": "Employee"}],
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
            "employeeNumber": "701984",
            "costCenter": "4130",
            "organization": "Universal Studios",
            "division": "Theme Park",
            "department": "Tour Operations",
            "manager": {"value": "26118915-6090-4610-87e4-49d8ca9f808d"}
        }
    })
}

fn entra_patch() -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [
            {"op": "Replace", "path": "active", "value": "False"},
            {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "barbara.jensen@example.com"},
            {"op": "Replace", "value": {"name.givenName": "Barb", "name.familyName": "Jensen-Smith"}},
            {"op": "Add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
             "value": "b2f7e0a7-1d0c-4b4c-9f8a-2c3e5d6f7a8b"},
            {"op": "Replace", "path": "addresses[type eq \"work\"].formatted",
             "value": "1 Universal City Plaza\nHollywood, CA 91608 USA"}
        ]
    })
}

fn bench_patch(c: &mut Criterion) {
    let doc = normalize_resource(ResourceKind::User, &full_user()).unwrap();
    let body = entra_patch();
    let ops = parse_patch(&body).unwrap();
    // The bench measures what it says: every operation applies and changes something.
    let out = patch(ResourceKind::User, &doc, &body).unwrap();
    assert_eq!(out.changed.len(), 5, "{:?}", out.changed);

    let mut group = c.benchmark_group("patch");
    group.bench_function("entra_5_ops_parse_and_apply", |b| {
        b.iter(|| patch(ResourceKind::User, black_box(&doc), black_box(&body)))
    });
    group.bench_function("entra_5_ops_parse", |b| {
        b.iter(|| parse_patch(black_box(&body)))
    });
    group.bench_function("entra_5_ops_apply", |b| {
        b.iter(|| apply_patch(ResourceKind::User, black_box(&doc), black_box(&ops)))
    });
    // The floor under `apply`: copying and dropping the stored document it patches.
    group.bench_function("full_user_clone_baseline", |b| {
        b.iter(|| black_box(&doc).clone())
    });
    group.finish();
}

criterion_group!(benches, bench_patch);
criterion_main!(benches);
