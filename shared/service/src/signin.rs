//! Sign-in lookup for the host application: which provisioned user a signed-in person is.
//!
//! Given the claims of an Entra ID (or any OIDC) token — `oid`, `upn` /
//! `preferred_username`, `email` — the user is found by, in order:
//!
//! 1. `oid` → `externalId` (exact): guests have no usable UPN, their object id is their key;
//! 2. UPN → `userName` (case-insensitive), also `#EXT#` guest UPNs;
//! 3. email → `userName` (guests are often provisioned with their email as userName),
//!    then → `emails.value` (case-insensitive).
//!
//! A deactivated user, or one whose contact end date has passed (swept or not), is returned
//! with that status so the application can refuse the sign-in with a clear reason.
//! Deleted users are never returned.

use crate::port::{DirectoryStore, GroupRef, StoreResult, Stored};
use scim_core::filter::IndexKey;
use scim_core::resource;

/// The identity claims of a signed-in person; any may be missing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SignInClaims {
    pub oid: Option<String>,
    /// `upn` or `preferred_username`.
    pub upn: Option<String>,
    pub email: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignInStatus {
    Active,
    /// `active: false` (deprovisioned by the identity provider).
    Deactivated,
    /// The contact's end date has passed.
    Expired,
}

impl SignInStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SignInStatus::Active => "active",
            SignInStatus::Deactivated => "deactivated",
            SignInStatus::Expired => "expired",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct SignInUser {
    pub user: Stored,
    pub status: SignInStatus,
    /// Which claim found the user: `oid`, `upn` or `email`.
    pub matched_by: &'static str,
    /// The groups the user is a direct member of.
    pub groups: Vec<GroupRef>,
}

/// A user's status at `now`: an end date that has passed wins over `active`.
pub fn status(user: &Stored, now: time::OffsetDateTime) -> SignInStatus {
    if resource::end_date_passed(&user.doc, now) {
        SignInStatus::Expired
    } else if !resource::is_active(&user.doc) {
        SignInStatus::Deactivated
    } else {
        SignInStatus::Active
    }
}

/// Finds the provisioned user for a signed-in person (see the module docs for the order).
/// Each step is one index lookup; the user found is read with their groups in two more
/// calls, so a match on the first claim costs 3 DynamoDB calls.
pub async fn lookup<S: DirectoryStore>(
    store: &S,
    tenant: &str,
    claims: &SignInClaims,
    now: time::OffsetDateTime,
) -> StoreResult<Option<SignInUser>> {
    let clean = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    let mut steps: Vec<(&'static str, IndexKey)> = Vec::new();
    if let Some(oid) = clean(&claims.oid) {
        steps.push(("oid", IndexKey::ExternalId(oid)));
    }
    if let Some(upn) = clean(&claims.upn) {
        steps.push(("upn", IndexKey::UserName(upn)));
    }
    if let Some(email) = clean(&claims.email) {
        steps.push(("email", IndexKey::UserName(email.clone())));
        steps.push(("email", IndexKey::EmailValue(email)));
    }
    for (matched_by, key) in steps {
        let ids = store.user_ids(tenant, &key).await?;
        let id = match ids.as_slice() {
            [] => continue,
            [one] => one.clone(),
            // Several users may share an email: prefer one that may sign in.
            many => {
                let found = store.users(tenant, many).await?;
                let best = found
                    .iter()
                    .find(|u| status(u, now) == SignInStatus::Active)
                    .or_else(|| found.first());
                match best {
                    Some(u) => u.id.clone(),
                    None => continue,
                }
            }
        };
        // A deleted user's guards outlive them until purged: not a match.
        if let Some((user, groups)) = store.user_with_groups(tenant, &id).await? {
            return Ok(Some(SignInUser {
                status: status(&user, now),
                user,
                matched_by,
                groups,
            }));
        }
    }
    Ok(None)
}
