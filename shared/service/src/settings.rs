//! A tenant's provisioning settings and the identity provider's usage of its tokens: what
//! the product's settings dialog shows and switches (`/app/v1/settings`), and the gate every
//! SCIM request passes.
//!
//! **One call a minute, not one per request.** The SCIM path must not pay a DynamoDB call
//! per request to learn whether provisioning is enabled. [`Gate`] keeps, per tenant, the
//! settings it last read and, per token and client kind, when it last recorded their use;
//! when that record is older than [`Gate::ttl`] (60 s, the token cache's bound), or the
//! request comes from a token or client kind not yet recorded, it makes one call that both
//! records the use ([`SettingsStore::record_usage`]: token id, client kind, time) and
//! returns the settings. So the usage figures are at most a minute stale per warm instance,
//! writes are bounded by instances × tokens in use × 1/minute (two tokens used in turn, as
//! mid-rotation, do not make a write per request), and disabling provisioning takes effect
//! within the minute — at once where the writer shares the gate (the local server).
//!
//! The per-token record is what keeps rotation from cutting an identity provider off: a
//! scheduled rotation refuses to retire a token used recently (`scim_aws::tokens::rotation`).

use crate::port::StoreResult;
use scim_core::error::ScimError;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Which identity provider a request came from, by its `User-Agent`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ClientKind {
    Entra,
    Okta,
    Other,
}

impl ClientKind {
    /// Okta sends `Okta SCIM Client ...`; Entra's provisioning service names Azure AD,
    /// Microsoft or Entra. Anything else (curl, scim2-tester, a custom client) is `Other`.
    pub fn from_user_agent(ua: Option<&str>) -> ClientKind {
        let ua = ua.unwrap_or("").to_ascii_lowercase();
        if ua.contains("okta") {
            ClientKind::Okta
        } else if ["azure", "microsoft", "entra", "aad"]
            .iter()
            .any(|k| ua.contains(k))
        {
            ClientKind::Entra
        } else {
            ClientKind::Other
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ClientKind::Entra => "entra",
            ClientKind::Okta => "okta",
            ClientKind::Other => "other",
        }
    }

    pub fn parse(s: &str) -> ClientKind {
        match s {
            "entra" => ClientKind::Entra,
            "okta" => ClientKind::Okta,
            _ => ClientKind::Other,
        }
    }
}

/// When a token was last used, and by what kind of client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Usage {
    /// RFC 3339, UTC.
    pub at: String,
    pub client: ClientKind,
}

/// A tenant's settings as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantSettings {
    pub provisioning_enabled: bool,
    /// The identity provider's latest recorded request.
    pub last_call: Option<Usage>,
    /// Latest recorded use of each token, by token id.
    pub token_usage: BTreeMap<String, Usage>,
    /// OAuth clients revoked (`crate::oauth::clients`): access tokens already issued to
    /// them are refused by the gate from its next reading on.
    pub revoked_clients: BTreeSet<String>,
}

impl Default for TenantSettings {
    fn default() -> Self {
        TenantSettings {
            provisioning_enabled: true,
            last_call: None,
            token_usage: BTreeMap::new(),
            revoked_clients: BTreeSet::new(),
        }
    }
}

/// Where settings live (the DynamoDB store: one item per tenant).
pub trait SettingsStore: Send + Sync {
    /// The tenant's settings (defaults when never written).
    fn settings(&self, tenant: &str) -> impl Future<Output = StoreResult<TenantSettings>> + Send;

    /// Switches provisioning on or off.
    fn set_provisioning_enabled(
        &self,
        tenant: &str,
        enabled: bool,
        at: &str,
    ) -> impl Future<Output = StoreResult<TenantSettings>> + Send;

    /// Records that `token_id` was used by `client` at `at`, and returns the settings.
    fn record_usage(
        &self,
        tenant: &str,
        token_id: &str,
        client: ClientKind,
        at: &str,
    ) -> impl Future<Output = StoreResult<TenantSettings>> + Send;
}

/// Which slot a bearer token holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenStage {
    /// The token the identity provider should hold now.
    Current,
    /// The token it replaced: still accepted until retired.
    Previous,
}

impl TokenStage {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenStage::Current => "current",
            TokenStage::Previous => "previous",
        }
    }
}

/// A bearer token as the settings dialog lists it: never the token itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    /// The non-secret token id ([`crate::auth::token_id`]), as in logs and audit records.
    pub id: String,
    /// RFC 3339, UTC, when known.
    pub created: Option<String>,
    pub stage: TokenStage,
}

/// A token just generated: shown once, never again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewToken {
    pub id: String,
    pub token: String,
    pub created: String,
}

/// Why the token store could not do what was asked (a server-side fault).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenAdminError(pub String);

impl std::fmt::Display for TokenAdminError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a tenant's bearer tokens are made and retired (Secrets Manager in a stack, the
/// local server's token files locally).
pub trait TokenAdmin: Send + Sync {
    /// Current first, then previous.
    fn tokens(
        &self,
        tenant: &str,
    ) -> impl Future<Output = Result<Vec<TokenInfo>, TokenAdminError>> + Send;

    /// Makes a new current token; the one it replaces becomes previous (and keeps working),
    /// the one that was previous is retired.
    fn generate(
        &self,
        tenant: &str,
    ) -> impl Future<Output = Result<NewToken, TokenAdminError>> + Send;

    /// Retires the previous token; `None` when there is none.
    fn retire_previous(
        &self,
        tenant: &str,
    ) -> impl Future<Output = Result<Option<TokenInfo>, TokenAdminError>> + Send;
}

/// At most this many (token, client kind) record times are kept per tenant; past it the
/// oldest are forgotten (they are only a write-saving memo).
const RECORDED_MAX: usize = 16;

struct Cached {
    enabled: bool,
    revoked: Arc<BTreeSet<String>>,
    /// When this instance last recorded each (token id, client kind)'s use; every record
    /// also re-read the settings, so a fresh entry means fresh settings.
    recorded: HashMap<(String, ClientKind), Instant>,
}

/// The per-process cache of each tenant's settings that the SCIM path consults.
pub struct Gate {
    ttl: Duration,
    tenants: Mutex<HashMap<String, Cached>>,
}

impl Default for Gate {
    fn default() -> Self {
        Gate::new(Duration::from_secs(60))
    }
}

impl Gate {
    pub fn new(ttl: Duration) -> Gate {
        Gate {
            ttl,
            tenants: Mutex::new(HashMap::new()),
        }
    }

    /// How long a reading of the settings is trusted.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Lets a SCIM request through unless provisioning is disabled for its tenant (`403`)
    /// or the credential is a revoked OAuth client's access token (`401`). Makes at most
    /// one store call per tenant per [`Gate::ttl`] (and one when a new token or client kind
    /// appears). A store failure does not refuse the request: the last known setting (or
    /// "enabled") stands, and the next request tries again.
    pub async fn admit<S: SettingsStore>(
        &self,
        store: &S,
        tenant: &str,
        token_id: &str,
        client: ClientKind,
        now: &str,
    ) -> Result<(), ScimError> {
        let known = self.fresh(tenant, token_id, client);
        let (enabled, revoked) = match known {
            Some(known) => known,
            None => match store.record_usage(tenant, token_id, client, now).await {
                Ok(settings) => {
                    let revoked = settings.revoked_clients.contains(token_id);
                    self.remember(tenant, &settings, token_id, client);
                    (settings.provisioning_enabled, revoked)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "provisioning settings could not be read");
                    self.last_known(tenant, token_id).unwrap_or((true, false))
                }
            },
        };
        if revoked {
            return Err(ScimError::unauthorized(
                "The access token's OAuth client has been revoked.",
            ));
        }
        if enabled {
            Ok(())
        } else {
            Err(ScimError::new(
                403,
                None,
                "Provisioning is disabled for this tenant. An administrator of the application can enable it in its SCIM provisioning settings.",
            ))
        }
    }

    /// What a writer in the same process just stored: takes effect at once.
    pub fn set(&self, tenant: &str, enabled: bool) {
        self.update(tenant, |c| c.enabled = enabled);
    }

    /// A client revoked by a writer in the same process: its tokens stop at once.
    pub fn revoke(&self, tenant: &str, client_id: &str) {
        self.update(tenant, |c| {
            let mut set = (*c.revoked).clone();
            set.insert(client_id.to_string());
            c.revoked = Arc::new(set);
        });
    }

    fn update(&self, tenant: &str, f: impl FnOnce(&mut Cached)) {
        if let Ok(mut map) = self.tenants.lock() {
            // Nothing recorded: the next request reads the store and records its use.
            let c = map.entry(tenant.to_string()).or_insert_with(|| Cached {
                enabled: true,
                revoked: Arc::default(),
                recorded: HashMap::new(),
            });
            f(c);
        }
    }

    fn fresh(&self, tenant: &str, token_id: &str, client: ClientKind) -> Option<(bool, bool)> {
        let map = self.tenants.lock().ok()?;
        let c = map.get(tenant)?;
        let at = c.recorded.get(&(token_id.to_string(), client))?;
        (at.elapsed() < self.ttl).then(|| (c.enabled, c.revoked.contains(token_id)))
    }

    fn last_known(&self, tenant: &str, token_id: &str) -> Option<(bool, bool)> {
        let map = self.tenants.lock().ok()?;
        map.get(tenant)
            .map(|c| (c.enabled, c.revoked.contains(token_id)))
    }

    fn remember(
        &self,
        tenant: &str,
        settings: &TenantSettings,
        token_id: &str,
        client: ClientKind,
    ) {
        if let Ok(mut map) = self.tenants.lock() {
            let c = map.entry(tenant.to_string()).or_insert_with(|| Cached {
                enabled: true,
                revoked: Arc::default(),
                recorded: HashMap::new(),
            });
            c.enabled = settings.provisioning_enabled;
            c.revoked = Arc::new(settings.revoked_clients.clone());
            let ttl = self.ttl;
            c.recorded.retain(|_, at| at.elapsed() < ttl);
            if c.recorded.len() >= RECORDED_MAX {
                if let Some(oldest) = c
                    .recorded
                    .iter()
                    .min_by_key(|(_, at)| **at)
                    .map(|(k, _)| k.clone())
                {
                    c.recorded.remove(&oldest);
                }
            }
            c.recorded
                .insert((token_id.to_string(), client), Instant::now());
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

    #[derive(Default)]
    struct Counting {
        calls: AtomicU32,
        disabled: AtomicBool,
    }

    impl SettingsStore for Counting {
        async fn settings(&self, _: &str) -> StoreResult<TenantSettings> {
            unreachable!()
        }
        async fn set_provisioning_enabled(
            &self,
            _: &str,
            _: bool,
            _: &str,
        ) -> StoreResult<TenantSettings> {
            unreachable!()
        }
        async fn record_usage(
            &self,
            _: &str,
            _: &str,
            _: ClientKind,
            _: &str,
        ) -> StoreResult<TenantSettings> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            Ok(TenantSettings {
                provisioning_enabled: !self.disabled.load(Ordering::SeqCst),
                ..TenantSettings::default()
            })
        }
    }

    #[tokio::test]
    async fn the_gate_reads_once_per_ttl_and_again_for_a_new_token_or_client() {
        let store = Counting::default();
        let gate = Gate::default();
        let t = "2026-12-01T00:00:00Z";
        for _ in 0..5 {
            gate.admit(&store, "a", "tok1", ClientKind::Entra, t)
                .await
                .unwrap();
        }
        assert_eq!(store.calls.load(Ordering::SeqCst), 1);
        gate.admit(&store, "a", "tok2", ClientKind::Entra, t)
            .await
            .unwrap();
        gate.admit(&store, "a", "tok2", ClientKind::Okta, t)
            .await
            .unwrap();
        assert_eq!(store.calls.load(Ordering::SeqCst), 3);
        gate.admit(&store, "b", "tok2", ClientKind::Okta, t)
            .await
            .unwrap();
        assert_eq!(store.calls.load(Ordering::SeqCst), 4, "per tenant");
    }

    #[tokio::test]
    async fn two_tokens_used_in_turn_are_recorded_once_each_per_ttl() {
        let store = Counting::default();
        let gate = Gate::default();
        let t = "2026-12-01T00:00:00Z";
        // Mid-rotation: the IdP's old token and a test with the new one, interleaved.
        for _ in 0..10 {
            for tok in ["old", "new"] {
                gate.admit(&store, "a", tok, ClientKind::Entra, t)
                    .await
                    .unwrap();
            }
        }
        assert_eq!(store.calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn disabled_is_403_after_the_ttl_and_at_once_when_set_in_process() {
        let store = Counting::default();
        let gate = Gate::new(Duration::from_millis(30));
        let t = "2026-12-01T00:00:00Z";
        gate.admit(&store, "a", "tok", ClientKind::Okta, t)
            .await
            .unwrap();
        store.disabled.store(true, Ordering::SeqCst);
        assert!(
            gate.admit(&store, "a", "tok", ClientKind::Okta, t)
                .await
                .is_ok(),
            "cached"
        );
        tokio::time::sleep(Duration::from_millis(40)).await;
        let e = gate
            .admit(&store, "a", "tok", ClientKind::Okta, t)
            .await
            .unwrap_err();
        assert_eq!(e.status, 403);
        gate.set("a", true);
        assert!(gate
            .admit(&store, "a", "tok", ClientKind::Okta, t)
            .await
            .is_ok());
    }

    #[test]
    fn client_kinds_come_from_the_user_agent() {
        assert_eq!(
            ClientKind::from_user_agent(Some("Okta SCIM Client 1.0.0")),
            ClientKind::Okta
        );
        assert_eq!(
            ClientKind::from_user_agent(Some("Azure AD SCIM client")),
            ClientKind::Entra
        );
        assert_eq!(
            ClientKind::from_user_agent(Some("curl/8.0")),
            ClientKind::Other
        );
        assert_eq!(ClientKind::from_user_agent(None), ClientKind::Other);
    }
}
