//! Contact end dates: the scheduled `expire-contacts` function, driven by EventBridge
//! scheduled-event JSON with an injected time, over the real store.
//!
//! End dates are in 2099 so that what reads show (against the wall clock) is what the sweep
//! wrote, not the read-time view of a passed end date.

use crate::harness::{backend_name, Server, TENANT};
use aws_sdk_dynamodb::types::{AttributeValue, StreamSpecification};
use futures::stream::{self, StreamExt};
use scim_aws::expiry::{self, ExpiryConfig, ExpiryError, ScheduledEvent};
use scim_aws::{Calls, DynamoStore};
use scim_core::patch::Member;
use scim_core::resource::{self, Meta};
use scim_core::schema::{ResourceKind, CONTACT_USER_URN as CONTACT};
use scim_service::expiry::{DuePage, ExpiryIndex, ExpiryReport};
use scim_service::port::{
    Audit, ListPage, ListRequest, Store, StoreError, StoreResult, Stored, Tombstone, Update,
};
use scim_test_support::fixtures::scheduled_event;
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Instant;
use time::OffsetDateTime;

/// The scheduled event fired at `time` (the injected now), with this id.
fn event_at(time: &str, id: &str) -> ScheduledEvent {
    expiry::scheduled_event(scheduled_event(time, id)).unwrap()
}

fn config(action: &str) -> ExpiryConfig {
    ExpiryConfig::new(TENANT, Some(action)).unwrap()
}

/// Runs the function's handler for a scheduled event at `time`.
async fn run_at<S: Store + ExpiryIndex>(store: &S, time: &str, action: &str) -> ExpiryReport {
    expiry::handle(
        store,
        &config(action),
        &event_at(time, &format!("run-{time}")),
        None,
    )
    .await
    .unwrap()
}

async fn cost<T, F: std::future::Future<Output = T>>(s: &Server, f: F) -> (T, Calls) {
    let before = s.calls();
    let out = f.await;
    (out, s.calls().since(&before))
}

async fn user_with_end(s: &Server, name: &str, end: Option<&str>, active: bool) -> String {
    let mut body = json!({"userName": name, "active": active});
    if let Some(e) = end {
        body[CONTACT] = json!({"endDate": e});
    }
    s.user_from(&body).await
}

async fn stored(s: &Server, id: &str) -> Stored {
    s.store
        .get(TENANT, ResourceKind::User, id)
        .await
        .unwrap()
        .unwrap()
}

/// The raw user item, to see its index attributes.
async fn item(s: &Server, id: &str) -> HashMap<String, AttributeValue> {
    s.store
        .client()
        .get_item()
        .table_name(s.store.table())
        .key("pk", AttributeValue::S(format!("{TENANT}#U")))
        .key("sk", AttributeValue::S(id.to_string()))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .unwrap()
}

async fn audit_records(s: &Server, id: &str) -> Vec<HashMap<String, AttributeValue>> {
    s.store
        .client()
        .query()
        .table_name(s.store.table())
        .key_condition_expression("pk = :pk")
        .expression_attribute_values(":pk", AttributeValue::S(format!("{TENANT}#A#{id}")))
        .send()
        .await
        .unwrap()
        .items
        .unwrap_or_default()
}

#[track_caller]
fn assert_expired_audit(records: &[HashMap<String, AttributeValue>], request_id: &str) {
    let expired: Vec<_> = records
        .iter()
        .filter(|r| r["event"].as_s().unwrap() == "user.expired")
        .collect();
    assert_eq!(expired.len(), 1, "{records:?}");
    let r = expired[0];
    assert_eq!(r["token"].as_s().unwrap(), "expire-contacts");
    assert_eq!(r["req"].as_s().unwrap(), request_id);
}

/// Creates at once: more makes DynamoDB Local time out on its locks of the counter shards
/// that every create updates ("waiting for a lock", which DynamoDB itself does not do).
const SEED_CONCURRENCY: usize = 8;

/// Creates `n` users straight through the store port, [`SEED_CONCURRENCY`] at a time.
pub(crate) async fn seed(
    store: &DynamoStore,
    prefix: &str,
    n: usize,
    end: Option<&str>,
    active: bool,
) -> Vec<String> {
    let ids: Vec<String> = (0..n).map(|i| format!("{prefix}-{i:06}")).collect();
    let audit = Audit {
        event: "user.created".into(),
        token_id: "seed".into(),
        request_id: "seed".into(),
        changed: vec![],
        at: time::macros::datetime!(2026-01-01 00:00 UTC),
    };
    stream::iter(ids.iter())
        .map(|id| {
            let audit = &audit;
            async move {
                let mut body = json!({"userName": format!("{id}@contoso.com"), "active": active});
                if let Some(e) = end {
                    body[CONTACT] = json!({"endDate": e});
                }
                let doc = resource::normalize_resource(ResourceKind::User, &body).unwrap();
                let user = Stored {
                    id: id.clone(),
                    doc,
                    meta: Meta {
                        created: "2026-01-01T00:00:00Z".into(),
                        last_modified: "2026-01-01T00:00:00Z".into(),
                        version: 1,
                    },
                    password_hash: None,
                };
                // DynamoDB Local answers concurrent transactions on the same counter shard
                // with "timed out ... waiting for a lock" (500) where DynamoDB succeeds.
                for attempt in 1.. {
                    match store
                        .create(TENANT, ResourceKind::User, &user, &[], audit)
                        .await
                    {
                        Ok(()) => break,
                        Err(_)
                            if store
                                .get(TENANT, ResourceKind::User, id)
                                .await
                                .unwrap()
                                .is_some() =>
                        {
                            break
                        }
                        Err(e) if attempt < 5 => {
                            tracing::debug!(error = %e, "seed: retrying a create");
                            tokio::time::sleep(std::time::Duration::from_millis(50 * attempt))
                                .await;
                        }
                        Err(e) => panic!("seeding {id}: {e}"),
                    }
                }
            }
        })
        .buffer_unordered(SEED_CONCURRENCY)
        .collect::<Vec<()>>()
        .await;
    ids
}

async fn versions(s: &Server, ids: &[String]) -> Vec<(bool, u64)> {
    let mut out = Vec::new();
    for id in ids {
        let u = stored(s, id).await;
        out.push((resource::is_active(&u.doc), u.meta.version));
    }
    out
}

#[tokio::test]
async fn scheduled_events_deactivate_users_once_their_end_date_has_passed() {
    let s = Server::start().await;
    let ann = user_with_end(&s, "ann@fabrikam.com", Some("2099-11-22T08:00:00Z"), true).await;
    // A fraction of a second later: must not sort after 08:00:01 in the index.
    let bob = user_with_end(
        &s,
        "bob@fabrikam.com",
        Some("2099-11-22T08:00:00.500Z"),
        true,
    )
    .await;
    // An offset: 09:30+01:00 is 08:30Z.
    let cid = user_with_end(
        &s,
        "cid@fabrikam.com",
        Some("2099-11-22T09:30:00+01:00"),
        true,
    )
    .await;
    let later = user_with_end(&s, "later@fabrikam.com", Some("2099-12-31T00:00:00Z"), true).await;
    let never = user_with_end(&s, "never@contoso.com", None, true).await;
    let off = user_with_end(&s, "off@fabrikam.com", Some("2099-01-01T00:00:00Z"), false).await;
    let untouched = [later.clone(), never.clone(), off.clone()];
    let before = versions(&s, &untouched).await;

    // Before any end date: the index has nothing due; nothing is read or written.
    let (r, c) = cost(&s, run_at(&s.store, "2099-11-22T07:59:59Z", "deactivate")).await;
    assert_eq!(
        (r.examined, r.deactivated, r.complete),
        (0, 0, true),
        "{r:?}"
    );
    assert_eq!((c.query, c.query_index, c.total()), (1, 1, 1), "{c:?}");

    // At 08:00:00 ann expires; bob's index entry (whole seconds) is due but his end date
    // (08:00:00.5) is not yet: re-read and skipped, still indexed.
    let r = run_at(&s.store, "2099-11-22T08:00:00Z", "deactivate").await;
    assert_eq!(
        (r.examined, r.deactivated, r.skipped, r.failed),
        (2, 1, 1, 0),
        "{r:?}"
    );
    let got = s.get(&format!("/Users/{ann}")).await;
    got.expect(200);
    assert_eq!(got.body["active"], false);
    assert_eq!(
        got.body[CONTACT]["endDate"], "2099-11-22T08:00:00Z",
        "the end date stays"
    );
    assert_eq!(
        got.body["userName"], "ann@fabrikam.com",
        "nothing else changes"
    );
    assert_eq!(got.body["meta"]["version"], "W/\"2\"");
    assert_eq!(got.body["meta"]["lastModified"], "2099-11-22T08:00:00Z");
    assert_eq!(s.get(&format!("/Users/{bob}")).await.body["active"], true);
    assert_expired_audit(&audit_records(&s, &ann).await, "run-2099-11-22T08:00:00Z");

    // One second later bob goes; at 08:30 cid.
    let r = run_at(&s.store, "2099-11-22T08:00:01Z", "deactivate").await;
    assert_eq!((r.examined, r.deactivated), (1, 1), "{r:?}");
    let r = run_at(&s.store, "2099-11-22T08:30:00Z", "deactivate").await;
    assert_eq!((r.examined, r.deactivated), (1, 1), "{r:?}");
    for id in [&bob, &cid] {
        assert_eq!(s.get(&format!("/Users/{id}")).await.body["active"], false);
        assert_eq!(audit_records(&s, id).await.len(), 2, "created + expired");
    }
    let audit = audit_records(&s, &cid).await;
    let expired = audit
        .iter()
        .find(|r| r["event"].as_s().unwrap() == "user.expired")
        .unwrap();
    assert_eq!(
        expired["changed"].as_l().unwrap(),
        &[AttributeValue::S("active".into())]
    );

    // Idempotent: the same event again, or a later one, changes nothing more.
    let (r, c) = cost(&s, run_at(&s.store, "2099-11-22T08:30:00Z", "deactivate")).await;
    assert_eq!((r.examined, r.deactivated), (0, 0), "{r:?}");
    assert_eq!(
        c.total(),
        1,
        "one empty index page, no read, no write: {c:?}"
    );
    // Non-expiring and already-inactive users are untouched.
    assert_eq!(versions(&s, &untouched).await, before);
    assert_eq!(
        versions(&s, &untouched).await,
        vec![(true, 1), (true, 1), (false, 1)]
    );
}

#[tokio::test]
async fn the_index_holds_only_active_users_with_an_end_date() {
    let s = Server::start().await;
    let id = user_with_end(
        &s,
        "ix@fabrikam.com",
        Some("2099-03-04T05:06:07.891+02:00"),
        true,
    )
    .await;
    let it = item(&s, &id).await;
    assert_eq!(it["xpk"].as_s().unwrap(), &format!("{TENANT}#X"));
    assert_eq!(
        it["xsk"].as_s().unwrap(),
        &format!("2099-03-04T03:06:07Z#{id}"),
        "fixed-width UTC, fractions truncated"
    );
    let path = format!("/Users/{id}");
    let set_active =
        |v: bool| json!({"Operations": [{"op": "replace", "path": "active", "value": v}]});
    s.patch(&path, &set_active(false)).await.expect(200);
    let it = item(&s, &id).await;
    assert!(!it.contains_key("xpk") && !it.contains_key("xsk"), "{it:?}");
    s.patch(&path, &set_active(true)).await.expect(200);
    assert!(
        item(&s, &id).await.contains_key("xsk"),
        "reactivation re-adds"
    );
    s.patch(
        &path,
        &json!({"Operations": [{"op": "remove", "path": format!("{CONTACT}:endDate")}]}),
    )
    .await
    .expect(200);
    assert!(
        !item(&s, &id).await.contains_key("xsk"),
        "no end date, no entry"
    );
}

#[tokio::test]
async fn clearing_an_end_date_cancels_the_expiry_and_moving_it_postpones_it() {
    let s = Server::start().await;
    let end = "2099-06-30T12:00:00Z";
    let cleared = user_with_end(&s, "cleared@fabrikam.com", Some(end), true).await;
    let moved = user_with_end(&s, "moved@fabrikam.com", Some(end), true).await;
    s.patch(
        &format!("/Users/{cleared}"),
        &json!({"Operations": [{"op": "remove", "path": format!("{CONTACT}:endDate")}]}),
    )
    .await
    .expect(200);
    // Entra sends a new employeeLeaveDateTime.
    s.patch(
        &format!("/Users/{moved}"),
        &json!({"Operations": [{"op": "replace", "path": format!("{CONTACT}:endDate"),
            "value": "2099-07-31T12:00:00Z"}]}),
    )
    .await
    .expect(200);
    let r = run_at(&s.store, "2099-07-01T00:00:00Z", "deactivate").await;
    assert_eq!((r.examined, r.deactivated), (0, 0), "{r:?}");
    assert_eq!(
        s.get(&format!("/Users/{cleared}")).await.body["active"],
        true
    );
    assert_eq!(s.get(&format!("/Users/{moved}")).await.body["active"], true);
    let r = run_at(&s.store, "2099-07-31T12:00:00Z", "deactivate").await;
    assert_eq!((r.examined, r.deactivated), (1, 1), "{r:?}");
    assert_eq!(
        s.get(&format!("/Users/{moved}")).await.body["active"],
        false
    );
    let r = run_at(&s.store, "2100-01-01T00:00:00Z", "deactivate").await;
    assert_eq!(r.examined, 0, "{r:?}");
    assert_eq!(
        s.get(&format!("/Users/{cleared}")).await.body["active"],
        true
    );
}

#[tokio::test]
async fn delete_mode_makes_expired_users_hidden_tombstones() {
    let s = Server::start().await;
    let id = user_with_end(&s, "gone@fabrikam.com", Some("2099-05-01T00:00:00Z"), true).await;
    let stays = user_with_end(&s, "stays@fabrikam.com", Some("2099-09-01T00:00:00Z"), true).await;
    let g = s.group("Guests").await;
    s.patch(
        &format!("/Groups/{g}"),
        &json!({"Operations": [{"op": "add", "path": "members",
            "value": [{"value": id}, {"value": stays}]}]}),
    )
    .await;
    let r = run_at(&s.store, "2099-05-01T00:00:00Z", "delete").await;
    assert_eq!(
        (r.examined, r.deleted, r.deactivated, r.failed),
        (1, 1, 0, 0),
        "{r:?}"
    );
    s.get(&format!("/Users/{id}")).await.expect(404);
    assert_eq!(s.member_ids(&g).await, vec![stays.clone()]);
    let tomb = s
        .store
        .tombstone(TENANT, &id, time::OffsetDateTime::now_utc())
        .await
        .unwrap()
        .expect("tombstone kept");
    assert_eq!(tomb.groups, vec![g.clone()]);
    assert_expired_audit(&audit_records(&s, &id).await, "run-2099-05-01T00:00:00Z");
    assert_eq!(s.get("/Users").await.body["totalResults"], 1);
    // Idempotent.
    let r = run_at(&s.store, "2099-05-01T00:00:00Z", "delete").await;
    assert_eq!((r.examined, r.deleted), (0, 0), "{r:?}");
}

/// What one run costs in a tenant of `size` users of which 3 are expiring.
async fn sweep_cost(size: usize) -> Calls {
    let s = Server::start().await;
    seed(&s.store, "due", 3, Some("2099-01-01T00:00:00Z"), true).await;
    seed(&s.store, "later", 2, Some("2099-12-01T00:00:00Z"), true).await;
    seed(&s.store, "off", 2, Some("2099-01-01T00:00:00Z"), false).await;
    seed(&s.store, "plain", size - 7, None, true).await;
    let (r, c) = cost(&s, run_at(&s.store, "2099-02-01T00:00:00Z", "deactivate")).await;
    assert_eq!((r.examined, r.deactivated, r.failed), (3, 3, 0), "{r:?}");
    c
}

#[tokio::test]
async fn the_sweep_reads_only_the_sparse_index_and_costs_what_expires_not_the_tenant_size() {
    let small = sweep_cost(10).await;
    let large = sweep_cost(500).await;
    assert_eq!(
        small, large,
        "same cost for 3 expiring among 10 and among 500"
    );
    // One index page; per expiring user one GetItem and one transaction. Nothing else:
    // no Scan, no Query of the table (the tenant's user partition), no batch reads.
    assert_eq!(small.scan, 0, "{small:?}");
    assert_eq!(small.query, 1, "{small:?}");
    assert_eq!(
        small.query_index, small.query,
        "every query was of the index: {small:?}"
    );
    assert_eq!(small.get_item, 3, "{small:?}");
    assert_eq!(small.transact_write_items, 3, "{small:?}");
    assert_eq!(small.total(), 7, "{small:?}");
}

#[tokio::test]
async fn ten_thousand_expiring_users_expire_in_one_run() {
    // SCIM_EXPIRY_USERS overrides the count for local experiments only.
    let n: u64 = std::env::var("SCIM_EXPIRY_USERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let s = Server::start().await;
    {
        // The table's stream is off for this test: dynoxide 3.2 numbers each stream record
        // by scanning every record the table ever had (`MAX(CAST(sequence_number ...))`,
        // unindexed, never trimmed), so 10,000 users' writes cost O(n²) in the emulator
        // alone; and DynamoDB Local, after 40,000 stream records, slows every later test
        // of the run. The sweep itself does not involve the stream.
        s.store
            .client()
            .update_table()
            .table_name(s.store.table())
            .stream_specification(
                StreamSpecification::builder()
                    .stream_enabled(false)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
    }
    let t0 = Instant::now();
    let ids = seed(
        &s.store,
        "bulk",
        n as usize,
        Some("2099-01-01T00:00:00Z"),
        true,
    )
    .await;
    let seeded = t0.elapsed();
    eprintln!(
        "expire-contacts [{}]: {n} users seeded in {seeded:.1?}",
        backend_name()
    );
    let t1 = Instant::now();
    let (r, c) = cost(&s, run_at(&s.store, "2099-01-01T00:15:00Z", "deactivate")).await;
    let ran = t1.elapsed();
    eprintln!(
        "expire-contacts [{}]: one run over {n} expiring users in {ran:.1?}: {r:?}; calls {c:?}",
        backend_name()
    );
    assert_eq!(
        (r.examined, r.deactivated, r.skipped, r.failed, r.complete),
        (n, n, 0, 0, true),
        "{r:?}"
    );
    assert_eq!(c.scan, 0);
    assert_eq!(c.query, c.query_index, "{c:?}");
    assert!(
        c.query <= n / scim_service::expiry::PAGE_SIZE as u64 + 1,
        "{c:?}"
    );
    assert_eq!(c.get_item, n, "{c:?}");
    assert_eq!(c.transact_write_items, n, "{c:?}");
    // All deactivated (read back through the store, 32 at a time).
    let active: usize = stream::iter(ids.iter())
        .map(|id| {
            let s = &s;
            async move { resource::is_active(&stored(s, id).await.doc) as usize }
        })
        .buffer_unordered(32)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .sum();
    assert_eq!(active, 0);
    // A second run changes nothing: one empty index page.
    let (r, c) = cost(&s, run_at(&s.store, "2099-01-01T00:30:00Z", "deactivate")).await;
    assert_eq!((r.examined, r.deactivated), (0, 0), "{r:?}");
    assert_eq!((c.total(), c.transact_write_items), (1, 0), "{c:?}");
}

/// A store that fails or races for chosen users: writes that fail for one id, a concurrent
/// change between the sweep's read and its write for another.
struct Faulty {
    inner: DynamoStore,
    fail_writes: Mutex<HashSet<String>>,
    race_on_read: Mutex<HashSet<String>>,
    fail_everything: AtomicBool,
}

impl Faulty {
    fn new(inner: DynamoStore) -> Faulty {
        Faulty {
            inner,
            fail_writes: Mutex::new(HashSet::new()),
            race_on_read: Mutex::new(HashSet::new()),
            fail_everything: AtomicBool::new(false),
        }
    }

    fn fails(&self, id: &str) -> bool {
        self.fail_everything.load(Ordering::SeqCst) || self.fail_writes.lock().unwrap().contains(id)
    }
}

impl Store for Faulty {
    async fn catalog(
        &self,
        t: &str,
        kind: scim_core::schema::CatalogKind,
    ) -> StoreResult<Vec<scim_core::catalog::CatalogEntry>> {
        self.inner.catalog(t, kind).await
    }

    async fn catalog_entry(
        &self,
        t: &str,
        kind: scim_core::schema::CatalogKind,
        id: &str,
    ) -> StoreResult<Option<scim_core::catalog::CatalogEntry>> {
        self.inner.catalog_entry(t, kind, id).await
    }

    async fn get(&self, t: &str, kind: ResourceKind, id: &str) -> StoreResult<Option<Stored>> {
        let got = self.inner.get(t, kind, id).await?;
        let race = self.race_on_read.lock().unwrap().remove(id);
        if let (true, Some(before)) = (race, &got) {
            // Someone else writes the user after the sweep read them.
            let mut after = before.clone();
            after
                .doc
                .insert("displayName".into(), json!("Changed meanwhile"));
            after.meta.version += 1;
            let audit = Audit {
                event: "user.updated".into(),
                token_id: "other".into(),
                request_id: "other".into(),
                changed: vec!["displayName".into()],
                at: time::macros::datetime!(2026-01-01 00:00 UTC),
            };
            self.inner
                .update(t, Update::versioned(kind, before, &after, &audit))
                .await?;
        }
        Ok(got)
    }
    async fn members(&self, t: &str, g: &str, limit: usize) -> StoreResult<Option<Vec<Member>>> {
        self.inner.members(t, g, limit).await
    }
    async fn groups_of(&self, t: &str, u: &str) -> StoreResult<Vec<String>> {
        self.inner.groups_of(t, u).await
    }
    async fn list(
        &self,
        t: &str,
        kind: ResourceKind,
        r: &ListRequest<'_>,
    ) -> StoreResult<ListPage> {
        self.inner.list(t, kind, r).await
    }
    async fn create(
        &self,
        t: &str,
        kind: ResourceKind,
        r: &Stored,
        members: &[Member],
        audit: &Audit,
    ) -> StoreResult<()> {
        self.inner.create(t, kind, r, members, audit).await
    }
    async fn update(&self, t: &str, change: Update<'_>) -> StoreResult<()> {
        if self.fails(&change.before.id) {
            return Err(StoreError::Internal("injected write failure".into()));
        }
        self.inner.update(t, change).await
    }
    async fn delete(
        &self,
        t: &str,
        kind: ResourceKind,
        before: &Stored,
        audit: &Audit,
    ) -> StoreResult<()> {
        if self.fails(&before.id) {
            return Err(StoreError::Busy);
        }
        self.inner.delete(t, kind, before, audit).await
    }
    async fn finish_delete(&self, t: &str, kind: ResourceKind, id: &str) -> StoreResult<()> {
        self.inner.finish_delete(t, kind, id).await
    }
    async fn tombstone(
        &self,
        t: &str,
        id: &str,
        now: time::OffsetDateTime,
    ) -> StoreResult<Option<Tombstone>> {
        self.inner.tombstone(t, id, now).await
    }
    async fn restore(
        &self,
        t: &str,
        tomb: &Tombstone,
        after: &Stored,
        audit: &Audit,
    ) -> StoreResult<()> {
        self.inner.restore(t, tomb, after, audit).await
    }
    async fn clear_inactive_email(&self, t: &str, email: &str, holder: &str) -> StoreResult<()> {
        self.inner.clear_inactive_email(t, email, holder).await
    }

    async fn accept_job(
        &self,
        job: &scim_service::jobs::Job,
        at: OffsetDateTime,
    ) -> StoreResult<()> {
        self.inner.accept_job(job, at).await
    }

    async fn job(&self, t: &str, txn: &str) -> StoreResult<Option<scim_service::jobs::JobRecord>> {
        self.inner.job(t, txn).await
    }

    async fn finish_job(&self, t: &str, txn: &str, sets: &[String]) -> StoreResult<()> {
        self.inner.finish_job(t, txn, sets).await
    }
}

impl ExpiryIndex for Faulty {
    async fn due_contacts(
        &self,
        t: &str,
        now: OffsetDateTime,
        limit: usize,
        start: Option<&str>,
    ) -> StoreResult<DuePage> {
        self.inner.due_contacts(t, now, limit, start).await
    }
}

#[tokio::test]
async fn a_failed_or_raced_user_is_retried_and_expired_by_the_next_run() {
    let s = Server::start().await;
    let ids = seed(&s.store, "p", 6, Some("2099-01-01T00:00:00Z"), true).await;
    let faulty = Faulty::new(s.store.clone());
    faulty.fail_writes.lock().unwrap().insert(ids[1].clone());
    faulty.race_on_read.lock().unwrap().insert(ids[4].clone());
    // The run succeeds with the failure counted; the lost race is skipped, not overwritten.
    let r = run_at(&faulty, "2099-01-02T00:00:00Z", "deactivate").await;
    assert_eq!(
        (r.examined, r.deactivated, r.skipped, r.failed, r.complete),
        (6, 4, 1, 1, true),
        "{r:?}"
    );
    let failed = stored(&s, &ids[1]).await;
    assert!(resource::is_active(&failed.doc));
    assert!(item(&s, &ids[1]).await.contains_key("xsk"), "still indexed");
    let raced = stored(&s, &ids[4]).await;
    assert!(resource::is_active(&raced.doc));
    assert_eq!(
        raced.doc["displayName"], "Changed meanwhile",
        "the other write stands"
    );
    // The next scheduled run picks up exactly those two.
    faulty.fail_writes.lock().unwrap().clear();
    let r = run_at(&faulty, "2099-01-02T00:15:00Z", "deactivate").await;
    assert_eq!((r.examined, r.deactivated, r.failed), (2, 2, 0), "{r:?}");
    for id in &ids {
        assert!(!resource::is_active(&stored(&s, id).await.doc), "{id}");
        assert_expired_audit(&audit_records(&s, id).await, &{
            if id == &ids[1] || id == &ids[4] {
                "run-2099-01-02T00:15:00Z".to_string()
            } else {
                "run-2099-01-02T00:00:00Z".to_string()
            }
        });
    }
    let raced = stored(&s, &ids[4]).await;
    assert_eq!(raced.doc["displayName"], "Changed meanwhile");
}

#[tokio::test]
async fn a_run_fails_only_when_nothing_could_be_processed() {
    let s = Server::start().await;
    let ids = seed(&s.store, "q", 3, Some("2099-01-01T00:00:00Z"), true).await;
    let faulty = Faulty::new(s.store.clone());
    faulty.fail_everything.store(true, Ordering::SeqCst);
    for action in ["deactivate", "delete"] {
        let e = expiry::handle(
            &faulty,
            &config(action),
            &event_at("2099-02-01T00:00:00Z", "all-fail"),
            None,
        )
        .await
        .unwrap_err();
        match e {
            ExpiryError::NothingProcessed(r) => assert_eq!((r.examined, r.failed), (3, 3), "{r:?}"),
            other => panic!("{other:?}"),
        }
    }
    // A bad event is the invocation's error, before anything is touched.
    let mut bad = scheduled_event("2099-02-01T00:00:00Z", "bad");
    bad["time"] = json!("next tuesday");
    let e = expiry::scheduled_event(bad).unwrap_err();
    assert!(matches!(e, ExpiryError::BadEvent(_)), "{e:?}");
    // Recovered: the retry (or the next run) expires them all.
    faulty.fail_everything.store(false, Ordering::SeqCst);
    let r = run_at(&faulty, "2099-02-01T00:00:00Z", "deactivate").await;
    assert_eq!(r.deactivated, 3, "{r:?}");
    for id in &ids {
        assert!(!resource::is_active(&stored(&s, id).await.doc));
    }
}

#[tokio::test]
async fn the_index_is_paged_through_to_the_end() {
    let s = Server::start().await;
    // Different end dates, so pages cross end-date boundaries too.
    for (i, end) in [
        "2099-01-01T00:00:00Z",
        "2099-01-01T00:00:01Z",
        "2099-01-02T00:00:00Z",
    ]
    .iter()
    .enumerate()
    {
        seed(&s.store, &format!("pg{i}"), 5, Some(end), true).await;
    }
    let now = OffsetDateTime::parse(
        "2099-01-03T00:00:00Z",
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let mut seen = Vec::new();
    let mut start: Option<String> = None;
    loop {
        let page = s
            .store
            .due_contacts(TENANT, now, 4, start.as_deref())
            .await
            .unwrap();
        assert!(page.ids.len() <= 4);
        seen.extend(page.ids);
        match page.next {
            Some(n) => start = Some(n),
            None => break,
        }
    }
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!((seen.len(), unique.len()), (15, 15));
    assert!(
        seen[..5].iter().all(|id| id.starts_with("pg0")),
        "earliest first: {seen:?}"
    );
}

/// Runs `scim-admin` (its library entry point) against the test's table.
async fn admin(s: &Server, args: &[&str]) -> (u8, String, String) {
    use aws_sdk_secretsmanager::config::{BehaviorVersion, Region};
    // Not used by `end-date` / `audit`; the token commands are tested in tokens.rs.
    let sm = aws_sdk_secretsmanager::Client::from_conf(
        aws_sdk_secretsmanager::Config::builder()
            .http_client(scim_aws::sdk::http_client())
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .build(),
    );
    let mut args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    args.extend(["--table".to_string(), s.store.table().to_string()]);
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = scim_admin::run_with(&sm, Some(s.store.client()), &args, &mut out, &mut err).await;
    (
        code,
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}

#[tokio::test]
async fn the_admin_command_sets_and_clears_end_dates_and_shows_the_audit_trail() {
    let s = Server::start().await;
    let leaving = user_with_end(&s, "leaving@contoso.com", None, true).await;
    let staying = user_with_end(
        &s,
        "staying@contoso.com",
        Some("2030-01-01T00:00:00Z"),
        true,
    )
    .await;

    let (code, out, err) = admin(
        &s,
        &[
            "end-date",
            "--tenant",
            TENANT,
            "--id",
            &leaving,
            "--date",
            "2030-01-01T00:00:00+02:00",
        ],
    )
    .await;
    assert_eq!(code, 0, "{err}");
    let shown: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(shown["id"], leaving.as_str());
    let (code, _, err) = admin(
        &s,
        &["end-date", "--tenant", TENANT, "--id", &staying, "--clear"],
    )
    .await;
    assert_eq!(code, 0, "{err}");
    let got = s.get(&format!("/Users/{leaving}")).await;
    got.expect(200);
    assert_eq!(got.body[CONTACT]["endDate"], "2029-12-31T22:00:00Z");
    let got = s.get(&format!("/Users/{staying}")).await;
    assert!(
        got.body
            .get(CONTACT)
            .and_then(|c| c.get("endDate"))
            .is_none(),
        "{}",
        got.text
    );

    // The expiry job sees both changes: the one given a date expires, the cleared one stays.
    let r = run_at(&s.store, "2030-01-01T00:15:00Z", "deactivate").await;
    assert_eq!((r.examined, r.deactivated), (1, 1), "{r:?}");
    assert_eq!(
        s.get(&format!("/Users/{leaving}")).await.body["active"],
        false
    );
    assert_eq!(
        s.get(&format!("/Users/{staying}")).await.body["active"],
        true
    );

    // Bad input: a usage error (2) or a SCIM-level refusal (1), and nothing changes.
    for (args, want) in [
        (vec!["end-date", "--tenant", TENANT, "--id", &staying], 2u8),
        (
            vec![
                "end-date", "--tenant", TENANT, "--id", &staying, "--date", "x", "--clear",
            ],
            2,
        ),
        (
            vec![
                "end-date",
                "--tenant",
                TENANT,
                "--id",
                &staying,
                "--date",
                "next tuesday",
            ],
            1,
        ),
        (
            vec![
                "end-date",
                "--tenant",
                TENANT,
                "--id",
                "no-such-user",
                "--clear",
            ],
            1,
        ),
        (vec!["audit", "--tenant", TENANT], 2),
    ] {
        let (code, _, err) = admin(&s, &args).await;
        assert_eq!(code, want, "{args:?}: {err}");
    }
    assert!(s
        .get(&format!("/Users/{staying}"))
        .await
        .body
        .get(CONTACT)
        .and_then(|c| c.get("endDate"))
        .is_none());

    // The audit trail of the expired user: created, the admin's update, the expiry.
    let (code, out, err) = admin(&s, &["audit", "--tenant", TENANT, "--id", &leaving]).await;
    assert_eq!(code, 0, "{err}");
    let records: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let events: Vec<&str> = records
        .iter()
        .map(|r| r["event"].as_str().unwrap())
        .collect();
    assert_eq!(events.first(), Some(&"user.created"), "{events:?}");
    assert!(events.contains(&"user.expired"), "{events:?}");
    let by_admin: Vec<&Value> = records.iter().filter(|r| r["token"] == "admin").collect();
    assert_eq!(by_admin.len(), 1, "{records:?}");
    assert!(
        by_admin[0]["changed"]
            .to_string()
            .contains("contact:2.0:User"),
        "{records:?}"
    );
    assert!(records
        .iter()
        .all(|r| r.get("pk").is_none() && r["rid"] == leaving.as_str()));
}
