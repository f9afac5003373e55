//! `scim-admin`: the operator's command for a tenant's bearer tokens.
//!
//! ```text
//! scim-admin generate        --tenant <id> [--secret-id <name|arn>]
//! scim-admin list            (--tenant <id> | --secret-id <name|arn>)
//! scim-admin revoke-previous (--tenant <id> | --secret-id <name|arn>)
//! scim-admin end-date        --tenant <id> --id <user id> (--date <RFC 3339> | --clear)
//! scim-admin audit           --tenant <id> --id <user or group id>
//! ```
//!
//! `end-date` and `audit` work on the tenant's table (`--table`, else `TABLE_NAME`, else
//! `scim`; `AWS_ENDPOINT_URL_DYNAMODB` points it at a local engine): see [`contacts`].
//!
//! The secret defaults to `scim/<tenant>/bearer-token` (the stack's name for it). The
//! client is the SDK's standard one: `AWS_ENDPOINT_URL_SECRETS_MANAGER` points it at moto.
//!
//! `generate` creates the secret when it does not exist (the new token is `AWSCURRENT`);
//! otherwise it runs the rotation function's four steps ([`rotation`]) with a fresh
//! version id: the new token becomes `AWSCURRENT`, the one it replaces `AWSPREVIOUS` (both
//! accepted, so the IdP keeps working until the admin pastes the new token), and the token
//! that was `AWSPREVIOUS` before is retired. It prints the token once, on stdout, alone;
//! nothing else ever prints a token. `list` shows version ids, token ids, stages and
//! dates. `revoke-previous` removes `AWSPREVIOUS`: that token stops working within the
//! functions' cache TTL (60 s).

use aws_sdk_secretsmanager::Client;
use scim_aws::config::check_tenant_id;
pub use scim_aws::tokens::admin::{generate, list, revoke_previous, NewToken, TokenVersion};
use scim_aws::tokens::{TokenError, AWSCURRENT, AWSPREVIOUS, CACHE_TTL};
use std::io::Write;

pub mod contacts;

/// The secret a stack creates for a tenant.
pub fn default_secret_id(tenant: &str) -> String {
    format!("scim/{tenant}/bearer-token")
}

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Token(TokenError),
    /// A user operation failed (not found, invalid date, the store).
    #[error("{0}")]
    Failed(String),
}

impl From<TokenError> for AdminError {
    fn from(e: TokenError) -> Self {
        match e {
            TokenError::Refused(m) => AdminError::Usage(m),
            other => AdminError::Token(other),
        }
    }
}

pub const USAGE: &str = "\
usage: scim-admin <command> [--tenant <id>] [--secret-id <name|arn>]

commands:
  generate         new token for the tenant: creates the secret, or rotates it (the new
                   token becomes AWSCURRENT, the replaced one AWSPREVIOUS and keeps working
                   until revoked); prints the token once, alone on stdout
  list             version id, token id, stages and creation date of each token (never a token)
  revoke-previous  retire the AWSPREVIOUS token (refused everywhere within 60 s)
  end-date         set (--date 2026-12-31T17:00:00Z) or remove (--clear) a user's contact
                   end date (--id); the expiry job deactivates the user once it has passed
  audit            the audit records of a user or group (--id), oldest first, one JSON per line

end-date and audit use the tenant's table: --table, else TABLE_NAME, else scim
(AWS_ENDPOINT_URL_DYNAMODB for a local engine).

The secret defaults to scim/<tenant>/bearer-token. AWS region, credentials and
AWS_ENDPOINT_URL_SECRETS_MANAGER (e.g. moto locally) come from the usual environment.
";

struct Args {
    command: String,
    tenant: Option<String>,
    secret_id: Option<String>,
    id: Option<String>,
    date: Option<String>,
    table: Option<String>,
    clear: bool,
}

fn parse_args(args: &[String]) -> Result<Args, String> {
    let mut it = args.iter();
    let command = it.next().cloned().ok_or("no command given")?;
    let (mut tenant, mut secret_id) = (None, None);
    let (mut id, mut date, mut table, mut clear) = (None, None, None, false);
    while let Some(a) = it.next() {
        if a == "--clear" {
            clear = true;
            continue;
        }
        let (name, inline) = match a.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (a.as_str(), None),
        };
        let slot = match name {
            "--tenant" => &mut tenant,
            "--secret-id" => &mut secret_id,
            "--id" => &mut id,
            "--date" => &mut date,
            "--table" => &mut table,
            _ => return Err(format!("unknown argument '{a}'")),
        };
        let value = match inline {
            Some(v) => v,
            None => it.next().cloned().ok_or(format!("{name} needs a value"))?,
        };
        *slot = Some(value);
    }
    Ok(Args {
        command,
        tenant,
        secret_id,
        id,
        date,
        table,
        clear,
    })
}

/// The command line (`args` without the program name). Returns the exit code: 0 done,
/// 1 failed, 2 usage error. Token commands only; see [`run_with`].
pub async fn run(client: &Client, args: &[String], out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    run_with(client, None, args, out, err).await
}

/// [`run`] with the tenant's DynamoDB client for `end-date` and `audit` (the table comes
/// from `--table`, else `TABLE_NAME`, else `scim`).
pub async fn run_with(
    client: &Client,
    dynamodb: Option<&aws_sdk_dynamodb::Client>,
    args: &[String],
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> u8 {
    let result = match parse_args(args) {
        Err(m) => Err(AdminError::Usage(m)),
        Ok(a) if matches!(a.command.as_str(), "end-date" | "audit") => {
            user_command(dynamodb, &a, out).await
        }
        Ok(a) => token_command(client, &a, out, err).await,
    };
    match result {
        Ok(()) => 0,
        Err(AdminError::Usage(m)) => {
            let _ = writeln!(err, "scim-admin: {m}\n\n{USAGE}");
            2
        }
        Err(e) => {
            let _ = writeln!(err, "scim-admin: {e}");
            1
        }
    }
}

async fn user_command(
    dynamodb: Option<&aws_sdk_dynamodb::Client>,
    args: &Args,
    out: &mut dyn Write,
) -> Result<(), AdminError> {
    let usage = |m: &str| AdminError::Usage(m.to_string());
    let tenant = args
        .tenant
        .as_deref()
        .ok_or_else(|| usage("pass --tenant"))?;
    check_tenant_id(tenant).map_err(AdminError::Usage)?;
    let id = args.id.as_deref().ok_or_else(|| usage("pass --id"))?;
    let client = dynamodb.ok_or_else(|| AdminError::Failed("no DynamoDB client".into()))?;
    let table = args
        .table
        .clone()
        .or_else(|| {
            std::env::var("TABLE_NAME")
                .ok()
                .filter(|t| !t.trim().is_empty())
        })
        .unwrap_or_else(|| "scim".to_string());
    let store = scim_aws::DynamoStore::new(client.clone(), table);
    let io = |e: std::io::Error| AdminError::Failed(format!("cannot write the output: {e}"));
    if args.command == "audit" {
        for record in contacts::audit(&store, tenant, id).await? {
            writeln!(out, "{record}").map_err(io)?;
        }
        return Ok(());
    }
    let end = match (&args.date, args.clear) {
        (Some(d), false) => Some(d.as_str()),
        (None, true) => None,
        _ => {
            return Err(usage(
                "end-date takes exactly one of --date <RFC 3339> and --clear",
            ))
        }
    };
    let user = contacts::set_end_date(&store, tenant, id, end).await?;
    writeln!(out, "{user}").map_err(io)?;
    Ok(())
}

async fn token_command(
    client: &Client,
    args: &Args,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<(), AdminError> {
    if matches!(args.command.as_str(), "help" | "--help" | "-h") {
        let _ = write!(out, "{USAGE}");
        return Ok(());
    }
    if !matches!(
        args.command.as_str(),
        "generate" | "list" | "revoke-previous"
    ) {
        return Err(AdminError::Usage(format!(
            "unknown command '{}'",
            args.command
        )));
    }
    let tenant = args.tenant.as_deref();
    let secret_id = match (&args.secret_id, tenant) {
        (Some(s), _) => s.clone(),
        (None, Some(t)) => {
            check_tenant_id(t).map_err(AdminError::Usage)?;
            default_secret_id(t)
        }
        (None, None) => {
            return Err(AdminError::Usage(
                "pass --tenant or --secret-id".to_string(),
            ))
        }
    };
    let io = |e: std::io::Error| AdminError::Usage(format!("cannot write the output: {e}"));
    match args.command.as_str() {
        "generate" => {
            let new = generate(client, &secret_id, tenant).await?;
            writeln!(out, "{}", new.token.expose()).map_err(io)?;
            let what = if new.created_secret {
                format!("created secret {}", new.secret_id)
            } else {
                format!("rotated secret {}", new.secret_id)
            };
            let _ = writeln!(
                err,
                "{what}: new token {} (version {}) for tenant {} is {AWSCURRENT}. It is printed only this once: paste it into Entra ID (Secret Token) or Okta (API token).",
                new.token.id(),
                new.version_id,
                new.tenant
            );
            if let Some(prev) = new.previous_token_id {
                let _ = writeln!(
                    err,
                    "The replaced token {prev} stays valid as {AWSPREVIOUS} until `scim-admin revoke-previous`."
                );
            }
        }
        "list" => {
            let versions = list(client, &secret_id, tenant).await?;
            writeln!(
                out,
                "{:<38} {:<9} {:<12} {:<26} STAGES",
                "VERSION", "TOKEN ID", "TENANT", "CREATED"
            )
            .map_err(io)?;
            for v in versions {
                writeln!(
                    out,
                    "{:<38} {:<9} {:<12} {:<26} {}",
                    v.version_id,
                    v.token_id.as_deref().unwrap_or("(invalid)"),
                    v.tenant.as_deref().unwrap_or("-"),
                    v.created.as_deref().unwrap_or("-"),
                    v.stages.join(",")
                )
                .map_err(io)?;
            }
        }
        "revoke-previous" => match revoke_previous(client, &secret_id, tenant).await? {
            Some(v) => {
                writeln!(
                    out,
                    "revoked token {} (version {}); it is refused within {} s",
                    v.token_id.as_deref().unwrap_or("(invalid)"),
                    v.version_id,
                    CACHE_TTL.as_secs()
                )
                .map_err(io)?;
            }
            None => {
                writeln!(out, "no {AWSPREVIOUS} token to revoke").map_err(io)?;
            }
        },
        other => return Err(AdminError::Usage(format!("unknown command '{other}'"))),
    }
    Ok(())
}
