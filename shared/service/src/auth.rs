//! Bearer-token authentication in the shared request path.
//!
//! Tokens are compared as SHA-256 digests in constant time, against every known token
//! (no early exit), and never logged: a short token id (a digest prefix) names a token in
//! logs and audit records instead.

use sha2::{Digest, Sha256};
use std::future::Future;
use subtle::ConstantTimeEq;

/// Who a valid token speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub tenant: String,
    /// A non-secret identifier of the token used.
    pub token_id: String,
}

/// Why a request was refused. None of these carry the presented token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthError {
    Missing,
    Malformed,
    Invalid,
    /// The token source could not be read (a server fault, not the client's).
    Unavailable,
}

impl AuthError {
    pub fn detail(self) -> &'static str {
        match self {
            AuthError::Missing => {
                "Authorization is required: send 'Authorization: Bearer <token>'."
            }
            AuthError::Malformed => "The Authorization header must be 'Bearer <token>'.",
            AuthError::Invalid => "The bearer token is not valid for this service.",
            AuthError::Unavailable => "Authorization could not be checked; retry later.",
        }
    }
}

pub trait Authenticator: Send + Sync {
    fn authenticate(
        &self,
        authorization: Option<&str>,
    ) -> impl Future<Output = Result<Principal, AuthError>> + Send;
}

/// Extracts the token of `Authorization: Bearer <token>` (scheme case-insensitive).
pub fn bearer_token(authorization: Option<&str>) -> Result<&str, AuthError> {
    let header = authorization.ok_or(AuthError::Missing)?.trim();
    let (scheme, token) = header.split_once(' ').ok_or(AuthError::Malformed)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() || token.len() > 4096 {
        return Err(AuthError::Malformed);
    }
    // RFC 6750 b64token characters.
    let ok = token
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-._~+/=".contains(&b));
    if !ok {
        return Err(AuthError::Malformed);
    }
    Ok(token)
}

/// The number of random bytes in a generated token (256 bits).
pub const TOKEN_BYTES: usize = 32;

/// A new bearer token: 32 bytes (256 bits) from the operating system's CSPRNG, base64url
/// without padding (43 URL-safe characters). The one token generator of the workspace:
/// the local server, the admin command and the rotation function all call it.
pub fn generate_token() -> Result<String, String> {
    use base64::Engine;
    let mut bytes = [0u8; TOKEN_BYTES];
    getrandom::fill(&mut bytes).map_err(|e| format!("the OS random generator failed: {e}"))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// `N` bytes from the operating system's CSPRNG as lower-case hex: the workspace's random
/// ids (OAuth client ids, asynchronous requests' transaction ids).
pub fn random_hex<const N: usize>() -> Result<String, String> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|e| format!("the OS random generator failed: {e}"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

pub fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// The non-secret id of a token: the first 8 hex digits of its SHA-256 digest.
pub fn token_id(token: &str) -> String {
    digest(token)[..4]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A fixed set of accepted token digests, each bound to one tenant.
#[derive(Clone, Default)]
pub struct TokenSet {
    entries: Vec<([u8; 32], Principal)>,
}

impl std::fmt::Debug for TokenSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSet")
            .field("tokens", &self.entries.len())
            .finish()
    }
}

impl TokenSet {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with(mut self, token: &str, tenant: &str) -> Self {
        self.add(token, tenant);
        self
    }

    pub fn add(&mut self, token: &str, tenant: &str) {
        self.entries.push((
            digest(token),
            Principal {
                tenant: tenant.to_string(),
                token_id: token_id(token),
            },
        ));
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Checks a presented token against every entry in constant time per entry.
    pub fn check(&self, token: &str) -> Result<Principal, AuthError> {
        let presented = digest(token);
        let mut found: Option<&Principal> = None;
        for (d, p) in &self.entries {
            if bool::from(d.ct_eq(&presented)) && found.is_none() {
                found = Some(p);
            }
        }
        found.cloned().ok_or(AuthError::Invalid)
    }
}

impl Authenticator for TokenSet {
    async fn authenticate(&self, authorization: Option<&str>) -> Result<Principal, AuthError> {
        let token = bearer_token(authorization)?;
        self.check(token)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn bearer_header_forms() {
        assert_eq!(bearer_token(Some("Bearer abc")), Ok("abc"));
        assert_eq!(bearer_token(Some("bearer  abc ")), Ok("abc"));
        assert_eq!(bearer_token(None), Err(AuthError::Missing));
        assert_eq!(bearer_token(Some("non-token")), Err(AuthError::Malformed));
        assert_eq!(bearer_token(Some("Basic abc")), Err(AuthError::Malformed));
        assert_eq!(bearer_token(Some("Bearer a\"b")), Err(AuthError::Malformed));
    }

    #[test]
    fn token_set_binds_tokens_to_tenants() {
        let set = TokenSet::new().with("tok-a", "a").with("tok-b", "b");
        assert_eq!(set.check("tok-a").unwrap().tenant, "a");
        assert_eq!(set.check("tok-b").unwrap().tenant, "b");
        assert_eq!(set.check("tok-c"), Err(AuthError::Invalid));
    }

    #[test]
    fn generated_tokens_are_256_bit_url_safe_and_distinct() {
        let a = generate_token().unwrap();
        let b = generate_token().unwrap();
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
        assert!(a
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
        assert_eq!(bearer_token(Some(&format!("Bearer {a}"))), Ok(a.as_str()));
    }

    #[test]
    fn token_id_does_not_contain_the_token() {
        let id = token_id("super-secret-token");
        assert_eq!(id.len(), 8);
        assert!(!"super-secret-token".contains(&id));
    }
}
