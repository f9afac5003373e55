//! `entra-guest-cleanup` against the stand-in for Entra's token endpoint and Microsoft
//! Graph on loopback (`scim_test_support::graph`), which records every request and answers
//! per scenario. The function's real code runs end to end — settings from a variable map,
//! the hyper/rustls client (plain http to loopback), the token cache, the retries, the audit
//! write into a real table (embedded engine, or DynamoDB Local under `with-dynamodb-local`)
//! and, in the first tests, the Secrets Manager read against moto.

use crate::moto;
use aws_sdk_dynamodb::types::AttributeValue;
use entra_guest_cleanup::{
    Cleanup, CleanupError, CredentialsSource, DynamoAudit, EntraCredentials, Outcome,
    SecretsManagerCredentials, Settings, StaticCredentials, AUDIT_EXT_RECORD,
};
use scim_aws::tokens::ManualClock;
use scim_test_support::aws::secrets_manager as sm_client;
use scim_test_support::engine::Table;
use scim_test_support::graph::{
    graph_error, no_content, reply, with_retry_after, Reply, Seen, StandIn,
};
use scim_test_support::logs::{capture, fresh_interest};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const TENANT: &str = "acme";
const DIRECTORY: &str = "11111111-2222-4333-8444-555555555555";
const APP: &str = "0f1e2d3c-4b5a-4978-8796-a5b4c3d2e1f0";
const CLIENT_SECRET: &str = "Zq8~client.secret-VALUE_never-logged";
const ACCESS_TOKEN: &str = "eyJ0eXAiOiJKV1QiLCJhbGciOiJub25lIn0.access-token-never-logged.c2ln";
const OID: &str = "7d2a1c3e-5b4f-4e6a-9c8d-0123456789ab";
const SCOPE: &str = "https://graph.microsoft.com/.default";
const SECRET_NAME: &str = "scim/acme/entra-credentials";

// ------------------------------------------------------------------ the stand-in's answers

fn token_ok(expires_in: u64) -> Reply {
    reply(
        200,
        json!({"token_type": "Bearer", "expires_in": expires_in, "ext_expires_in": expires_in,
               "access_token": ACCESS_TOKEN}),
    )
}

fn entra_user(user_type: Option<&str>) -> Reply {
    reply(
        200,
        json!({"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users(id,userType)/$entity",
               "id": OID, "userType": user_type}),
    )
}

/// A guest's directory: tokens, the user as a Guest, 204 to PATCH and DELETE.
fn guest_directory(seen: &Seen, _nth: usize) -> Reply {
    directory_with(Some("Guest"))(seen, 0)
}

fn directory_with(user_type: Option<&'static str>) -> impl Fn(&Seen, usize) -> Reply {
    move |seen, _| match seen.kind() {
        "token" => token_ok(3599),
        "get" => entra_user(user_type),
        "patch" | "delete" => no_content(),
        _ => reply(400, json!({"error": "unexpected request"})),
    }
}

// ------------------------------------------------------------------ the function under test

/// A table for the audit records (embedded engine, or DynamoDB Local when the suite runs
/// under `with-dynamodb-local`).
async fn table() -> Table {
    Table::new("entra-cleanup").await
}

/// What the function wrote for a user.
trait Audits {
    /// The audit partition of a user, oldest first.
    async fn audit(&self, user: &str) -> Vec<HashMap<String, AttributeValue>>;

    async fn outcomes(&self, user: &str) -> Vec<String> {
        self.audit(user)
            .await
            .iter()
            .map(|i| s(i, "event"))
            .collect()
    }
}

impl Audits for Table {
    async fn audit(&self, user: &str) -> Vec<HashMap<String, AttributeValue>> {
        self.client
            .query()
            .table_name(&self.name)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", AttributeValue::S(format!("{TENANT}#A#{user}")))
            .send()
            .await
            .unwrap()
            .items
            .unwrap_or_default()
    }
}

fn s(item: &HashMap<String, AttributeValue>, name: &str) -> String {
    match item.get(name) {
        Some(AttributeValue::S(v)) => v.clone(),
        Some(AttributeValue::N(v)) => v.clone(),
        other => panic!("{name}: {other:?}"),
    }
}

fn settings(mode: &str, stand_in: &StandIn, table: &Table) -> Settings {
    let vars = HashMap::from([
        ("TABLE_NAME", table.name.clone()),
        ("TENANT_ID", TENANT.to_string()),
        ("ENTRA_CLEANUP_MODE", mode.to_string()),
        (
            "ENTRA_CREDENTIALS_SECRET_ARN",
            format!("arn:aws:secretsmanager:us-east-1:123456789012:secret:{SECRET_NAME}"),
        ),
        ("ENTRA_LOGIN_BASE_URL", stand_in.base.clone()),
        ("GRAPH_BASE_URL", stand_in.base.clone()),
        ("GRAPH_SCOPE", SCOPE.to_string()),
    ]);
    Settings::from_lookup(|name| vars.get(name).cloned()).unwrap()
}

fn credentials() -> EntraCredentials {
    EntraCredentials::new(DIRECTORY, APP, CLIENT_SECRET).unwrap()
}

/// Counts how often the credentials are read.
#[derive(Clone, Default)]
struct Counted(Arc<AtomicU32>);

impl CredentialsSource for Counted {
    async fn load(&self) -> Result<EntraCredentials, String> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(credentials())
    }

    fn describe(&self) -> String {
        "counted test credentials".into()
    }
}

impl Counted {
    fn loads(&self) -> u32 {
        self.0.load(Ordering::SeqCst)
    }
}

async fn cleanup_with<C: CredentialsSource>(
    mode: &str,
    stand_in: &StandIn,
    table: &Table,
    creds: C,
) -> Cleanup<C> {
    let audit = DynamoAudit::new(table.client.clone(), &table.name);
    Cleanup::new(settings(mode, stand_in, table), creds, audit).unwrap()
}

async fn cleanup(mode: &str, stand_in: &StandIn, table: &Table) -> Cleanup<StaticCredentials> {
    cleanup_with(mode, stand_in, table, StaticCredentials(credentials())).await
}

static EVENTS: AtomicU32 = AtomicU32::new(1);

fn user_id(n: u32) -> String {
    format!("0190f0a2-7c1e-7000-8000-{n:012x}")
}

/// The EventBridge event the rule delivers: a `user.expired` change event.
fn expired(user: &str, external_id: Option<&str>) -> Value {
    let n = EVENTS.fetch_add(1, Ordering::SeqCst);
    json!({
        "version": "0",
        "id": format!("e0e0e0e0-0000-4000-8000-{n:012x}"),
        "detail-type": "user.expired",
        "source": "scim.provisioning",
        "account": "123456789012",
        "time": "2025-05-01T10:00:00Z",
        "region": "eu-west-1",
        "resources": [],
        "detail": {
            "event": "user.expired", "tenant": TENANT, "resourceType": "User", "id": user,
            "externalId": external_id, "changedAttributes": ["active"], "membersAdded": [],
            "membersRemoved": [], "requestId": "a6b9c0d1-0000-4000-8000-000000000001",
            "actor": "expire-contacts", "at": "2025-05-01T10:00:00Z"
        }
    })
}

fn event_id(event: &Value) -> String {
    event["id"].as_str().unwrap().to_string()
}

/// An invocation whose context says it must end `budget` from now.
fn invocation(payload: &Value, budget: Duration) -> lambda_runtime::LambdaEvent<Value> {
    let mut ctx = lambda_runtime::Context::default();
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    ctx.deadline = now_ms + budget.as_millis() as u64;
    ctx.request_id = "lambda-request-1".into();
    lambda_runtime::LambdaEvent::new(payload.clone(), ctx)
}

async fn run<C: CredentialsSource, K: scim_aws::tokens::Clock>(
    c: &Cleanup<C, K>,
    payload: &Value,
) -> Result<Value, CleanupError> {
    c.handle(invocation(payload, Duration::from_secs(30))).await
}

fn outcome(r: Result<Value, CleanupError>) -> String {
    r.unwrap()["outcome"].as_str().unwrap().to_string()
}

// ------------------------------------------------------------------ no secret in the logs

fn assert_no_secret_in(logs: &str) {
    for secret in [
        CLIENT_SECRET,
        ACCESS_TOKEN,
        "Zq8~client",
        "access-token-never-logged",
    ] {
        assert!(
            !logs.contains(secret),
            "a secret reached the log:\n{}",
            logs.lines()
                .filter(|l| l.contains(secret))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    assert!(
        !logs.contains("Bearer "),
        "an Authorization value was logged"
    );
}

// ------------------------------------------------------------------ the exact requests

fn names(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[track_caller]
fn assert_token_request(t: &Seen) {
    assert_eq!(t.method, "POST");
    assert_eq!(t.path, format!("/{DIRECTORY}/oauth2/v2.0/token"));
    assert_eq!(t.query, None);
    assert_eq!(
        t.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(t.header("accept"), Some("application/json"));
    assert_eq!(t.header("authorization"), None);
    assert_eq!(
        t.header_names(),
        names(&[
            "accept",
            "content-length",
            "content-type",
            "host",
            "user-agent"
        ])
    );
    assert_eq!(
        t.form(),
        BTreeMap::from([
            ("client_id".to_string(), APP.to_string()),
            ("client_secret".to_string(), CLIENT_SECRET.to_string()),
            ("grant_type".to_string(), "client_credentials".to_string()),
            ("scope".to_string(), SCOPE.to_string()),
        ])
    );
}

#[track_caller]
fn assert_user_read(g: &Seen, event: &Value) {
    assert_eq!(g.method, "GET");
    assert_eq!(g.path, format!("/v1.0/users/{OID}"));
    assert_eq!(g.query.as_deref(), Some("$select=id,userType"));
    assert_eq!(
        g.header("authorization"),
        Some(format!("Bearer {ACCESS_TOKEN}").as_str())
    );
    assert_eq!(g.header("accept"), Some("application/json"));
    assert_eq!(
        g.header("client-request-id"),
        Some(event_id(event).as_str())
    );
    assert_eq!(
        g.header_names(),
        names(&[
            "accept",
            "authorization",
            "client-request-id",
            "host",
            "user-agent"
        ])
    );
    assert_eq!(g.body, "");
}

#[track_caller]
fn assert_audit(item: &HashMap<String, AttributeValue>, user: &str, event: &Value, outcome: &str) {
    assert_eq!(s(item, "pk"), format!("{TENANT}#A#{user}"));
    let sk = s(item, "sk");
    assert_eq!(sk, format!("{}#{}", s(item, "at"), event_id(event)));
    assert_eq!(s(item, "rec"), AUDIT_EXT_RECORD);
    assert_ne!(
        s(item, "rec"),
        "audit",
        "must not feed the change-event publisher"
    );
    assert_eq!(s(item, "event"), outcome);
    assert_eq!(s(item, "tenant"), TENANT);
    assert_eq!(s(item, "resourceType"), "User");
    assert_eq!(s(item, "rid"), user);
    assert_eq!(s(item, "req"), event_id(event));
    assert_eq!(s(item, "token"), "entra-guest-cleanup");
    assert_eq!(s(item, "trigger"), "user.expired");
    assert!(s(item, "expiresAt").parse::<i64>().unwrap() > 1_700_000_000);
    assert!(time::OffsetDateTime::parse(
        &s(item, "at"),
        &time::format_description::well_known::Rfc3339
    )
    .is_ok());
}

#[tokio::test]
async fn disable_reads_the_guest_then_patches_account_enabled_false_with_credentials_from_secrets_manager(
) {
    let moto = moto::start();
    let sm = sm_client(&moto.endpoint);
    sm.create_secret()
        .name(SECRET_NAME)
        .secret_string(
            json!({"tenantId": DIRECTORY, "clientId": APP, "clientSecret": CLIENT_SECRET})
                .to_string(),
        )
        .send()
        .await
        .unwrap();
    let graph = StandIn::start(guest_directory).await;
    let table = table().await;
    let c = cleanup_with(
        "disable",
        &graph,
        &table,
        SecretsManagerCredentials::new(sm.clone(), SECRET_NAME),
    )
    .await;
    let user = user_id(1);
    let event = expired(&user, Some(OID));

    assert_eq!(outcome(run(&c, &event).await), "entra.disabled");

    assert_eq!(graph.kinds(), ["token", "get", "patch"]);
    let all = graph.requests();
    assert_token_request(&all[0]);
    assert_user_read(&all[1], &event);
    let p = &all[2];
    assert_eq!(p.method, "PATCH");
    assert_eq!(p.path, format!("/v1.0/users/{OID}"));
    assert_eq!(p.query, None);
    assert_eq!(
        p.header("authorization"),
        Some(format!("Bearer {ACCESS_TOKEN}").as_str())
    );
    assert_eq!(p.header("content-type"), Some("application/json"));
    assert_eq!(
        p.header("client-request-id"),
        Some(event_id(&event).as_str())
    );
    assert_eq!(
        p.header_names(),
        names(&[
            "accept",
            "authorization",
            "client-request-id",
            "content-length",
            "content-type",
            "host",
            "user-agent"
        ])
    );
    assert_eq!(
        serde_json::from_str::<Value>(&p.body).unwrap(),
        json!({"accountEnabled": false})
    );

    let audit = table.audit(&user).await;
    assert_eq!(audit.len(), 1);
    assert_audit(&audit[0], &user, &event, "entra.disabled");
    assert_eq!(s(&audit[0], "externalId"), OID);
    assert_eq!(s(&audit[0], "mode"), "disable");
    assert_eq!(s(&audit[0], "userType"), "Guest");
    assert!(!audit[0].contains_key("detail"));

    // A second cold start whose secret has no value: a clear failure, no Graph request.
    sm.delete_secret()
        .secret_id(SECRET_NAME)
        .force_delete_without_recovery(true)
        .send()
        .await
        .unwrap();
    let graph2 = StandIn::start(guest_directory).await;
    let c2 = cleanup_with(
        "disable",
        &graph2,
        &table,
        SecretsManagerCredentials::new(sm, SECRET_NAME),
    )
    .await;
    let user2 = user_id(2);
    let event2 = expired(&user2, Some(OID));
    let err = run(&c2, &event2).await.unwrap_err();
    assert!(matches!(err, CleanupError::Failed(_)), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains(SECRET_NAME) && msg.contains("put-secret-value"),
        "{msg}"
    );
    assert!(graph2.requests().is_empty());
    let audit = table.audit(&user2).await;
    assert_eq!(audit.len(), 1);
    assert_audit(&audit[0], &user2, &event2, "entra.failed");
    assert!(s(&audit[0], "detail").contains("credentials"));
}

#[tokio::test]
async fn delete_reads_the_guest_then_deletes() {
    let graph = StandIn::start(guest_directory).await;
    let table = table().await;
    let c = cleanup("delete", &graph, &table).await;
    let user = user_id(3);
    let event = expired(&user, Some(OID));

    assert_eq!(outcome(run(&c, &event).await), "entra.deleted");

    assert_eq!(graph.kinds(), ["token", "get", "delete"]);
    let all = graph.requests();
    assert_token_request(&all[0]);
    assert_user_read(&all[1], &event);
    let d = &all[2];
    assert_eq!(d.method, "DELETE");
    assert_eq!(d.path, format!("/v1.0/users/{OID}"));
    assert_eq!(d.query, None);
    assert_eq!(
        d.header("authorization"),
        Some(format!("Bearer {ACCESS_TOKEN}").as_str())
    );
    assert_eq!(d.header("content-type"), None);
    assert_eq!(d.body, "");
    assert_eq!(
        d.header_names(),
        names(&[
            "accept",
            "authorization",
            "client-request-id",
            "host",
            "user-agent"
        ])
    );

    let audit = table.audit(&user).await;
    assert_eq!(audit.len(), 1);
    assert_audit(&audit[0], &user, &event, "entra.deleted");
    assert_eq!(s(&audit[0], "mode"), "delete");
}

// ------------------------------------------------------------------ already gone, redelivery

#[tokio::test]
async fn a_user_already_gone_from_entra_is_done() {
    let table = table().await;

    // Gone before the read: no DELETE at all.
    let graph = StandIn::start(|seen: &Seen, _| match seen.kind() {
        "token" => token_ok(3599),
        _ => graph_error(404, "Request_ResourceNotFound"),
    })
    .await;
    let c = cleanup("delete", &graph, &table).await;
    let user = user_id(4);
    let event = expired(&user, Some(OID));
    assert_eq!(outcome(run(&c, &event).await), "entra.already-gone");
    assert_eq!(graph.kinds(), ["token", "get"]);
    let audit = table.audit(&user).await;
    assert_audit(&audit[0], &user, &event, "entra.already-gone");

    // Gone between the read and the action, in both modes.
    for (mode, verb) in [("delete", "delete"), ("disable", "patch")] {
        let graph = StandIn::start(|seen: &Seen, _| match seen.kind() {
            "token" => token_ok(3599),
            "get" => entra_user(Some("Guest")),
            _ => graph_error(404, "Request_ResourceNotFound"),
        })
        .await;
        let c = cleanup(mode, &graph, &table).await;
        let user = user_id(if mode == "delete" { 5 } else { 6 });
        let event = expired(&user, Some(OID));
        assert_eq!(
            outcome(run(&c, &event).await),
            "entra.already-gone",
            "{mode}"
        );
        assert_eq!(graph.kinds(), ["token", "get", verb]);
        assert_eq!(table.outcomes(&user).await, ["entra.already-gone"]);
    }
}

#[tokio::test]
async fn a_redelivered_event_is_harmless() {
    let table = table().await;

    // delete: the second delivery reads 404 and makes no second DELETE.
    let deleted = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = Arc::clone(&deleted);
    let graph = StandIn::start(move |seen: &Seen, _| match seen.kind() {
        "token" => token_ok(3599),
        "get" if flag.load(Ordering::SeqCst) => graph_error(404, "Request_ResourceNotFound"),
        "get" => entra_user(Some("Guest")),
        "delete" => {
            flag.store(true, Ordering::SeqCst);
            no_content()
        }
        _ => reply(400, Value::Null),
    })
    .await;
    let c = cleanup("delete", &graph, &table).await;
    let user = user_id(7);
    let event = expired(&user, Some(OID));
    assert_eq!(outcome(run(&c, &event).await), "entra.deleted");
    assert_eq!(outcome(run(&c, &event).await), "entra.already-gone");
    assert_eq!(graph.kinds(), ["token", "get", "delete", "get"]);
    assert_eq!(
        table.outcomes(&user).await,
        ["entra.deleted", "entra.already-gone"],
        "each delivery is audited, in time order"
    );
    assert!(deleted.load(Ordering::SeqCst));

    // disable: disabling a disabled user succeeds again.
    let graph = StandIn::start(guest_directory).await;
    let c = cleanup("disable", &graph, &table).await;
    let user = user_id(8);
    let event = expired(&user, Some(OID));
    assert_eq!(outcome(run(&c, &event).await), "entra.disabled");
    assert_eq!(outcome(run(&c, &event).await), "entra.disabled");
    assert_eq!(graph.kinds(), ["token", "get", "patch", "get", "patch"]);
    for p in graph.of("patch") {
        assert_eq!(p.body, r#"{"accountEnabled":false}"#);
    }
}

// ------------------------------------------------------------------ throttling and budgets

#[tokio::test]
async fn throttling_honours_retry_after_then_succeeds() {
    let table = table().await;
    let graph = StandIn::start(|seen: &Seen, nth| match (seen.kind(), nth) {
        ("token", 0) => {
            with_retry_after(reply(503, json!({"error": "temporarily_unavailable"})), 0)
        }
        ("token", _) => token_ok(3599),
        ("get", _) => entra_user(Some("Guest")),
        ("patch", 0) => with_retry_after(graph_error(429, "TooManyRequests"), 1),
        ("patch", _) => no_content(),
        _ => reply(400, Value::Null),
    })
    .await;
    let c = cleanup("disable", &graph, &table).await;
    let user = user_id(9);
    let event = expired(&user, Some(OID));

    assert_eq!(outcome(run(&c, &event).await), "entra.disabled");

    assert_eq!(graph.kinds(), ["token", "token", "get", "patch", "patch"]);
    let patches = graph.of("patch");
    let waited = patches[1].at - patches[0].at;
    assert!(
        waited >= Duration::from_millis(950),
        "Retry-After: 1 was honoured ({waited:?})"
    );
    assert_eq!(patches[0].body, patches[1].body);
    assert_eq!(
        patches[0].header("authorization"),
        patches[1].header("authorization")
    );
    assert_eq!(table.outcomes(&user).await, ["entra.disabled"]);
}

#[tokio::test]
async fn unavailable_until_the_time_budget_runs_out_fails_the_invocation() {
    let table = table().await;
    let graph = StandIn::start(|seen: &Seen, _| match seen.kind() {
        "token" => token_ok(3599),
        _ => with_retry_after(graph_error(503, "serviceNotAvailable"), 1),
    })
    .await;
    let c = cleanup("delete", &graph, &table).await;
    let user = user_id(10);
    let event = expired(&user, Some(OID));

    // The context's deadline is 4.5 s away; 2 s are kept back for the audit write.
    let started = Instant::now();
    let err = c
        .handle(invocation(&event, Duration::from_millis(4500)))
        .await
        .unwrap_err();
    let took = started.elapsed();

    assert!(matches!(err, CleanupError::Failed(_)), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("throttled or unavailable") && msg.contains("503"),
        "{msg}"
    );
    let reads = graph.of("get");
    assert!(
        (2..=3).contains(&reads.len()),
        "retried while time was left: {} reads",
        reads.len()
    );
    assert!(graph.of("delete").is_empty());
    assert!(
        took < Duration::from_millis(4000),
        "stopped within the budget: {took:?}"
    );
    let audit = table.audit(&user).await;
    assert_eq!(audit.len(), 1);
    assert_audit(&audit[0], &user, &event, "entra.failed");
    assert!(s(&audit[0], "detail").contains("503"));
}

// ------------------------------------------------------------------ permissions, reported once

async fn refused(
    mode: &str,
    script: impl Fn(&Seen, usize) -> Reply + Send + Sync + 'static,
    events: usize,
) -> (Vec<String>, String, StandIn) {
    let table = table().await;
    let graph = StandIn::start(script).await;
    let (capture, guard) = capture(tracing::Level::DEBUG);
    let c = cleanup(mode, &graph, &table).await;
    let mut errors = Vec::new();
    for i in 0..events {
        let user = user_id(100 + i as u32);
        fresh_interest();
        let err = run(&c, &expired(&user, Some(OID))).await.unwrap_err();
        assert!(matches!(err, CleanupError::Failed(_)), "{err:?}");
        assert_eq!(table.outcomes(&user).await, ["entra.failed"]);
        errors.push(err.to_string());
    }
    drop(guard);
    let logs = capture.text();
    assert_no_secret_in(&logs);
    (errors, logs, graph)
}

/// The lines carrying the full advice (logged once per cold start).
fn reports(logs: &str) -> Vec<&str> {
    logs.lines()
        .filter(|l| l.contains("admin consent") || l.contains("client secrets expire"))
        .collect()
}

#[tokio::test(flavor = "current_thread")]
async fn missing_permissions_are_reported_once_naming_the_permission() {
    // disable: PATCH refused.
    let (errors, logs, graph) = refused(
        "disable",
        |seen: &Seen, _| match seen.kind() {
            "token" => token_ok(3599),
            "get" => entra_user(Some("Guest")),
            _ => graph_error(403, "Authorization_RequestDenied"),
        },
        3,
    )
    .await;
    for e in &errors {
        assert!(e.contains("User.EnableDisableAccount.All"), "{e}");
    }
    let r = reports(&logs);
    assert_eq!(r.len(), 1, "reported once per cold start:\n{logs}");
    for needle in [
        "ERROR",
        "403 Forbidden",
        "User.EnableDisableAccount.All",
        APP,
        DIRECTORY,
        "Authorization_RequestDenied",
    ] {
        assert!(r[0].contains(needle), "{needle} in {}", r[0]);
    }
    assert_eq!(graph.of("patch").len(), 3, "403 is not retried");
    assert_eq!(graph.of("token").len(), 1);

    // disable: the userType read refused names User.Read.All.
    let (errors, logs, graph) = refused(
        "disable",
        |seen: &Seen, _| match seen.kind() {
            "token" => token_ok(3599),
            _ => graph_error(403, "Authorization_RequestDenied"),
        },
        2,
    )
    .await;
    assert!(errors[0].contains("User.Read.All"), "{}", errors[0]);
    let r = reports(&logs);
    assert_eq!(r.len(), 1, "{logs}");
    assert!(r[0].contains("User.Read.All"), "{}", r[0]);
    assert!(graph.of("patch").is_empty());

    // delete: DELETE refused names User.ReadWrite.All.
    let (errors, logs, _) = refused(
        "delete",
        |seen: &Seen, _| match seen.kind() {
            "token" => token_ok(3599),
            "get" => entra_user(Some("Guest")),
            _ => graph_error(403, "Authorization_RequestDenied"),
        },
        2,
    )
    .await;
    assert!(errors[0].contains("User.ReadWrite.All"), "{}", errors[0]);
    let r = reports(&logs);
    assert_eq!(r.len(), 1, "{logs}");
    assert!(
        r[0].contains("User.ReadWrite.All") && r[0].contains("ENTRA_CLEANUP_MODE=delete"),
        "{}",
        r[0]
    );

    // 401: one fresh token is tried, then the permission is reported.
    let (errors, logs, graph) = refused(
        "delete",
        |seen: &Seen, _| match seen.kind() {
            "token" => token_ok(3599),
            _ => graph_error(401, "InvalidAuthenticationToken"),
        },
        2,
    )
    .await;
    assert!(
        errors[0].contains("401") && errors[0].contains("User.ReadWrite.All"),
        "{}",
        errors[0]
    );
    let r = reports(&logs);
    assert_eq!(r.len(), 1, "{logs}");
    assert!(r[0].contains("401 Unauthorized"), "{}", r[0]);
    assert_eq!(
        graph.kinds(),
        ["token", "get", "token", "get", "token", "get", "token", "get"]
    );

    // The token endpoint refuses the client secret.
    let (errors, logs, graph) = refused(
        "delete",
        |seen: &Seen, _| match seen.kind() {
            "token" => reply(
                401,
                json!({"error": "invalid_client", "error_codes": [7000215],
                       "error_description": "AADSTS7000215: Invalid client secret provided."}),
            ),
            _ => entra_user(Some("Guest")),
        },
        2,
    )
    .await;
    assert!(
        errors[0].contains("invalid_client") && errors[0].contains("AADSTS7000215"),
        "{}",
        errors[0]
    );
    let r = reports(&logs);
    assert_eq!(r.len(), 1, "{logs}");
    assert!(
        r[0].contains(APP) && r[0].contains("clientSecret"),
        "{}",
        r[0]
    );
    assert_eq!(
        graph.kinds(),
        ["token", "token"],
        "no Graph call without a token"
    );
}

// ------------------------------------------------------------------ who is never touched

#[tokio::test]
async fn a_member_is_never_touched() {
    let table = table().await;
    for (mode, user_type, n) in [
        ("disable", Some("Member"), 20),
        ("delete", Some("Member"), 21),
        ("delete", None, 22),
    ] {
        let graph = StandIn::start(directory_with(user_type)).await;
        let c = cleanup(mode, &graph, &table).await;
        let user = user_id(n);
        let event = expired(&user, Some(OID));
        assert_eq!(outcome(run(&c, &event).await), "entra.skipped-member");
        assert_eq!(
            graph.kinds(),
            ["token", "get"],
            "{mode}: no PATCH or DELETE"
        );
        let audit = table.audit(&user).await;
        assert_eq!(audit.len(), 1);
        assert_audit(&audit[0], &user, &event, "entra.skipped-member");
        match user_type {
            Some(t) => assert_eq!(s(&audit[0], "userType"), t),
            None => assert!(!audit[0].contains_key("userType")),
        }
        assert!(s(&audit[0], "detail").contains("not Guest"));
    }
}

#[tokio::test]
async fn an_external_id_that_is_not_an_entra_object_id_is_skipped_without_any_request() {
    let table = table().await;
    let graph = StandIn::start(guest_directory).await;
    let creds = Counted::default();
    let c = cleanup_with("delete", &graph, &table, creds.clone()).await;
    for (n, external_id) in [
        (30, Some("ann@contoso.com")),
        (31, None),
        (32, Some("")),
        (33, Some("7d2a1c3e-5b4f-4e6a-9c8d-0123456789ab/../../me")),
    ] {
        let user = user_id(n);
        let event = expired(&user, external_id);
        assert_eq!(outcome(run(&c, &event).await), "entra.skipped-not-guid");
        let audit = table.audit(&user).await;
        assert_eq!(audit.len(), 1, "{external_id:?}");
        assert_audit(&audit[0], &user, &event, "entra.skipped-not-guid");
    }
    assert!(graph.requests().is_empty());
    assert_eq!(creds.loads(), 0, "no credentials read");
}

#[tokio::test]
async fn mode_off_reads_calls_and_writes_nothing() {
    let table = table().await;
    let graph = StandIn::start(guest_directory).await;
    let creds = Counted::default();
    let c = cleanup_with("off", &graph, &table, creds.clone()).await;
    let user = user_id(40);
    assert_eq!(outcome(run(&c, &expired(&user, Some(OID))).await), "off");
    assert!(graph.requests().is_empty());
    assert_eq!(creds.loads(), 0);
    assert!(table.audit(&user).await.is_empty());

    // The default, too.
    let vars = HashMap::from([("TABLE_NAME", "t"), ("TENANT_ID", TENANT)]);
    let defaults = Settings::from_lookup(|n| vars.get(n).map(|v| v.to_string())).unwrap();
    assert_eq!(defaults.mode, entra_guest_cleanup::Mode::Off);
}

#[tokio::test]
async fn events_the_function_does_not_serve() {
    let table = table().await;
    let graph = StandIn::start(guest_directory).await;
    let c = cleanup("delete", &graph, &table).await;
    let user = user_id(50);

    let mut other_tenant = expired(&user, Some(OID));
    other_tenant["detail"]["tenant"] = json!("globex");
    let err = run(&c, &other_tenant).await.unwrap_err();
    assert!(matches!(err, CleanupError::WrongTenant { .. }), "{err:?}");

    let mut group = expired(&user, Some(OID));
    group["detail"]["resourceType"] = json!("Group");
    assert_eq!(outcome(run(&c, &group).await), Outcome::Ignored.as_str());

    let err = run(&c, &json!({"not": "an event"})).await.unwrap_err();
    assert!(matches!(err, CleanupError::BadEvent(_)), "{err:?}");

    assert!(graph.requests().is_empty());
    assert!(table.audit(&user).await.is_empty());
}

// ------------------------------------------------------------------ the token cache

#[tokio::test]
async fn one_token_serves_many_events_until_shortly_before_it_expires() {
    let table = table().await;
    let graph = StandIn::start(guest_directory).await;
    let creds = Counted::default();
    let clock = ManualClock::new();
    let c = cleanup_with("disable", &graph, &table, creds.clone())
        .await
        .with_clock(clock.clone());

    for n in 60..63 {
        let event = expired(&user_id(n), Some(OID));
        assert_eq!(outcome(run(&c, &event).await), "entra.disabled");
    }
    assert_eq!(graph.of("token").len(), 1, "one token for three events");
    assert_eq!(
        creds.loads(),
        1,
        "the secret is read when a token is needed"
    );

    // expires_in 3599 s: used until 5 minutes before it expires.
    clock.advance(Duration::from_secs(3599 - 300 - 1));
    assert_eq!(
        outcome(run(&c, &expired(&user_id(63), Some(OID))).await),
        "entra.disabled"
    );
    assert_eq!(graph.of("token").len(), 1);
    clock.advance(Duration::from_secs(2));
    assert_eq!(
        outcome(run(&c, &expired(&user_id(64), Some(OID))).await),
        "entra.disabled"
    );
    assert_eq!(graph.of("token").len(), 2, "replaced before it expires");
    assert_eq!(creds.loads(), 2);
    for g in graph.of("get").iter().chain(graph.of("patch").iter()) {
        assert_eq!(
            g.header("authorization"),
            Some(format!("Bearer {ACCESS_TOKEN}").as_str())
        );
    }
}

// ------------------------------------------------------------------ logs

#[tokio::test(flavor = "current_thread")]
async fn nothing_secret_reaches_the_logs_at_debug_level() {
    let table = table().await;
    let graph = StandIn::start(|seen: &Seen, nth| match (seen.kind(), nth) {
        ("token", 0) => reply(
            400,
            json!({"error": "invalid_client", "error_codes": [7000215],
                   "error_description": format!("AADSTS7000215: Invalid client secret provided. {CLIENT_SECRET}")}),
        ),
        ("token", _) => token_ok(3599),
        ("get", 0) => with_retry_after(graph_error(429, "TooManyRequests"), 0),
        ("get", _) => entra_user(Some("Guest")),
        ("patch", 0) => graph_error(403, "Authorization_RequestDenied"),
        ("patch", _) => no_content(),
        _ => reply(400, Value::Null),
    })
    .await;
    let (capture, guard) = capture(tracing::Level::DEBUG);
    let c = cleanup("disable", &graph, &table).await;
    let mut outcomes = Vec::new();
    for n in 70..74 {
        fresh_interest();
        outcomes.push(match run(&c, &expired(&user_id(n), Some(OID))).await {
            Ok(v) => v["outcome"].as_str().unwrap().to_string(),
            Err(e) => format!("error: {e}"),
        });
    }
    drop(guard);
    let logs = capture.text();

    assert!(
        outcomes[0].starts_with("error: entra.failed: token endpoint refused"),
        "{outcomes:?}"
    );
    assert!(
        outcomes[1].contains("User.EnableDisableAccount.All"),
        "{outcomes:?}"
    );
    assert_eq!(outcomes[2..], ["entra.disabled", "entra.disabled"]);
    assert!(logs.contains("DEBUG"), "debug output was captured:\n{logs}");
    assert!(
        logs.contains("graph answered") && logs.contains("new access token"),
        "{logs}"
    );
    assert!(logs.contains("entra.disabled"), "{logs}");
    assert_no_secret_in(&logs);
}
