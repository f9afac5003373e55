//! Bearer tokens in Secrets Manager: the token source every HTTP function authenticates
//! with, the secret's value format, and (in [`rotation`]) the four rotation steps that the
//! rotation function and the admin command share.
//!
//! **One secret per tenant.** Its value is `{"tenant":"<tenant id>","token":"<token>"}`; a
//! token authorises exactly the tenant written next to it. (A plain-string value, as a
//! stack's first `GenerateSecretString` may create, is bound to the function's configured
//! `TENANT_ID`.) The versions labelled `AWSCURRENT` and `AWSPREVIOUS` are accepted;
//! `AWSPENDING` is not (a rotation that never finishes must not leave a usable token).
//!
//! **Cache.** The accepted set is read at cold start and kept for [`CACHE_TTL`] (60 s): a
//! revoked token stops working within 60 s. A presented token that is not in a set older
//! than [`MISS_REFRESH_INTERVAL`] (10 s) causes one early re-read, so a newly generated
//! token works within seconds. When Secrets Manager cannot be read, the last set keeps
//! being served until it is [`CACHE_MAX_AGE`] (5 minutes) old, then requests get `503`; a
//! failed read is not retried for [`REFRESH_BACKOFF`]. One read runs at a time; concurrent
//! requests wait for it instead of each calling Secrets Manager.
//!
//! Every read names its stage (`VersionStage`): moto returns a stale value for a read
//! without one after `UpdateSecretVersionStage`, and naming it is clearer anyway.
//!
//! Tokens never reach a log line, an error or a `Debug` output: [`BearerToken`] prints
//! only its token id (a digest prefix). The SDK's own TRACE output prints whole requests,
//! so processes that write secrets install [`sdk_wire_filter`]. Never set the SDK's
//! `LOG_SENSITIVE_BODIES` or `LOG_SIGNABLE_BODY` in a deployed function: they disable its
//! redaction of secret values.

use crate::config::check_tenant_id;
use aws_sdk_secretsmanager::error::{DisplayErrorContext, SdkError};
use aws_sdk_secretsmanager::primitives::DateTimeFormat;
use aws_sdk_secretsmanager::Client;
use scim_service::auth::{bearer_token, token_id, AuthError, Authenticator, Principal, TokenSet};
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{Mutex, RwLock};

pub mod admin;
pub mod rotation;
#[cfg(feature = "notices")]
pub mod watch;

pub const AWSCURRENT: &str = "AWSCURRENT";
pub const AWSPREVIOUS: &str = "AWSPREVIOUS";
pub const AWSPENDING: &str = "AWSPENDING";

/// How long a read of the secret is trusted: the bound on how long a revoked token works.
pub const CACHE_TTL: Duration = Duration::from_secs(60);
/// How old a cached set may get while Secrets Manager cannot be read; then `503`.
pub const CACHE_MAX_AGE: Duration = Duration::from_secs(300);
/// After a failed read, requests use the cache (or get `503`) for this long before the
/// next attempt.
pub const REFRESH_BACKOFF: Duration = Duration::from_secs(5);
/// A token that is not in a set at least this old triggers one early re-read, so a newly
/// generated token works within seconds; unknown tokens cannot cause more than one read
/// per interval.
pub const MISS_REFRESH_INTERVAL: Duration = Duration::from_secs(10);
/// Shortest token accepted from a secret (a generated token has 43 characters).
pub const MIN_TOKEN_CHARS: usize = 32;
/// Secrets Manager calls give up after this long (the functions' timeout is 10 s).
pub const SDK_OPERATION_TIMEOUT: Duration = Duration::from_secs(3);

/// Why reading, writing or rotating a token secret failed. Never carries a token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// The secret, or the version or stage asked for, does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// A stored value is not a token secret (the message never quotes the value).
    #[error("bad token secret: {0}")]
    BadValue(String),
    /// Secrets Manager refused the call or could not be reached.
    #[error("Secrets Manager: {0}")]
    Sdk(String),
    /// A rotation step cannot proceed.
    #[error("rotation: {0}")]
    Rotation(String),
    /// The random generator failed.
    #[error("{0}")]
    Random(String),
    /// Not possible as asked (a secret bound to another tenant, a missing secret that
    /// cannot be created without a tenant): the caller's mistake.
    #[error("{0}")]
    Refused(String),
}

/// A Secrets Manager failure as a [`TokenError`] (the SDK's messages carry no secret values).
pub fn sdk_error<E, R>(call: &str, secret_id: &str, e: SdkError<E, R>) -> TokenError
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    TokenError::Sdk(format!(
        "{call} on {secret_id}: {}",
        DisplayErrorContext(&e)
    ))
}

/// A bearer token. Its `Debug` shows only the token id; there is no `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct BearerToken(String);

impl BearerToken {
    /// A new token from the workspace's one generator (256 bits, base64url).
    pub fn generate() -> Result<BearerToken, TokenError> {
        scim_service::auth::generate_token()
            .map(BearerToken)
            .map_err(TokenError::Random)
    }

    /// Accepts a stored token: RFC 6750 characters, at least [`MIN_TOKEN_CHARS`] long.
    pub fn parse(token: &str) -> Result<BearerToken, TokenError> {
        let token = token.trim();
        let header = format!("Bearer {token}");
        if token.len() < MIN_TOKEN_CHARS || bearer_token(Some(&header)).is_err() {
            return Err(TokenError::BadValue(format!(
                "the token must be at least {MIN_TOKEN_CHARS} characters of A-Z a-z 0-9 - . _ ~ + / ="
            )));
        }
        Ok(BearerToken(token.to_string()))
    }

    /// The token itself: only for the `Authorization` comparison and for printing it once.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The non-secret token id that logs and listings show.
    pub fn id(&self) -> String {
        token_id(&self.0)
    }
}

impl std::fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BearerToken(id={})", self.id())
    }
}

/// The value of one version of a tenant's token secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenSecret {
    pub tenant: String,
    pub token: BearerToken,
}

#[derive(Serialize, Deserialize)]
struct Wire<'a> {
    tenant: std::borrow::Cow<'a, str>,
    token: std::borrow::Cow<'a, str>,
}

impl TokenSecret {
    pub fn new(tenant: &str, token: BearerToken) -> Result<TokenSecret, TokenError> {
        check_tenant_id(tenant).map_err(TokenError::BadValue)?;
        Ok(TokenSecret {
            tenant: tenant.to_string(),
            token,
        })
    }

    /// Parses a secret value: the JSON form, or a bare token bound to `fallback_tenant`.
    /// Errors never quote the value.
    pub fn parse(value: &str, fallback_tenant: Option<&str>) -> Result<TokenSecret, TokenError> {
        let value = value.trim();
        if value.starts_with('{') {
            let wire: Wire<'_> = serde_json::from_str(value).map_err(|e| {
                TokenError::BadValue(format!(
                    "the value must be {{\"tenant\":\"...\",\"token\":\"...\"}} (JSON error at line {}, column {})",
                    e.line(),
                    e.column()
                ))
            })?;
            return TokenSecret::new(&wire.tenant, BearerToken::parse(&wire.token)?);
        }
        let tenant = fallback_tenant.ok_or_else(|| {
            TokenError::BadValue(
                "the value is a bare token but no tenant is configured to bind it to; store {\"tenant\":\"...\",\"token\":\"...\"}".into(),
            )
        })?;
        TokenSecret::new(tenant, BearerToken::parse(value)?)
    }

    /// The JSON stored in Secrets Manager.
    pub fn to_secret_string(&self) -> String {
        serde_json::to_string(&Wire {
            tenant: self.tenant.as_str().into(),
            token: self.token.expose().into(),
        })
        .unwrap_or_default()
    }
}

/// One version of the secret as read with an explicit stage.
#[derive(Debug, Clone)]
pub struct StoredVersion {
    pub version_id: String,
    pub stages: Vec<String>,
    /// RFC 3339, when Secrets Manager reports it.
    pub created: Option<String>,
    /// The parsed value, or why it is not a token secret.
    pub secret: Result<TokenSecret, TokenError>,
}

/// Reads the version of `secret_id` labelled `stage`; `None` when no version carries it
/// (or the secret does not exist).
pub async fn read_stage(
    client: &Client,
    secret_id: &str,
    stage: &str,
    fallback_tenant: Option<&str>,
) -> Result<Option<StoredVersion>, TokenError> {
    read(client, secret_id, None, stage, fallback_tenant).await
}

/// Reads version `version_id` of `secret_id`, which must carry `stage`; `None` when it
/// does not exist or has no value yet.
pub async fn read_version(
    client: &Client,
    secret_id: &str,
    version_id: &str,
    stage: &str,
    fallback_tenant: Option<&str>,
) -> Result<Option<StoredVersion>, TokenError> {
    read(client, secret_id, Some(version_id), stage, fallback_tenant).await
}

async fn read(
    client: &Client,
    secret_id: &str,
    version_id: Option<&str>,
    stage: &str,
    fallback_tenant: Option<&str>,
) -> Result<Option<StoredVersion>, TokenError> {
    let out = client
        .get_secret_value()
        .secret_id(secret_id)
        .set_version_id(version_id.map(str::to_string))
        .version_stage(stage)
        .send()
        .await;
    let out = match out {
        Ok(out) => out,
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception()) =>
        {
            return Ok(None)
        }
        Err(e) => return Err(sdk_error("GetSecretValue", secret_id, e)),
    };
    let secret = match out.secret_string() {
        Some(s) => TokenSecret::parse(s, fallback_tenant),
        None => Err(TokenError::BadValue(
            "the version has no string value".into(),
        )),
    };
    Ok(Some(StoredVersion {
        version_id: out.version_id().unwrap_or_default().to_string(),
        stages: out.version_stages().to_vec(),
        created: out
            .created_date()
            .and_then(|d| d.fmt(DateTimeFormat::DateTime).ok()),
        secret,
    }))
}

/// A Secrets Manager client for the token source and the rotation function: the SDK's
/// standard configuration (`AWS_ENDPOINT_URL_SECRETS_MANAGER` points it at moto) with an
/// operation timeout, so an unreachable endpoint costs seconds, not the whole invocation.
pub fn client(sdk: &aws_config::SdkConfig) -> Client {
    let timeouts = aws_sdk_secretsmanager::config::timeout::TimeoutConfig::builder()
        .operation_timeout(SDK_OPERATION_TIMEOUT)
        .build();
    let conf = aws_sdk_secretsmanager::config::Builder::from(sdk)
        .timeout_config(timeouts)
        .build();
    Client::from_conf(conf)
}

/// Drops the SDK's TRACE events. `aws_smithy_runtime` prints each whole request at TRACE
/// ("transmitting request"); with today's SDK the body shows as an opaque `BoxBody`, but
/// an in-memory body prints its bytes, and a `PutSecretValue` body holds a new token.
/// Defence in depth for every process that writes token secrets; harmless anywhere.
pub fn sdk_wire_filter() -> tracing_subscriber::filter::FilterFn {
    tracing_subscriber::filter::FilterFn::new(|meta: &tracing::Metadata<'_>| {
        !(*meta.level() == tracing::Level::TRACE && meta.target().starts_with("aws_smithy_"))
    })
}

/// Where the token cache reads the time; tests use [`ManualClock`].
pub trait Clock: Send + Sync {
    fn now(&self) -> Instant;
}

#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// A clock that moves only when told to (clones share the same time).
#[derive(Debug, Clone)]
pub struct ManualClock {
    start: Instant,
    offset_ms: Arc<AtomicU64>,
}

impl Default for ManualClock {
    fn default() -> Self {
        ManualClock {
            start: Instant::now(),
            offset_ms: Arc::new(AtomicU64::new(0)),
        }
    }
}

impl ManualClock {
    pub fn new() -> ManualClock {
        ManualClock::default()
    }

    pub fn advance(&self, by: Duration) {
        self.offset_ms
            .fetch_add(by.as_millis() as u64, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        self.start + Duration::from_millis(self.offset_ms.load(Ordering::SeqCst))
    }
}

struct Cached {
    read_at: Instant,
    tokens: Arc<TokenSet>,
}

#[derive(Default)]
struct RefreshState {
    failed_at: Option<Instant>,
}

/// The [`Authenticator`] of every deployed function: the tokens of one or more tenant
/// secrets (one secret per tenant), cached as described in the module documentation.
pub struct SecretsTokenSource<C: Clock = SystemClock> {
    client: Client,
    secret_ids: Vec<String>,
    fallback_tenant: Option<String>,
    ttl: Duration,
    max_age: Duration,
    clock: C,
    cache: RwLock<Option<Cached>>,
    refresh: Mutex<RefreshState>,
    reads: AtomicU64,
}

impl SecretsTokenSource<SystemClock> {
    /// Reads the secrets named (name or ARN) in `secret_ids`.
    pub fn new<I, S>(client: Client, secret_ids: I) -> SecretsTokenSource<SystemClock>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        SecretsTokenSource {
            client,
            secret_ids: secret_ids.into_iter().map(Into::into).collect(),
            fallback_tenant: None,
            ttl: CACHE_TTL,
            max_age: CACHE_MAX_AGE,
            clock: SystemClock,
            cache: RwLock::new(None),
            refresh: Mutex::new(RefreshState::default()),
            reads: AtomicU64::new(0),
        }
    }
}

impl<C: Clock> SecretsTokenSource<C> {
    /// The tenant a bare-token secret value is bound to (the function's `TENANT_ID`).
    pub fn with_fallback_tenant(mut self, tenant: impl Into<String>) -> Self {
        self.fallback_tenant = Some(tenant.into());
        self
    }

    pub fn with_clock<D: Clock>(self, clock: D) -> SecretsTokenSource<D> {
        SecretsTokenSource {
            client: self.client,
            secret_ids: self.secret_ids,
            fallback_tenant: self.fallback_tenant,
            ttl: self.ttl,
            max_age: self.max_age,
            clock,
            cache: self.cache,
            refresh: self.refresh,
            reads: self.reads,
        }
    }

    /// How many times the secrets have been read (attempts, successful or not).
    pub fn reads(&self) -> u64 {
        self.reads.load(Ordering::Relaxed)
    }

    /// Reads the secrets now (the cold-start read) and replaces the cache.
    pub async fn refresh(&self) -> Result<(), TokenError> {
        let mut state = self.refresh.lock().await;
        let now = self.clock.now();
        match self.fetch().await {
            Ok(set) => {
                self.store(now, set).await;
                state.failed_at = None;
                Ok(())
            }
            Err(e) => {
                state.failed_at = Some(now);
                Err(e)
            }
        }
    }

    /// The cached set if it was read less than `fresh_for` ago.
    async fn cached(&self, now: Instant, fresh_for: Duration) -> Option<(Arc<TokenSet>, Instant)> {
        let cache = self.cache.read().await;
        cache
            .as_ref()
            .filter(|c| now.saturating_duration_since(c.read_at) < fresh_for)
            .map(|c| (Arc::clone(&c.tokens), c.read_at))
    }

    async fn store(&self, now: Instant, set: TokenSet) -> Arc<TokenSet> {
        let tokens = Arc::new(set);
        *self.cache.write().await = Some(Cached {
            read_at: now,
            tokens: Arc::clone(&tokens),
        });
        tokens
    }

    /// The accepted tokens and when they were read: cached, re-read when older than
    /// `fresh_for`, stale for a while when Secrets Manager cannot be read.
    async fn tokens(&self, fresh_for: Duration) -> Result<(Arc<TokenSet>, Instant), AuthError> {
        if let Some(t) = self.cached(self.clock.now(), fresh_for).await {
            return Ok(t);
        }
        let mut state = self.refresh.lock().await;
        let now = self.clock.now();
        // Another request refreshed while this one waited for the lock.
        if let Some(t) = self.cached(now, fresh_for).await {
            return Ok(t);
        }
        let backing_off = state
            .failed_at
            .is_some_and(|at| now.saturating_duration_since(at) < REFRESH_BACKOFF);
        if !backing_off {
            match self.fetch().await {
                Ok(set) => {
                    state.failed_at = None;
                    return Ok((self.store(now, set).await, now));
                }
                Err(e) => {
                    tracing::error!(error = %e, "cannot read the bearer-token secret");
                    state.failed_at = Some(now);
                }
            }
        }
        let cache = self.cache.read().await;
        match cache.as_ref() {
            Some(c) if now.saturating_duration_since(c.read_at) < self.max_age => {
                tracing::warn!(
                    age_s = now.saturating_duration_since(c.read_at).as_secs(),
                    "using the cached bearer tokens; Secrets Manager cannot be read"
                );
                Ok((Arc::clone(&c.tokens), c.read_at))
            }
            _ => Err(AuthError::Unavailable),
        }
    }

    /// Reads `AWSCURRENT` (required) and `AWSPREVIOUS` (optional) of every secret.
    async fn fetch(&self) -> Result<TokenSet, TokenError> {
        self.reads.fetch_add(1, Ordering::Relaxed);
        crate::metrics::count_token_cache_refresh();
        let mut set = TokenSet::new();
        let mut loaded: Vec<String> = Vec::new();
        let fallback = self.fallback_tenant.as_deref();
        for id in &self.secret_ids {
            let (current, previous) = tokio::join!(
                read_stage(&self.client, id, AWSCURRENT, fallback),
                read_stage(&self.client, id, AWSPREVIOUS, fallback),
            );
            let current = current?
                .ok_or_else(|| TokenError::NotFound(format!("{id} has no {AWSCURRENT} version")))?;
            let current_secret = current.secret.map_err(|e| {
                TokenError::BadValue(format!("{id} {AWSCURRENT} ({}): {e}", current.version_id))
            })?;
            set.add(current_secret.token.expose(), &current_secret.tenant);
            loaded.push(format!(
                "{}={} {AWSCURRENT}",
                current_secret.tenant,
                current_secret.token.id()
            ));
            if let Some(previous) = previous? {
                match previous.secret {
                    Ok(s) if s.tenant == current_secret.tenant => {
                        set.add(s.token.expose(), &s.tenant);
                        loaded.push(format!("{}={} {AWSPREVIOUS}", s.tenant, s.token.id()));
                    }
                    Ok(_) => tracing::warn!(
                        secret = %id,
                        version = %previous.version_id,
                        "ignoring the {AWSPREVIOUS} token: it names another tenant than {AWSCURRENT}"
                    ),
                    Err(e) => tracing::warn!(
                        secret = %id,
                        version = %previous.version_id,
                        error = %e,
                        "ignoring the {AWSPREVIOUS} version"
                    ),
                }
            }
        }
        tracing::info!(tokens = %loaded.join(", "), "bearer tokens loaded");
        Ok(set)
    }
}

impl<C: Clock> Authenticator for SecretsTokenSource<C> {
    async fn authenticate(&self, authorization: Option<&str>) -> Result<Principal, AuthError> {
        // Header problems are answered without reading the secret.
        let token = bearer_token(authorization)?;
        let (tokens, read_at) = self.tokens(self.ttl).await?;
        match tokens.check(token) {
            Err(AuthError::Invalid)
                if self.clock.now().saturating_duration_since(read_at) >= MISS_REFRESH_INTERVAL =>
            {
                // Perhaps a token generated since the last read.
                let (tokens, _) = self.tokens(MISS_REFRESH_INTERVAL).await?;
                tokens.check(token)
            }
            checked => checked,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const TOKEN: &str = "abcdefghijklmnopqrstuvwxyz0123456789-_AB";

    #[test]
    fn the_json_value_binds_the_token_to_its_tenant() {
        let s =
            TokenSecret::parse(&format!(r#"{{"tenant":"acme","token":"{TOKEN}"}}"#), None).unwrap();
        assert_eq!(s.tenant, "acme");
        assert_eq!(s.token.expose(), TOKEN);
        let again = TokenSecret::parse(&s.to_secret_string(), Some("other")).unwrap();
        assert_eq!(again, s);
    }

    #[test]
    fn a_bare_value_needs_a_configured_tenant() {
        assert!(TokenSecret::parse(TOKEN, None).is_err());
        assert_eq!(
            TokenSecret::parse(TOKEN, Some("acme")).unwrap().tenant,
            "acme"
        );
    }

    #[test]
    fn bad_values_are_refused_without_quoting_them() {
        for bad in [
            r#"{"tenant":"acme","token":"short"}"#.to_string(),
            format!(r#"{{"tenant":"ACME!","token":"{TOKEN}"}}"#),
            format!(r#"{{"tenant":"acme","token":"{TOKEN} x"}}"#),
            format!(r#"{{"tenant":"acme","tok":"{TOKEN}"}}"#),
            format!(r#"{{"tenant":"acme","token":"{TOKEN}""#),
        ] {
            let e = TokenSecret::parse(&bad, Some("acme")).unwrap_err();
            assert!(!e.to_string().contains(TOKEN), "{e}");
            assert!(!e.to_string().contains("short"), "{e}");
        }
    }

    #[test]
    fn debug_output_shows_only_the_token_id() {
        let t = BearerToken::parse(TOKEN).unwrap();
        let s = TokenSecret::new("acme", t.clone()).unwrap();
        let shown = format!("{s:?} {t:?}");
        assert!(!shown.contains(TOKEN));
        assert!(shown.contains(&t.id()));
    }

    #[test]
    fn the_manual_clock_moves_only_when_advanced() {
        let c = ManualClock::new();
        let t0 = c.now();
        assert_eq!(c.now(), t0);
        c.clone().advance(Duration::from_secs(61));
        assert_eq!(c.now() - t0, Duration::from_secs(61));
    }
}
