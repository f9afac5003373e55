//! OAuth clients: who may ask the token endpoint for an access token.
//!
//! Two kinds, both per tenant:
//! - a **secret client** (client credentials, RFC 6749 §4.4): a client id and a 256-bit
//!   secret shown once at creation. Only the secret's SHA-256 digest is stored — a fast
//!   hash is right for a random 256-bit secret (nothing to brute-force), and lets the
//!   token endpoint check it in constant time without a password-hashing cost per request.
//!   Each secret expires (default one year, at most three).
//! - a **federated client** (workload identity federation, RFC 7523 client assertions):
//!   no secret; the trust names which Entra tenant, subject and audience an assertion
//!   signed by Microsoft must carry.
//!
//! Revoking a client deletes it and records its id in the tenant's settings item, which the
//! SCIM path's gate reads at least once a minute: access tokens already issued to it stop
//! working within that minute, new ones are refused at once.

use crate::auth::{digest, generate_token};
use crate::port::StoreResult;
use std::future::Future;
use subtle::ConstantTimeEq;
use time::{Duration, OffsetDateTime};

/// A secret's default lifetime (Microsoft: secrets expire after one to three years).
pub const DEFAULT_SECRET_DAYS: u32 = 365;
/// The longest lifetime a secret may be given.
pub const MAX_SECRET_DAYS: u32 = 3 * 365;
/// How many clients a tenant may hold at once (several, for rotation; not unbounded).
pub const MAX_CLIENTS: usize = 20;

/// What an assertion from Microsoft Entra ID must carry to be accepted for a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FederationTrust {
    /// The customer's Entra tenant id (a GUID): the issuer is
    /// `https://login.microsoftonline.com/{id}/v2.0` and the keys are that tenant's JWKS.
    pub entra_tenant: String,
    /// The `sub` claim: the object id of Entra's provisioning workload identity.
    pub subject: String,
    /// The `aud` claim (`api://{app id}` as Entra's connectivity page shows it).
    pub audience: String,
}

/// How a client proves who it is.
#[derive(Clone, PartialEq, Eq)]
pub enum ClientAuth {
    /// The SHA-256 digest of the client secret.
    Secret([u8; 32]),
    Federated(FederationTrust),
}

impl std::fmt::Debug for ClientAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientAuth::Secret(_) => f.write_str("Secret(..)"),
            ClientAuth::Federated(t) => f.debug_tuple("Federated").field(t).finish(),
        }
    }
}

/// A client as stored: never its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthClient {
    /// 24 lowercase hex digits; not secret (it names the client in logs and the activity).
    pub id: String,
    pub name: Option<String>,
    pub auth: ClientAuth,
    pub created: OffsetDateTime,
    /// When a secret stops being accepted; federated clients do not expire.
    pub expires: Option<OffsetDateTime>,
}

impl OAuthClient {
    pub fn kind(&self) -> &'static str {
        match self.auth {
            ClientAuth::Secret(_) => "secret",
            ClientAuth::Federated(_) => "federated",
        }
    }

    pub fn expired(&self, now: OffsetDateTime) -> bool {
        self.expires.is_some_and(|e| e <= now)
    }

    /// Checks a presented secret against the stored digest in constant time.
    pub fn secret_matches(&self, secret: &str) -> bool {
        match &self.auth {
            ClientAuth::Secret(d) => bool::from(d.ct_eq(&digest(secret))),
            ClientAuth::Federated(_) => false,
        }
    }
}

/// A secret client just made: the secret is shown once, never stored.
pub struct NewSecretClient {
    pub client: OAuthClient,
    pub secret: String,
}

impl std::fmt::Debug for NewSecretClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewSecretClient")
            .field("client", &self.client)
            .finish_non_exhaustive()
    }
}

/// A request to make a client that cannot be honoured (the caller's mistake).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ClientError(pub String);

fn check_name(name: Option<&str>) -> Result<Option<String>, ClientError> {
    match name.map(str::trim) {
        None | Some("") => Ok(None),
        Some(n) if n.chars().count() > 100 || n.chars().any(char::is_control) => Err(ClientError(
            "name must be at most 100 characters, without control characters".into(),
        )),
        Some(n) => Ok(Some(n.to_string())),
    }
}

fn new_id() -> Result<String, ClientError> {
    crate::auth::random_hex::<12>().map_err(ClientError)
}

/// Whether `id` has the shape of a client id (checked before any store lookup).
pub fn valid_client_id(id: &str) -> bool {
    id.len() == 24
        && id
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

/// Makes a secret client valid for `days` (1 to [`MAX_SECRET_DAYS`]).
pub fn new_secret_client(
    name: Option<&str>,
    days: u32,
    now: OffsetDateTime,
) -> Result<NewSecretClient, ClientError> {
    if !(1..=MAX_SECRET_DAYS).contains(&days) {
        return Err(ClientError(format!(
            "a secret's lifetime must be 1 to {MAX_SECRET_DAYS} days"
        )));
    }
    let secret = generate_token().map_err(ClientError)?;
    let created = now.replace_nanosecond(0).unwrap_or(now);
    Ok(NewSecretClient {
        client: OAuthClient {
            id: new_id()?,
            name: check_name(name)?,
            auth: ClientAuth::Secret(digest(&secret)),
            created,
            expires: Some(created + Duration::days(i64::from(days))),
        },
        secret,
    })
}

fn is_guid(s: &str) -> bool {
    s.len() == 36
        && s.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

fn check_claim(what: &str, v: &str) -> Result<String, ClientError> {
    let v = v.trim();
    if v.is_empty() || v.len() > 256 || v.chars().any(|c| c.is_control() || c == ' ') {
        return Err(ClientError(format!(
            "{what} must be 1 to 256 characters without spaces"
        )));
    }
    Ok(v.to_string())
}

/// Makes a federated client trusting assertions that Entra tenant `entra_tenant` issues to
/// `subject` for `audience`.
pub fn new_federated_client(
    name: Option<&str>,
    entra_tenant: &str,
    subject: &str,
    audience: &str,
    now: OffsetDateTime,
) -> Result<OAuthClient, ClientError> {
    let entra_tenant = entra_tenant.trim().to_ascii_lowercase();
    if !is_guid(&entra_tenant) {
        return Err(ClientError(
            "entraTenantId must be the customer's Microsoft Entra tenant id, a GUID".into(),
        ));
    }
    Ok(OAuthClient {
        id: new_id()?,
        name: check_name(name)?,
        auth: ClientAuth::Federated(FederationTrust {
            entra_tenant,
            subject: check_claim("subject", subject)?,
            audience: check_claim("audience", audience)?,
        }),
        created: now.replace_nanosecond(0).unwrap_or(now),
        expires: None,
    })
}

/// Where clients and the assertion-replay markers live (the DynamoDB store: partition
/// `{t}#O`).
pub trait ClientStore: Send + Sync {
    /// Stores a new client (fails with a conflict if the id exists).
    fn put_client(
        &self,
        tenant: &str,
        client: &OAuthClient,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    fn client(
        &self,
        tenant: &str,
        id: &str,
    ) -> impl Future<Output = StoreResult<Option<OAuthClient>>> + Send;

    /// Every client of the tenant, oldest first.
    fn clients(&self, tenant: &str) -> impl Future<Output = StoreResult<Vec<OAuthClient>>> + Send;

    /// Deletes the client and records the revocation in the tenant's settings, in one
    /// transaction; `false` when there was no such client.
    fn revoke_client(
        &self,
        tenant: &str,
        id: &str,
        at: OffsetDateTime,
    ) -> impl Future<Output = StoreResult<bool>> + Send;

    /// Records that the assertion named `key` was used; `false` when it already was and is
    /// still valid (a replay). The marker lives until `until`.
    fn claim_assertion(
        &self,
        tenant: &str,
        key: &str,
        until: OffsetDateTime,
        now: OffsetDateTime,
    ) -> impl Future<Output = StoreResult<bool>> + Send;
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_client_keeps_only_the_digest() {
        let now = OffsetDateTime::UNIX_EPOCH + Duration::days(20_000);
        let made = new_secret_client(Some("Entra"), 365, now).unwrap();
        assert!(valid_client_id(&made.client.id));
        assert_eq!(made.secret.len(), 43);
        assert!(made.client.secret_matches(&made.secret));
        assert!(!made.client.secret_matches("x"));
        assert!(!format!("{:?}", made.client).contains(&made.secret));
        assert!(!format!("{made:?}").contains(&made.secret));
        assert_eq!(made.client.expires, Some(now + Duration::days(365)));
        assert!(!made.client.expired(now));
        assert!(made.client.expired(now + Duration::days(365)));
    }

    #[test]
    fn lifetimes_names_and_trusts_are_checked() {
        let now = OffsetDateTime::UNIX_EPOCH;
        assert!(new_secret_client(None, 0, now).is_err());
        assert!(new_secret_client(None, MAX_SECRET_DAYS + 1, now).is_err());
        assert!(new_secret_client(None, MAX_SECRET_DAYS, now).is_ok());
        assert!(new_secret_client(Some(&"x".repeat(101)), 1, now).is_err());
        let guid = "ce5f061f-abe6-4e40-9615-301f87bcb7f0";
        assert!(new_federated_client(None, guid, "sub", "api://a", now).is_ok());
        assert!(new_federated_client(None, "contoso", "sub", "api://a", now).is_err());
        assert!(new_federated_client(None, guid, "", "api://a", now).is_err());
        assert!(new_federated_client(None, guid, "s", "a b", now).is_err());
        let c = new_federated_client(None, &guid.to_uppercase(), "s", "a", now).unwrap();
        assert!(matches!(&c.auth, ClientAuth::Federated(t) if t.entra_tenant == guid));
        assert!(!c.secret_matches(""));
    }

    #[test]
    fn client_ids_have_one_shape() {
        assert!(valid_client_id("0123456789abcdef01234567"));
        assert!(!valid_client_id("0123456789ABCDEF01234567"));
        assert!(!valid_client_id("0123456789abcdef0123456"));
        assert!(!valid_client_id("../../../../etc/passwd!!"));
    }
}
