//! Bearer tokens in Secrets Manager (moto on loopback): the four rotation steps, tokens
//! accepted mid-rotation, revocation within the cache bound (injected clock), the admin
//! command, tenant binding in a pooled table, every 401 case, and log capture.
//!
//! Each test starts its own moto server (~0.5 s). moto comes from `tests/tools/.venv`
//! (`tests/tools/install.sh`, run by `tests/run.sh`); without it these tests fail and say so.

use crate::harness::{read, Resp};
use crate::moto;
use aws_sdk_secretsmanager::Client as SmClient;
use reqwest::Method;
use scim_aws::tokens::rotation::{self, RotationEvent, RotationStep};
use scim_aws::tokens::{
    read_stage, read_version, ManualClock, SecretsTokenSource, AWSCURRENT, AWSPENDING, AWSPREVIOUS,
    CACHE_MAX_AGE, CACHE_TTL, MISS_REFRESH_INTERVAL,
};
use scim_aws::DynamoStore;
use scim_service::auth::{token_id, AuthError, Authenticator};
use scim_service::http::{App, HttpConfig};
use scim_test_support::aws::secrets_manager as sm_client;
use scim_test_support::engine::Table;
use scim_test_support::fixtures::{group, user};
use scim_test_support::logs::{self, Capture};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

const ACME: &str = "acme";
const GLOBEX: &str = "globex";
const ACME_SECRET: &str = "scim/acme/bearer-token";
const GLOBEX_SECRET: &str = "scim/globex/bearer-token";

/// Labels of every version that has any.
pub(crate) async fn labels(sm: &SmClient, secret: &str) -> Vec<(String, Vec<String>)> {
    let mut v: Vec<(String, Vec<String>)> = rotation::versions(sm, secret)
        .await
        .unwrap()
        .into_iter()
        .filter(|(_, s)| !s.is_empty())
        .map(|(id, mut s)| {
            s.sort();
            (id, s)
        })
        .collect();
    v.sort();
    v
}

fn labelled(v: &[(String, Vec<String>)], version: &str) -> Vec<String> {
    v.iter()
        .find(|(id, _)| id == version)
        .map(|(_, s)| s.clone())
        .unwrap_or_default()
}

pub(crate) async fn current_token(sm: &SmClient, secret: &str) -> String {
    read_stage(sm, secret, AWSCURRENT, None)
        .await
        .unwrap()
        .unwrap()
        .secret
        .unwrap()
        .token
        .expose()
        .to_string()
}

pub(crate) fn event(secret: &str, version: &str, step: RotationStep) -> RotationEvent {
    RotationEvent {
        secret_id: secret.into(),
        client_request_token: version.into(),
        step,
    }
}

pub(crate) const STEPS: [RotationStep; 4] = [
    RotationStep::CreateSecret,
    RotationStep::SetSecret,
    RotationStep::TestSecret,
    RotationStep::FinishSecret,
];

/// Runs the given steps as Secrets Manager would invoke the rotation function.
async fn steps(sm: &SmClient, secret: &str, version: &str, steps: &[RotationStep]) {
    for step in steps {
        rotation::handle(sm, None, &event(secret, version, *step))
            .await
            .unwrap_or_else(|e| panic!("{step:?}: {e}"));
    }
}

/// Generates a token with the admin library (creating the secret) and returns it.
pub(crate) async fn new_secret(sm: &SmClient, secret: &str, tenant: &str) -> String {
    let t = scim_admin::generate(sm, secret, Some(tenant))
        .await
        .unwrap();
    assert!(t.created_secret);
    t.token.expose().to_string()
}

// ------------------------------------------------------------------ a server over HTTP

pub(crate) struct Scim {
    base: String,
    http: reqwest::Client,
    _embedded: Option<Arc<scim_local::Embedded>>,
}

/// A table on the embedded engine (or DynamoDB Local when the suite runs on it), and what
/// keeps the engine running.
pub(crate) async fn table() -> (DynamoStore, Option<Arc<scim_local::Embedded>>) {
    let t = Table::new("scim-tokens").await;
    (t.store(), t.engine)
}

/// The real request path on a loopback port with this authenticator; `tenant` is the
/// deployment's tenant (`None`: pooled, any tenant a token names).
pub(crate) async fn serve<A: Authenticator + 'static>(
    store: DynamoStore,
    embedded: Option<Arc<scim_local::Embedded>>,
    auth: A,
    tenant: Option<&str>,
) -> Scim {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/scim/v2", listener.local_addr().unwrap());
    let config = HttpConfig {
        realm: "scim-acme".into(),
        tenant: tenant.map(str::to_string),
        ..Default::default()
    };
    let app = App {
        gate: Default::default(),
        store,
        auth,
        config,
    };
    tokio::spawn(async move {
        let _ = scim_local::serve(listener, app).await;
    });
    Scim {
        base,
        http: reqwest::Client::new(),
        _embedded: embedded,
    }
}

impl Scim {
    /// Sends a request with exactly this `Authorization` header (or none).
    async fn call(
        &self,
        method: Method,
        path: &str,
        authorization: Option<&str>,
        body: Option<&Value>,
    ) -> Resp {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(a) = authorization {
            req = req.header("Authorization", a);
        }
        if let Some(b) = body {
            req = req
                .header("Content-Type", "application/scim+json")
                .body(serde_json::to_vec(b).unwrap());
        }
        read(req.send().await.unwrap()).await
    }

    pub(crate) async fn with(
        &self,
        token: &str,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Resp {
        self.call(method, path, Some(&format!("Bearer {token}")), body)
            .await
    }

    pub(crate) async fn status(&self, token: &str, path: &str) -> u16 {
        self.with(token, Method::GET, path, None)
            .await
            .status
            .as_u16()
    }
}

#[track_caller]
pub(crate) fn assert_401(r: &Resp, secrets: &[&str]) {
    assert_eq!(r.status.as_u16(), 401, "{}", r.text);
    assert_eq!(r.body["status"], "401", "{}", r.text);
    assert_eq!(
        r.body["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:Error",
        "{}",
        r.text
    );
    assert_eq!(
        r.headers
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok()),
        Some("Bearer realm=\"scim-acme\"")
    );
    for s in secrets {
        assert!(
            !s.is_empty() && !r.text.contains(s),
            "the body echoes a token: {}",
            r.text
        );
    }
}

// ------------------------------------------------------------------ rotation steps

#[tokio::test]
async fn the_four_rotation_steps_stage_a_new_token_then_promote_it() {
    let moto = moto::start();
    let sm = sm_client(&moto.endpoint);
    let first = scim_admin::generate(&sm, ACME_SECRET, Some(ACME))
        .await
        .unwrap();
    let v2 = "a1b2c3d4-0000-4000-8000-000000000002";

    steps(&sm, ACME_SECRET, v2, &[RotationStep::CreateSecret]).await;
    let after_create = labels(&sm, ACME_SECRET).await;
    assert_eq!(labelled(&after_create, v2), [AWSPENDING]);
    assert_eq!(labelled(&after_create, &first.version_id), [AWSCURRENT]);
    let pending = read_version(&sm, ACME_SECRET, v2, AWSPENDING, None)
        .await
        .unwrap()
        .unwrap()
        .secret
        .unwrap();
    assert_eq!(pending.tenant, ACME);
    assert_ne!(pending.token, first.token);
    assert_eq!(pending.token.expose().len(), 43);

    // Secrets Manager retries steps: a second createSecret keeps the same pending token.
    steps(&sm, ACME_SECRET, v2, &[RotationStep::CreateSecret]).await;
    let again = read_version(&sm, ACME_SECRET, v2, AWSPENDING, None)
        .await
        .unwrap()
        .unwrap()
        .secret
        .unwrap();
    assert_eq!(again.token, pending.token);

    steps(
        &sm,
        ACME_SECRET,
        v2,
        &[RotationStep::SetSecret, RotationStep::TestSecret],
    )
    .await;
    assert_eq!(labels(&sm, ACME_SECRET).await, after_create);

    steps(&sm, ACME_SECRET, v2, &[RotationStep::FinishSecret]).await;
    let after_finish = labels(&sm, ACME_SECRET).await;
    assert_eq!(labelled(&after_finish, v2), [AWSCURRENT]);
    assert_eq!(labelled(&after_finish, &first.version_id), [AWSPREVIOUS]);
    assert_eq!(after_finish.len(), 2, "{after_finish:?}");
    assert_eq!(
        current_token(&sm, ACME_SECRET).await,
        pending.token.expose()
    );

    // Once the version is current every step is a no-op.
    steps(&sm, ACME_SECRET, v2, &STEPS).await;
    assert_eq!(labels(&sm, ACME_SECRET).await, after_finish);
    assert_eq!(
        current_token(&sm, ACME_SECRET).await,
        pending.token.expose()
    );
}

#[tokio::test]
async fn rotation_steps_refuse_an_unknown_version_and_a_pending_token_of_another_tenant() {
    let moto = moto::start();
    let sm = sm_client(&moto.endpoint);
    let first = new_secret(&sm, ACME_SECRET, ACME).await;
    let unknown = "a1b2c3d4-0000-4000-8000-0000000000ff";
    for step in [
        RotationStep::SetSecret,
        RotationStep::TestSecret,
        RotationStep::FinishSecret,
    ] {
        assert!(
            rotation::handle(&sm, None, &event(ACME_SECRET, unknown, step))
                .await
                .is_err()
        );
    }

    // A pending value someone else wrote, bound to another tenant: testSecret stops it.
    let v = "a1b2c3d4-0000-4000-8000-000000000003";
    let foreign = scim_aws::tokens::TokenSecret::new(
        GLOBEX,
        scim_aws::tokens::BearerToken::generate().unwrap(),
    )
    .unwrap();
    sm.put_secret_value()
        .secret_id(ACME_SECRET)
        .client_request_token(v)
        .secret_string(foreign.to_secret_string())
        .version_stages(AWSPENDING)
        .send()
        .await
        .unwrap();
    let e = rotation::handle(&sm, None, &event(ACME_SECRET, v, RotationStep::TestSecret))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("tenant"), "{e}");
    assert!(!e.to_string().contains(foreign.token.expose()));
    assert_eq!(current_token(&sm, ACME_SECRET).await, first);
}

#[tokio::test]
async fn a_bare_generated_secret_value_is_bound_to_the_configured_tenant_and_rotated_to_json() {
    let moto = moto::start();
    let sm = sm_client(&moto.endpoint);
    // What the stack's GenerateSecretString creates: 64 letters and digits, no JSON.
    let bare = "Ab3dEf6hIj9lMn2pQr5tUv8xYz1bCd4fGh7jKl0nOp3rSt6vWx9zAb2dEf5hIj8l";
    sm.create_secret()
        .name(ACME_SECRET)
        .secret_string(bare)
        .send()
        .await
        .unwrap();
    let source = SecretsTokenSource::new(sm.clone(), [ACME_SECRET]).with_fallback_tenant(ACME);
    let p = source
        .authenticate(Some(&format!("Bearer {bare}")))
        .await
        .unwrap();
    assert_eq!(p.tenant, ACME);
    assert_eq!(p.token_id, token_id(bare));
    // Without a configured tenant a bare value authorises nobody (503: a setup fault).
    let unbound = SecretsTokenSource::new(sm.clone(), [ACME_SECRET]);
    assert_eq!(
        unbound.authenticate(Some(&format!("Bearer {bare}"))).await,
        Err(AuthError::Unavailable)
    );

    let v = "a1b2c3d4-0000-4000-8000-000000000004";
    assert!(rotation::handle(
        &sm,
        None,
        &event(ACME_SECRET, v, RotationStep::CreateSecret)
    )
    .await
    .is_err());
    for step in STEPS {
        rotation::handle(&sm, Some(ACME), &event(ACME_SECRET, v, step))
            .await
            .unwrap();
    }
    let current = read_stage(&sm, ACME_SECRET, AWSCURRENT, None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(current.version_id, v);
    assert_eq!(current.secret.unwrap().tenant, ACME);
}

// ------------------------------------------------------------------ tokens over HTTP

#[tokio::test]
async fn mid_rotation_both_tokens_work_and_finish_secret_retires_the_token_before_them() {
    let moto = moto::start();
    let sm = sm_client(&moto.endpoint);
    let t1 = new_secret(&sm, ACME_SECRET, ACME).await;
    let clock = ManualClock::new();
    let source = SecretsTokenSource::new(sm.clone(), [ACME_SECRET]).with_clock(clock.clone());
    let (store, embedded) = table().await;
    let s = serve(store, embedded, source, Some(ACME)).await;
    assert_eq!(s.status(&t1, "/Users").await, 200);

    // Rotation 1 in progress: T2 is staged (AWSPENDING) and not accepted yet.
    let v2 = "a1b2c3d4-0000-4000-8000-000000000002";
    steps(
        &sm,
        ACME_SECRET,
        v2,
        &[
            RotationStep::CreateSecret,
            RotationStep::SetSecret,
            RotationStep::TestSecret,
        ],
    )
    .await;
    let t2 = read_version(&sm, ACME_SECRET, v2, AWSPENDING, None)
        .await
        .unwrap()
        .unwrap()
        .secret
        .unwrap()
        .token
        .expose()
        .to_string();
    clock.advance(CACHE_TTL + Duration::from_secs(1));
    assert_eq!(s.status(&t1, "/Users").await, 200);
    assert_eq!(s.status(&t2, "/Users").await, 401);

    // finishSecret: T2 is AWSCURRENT, T1 AWSPREVIOUS: the IdP's T1 and the new T2 both work.
    steps(&sm, ACME_SECRET, v2, &[RotationStep::FinishSecret]).await;
    clock.advance(CACHE_TTL + Duration::from_secs(1));
    assert_eq!(s.status(&t1, "/Users").await, 200);
    assert_eq!(s.status(&t2, "/Users").await, 200);

    // Rotation 2: after finishSecret T3 and T2 work; T1 (previous before it) is refused.
    let v3 = "a1b2c3d4-0000-4000-8000-000000000003";
    steps(&sm, ACME_SECRET, v3, &STEPS).await;
    let t3 = current_token(&sm, ACME_SECRET).await;
    clock.advance(CACHE_TTL + Duration::from_secs(1));
    assert_eq!(s.status(&t3, "/Users").await, 200);
    assert_eq!(s.status(&t2, "/Users").await, 200);
    let r = s.with(&t1, Method::GET, "/Users", None).await;
    assert_401(&r, &[&t1]);
}

#[tokio::test]
async fn revoking_the_previous_token_refuses_it_within_the_cache_ttl() {
    let moto = moto::start();
    let sm = sm_client(&moto.endpoint);
    let t1 = new_secret(&sm, ACME_SECRET, ACME).await;
    let clock = ManualClock::new();
    let source = SecretsTokenSource::new(sm.clone(), [ACME_SECRET]).with_clock(clock.clone());
    let (store, embedded) = table().await;
    let s = serve(store, embedded, source, Some(ACME)).await;
    assert_eq!(s.status(&t1, "/Users").await, 200);

    let t2 = scim_admin::generate(&sm, ACME_SECRET, None).await.unwrap();
    let revoked = scim_admin::revoke_previous(&sm, ACME_SECRET, None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(revoked.token_id.as_deref(), Some(token_id(&t1).as_str()));

    // Still cached: the revoked token works until the cache is CACHE_TTL old, never longer.
    clock.advance(CACHE_TTL - Duration::from_secs(1));
    assert_eq!(s.status(&t1, "/Users").await, 200);
    clock.advance(Duration::from_secs(2));
    let r = s.with(&t1, Method::GET, "/Users", None).await;
    assert_401(&r, &[&t1]);
    assert_eq!(s.status(t2.token.expose(), "/Users").await, 200);
}

// ------------------------------------------------------------------ the cache, directly

#[tokio::test]
async fn the_cache_is_read_once_per_ttl_and_concurrent_misses_share_one_read() {
    let moto = moto::start();
    let sm = sm_client(&moto.endpoint);
    let t1 = new_secret(&sm, ACME_SECRET, ACME).await;
    let clock = ManualClock::new();
    let source = SecretsTokenSource::new(sm.clone(), [ACME_SECRET]).with_clock(clock.clone());
    let bearer = format!("Bearer {t1}");
    assert_eq!(
        source.authenticate(Some(&bearer)).await.unwrap().tenant,
        ACME
    );
    assert_eq!(source.reads(), 1);
    clock.advance(CACHE_TTL - Duration::from_secs(1));
    for _ in 0..20 {
        source.authenticate(Some(&bearer)).await.unwrap();
    }
    assert_eq!(source.reads(), 1);

    // Expired: twenty concurrent requests cause one read, not twenty.
    clock.advance(Duration::from_secs(2));
    let all = futures::future::join_all((0..20).map(|_| source.authenticate(Some(&bearer)))).await;
    assert!(all.iter().all(|r| r.is_ok()));
    assert_eq!(source.reads(), 2);

    // Header problems never read the secret.
    clock.advance(CACHE_TTL * 2);
    assert_eq!(source.authenticate(None).await, Err(AuthError::Missing));
    assert_eq!(
        source.authenticate(Some("non-token")).await,
        Err(AuthError::Malformed)
    );
    assert_eq!(source.reads(), 2);
}

#[tokio::test]
async fn a_newly_generated_token_works_within_seconds_and_unknown_tokens_read_at_most_once_per_interval(
) {
    let moto = moto::start();
    let sm = sm_client(&moto.endpoint);
    let t1 = new_secret(&sm, ACME_SECRET, ACME).await;
    let clock = ManualClock::new();
    let source = SecretsTokenSource::new(sm.clone(), [ACME_SECRET]).with_clock(clock.clone());
    source
        .authenticate(Some(&format!("Bearer {t1}")))
        .await
        .unwrap();
    let t2 = scim_admin::generate(&sm, ACME_SECRET, None).await.unwrap();
    let bearer2 = format!("Bearer {}", t2.token.expose());

    // A set younger than MISS_REFRESH_INTERVAL is not re-read for an unknown token.
    clock.advance(MISS_REFRESH_INTERVAL - Duration::from_secs(1));
    assert_eq!(
        source.authenticate(Some(&bearer2)).await,
        Err(AuthError::Invalid)
    );
    assert_eq!(source.reads(), 1);
    clock.advance(Duration::from_secs(2));
    assert_eq!(
        source.authenticate(Some(&bearer2)).await.unwrap().tenant,
        ACME
    );
    assert_eq!(source.reads(), 2);

    // A flood of wrong tokens: at most one read per interval.
    clock.advance(MISS_REFRESH_INTERVAL);
    for i in 0..50 {
        let wrong = format!("Bearer wrong-token-{i:02}-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
        assert_eq!(
            source.authenticate(Some(&wrong)).await,
            Err(AuthError::Invalid)
        );
    }
    assert_eq!(source.reads(), 3);
}

#[tokio::test]
async fn when_secrets_manager_is_unreachable_the_cache_serves_for_at_most_five_minutes_then_503() {
    let moto = moto::start();
    let sm = sm_client(&moto.endpoint);
    let t1 = new_secret(&sm, ACME_SECRET, ACME).await;
    let clock = ManualClock::new();
    let source = SecretsTokenSource::new(sm.clone(), [ACME_SECRET]).with_clock(clock.clone());
    let bearer = format!("Bearer {t1}");
    source.authenticate(Some(&bearer)).await.unwrap();
    drop(moto);

    clock.advance(CACHE_TTL + Duration::from_secs(1));
    assert!(source.authenticate(Some(&bearer)).await.is_ok());
    assert_eq!(source.reads(), 2);
    // The failed read is not retried for a few seconds.
    clock.advance(Duration::from_secs(1));
    assert!(source.authenticate(Some(&bearer)).await.is_ok());
    assert_eq!(source.reads(), 2);
    clock.advance(CACHE_MAX_AGE - CACHE_TTL - Duration::from_secs(5));
    assert!(source.authenticate(Some(&bearer)).await.is_ok());
    clock.advance(Duration::from_secs(5));
    assert_eq!(
        source.authenticate(Some(&bearer)).await,
        Err(AuthError::Unavailable)
    );

    // A function whose cold-start read fails answers 503 (a SCIM error), not 401.
    let cold = SecretsTokenSource::new(sm.clone(), [ACME_SECRET]);
    let (store, embedded) = table().await;
    let s = serve(store, embedded, cold, Some(ACME)).await;
    let r = s.with(&t1, Method::GET, "/Users", None).await;
    assert_eq!(r.status.as_u16(), 503, "{}", r.text);
    assert_eq!(r.body["status"], "503");
    assert!(!r.text.contains(&t1));
}

// ------------------------------------------------------------------ the admin command

async fn admin(sm: &SmClient, args: &[&str]) -> (u8, String, String) {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = scim_admin::run(sm, &args, &mut out, &mut err).await;
    (
        code,
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}

#[tokio::test]
async fn scim_admin_generates_lists_and_revokes_and_prints_each_token_once() {
    let moto = moto::start();
    let sm = sm_client(&moto.endpoint);
    let mut tokens: Vec<String> = Vec::new();
    let mut outputs = String::new();

    for _ in 0..3 {
        let (code, out, err) = admin(&sm, &["generate", "--tenant", ACME]).await;
        assert_eq!(code, 0, "{err}");
        let token = out.trim().to_string();
        assert_eq!(out, format!("{token}\n"), "stdout is the token alone");
        assert_eq!(token.len(), 43);
        assert!(err.contains(&token_id(&token)), "{err}");
        assert!(!err.contains(&token), "{err}");
        tokens.push(token);
        outputs.push_str(&err);
    }
    let [t1, t2, t3] = [&tokens[0], &tokens[1], &tokens[2]];
    assert_eq!(current_token(&sm, ACME_SECRET).await, *t3);

    let (code, out, _) = admin(&sm, &["list", "--tenant", ACME]).await;
    assert_eq!(code, 0);
    outputs.push_str(&out);
    let rows: Vec<&str> = out.lines().skip(1).collect();
    assert_eq!(rows.len(), 2, "{out}");
    assert!(
        rows[0].contains(&token_id(t3)) && rows[0].ends_with(AWSCURRENT),
        "{out}"
    );
    assert!(
        rows[1].contains(&token_id(t2)) && rows[1].ends_with(AWSPREVIOUS),
        "{out}"
    );
    assert!(
        !out.contains(&token_id(t1)),
        "the oldest token is retired: {out}"
    );
    let listed = scim_admin::list(&sm, ACME_SECRET, None).await.unwrap();
    assert!(listed
        .iter()
        .all(|v| v.created.is_some() && v.tenant.as_deref() == Some(ACME)));

    let (code, out, _) = admin(&sm, &["revoke-previous", "--secret-id", ACME_SECRET]).await;
    assert_eq!(code, 0);
    assert!(out.contains(&token_id(t2)), "{out}");
    outputs.push_str(&out);
    let (_, out, _) = admin(&sm, &["list", "--tenant", ACME]).await;
    outputs.push_str(&out);
    assert_eq!(out.lines().count(), 2, "{out}");
    let (code, out, _) = admin(&sm, &["revoke-previous", "--tenant", ACME]).await;
    assert_eq!(code, 0);
    assert!(out.contains("no AWSPREVIOUS"), "{out}");

    // A secret stays bound to its tenant.
    let (code, _, err) = admin(
        &sm,
        &["generate", "--tenant", GLOBEX, "--secret-id", ACME_SECRET],
    )
    .await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("tenant acme"), "{err}");
    assert_eq!(current_token(&sm, ACME_SECRET).await, *t3);

    // Usage and missing secrets.
    assert_eq!(admin(&sm, &[]).await.0, 2);
    assert_eq!(admin(&sm, &["list"]).await.0, 2);
    assert_eq!(
        admin(&sm, &["rotate-everything", "--tenant", ACME]).await.0,
        2
    );
    assert_eq!(admin(&sm, &["list", "--tenant", "Not A Tenant"]).await.0, 2);
    assert_eq!(admin(&sm, &["list", "--tenant", GLOBEX]).await.0, 1);
    assert_eq!(
        admin(
            &sm,
            &["generate", "--secret-id", "scim/nobody/bearer-token"]
        )
        .await
        .0,
        2
    );

    for t in &tokens {
        assert!(!outputs.contains(t.as_str()), "a token was printed twice");
    }
}

// ------------------------------------------------------------------ tenant binding

#[tokio::test]
async fn in_a_pooled_table_a_token_of_tenant_a_neither_reads_nor_writes_tenant_b() {
    let moto = moto::start();
    let sm = sm_client(&moto.endpoint);
    let a = new_secret(&sm, ACME_SECRET, ACME).await;
    let b = new_secret(&sm, GLOBEX_SECRET, GLOBEX).await;
    // One function for both tenants: one table, both secrets, no deployment tenant.
    let source = SecretsTokenSource::new(sm.clone(), [ACME_SECRET, GLOBEX_SECRET]);
    let (store, embedded) = table().await;
    let s = serve(store.clone(), embedded.clone(), source, None).await;

    let r = s
        .with(&a, Method::POST, "/Users", Some(&user("ann@acme.example")))
        .await;
    assert_eq!(r.status.as_u16(), 201, "{}", r.text);
    let ann = r.body["id"].as_str().unwrap().to_string();
    let etag = r.headers["etag"].to_str().unwrap().to_string();
    let r = s
        .with(&a, Method::POST, "/Groups", Some(&group("Acme staff", &[])))
        .await;
    assert_eq!(r.status.as_u16(), 201, "{}", r.text);
    let staff = r.body["id"].as_str().unwrap().to_string();

    // Tenant B sees nothing of tenant A...
    for path in [format!("/Users/{ann}"), format!("/Groups/{staff}")] {
        assert_eq!(s.status(&b, &path).await, 404, "{path}");
    }
    for path in [
        "/Users".to_string(),
        "/Groups".to_string(),
        "/Users?filter=userName+eq+%22ann%40acme.example%22".to_string(),
        format!("/Users?filter=id+eq+%22{ann}%22"),
        "/Groups?filter=displayName+eq+%22Acme+staff%22".to_string(),
    ] {
        let r = s.with(&b, Method::GET, &path, None).await;
        assert_eq!(r.status.as_u16(), 200, "{path}: {}", r.text);
        assert_eq!(r.body["totalResults"], 0, "{path}: {}", r.text);
    }
    // ...and changes nothing of it.
    let deactivate = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "value": {"active": false}}]});
    let add_member = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "add", "path": "members", "value": [{"value": ann}]}]});
    let writes = [
        (Method::PATCH, format!("/Users/{ann}"), Some(deactivate)),
        (
            Method::PUT,
            format!("/Users/{ann}"),
            Some(user("mallory@globex.example")),
        ),
        (Method::DELETE, format!("/Users/{ann}"), None),
        (Method::PATCH, format!("/Groups/{staff}"), Some(add_member)),
        (Method::DELETE, format!("/Groups/{staff}"), None),
    ];
    for (method, path, body) in writes {
        let r = s.with(&b, method.clone(), &path, body.as_ref()).await;
        assert_eq!(r.status.as_u16(), 404, "{method} {path}: {}", r.text);
    }
    // B's own user with A's userName lives in B's namespace; A's user cannot join B's group.
    let r = s
        .with(&b, Method::POST, "/Users", Some(&user("ann@acme.example")))
        .await;
    assert_eq!(r.status.as_u16(), 201, "{}", r.text);
    let r = s
        .with(&b, Method::POST, "/Groups", Some(&group("Globex", &[&ann])))
        .await;
    assert_ne!(r.status.as_u16(), 201, "{}", r.text);

    // Tenant A's data is exactly as it was.
    let r = s
        .with(&a, Method::GET, &format!("/Users/{ann}"), None)
        .await;
    assert_eq!(r.status.as_u16(), 200);
    assert_eq!(r.body["active"], true);
    assert_eq!(r.body["userName"], "ann@acme.example");
    assert_eq!(r.headers["etag"].to_str().unwrap(), etag);
    let r = s.with(&a, Method::GET, "/Users", None).await;
    assert_eq!(r.body["totalResults"], 1, "{}", r.text);
    assert_eq!(s.status(&a, &format!("/Groups/{staff}")).await, 200);

    // A deployment for tenant A alone refuses B's token outright, and B's POST creates
    // nothing.
    let single = serve(
        store,
        embedded,
        SecretsTokenSource::new(sm.clone(), [ACME_SECRET, GLOBEX_SECRET]),
        Some(ACME),
    )
    .await;
    let r = single
        .with(
            &b,
            Method::POST,
            "/Users",
            Some(&user("bob@globex.example")),
        )
        .await;
    assert_401(&r, &[&b]);
    let r = s.with(&b, Method::GET, "/Users", None).await;
    assert_eq!(
        r.body["totalResults"], 1,
        "only B's own earlier user: {}",
        r.text
    );
    assert_eq!(single.status(&a, "/Users").await, 200);
}

// ------------------------------------------------------------------ every 401

#[tokio::test]
async fn every_refused_token_gets_a_scim_401_with_www_authenticate_and_changes_nothing() {
    let moto = moto::start();
    let sm = sm_client(&moto.endpoint);
    let t1 = new_secret(&sm, ACME_SECRET, ACME).await;
    let other_tenant = new_secret(&sm, GLOBEX_SECRET, GLOBEX).await;
    // A revoked token and a staged (pending) one.
    let t2 = scim_admin::generate(&sm, ACME_SECRET, None).await.unwrap();
    scim_admin::revoke_previous(&sm, ACME_SECRET, None)
        .await
        .unwrap()
        .unwrap();
    let v = "a1b2c3d4-0000-4000-8000-000000000009";
    steps(&sm, ACME_SECRET, v, &[RotationStep::CreateSecret]).await;
    let pending = read_version(&sm, ACME_SECRET, v, AWSPENDING, None)
        .await
        .unwrap()
        .unwrap()
        .secret
        .unwrap()
        .token
        .expose()
        .to_string();
    let revoked = t1.clone();
    let valid = t2.token.expose().to_string();

    let source = SecretsTokenSource::new(sm.clone(), [ACME_SECRET, GLOBEX_SECRET]);
    let (store, embedded) = table().await;
    let s = serve(store, embedded, source, Some(ACME)).await;

    let wrong = "wrong-token-0123456789abcdefghijklmnopqrstuv";
    let cases: Vec<(String, Option<String>, Vec<String>)> = vec![
        ("missing".into(), None, vec![]),
        (
            "not a token".into(),
            Some("non-token".into()),
            vec!["non-token".into()],
        ),
        (
            "basic".into(),
            Some("Basic YWxpY2U6c2VjcmV0".into()),
            vec!["YWxpY2U6c2VjcmV0".into()],
        ),
        ("empty bearer".into(), Some("Bearer ".into()), vec![]),
        (
            "bad characters".into(),
            Some(format!("Bearer {valid}\"")),
            vec![valid.clone()],
        ),
        (
            "two tokens".into(),
            Some(format!("Bearer {valid} {valid}")),
            vec![valid.clone()],
        ),
        (
            "wrong".into(),
            Some(format!("Bearer {wrong}")),
            vec![wrong.into()],
        ),
        (
            "valid with a suffix".into(),
            Some(format!("Bearer {valid}x")),
            vec![valid.clone()],
        ),
        (
            "pending".into(),
            Some(format!("Bearer {pending}")),
            vec![pending.clone()],
        ),
        (
            "revoked".into(),
            Some(format!("Bearer {revoked}")),
            vec![revoked.clone()],
        ),
        (
            "other tenant".into(),
            Some(format!("Bearer {other_tenant}")),
            vec![other_tenant.clone()],
        ),
    ];
    let routes: Vec<(Method, &str, Option<Value>)> = vec![
        (Method::POST, "/Users", Some(user("eve@example.com"))),
        (Method::POST, "/Groups", Some(group("Eve's group", &[]))),
        (Method::GET, "/Users", None),
        (
            Method::GET,
            "/Users/00000000-0000-0000-0000-000000000000",
            None,
        ),
        (
            Method::DELETE,
            "/Users/00000000-0000-0000-0000-000000000000",
            None,
        ),
        (Method::GET, "/ServiceProviderConfig", None),
        (Method::GET, "/Schemas", None),
        (Method::GET, "/Nope", None),
    ];
    for (name, header, secrets) in &cases {
        for (method, path, body) in &routes {
            let r = s
                .call(method.clone(), path, header.as_deref(), body.as_ref())
                .await;
            let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
            assert_eq!(
                r.status.as_u16(),
                401,
                "{name}: {method} {path}: {}",
                r.text
            );
            assert_401(&r, &secrets);
        }
    }

    // Nothing was created by any refused POST.
    let r = s.with(&valid, Method::GET, "/Users", None).await;
    assert_eq!(r.status.as_u16(), 200, "{}", r.text);
    assert_eq!(r.body["totalResults"], 0, "{}", r.text);
    let r = s.with(&valid, Method::GET, "/Groups", None).await;
    assert_eq!(r.body["totalResults"], 0, "{}", r.text);
    assert_eq!(s.status(&valid, "/ServiceProviderConfig").await, 200);
}

// ------------------------------------------------------------------ log capture

// current_thread runtime: the server and the SDK run on this thread, under its subscriber.
#[tokio::test(flavor = "current_thread")]
async fn a_whole_scenario_at_trace_level_logs_neither_tokens_nor_passwords() {
    let moto = moto::start();
    let sm = sm_client(&moto.endpoint);
    // The admin command runs in another process in real life (and logs nothing).
    let token = new_secret(&sm, ACME_SECRET, ACME).await;
    let (store, embedded) = table().await;

    let (capture, guard) = logs::capture(tracing::Level::TRACE);

    // The function's cold start: the secret is read under capture.
    let source = SecretsTokenSource::new(sm.clone(), [ACME_SECRET]);
    source.refresh().await.unwrap();
    let s = serve(store, embedded, source, Some(ACME)).await;
    let passwords = ["Tr0ub4dor&3-first-password", "c0rrect-h0rse-battery-staple"];
    let mut body = user("pat@acme.example");
    body["password"] = json!(passwords[0]);
    let r = s.with(&token, Method::POST, "/Users", Some(&body)).await;
    assert_eq!(r.status.as_u16(), 201, "{}", r.text);
    let id = r.body["id"].as_str().unwrap().to_string();
    let patch = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "password", "value": passwords[1]},
                       {"op": "replace", "value": {"displayName": "Pat"}}]});
    let r = s
        .with(&token, Method::PATCH, &format!("/Users/{id}"), Some(&patch))
        .await;
    assert_eq!(r.status.as_u16(), 200, "{}", r.text);
    let mut put = user("pat@acme.example");
    put["password"] = json!(passwords[1]);
    let r = s
        .with(&token, Method::PUT, &format!("/Users/{id}"), Some(&put))
        .await;
    assert_eq!(r.status.as_u16(), 200, "{}", r.text);
    let r = s.with(&token, Method::GET, "/Users?count=10", None).await;
    assert_eq!(r.body["totalResults"], 1, "{}", r.text);
    assert_eq!(
        s.status(&token, "/Users?filter=userName+eq+%22pat%40acme.example%22")
            .await,
        200
    );
    // Refused requests carrying secrets.
    let wrong = format!("{token}-but-wrong");
    let r = s.with(&wrong, Method::POST, "/Users", Some(&body)).await;
    assert_eq!(r.status.as_u16(), 401);
    let r = s
        .call(Method::GET, "/Users", Some(&format!("Token {token}")), None)
        .await;
    assert_eq!(r.status.as_u16(), 401);
    let r = s
        .with(&token, Method::DELETE, &format!("/Users/{id}"), None)
        .await;
    assert_eq!(r.status.as_u16(), 204);
    drop(guard);

    let logs = capture.text();
    assert!(
        logs.contains(&token_id(&token)),
        "the token id names the token in logs"
    );
    assert!(
        logs.contains("GetSecretValue") || logs.contains("secretsmanager"),
        "SDK traces were captured"
    );
    assert!(
        logs.lines().count() > 50,
        "TRACE output was captured: {logs}"
    );
    for secret in [token.as_str(), wrong.as_str(), passwords[0], passwords[1]] {
        assert!(
            !logs.contains(secret),
            "a secret reached the log:\n{}",
            logs.lines()
                .filter(|l| l.contains(secret))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

#[tokio::test(flavor = "current_thread")]
async fn the_rotation_log_setup_keeps_new_tokens_out_of_trace_output() {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::Layer;
    let moto = moto::start();
    let sm = sm_client(&moto.endpoint);

    // What config::init_tracing installs, at TRACE, writing to the capture.
    let capture = Capture::default();
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(capture.clone())
        .with_ansi(false)
        .with_filter(tracing_subscriber::filter::LevelFilter::TRACE)
        .with_filter(scim_aws::tokens::sdk_wire_filter());
    let guard = tracing::subscriber::set_default(tracing_subscriber::registry().with(layer));

    let first = scim_admin::generate(&sm, ACME_SECRET, Some(ACME))
        .await
        .unwrap();
    let v = "a1b2c3d4-0000-4000-8000-000000000002";
    steps(&sm, ACME_SECRET, v, &STEPS).await;
    let rotated = current_token(&sm, ACME_SECRET).await;
    let again = scim_admin::generate(&sm, ACME_SECRET, None).await.unwrap();
    drop(guard);

    let logs = capture.text();
    assert!(logs.contains("finishSecret"), "{logs}");
    assert!(logs.contains(&token_id(&rotated)), "{logs}");
    for secret in [first.token.expose(), rotated.as_str(), again.token.expose()] {
        assert!(!logs.contains(secret), "a token reached the log");
    }
}

/// The application API's token calls against Secrets Manager (moto), as `app-settings`
/// makes them in a stack: the new token is current, the replaced one previous and still
/// accepted, the settings list both without a token, and retiring the previous token
/// refuses it once the functions' cache refreshes.
#[tokio::test]
async fn the_application_api_generates_and_retires_tokens_in_secrets_manager() {
    use scim_aws::tokens::admin::SecretsTokenAdmin;
    let moto = moto::start();
    let sm = sm_client(&moto.endpoint);
    let t1 = new_secret(&sm, ACME_SECRET, ACME).await;
    let clock = ManualClock::new();
    let source = SecretsTokenSource::new(sm.clone(), [ACME_SECRET]).with_clock(clock.clone());
    let (store, _embedded) = table().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    let key = "local-application-key-for-this-test-0123456789";
    let gate = Arc::new(scim_service::settings::Gate::default());
    let api = scim_service::app::AppApi {
        store: store.clone(),
        tokens: SecretsTokenAdmin::new(sm.clone(), ACME_SECRET),
        gate: gate.clone(),
        config: scim_service::app::AppConfig {
            tenant: ACME.into(),
            tenant_url: format!("{origin}/scim/v2"),
            token_endpoint: None,
            key: Some(scim_service::auth::digest(key)),
        },
    };
    let app = App {
        gate,
        store,
        auth: source,
        config: HttpConfig {
            realm: "scim-acme".into(),
            tenant: Some(ACME.into()),
            ..Default::default()
        },
    };
    tokio::spawn(async move {
        let _ = scim_local::serve_with_app(listener, app, api).await;
    });
    let http = reqwest::Client::new();
    let scim = |token: String| {
        let (http, origin) = (http.clone(), origin.clone());
        async move {
            http.get(format!("{origin}/scim/v2/Users"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    let app_call = |method: Method, path: &str| {
        http.request(method, format!("{origin}/app/v1{path}"))
            .bearer_auth(key)
            .send()
    };
    assert_eq!(scim(t1.clone()).await, 200);

    let made = app_call(Method::POST, "/tokens").await.unwrap();
    assert_eq!(made.status().as_u16(), 201);
    let made: Value = made.json().await.unwrap();
    let t2 = made["token"].as_str().unwrap().to_string();
    assert_eq!(
        current_token(&sm, ACME_SECRET).await,
        t2,
        "stored as AWSCURRENT"
    );
    clock.advance(MISS_REFRESH_INTERVAL + Duration::from_secs(1));
    assert_eq!(scim(t2.clone()).await, 200, "the new token works");
    assert_eq!(scim(t1.clone()).await, 200, "the replaced one still works");

    let settings: Value = app_call(Method::GET, "/settings")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let stages: Vec<(String, String)> = settings["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["id"].as_str().unwrap().to_string(),
                t["stage"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        stages,
        [
            (token_id(&t2), "current".to_string()),
            (token_id(&t1), "previous".to_string())
        ]
    );
    let text = settings.to_string();
    assert!(!text.contains(&t1) && !text.contains(&t2), "{text}");

    let retired = app_call(Method::DELETE, "/tokens/previous").await.unwrap();
    assert_eq!(retired.status().as_u16(), 204);
    clock.advance(CACHE_TTL + Duration::from_secs(1));
    assert_eq!(scim(t1.clone()).await, 401, "retired");
    assert_eq!(scim(t2.clone()).await, 200);
    let again = app_call(Method::DELETE, "/tokens/previous").await.unwrap();
    assert_eq!(again.status().as_u16(), 404);
}
