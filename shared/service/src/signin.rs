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

use crate::port::{ListRequest, Store, StoreResult, Stored};
use scim_core::filter::{CompValue, CompareOp, Filter};
use scim_core::list::Paging;
use scim_core::path::AttrPath;
use scim_core::resource;
use scim_core::schema::ResourceKind;

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

#[derive(Debug, Clone, PartialEq)]
pub struct SignInUser {
    pub user: Stored,
    pub status: SignInStatus,
    /// Which claim found the user: `oid`, `upn` or `email`.
    pub matched_by: &'static str,
}

fn eq(attr: &str, value: &str) -> Filter {
    Filter::Compare {
        path: AttrPath::parse(attr, resource::KNOWN_URNS)
            .unwrap_or_else(|_| AttrPath::simple(attr)),
        op: CompareOp::Eq,
        value: CompValue::String(value.to_string()),
    }
}

async fn find<S: Store>(
    store: &S,
    tenant: &str,
    filter: &Filter,
    now: &str,
) -> StoreResult<Vec<Stored>> {
    let paging = Paging::Index { start_index: 1 };
    let request = ListRequest {
        filter: Some(filter),
        paging: &paging,
        count: 10,
        now,
    };
    Ok(store
        .list(tenant, ResourceKind::User, &request)
        .await?
        .items)
}

fn status(user: &Stored, now: &str) -> SignInStatus {
    if resource::end_date_passed(&user.doc, now) {
        SignInStatus::Expired
    } else if !resource::is_active(&user.doc) {
        SignInStatus::Deactivated
    } else {
        SignInStatus::Active
    }
}

/// Finds the provisioned user for a signed-in person (see the module docs for the order).
/// Each step is one index lookup plus the item read.
pub async fn lookup<S: Store>(
    store: &S,
    tenant: &str,
    claims: &SignInClaims,
    now: &str,
) -> StoreResult<Option<SignInUser>> {
    let clean = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    let mut steps: Vec<(&'static str, Filter)> = Vec::new();
    if let Some(oid) = clean(&claims.oid) {
        steps.push(("oid", eq("externalId", &oid)));
    }
    if let Some(upn) = clean(&claims.upn) {
        steps.push(("upn", eq("userName", &upn)));
    }
    if let Some(email) = clean(&claims.email) {
        steps.push(("email", eq("userName", &email)));
        steps.push(("email", eq("emails.value", &email)));
    }
    for (matched_by, filter) in steps {
        let found = find(store, tenant, &filter, now).await?;
        // Several users may share an email: prefer one that may sign in.
        let best = found
            .iter()
            .find(|u| status(u, now) == SignInStatus::Active)
            .or_else(|| found.first());
        if let Some(user) = best {
            return Ok(Some(SignInUser {
                status: status(user, now),
                user: user.clone(),
                matched_by,
            }));
        }
    }
    Ok(None)
}
