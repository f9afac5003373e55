//! The OAuth signing keys in Secrets Manager (`SIGNING_SECRET_ARN`): the cache every SCIM
//! function verifies access tokens with, and the rotation the admin command runs.
//!
//! **Cache.** Read once at cold start (the one extra call OAuth costs a SCIM function),
//! re-read every [`KEYS_TTL`] (5 minutes), and early — at most once per
//! [`UNKNOWN_KID_INTERVAL`] — when a token names a key not in the cache (a rotation since
//! the last read). When Secrets Manager cannot be read, the keys already read keep
//! verifying (a key only ever leaves the secret [`RETIRED_KEY_KEPT`] after it stopped
//! signing); with none read yet, requests get `503`.
//!
//! The value is never logged: [`KeySet`]'s `Debug` shows key ids only.

use crate::tokens::{sdk_error, TokenError, AWSCURRENT};
use aws_sdk_secretsmanager::Client;
use scim_service::auth::AuthError;
pub use scim_service::oauth::keys::RETIRED_KEY_KEPT;
use scim_service::oauth::keys::{KeySet, KeySource, SigningKey};
use std::sync::Arc;
use std::time::{Duration, Instant};
use time::OffsetDateTime;
use tokio::sync::Mutex;

pub const KEYS_TTL: Duration = Duration::from_secs(300);
pub const UNKNOWN_KID_INTERVAL: Duration = Duration::from_secs(10);

/// Reads the current signing keys.
pub async fn read_keys(client: &Client, secret_id: &str) -> Result<KeySet, TokenError> {
    let out = client
        .get_secret_value()
        .secret_id(secret_id)
        .version_stage(AWSCURRENT)
        .send()
        .await
        .map_err(|e| sdk_error("GetSecretValue", secret_id, e))?;
    let value = out
        .secret_string()
        .ok_or_else(|| TokenError::BadValue("the signing secret has no string value".into()))?;
    KeySet::parse(value).map_err(TokenError::BadValue)
}

/// Puts a new current key; the replaced one keeps verifying for [`RETIRED_KEY_KEPT`].
/// Returns the new set (its ids only are printed).
pub async fn rotate_key(
    client: &Client,
    secret_id: &str,
    now: OffsetDateTime,
) -> Result<KeySet, TokenError> {
    let current = read_keys(client, secret_id).await?;
    let new = SigningKey::generate().map_err(TokenError::Random)?;
    let rotated = current.rotated(new, now);
    client
        .put_secret_value()
        .secret_id(secret_id)
        .secret_string(rotated.to_secret_string())
        .send()
        .await
        .map_err(|e| sdk_error("PutSecretValue", secret_id, e))?;
    Ok(rotated)
}

struct State {
    keys: Option<Arc<KeySet>>,
    read_at: Option<Instant>,
    attempted: Option<Instant>,
}

/// The signing keys of one tenant's secret, cached as described above.
pub struct SecretsKeySource {
    client: Client,
    secret_id: String,
    state: Mutex<State>,
}

impl SecretsKeySource {
    pub fn new(client: Client, secret_id: impl Into<String>) -> SecretsKeySource {
        SecretsKeySource {
            client,
            secret_id: secret_id.into(),
            state: Mutex::new(State {
                keys: None,
                read_at: None,
                attempted: None,
            }),
        }
    }

    /// The cold-start read.
    pub async fn refresh(&self) -> Result<(), TokenError> {
        let mut state = self.state.lock().await;
        self.read(&mut state).await.map(|_| ())
    }

    async fn read(&self, state: &mut State) -> Result<Arc<KeySet>, TokenError> {
        let now = Instant::now();
        state.attempted = Some(now);
        let keys = Arc::new(read_keys(&self.client, &self.secret_id).await?);
        tracing::info!(secret = %self.secret_id, kids = ?keys.kids(), "signing keys loaded");
        state.keys = Some(Arc::clone(&keys));
        state.read_at = Some(now);
        Ok(keys)
    }
}

impl KeySource for SecretsKeySource {
    async fn keys(&self, kid: Option<&str>) -> Result<Arc<KeySet>, AuthError> {
        let mut state = self.state.lock().await;
        let now = Instant::now();
        let since = |t: Option<Instant>| t.map(|t| now.saturating_duration_since(t));
        let stale = since(state.read_at).is_none_or(|a| a >= KEYS_TTL);
        let unknown = match (&state.keys, kid) {
            (Some(k), Some(kid)) => k.find(kid).is_none(),
            _ => false,
        };
        let may_try = since(state.attempted).is_none_or(|a| a >= UNKNOWN_KID_INTERVAL);
        if (stale || unknown) && may_try {
            match self.read(&mut state).await {
                Ok(keys) => return Ok(keys),
                Err(e) => {
                    tracing::error!(secret = %self.secret_id, error = %e, "cannot read the signing keys")
                }
            }
        }
        state.keys.clone().ok_or(AuthError::Unavailable)
    }
}

/// A SCIM function's signing keys: the stack's secret, or none (access tokens refused)
/// when `SIGNING_SECRET_ARN` is unset. One type, so each function links one authenticator.
pub enum FunctionKeys {
    Secrets(SecretsKeySource),
    None,
}

impl KeySource for FunctionKeys {
    async fn keys(&self, kid: Option<&str>) -> Result<Arc<KeySet>, AuthError> {
        match self {
            FunctionKeys::Secrets(s) => s.keys(kid).await,
            FunctionKeys::None => Err(AuthError::Invalid),
        }
    }
}

impl FunctionKeys {
    /// From `SIGNING_SECRET_ARN` (not read yet: see [`FunctionKeys::warm`]).
    pub fn from_env(sdk: &aws_config::SdkConfig) -> FunctionKeys {
        match crate::config::var("SIGNING_SECRET_ARN") {
            Some(arn) => FunctionKeys::Secrets(SecretsKeySource::new(
                crate::tokens::client(sdk),
                arn.trim(),
            )),
            None => FunctionKeys::None,
        }
    }

    /// The cold-start read. A failure is logged, not fatal: requests with access tokens
    /// retry the read and get `503` until it succeeds.
    pub async fn warm(&self) {
        if let FunctionKeys::Secrets(source) = self {
            if let Err(e) = source.refresh().await {
                tracing::error!(error = %e, "cold start: cannot read the OAuth signing keys");
            }
        }
    }
}

/// `ACCESS_TOKEN_LIFETIME` (seconds; default 3600, bounded 3600–21600 like the stack
/// parameter).
pub fn lifetime_from_env() -> Result<u32, String> {
    match crate::config::var("ACCESS_TOKEN_LIFETIME") {
        None => Ok(3600),
        Some(v) => v
            .trim()
            .parse::<u32>()
            .map_err(|_| format!("ACCESS_TOKEN_LIFETIME '{v}' must be a number of seconds")),
    }
}

/// `ENTRA_LOGIN_URL`: where Entra's signing keys are fetched (default Microsoft's login
/// host). HTTPS, or http:// to a loopback stand-in only.
pub fn login_url_from_env() -> Result<String, String> {
    let url = crate::config::var("ENTRA_LOGIN_URL")
        .unwrap_or_else(|| scim_service::oauth::federation::DEFAULT_LOGIN_URL.to_string());
    check_login_url(&url)?;
    Ok(url.trim_end_matches('/').to_string())
}

/// HTTPS, or plain HTTP to loopback (a test stand-in); nothing else.
pub fn check_login_url(url: &str) -> Result<(), String> {
    let loopback = ["http://127.0.0.1:", "http://localhost:", "http://[::1]:"]
        .iter()
        .any(|p| url.starts_with(p));
    if url.starts_with("https://") || loopback {
        Ok(())
    } else {
        Err(format!(
            "ENTRA_LOGIN_URL '{url}' must be https:// (or http:// to a loopback address)"
        ))
    }
}
