//! Scale budgets: one group with 100,000 members, and a full forward import of
//! 100,000 users, with the DynamoDB calls of each request asserted from the store's
//! counters. Heavy (minutes), so a separate test binary, and `#[ignore]`d: run it by name.
//!
//! ```text
//! cargo test --release -p scim-tests --test scale -- --ignored --nocapture
//! ```
//!
//! `SCIM_SCALE_USERS` (100000) and `SCIM_SCALE_CONCURRENCY` (16) size the run. Runs on the
//! embedded engine in this process (in memory, or in the SQLite file `SCIM_SCALE_DB_FILE`,
//! e.g. on /dev/shm, so that the engine's data is not counted in this process's memory), or
//! on `SCIM_TEST_DYNAMODB_ENDPOINT` (DynamoDB Local via `with-dynamodb-local`), where this
//! process's memory is the service's alone. Timings and memory are printed, never
//! asserted; call counts are deterministic and asserted exactly.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use futures::stream::{self, StreamExt};
use reqwest::Method;
use scim_aws::Calls;
use scim_test_support::engine::{unique_name, Engine, Stream, ENDPOINT_VAR};
use scim_test_support::fixtures::member_add;
use scim_test_support::harness::{q, Server};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::time::Instant;

fn env_num(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

/// This process's resident memory now and at its peak (kB), from `/proc/self/status`.
fn memory() -> (u64, u64) {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        s.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn log(step: &str, started: Instant) {
    let (rss, hwm) = memory();
    println!(
        "scale: {step}: {:.1} s; RSS {} MB, peak {} MB",
        started.elapsed().as_secs_f64(),
        rss / 1024,
        hwm / 1024
    );
}

/// The server over a table without a stream: this measures request budgets, not change
/// events. `SCIM_SCALE_DB_FILE` (e.g. on /dev/shm) keeps the embedded engine's data out of
/// this process's heap, so the RSS printed is the service's own.
async fn start() -> Server {
    let file = std::env::var_os("SCIM_SCALE_DB_FILE").map(std::path::PathBuf::from);
    let engine = Engine::at(std::env::var(ENDPOINT_VAR).ok().as_deref(), file.as_deref())
        .await
        .expect("engine");
    let table = engine
        .table(&unique_name("scim-scale"), Stream::Off)
        .await
        .expect("table");
    Server::start_on(table, |_| {}).await
}

/// Sends one request alone and returns its status, body and DynamoDB calls.
async fn cost(s: &Server, method: Method, path: &str, body: Option<&Value>) -> (u16, Value, Calls) {
    let before = s.calls();
    let r = s.send(method, path, body, &[]).await;
    (r.status.as_u16(), r.body, s.calls().since(&before))
}

/// Creates `n` users with `c` requests in flight; returns their ids in creation order.
async fn users(s: &Server, prefix: &str, n: usize, c: usize) -> Vec<String> {
    stream::iter(0..n)
        .map(|i| async move {
            let r = s
                .post(
                    "/Users",
                    &json!({"userName": format!("{prefix}{i}@contoso.com"), "active": true}),
                )
                .await;
            r.expect(201);
            r.id()
        })
        .buffered(c)
        .collect()
        .await
}

/// 100,000 users: a full forward import at `count=100` costs the same calls on every page
/// after the first (so O(total) in all), returns every user once, and `totalResults` is
/// exact. Then one group gets all of them as members, in PATCH batches of 100: a batch costs
/// the same at 0 and at 99,900 members; removing one member, reading the group without
/// members, looking it up by name, listing a member's groups all cost what they cost on a
/// small group; reading it with members answers 400 tooMany after a bounded number of calls.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "heavy: minutes for 100,000 users; README, \"Tests\", says how to run it"]
async fn one_hundred_thousand_users_and_a_group_of_all_of_them() {
    let n = env_num("SCIM_SCALE_USERS", 100_000);
    let c = env_num("SCIM_SCALE_CONCURRENCY", 16);
    assert!(n >= 10_100, "SCIM_SCALE_USERS must exceed 10,100");
    let s = start().await;
    let started = Instant::now();

    // Users.
    let ids = users(&s, "scale", n, c).await;
    log(&format!("created {n} users"), started);

    // Full forward import at count=100.
    let t = Instant::now();
    let mut seen = HashSet::with_capacity(n);
    let mut page_calls = Vec::new();
    let mut start = 1;
    loop {
        let (status, body, calls) = cost(
            &s,
            Method::GET,
            &format!("/Users?startIndex={start}&count=100"),
            None,
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["totalResults"], n);
        let items = body["Resources"].as_array().unwrap();
        for r in items {
            assert!(
                seen.insert(r["id"].as_str().unwrap().to_string()),
                "page {start} repeats a user"
            );
        }
        page_calls.push(calls);
        start += items.len();
        if items.is_empty() || start > n {
            break;
        }
    }
    assert_eq!(seen.len(), n, "the import must return every user once");
    let pages = page_calls.len();
    assert_eq!(pages, n.div_ceil(100));
    assert!(page_calls.iter().all(|c| c.scan == 0));
    // Page 1: counters + page + memo write. Every later page: counters + memo read + page
    // (+ memo write): the same on page 2 as on page 1,000.
    assert_eq!(page_calls[0].total(), 3, "{:?}", page_calls[0]);
    for (i, c) in page_calls.iter().enumerate().skip(1) {
        assert_eq!(
            (c.query, c.get_item, c.total()),
            (2, 1, 3 + c.put_item),
            "page {}: {c:?}",
            i + 1
        );
        assert!(c.put_item <= 1);
    }
    let total_calls: u64 = page_calls.iter().map(Calls::total).sum();
    assert!(total_calls <= 4 * pages as u64, "{total_calls} calls");
    println!("scale: import of {n} users: {pages} pages, {total_calls} DynamoDB calls in all");
    log("import", t);

    // The same import through a filter no index serves: the first page walks every user
    // (its totalResults is exact); each later page reads from its remembered boundary.
    let t = Instant::now();
    let filter = scim_test_support::query::q("active eq true");
    let mut walked = Vec::new();
    let mut start = 1;
    let mut matched = 0;
    loop {
        let path = format!("/Users?filter={filter}&startIndex={start}&count=100");
        let (status, body, calls) = cost(&s, Method::GET, &path, None).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["totalResults"], n);
        let items = body["Resources"].as_array().unwrap().len();
        walked.push(calls);
        matched += items;
        start += items;
        if items == 0 || start > n {
            break;
        }
    }
    assert_eq!(matched, n);
    for (i, c) in walked.iter().enumerate().skip(1) {
        assert_eq!(
            (c.query, c.get_item, c.scan),
            (2, 1, 0),
            "filtered page {}: {c:?}",
            i + 1
        );
    }
    let walked_calls: u64 = walked.iter().map(Calls::total).sum();
    println!(
        "scale: filtered import (active eq true) of {n} users: {} pages; page 1 {} calls ({} Query), later pages 4 at most; {walked_calls} calls in all",
        walked.len(),
        walked[0].total(),
        walked[0].query
    );
    log("filtered import", t);

    // One group, every user a member, 100 per PATCH.
    let t = Instant::now();
    let gid = s.group("Everyone").await;
    let gpath = format!("/Groups/{gid}");
    let batches: Vec<&[String]> = ids.chunks(100).collect();
    // The first batch alone, its cost measured on an empty group.
    let (status, _, first) = cost(&s, Method::PATCH, &gpath, Some(&member_add(batches[0]))).await;
    assert_eq!(status, 204);
    // 100 members = 200 actions + the group's update and audit record: more than one
    // transaction holds, so existence is checked up front (one BatchGetItem), then three
    // transactions. No read of the member list.
    assert_eq!(
        (
            first.get_item,
            first.batch_get_item,
            first.transact_write_items,
            first.query,
            first.total()
        ),
        (1, 1, 3, 0, 5),
        "{first:?}"
    );
    let last = batches.len() - 1;
    stream::iter(batches[1..last].iter())
        .for_each_concurrent(c, |batch| {
            let s = &s;
            let gpath = &gpath;
            async move {
                s.patch(gpath, &member_add(batch)).await.expect(204);
            }
        })
        .await;
    // The last batch alone, on a group of ~100,000: the same cost.
    let (status, _, at_full) =
        cost(&s, Method::PATCH, &gpath, Some(&member_add(batches[last]))).await;
    assert_eq!(status, 204);
    assert_eq!(at_full, first, "a batch costs the same at any group size");
    log(&format!("group of {n} members"), t);

    // Remove one member: one read and one transaction.
    let (status, _, c1) = cost(
        &s,
        Method::PATCH,
        &gpath,
        Some(&json!({"Operations": [{"op": "Remove",
                "path": format!("members[value eq \"{}\"]", ids[0])}]})),
    )
    .await;
    assert_eq!(status, 204);
    assert_eq!(
        (c1.get_item, c1.transact_write_items, c1.total()),
        (1, 1, 2),
        "{c1:?}"
    );
    // Read without members: one GetItem.
    let before = memory();
    let (status, body, c2) = cost(
        &s,
        Method::GET,
        &format!("{gpath}?excludedAttributes=members"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("members").is_none());
    assert_eq!(c2.total(), 1, "{c2:?}");
    // Entra's lookup by name: one Query and one GetItem.
    let (status, body, c3) = cost(
        &s,
        Method::GET,
        &format!(
            "/Groups?filter={}&excludedAttributes=members",
            q("displayName eq \"Everyone\"")
        ),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["totalResults"], 1);
    assert_eq!(c3.total(), 2, "{c3:?}");
    // Read with members: more than 10,000, so 400 tooMany after reading at most 10,001
    // membership keys (one GetItem, then Query pages of at most 1,000).
    let (status, body, c4) = cost(&s, Method::GET, &gpath, None).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["scimType"], "tooMany");
    assert_eq!(c4.get_item, 1, "{c4:?}");
    assert!(c4.query <= 11, "{c4:?}");
    assert_eq!(c4.scan, 0);
    // A member's groups: from the user (GetItem + one Query on the reverse index) and by
    // filter (one Query on the reverse index, then each group and its membership item).
    let (status, body, c5) = cost(&s, Method::GET, &format!("/Users/{}", ids[1]), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["groups"][0]["value"], gid.as_str());
    assert_eq!((c5.get_item, c5.query, c5.total()), (1, 1, 2), "{c5:?}");
    let (status, body, c6) = cost(
        &s,
        Method::GET,
        &format!(
            "/Groups?filter={}&excludedAttributes=members",
            q(&format!("members.value eq \"{}\"", ids[1]))
        ),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["totalResults"], 1);
    // The reverse index is eventually consistent, so each group it names is confirmed by
    // a consistent read of the membership item: Query + group GetItem + membership GetItem.
    assert_eq!(
        (c6.query_index, c6.get_item, c6.total()),
        (1, 2, 3),
        "{c6:?}"
    );
    let after = memory();
    println!(
        "scale: reads of the {n}-member group: RSS {} MB before, {} MB after (peak {} MB)",
        before.0 / 1024,
        after.0 / 1024,
        after.1 / 1024
    );
    log("done", started);
}
