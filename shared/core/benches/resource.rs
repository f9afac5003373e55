//! Resource benchmarks: what every request does to a resource besides filters and PATCH.
//! Deserialise (request bytes → JSON → canonical document), serialise (render with `meta`
//! → response bytes), projection (`attributes` / `excludedAttributes` parse and apply), and
//! a list page of 100 users (an Okta import page) rendered and serialised.

#![allow(clippy::unwrap_used, clippy::expect_used)]

// The allocator the functions run with (scim-aws sets it for every deployed binary).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use criterion::{criterion_group, criterion_main, Criterion};
use scim_core::list::Page;
use scim_core::projection::Projection;
use scim_core::resource::{normalize_resource, render, Meta};
use scim_core::schema::ResourceKind;
use serde_json::{json, Value};
use std::hint::black_box;

const BASE: &str = "https://scim.example.com/scim/v2";
const ID: &str = "0190a3c4-5b6d-7e8f-9a0b-1c2d3e4f5a6b";

/// The user Entra ID sends with its default mappings plus the enterprise extension.
fn entra_user() -> Value {
    json!({
        "schemas": [
            "urn:ietf:params:scim:schemas:core:2.0:User",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
        ],
        "externalId": "00aa00aa-bb11-cc22-dd33-44ee44ee44ee",
        "userName": "bjensen@contoso.com",
        "active": "True",
        "displayName": "Barbara Jensen",
        "title": "Tour Guide",
        "preferredLanguage": "en-US",
        "emails": [{"primary": true, "type": "work", "value": "bjensen@contoso.com"}],
        "name": {"formatted": "Barbara Jensen", "familyName": "Jensen", "givenName": "Barbara"},
        "addresses": [{"type": "work", "formatted": "100 Universal City Plaza",
                       "streetAddress": "100 Universal City Plaza", "locality": "Hollywood",
                       "region": "CA", "postalCode": "91608", "country": "US", "primary": true}],
        "phoneNumbers": [{"type": "work", "value": "555-555-5555"},
                         {"type": "mobile", "value": "555-555-4444"}],
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
            "employeeNumber": "701984",
            "department": "Tour Operations",
            "manager": "26118915-6090-4610-87e4-49d8ca9f808d"
        }
    })
}

fn meta() -> Meta {
    Meta {
        created: "2026-01-23T04:56:22Z".into(),
        last_modified: "2026-05-13T04:42:34Z".into(),
        version: 7,
    }
}

fn resource(c: &mut Criterion) {
    let body = entra_user();
    let bytes = serde_json::to_vec(&body).unwrap();
    let doc = normalize_resource(ResourceKind::User, &body).unwrap();
    let all = Projection::parse(ResourceKind::User, None, None).unwrap();

    let mut g = c.benchmark_group("resource");
    g.bench_function("deserialise_user_bytes_to_doc", |b| {
        b.iter(|| {
            let v: Value = serde_json::from_slice(black_box(&bytes)).unwrap();
            normalize_resource(ResourceKind::User, &v).unwrap()
        })
    });
    g.bench_function("json_parse_only", |b| {
        b.iter(|| serde_json::from_slice::<Value>(black_box(&bytes)).unwrap())
    });
    g.bench_function("normalize_only", |b| {
        b.iter(|| normalize_resource(ResourceKind::User, black_box(&body)).unwrap())
    });
    g.bench_function("serialise_user_doc_to_response_bytes", |b| {
        b.iter(|| {
            let mut full = render(ResourceKind::User, ID, black_box(&doc), &meta(), BASE);
            all.apply(ResourceKind::User, &mut full);
            serde_json::to_vec(&Value::Object(full)).unwrap()
        })
    });
    g.bench_function("render_only", |b| {
        b.iter(|| render(ResourceKind::User, ID, black_box(&doc), &meta(), BASE))
    });
    g.finish();

    let mut g = c.benchmark_group("projection");
    let full = render(ResourceKind::User, ID, &doc, &meta(), BASE);
    g.bench_function("parse_attributes_userName_active", |b| {
        b.iter(|| {
            Projection::parse(
                ResourceKind::User,
                black_box(Some("userName,active,emails.value")),
                None,
            )
        })
    });
    let some = Projection::parse(
        ResourceKind::User,
        Some("userName,active,emails.value"),
        None,
    )
    .unwrap();
    g.bench_function("apply_attributes_userName_active", |b| {
        b.iter(|| {
            let mut f = black_box(&full).clone();
            some.apply(ResourceKind::User, &mut f);
            f
        })
    });
    let excl = Projection::parse(ResourceKind::User, None, Some("groups,name,addresses")).unwrap();
    g.bench_function("apply_excluded_groups_name_addresses", |b| {
        b.iter(|| {
            let mut f = black_box(&full).clone();
            excl.apply(ResourceKind::User, &mut f);
            f
        })
    });
    g.bench_function("apply_default", |b| {
        b.iter(|| {
            let mut f = black_box(&full).clone();
            all.apply(ResourceKind::User, &mut f);
            f
        })
    });
    // The floor under `apply`: cloning the representation it works on.
    g.bench_function("clone_baseline", |b| b.iter(|| black_box(&full).clone()));
    g.finish();

    let mut g = c.benchmark_group("list");
    let docs: Vec<_> = (0..100)
        .map(|i| {
            let mut b = entra_user();
            b["userName"] = json!(format!("user{i}@contoso.com"));
            normalize_resource(ResourceKind::User, &b).unwrap()
        })
        .collect();
    g.bench_function("page_of_100_users_render_and_serialise", |b| {
        b.iter(|| {
            let resources = docs
                .iter()
                .map(|d| {
                    let mut full = render(ResourceKind::User, ID, d, &meta(), BASE);
                    all.apply(ResourceKind::User, &mut full);
                    full
                })
                .collect();
            let page = Page {
                resources,
                total_results: 10_000,
                start_index: Some(1),
                next_cursor: None,
                previous_cursor: None,
            };
            serde_json::to_vec(&page.to_json()).unwrap()
        })
    });
    g.finish();
}

criterion_group!(benches, resource);
criterion_main!(benches);
