//! A rotation never cuts the identity provider off, and the operator hears about tokens
//! nobody uses or that grow too old (moto on loopback; the token usage is what the real
//! request path records in the tenant's table; "now" is injected, so days pass without
//! waiting).
//!
//! What moto simulates and what it does not, for a rotation schedule set without rotating
//! at once (`RotateSecret` with `RotateImmediately=false`, as CloudFormation's
//! `RotateImmediatelyOnUpdate: false`): it requires the rotation function to exist in its
//! own Lambda, makes an `AWSPENDING` version holding a copy of the current value, and
//! "invokes" `testSecret` through its Lambda emulation, which never runs our code (its real
//! emulation needs Docker; the tests switch moto to its Docker-less stub, which answers
//! every invocation with success). It also leaves the `AWSPENDING` label on the copy, where
//! Secrets Manager removes it. So the test runs our `testSecret` itself against the version
//! moto made.

use crate::moto;
use crate::tokens::{assert_401, current_token, event, labels, new_secret, serve, table, STEPS};
use aws_sdk_secretsmanager::Client as SmClient;
use reqwest::Method;
use scim_aws::tokens::rotation::{self, RetireGuard, RotationStep, RETIRE_AFTER_UNUSED_DAYS};
use scim_aws::tokens::watch::{self, AwsNotices, WatchPolicy, NOTICE_SOURCE};
use scim_aws::tokens::{
    read_stage, read_version, ManualClock, SecretsTokenSource, TokenError, AWSCURRENT, AWSPENDING,
    CACHE_TTL,
};
use scim_aws::DynamoStore;
use scim_service::auth::token_id;
use scim_test_support::aws::{eventbridge, queue, secrets_manager as sm_client, sqs};
use serde_json::{json, Value};
use time::{Duration, OffsetDateTime};

const ACME: &str = "acme";
const SECRET: &str = "scim/acme/bearer-token";

/// The four steps as Secrets Manager drives them through the rotation function: guarded,
/// at `now`.
async fn scheduled_rotation(
    sm: &SmClient,
    store: &DynamoStore,
    now: OffsetDateTime,
    version: &str,
) -> Result<(), TokenError> {
    let guard = RetireGuard {
        store,
        unused_for: Duration::days(RETIRE_AFTER_UNUSED_DAYS),
        now,
    };
    for step in STEPS {
        rotation::handle_guarded(sm, None, &guard, &event(SECRET, version, step)).await?;
    }
    Ok(())
}

fn wait_out_the_cache(clock: &ManualClock) {
    clock.advance(CACHE_TTL + std::time::Duration::from_secs(1));
}

#[tokio::test]
async fn a_scheduled_rotation_does_not_retire_the_token_the_idp_still_sends() {
    let moto = moto::start();
    let sm = sm_client(&moto.endpoint);
    let t1 = new_secret(&sm, SECRET, ACME).await;
    let clock = ManualClock::new();
    let source = SecretsTokenSource::new(sm.clone(), [SECRET]).with_clock(clock.clone());
    let (store, embedded) = table().await;
    let s = serve(store.clone(), embedded, source, Some(ACME)).await;
    let day0 = OffsetDateTime::now_utc();

    // Day 0: the IdP provisions with T1; the scheduled rotation makes T2 current.
    assert_eq!(s.status(&t1, "/Users").await, 200);
    scheduled_rotation(&sm, &store, day0, "a1b2c3d4-0000-4000-8000-000000000002")
        .await
        .unwrap();
    let t2 = current_token(&sm, SECRET).await;
    wait_out_the_cache(&clock);
    // Nobody pastes T2 into the IdP: it keeps sending T1 (recorded by the request path).
    assert_eq!(s.status(&t1, "/Users").await, 200);

    // Day 10: the next scheduled rotation would retire T1. It refuses, says why, and
    // changes nothing.
    let before = labels(&sm, SECRET).await;
    let e = scheduled_rotation(
        &sm,
        &store,
        day0 + Duration::days(10),
        "a1b2c3d4-0000-4000-8000-000000000003",
    )
    .await
    .unwrap_err();
    let why = e.to_string();
    assert!(why.contains("not rotating"), "{why}");
    assert!(why.contains(&token_id(&t1)), "{why}");
    assert!(why.contains("scim-admin generate"), "{why}");
    assert!(
        !why.contains(&t1) && !why.contains(&t2),
        "a token in the error: {why}"
    );
    assert_eq!(
        labels(&sm, SECRET).await,
        before,
        "no version made or moved"
    );
    wait_out_the_cache(&clock);
    assert_eq!(s.status(&t1, "/Users").await, 200, "the IdP keeps working");
    assert_eq!(s.status(&t2, "/Users").await, 200);

    // Day 15: T1 has not been seen for 15 days (the IdP switched): the rotation goes ahead
    // and retires it.
    scheduled_rotation(
        &sm,
        &store,
        day0 + Duration::days(15),
        "a1b2c3d4-0000-4000-8000-000000000004",
    )
    .await
    .unwrap();
    let t3 = current_token(&sm, SECRET).await;
    wait_out_the_cache(&clock);
    assert_eq!(s.status(&t3, "/Users").await, 200);
    assert_eq!(s.status(&t2, "/Users").await, 200);
    let r = s.with(&t1, Method::GET, "/Users", None).await;
    assert_401(&r, &[&t1]);
}

#[tokio::test]
async fn a_retried_create_step_finishes_the_rotation_it_started() {
    let moto = moto::start();
    let sm = sm_client(&moto.endpoint);
    let t1 = new_secret(&sm, SECRET, ACME).await;
    let clock = ManualClock::new();
    let source = SecretsTokenSource::new(sm.clone(), [SECRET]).with_clock(clock.clone());
    let (store, embedded) = table().await;
    let s = serve(store.clone(), embedded, source, Some(ACME)).await;
    let day0 = OffsetDateTime::now_utc();
    scheduled_rotation(&sm, &store, day0, "d1b2c3d4-0000-4000-8000-000000000002")
        .await
        .unwrap();
    assert_eq!(s.status(&t1, "/Users").await, 200);
    // Day 20: T1 unused for 20 days; createSecret stores T3 as pending.
    let v3 = "d1b2c3d4-0000-4000-8000-000000000003";
    let guard = |days: i64| RetireGuard {
        store: &store,
        unused_for: Duration::days(RETIRE_AFTER_UNUSED_DAYS),
        now: day0 + Duration::days(days),
    };
    let create = event(SECRET, v3, RotationStep::CreateSecret);
    rotation::handle_guarded(&sm, None, &guard(20), &create)
        .await
        .unwrap();
    // Secrets Manager retries the step (say, after a timeout) in a world where T1 counts as
    // recent: the decision stands, the rotation it started finishes.
    rotation::handle_guarded(&sm, None, &guard(1), &create)
        .await
        .unwrap();
    for step in &STEPS[1..] {
        rotation::handle_guarded(&sm, None, &guard(1), &event(SECRET, v3, *step))
            .await
            .unwrap();
    }
    assert_eq!(
        read_stage(&sm, SECRET, AWSCURRENT, None)
            .await
            .unwrap()
            .unwrap()
            .version_id,
        v3
    );
}

#[tokio::test]
async fn an_admin_rotates_anyway_with_scim_admin_generate() {
    let moto = moto::start();
    let sm = sm_client(&moto.endpoint);
    let t1 = new_secret(&sm, SECRET, ACME).await;
    let clock = ManualClock::new();
    let source = SecretsTokenSource::new(sm.clone(), [SECRET]).with_clock(clock.clone());
    let (store, embedded) = table().await;
    let s = serve(store.clone(), embedded, source, Some(ACME)).await;
    let day0 = OffsetDateTime::now_utc();
    scheduled_rotation(&sm, &store, day0, "b1b2c3d4-0000-4000-8000-000000000002")
        .await
        .unwrap();
    assert_eq!(s.status(&t1, "/Users").await, 200);
    assert!(scheduled_rotation(
        &sm,
        &store,
        day0 + Duration::days(1),
        "b1b2c3d4-0000-4000-8000-000000000003"
    )
    .await
    .is_err());

    // The admin has decided: generate runs the steps without the guard.
    let new = scim_admin::generate(&sm, SECRET, Some(ACME)).await.unwrap();
    wait_out_the_cache(&clock);
    assert_eq!(s.status(new.token.expose(), "/Users").await, 200);
    let r = s.with(&t1, Method::GET, "/Users", None).await;
    assert_401(&r, &[&t1]);
}

// ------------------------------------------------------------------ notices

fn sns_client(endpoint: &str) -> aws_sdk_sns::Client {
    let conf = aws_sdk_sns::Config::builder()
        .http_client(scim_aws::sdk::http_client())
        .behavior_version(aws_sdk_sns::config::BehaviorVersion::latest())
        .region(aws_sdk_sns::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_sns::config::Credentials::new(
            "testing", "testing", None, None, "test",
        ))
        .endpoint_url(endpoint)
        .build();
    aws_sdk_sns::Client::from_conf(conf)
}

/// Every message now in the queue (bodies), waiting up to a second for the first.
async fn drain(sq: &aws_sdk_sqs::Client, url: &str) -> Vec<Value> {
    let mut out = Vec::new();
    loop {
        let got = sq
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .expect("receive");
        if got.messages().is_empty() {
            return out;
        }
        for m in got.messages() {
            out.push(serde_json::from_str(m.body().unwrap_or_default()).expect("json body"));
            sq.delete_message()
                .queue_url(url)
                .receipt_handle(m.receipt_handle().unwrap_or_default())
                .send()
                .await
                .expect("delete");
        }
    }
}

/// The stack's alarm topic and the tenant's bus on moto, each feeding a queue the test reads.
struct Outlets {
    sink: AwsNotices,
    sq: aws_sdk_sqs::Client,
    topic_queue: String,
    bus_queue: String,
}

async fn outlets(endpoint: &str) -> Outlets {
    let (sns, eb, sq) = (sns_client(endpoint), eventbridge(endpoint), sqs(endpoint));
    let topic_arn = sns
        .create_topic()
        .name("scim-acme-alarms")
        .send()
        .await
        .expect("topic")
        .topic_arn()
        .expect("topic arn")
        .to_string();
    let (topic_queue, topic_queue_arn) = queue(&sq, "alarm-mail").await;
    sns.subscribe()
        .topic_arn(&topic_arn)
        .protocol("sqs")
        .endpoint(topic_queue_arn)
        .send()
        .await
        .expect("subscribe");
    eb.create_event_bus()
        .name("scim-acme")
        .send()
        .await
        .expect("bus");
    let (bus_queue, bus_queue_arn) = queue(&sq, "token-notices").await;
    eb.put_rule()
        .name("token-notices")
        .event_bus_name("scim-acme")
        .event_pattern(json!({ "source": [NOTICE_SOURCE] }).to_string())
        .send()
        .await
        .expect("rule");
    eb.put_targets()
        .rule("token-notices")
        .event_bus_name("scim-acme")
        .targets(
            aws_sdk_eventbridge::types::Target::builder()
                .id("queue")
                .arn(bus_queue_arn)
                .build()
                .expect("target"),
        )
        .send()
        .await
        .expect("targets");
    Outlets {
        sink: AwsNotices {
            sns,
            topic_arn,
            events: eb,
            bus: "scim-acme".into(),
        },
        sq,
        topic_queue,
        bus_queue,
    }
}

#[tokio::test]
async fn notices_reach_the_topic_and_the_bus_once_per_condition_and_token() {
    let moto = moto::start();
    let sm = sm_client(&moto.endpoint);
    let out = outlets(&moto.endpoint).await;
    let t1 = new_secret(&sm, SECRET, ACME).await;
    let clock = ManualClock::new();
    let source = SecretsTokenSource::new(sm.clone(), [SECRET]).with_clock(clock.clone());
    let (store, embedded) = table().await;
    let s = serve(store.clone(), embedded, source, Some(ACME)).await;
    assert_eq!(s.status(&t1, "/Users").await, 200);
    let t2 = scim_admin::generate(&sm, SECRET, Some(ACME))
        .await
        .unwrap()
        .token;
    // Day 0: T2 was just made, T1 just used.
    let day0 = OffsetDateTime::now_utc();
    let (t1_id, t2_id) = (token_id(&t1), t2.id());
    let policy = WatchPolicy {
        new_token_unused: Duration::days(7),
        max_age: Duration::days(30),
        in_use: Duration::days(60),
    };
    let run = |days: i64| {
        let (sm, store, sink) = (&sm, &store, &out.sink);
        async move {
            watch::run(
                sm,
                store,
                sink,
                SECRET,
                None,
                &policy,
                day0 + Duration::days(days),
            )
            .await
            .unwrap()
        }
    };

    // Day 6: T2 is young; T1 in use but young: nothing.
    assert_eq!(run(6).await, Default::default());
    assert!(drain(&out.sq, &out.topic_queue).await.is_empty());

    // Day 8: T2 unused for 7 days: one notice, on the topic and on the bus.
    let r = run(8).await;
    assert_eq!(r.sent, vec![format!("token.unused#{t2_id}")]);
    let mail = drain(&out.sq, &out.topic_queue).await;
    assert_eq!(mail.len(), 1, "{mail:?}");
    let subject = mail[0]["Subject"].as_str().unwrap_or_default();
    let message = mail[0]["Message"].as_str().unwrap_or_default();
    assert!(subject.contains("not used after 8 days"), "{subject}");
    assert!(
        message.contains(&t2_id) && message.contains(&t1_id),
        "{message}"
    );
    let events = drain(&out.sq, &out.bus_queue).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["source"], NOTICE_SOURCE);
    assert_eq!(events[0]["detail-type"], "token.unused");
    let d = &events[0]["detail"];
    assert_eq!(d["tenant"], ACME);
    assert_eq!(d["tokenId"], t2_id.as_str());
    assert_eq!(d["stage"], "current");
    assert_eq!(d["ageDays"], 8);
    assert_eq!(d["thresholdDays"], 7);
    assert_eq!(d["lastUsed"], Value::Null);
    assert_eq!(d["previousTokenId"], t1_id.as_str());
    assert!(d["previousLastUsed"].is_string(), "{d}");
    for body in [&mail[0], &events[0]] {
        let text = body.to_string();
        assert!(
            !text.contains(&t1) && !text.contains(t2.expose()),
            "a token: {text}"
        );
    }

    // Day 9 and later: not again.
    let r = run(9).await;
    assert!(r.sent.is_empty(), "{r:?}");
    assert_eq!(r.already_sent, 1);
    assert!(drain(&out.sq, &out.bus_queue).await.is_empty());

    // Day 31: T1, still in use (last seen day 0, within 60 days), is 31 days old.
    let r = run(31).await;
    assert_eq!(r.sent, vec![format!("token.max-age#{t1_id}")]);
    let events = drain(&out.sq, &out.bus_queue).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["detail-type"], "token.max-age");
    assert_eq!(events[0]["detail"]["tokenId"], t1_id.as_str());
    assert_eq!(events[0]["detail"]["stage"], "previous");
    let mail = drain(&out.sq, &out.topic_queue).await;
    assert_eq!(mail.len(), 1, "{mail:?}");
    assert_eq!(run(32).await.sent, Vec::<String>::new());
}

// ------------------------------------------------------------------ the schedule's set-up

/// Makes `rotate-token` exist in moto's Lambda (moto's `RotateSecret` requires it), by
/// moto's REST and query APIs (the workspace has no Lambda or IAM SDK), in moto's
/// Docker-less Lambda stub, so that no machine tries to start a container. moto does not
/// check signatures or the code.
async fn moto_rotation_function(endpoint: &str) -> String {
    let http = reqwest::Client::new();
    let config = http
        .post(format!("{endpoint}/moto-api/config"))
        .json(&json!({"lambda": {"use_docker": false}}))
        .send()
        .await
        .unwrap();
    assert!(config.status().is_success(), "{:?}", config.text().await);
    let auth = |service: &str| {
        format!("AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=0")
    };
    let role = http
        .post(format!("{endpoint}/"))
        .header("Authorization", auth("iam"))
        .form(&[
            ("Action", "CreateRole"),
            ("Version", "2010-05-08"),
            ("RoleName", "rotate-token"),
            ("AssumeRolePolicyDocument", "{}"),
        ])
        .send()
        .await
        .unwrap();
    assert!(role.status().is_success(), "{:?}", role.text().await);
    use base64::Engine;
    let f = http
        .post(format!("{endpoint}/2015-03-31/functions"))
        .header("Authorization", auth("lambda"))
        .json(&json!({
            "FunctionName": "rotate-token",
            "Runtime": "provided.al2023",
            "Role": "arn:aws:iam::123456789012:role/rotate-token",
            "Handler": "bootstrap",
            "Code": {"ZipFile": base64::engine::general_purpose::STANDARD.encode(b"not run")},
        }))
        .send()
        .await
        .unwrap();
    let body: Value = f.json().await.unwrap();
    body["FunctionArn"]
        .as_str()
        .unwrap_or_else(|| panic!("{body}"))
        .to_string()
}

#[tokio::test]
async fn setting_the_schedule_tests_a_pending_copy_made_by_secrets_manager_and_changes_nothing() {
    let moto = moto::start();
    let sm = sm_client(&moto.endpoint);
    let t1 = new_secret(&sm, SECRET, ACME).await;
    let function = moto_rotation_function(&moto.endpoint).await;
    let clock = ManualClock::new();
    let source = SecretsTokenSource::new(sm.clone(), [SECRET]).with_clock(clock.clone());
    let (store, embedded) = table().await;
    let s = serve(store.clone(), embedded, source, Some(ACME)).await;

    // What the stack's RotationSchedule does (RotateImmediatelyOnUpdate: false).
    sm.rotate_secret()
        .secret_id(SECRET)
        .rotation_lambda_arn(&function)
        .rotation_rules(
            aws_sdk_secretsmanager::types::RotationRulesType::builder()
                .automatically_after_days(90)
                .build(),
        )
        .rotate_immediately(false)
        .send()
        .await
        .unwrap();
    let after = labels(&sm, SECRET).await;
    let pending = after
        .iter()
        .find(|(_, s)| s.iter().any(|x| x == AWSPENDING))
        .map(|(v, _)| v.clone())
        .expect("moto made a pending version");
    let copy = read_version(&sm, SECRET, &pending, AWSPENDING, None)
        .await
        .unwrap()
        .unwrap()
        .secret
        .unwrap();
    assert_eq!(
        copy.token.expose(),
        t1,
        "moto's pending version is a copy of the current one"
    );

    // The step Secrets Manager runs against it: accepted, nothing promoted.
    rotation::handle(
        &sm,
        None,
        &event(SECRET, &pending, RotationStep::TestSecret),
    )
    .await
    .unwrap();
    assert_eq!(current_token(&sm, SECRET).await, t1);
    assert_eq!(
        read_stage(&sm, SECRET, AWSCURRENT, None)
            .await
            .unwrap()
            .unwrap()
            .version_id
            .len(),
        36
    );
    wait_out_the_cache(&clock);
    assert_eq!(s.status(&t1, "/Users").await, 200);

    // The first scheduled rotation afterwards, with its own version id, works as usual.
    scheduled_rotation(
        &sm,
        &store,
        OffsetDateTime::now_utc(),
        "c1b2c3d4-0000-4000-8000-000000000002",
    )
    .await
    .unwrap();
    let t2 = current_token(&sm, SECRET).await;
    assert_ne!(t2, t1);
    wait_out_the_cache(&clock);
    assert_eq!(s.status(&t2, "/Users").await, 200);
    assert_eq!(s.status(&t1, "/Users").await, 200);
}

#[tokio::test]
async fn the_configuration_test_also_passes_on_a_bare_generated_value() {
    let moto = moto::start();
    let sm = sm_client(&moto.endpoint);
    // What a stack's GenerateSecretString without a template makes: no JSON.
    let bare = "Ab3dEf6hIj9lMn2pQr5tUv8xYz1bCd4fGh7jKl0nOp3rSt6vWx9zAb2dEf5hIj8l";
    sm.create_secret()
        .name(SECRET)
        .secret_string(bare)
        .send()
        .await
        .unwrap();
    let function = moto_rotation_function(&moto.endpoint).await;
    sm.rotate_secret()
        .secret_id(SECRET)
        .rotation_lambda_arn(&function)
        .rotation_rules(
            aws_sdk_secretsmanager::types::RotationRulesType::builder()
                .automatically_after_days(90)
                .build(),
        )
        .rotate_immediately(false)
        .send()
        .await
        .unwrap();
    let pending = labels(&sm, SECRET)
        .await
        .into_iter()
        .find(|(_, s)| s.iter().any(|x| x == AWSPENDING))
        .map(|(v, _)| v)
        .expect("moto made a pending version");
    // The function's TENANT_ID binds the bare copy, as it binds the current value.
    rotation::handle(
        &sm,
        Some(ACME),
        &event(SECRET, &pending, RotationStep::TestSecret),
    )
    .await
    .unwrap();
    let current = read_stage(&sm, SECRET, AWSCURRENT, Some(ACME))
        .await
        .unwrap()
        .unwrap()
        .secret
        .unwrap();
    assert_eq!(current.token.expose(), bare, "nothing promoted");
}
