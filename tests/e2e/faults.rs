//! DynamoDB failing under a provisioning run: throttling, 500s, replies lost after the call
//! ran, slow replies and connection resets, injected by the fault proxy
//! (`scim_test_support::faults`) between the store and the engine, while parallel clients
//! provision like an IdP and retry every `429`/`503` as Entra does.
//!
//! Afterwards, faults off, every invariant is checked through the API **and** by reading
//! the table: each user exists once; guards and users agree both ways; `Group.members` and
//! `User.groups` are exactly what the clients were told; `totalResults` and the counters
//! are exact; no orphan guard, index entry or membership; an audit record for every write
//! the clients saw committed and none for a resource they never saw. The clients saw only
//! 2xx, the designed 4xx, and `429`/`503` with `Retry-After` — never another 5xx.

use crate::harness::{q, Resp, Server, TENANT};
use aws_sdk_dynamodb::types::AttributeValue;
use reqwest::Method;
use scim_test_support::engine::Table;
use scim_test_support::faults::{Fault, FaultProxy};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::Duration;

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const PATCH: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// The SDK's limits for these tests: shorter than a stack's (`scim_aws::dynamo::timeouts`)
/// so that a slow reply costs a second, not seven; the same three attempts.
fn fast_sdk(b: aws_sdk_dynamodb::config::Builder) -> aws_sdk_dynamodb::config::Builder {
    use aws_sdk_dynamodb::config::retry::RetryConfig;
    use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
    b.timeout_config(
        TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(1))
            .operation_attempt_timeout(Duration::from_millis(900))
            .operation_timeout(Duration::from_secs(4))
            .build(),
    )
    .retry_config(
        RetryConfig::standard()
            .with_max_attempts(3)
            .with_initial_backoff(Duration::from_millis(5))
            .with_max_backoff(Duration::from_millis(100)),
    )
}

/// The server over a store whose every DynamoDB call goes through a fault proxy; the
/// table's own client (direct to the engine) for reading it afterwards.
async fn faulty_server(seed: u64) -> (Server, FaultProxy, aws_sdk_dynamodb::Client, String) {
    let table = Table::new("scim-faults").await;
    let proxy = FaultProxy::start(&table.endpoint, seed, Duration::from_millis(1200)).await;
    let (direct, name) = (table.client.clone(), table.name.clone());
    let store = scim_aws::DynamoStore::new(scim_local::local_client(&proxy.endpoint).await, &name)
        .reconfigure(fast_sdk);
    let s = Server::start_with_store(table, store, |_| {}).await;
    (s, proxy, direct, name)
}

/// What the clients saw, over the whole run.
#[derive(Default)]
struct Seen {
    statuses: Mutex<BTreeMap<u16, u64>>,
    /// Answers outside the designed set: (request, status, body).
    wrong: Mutex<Vec<String>>,
    requests: Mutex<u64>,
}

impl Seen {
    fn record(&self, what: &str, r: &Resp) {
        *self.requests.lock().unwrap() += 1;
        *self
            .statuses
            .lock()
            .unwrap()
            .entry(r.status.as_u16())
            .or_default() += 1;
        let status = r.status.as_u16();
        let retryable = status == 429 || status == 503;
        if status >= 500 && !retryable {
            self.wrong
                .lock()
                .unwrap()
                .push(format!("{what}: {status} {}", r.text));
        }
        if retryable && r.header("retry-after").is_none() {
            self.wrong
                .lock()
                .unwrap()
                .push(format!("{what}: {status} without Retry-After"));
        }
    }
}

/// Sends until the answer is not `429`/`503`, as an IdP retries (Retry-After scaled down
/// from seconds to 20 ms). Returns the answer and whether an earlier attempt failed, so
/// that its write may have committed.
async fn call(
    s: &Server,
    seen: &Seen,
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> (Resp, bool) {
    let mut retried = false;
    for _ in 0..100 {
        let r = s.send(method.clone(), path, body, &[]).await;
        seen.record(&format!("{method} {path}"), &r);
        if matches!(r.status.as_u16(), 429 | 503) {
            retried = true;
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        }
        return (r, retried);
    }
    panic!("{method} {path}: still 429/503 after 100 attempts");
}

#[derive(Debug, Clone)]
struct User {
    id: String,
    user_name: String,
    external_id: String,
    active: bool,
    groups: BTreeSet<String>,
}

/// The clients' shared knowledge at the end: every user they hold, every user deleted and
/// not re-added, every id ever created.
#[derive(Default)]
struct Model {
    live: BTreeMap<String, User>,
    deleted: BTreeMap<String, User>,
    ever: BTreeSet<String>,
}

/// One client: owns the users it creates (so that its model is exact whatever the other
/// clients do), adds and removes them in the shared groups.
async fn client(
    s: &Server,
    seen: &Seen,
    c: u64,
    seed: u64,
    ops: usize,
    groups: &[String],
) -> Model {
    let mut rng = fastrand::Rng::with_seed(seed ^ (c << 32));
    let mut m = Model::default();
    let mut n = 0;
    for _ in 0..ops {
        let pick = rng.u32(0..100);
        let live: Vec<String> = m.live.keys().cloned().collect();
        let some = (!live.is_empty()).then(|| live[rng.usize(0..live.len())].clone());
        match (pick, some) {
            (0..=24, _) | (_, None) => {
                n += 1;
                let name = format!("c{c}-u{n}@example.com");
                let ext = format!("x-{c}-{n}");
                create(s, seen, &mut m, &name, &ext, None).await;
            }
            (25..=34, Some(id)) => {
                let u = m.live[&id].clone();
                let name = format!(
                    "{}-r{}",
                    u.user_name.trim_end_matches("@example.com"),
                    rng.u32(..)
                );
                let body = json!({"schemas": [PATCH], "Operations": [
                    {"op": "replace", "path": "userName", "value": name}]});
                let (r, _) =
                    call(s, seen, Method::PATCH, &format!("/Users/{id}"), Some(&body)).await;
                assert!(matches!(r.status.as_u16(), 200 | 204), "rename: {}", r.text);
                m.live.get_mut(&id).unwrap().user_name = name;
            }
            (35..=44, Some(id)) => {
                let active = !m.live[&id].active;
                let body = json!({"schemas": [PATCH], "Operations": [
                    {"op": "replace", "path": "active", "value": active}]});
                let (r, _) =
                    call(s, seen, Method::PATCH, &format!("/Users/{id}"), Some(&body)).await;
                assert!(matches!(r.status.as_u16(), 200 | 204), "active: {}", r.text);
                m.live.get_mut(&id).unwrap().active = active;
            }
            (45..=54, Some(id)) => {
                let u = m.live[&id].clone();
                let body = json!({"schemas": [USER], "userName": u.user_name,
                    "externalId": u.external_id, "active": u.active,
                    "displayName": format!("Display {}", rng.u32(..)),
                    "emails": [{"value": format!("{}@mail.example.com", u.external_id), "primary": true}]});
                let (r, _) = call(s, seen, Method::PUT, &format!("/Users/{id}"), Some(&body)).await;
                r.expect(200);
            }
            (55..=62, Some(id)) => {
                let (r, retried) =
                    call(s, seen, Method::DELETE, &format!("/Users/{id}"), None).await;
                // A 404 only after an earlier attempt that failed: it had deleted the user.
                assert!(
                    r.status.as_u16() == 204 || (retried && r.status.as_u16() == 404),
                    "delete: {} {}",
                    r.status,
                    r.text
                );
                let u = m.live.remove(&id).unwrap();
                m.deleted.insert(id, u);
            }
            (63..=69, Some(_)) if !m.deleted.is_empty() => {
                // A removed user comes back: restored under the old id, with their groups.
                let ids: Vec<String> = m.deleted.keys().cloned().collect();
                let old = m.deleted.remove(&ids[rng.usize(0..ids.len())]).unwrap();
                create(
                    s,
                    seen,
                    &mut m,
                    &old.user_name.clone(),
                    &old.external_id.clone(),
                    Some(old),
                )
                .await;
            }
            (70..=86, Some(id)) => {
                let g = &groups[rng.usize(0..groups.len())];
                let body = json!({"schemas": [PATCH], "Operations": [
                    {"op": "add", "path": "members", "value": [{"value": id}]}]});
                let (r, _) =
                    call(s, seen, Method::PATCH, &format!("/Groups/{g}"), Some(&body)).await;
                assert!(
                    matches!(r.status.as_u16(), 200 | 204),
                    "add member: {}",
                    r.text
                );
                m.live.get_mut(&id).unwrap().groups.insert(g.clone());
            }
            (_, Some(id)) => {
                let g = &groups[rng.usize(0..groups.len())];
                let body = json!({"schemas": [PATCH], "Operations": [
                    {"op": "remove", "path": format!("members[value eq \"{id}\"]")}]});
                let (r, _) =
                    call(s, seen, Method::PATCH, &format!("/Groups/{g}"), Some(&body)).await;
                assert!(
                    matches!(r.status.as_u16(), 200 | 204),
                    "remove member: {}",
                    r.text
                );
                m.live.get_mut(&id).unwrap().groups.remove(g);
            }
        }
    }
    m
}

/// Creates (or re-adds `old`), as an IdP: a `409` after a failed attempt means that attempt
/// committed, so the client finds the user by userName, as Entra matches on a conflict.
async fn create(s: &Server, seen: &Seen, m: &mut Model, name: &str, ext: &str, old: Option<User>) {
    let body = json!({"schemas": [USER], "userName": name, "externalId": ext, "active": true,
        "emails": [{"value": format!("{ext}@mail.example.com"), "primary": true}]});
    let (r, retried) = call(s, seen, Method::POST, "/Users", Some(&body)).await;
    let id = match r.status.as_u16() {
        201 => r.id(),
        409 if retried => {
            let path = format!("/Users?filter={}", q(&format!("userName eq \"{name}\"")));
            let (found, _) = call(s, seen, Method::GET, &path, None).await;
            found.expect(200);
            assert_eq!(found.body["totalResults"], 1, "{}", found.text);
            found.body["Resources"][0]["id"]
                .as_str()
                .unwrap()
                .to_string()
        }
        other => panic!("create {name}: {other} {}", r.text),
    };
    let groups = match &old {
        Some(u) => {
            assert_eq!(id, u.id, "a re-added user gets their old id back");
            u.groups.clone()
        }
        None => BTreeSet::new(),
    };
    m.ever.insert(id.clone());
    m.live.insert(
        id.clone(),
        User {
            id,
            user_name: name.into(),
            external_id: ext.into(),
            active: true,
            groups,
        },
    );
}

/// Reads every item of the table (test only: the service never scans).
async fn scan(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
) -> Vec<HashMap<String, AttributeValue>> {
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let out = client
            .scan()
            .table_name(table)
            .set_exclusive_start_key(start)
            .send()
            .await
            .expect("scan");
        items.extend(out.items().iter().cloned());
        start = out.last_evaluated_key().cloned();
        if start.is_none() {
            return items;
        }
    }
}

fn attr<'a>(item: &'a HashMap<String, AttributeValue>, name: &str) -> &'a str {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map_or("", String::as_str)
}

/// The whole run: `clients` clients of `ops` operations each at `rate`, then every check.
async fn run(rate: f64, seed: u64, clients: u64, ops: usize) {
    let (s, proxy, direct, table) = faulty_server(seed).await;
    let seen = Seen::default();
    proxy.set_rate(rate);
    let mut groups = Vec::new();
    for g in 0..3 {
        let body = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": format!("Faulty {g}")});
        let (r, _) = call(&s, &seen, Method::POST, "/Groups", Some(&body)).await;
        // Group names are not unique: a retried create may have made a second group.
        assert_eq!(r.status.as_u16(), 201, "{}", r.text);
        groups.push(r.id());
    }
    let models =
        futures::future::join_all((0..clients).map(|c| client(&s, &seen, c, seed, ops, &groups)))
            .await;
    proxy.set_rate(0.0);
    let injected = proxy.injected();
    let wrong = seen.wrong.lock().unwrap().clone();
    assert!(
        wrong.is_empty(),
        "answers outside the designed set: {wrong:#?}"
    );

    let mut live: BTreeMap<String, User> = BTreeMap::new();
    let mut deleted: BTreeMap<String, User> = BTreeMap::new();
    let mut ever = BTreeSet::new();
    for m in models {
        live.extend(m.live);
        deleted.extend(m.deleted);
        ever.extend(m.ever);
    }
    let mut members: BTreeMap<String, BTreeSet<String>> = groups
        .iter()
        .map(|g| (g.clone(), BTreeSet::new()))
        .collect();
    for u in live.values() {
        for g in &u.groups {
            members.get_mut(g).unwrap().insert(u.id.clone());
        }
    }

    // Groups created while faults were on may have a twin (group names are not unique, and
    // a create whose reply was lost at the client is created again): count them.
    let (all_groups, _) = call(&s, &seen, Method::GET, "/Groups?count=100", None).await;
    let group_count = all_groups.body["totalResults"].as_u64().unwrap();

    // Through the API.
    let mut listed = BTreeSet::new();
    let mut start = 1;
    loop {
        let path = format!("/Users?startIndex={start}&count=50");
        let (r, _) = call(&s, &seen, Method::GET, &path, None).await;
        r.expect(200);
        assert_eq!(
            r.body["totalResults"].as_u64().unwrap(),
            live.len() as u64,
            "totalResults"
        );
        let page = r.body["Resources"].as_array().cloned().unwrap_or_default();
        if page.is_empty() {
            break;
        }
        for u in &page {
            assert!(
                listed.insert(u["id"].as_str().unwrap().to_string()),
                "listed twice: {u}"
            );
        }
        start += page.len();
    }
    assert_eq!(listed, live.keys().cloned().collect(), "the users listed");
    for u in live.values() {
        let (r, _) = call(&s, &seen, Method::GET, &format!("/Users/{}", u.id), None).await;
        r.expect(200);
        assert_eq!(r.body["userName"], u.user_name.as_str());
        assert_eq!(r.body["active"], u.active, "{}", r.text);
        let groups_seen: BTreeSet<String> = r.body["groups"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|g| g["value"].as_str().unwrap().to_string())
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(groups_seen, u.groups, "User.groups of {}", u.id);
    }
    for (g, expected) in &members {
        let ids: BTreeSet<String> = s.member_ids(g).await.into_iter().collect();
        let extra: Vec<_> = ids
            .difference(expected)
            .map(|id| (id, live.contains_key(id), deleted.contains_key(id)))
            .collect();
        let missing: Vec<_> = expected.difference(&ids).collect();
        assert_eq!(
            &ids, expected,
            "Group.members of {g}: extra (id, live, deleted) {extra:?}, missing {missing:?}"
        );
    }
    for u in deleted.values() {
        let (r, _) = call(&s, &seen, Method::GET, &format!("/Users/{}", u.id), None).await;
        r.expect(404);
    }

    // By reading the table.
    let items = scan(&direct, &table).await;
    let t = TENANT;
    let key = |i: &HashMap<String, AttributeValue>| {
        (attr(i, "pk").to_string(), attr(i, "sk").to_string())
    };
    let in_partition = |pk: &str| -> BTreeSet<String> {
        items
            .iter()
            .filter(|i| attr(i, "pk") == pk)
            .map(|i| attr(i, "sk").to_string())
            .collect()
    };
    assert_eq!(
        in_partition(&format!("{t}#U")),
        live.keys().cloned().collect(),
        "user items"
    );
    assert_eq!(
        in_partition(&format!("{t}#UD")),
        deleted.keys().cloned().collect(),
        "tombstones"
    );
    let holders: BTreeSet<String> = live.keys().chain(deleted.keys()).cloned().collect();
    for (prefix, value) in [
        (
            "UN",
            Box::new(|u: &User| u.user_name.to_lowercase()) as Box<dyn Fn(&User) -> String>,
        ),
        ("UX", Box::new(|u: &User| u.external_id.clone())),
    ] {
        let guards: BTreeMap<String, String> = items
            .iter()
            .filter(|i| attr(i, "pk").starts_with(&format!("{t}#{prefix}#")))
            .map(|i| (attr(i, "pk").to_string(), attr(i, "id").to_string()))
            .collect();
        let expected: BTreeMap<String, String> = live
            .values()
            .chain(deleted.values())
            .map(|u| (format!("{t}#{prefix}#{}", value(u)), u.id.clone()))
            .collect();
        assert_eq!(
            guards, expected,
            "{prefix} guards: exactly one per user, and no orphan"
        );
    }
    for i in items.iter().filter(|i| {
        let pk = attr(i, "pk");
        pk.starts_with(&format!("{t}#UE#")) || pk.starts_with(&format!("{t}#IE#"))
    }) {
        let id = if attr(i, "pk").starts_with(&format!("{t}#UE#")) {
            attr(i, "sk")
        } else {
            attr(i, "id")
        };
        assert!(holders.contains(id), "orphan email entry {:?}", key(i));
    }
    for (g, expected) in &members {
        assert_eq!(
            &in_partition(&format!("{t}#M#{g}")),
            expected,
            "membership items of {g}"
        );
    }
    let other_memberships: Vec<_> = items
        .iter()
        .filter(|i| attr(i, "pk").starts_with(&format!("{t}#M#")))
        .filter(|i| !members.contains_key(attr(i, "pk").trim_start_matches(&format!("{t}#M#"))))
        .map(key)
        .collect();
    assert!(
        other_memberships.is_empty(),
        "memberships of unknown groups: {other_memberships:?}"
    );
    let count = |prefix: &str| -> i64 {
        items
            .iter()
            .filter(|i| attr(i, "pk") == format!("{t}#C") && attr(i, "sk").starts_with(prefix))
            .map(|i| i["n"].as_n().unwrap().parse::<i64>().unwrap())
            .sum()
    };
    assert_eq!(count("U#"), live.len() as i64, "the users' counter");
    assert_eq!(count("G#"), group_count as i64, "the groups' counter");
    let mut created: BTreeMap<String, u32> = BTreeMap::new();
    for i in items
        .iter()
        .filter(|i| attr(i, "pk").starts_with(&format!("{t}#A#")))
    {
        let rid = attr(i, "rid");
        if attr(i, "resourceType") == "User" {
            assert!(
                ever.contains(rid),
                "an audit record of a user no client saw: {rid}"
            );
            if attr(i, "event") == "user.created" {
                *created.entry(rid.to_string()).or_default() += 1;
            }
        }
    }
    for id in &ever {
        assert_eq!(
            created.get(id),
            Some(&1),
            "one user.created audit record for {id}"
        );
    }

    let statuses = seen.statuses.lock().unwrap().clone();
    let faults: BTreeMap<&str, u64> = injected.iter().map(|(f, n)| (f.name(), *n)).collect();
    println!(
        "fault run ({}): rate {rate}, seed {seed}, {clients} clients x {ops} ops; {} requests, statuses {statuses:?}; \
         {} DynamoDB calls {:?}; faults {faults:?}; {} users live, {} deleted, {} memberships; every invariant held",
        crate::harness::backend_name(),
        seen.requests.lock().unwrap(),
        proxy.calls().values().sum::<u64>(),
        proxy.calls(),
        live.len(),
        deleted.len(),
        members.values().map(BTreeSet::len).sum::<usize>(),
    );
    assert!(
        Fault::ALL
            .iter()
            .all(|f| injected.get(f).copied().unwrap_or(0) > 0),
        "every kind of fault was injected: {faults:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn provisioning_at_a_ten_percent_fault_rate_loses_nothing() {
    run(0.10, 0x5c1a_0010, 4, 40).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn provisioning_at_a_forty_percent_fault_rate_loses_nothing() {
    run(0.40, 0x5c1a_0040, 4, 25).await;
}

/// The case the issue saw: a create whose transaction ran but whose reply was lost is
/// retried by the SDK and answered `201` with the id it wrote (its `ClientRequestToken`
/// makes the retry a replay), not `409`/`412` against itself; the same for a member add,
/// a rename and a delete, whose replays would otherwise fail their own conditions.
#[tokio::test]
async fn writes_whose_reply_was_lost_answer_as_if_it_had_arrived() {
    let (s, proxy, direct, table) = faulty_server(7).await;
    let g = s.group("Lost replies").await;
    proxy.set_modes(&[Fault::LostReply]);
    proxy.set_operations(Some(&["TransactWriteItems"]));
    // Only the first transaction of each request loses its reply.
    let once = || {
        let proxy = proxy.clone();
        let before = proxy.injected_total();
        proxy.set_rate(1.0);
        tokio::spawn(async move {
            while proxy.injected_total() == before {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            proxy.set_rate(0.0);
        })
    };
    let mut ids = Vec::new();
    for n in 0..4 {
        let name = format!("lost-{n}@example.com");
        let off = once();
        let r = s
            .post("/Users", &json!({"schemas": [USER], "userName": name}))
            .await;
        off.await.unwrap();
        r.expect(201);
        let got = s.get(&format!("/Users/{}", r.id())).await;
        got.expect(200);
        assert_eq!(got.body["userName"], name.as_str());
        ids.push(r.id());
    }
    let off = once();
    let body = json!({"schemas": [PATCH], "Operations": [
        {"op": "replace", "path": "userName", "value": "renamed@example.com"}]});
    let r = s.patch(&format!("/Users/{}", ids[0]), &body).await;
    off.await.unwrap();
    assert!(matches!(r.status.as_u16(), 200 | 204), "{}", r.text);
    let off = once();
    let body = json!({"schemas": [PATCH], "Operations": [
        {"op": "add", "path": "members", "value": [{"value": ids[1]}]}]});
    let r = s.patch(&format!("/Groups/{g}"), &body).await;
    off.await.unwrap();
    assert!(matches!(r.status.as_u16(), 200 | 204), "{}", r.text);
    let off = once();
    s.delete(&format!("/Users/{}", ids[2])).await.expect(204);
    off.await.unwrap();
    assert_eq!(proxy.injected()[&Fault::LostReply], 7);

    assert_eq!(s.member_ids(&g).await, vec![ids[1].clone()]);
    let items = scan(&direct, &table).await;
    let users = items
        .iter()
        .filter(|i| attr(i, "pk") == format!("{TENANT}#U"))
        .count();
    assert_eq!(users, 3, "each user written once, one deleted");
    let count: i64 = items
        .iter()
        .filter(|i| attr(i, "pk") == format!("{TENANT}#C") && attr(i, "sk").starts_with("U#"))
        .map(|i| i["n"].as_n().unwrap().parse::<i64>().unwrap())
        .sum();
    assert_eq!(count, 3, "each create and the delete counted once");
}

/// A transaction whose reply was lost, replayed by hand with the same token: DynamoDB
/// answers it as done (the engines under test honour `ClientRequestToken`), which is what
/// makes the SDK's retry of it harmless. Without the token the replay would fail its
/// condition. The other writes are harmless to repeat by their shape: the gate's
/// `UpdateItem` sets usage times, membership clean-up deletes by key (`BatchWriteItem`),
/// page memos are puts of the same value.
#[tokio::test]
async fn a_transaction_replayed_with_its_token_succeeds_and_without_it_fails() {
    use aws_sdk_dynamodb::types::{Put, TransactWriteItem};
    let table = Table::new("scim-token").await;
    let item = |v: &str| {
        HashMap::from([
            ("pk".to_string(), AttributeValue::S(format!("{TENANT}#T"))),
            ("sk".to_string(), AttributeValue::S("x".into())),
            ("v".to_string(), AttributeValue::S(v.into())),
        ])
    };
    let put = TransactWriteItem::builder()
        .put(
            Put::builder()
                .table_name(&table.name)
                .set_item(Some(item("1")))
                .condition_expression("attribute_not_exists(pk)")
                .build()
                .unwrap(),
        )
        .build();
    let send = |token: Option<&str>| {
        table
            .client
            .transact_write_items()
            .transact_items(put.clone())
            .set_client_request_token(token.map(str::to_string))
            .send()
    };
    send(Some("token-1")).await.expect("first");
    send(Some("token-1"))
        .await
        .expect("a replay with the same token is a success");
    let again = send(None).await;
    assert!(
        again.is_err(),
        "without the token the same write fails its condition"
    );
}

/// Replace-all members (PUT, and PATCH `replace members`) writes the new set, then clears
/// the rest: a fault between the two answers `503`, and the client's retry converges to
/// exactly the requested set.
#[tokio::test]
async fn a_members_replace_cut_short_converges_on_the_clients_retry() {
    let (s, proxy, _, _) = faulty_server(11).await;
    let users: Vec<String> = {
        let mut v = Vec::new();
        for i in 0..6 {
            v.push(s.user(&format!("member-{i}@example.com")).await);
        }
        v
    };
    let g = s.group("Replaced").await;
    let add = json!({"schemas": [PATCH], "Operations": [
        {"op": "add", "path": "members", "value": [{"value": users[0]}, {"value": users[1]}]}]});
    s.patch(&format!("/Groups/{g}"), &add).await;
    let wanted = |ids: &[&String]| {
        let mut v: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
        v.sort();
        v
    };
    // The clean-up is the only BatchWriteItem: make each of its tries fail.
    proxy.set_modes(&[Fault::ServerError]);
    proxy.set_operations(Some(&["BatchWriteItem"]));

    let put = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "displayName": "Replaced", "members": [{"value": users[2]}, {"value": users[3]}]});
    proxy.set_rate(1.0);
    let r = s.put(&format!("/Groups/{g}"), &put).await;
    r.expect(503);
    assert_eq!(r.header("retry-after"), Some("1"));
    proxy.set_rate(0.0);
    s.put(&format!("/Groups/{g}"), &put).await.expect(200);
    assert_eq!(s.member_ids(&g).await, wanted(&[&users[2], &users[3]]));

    let replace = json!({"schemas": [PATCH], "Operations": [
        {"op": "replace", "path": "members", "value": [{"value": users[4]}, {"value": users[5]}]}]});
    proxy.set_rate(1.0);
    s.patch(&format!("/Groups/{g}"), &replace).await.expect(503);
    proxy.set_rate(0.0);
    let r = s.patch(&format!("/Groups/{g}"), &replace).await;
    assert!(matches!(r.status.as_u16(), 200 | 204), "{}", r.text);
    assert_eq!(s.member_ids(&g).await, wanted(&[&users[4], &users[5]]));
    for u in &users[..4] {
        let r = s.get(&format!("/Users/{u}")).await;
        assert!(
            r.body["groups"].as_array().is_none_or(|a| a.is_empty()),
            "{}",
            r.text
        );
    }
    assert!(
        proxy.injected()[&Fault::ServerError] >= 6,
        "{:?}",
        proxy.injected()
    );
}
