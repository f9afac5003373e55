//! `scim-admin oauth …`: the tenant's OAuth clients (the same records and rules as the
//! application API's `/app/v1/clients`) and the rotation of its access-token signing key.

use crate::{output_error, store, AdminError};
use scim_service::oauth::clients::{self, ClientAuth, ClientStore};
use std::io::Write;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// OAuth 2.0 for Entra's gallery: clients (client credentials or workload identity
/// federation) and the signing key of access tokens
#[derive(argh::FromArgs, Debug)]
#[argh(subcommand, name = "oauth")]
pub struct OAuth {
    #[argh(subcommand)]
    pub command: OAuthCommand,
}

#[derive(argh::FromArgs, Debug)]
#[argh(subcommand)]
pub enum OAuthCommand {
    CreateClient(CreateClient),
    ListClients(ListClients),
    RevokeClient(RevokeClient),
    RotateKey(RotateKey),
}

/// new client: with a secret (printed once) for client credentials, or, with
/// --entra-tenant, --subject and --audience, a federation trust for Entra's assertions
#[derive(argh::FromArgs, Debug)]
#[argh(subcommand, name = "create-client")]
pub struct CreateClient {
    /// the tenant id
    #[argh(option)]
    pub tenant: String,
    /// a label for the client
    #[argh(option)]
    pub name: Option<String>,
    /// days until the secret expires (default 365, at most 1095)
    #[argh(option)]
    pub days: Option<u32>,
    /// federated: the customer's Entra tenant id (a GUID)
    #[argh(option)]
    pub entra_tenant: Option<String>,
    /// federated: the assertion's subject (Entra's provisioning workload identity)
    #[argh(option)]
    pub subject: Option<String>,
    /// federated: the assertion's audience
    #[argh(option)]
    pub audience: Option<String>,
    /// the tenant's table (default TABLE_NAME, else scim)
    #[argh(option)]
    pub table: Option<String>,
}

/// the tenant's clients: id, kind, name, created, expires (never a secret)
#[derive(argh::FromArgs, Debug)]
#[argh(subcommand, name = "list-clients")]
pub struct ListClients {
    /// the tenant id
    #[argh(option)]
    pub tenant: String,
    /// the tenant's table (default TABLE_NAME, else scim)
    #[argh(option)]
    pub table: Option<String>,
}

/// revoke a client: no new tokens at once, its issued tokens refused within a minute
#[derive(argh::FromArgs, Debug)]
#[argh(subcommand, name = "revoke-client")]
pub struct RevokeClient {
    /// the tenant id
    #[argh(option)]
    pub tenant: String,
    /// the client id
    #[argh(option)]
    pub client_id: String,
    /// the tenant's table (default TABLE_NAME, else scim)
    #[argh(option)]
    pub table: Option<String>,
}

/// new signing key for access tokens; the replaced key keeps verifying for six hours (the
/// longest token lifetime), so no issued token breaks
#[derive(argh::FromArgs, Debug)]
#[argh(subcommand, name = "rotate-key")]
pub struct RotateKey {
    /// the tenant id
    #[argh(option)]
    pub tenant: Option<String>,
    /// the signing secret's name or ARN (default scim/<tenant>/signing-key)
    #[argh(option)]
    pub secret_id: Option<String>,
}

/// The signing secret a stack creates for a tenant.
pub fn default_signing_secret_id(tenant: &str) -> String {
    format!("scim/{tenant}/signing-key")
}

fn time(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

fn store_failed(e: scim_service::port::StoreError) -> AdminError {
    AdminError::Failed(format!("the store: {e}"))
}

pub(crate) async fn run(
    secrets: &aws_sdk_secretsmanager::Client,
    dynamodb: Option<&aws_sdk_dynamodb::Client>,
    command: &OAuthCommand,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<(), AdminError> {
    let now = OffsetDateTime::now_utc();
    match command {
        OAuthCommand::CreateClient(a) => {
            let store = store(dynamodb, &a.tenant, a.table.as_deref())?;
            let existing = store.clients(&a.tenant).await.map_err(store_failed)?;
            if existing.len() >= clients::MAX_CLIENTS {
                return Err(AdminError::Failed(format!(
                    "the tenant already has {} clients; revoke one first",
                    clients::MAX_CLIENTS
                )));
            }
            let federated = (&a.entra_tenant, &a.subject, &a.audience);
            let (client, secret) = match federated {
                (None, None, None) => {
                    let days = a.days.unwrap_or(clients::DEFAULT_SECRET_DAYS);
                    let made = clients::new_secret_client(a.name.as_deref(), days, now)
                        .map_err(|e| AdminError::Usage(e.0))?;
                    (made.client, Some(made.secret))
                }
                (Some(t), Some(s), Some(aud)) if a.days.is_none() => {
                    let c = clients::new_federated_client(a.name.as_deref(), t, s, aud, now)
                        .map_err(|e| AdminError::Usage(e.0))?;
                    (c, None)
                }
                _ => {
                    return Err(AdminError::Usage(
                        "a federated client needs --entra-tenant, --subject and --audience (and no --days)".into(),
                    ))
                }
            };
            store
                .put_client(&a.tenant, &client)
                .await
                .map_err(store_failed)?;
            let mut shown = serde_json::json!({
                "clientId": client.id,
                "type": client.kind(),
                "created": time(client.created),
                "expires": client.expires.map(time),
            });
            if let Some(secret) = secret {
                shown["clientSecret"] = serde_json::json!(secret);
                let _ = writeln!(
                    err,
                    "The client secret is printed only this once: enter it, the client id and the stack's TokenEndpoint in Entra ID."
                );
            }
            writeln!(out, "{shown}").map_err(output_error)?;
        }
        OAuthCommand::ListClients(a) => {
            let store = store(dynamodb, &a.tenant, a.table.as_deref())?;
            writeln!(
                out,
                "{:<25} {:<10} {:<21} {:<21} NAME / TRUST",
                "CLIENT ID", "KIND", "CREATED", "EXPIRES"
            )
            .map_err(output_error)?;
            for c in store.clients(&a.tenant).await.map_err(store_failed)? {
                let detail = match &c.auth {
                    ClientAuth::Secret(_) => c.name.clone().unwrap_or_default(),
                    ClientAuth::Federated(t) => format!(
                        "{} (tenant {}, sub {}, aud {})",
                        c.name.clone().unwrap_or_default(),
                        t.entra_tenant,
                        t.subject,
                        t.audience
                    ),
                };
                let expires = match c.expires {
                    Some(e) if c.expired(now) => format!("{} (expired)", time(e)),
                    Some(e) => time(e),
                    None => "-".into(),
                };
                writeln!(
                    out,
                    "{:<25} {:<10} {:<21} {:<21} {detail}",
                    c.id,
                    c.kind(),
                    time(c.created),
                    expires
                )
                .map_err(output_error)?;
            }
        }
        OAuthCommand::RevokeClient(a) => {
            let store = store(dynamodb, &a.tenant, a.table.as_deref())?;
            let revoked = clients::valid_client_id(&a.client_id)
                && store
                    .revoke_client(&a.tenant, &a.client_id, now)
                    .await
                    .map_err(store_failed)?;
            if !revoked {
                return Err(AdminError::Failed(format!(
                    "no client {} in tenant {}",
                    a.client_id, a.tenant
                )));
            }
            writeln!(
                out,
                "revoked client {}: no new tokens; its access tokens are refused within a minute",
                a.client_id
            )
            .map_err(output_error)?;
        }
        OAuthCommand::RotateKey(a) => {
            let secret_id = match (&a.secret_id, &a.tenant) {
                (Some(s), _) => s.clone(),
                (None, Some(t)) => {
                    scim_aws::config::check_tenant_id(t).map_err(AdminError::Usage)?;
                    default_signing_secret_id(t)
                }
                (None, None) => {
                    return Err(AdminError::Usage("pass --tenant or --secret-id".into()))
                }
            };
            let keys = scim_aws::oauth::rotate_key(secrets, &secret_id, now).await?;
            writeln!(
                out,
                "rotated {secret_id}: key {} signs now; kept for verification: {}",
                keys.current().kid,
                keys.kids()[1..].join(", ")
            )
            .map_err(output_error)?;
        }
    }
    Ok(())
}
