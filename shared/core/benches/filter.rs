//! Filter benchmarks: parsing what Entra and Okta send, and evaluating a five-clause filter
//! on a full user with the enterprise extension (targets: < 1 µs each, release build).

#![allow(clippy::unwrap_used, clippy::expect_used)]

// The allocator the functions run with (scim-aws sets it for every deployed binary).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use criterion::{criterion_group, criterion_main, Criterion};
use scim_core::filter::{compile, parse, plan};
use scim_core::schema::ResourceKind;
use serde_json::{json, Map, Value};
use std::hint::black_box;

const FIVE_CLAUSES: &str = concat!(
    r#"userName eq "BJENSEN@example.com""#,
    r#" and active eq true"#,
    r#" and emails[type eq "work" and value co "@example.com"]"#,
    r#" and urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "tour operations""#,
    r#" and meta.lastModified gt "2011-01-01T00:00:00Z""#,
);

fn full_user() -> Map<String, Value> {
    let Value::Object(doc) = json!({
        "id": "2819c223-7f76-453a-919d-413861904646",
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
        "addresses": [{
            "type": "work",
            "streetAddress": "100 Universal City Plaza",
            "locality": "Hollywood",
            "region": "CA",
            "postalCode": "91608",
            "country": "USA",
            "formatted": "100 Universal City Plaza\nHollywood, CA 91608 USA",
            "primary": true
        }],
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
        "groups": [{"value": "e9e30dba-f08f-4109-8486-d5c6a331660a", "display": "Tour Guides"}],
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
            "employeeNumber": "701984",
            "costCenter": "4130",
            "organization": "Universal Studios",
            "division": "Theme Park",
            "department": "Tour Operations",
            "manager": {"value": "26118915-6090-4610-87e4-49d8ca9f808d", "displayName": "John Smith"}
        },
        "meta": {
            "resourceType": "User",
            "created": "2010-01-23T04:56:22Z",
            "lastModified": "2011-05-13T04:42:34Z",
            "version": "W/\"a330bc54f0671c9\"",
            "location": "https://example.com/v2/Users/2819c223-7f76-453a-919d-413861904646"
        }
    }) else {
        unreachable!()
    };
    doc
}

fn parsing(c: &mut Criterion) {
    c.bench_function("parse userName eq", |b| {
        b.iter(|| {
            parse(black_box(
                r#"userName eq "Test_User_00aa00aa-bb11-cc22-dd33-44ee44ee44ee""#,
            ))
        })
    });
    c.bench_function("parse five clauses", |b| {
        b.iter(|| parse(black_box(FIVE_CLAUSES)))
    });
}

fn evaluating(c: &mut Criterion) {
    let rt = ResourceKind::User.def();
    let doc = full_user();
    let filter = parse(FIVE_CLAUSES).unwrap();
    let compiled = compile(&filter, rt).unwrap();
    assert!(
        compiled.matches(&doc),
        "the benchmark filter must match (worst case for `and`)"
    );
    c.bench_function("evaluate five clauses (compiled)", |b| {
        b.iter(|| black_box(&compiled).matches(black_box(&doc)))
    });
    c.bench_function("compile five clauses", |b| {
        b.iter(|| compile(black_box(&filter), rt))
    });
    let entra = parse(r#"userName eq "bjensen@example.com""#).unwrap();
    let entra_compiled = compile(&entra, rt).unwrap();
    c.bench_function("evaluate userName eq (compiled)", |b| {
        b.iter(|| black_box(&entra_compiled).matches(black_box(&doc)))
    });
    // The floor: one map lookup and a case-insensitive compare, by hand.
    c.bench_function("baseline: doc.get(userName) + eq_ignore_ascii_case", |b| {
        b.iter(|| {
            black_box(&doc)
                .get("userName")
                .and_then(Value::as_str)
                .is_some_and(|u| u.eq_ignore_ascii_case(black_box("bjensen@example.com")))
        })
    });
    c.bench_function("plan five clauses", |b| {
        b.iter(|| plan(black_box(&filter), ResourceKind::User))
    });
}

criterion_group!(benches, parsing, evaluating);
criterion_main!(benches);
