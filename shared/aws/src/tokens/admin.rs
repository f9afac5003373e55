//! Generating, listing and retiring a tenant's bearer tokens in Secrets Manager: what
//! `scim-admin` runs for the operator and what the application API's `app-settings`
//! function runs for the product's settings dialog ([`SecretsTokenAdmin`]).
//!
//! `generate` creates the secret when it does not exist (the new token is `AWSCURRENT`);
//! otherwise it runs the rotation function's four steps ([`super::rotation`]) with a fresh
//! version id: the new token becomes `AWSCURRENT`, the one it replaces `AWSPREVIOUS` (both
//! accepted), and the token that was `AWSPREVIOUS` before is retired.

use super::rotation;
use super::{
    read_stage, read_version, sdk_error, BearerToken, TokenError, TokenSecret, AWSCURRENT,
    AWSPENDING, AWSPREVIOUS,
};
use crate::config::check_tenant_id;
use aws_sdk_secretsmanager::Client;
use scim_service::settings::{
    NewToken as AppToken, TokenAdmin, TokenAdminError, TokenInfo, TokenStage,
};

/// What `generate` stored. `Debug` never shows the token.
#[derive(Debug)]
pub struct NewToken {
    pub secret_id: String,
    pub version_id: String,
    pub tenant: String,
    pub token: BearerToken,
    /// True when the secret did not exist and was created.
    pub created_secret: bool,
    /// The token id of the token that became `AWSPREVIOUS`.
    pub previous_token_id: Option<String>,
}

/// One labelled version of the secret, as `list` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenVersion {
    pub version_id: String,
    /// `None` when the value is not a token secret.
    pub token_id: Option<String>,
    pub tenant: Option<String>,
    pub stages: Vec<String>,
    pub created: Option<String>,
}

async fn labels(
    client: &Client,
    secret_id: &str,
) -> Result<Option<std::collections::HashMap<String, Vec<String>>>, TokenError> {
    match rotation::versions(client, secret_id).await {
        Ok(v) => Ok(Some(v)),
        Err(TokenError::NotFound(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Generates a new token for the tenant of `secret_id` and makes it current; creates the
/// secret (for `tenant`) when it does not exist. A `tenant` that differs from the one the
/// secret is bound to is refused.
pub async fn generate(
    client: &Client,
    secret_id: &str,
    tenant: Option<&str>,
) -> Result<NewToken, TokenError> {
    if let Some(t) = tenant {
        check_tenant_id(t).map_err(TokenError::Refused)?;
    }
    let version_id = uuid::Uuid::now_v7().to_string();
    if labels(client, secret_id).await?.is_none() {
        let tenant = tenant.ok_or_else(|| {
            TokenError::Refused(format!(
                "secret {secret_id} does not exist; pass --tenant to create it"
            ))
        })?;
        let new = TokenSecret::new(tenant, BearerToken::generate()?)?;
        client
            .create_secret()
            .name(secret_id)
            .client_request_token(&version_id)
            .description(format!(
                "SCIM bearer token for tenant {tenant} (the Secret Token pasted into Entra/Okta)"
            ))
            .secret_string(new.to_secret_string())
            .send()
            .await
            .map_err(|e| sdk_error("CreateSecret", secret_id, e))?;
        return Ok(NewToken {
            secret_id: secret_id.to_string(),
            version_id,
            tenant: new.tenant,
            token: new.token,
            created_secret: true,
            previous_token_id: None,
        });
    }
    let current = read_stage(client, secret_id, AWSCURRENT, tenant)
        .await?
        .ok_or_else(|| TokenError::NotFound(format!("{secret_id} has no {AWSCURRENT} version")))?
        .secret?;
    if let Some(t) = tenant {
        if t != current.tenant {
            return Err(TokenError::Refused(format!(
                "secret {secret_id} holds the token of tenant {}, not {t}",
                current.tenant
            )));
        }
    }
    rotation::create_secret(client, secret_id, &version_id, tenant).await?;
    rotation::set_secret(client, secret_id, &version_id).await?;
    rotation::test_secret(client, secret_id, &version_id, tenant).await?;
    rotation::finish_secret(client, secret_id, &version_id).await?;
    let new = read_version(client, secret_id, &version_id, AWSCURRENT, None)
        .await?
        .ok_or_else(|| TokenError::NotFound(format!("version {version_id} after rotation")))?
        .secret?;
    Ok(NewToken {
        secret_id: secret_id.to_string(),
        version_id,
        tenant: new.tenant,
        token: new.token,
        created_secret: false,
        previous_token_id: Some(current.token.id()),
    })
}

fn stage_rank(stages: &[String]) -> usize {
    [AWSCURRENT, AWSPREVIOUS, AWSPENDING]
        .iter()
        .position(|s| stages.iter().any(|x| x == s))
        .unwrap_or(3)
}

/// The labelled versions: current first, then previous, then pending. Never a token.
/// `tenant` binds a bare-token value (a stack's first generated value) for display.
pub async fn list(
    client: &Client,
    secret_id: &str,
    tenant: Option<&str>,
) -> Result<Vec<TokenVersion>, TokenError> {
    let labels = labels(client, secret_id)
        .await?
        .ok_or_else(|| TokenError::NotFound(format!("secret {secret_id}")))?;
    let mut out = Vec::new();
    for (version_id, stages) in labels {
        // Each read names a stage: moto answers a read without one with a stale value.
        let Some(stage) = stages.first() else {
            continue;
        };
        let read = read_version(client, secret_id, &version_id, stage, tenant).await?;
        let (token_id, tenant, created) = match read {
            Some(v) => match v.secret {
                Ok(s) => (Some(s.token.id()), Some(s.tenant), v.created),
                Err(_) => (None, None, v.created),
            },
            None => (None, None, None),
        };
        out.push(TokenVersion {
            version_id,
            token_id,
            tenant,
            stages,
            created,
        });
    }
    out.sort_by(|a, b| {
        (stage_rank(&a.stages), &a.created).cmp(&(stage_rank(&b.stages), &b.created))
    });
    Ok(out)
}

/// Removes `AWSPREVIOUS`; returns the version it was on (`None`: nothing to revoke).
pub async fn revoke_previous(
    client: &Client,
    secret_id: &str,
    tenant: Option<&str>,
) -> Result<Option<TokenVersion>, TokenError> {
    let labels = labels(client, secret_id)
        .await?
        .ok_or_else(|| TokenError::NotFound(format!("secret {secret_id}")))?;
    let Some((version_id, stages)) = labels
        .into_iter()
        .find(|(_, stages)| stages.iter().any(|s| s == AWSPREVIOUS))
    else {
        return Ok(None);
    };
    let read = read_version(client, secret_id, &version_id, AWSPREVIOUS, tenant).await?;
    client
        .update_secret_version_stage()
        .secret_id(secret_id)
        .version_stage(AWSPREVIOUS)
        .remove_from_version_id(&version_id)
        .send()
        .await
        .map_err(|e| sdk_error("UpdateSecretVersionStage", secret_id, e))?;
    let (token_id, tenant, created) = match read {
        Some(v) => match v.secret {
            Ok(s) => (Some(s.token.id()), Some(s.tenant), v.created),
            Err(_) => (None, None, v.created),
        },
        None => (None, None, None),
    };
    Ok(Some(TokenVersion {
        version_id,
        token_id,
        tenant,
        stages: stages.into_iter().filter(|s| s != AWSPREVIOUS).collect(),
        created,
    }))
}

/// The token admin of one tenant's secret, for the application API.
#[derive(Clone)]
pub struct SecretsTokenAdmin {
    client: Client,
    secret_id: String,
}

impl SecretsTokenAdmin {
    pub fn new(client: Client, secret_id: impl Into<String>) -> SecretsTokenAdmin {
        SecretsTokenAdmin {
            client,
            secret_id: secret_id.into(),
        }
    }
}

fn admin_error(e: TokenError) -> TokenAdminError {
    TokenAdminError(e.to_string())
}

fn info(v: &TokenVersion) -> Option<TokenInfo> {
    let stage = if v.stages.iter().any(|s| s == AWSCURRENT) {
        TokenStage::Current
    } else if v.stages.iter().any(|s| s == AWSPREVIOUS) {
        TokenStage::Previous
    } else {
        return None;
    };
    Some(TokenInfo {
        id: v.token_id.clone()?,
        created: v.created.clone(),
        stage,
    })
}

impl TokenAdmin for SecretsTokenAdmin {
    async fn tokens(&self, tenant: &str) -> Result<Vec<TokenInfo>, TokenAdminError> {
        match list(&self.client, &self.secret_id, Some(tenant)).await {
            Ok(versions) => Ok(versions.iter().filter_map(info).collect()),
            Err(TokenError::NotFound(_)) => Ok(Vec::new()),
            Err(e) => Err(admin_error(e)),
        }
    }

    async fn generate(&self, tenant: &str) -> Result<AppToken, TokenAdminError> {
        let new = generate(&self.client, &self.secret_id, Some(tenant))
            .await
            .map_err(admin_error)?;
        let created = time::OffsetDateTime::now_utc();
        Ok(AppToken {
            id: new.token.id(),
            token: new.token.expose().to_string(),
            created: scim_core::resource::format_datetime(created),
        })
    }

    async fn retire_previous(&self, tenant: &str) -> Result<Option<TokenInfo>, TokenAdminError> {
        match revoke_previous(&self.client, &self.secret_id, Some(tenant)).await {
            Ok(Some(v)) => Ok(Some(TokenInfo {
                id: v.token_id.unwrap_or_default(),
                created: v.created,
                stage: TokenStage::Previous,
            })),
            Ok(None) | Err(TokenError::NotFound(_)) => Ok(None),
            Err(e) => Err(admin_error(e)),
        }
    }
}
