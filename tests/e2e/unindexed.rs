//! Filters no index serves: a bounded walk of the tenant's own partition. Past the bound
//! the answer is `400 tooMany` naming the limit (never a 500, never a partial list); a
//! filtered listing's later pages read from their remembered boundary, so a page costs
//! O(page) reads, not a walk of every match.

use crate::expiry::seed;
use crate::harness::{q, Server};
use scim_test_support::engine::Table;
use std::collections::BTreeSet;

/// Every page of `filter` by `startIndex`, with what each page cost.
async fn pages(s: &Server, filter: &str, count: usize) -> (Vec<String>, Vec<scim_aws::Calls>, u64) {
    let mut ids = Vec::new();
    let mut costs = Vec::new();
    let mut start = 1;
    loop {
        let before = s.calls();
        let r = s
            .get(&format!(
                "/Users?filter={}&startIndex={start}&count={count}",
                q(filter)
            ))
            .await;
        costs.push(s.calls().since(&before));
        r.expect(200);
        let total = r.body["totalResults"].as_u64().unwrap();
        let page = r.body["Resources"].as_array().cloned().unwrap_or_default();
        if page.is_empty() {
            return (ids, costs, total);
        }
        ids.extend(page.iter().map(|u| u["id"].as_str().unwrap().to_string()));
        start += page.len();
    }
}

#[tokio::test]
async fn a_filtered_listings_later_pages_read_from_their_boundary() {
    let s = Server::start().await;
    let mut seeded = seed(&s.store, "walk", 1500, None, true).await;
    seed(&s.store, "idle", 300, None, false).await;
    seeded.sort();
    let (ids, costs, total) = pages(&s, "active eq true", 100).await;
    assert_eq!(total, 1500);
    assert_eq!(
        ids, seeded,
        "every match once, in order, no page overlapping another"
    );
    // The first page walks all 1,800 users (two reads of up to 1,000) to count them, plus
    // the counters' read; each later page reads the counters, its boundary and ~200 users
    // from there (one read), whatever its startIndex.
    assert!(costs[0].query >= 3, "first page: {:?}", costs[0]);
    for (n, c) in costs.iter().enumerate().skip(1).take(14) {
        assert_eq!(c.query, 2, "page {}: {c:?}", n + 1);
        assert_eq!(c.get_item, 1, "page {}: {c:?}", n + 1);
        assert_eq!(c.scan, 0);
    }
    // Cursors (RFC 9865) carry the boundary and the total themselves.
    let mut cursor = String::new();
    let mut by_cursor = Vec::new();
    let mut page_costs = Vec::new();
    loop {
        let before = s.calls();
        let r = s
            .get(&format!(
                "/Users?filter={}&count=100&cursor={cursor}",
                q("active eq true")
            ))
            .await;
        page_costs.push(s.calls().since(&before));
        r.expect(200);
        assert_eq!(r.body["totalResults"], 1500);
        by_cursor.extend(
            r.body["Resources"]
                .as_array()
                .unwrap()
                .iter()
                .map(|u| u["id"].as_str().unwrap().to_string()),
        );
        match r.body["nextCursor"].as_str() {
            Some(c) => cursor = c.to_string(),
            None => break,
        }
    }
    assert_eq!(by_cursor, seeded);
    for c in &page_costs[1..] {
        assert_eq!(
            c.query, 1,
            "a cursor page reads only from its boundary: {c:?}"
        );
    }
}

#[tokio::test]
async fn a_filter_that_would_examine_too_many_users_is_400_too_many_naming_the_limit() {
    let table = Table::new("scim-unindexed").await;
    let store = table.store().with_scan_limit(500);
    let s = Server::start_with_store(table, store, |_| {}).await;
    seed(&s.store, "many", 700, None, true).await;
    let before = s.calls();
    let r = s
        .get(&format!("/Users?filter={}", q("title eq \"Engineer\"")))
        .await;
    r.expect(400);
    assert_eq!(r.scim_type(), "tooMany");
    let detail = r.body["detail"].as_str().unwrap();
    assert!(detail.contains("500"), "{detail}");
    assert!(detail.contains("userName"), "{detail}");
    assert_eq!(s.calls().since(&before).scan, 0);
    // An indexed filter is still answered, whatever the tenant's size.
    let r = s
        .users_where("userName eq \"many-000001@contoso.com\"")
        .await;
    r.expect(200);
    assert_eq!(r.body["totalResults"], 1);
    // At the bound exactly, the walk answers.
    let ids: BTreeSet<String> = (0..3).map(|i| format!("few-{i:06}")).collect();
    let table = Table::new("scim-unindexed").await;
    let store = table.store().with_scan_limit(3);
    let small = Server::start_with_store(table, store, |_| {}).await;
    seed(&small.store, "few", 3, None, true).await;
    let r = small
        .users_where("title eq \"Engineer\" or active eq true")
        .await;
    r.expect(200);
    let got: BTreeSet<String> = r.body["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(got, ids);
}
