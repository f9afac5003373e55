//! `scim-admin`: the operator's command for a tenant's bearer tokens, contact end dates and
//! audit trail. The command line is parsed by argh ([`Cli`]; `scim-admin help`, and
//! `scim-admin <command> --help`).
//!
//! ```text
//! scim-admin generate        --tenant <id> [--secret-id <name|arn>]
//! scim-admin list            (--tenant <id> | --secret-id <name|arn>)
//! scim-admin revoke-previous (--tenant <id> | --secret-id <name|arn>)
//! scim-admin end-date        --tenant <id> --id <user id> (--date <RFC 3339> | --clear)
//! scim-admin audit           --tenant <id> --id <user or group id>
//! scim-admin oauth create-client --tenant <id> [--name <label>] [--days <n>]
//!                                [--entra-tenant <guid> --subject <sub> --audience <aud>]
//! scim-admin oauth list-clients  --tenant <id>
//! scim-admin oauth revoke-client --tenant <id> --client-id <id>
//! scim-admin oauth rotate-key    (--tenant <id> | --secret-id <name|arn>)
//! scim-admin catalog --tenant <id> [--file <catalog.json>]
//! ```
//!
//! `catalog` sets the tenant's entitlements and roles (Okta Identity Governance reads them
//! from `/Entitlements` and `/Roles`) from a JSON file
//! `{"entitlements": [{"id", "displayName", "type"?, "description"?}], "roles": [...]}` —
//! each kind given replaces that kind whole, a kind left out is kept — the same check and
//! store call as the application API's `PUT /app/v1/entitlements`; it prints the catalog
//! (without `--file`, only prints it). See [`catalog`].
//!
//! `oauth` manages the OAuth clients in the tenant's table (see [`oauth`]) and rotates the
//! access-token signing key in `scim/<tenant>/signing-key`.
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

pub mod catalog;
pub mod contacts;
pub mod oauth;

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

/// The operator's command for a tenant's bearer tokens, its contacts' end dates and its
/// audit trail.
#[derive(argh::FromArgs, Debug)]
#[argh(
    help_triggers("-h", "--help", "help"),
    note = "end-date and audit use the tenant's table: --table, else TABLE_NAME, else scim \
            (AWS_ENDPOINT_URL_DYNAMODB for a local engine).",
    note = "The secret defaults to scim/<tenant>/bearer-token. AWS region, credentials and \
            AWS_ENDPOINT_URL_SECRETS_MANAGER (e.g. moto locally) come from the usual environment."
)]
pub struct Cli {
    #[argh(subcommand)]
    pub command: Command,
}

#[derive(argh::FromArgs, Debug)]
#[argh(subcommand)]
pub enum Command {
    Generate(Generate),
    List(List),
    RevokePrevious(RevokePrevious),
    EndDate(EndDate),
    Audit(Audit),
    OAuth(oauth::OAuth),
    Catalog(Catalog),
}

/// set the tenant's entitlements and roles from a JSON file ({"entitlements": [...],
/// "roles": [...]}; a kind given replaces that kind, one left out is kept), then print the
/// catalog; without --file, only print it
#[derive(argh::FromArgs, Debug)]
#[argh(subcommand, name = "catalog")]
pub struct Catalog {
    /// the tenant id
    #[argh(option)]
    pub tenant: String,
    /// the JSON file with the catalog to set
    #[argh(option)]
    pub file: Option<String>,
    /// the tenant's table (default TABLE_NAME, else scim)
    #[argh(option)]
    pub table: Option<String>,
}

/// new token for the tenant: creates the secret, or rotates it (the new token becomes
/// AWSCURRENT, the replaced one AWSPREVIOUS and keeps working until revoked); prints the
/// token once, alone on stdout
#[derive(argh::FromArgs, Debug)]
#[argh(subcommand, name = "generate")]
pub struct Generate {
    /// the tenant id
    #[argh(option)]
    pub tenant: Option<String>,
    /// the secret's name or ARN (default scim/<tenant>/bearer-token)
    #[argh(option)]
    pub secret_id: Option<String>,
}

/// version id, token id, stages and creation date of each token (never a token)
#[derive(argh::FromArgs, Debug)]
#[argh(subcommand, name = "list")]
pub struct List {
    /// the tenant id
    #[argh(option)]
    pub tenant: Option<String>,
    /// the secret's name or ARN (default scim/<tenant>/bearer-token)
    #[argh(option)]
    pub secret_id: Option<String>,
}

/// retire the AWSPREVIOUS token (refused everywhere within 60 s)
#[derive(argh::FromArgs, Debug)]
#[argh(subcommand, name = "revoke-previous")]
pub struct RevokePrevious {
    /// the tenant id
    #[argh(option)]
    pub tenant: Option<String>,
    /// the secret's name or ARN (default scim/<tenant>/bearer-token)
    #[argh(option)]
    pub secret_id: Option<String>,
}

/// set (--date 2026-12-31T17:00:00Z) or remove (--clear) a user's contact end date; the
/// expiry job deactivates the user once it has passed
#[derive(argh::FromArgs, Debug)]
#[argh(subcommand, name = "end-date")]
pub struct EndDate {
    /// the tenant id
    #[argh(option)]
    pub tenant: String,
    /// the user's id
    #[argh(option)]
    pub id: String,
    /// the end date (RFC 3339)
    #[argh(option)]
    pub date: Option<String>,
    /// remove the end date
    #[argh(switch)]
    pub clear: bool,
    /// the tenant's table (default TABLE_NAME, else scim)
    #[argh(option)]
    pub table: Option<String>,
}

/// the audit records of a user or group, oldest first, one JSON per line
#[derive(argh::FromArgs, Debug)]
#[argh(subcommand, name = "audit")]
pub struct Audit {
    /// the tenant id
    #[argh(option)]
    pub tenant: String,
    /// the user's or group's id
    #[argh(option)]
    pub id: String,
    /// the tenant's table (default TABLE_NAME, else scim)
    #[argh(option)]
    pub table: Option<String>,
}

/// What a command line asks for: a command, or its help text (`help`, `--help`, `-h`).
#[derive(Debug)]
pub enum Parsed {
    Run(Command),
    Help(String),
}

/// Parses the command line (`args` without the program name). `--name=value` is taken as
/// `--name value`, which is all argh accepts.
pub fn parse(args: &[String]) -> Result<Parsed, AdminError> {
    let args: Vec<&str> = args
        .iter()
        .flat_map(|a| match a.split_once('=') {
            Some((name, value)) if name.starts_with("--") => vec![name, value],
            _ => vec![a.as_str()],
        })
        .collect();
    match <Cli as argh::FromArgs>::from_args(&["scim-admin"], &args) {
        Ok(cli) => Ok(Parsed::Run(cli.command)),
        Err(argh::EarlyExit {
            output,
            status: Ok(()),
        }) => Ok(Parsed::Help(output)),
        Err(argh::EarlyExit { output, .. }) => Err(AdminError::Usage(output.trim().to_string())),
    }
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
    let result = match parse(args) {
        Err(e) => Err(e),
        Ok(Parsed::Help(text)) => {
            let _ = write!(out, "{text}");
            Ok(())
        }
        Ok(Parsed::Run(command)) => match command {
            Command::Generate(a) => {
                let (tenant, secret) = (a.tenant.as_deref(), a.secret_id.as_deref());
                token_command(client, TokenOp::Generate, tenant, secret, out, err).await
            }
            Command::List(a) => {
                let (tenant, secret) = (a.tenant.as_deref(), a.secret_id.as_deref());
                token_command(client, TokenOp::List, tenant, secret, out, err).await
            }
            Command::RevokePrevious(a) => {
                let (tenant, secret) = (a.tenant.as_deref(), a.secret_id.as_deref());
                token_command(client, TokenOp::RevokePrevious, tenant, secret, out, err).await
            }
            Command::EndDate(a) => end_date(dynamodb, &a, out).await,
            Command::Audit(a) => audit(dynamodb, &a, out).await,
            Command::OAuth(a) => oauth::run(client, dynamodb, &a.command, out, err).await,
            Command::Catalog(a) => catalog_command(dynamodb, &a, out).await,
        },
    };
    match result {
        Ok(()) => 0,
        Err(AdminError::Usage(m)) => {
            let _ = writeln!(
                err,
                "scim-admin: {m}\nRun `scim-admin help` for the commands and their options."
            );
            2
        }
        Err(e) => {
            let _ = writeln!(err, "scim-admin: {e}");
            1
        }
    }
}

/// The tenant's store for `end-date` and `audit`.
pub(crate) fn store(
    dynamodb: Option<&aws_sdk_dynamodb::Client>,
    tenant: &str,
    table: Option<&str>,
) -> Result<scim_aws::DynamoStore, AdminError> {
    check_tenant_id(tenant).map_err(AdminError::Usage)?;
    let client = dynamodb.ok_or_else(|| AdminError::Failed("no DynamoDB client".into()))?;
    let table = table
        .map(str::to_string)
        .or_else(|| {
            std::env::var("TABLE_NAME")
                .ok()
                .filter(|t| !t.trim().is_empty())
        })
        .unwrap_or_else(|| "scim".to_string());
    Ok(scim_aws::DynamoStore::new(client.clone(), table))
}

pub(crate) fn output_error(e: std::io::Error) -> AdminError {
    AdminError::Failed(format!("cannot write the output: {e}"))
}

async fn audit(
    dynamodb: Option<&aws_sdk_dynamodb::Client>,
    args: &Audit,
    out: &mut dyn Write,
) -> Result<(), AdminError> {
    let store = store(dynamodb, &args.tenant, args.table.as_deref())?;
    for record in contacts::audit(&store, &args.tenant, &args.id).await? {
        writeln!(out, "{record}").map_err(output_error)?;
    }
    Ok(())
}

async fn catalog_command(
    dynamodb: Option<&aws_sdk_dynamodb::Client>,
    args: &Catalog,
    out: &mut dyn Write,
) -> Result<(), AdminError> {
    let store = store(dynamodb, &args.tenant, args.table.as_deref())?;
    if let Some(path) = &args.file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| AdminError::Usage(format!("cannot read {path}: {e}")))?;
        catalog::set(&store, &args.tenant, &text).await?;
    }
    let current = catalog::show(&store, &args.tenant).await?;
    writeln!(out, "{current}").map_err(output_error)?;
    Ok(())
}

async fn end_date(
    dynamodb: Option<&aws_sdk_dynamodb::Client>,
    args: &EndDate,
    out: &mut dyn Write,
) -> Result<(), AdminError> {
    let end = match (&args.date, args.clear) {
        (Some(d), false) => Some(d.as_str()),
        (None, true) => None,
        _ => {
            return Err(AdminError::Usage(
                "end-date takes exactly one of --date <RFC 3339> and --clear".into(),
            ))
        }
    };
    let store = store(dynamodb, &args.tenant, args.table.as_deref())?;
    let user = contacts::set_end_date(&store, &args.tenant, &args.id, end).await?;
    writeln!(out, "{user}").map_err(output_error)?;
    Ok(())
}

/// The commands on the token secret.
#[derive(Debug, Clone, Copy)]
enum TokenOp {
    Generate,
    List,
    RevokePrevious,
}

/// A token command on the secret named by `--secret-id`, else the tenant's.
async fn token_command(
    client: &Client,
    op: TokenOp,
    tenant: Option<&str>,
    secret_id: Option<&str>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<(), AdminError> {
    let secret_id = match (secret_id, tenant) {
        (Some(s), _) => s.to_string(),
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
    let io = output_error;
    match op {
        TokenOp::Generate => {
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
        TokenOp::List => {
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
        TokenOp::RevokePrevious => match revoke_previous(client, &secret_id, tenant).await? {
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
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn an_unknown_option_is_a_usage_error_that_names_it() {
        match parse(&args(&["list", "--tenant", "acme", "--tenent", "acme"])) {
            Err(AdminError::Usage(m)) => assert!(m.contains("--tenent"), "{m}"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse(&args(&["end-date", "--tenant", "acme"])),
            Err(AdminError::Usage(m)) if m.contains("--id")
        ));
    }

    #[test]
    fn name_equals_value_is_the_same_as_name_space_value() {
        let Parsed::Run(Command::EndDate(a)) = parse(&args(&[
            "end-date",
            "--tenant=acme",
            "--id",
            "u1",
            "--date=2026-12-31T17:00:00+01:00",
        ]))
        .unwrap() else {
            panic!("not end-date")
        };
        assert_eq!(
            (a.tenant.as_str(), a.date.as_deref()),
            ("acme", Some("2026-12-31T17:00:00+01:00"))
        );
    }

    #[test]
    fn help_lists_every_command() {
        for h in ["help", "--help", "-h"] {
            let Parsed::Help(text) = parse(&args(&[h])).unwrap() else {
                panic!("{h}: no help")
            };
            for c in [
                "generate",
                "list",
                "revoke-previous",
                "end-date",
                "audit",
                "oauth",
                "catalog",
            ] {
                assert!(text.contains(c), "{h}: {text}");
            }
        }
    }
}
