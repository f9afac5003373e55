//! Whole requests through `scim_service::http::handle`, as the local server and every
//! Lambda function run them: over the embedded DynamoDB engine (dynoxide, in-process, on a
//! loopback port: every store call is a signed HTTP round trip), and over a canned store
//! (no I/O) to separate the service's own time. Plus the floor under the store: single
//! SDK calls to the engine, and the same calls made to the engine in-process (no SDK,
//! signing or HTTP).
//!
//! Targets: GET and filter eq < 50 µs, POST and PATCH < 100 µs per request.
//! `cargo bench -p scim-bench` (release profile); `BENCH_RT=current` for a one-thread
//! runtime. Before measuring, prints the DynamoDB calls each request makes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use criterion::{criterion_group, criterion_main, Criterion};
use http::Method;
use scim_bench::{entra_patch, entra_user, request, runtime, CannedStore, Embedded, TABLE, TENANT};
use scim_service::http::handle;
use scim_test_support::fixtures::member_add;
use scim_test_support::query::q;
use std::cell::Cell;
use std::hint::black_box;
use std::time::{Duration, Instant};

const BACKGROUND_USERS: usize = 1_000;

struct Setup {
    e: Embedded,
    user_id: String,
    user_name: String,
    members: Vec<String>,
}

fn setup() -> Setup {
    let e = Embedded::start().expect("embedded engine");
    // Some background data, so lookups and counters are not on an empty table.
    for i in 0..BACKGROUND_USERS {
        e.create_user(&format!("background{i}@contoso.com"))
            .unwrap();
    }
    let members = (0..100)
        .map(|i| e.create_user(&format!("member{i}@contoso.com")).unwrap())
        .collect();
    let user_name = "bjensen@contoso.com".to_string();
    let user_id = e.create_user(&user_name).unwrap();
    let g = e.create_group("Tour Guides").unwrap();
    e.expect(
        request(
            Method::PATCH,
            &format!("/scim/v2/Groups/{g}"),
            Some(&member_add(std::slice::from_ref(&user_id))),
        ),
        204,
    )
    .unwrap();
    Setup {
        e,
        user_id,
        user_name,
        members,
    }
}

/// Prints the DynamoDB calls one request of each kind makes (deterministic).
fn print_calls(s: &Setup) {
    let store = &s.e.app.store;
    let row = |name: &str, req| {
        let before = store.calls();
        let r = s.e.run(req);
        let c = store.calls().since(&before);
        eprintln!(
            "calls {name:<34} status {} total {} (get {} batchGet {} query {} transact {} put {})",
            r.status.as_u16(),
            c.total(),
            c.get_item,
            c.batch_get_item,
            c.query,
            c.transact_write_items,
            c.put_item
        );
    };
    row(
        "GET /Users/{id}",
        request(Method::GET, &format!("/scim/v2/Users/{}", s.user_id), None),
    );
    row(
        "GET /Users/{id}?excludedAttributes=groups",
        request(
            Method::GET,
            &format!("/scim/v2/Users/{}?excludedAttributes=groups", s.user_id),
            None,
        ),
    );
    row(
        "GET /Users?filter=userName eq",
        request(
            Method::GET,
            &format!(
                "/scim/v2/Users?filter={}",
                q(&format!("userName eq \"{}\"", s.user_name))
            ),
            None,
        ),
    );
    row(
        "POST /Users",
        request(
            Method::POST,
            "/scim/v2/Users",
            Some(&entra_user("calls@contoso.com")),
        ),
    );
    row(
        "PATCH /Users/{id} (5 ops)",
        request(
            Method::PATCH,
            &format!("/scim/v2/Users/{}", s.user_id),
            Some(&entra_patch(1)),
        ),
    );
    let g = s.e.create_group("calls-group").unwrap();
    row(
        "PATCH /Groups/{id} (add 100 members)",
        request(
            Method::PATCH,
            &format!("/scim/v2/Groups/{g}"),
            Some(&member_add(&s.members)),
        ),
    );
}

fn bench_embedded(c: &mut Criterion) {
    let s = setup();
    print_calls(&s);
    let e = &s.e;
    let mut group = c.benchmark_group("handler_embedded");
    group.measurement_time(Duration::from_secs(8));

    let get = format!("/scim/v2/Users/{}", s.user_id);
    group.bench_function("get_user", |b| {
        b.iter(|| e.run(black_box(request(Method::GET, &get, None))))
    });
    let get_nogroups = format!("{get}?excludedAttributes=groups");
    group.bench_function("get_user_excluded_groups", |b| {
        b.iter(|| e.run(black_box(request(Method::GET, &get_nogroups, None))))
    });
    let filter = format!(
        "/scim/v2/Users?filter={}",
        q(&format!("userName eq \"{}\"", s.user_name))
    );
    group.bench_function("filter_username_eq", |b| {
        b.iter(|| e.run(black_box(request(Method::GET, &filter, None))))
    });
    let n = Cell::new(0u64);
    group.bench_function("post_user", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                n.set(n.get() + 1);
                let body = entra_user(&format!("new{}@contoso.com", n.get()));
                let req = request(Method::POST, "/scim/v2/Users", Some(&body));
                let t = Instant::now();
                let r = e.run(req);
                total += t.elapsed();
                assert_eq!(r.status.as_u16(), 201);
            }
            total
        })
    });
    group.bench_function("patch_user_5_ops", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                n.set(n.get() + 1);
                let req = request(Method::PATCH, &get, Some(&entra_patch(n.get())));
                let t = Instant::now();
                let r = e.run(req);
                total += t.elapsed();
                assert_eq!(r.status.as_u16(), 200);
            }
            total
        })
    });
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(15));
    let add = member_add(&s.members);
    group.bench_function("group_add_100_members", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                n.set(n.get() + 1);
                let g = e.create_group(&format!("group-{}", n.get())).unwrap();
                let req = request(Method::PATCH, &format!("/scim/v2/Groups/{g}"), Some(&add));
                let t = Instant::now();
                let r = e.run(req);
                total += t.elapsed();
                assert_eq!(r.status.as_u16(), 204);
            }
            total
        })
    });
    group.finish();

    // The floor under the store: one SDK call to the engine, as the store makes it.
    let mut group = c.benchmark_group("engine_call");
    group.measurement_time(Duration::from_secs(8));
    let key = |pk: String, sk: String| {
        std::collections::HashMap::from([
            ("pk".to_string(), AttributeValue::S(pk)),
            ("sk".to_string(), AttributeValue::S(sk)),
        ])
    };
    group.bench_function("get_item", |b| {
        b.iter(|| {
            e.rt.block_on(
                e.client
                    .get_item()
                    .table_name(TABLE)
                    .set_key(Some(key(format!("{TENANT}#U"), s.user_id.clone())))
                    .consistent_read(true)
                    .send(),
            )
            .unwrap()
        })
    });
    group.bench_function("query_guard", |b| {
        b.iter(|| {
            e.rt.block_on(
                e.client
                    .query()
                    .table_name(TABLE)
                    .key_condition_expression("pk = :pk")
                    .expression_attribute_values(
                        ":pk",
                        AttributeValue::S(format!("{TENANT}#UN#{}", s.user_name)),
                    )
                    .consistent_read(true)
                    .send(),
            )
            .unwrap()
        })
    });
    group.bench_function("transact_write_5_puts", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for i in 0..iters {
                n.set(n.get() + 1);
                let items: Vec<TransactWriteItem> = (0..5)
                    .map(|j| {
                        let put = Put::builder()
                            .table_name(TABLE)
                            .set_item(Some(key(
                                format!("bench#raw#{}", n.get()),
                                format!("{i}-{j}"),
                            )))
                            .condition_expression("attribute_not_exists(pk)")
                            .build()
                            .unwrap();
                        TransactWriteItem::builder().put(put).build()
                    })
                    .collect();
                let t = Instant::now();
                e.rt.block_on(
                    e.client
                        .transact_write_items()
                        .set_transact_items(Some(items))
                        .send(),
                )
                .unwrap();
                total += t.elapsed();
            }
            total
        })
    });
    group.finish();
}

fn bench_canned(c: &mut Criterion) {
    let store = CannedStore::new().unwrap();
    let user_id = store.user.id.clone();
    let group_id = store.group.id.clone();
    let app = store.app();
    let rt = runtime();
    let run = |req| rt.block_on(handle(&app, req));
    let mut group = c.benchmark_group("handler_canned_store");
    let get = format!("/scim/v2/Users/{user_id}");
    group.bench_function("get_user", |b| {
        b.iter(|| run(black_box(request(Method::GET, &get, None))))
    });
    let filter = format!(
        "/scim/v2/Users?filter={}",
        q("userName eq \"bjensen@example.com\"")
    );
    group.bench_function("filter_username_eq", |b| {
        b.iter(|| run(black_box(request(Method::GET, &filter, None))))
    });
    let body = entra_user("new@contoso.com");
    group.bench_function("post_user", |b| {
        b.iter(|| {
            run(black_box(request(
                Method::POST,
                "/scim/v2/Users",
                Some(&body),
            )))
        })
    });
    let patch = entra_patch(1);
    group.bench_function("patch_user_5_ops", |b| {
        b.iter(|| run(black_box(request(Method::PATCH, &get, Some(&patch)))))
    });
    let ids: Vec<String> = (0..100)
        .map(|i| format!("0190a000-0000-7000-8000-{i:012}"))
        .collect();
    let add = member_add(&ids);
    let gpath = format!("/scim/v2/Groups/{group_id}");
    group.bench_function("group_add_100_members", |b| {
        b.iter(|| run(black_box(request(Method::PATCH, &gpath, Some(&add)))))
    });
    let page = "/scim/v2/Users?startIndex=1&count=100";
    group.bench_function("list_page_100_users", |b| {
        b.iter(|| run(black_box(request(Method::GET, page, None))))
    });
    group.finish();
}

/// The engine alone: dynoxide's own `GetItem` and key `Query`, called in-process on an
/// in-memory database with the same key layout, without the SDK, SigV4 or HTTP. The
/// difference from `engine_call` is what the transport costs.
fn bench_engine_alone(c: &mut Criterion) {
    use dynoxide::actions::{create_table::CreateTableRequest, get_item::GetItemRequest};
    use dynoxide::actions::{put_item::PutItemRequest, query::QueryRequest};
    let db = dynoxide::Database::memory().unwrap();
    let create: CreateTableRequest = serde_json::from_value(serde_json::json!({
        "TableName": "bench", "BillingMode": "PAY_PER_REQUEST",
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "S"}]
    }))
    .unwrap();
    db.create_table(create).unwrap();
    // A user-sized item (the stored document is ~1.4 KB of JSON), among 1,000 others.
    let doc = serde_json::to_string(&entra_user("bjensen@example.com")).unwrap();
    for i in 0..=BACKGROUND_USERS {
        let put: PutItemRequest = serde_json::from_value(serde_json::json!({
            "TableName": "bench",
            "Item": {"pk": {"S": "bench#U"}, "sk": {"S": format!("user-{i}")}, "doc": {"S": doc}, "v": {"N": "1"}}
        }))
        .unwrap();
        db.put_item(put).unwrap();
    }
    let mut group = c.benchmark_group("engine_alone");
    group.bench_function("get_item", |b| {
        b.iter(|| {
            let get: GetItemRequest = serde_json::from_value(serde_json::json!({
                "TableName": "bench", "ConsistentRead": true,
                "Key": {"pk": {"S": "bench#U"}, "sk": {"S": "user-7"}}
            }))
            .unwrap();
            db.get_item(get).unwrap()
        })
    });
    group.bench_function("query_one_key", |b| {
        b.iter(|| {
            let q: QueryRequest = serde_json::from_value(serde_json::json!({
                "TableName": "bench", "ConsistentRead": true,
                "KeyConditionExpression": "pk = :pk AND sk = :sk",
                "ExpressionAttributeValues": {":pk": {"S": "bench#U"}, ":sk": {"S": "user-7"}}
            }))
            .unwrap();
            db.query(q).unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, bench_canned, bench_embedded, bench_engine_alone);
criterion_main!(benches);
