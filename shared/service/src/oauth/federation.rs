//! Workload identity federation: checking a client assertion that Microsoft Entra ID
//! signed (RFC 7523 §2.2 client authentication; Microsoft's *Workload Identity Federation
//! for SCIM Provisioning*).
//!
//! An assertion is accepted for a federated client when it is an `RS256` JWS with a `kid`
//! found in the Entra tenant's published keys
//! (`{login}/{tenant}/discovery/v2.0/keys`), issued by
//! `https://login.microsoftonline.com/{tenant}/v2.0` to the trusted `sub` for the trusted
//! `aud`, carrying that `tid`, currently valid (`exp`, `nbf`, `iat` with [`SKEW_SECS`] of
//! skew), valid for at most [`MAX_ASSERTION_LIFETIME_SECS`], and not seen before (the
//! caller claims its replay key in the store until it expires).
//!
//! **Keys cache.** Per Entra tenant, by `kid`: a fetched key set is used for up to
//! [`KEYS_MAX_AGE`] (24 h) and re-fetched when older than [`KEYS_REFRESH`] (1 h) on the next
//! assertion — a Lambda function has no background between invocations, so the refresh
//! runs then, and if it fails the cached keys keep serving until the 24 h are up. An
//! unknown `kid` causes at most one re-fetch per [`UNKNOWN_KID_REFETCH`] (5 minutes), so a
//! stream of forged `kid`s cannot make the service hammer Microsoft.

use crate::oauth::clients::FederationTrust;
use crate::oauth::jwt::{b64url, Jws};
use crate::oauth::keys::SKEW_SECS;
use serde_json::Value;
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The issuer Entra's assertions name, whatever host the keys are fetched from.
pub const ENTRA_ISSUER_HOST: &str = "https://login.microsoftonline.com";
/// Microsoft's login host, where the keys are fetched from by default.
pub const DEFAULT_LOGIN_URL: &str = "https://login.microsoftonline.com";
/// The longest validity accepted (`exp` − `nbf`/`iat`). Entra's access tokens live 60–90
/// minutes (Microsoft's example assertion: 65); anything much longer is not Entra's.
pub const MAX_ASSERTION_LIFETIME_SECS: i64 = 2 * 3600;
pub const KEYS_REFRESH: Duration = Duration::from_secs(3600);
pub const KEYS_MAX_AGE: Duration = Duration::from_secs(24 * 3600);
pub const UNKNOWN_KID_REFETCH: Duration = Duration::from_secs(300);
/// The largest key set read.
pub const MAX_JWKS_BYTES: usize = 256 * 1024;

/// Why an assertion was refused. Each names what failed, never the assertion's content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssertionError {
    Malformed,
    Algorithm,
    MissingKid,
    UnknownKid,
    Signature,
    Issuer,
    Audience,
    Subject,
    Tenant,
    Expired,
    NotYetValid,
    TooLong,
    /// Microsoft's keys could not be fetched and none are cached (a transient fault).
    KeysUnavailable,
}

impl AssertionError {
    pub fn describe(self) -> &'static str {
        match self {
            AssertionError::Malformed => "the client assertion is not a JWT",
            AssertionError::Algorithm => "the client assertion must be signed with RS256",
            AssertionError::MissingKid => "the client assertion names no key (kid)",
            AssertionError::UnknownKid => {
                "the client assertion's key is not one of the Entra tenant's published keys"
            }
            AssertionError::Signature => "the client assertion's signature does not verify",
            AssertionError::Issuer => {
                "the client assertion's issuer is not the trusted Entra tenant"
            }
            AssertionError::Audience => {
                "the client assertion's audience is not the trusted audience"
            }
            AssertionError::Subject => "the client assertion's subject is not the trusted subject",
            AssertionError::Tenant => {
                "the client assertion's tenant (tid) is not the trusted Entra tenant"
            }
            AssertionError::Expired => "the client assertion has expired",
            AssertionError::NotYetValid => "the client assertion is not valid yet",
            AssertionError::TooLong => "the client assertion is valid for longer than accepted",
            AssertionError::KeysUnavailable => "the Entra tenant's signing keys cannot be fetched",
        }
    }
}

/// What a verified assertion leaves to the caller: the name to claim against replay, and
/// until when (unix seconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    pub replay_key: String,
    pub expires: i64,
}

/// Fetches a URL's body (HTTPS in a stack; a loopback stand-in in tests).
pub trait Fetch: Send + Sync {
    fn get(&self, url: &str) -> impl Future<Output = Result<Vec<u8>, String>> + Send;
}

/// An RSA public key as its big-endian modulus and exponent.
pub type RsaKey = (Vec<u8>, Vec<u8>);
/// A tenant's published keys by `kid`.
pub type KeysByKid = HashMap<String, RsaKey>;

struct Entry {
    keys: Arc<KeysByKid>,
    fetched: Option<Instant>,
    attempted: Instant,
}

/// The per-process cache of Entra tenants' signing keys.
pub struct Jwks<F> {
    fetch: F,
    login_url: String,
    cache: Mutex<HashMap<String, Entry>>,
}

/// Parses a JWKS document into `kid → (n, e)` for its RSA keys.
pub fn parse_jwks(body: &[u8]) -> Result<KeysByKid, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    let keys = v
        .get("keys")
        .and_then(Value::as_array)
        .ok_or("no \"keys\" array")?;
    let mut out = HashMap::new();
    for k in keys {
        let s = |n: &str| k.get(n).and_then(Value::as_str);
        if s("kty") != Some("RSA") || s("use").is_some_and(|u| u != "sig") {
            continue;
        }
        if let (Some(kid), Some(n), Some(e)) =
            (s("kid"), s("n").and_then(b64url), s("e").and_then(b64url))
        {
            out.insert(kid.to_string(), (n, e));
        }
    }
    Ok(out)
}

impl<F: Fetch> Jwks<F> {
    pub fn new(fetch: F, login_url: &str) -> Jwks<F> {
        Jwks {
            fetch,
            login_url: login_url.trim_end_matches('/').to_string(),
            cache: Mutex::new(HashMap::new()),
        }
    }

    pub fn keys_url(&self, entra_tenant: &str) -> String {
        format!("{}/{entra_tenant}/discovery/v2.0/keys", self.login_url)
    }

    /// The key named `kid` of `entra_tenant`, fetching as the cache rules allow.
    async fn key(
        &self,
        entra_tenant: &str,
        kid: &str,
        now: Instant,
    ) -> Result<RsaKey, AssertionError> {
        let (cached, fetch) = {
            let map = self
                .cache
                .lock()
                .map_err(|_| AssertionError::KeysUnavailable)?;
            match map.get(entra_tenant) {
                None => (None, true),
                Some(e) => {
                    let age = e.fetched.map(|f| now.saturating_duration_since(f));
                    let usable = age.is_some_and(|a| a < KEYS_MAX_AGE);
                    let since_attempt = now.saturating_duration_since(e.attempted);
                    let stale = age.is_none_or(|a| a >= KEYS_REFRESH);
                    let unknown = !e.keys.contains_key(kid);
                    let want = (stale && since_attempt >= Duration::from_secs(60))
                        || (unknown && since_attempt >= UNKNOWN_KID_REFETCH);
                    (usable.then(|| Arc::clone(&e.keys)), want)
                }
            }
        };
        let keys = if fetch {
            let url = self.keys_url(entra_tenant);
            let fetched = self.fetch.get(&url).await.and_then(|b| {
                if b.len() > MAX_JWKS_BYTES {
                    return Err("the key set is too large".into());
                }
                parse_jwks(&b)
            });
            let mut map = self
                .cache
                .lock()
                .map_err(|_| AssertionError::KeysUnavailable)?;
            match fetched {
                Ok(keys) => {
                    tracing::info!(
                        entra_tenant,
                        keys = keys.len(),
                        "Entra signing keys fetched"
                    );
                    let keys = Arc::new(keys);
                    map.insert(
                        entra_tenant.to_string(),
                        Entry {
                            keys: Arc::clone(&keys),
                            fetched: Some(now),
                            attempted: now,
                        },
                    );
                    Some(keys)
                }
                Err(e) => {
                    tracing::warn!(entra_tenant, error = %e, "cannot fetch the Entra signing keys");
                    let entry = map.entry(entra_tenant.to_string()).or_insert(Entry {
                        keys: Arc::new(HashMap::new()),
                        fetched: None,
                        attempted: now,
                    });
                    entry.attempted = now;
                    cached
                }
            }
        } else {
            cached
        };
        let keys = keys.ok_or(AssertionError::KeysUnavailable)?;
        keys.get(kid).cloned().ok_or(AssertionError::UnknownKid)
    }

    /// Verifies `assertion` for `trust` at `now` (unix seconds; `instant` for the cache).
    pub async fn verify(
        &self,
        assertion: &str,
        trust: &FederationTrust,
        now: i64,
        instant: Instant,
    ) -> Result<Accepted, AssertionError> {
        let jws = Jws::parse(assertion).map_err(|_| AssertionError::Malformed)?;
        if jws.alg() != Some("RS256") {
            return Err(AssertionError::Algorithm);
        }
        let kid = jws.kid().ok_or(AssertionError::MissingKid)?.to_string();
        check_claims(&jws, trust, now)?;
        let (n, e) = self.key(&trust.entra_tenant, &kid, instant).await?;
        jws.verify_rs256(&n, &e)
            .map_err(|_| AssertionError::Signature)?;
        // Entra's tokens name themselves by `uti`; RFC 7523 by `jti`. Without either, the
        // signature names the assertion.
        let id = jws
            .claim_str("jti")
            .or_else(|| jws.claim_str("uti"))
            .map(str::to_string)
            .unwrap_or_else(|| crate::auth::token_id(&String::from_utf8_lossy(jws.signature())));
        Ok(Accepted {
            replay_key: crate::auth::token_id(&format!("{}|{}", trust.entra_tenant, id)),
            expires: jws.claim_time("exp").unwrap_or(now),
        })
    }
}

fn audience_matches(aud: Option<&Value>, want: &str) -> bool {
    match aud {
        Some(Value::String(s)) => s == want,
        Some(Value::Array(a)) => a.iter().any(|v| v.as_str() == Some(want)),
        _ => false,
    }
}

/// The claim checks (before the signature, so a malformed assertion costs no key fetch;
/// nothing is accepted until the signature has verified too).
fn check_claims(jws: &Jws<'_>, trust: &FederationTrust, now: i64) -> Result<(), AssertionError> {
    let issuer = format!("{ENTRA_ISSUER_HOST}/{}/v2.0", trust.entra_tenant);
    if jws.claim_str("iss") != Some(issuer.as_str()) {
        return Err(AssertionError::Issuer);
    }
    if !audience_matches(jws.claims.get("aud"), &trust.audience) {
        return Err(AssertionError::Audience);
    }
    if jws.claim_str("sub") != Some(trust.subject.as_str()) {
        return Err(AssertionError::Subject);
    }
    if jws.claim_str("tid").map(str::to_ascii_lowercase).as_deref() != Some(&trust.entra_tenant) {
        return Err(AssertionError::Tenant);
    }
    let exp = jws.claim_time("exp").ok_or(AssertionError::Malformed)?;
    let iat = jws.claim_time("iat");
    let nbf = jws.claim_time("nbf");
    if exp <= now - SKEW_SECS {
        return Err(AssertionError::Expired);
    }
    if nbf.is_some_and(|t| t > now + SKEW_SECS) || iat.is_some_and(|t| t > now + SKEW_SECS) {
        return Err(AssertionError::NotYetValid);
    }
    let start = nbf.or(iat).ok_or(AssertionError::Malformed)?;
    if exp - start > MAX_ASSERTION_LIFETIME_SECS {
        return Err(AssertionError::TooLong);
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    struct Counting(Arc<AtomicU32>, Result<Vec<u8>, String>);

    impl Fetch for Counting {
        async fn get(&self, _url: &str) -> Result<Vec<u8>, String> {
            self.0.fetch_add(1, Ordering::SeqCst);
            self.1.clone()
        }
    }

    fn jwks(kid: &str) -> Vec<u8> {
        serde_json::json!({"keys": [
            {"kty": "RSA", "use": "sig", "kid": kid, "n": "AQAB", "e": "AQAB"},
            {"kty": "EC", "kid": "ec", "x": "a", "y": "b"}
        ]})
        .to_string()
        .into_bytes()
    }

    #[tokio::test]
    async fn keys_are_cached_and_refetched_within_bounds() {
        let calls = Arc::new(AtomicU32::new(0));
        let j = Jwks::new(Counting(Arc::clone(&calls), Ok(jwks("k1"))), "http://x/");
        assert_eq!(j.keys_url("t"), "http://x/t/discovery/v2.0/keys");
        let t0 = Instant::now();
        assert!(j.key("t", "k1", t0).await.is_ok());
        assert!(j.key("t", "k1", t0 + Duration::from_secs(10)).await.is_ok());
        assert_eq!(calls.load(Ordering::SeqCst), 1, "cached");
        // Unknown kids: one re-fetch, then none for five minutes.
        assert_eq!(
            j.key("t", "k9", t0 + Duration::from_secs(400)).await,
            Err(AssertionError::UnknownKid)
        );
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        for s in [401, 500, 600] {
            assert_eq!(
                j.key("t", "k9", t0 + Duration::from_secs(s)).await,
                Err(AssertionError::UnknownKid)
            );
        }
        assert_eq!(
            calls.load(Ordering::SeqCst),
            2,
            "at most one re-fetch per 5 min"
        );
        // An hour later the set is refreshed on use.
        assert!(j
            .key("t", "k1", t0 + Duration::from_secs(4100))
            .await
            .is_ok());
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        // The EC key is ignored.
        assert_eq!(
            j.key("t", "ec", t0 + Duration::from_secs(4101)).await,
            Err(AssertionError::UnknownKid)
        );
    }

    #[tokio::test]
    async fn a_failing_fetch_keeps_the_cached_keys_for_a_day() {
        let calls = Arc::new(AtomicU32::new(0));
        let good = Jwks::new(Counting(Arc::clone(&calls), Ok(jwks("k1"))), "http://x");
        let t0 = Instant::now();
        assert!(good.key("t", "k1", t0).await.is_ok());
        // Swap in a failing fetcher with the same cache.
        let failing = Jwks {
            fetch: Counting(Arc::clone(&calls), Err("down".into())),
            login_url: good.login_url.clone(),
            cache: Mutex::new(std::mem::take(&mut *good.cache.lock().unwrap())),
        };
        assert!(failing
            .key("t", "k1", t0 + Duration::from_secs(7200))
            .await
            .is_ok());
        assert_eq!(
            failing.key("t", "k1", t0 + KEYS_MAX_AGE).await,
            Err(AssertionError::KeysUnavailable)
        );
        let fresh = Jwks::new(Counting(calls, Err("down".into())), "http://x");
        assert_eq!(
            fresh.key("t", "k1", t0).await,
            Err(AssertionError::KeysUnavailable)
        );
    }

    #[test]
    fn claims_are_checked_against_the_trust() {
        use base64::Engine;
        let trust = FederationTrust {
            entra_tenant: "ce5f061f-abe6-4e40-9615-301f87bcb7f0".into(),
            subject: "sub-1".into(),
            audience: "api://app".into(),
        };
        let now = 1_772_175_916;
        let good = serde_json::json!({
            "iss": format!("https://login.microsoftonline.com/{}/v2.0", trust.entra_tenant),
            "aud": "api://app", "sub": "sub-1", "tid": trust.entra_tenant,
            "iat": now, "nbf": now, "exp": now + 3900,
        });
        let check = |claims: &Value| {
            let b = base64::engine::general_purpose::URL_SAFE_NO_PAD;
            let t = format!(
                "{}.{}.",
                b.encode(r#"{"alg":"RS256","kid":"k"}"#),
                b.encode(claims.to_string())
            );
            check_claims(&Jws::parse(&t).unwrap(), &trust, now + 10)
        };
        assert_eq!(check(&good), Ok(()));
        let with = |k: &str, v: Value| {
            let mut c = good.clone();
            c[k] = v;
            check(&c)
        };
        assert_eq!(
            with("iss", "https://login.microsoftonline.com/other/v2.0".into()),
            Err(AssertionError::Issuer)
        );
        assert_eq!(
            with("aud", "api://other".into()),
            Err(AssertionError::Audience)
        );
        assert_eq!(with("aud", serde_json::json!(["x", "api://app"])), Ok(()));
        assert_eq!(with("sub", "sub-2".into()), Err(AssertionError::Subject));
        assert_eq!(
            with("tid", "00000000-0000-0000-0000-000000000000".into()),
            Err(AssertionError::Tenant)
        );
        assert_eq!(
            with("exp", (now - 100).into()),
            Err(AssertionError::Expired)
        );
        assert_eq!(
            with("nbf", (now + 1000).into()),
            Err(AssertionError::NotYetValid)
        );
        assert_eq!(
            with("exp", (now + 3 * 3600).into()),
            Err(AssertionError::TooLong)
        );
    }
}
