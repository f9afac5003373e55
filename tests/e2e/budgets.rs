//! Round-trip budgets: the DynamoDB calls each Entra ID and Okta request pattern costs,
//! counted by the store's instrumentation. Counts are deterministic, so they are asserted
//! exactly; none of these patterns may ever Scan.

use crate::harness::{q, Server};
use scim_aws::Calls;
use serde_json::json;

/// The DynamoDB calls `f` made through the server's store.
pub(crate) async fn cost<F, Fut>(s: &Server, f: F) -> Calls
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let before = s.calls();
    f().await;
    s.calls().since(&before)
}

#[tokio::test]
async fn get_user_by_id_is_one_get_item_plus_one_groups_query() {
    let s = Server::start().await;
    let id = s.user("ann").await;
    let c = cost(&s, || async {
        s.get(&format!("/Users/{id}")).await.expect(200);
    })
    .await;
    assert_eq!((c.get_item, c.query, c.total()), (1, 1, 2), "{c:?}");
    let c = cost(&s, || async {
        s.get(&format!("/Users/{id}?excludedAttributes=groups"))
            .await
            .expect(200);
    })
    .await;
    assert_eq!((c.get_item, c.total()), (1, 1), "{c:?}");
}

#[tokio::test]
async fn filter_eq_on_indexed_attributes_is_one_lookup_plus_one_read() {
    let s = Server::start().await;
    let r = s
        .post("/Users", &json!({"userName": "Ann@Contoso.com", "externalId": "00aa00aa-bb11-cc22-dd33-44ee44ee44ee",
            "emails": [{"type": "work", "value": "ann@contoso.com", "primary": true}]}))
        .await;
    r.expect(201);
    let id = r.id();
    for filter in [
        "userName eq \"ann@contoso.com\"",
        "externalId eq \"00aa00aa-bb11-cc22-dd33-44ee44ee44ee\"",
        "emails[type eq \"work\"].value eq \"ann@contoso.com\"",
        "emails.value eq \"ANN@contoso.com\"",
    ] {
        let c = cost(&s, || async {
            let r = s.get(&format!("/Users?filter={}", q(filter))).await;
            r.expect(200);
            assert_eq!(r.body["totalResults"], 1, "{filter}");
        })
        .await;
        assert_eq!(
            (c.query, c.get_item, c.scan, c.total()),
            (1, 1, 0, 2),
            "{filter}: {c:?}"
        );
    }
    let c = cost(&s, || async {
        let r = s
            .get(&format!("/Users?filter={}", q(&format!("id eq \"{id}\""))))
            .await;
        assert_eq!(r.body["totalResults"], 1);
    })
    .await;
    assert_eq!((c.get_item, c.total()), (1, 1), "{c:?}");
}

#[tokio::test]
async fn group_lookup_by_display_name_without_members_costs_the_same_whatever_the_size() {
    let s = Server::start().await;
    let small = s.group("Small").await;
    let big = s.group("Big").await;
    let mut users = Vec::new();
    for i in 0..60 {
        users.push(s.user(&format!("member{i}")).await);
    }
    let value: Vec<_> = users.iter().map(|u| json!({"value": u})).collect();
    s.patch(
        &format!("/Groups/{big}"),
        &json!({"Operations": [{"op": "Add", "path": "members", "value": value}]}),
    )
    .await;
    let mut costs = Vec::new();
    for (name, id) in [("Small", &small), ("Big", &big)] {
        let c = cost(&s, || async {
            let r = s
                .get(&format!(
                    "/Groups?filter={}&excludedAttributes=members",
                    q(&format!("displayName eq \"{name}\""))
                ))
                .await;
            r.expect(200);
            assert_eq!(r.body["Resources"][0]["id"], id.as_str());
            assert!(r.body["Resources"][0].get("members").is_none());
        })
        .await;
        costs.push(c);
        let c2 = cost(&s, || async {
            s.get(&format!("/Groups/{id}?excludedAttributes=members"))
                .await
                .expect(200);
        })
        .await;
        assert_eq!(c2.total(), 1, "{c2:?}");
    }
    assert_eq!(costs[0], costs[1]);
    assert_eq!(costs[0].total(), 2, "{:?}", costs[0]);
}

#[tokio::test]
async fn creating_a_user_is_one_transaction() {
    let s = Server::start().await;
    // The provisioning gate's once-a-minute settings call comes with the first request.
    let first = cost(&s, || async {
        s.get("/ServiceProviderConfig").await.expect(200);
    })
    .await;
    assert_eq!((first.update_item, first.total()), (1, 1), "{first:?}");
    let again = cost(&s, || async {
        s.get("/ServiceProviderConfig").await.expect(200);
    })
    .await;
    assert_eq!(again.total(), 0, "within the minute: no call: {again:?}");
    let c = cost(&s, || async {
        s.user("new.user@contoso.com").await;
    })
    .await;
    assert_eq!((c.transact_write_items, c.total()), (1, 1), "{c:?}");
}

#[tokio::test]
async fn patching_or_replacing_a_user_is_one_read_and_one_transaction() {
    let s = Server::start().await;
    let id = s.user("pat").await;
    let c = cost(&s, || async {
        s.patch(
            &format!("/Users/{id}"),
            &json!({"Operations": [
            {"op": "Replace", "path": "active", "value": "False"},
            {"op": "Add", "path": "emails[type eq \"work\"].value", "value": "pat@contoso.com"},
            {"op": "Replace", "value": {"name.givenName": "Pat", "name.familyName": "Lee"}}]}),
        )
        .await
        .expect(200);
    })
    .await;
    assert_eq!(
        (c.get_item, c.transact_write_items, c.total()),
        (1, 1, 2),
        "{c:?}"
    );
    let c = cost(&s, || async {
        s.put(
            &format!("/Users/{id}"),
            &json!({"userName": "pat", "active": true}),
        )
        .await
        .expect(200);
    })
    .await;
    assert_eq!(
        (c.get_item, c.transact_write_items, c.total()),
        (1, 1, 2),
        "{c:?}"
    );
}

#[tokio::test]
async fn adding_or_removing_members_costs_proportional_to_k_not_to_group_size() {
    let s = Server::start().await;
    let g = s.group("Engineering").await;
    let mut users = Vec::new();
    for i in 0..40 {
        users.push(s.user(&format!("eng{i}")).await);
    }
    // Fill the group with 30 members first.
    let first: Vec<_> = users[..30].iter().map(|u| json!({"value": u})).collect();
    s.patch(
        &format!("/Groups/{g}"),
        &json!({"Operations": [{"op": "Add", "path": "members", "value": first}]}),
    )
    .await;
    // Adding 5 more: one read, one transaction; no read of the member list.
    let more: Vec<_> = users[30..35].iter().map(|u| json!({"value": u})).collect();
    let c = cost(&s, || async {
        let r = s
            .patch(
                &format!("/Groups/{g}"),
                &json!({"Operations": [{"op": "Add", "path": "members", "value": more}]}),
            )
            .await;
        assert_eq!(r.status.as_u16(), 204, "{}", r.text);
    })
    .await;
    assert_eq!(
        (c.get_item, c.transact_write_items, c.query, c.total()),
        (1, 1, 0, 2),
        "{c:?}"
    );
    // Removing one by filter: the same.
    let c = cost(&s, || async {
        let path = format!("members[value eq \"{}\"]", users[0]);
        s.patch(
            &format!("/Groups/{g}"),
            &json!({"Operations": [{"op": "Remove", "path": path}]}),
        )
        .await;
    })
    .await;
    assert_eq!(
        (c.get_item, c.transact_write_items, c.query, c.total()),
        (1, 1, 0, 2),
        "{c:?}"
    );
    assert_eq!(s.member_ids(&g).await.len(), 34);
}

#[tokio::test]
async fn forward_paging_costs_o_count_per_page_with_exact_totals_and_no_overlap() {
    let s = Server::start().await;
    for i in 0..25 {
        s.user(&format!("pager{i:02}")).await;
    }
    let mut seen = std::collections::BTreeSet::new();
    let mut page_costs = Vec::new();
    let mut start = 1;
    loop {
        let before = s.calls();
        let r = s.get(&format!("/Users?startIndex={start}&count=10")).await;
        page_costs.push(s.calls().since(&before));
        r.expect(200);
        assert_eq!(r.body["totalResults"], 25);
        assert_eq!(r.body["startIndex"], start);
        let items = r.body["Resources"].as_array().unwrap().clone();
        assert_eq!(r.body["itemsPerPage"], items.len());
        for i in &items {
            assert!(
                seen.insert(i["id"].as_str().unwrap().to_string()),
                "overlap at {start}"
            );
        }
        if items.len() < 10 {
            break;
        }
        start += 10;
    }
    assert_eq!(seen.len(), 25);
    // Page 1: counters + page; later pages: counters + remembered boundary + page (+ memo write).
    assert!(
        page_costs.iter().all(|c| c.scan == 0 && c.total() <= 4),
        "{page_costs:?}"
    );
    assert_eq!(
        page_costs[1],
        page_costs[2].clone_with_put(page_costs[1].put_item)
    );
}

trait ClonePut {
    fn clone_with_put(&self, put: u64) -> Calls;
}

impl ClonePut for Calls {
    fn clone_with_put(&self, put: u64) -> Calls {
        Calls {
            put_item: put,
            ..*self
        }
    }
}

/// The counters are an SDK interceptor on the store's client, so every operation made
/// through it counts: a Scan or an UpdateItem too (the store's own code makes neither, so
/// without the interceptor the `scan == 0` budgets above could never fail), a GSI query
/// as a query on an index, and what the store never calls as `other`.
#[tokio::test]
async fn every_call_through_the_stores_client_is_counted_scan_and_update_item_too() {
    use aws_sdk_dynamodb::types::AttributeValue::{N, S};
    let s = Server::start().await;
    let (client, table) = (s.store.client(), s.store.table());
    let before = s.calls();
    client
        .scan()
        .table_name(table)
        .limit(1)
        .send()
        .await
        .expect("scan");
    let c = s.calls().since(&before);
    assert_eq!((c.scan, c.total()), (1, 1), "{c:?}");
    client
        .update_item()
        .table_name(table)
        .key("pk", S("probe#counted".into()))
        .key("sk", S("~".into()))
        .update_expression("SET probe = :v")
        .expression_attribute_values(":v", N("1".into()))
        .send()
        .await
        .expect("update");
    client
        .query()
        .table_name(table)
        .index_name(scim_aws::table::MEMBERSHIPS_BY_USER)
        .key_condition_expression("gpk = :g")
        .expression_attribute_values(":g", S("probe#MU#nobody".into()))
        .send()
        .await
        .expect("index query");
    client
        .describe_table()
        .table_name(table)
        .send()
        .await
        .expect("describe");
    let c = s.calls().since(&before);
    assert_eq!(
        Calls {
            scan: 1,
            update_item: 1,
            query: 1,
            query_index: 1,
            other: 1,
            ..Calls::default()
        },
        c
    );
    assert_eq!(c.total(), 4);
}
