//! The access tokens this service issues, and the keys they are signed with.
//!
//! **Design: HS256 with a key kept like the bearer token.** An access token is a JWT
//! (`typ: at+jwt`, RFC 9068's shape) signed with HMAC-SHA256 under a key held in a Secrets
//! Manager secret of the tenant's stack (`SIGNING_SECRET_ARN`; locally `.local/oauth-keys`).
//! Every SCIM function reads that secret once at cold start and verifies tokens with no
//! further call. Why not an asymmetric KMS key: every function that verifies would link a
//! second SDK client (binary size, cold start) and call KMS at cold start anyway; KMS costs
//! a key per tenant stack; and the functions that read the signing key already hold the
//! tenant's bearer token, which opens exactly as much — a symmetric key grants nothing they
//! do not already have. The key never leaves Secrets Manager except into those functions'
//! memory; [`SigningKey`]'s `Debug` shows only its id.
//!
//! **Rotation without invalidating tokens.** The secret holds a list of keys, the current
//! one first; each is named by `kid` (a digest prefix, not secret). Rotating puts a new key
//! first and keeps the one it replaces for [`RETIRED_KEY_KEPT`] (the longest token
//! lifetime), so every token issued before the rotation verifies until it expires.

use crate::auth::{bearer_token, token_id, AuthError, Authenticator, Principal};
use crate::oauth::jwt::{sign_hs256, Jws};
use serde_json::{json, Value};
use std::future::Future;
use std::sync::Arc;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Shortest signing key accepted (a stack's generated key has 64 characters).
pub const MIN_KEY_CHARS: usize = 32;
/// The shortest and longest access-token lifetimes (Microsoft: 60 minutes to 6 hours).
pub const MIN_LIFETIME_SECS: u32 = 3_600;
pub const MAX_LIFETIME_SECS: u32 = 21_600;
/// How long a key stays accepted after it stopped signing: the longest token lifetime.
pub const RETIRED_KEY_KEPT: time::Duration = time::Duration::seconds(MAX_LIFETIME_SECS as i64);
/// Clock skew tolerated between the instances that issue and verify tokens.
pub const SKEW_SECS: i64 = 60;
/// The JWT `typ` of access tokens (RFC 9068), so no other JWT is mistaken for one.
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";

/// One HMAC key. `Debug` shows only its id.
#[derive(Clone)]
pub struct SigningKey {
    pub kid: String,
    key: String,
    /// When it stopped being the current key.
    pub retired: Option<OffsetDateTime>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("retired", &self.retired)
            .finish()
    }
}

impl SigningKey {
    pub fn new(key: &str) -> Result<SigningKey, String> {
        let key = key.trim();
        if key.len() < MIN_KEY_CHARS || !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(format!(
                "a signing key must be at least {MIN_KEY_CHARS} printable ASCII characters"
            ));
        }
        Ok(SigningKey {
            kid: token_id(key),
            key: key.to_string(),
            retired: None,
        })
    }

    /// `claims` signed with this key (`HS256`, JWS compact), the JWS `typ` naming what the
    /// token is.
    pub fn sign(&self, typ: &str, claims: &Value) -> String {
        sign_hs256(&self.kid, typ, claims, self.key.as_bytes())
    }

    /// A new random key (two 256-bit tokens from the workspace's one generator).
    pub fn generate() -> Result<SigningKey, String> {
        let a = crate::auth::generate_token()?;
        let b = crate::auth::generate_token()?;
        SigningKey::new(&format!("{a}{b}"))
    }
}

/// The keys a tenant's tokens may be signed with; the first signs.
#[derive(Debug, Clone)]
pub struct KeySet {
    keys: Vec<SigningKey>,
}

impl KeySet {
    pub fn new(current: SigningKey) -> KeySet {
        KeySet {
            keys: vec![current],
        }
    }

    /// Reads a secret value: `{"key": "..."}` (a stack's generated first value) or
    /// `{"keys": [{"key": "...", "retired": "<RFC 3339>"}, ...]}`, current first. Errors
    /// never quote a key.
    pub fn parse(value: &str) -> Result<KeySet, String> {
        let v: Value = serde_json::from_str(value.trim()).map_err(|e| {
            format!(
                "the signing secret must be JSON {{\"key\":\"...\"}} or {{\"keys\":[...]}} (error at line {}, column {})",
                e.line(),
                e.column()
            )
        })?;
        let mut keys = Vec::new();
        if let Some(k) = v.get("key").and_then(Value::as_str) {
            keys.push(SigningKey::new(k)?);
        }
        for entry in v
            .get("keys")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let k = entry
                .get("key")
                .and_then(Value::as_str)
                .ok_or("each entry of \"keys\" needs a \"key\"")?;
            let mut key = SigningKey::new(k)?;
            key.retired = entry
                .get("retired")
                .and_then(Value::as_str)
                .and_then(|s| OffsetDateTime::parse(s, &Rfc3339).ok());
            keys.push(key);
        }
        if keys.is_empty() {
            return Err("the signing secret holds no key".into());
        }
        Ok(KeySet { keys })
    }

    /// The value to store (the canonical `keys` form).
    pub fn to_secret_string(&self) -> String {
        let keys: Vec<Value> = self
            .keys
            .iter()
            .map(|k| match k.retired.and_then(|r| r.format(&Rfc3339).ok()) {
                Some(r) => json!({"key": k.key, "retired": r}),
                None => json!({"key": k.key}),
            })
            .collect();
        json!({ "keys": keys }).to_string()
    }

    pub fn current(&self) -> &SigningKey {
        &self.keys[0]
    }

    pub fn kids(&self) -> Vec<&str> {
        self.keys.iter().map(|k| k.kid.as_str()).collect()
    }

    pub fn find(&self, kid: &str) -> Option<&SigningKey> {
        self.keys.iter().find(|k| k.kid == kid)
    }

    /// `new` becomes current; the old current is marked retired at `now`; keys retired
    /// longer than [`RETIRED_KEY_KEPT`] ago are dropped (no token they signed is valid).
    pub fn rotated(&self, new: SigningKey, now: OffsetDateTime) -> KeySet {
        let mut keys = vec![new];
        for (i, k) in self.keys.iter().enumerate() {
            let mut k = k.clone();
            if i == 0 {
                k.retired = Some(now);
            }
            match k.retired {
                Some(r) if now - r > RETIRED_KEY_KEPT => {}
                _ => keys.push(k),
            }
        }
        KeySet { keys }
    }
}

/// What an issued token grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub tenant: String,
    pub client_id: String,
    pub scope: String,
}

/// Signs an access token for `grant`, valid `lifetime` seconds from `now` (unix seconds).
pub fn mint(keys: &KeySet, issuer: &str, grant: &Grant, now: i64, lifetime: u32) -> String {
    let key = keys.current();
    let jti = crate::auth::generate_token().unwrap_or_else(|_| format!("{now}"));
    let claims = json!({
        "iss": issuer,
        "sub": grant.client_id,
        "client_id": grant.client_id,
        "tid": grant.tenant,
        "scope": grant.scope,
        "iat": now,
        "exp": now + i64::from(lifetime),
        "jti": jti,
    });
    sign_hs256(&key.kid, ACCESS_TOKEN_TYP, &claims, key.key.as_bytes())
}

/// Whether a bearer credential has the shape of a JWT (three parts, a JSON header): such
/// tokens are checked as access tokens, anything else as a static bearer token.
pub fn looks_like_jwt(token: &str) -> bool {
    token.starts_with("eyJ") && token.bytes().filter(|b| *b == b'.').count() == 2
}

/// Why an access token was refused (for logs; the client sees one answer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenRefusal {
    Malformed,
    UnknownKey,
    Signature,
    Expired,
    NotYetValid,
    Claims,
}

/// Checks an access token against `keys` at `now` (unix seconds).
pub fn verify(keys: &KeySet, token: &str, now: i64) -> Result<Grant, TokenRefusal> {
    let jws = Jws::parse(token).map_err(|_| TokenRefusal::Malformed)?;
    verify_parsed(keys, &jws, now)
}

/// [`verify`] of a token already parsed.
fn verify_parsed(keys: &KeySet, jws: &Jws<'_>, now: i64) -> Result<Grant, TokenRefusal> {
    if jws.header.get("typ").and_then(Value::as_str) != Some(ACCESS_TOKEN_TYP) {
        return Err(TokenRefusal::Malformed);
    }
    let key = jws
        .kid()
        .and_then(|kid| keys.find(kid))
        .ok_or(TokenRefusal::UnknownKey)?;
    jws.verify_hs256(key.key.as_bytes())
        .map_err(|_| TokenRefusal::Signature)?;
    let (Some(exp), Some(iat)) = (jws.claim_time("exp"), jws.claim_time("iat")) else {
        return Err(TokenRefusal::Claims);
    };
    if exp <= now - SKEW_SECS {
        return Err(TokenRefusal::Expired);
    }
    if iat > now + SKEW_SECS {
        return Err(TokenRefusal::NotYetValid);
    }
    match (
        jws.claim_str("tid"),
        jws.claim_str("client_id"),
        jws.claim_str("scope"),
    ) {
        (Some(t), Some(c), Some(s)) if !t.is_empty() && !c.is_empty() => Ok(Grant {
            tenant: t.to_string(),
            client_id: c.to_string(),
            scope: s.to_string(),
        }),
        _ => Err(TokenRefusal::Claims),
    }
}

/// Where a verifier gets the signing keys: read at cold start and cached.
pub trait KeySource: Send + Sync {
    /// The current keys; a `kid` not among them may cause one early re-read.
    fn keys(
        &self,
        kid: Option<&str>,
    ) -> impl Future<Output = Result<Arc<KeySet>, AuthError>> + Send;
}

/// Fixed keys (the local server, tests).
impl KeySource for Arc<KeySet> {
    async fn keys(&self, _kid: Option<&str>) -> Result<Arc<KeySet>, AuthError> {
        Ok(Arc::clone(self))
    }
}

/// The SCIM path's authenticator: access tokens from the token endpoint, and the static
/// bearer token beside them (Okta and non-gallery Entra apps keep using it, unchanged).
/// A JWT-shaped credential is checked only as an access token, so access tokens never
/// cause the bearer-token cache's early re-read of its secret.
pub struct OAuthAuthenticator<A, K> {
    pub bearer: A,
    pub keys: K,
}

impl<A: Authenticator, K: KeySource> Authenticator for OAuthAuthenticator<A, K> {
    async fn authenticate(&self, authorization: Option<&str>) -> Result<Principal, AuthError> {
        let token = bearer_token(authorization)?;
        if !looks_like_jwt(token) {
            return self.bearer.authenticate(authorization).await;
        }
        let Ok(jws) = Jws::parse(token) else {
            tracing::info!(reason = ?TokenRefusal::Malformed, "access token refused");
            return Err(AuthError::Invalid);
        };
        let keys = self.keys.keys(jws.kid()).await?;
        let now = OffsetDateTime::now_utc().unix_timestamp();
        match verify_parsed(&keys, &jws, now) {
            Ok(grant) => Ok(Principal {
                tenant: grant.tenant,
                token_id: grant.client_id,
            }),
            Err(why) => {
                tracing::info!(reason = ?why, "access token refused");
                Err(AuthError::Invalid)
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::auth::TokenSet;

    fn keys() -> KeySet {
        KeySet::new(SigningKey::new(&"k".repeat(40)).unwrap())
    }

    fn grant() -> Grant {
        Grant {
            tenant: "acme".into(),
            client_id: "0123456789abcdef01234567".into(),
            scope: "scim".into(),
        }
    }

    #[test]
    fn tokens_verify_until_they_expire() {
        let k = keys();
        let t = mint(&k, "https://x/oauth2/token", &grant(), 1_000_000, 3600);
        assert!(looks_like_jwt(&t));
        assert_eq!(verify(&k, &t, 1_000_000), Ok(grant()));
        assert_eq!(verify(&k, &t, 1_003_600 + SKEW_SECS - 1), Ok(grant()));
        assert_eq!(
            verify(&k, &t, 1_003_600 + SKEW_SECS),
            Err(TokenRefusal::Expired)
        );
        assert_eq!(
            verify(&k, &t, 1_000_000 - SKEW_SECS - 1),
            Err(TokenRefusal::NotYetValid)
        );
        let other = KeySet::new(SigningKey::new(&"o".repeat(40)).unwrap());
        assert_eq!(verify(&other, &t, 1_000_000), Err(TokenRefusal::UnknownKey));
    }

    #[test]
    fn a_rotation_keeps_the_old_key_for_the_longest_lifetime() {
        let now = OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000);
        let k1 = keys();
        let t = mint(&k1, "i", &grant(), now.unix_timestamp(), 21_600);
        let k2 = k1.rotated(SigningKey::generate().unwrap(), now);
        assert_ne!(k2.current().kid, k1.current().kid);
        assert_eq!(verify(&k2, &t, now.unix_timestamp() + 60), Ok(grant()));
        // Round trip through the stored form keeps the retirement time.
        let stored = KeySet::parse(&k2.to_secret_string()).unwrap();
        assert_eq!(stored.kids(), k2.kids());
        // A second rotation after the longest lifetime drops the first key.
        let later = now + RETIRED_KEY_KEPT + time::Duration::seconds(1);
        let k3 = stored.rotated(SigningKey::generate().unwrap(), later);
        assert_eq!(k3.kids().len(), 2);
        assert!(k3.find(&k1.current().kid).is_none());
        // ...but not before.
        let k3 = stored.rotated(
            SigningKey::generate().unwrap(),
            now + time::Duration::hours(1),
        );
        assert_eq!(k3.kids().len(), 3);
    }

    #[test]
    fn key_secrets_are_parsed_without_quoting_keys() {
        let key = "s".repeat(64);
        let set = KeySet::parse(&format!(r#"{{"key":"{key}"}}"#)).unwrap();
        assert_eq!(set.current().kid, token_id(&key));
        assert!(!format!("{set:?}").contains(&key));
        for bad in [r#"{"key":"short"}"#, r#"{}"#, "nope", r#"{"keys":[{}]}"#] {
            let e = KeySet::parse(bad).unwrap_err();
            assert!(!e.contains("short"), "{e}");
        }
    }

    #[test]
    fn other_jwts_and_tampered_tokens_are_refused() {
        let k = keys();
        let claims = json!({"tid": "acme", "client_id": "c", "scope": "scim", "iat": 1, "exp": i64::MAX / 2});
        let wrong_typ = sign_hs256(&k.current().kid, "JWT", &claims, k.current().key.as_bytes());
        assert_eq!(verify(&k, &wrong_typ, 2), Err(TokenRefusal::Malformed));
        let no_tid = sign_hs256(
            &k.current().kid,
            ACCESS_TOKEN_TYP,
            &json!({"client_id": "c", "scope": "s", "iat": 1, "exp": 100}),
            k.current().key.as_bytes(),
        );
        assert_eq!(verify(&k, &no_tid, 2), Err(TokenRefusal::Claims));
        let t = mint(&k, "i", &grant(), 10, 3600);
        let tampered = format!("{}x", &t[..t.len() - 1]);
        assert!(verify(&k, &tampered, 10).is_err());
    }

    #[tokio::test]
    async fn the_authenticator_accepts_both_credentials() {
        let static_token = "a".repeat(43);
        let k = Arc::new(keys());
        let auth = OAuthAuthenticator {
            bearer: TokenSet::new().with(&static_token, "acme"),
            keys: Arc::clone(&k),
        };
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let access = mint(&k, "i", &grant(), now, 3600);
        let p = auth
            .authenticate(Some(&format!("Bearer {access}")))
            .await
            .unwrap();
        assert_eq!(
            (p.tenant.as_str(), p.token_id.as_str()),
            ("acme", "0123456789abcdef01234567")
        );
        let p = auth
            .authenticate(Some(&format!("Bearer {static_token}")))
            .await
            .unwrap();
        assert_eq!(p.tenant, "acme");
        let expired = mint(&k, "i", &grant(), now - 10_000, 3600);
        assert_eq!(
            auth.authenticate(Some(&format!("Bearer {expired}"))).await,
            Err(AuthError::Invalid)
        );
        // Other keys than the token's: refused.
        let no_keys = OAuthAuthenticator {
            bearer: TokenSet::new(),
            keys: Arc::new(KeySet::new(SigningKey::new(&"o".repeat(40)).unwrap())),
        };
        assert_eq!(
            no_keys
                .authenticate(Some(&format!("Bearer {access}")))
                .await,
            Err(AuthError::Invalid)
        );
    }
}
