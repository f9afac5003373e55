//! The rotation protocol of a tenant's token secret: Secrets Manager's four rotation
//! steps. The `rotate-token` function runs them when Secrets Manager invokes it (scheduled
//! or `aws secretsmanager rotate-secret`); `scim-admin generate` runs the same four
//! functions in a row with a fresh version id, so both move the labels the same way:
//!
//! 1. `createSecret`: a new token (same tenant as `AWSCURRENT`) is stored as a new version
//!    labelled `AWSPENDING`. Not accepted yet. Idempotent: a retry finds the pending value.
//! 2. `setSecret`: nothing to do: the service itself reads this secret, there is no
//!    downstream system to tell.
//! 3. `testSecret`: the pending value is a well-formed token secret, for the same tenant,
//!    different from the current token.
//! 4. `finishSecret`: `AWSCURRENT` moves to the new version. Secrets Manager moves
//!    `AWSPREVIOUS` to the version that was current, so the token the IdP still holds
//!    keeps working; the token that was `AWSPREVIOUS` before loses its last label and is
//!    refused (within the cache TTL). `AWSPENDING` is removed from the new version.
//!
//! The previous token stays valid until the operator revokes it (`scim-admin
//! revoke-previous` removes `AWSPREVIOUS`) or the next rotation replaces it.
//!
//! **A rotation never cuts the identity provider off.** When Secrets Manager runs the
//! steps (a schedule, or `aws secretsmanager rotate-secret`), `createSecret` first asks
//! [`RetireGuard`]: if the token that finishing would retire (`AWSPREVIOUS`) was used within
//! `TOKEN_RETIRE_AFTER_UNUSED_DAYS` (default 14; the request path records each token's last
//! use on the tenant's settings item, at most once a minute per instance), the step fails
//! with why, nothing is created, and the tokens stay as they are: the IdP that never got the
//! new token keeps working. Secrets Manager reports the rotation as failed (and the
//! function's error alarm fires); the scheduled token check ([`super::watch`]) has already
//! said that the new token is not used. An admin overrides: `scim-admin generate` runs the
//! same steps without the guard, `scim-admin revoke-previous` retires the previous token.
//!
//! **The configuration test.** When a schedule is set without rotating at once
//! (`RotateImmediately=false`, CloudFormation's `RotateImmediatelyOnUpdate: false`),
//! Secrets Manager itself makes an `AWSPENDING` version holding a copy of the current value
//! and runs only `testSecret` on it. `testSecret` accepts that copy (a well-formed token
//! secret, equal to the current one) without promoting anything.

use super::{
    read_stage, read_version, sdk_error, BearerToken, StoredVersion, TokenError, TokenSecret,
    AWSCURRENT, AWSPENDING, AWSPREVIOUS,
};
use aws_sdk_secretsmanager::Client;
use scim_service::auth::TokenSet;
use scim_service::settings::SettingsStore;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use time::OffsetDateTime;

/// The event Secrets Manager sends a rotation function, on the wire (`aws_lambda_events`).
pub use aws_lambda_events::event::secretsmanager::SecretsManagerSecretRotationEvent;

/// A rotation step to run: the wire event with its step parsed
/// (`TryFrom<SecretsManagerSecretRotationEvent>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotationEvent {
    pub secret_id: String,
    /// The id of the version being created (32-64 characters).
    pub client_request_token: String,
    pub step: RotationStep,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum RotationStep {
    CreateSecret,
    SetSecret,
    TestSecret,
    FinishSecret,
}

impl TryFrom<SecretsManagerSecretRotationEvent> for RotationEvent {
    type Error = String;

    fn try_from(e: SecretsManagerSecretRotationEvent) -> Result<Self, String> {
        let step = serde_json::from_value(serde_json::Value::String(e.step))
            .map_err(|err| format!("Step: {err}"))?;
        Ok(RotationEvent {
            secret_id: e.secret_id,
            client_request_token: e.client_request_token,
            step,
        })
    }
}

/// Runs one step. `fallback_tenant` binds a bare-token `AWSCURRENT` value (a stack's
/// first generated value) to a tenant; the new version is always written as JSON.
pub async fn handle(
    client: &Client,
    fallback_tenant: Option<&str>,
    event: &RotationEvent,
) -> Result<(), TokenError> {
    let (secret, version) = (&event.secret_id, &event.client_request_token);
    match event.step {
        RotationStep::CreateSecret => create_secret(client, secret, version, fallback_tenant).await,
        RotationStep::SetSecret => set_secret(client, secret, version).await,
        RotationStep::TestSecret => test_secret(client, secret, version, fallback_tenant).await,
        RotationStep::FinishSecret => finish_secret(client, secret, version).await,
    }
}

/// The default of `TOKEN_RETIRE_AFTER_UNUSED_DAYS`: a scheduled rotation does not retire a
/// token used in the last 14 days.
pub const RETIRE_AFTER_UNUSED_DAYS: i64 = 14;

/// What a Secrets-Manager-driven rotation consults before it makes a new token: the token
/// usage the request path records (`u_{token id}` on the tenant's settings item).
pub struct RetireGuard<'a, S> {
    pub store: &'a S,
    /// A token used more recently than this is not retired.
    pub unused_for: time::Duration,
    /// Now (injected: tests move days forward without waiting).
    pub now: OffsetDateTime,
}

impl<S: SettingsStore> RetireGuard<'_, S> {
    /// `Ok` when finishing a rotation of `secret_id` would retire no token in use.
    pub async fn check(
        &self,
        client: &Client,
        secret_id: &str,
        fallback_tenant: Option<&str>,
    ) -> Result<(), TokenError> {
        let labels = versions(client, secret_id).await?;
        let Some(previous) = labels
            .iter()
            .find(|(_, stages)| stages.iter().any(|s| s == AWSPREVIOUS))
            .map(|(v, _)| v.clone())
        else {
            return Ok(());
        };
        let Some(stored) =
            read_version(client, secret_id, &previous, AWSPREVIOUS, fallback_tenant).await?
        else {
            return Ok(());
        };
        // A value that is not a token secret is refused by the request path already.
        let Ok(secret) = stored.secret else {
            return Ok(());
        };
        let token_id = secret.token.id();
        let settings = self.store.settings(&secret.tenant).await.map_err(|e| {
            TokenError::Sdk(format!(
                "reading the token usage of tenant {}: {e}",
                secret.tenant
            ))
        })?;
        let Some(usage) = settings.token_usage.get(&token_id) else {
            return Ok(());
        };
        // An unreadable date counts as recent: refusing is the safe side.
        let recent = scim_core::resource::parse_datetime(&usage.at)
            .is_none_or(|at| self.now - at < self.unused_for);
        if recent {
            return Err(TokenError::Rotation(format!(
                "not rotating: the {AWSPREVIOUS} token {token_id} (version {previous}) of tenant {} was used at {} by {}, within the last {} days, and finishing would retire it. \
                 The identity provider still sends it: paste the {AWSCURRENT} token into it (the next rotation goes ahead once {token_id} has been unused for {} days), \
                 or rotate anyway with scim-admin generate --tenant {}",
                secret.tenant,
                usage.at,
                usage.client.as_str(),
                self.unused_for.whole_days(),
                self.unused_for.whole_days(),
                secret.tenant,
            )));
        }
        Ok(())
    }
}

/// [`handle`], with the guard in front of `createSecret` (the rotation function's path;
/// `scim-admin generate` calls the steps directly: the admin has decided).
pub async fn handle_guarded<S: SettingsStore>(
    client: &Client,
    fallback_tenant: Option<&str>,
    guard: &RetireGuard<'_, S>,
    event: &RotationEvent,
) -> Result<(), TokenError> {
    if event.step == RotationStep::CreateSecret {
        let (secret, version) = (&event.secret_id, &event.client_request_token);
        let labels = versions(client, secret).await?;
        // Decided already: the version is current, or this step ran before and stored the
        // new token (a retry must not strand it). Secrets Manager itself labels an empty
        // version AWSPENDING before the first createSecret, so the label alone says nothing.
        let decided = has(&labels, version, AWSCURRENT)
            || (has(&labels, version, AWSPENDING)
                && matches!(
                    read_version(client, secret, version, AWSPENDING, fallback_tenant).await,
                    Ok(Some(StoredVersion { secret: Ok(_), .. }))
                ));
        if !decided {
            guard.check(client, secret, fallback_tenant).await?;
        }
    }
    handle(client, fallback_tenant, event).await
}

/// The staging labels of every version (`DescribeSecret`).
pub async fn versions(
    client: &Client,
    secret_id: &str,
) -> Result<HashMap<String, Vec<String>>, TokenError> {
    let out = client
        .describe_secret()
        .secret_id(secret_id)
        .send()
        .await
        .map_err(|e| {
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception())
            {
                TokenError::NotFound(format!("secret {secret_id}"))
            } else {
                sdk_error("DescribeSecret", secret_id, e)
            }
        })?;
    Ok(out.version_ids_to_stages().cloned().unwrap_or_default())
}

fn has(versions: &HashMap<String, Vec<String>>, version: &str, stage: &str) -> bool {
    versions
        .get(version)
        .is_some_and(|s| s.iter().any(|x| x == stage))
}

/// Where a step finds its version.
enum State {
    /// Already `AWSCURRENT`: the rotation finished; every step is a no-op.
    Current,
    Pending,
}

fn state(
    versions: &HashMap<String, Vec<String>>,
    secret_id: &str,
    version: &str,
) -> Result<State, TokenError> {
    if has(versions, version, AWSCURRENT) {
        Ok(State::Current)
    } else if has(versions, version, AWSPENDING) {
        Ok(State::Pending)
    } else {
        Err(TokenError::Rotation(format!(
            "version {version} of {secret_id} is not {AWSPENDING}; run createSecret first"
        )))
    }
}

async fn current_secret(
    client: &Client,
    secret_id: &str,
    fallback_tenant: Option<&str>,
) -> Result<TokenSecret, TokenError> {
    read_stage(client, secret_id, AWSCURRENT, fallback_tenant)
        .await?
        .ok_or_else(|| TokenError::NotFound(format!("{secret_id} has no {AWSCURRENT} version")))?
        .secret
}

/// Step 1: stores a new token as `AWSPENDING` under the version id `version`.
pub async fn create_secret(
    client: &Client,
    secret_id: &str,
    version: &str,
    fallback_tenant: Option<&str>,
) -> Result<(), TokenError> {
    let labels = versions(client, secret_id).await?;
    if has(&labels, version, AWSCURRENT) {
        tracing::info!(secret = %secret_id, version, "createSecret: the version is already current");
        return Ok(());
    }
    let current = current_secret(client, secret_id, fallback_tenant).await?;
    if let Some(pending) = read_version(client, secret_id, version, AWSPENDING, None).await? {
        let pending = pending.secret?;
        tracing::info!(secret = %secret_id, version, token_id = %pending.token.id(), "createSecret: already created");
        return Ok(());
    }
    let new = TokenSecret::new(&current.tenant, BearerToken::generate()?)?;
    client
        .put_secret_value()
        .secret_id(secret_id)
        .client_request_token(version)
        .secret_string(new.to_secret_string())
        .version_stages(AWSPENDING)
        .send()
        .await
        .map_err(|e| sdk_error("PutSecretValue", secret_id, e))?;
    tracing::info!(
        secret = %secret_id,
        version,
        tenant = %new.tenant,
        token_id = %new.token.id(),
        "createSecret: new token stored as {AWSPENDING}"
    );
    Ok(())
}

/// Step 2: checks the version; there is nothing else to set.
pub async fn set_secret(client: &Client, secret_id: &str, version: &str) -> Result<(), TokenError> {
    let labels = versions(client, secret_id).await?;
    state(&labels, secret_id, version)?;
    tracing::info!(secret = %secret_id, version, "setSecret: nothing to set (the service reads the secret itself)");
    Ok(())
}

/// Step 3: the pending token is well formed, bound to the current tenant, new, and would
/// be accepted by the request path.
pub async fn test_secret(
    client: &Client,
    secret_id: &str,
    version: &str,
    fallback_tenant: Option<&str>,
) -> Result<(), TokenError> {
    let labels = versions(client, secret_id).await?;
    if let State::Current = state(&labels, secret_id, version)? {
        return Ok(());
    }
    let current = current_secret(client, secret_id, fallback_tenant).await?;
    // The fallback binds a bare pending value: Secrets Manager's copy of a bare current one.
    // createSecret always writes JSON.
    let pending = read_version(client, secret_id, version, AWSPENDING, fallback_tenant)
        .await?
        .ok_or_else(|| TokenError::Rotation(format!("version {version} has no value")))?
        .secret?;
    if pending.tenant != current.tenant {
        return Err(TokenError::Rotation(format!(
            "the pending token names tenant {}, the current one {}",
            pending.tenant, current.tenant
        )));
    }
    if pending.token == current.token {
        // Not one of ours: createSecret always stores a new token. Secrets Manager's own
        // configuration test (a schedule set without rotating at once) copies the current
        // value into a pending version and runs only this step; the copy is well formed
        // and bound to the same tenant, which is all there is to test. A finishSecret on
        // it would change nothing either.
        tracing::info!(
            secret = %secret_id,
            version,
            token_id = %pending.token.id(),
            "testSecret: the pending version is a copy of the current one (Secrets Manager's configuration test): ok"
        );
        return Ok(());
    }
    let accepted = TokenSet::new()
        .with(pending.token.expose(), &pending.tenant)
        .check(pending.token.expose())
        .is_ok_and(|p| p.tenant == current.tenant);
    if !accepted {
        return Err(TokenError::Rotation(
            "the pending token would not be accepted".into(),
        ));
    }
    tracing::info!(secret = %secret_id, version, token_id = %pending.token.id(), "testSecret: ok");
    Ok(())
}

/// Step 4: makes the version `AWSCURRENT` (the replaced one becomes `AWSPREVIOUS`).
pub async fn finish_secret(
    client: &Client,
    secret_id: &str,
    version: &str,
) -> Result<(), TokenError> {
    let labels = versions(client, secret_id).await?;
    if let State::Pending = state(&labels, secret_id, version)? {
        let current = labels
            .iter()
            .find(|(_, stages)| stages.iter().any(|s| s == AWSCURRENT))
            .map(|(v, _)| v.clone());
        client
            .update_secret_version_stage()
            .secret_id(secret_id)
            .version_stage(AWSCURRENT)
            .move_to_version_id(version)
            .set_remove_from_version_id(current.clone())
            .send()
            .await
            .map_err(|e| sdk_error("UpdateSecretVersionStage", secret_id, e))?;
        tracing::info!(
            secret = %secret_id,
            version,
            previous = current.as_deref().unwrap_or("-"),
            "finishSecret: the new token is {AWSCURRENT}"
        );
    }
    if has(&labels, version, AWSPENDING) {
        client
            .update_secret_version_stage()
            .secret_id(secret_id)
            .version_stage(AWSPENDING)
            .remove_from_version_id(version)
            .send()
            .await
            .map_err(|e| sdk_error("UpdateSecretVersionStage", secret_id, e))?;
    }
    Ok(())
}

use crate::config::init_tracing;

/// The `rotate-token` function: the Secrets Manager client once per cold start, then one
/// step per invocation. `TENANT_ID` (optional) binds a bare-token current value.
pub async fn serve() -> Result<(), lambda_runtime::Error> {
    init_tracing();
    let sdk = crate::sdk::load().await;
    let client = super::client(&sdk);
    let tenant = crate::config::var("TENANT_ID");
    let table = crate::config::var("TABLE_NAME")
        .ok_or("TABLE_NAME must name the tenant's table (the token usage the rotation consults)")?;
    let unused_for = time::Duration::days(retire_after_unused_days()?);
    let store = crate::DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), table);
    let (client, tenant, store) = (&client, tenant.as_deref(), &store);
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<SecretsManagerSecretRotationEvent>| async move {
            let e = RotationEvent::try_from(event.payload)?;
            tracing::info!(secret = %e.secret_id, version = %e.client_request_token, step = ?e.step, "rotation step");
            let guard = RetireGuard {
                store,
                unused_for,
                now: OffsetDateTime::now_utc(),
            };
            handle_guarded(client, tenant, &guard, &e).await.map_err(|err| {
                tracing::error!(step = ?e.step, error = %err, "rotation step failed");
                lambda_runtime::Error::from(err)
            })
        },
    ))
    .await
}

/// `TOKEN_RETIRE_AFTER_UNUSED_DAYS` (1 to 365), else [`RETIRE_AFTER_UNUSED_DAYS`].
pub fn retire_after_unused_days() -> Result<i64, String> {
    days_var("TOKEN_RETIRE_AFTER_UNUSED_DAYS", RETIRE_AFTER_UNUSED_DAYS)
}

/// A number of days from the environment (1 to 1000), else `default`.
pub fn days_var(name: &str, default: i64) -> Result<i64, String> {
    match crate::config::var(name) {
        None => Ok(default),
        Some(v) => v
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|d| (1..=1000).contains(d))
            .ok_or_else(|| {
                format!("{name} must be a whole number of days from 1 to 1000, not {v:?}")
            }),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<RotationEvent, String> {
        let wire: SecretsManagerSecretRotationEvent =
            serde_json::from_str(json).map_err(|e| e.to_string())?;
        RotationEvent::try_from(wire)
    }

    #[test]
    fn the_secrets_manager_event_parses() {
        let e = parse(
            r#"{"SecretId":"arn:aws:secretsmanager:eu-west-1:123456789012:secret:scim/acme/bearer-token-AbCdEf",
                "ClientRequestToken":"0b0e7ac1-2a56-4cd4-9a47-4d2f0fb2a0f1","Step":"finishSecret",
                "RotationToken":"ignored"}"#,
        )
        .unwrap();
        assert_eq!(e.step, RotationStep::FinishSecret);
        assert_eq!(
            e.client_request_token,
            "0b0e7ac1-2a56-4cd4-9a47-4d2f0fb2a0f1"
        );
        for (s, step) in [
            ("createSecret", RotationStep::CreateSecret),
            ("setSecret", RotationStep::SetSecret),
            ("testSecret", RotationStep::TestSecret),
        ] {
            let e = parse(&format!(
                r#"{{"SecretId":"s","ClientRequestToken":"t","Step":"{s}"}}"#
            ))
            .unwrap();
            assert_eq!(e.step, step);
        }
        assert!(parse(r#"{"SecretId":"s","ClientRequestToken":"t","Step":"dropSecret"}"#).is_err());
    }
}
