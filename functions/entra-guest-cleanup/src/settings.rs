//! Configuration from the environment, read once per cold start; a bad value fails the
//! cold start with a message naming it.
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `TABLE_NAME`, `TENANT_ID` | (required) | the table the audit records go to; the tenant this stack serves |
//! | `ENTRA_CLEANUP_MODE` | `off` | `off`, `disable` or `delete` |
//! | `ENTRA_CREDENTIALS_SECRET_ARN` | (required unless `off`) | the secret holding `{"tenantId","clientId","clientSecret"}` |
//! | `ENTRA_LOGIN_BASE_URL` | `https://login.microsoftonline.com` | the token endpoint's host (sovereign clouds: e.g. `https://login.microsoftonline.us`) |
//! | `GRAPH_BASE_URL` | `https://graph.microsoft.com` | Microsoft Graph (e.g. `https://graph.microsoft.us`) |
//! | `GRAPH_SCOPE` | `{GRAPH_BASE_URL}/.default` | the client-credentials scope |

pub const DEFAULT_LOGIN_BASE_URL: &str = "https://login.microsoftonline.com";
pub const DEFAULT_GRAPH_BASE_URL: &str = "https://graph.microsoft.com";

/// What happens in Entra ID to an expired guest: the tenant's `ENTRA_CLEANUP_MODE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Nothing: no secret read, no request, no audit record.
    #[default]
    Off,
    /// `PATCH /v1.0/users/{id}` with `{"accountEnabled": false}`.
    Disable,
    /// `DELETE /v1.0/users/{id}` (restorable in Entra for 30 days).
    Delete,
}

impl Mode {
    pub fn parse(value: &str) -> Result<Mode, String> {
        match value.trim().to_ascii_lowercase().as_str() {
            "" | "off" => Ok(Mode::Off),
            "disable" => Ok(Mode::Disable),
            "delete" => Ok(Mode::Delete),
            _ => Err(format!(
                "ENTRA_CLEANUP_MODE '{}' must be off, disable or delete",
                value.trim()
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Off => "off",
            Mode::Disable => "disable",
            Mode::Delete => "delete",
        }
    }

    /// The Microsoft Graph application permissions the mode needs (admin-consented).
    pub fn permissions(self) -> &'static str {
        match self {
            Mode::Off => "none",
            Mode::Disable => "User.EnableDisableAccount.All and User.Read.All",
            Mode::Delete => "User.ReadWrite.All",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub table: String,
    pub tenant: String,
    pub mode: Mode,
    pub credentials_secret: Option<String>,
    /// Without a trailing `/`.
    pub login_base_url: String,
    /// Without a trailing `/`.
    pub graph_base_url: String,
    pub graph_scope: String,
}

impl Settings {
    pub fn from_env() -> Result<Settings, String> {
        Settings::from_lookup(|name| std::env::var(name).ok())
    }

    /// The same from any lookup (tests pass a map).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Settings, String> {
        let var = |name: &str| {
            get(name)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let table = var("TABLE_NAME").ok_or("TABLE_NAME is not set")?;
        let tenant = var("TENANT_ID").ok_or("TENANT_ID is not set")?;
        scim_aws::config::check_tenant_id(&tenant)?;
        let mode = Mode::parse(&var("ENTRA_CLEANUP_MODE").unwrap_or_default())?;
        let credentials_secret = var("ENTRA_CREDENTIALS_SECRET_ARN");
        if mode != Mode::Off && credentials_secret.is_none() {
            return Err(format!(
                "ENTRA_CREDENTIALS_SECRET_ARN is not set (required when ENTRA_CLEANUP_MODE is {})",
                mode.as_str()
            ));
        }
        let login_base_url = base_url(
            "ENTRA_LOGIN_BASE_URL",
            &var("ENTRA_LOGIN_BASE_URL").unwrap_or_else(|| DEFAULT_LOGIN_BASE_URL.into()),
        )?;
        let graph_base_url = base_url(
            "GRAPH_BASE_URL",
            &var("GRAPH_BASE_URL").unwrap_or_else(|| DEFAULT_GRAPH_BASE_URL.into()),
        )?;
        let graph_scope =
            var("GRAPH_SCOPE").unwrap_or_else(|| format!("{graph_base_url}/.default"));
        Ok(Settings {
            table,
            tenant,
            mode,
            credentials_secret,
            login_base_url,
            graph_base_url,
            graph_scope,
        })
    }
}

/// A base URL: `https://host[:port][/path]`, or `http://` to a loopback host only (the
/// client secret and tokens never cross a network in clear). No query or fragment.
pub fn base_url(name: &str, value: &str) -> Result<String, String> {
    let value = value.trim().trim_end_matches('/');
    let bad = |why: &str| Err(format!("{name} '{value}' {why}"));
    let uri: http::Uri = match value.parse() {
        Ok(u) => u,
        Err(_) => return bad("is not a URL"),
    };
    let Some(host) = uri.host() else {
        return bad("has no host");
    };
    if uri.query().is_some() || value.contains('#') {
        return bad("must not have a query or fragment");
    }
    match uri.scheme_str() {
        Some("https") => Ok(value.to_string()),
        Some("http") if matches!(host, "127.0.0.1" | "localhost" | "[::1]" | "::1") => {
            Ok(value.to_string())
        }
        Some("http") => bad("must use https (http is accepted for loopback hosts only)"),
        _ => bad("must be an https URL"),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, String> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup(|name| map.get(name).cloned())
    }

    const BASE: &[(&str, &str)] = &[("TABLE_NAME", "scim"), ("TENANT_ID", "acme")];

    #[test]
    fn mode_defaults_to_off_and_needs_no_secret() {
        let s = settings(BASE).unwrap();
        assert_eq!(s.mode, Mode::Off);
        assert_eq!(s.credentials_secret, None);
        assert_eq!(s.login_base_url, "https://login.microsoftonline.com");
        assert_eq!(s.graph_base_url, "https://graph.microsoft.com");
        assert_eq!(s.graph_scope, "https://graph.microsoft.com/.default");
    }

    #[test]
    fn modes_parse_and_bad_values_are_named() {
        for (v, m) in [
            ("off", Mode::Off),
            (" Disable ", Mode::Disable),
            ("DELETE", Mode::Delete),
        ] {
            assert_eq!(Mode::parse(v).unwrap(), m);
        }
        let e = Mode::parse("purge").unwrap_err();
        assert!(
            e.contains("ENTRA_CLEANUP_MODE") && e.contains("purge"),
            "{e}"
        );
    }

    #[test]
    fn an_active_mode_needs_the_secret() {
        let mut vars = BASE.to_vec();
        vars.push(("ENTRA_CLEANUP_MODE", "delete"));
        let e = settings(&vars).unwrap_err();
        assert!(e.contains("ENTRA_CREDENTIALS_SECRET_ARN"), "{e}");
        vars.push(("ENTRA_CREDENTIALS_SECRET_ARN", "arn:aws:secretsmanager:x"));
        assert_eq!(settings(&vars).unwrap().mode, Mode::Delete);
    }

    #[test]
    fn sovereign_clouds_derive_the_scope_from_graph() {
        let mut vars = BASE.to_vec();
        vars.push(("ENTRA_LOGIN_BASE_URL", "https://login.microsoftonline.us/"));
        vars.push(("GRAPH_BASE_URL", "https://graph.microsoft.us/"));
        let s = settings(&vars).unwrap();
        assert_eq!(s.login_base_url, "https://login.microsoftonline.us");
        assert_eq!(s.graph_base_url, "https://graph.microsoft.us");
        assert_eq!(s.graph_scope, "https://graph.microsoft.us/.default");
        vars.push(("GRAPH_SCOPE", "https://graph.microsoft.com/.default"));
        assert_eq!(
            settings(&vars).unwrap().graph_scope,
            "https://graph.microsoft.com/.default"
        );
    }

    #[test]
    fn clear_text_http_only_to_loopback() {
        assert!(base_url("X", "http://127.0.0.1:8080").is_ok());
        assert!(base_url("X", "http://localhost:1/prefix").is_ok());
        assert!(base_url("X", "http://[::1]:9").is_ok());
        for bad in [
            "http://graph.microsoft.com",
            "http://10.0.0.1",
            "ftp://graph.microsoft.com",
            "graph.microsoft.com",
            "https://graph.microsoft.com/?x=1",
            "",
        ] {
            assert!(base_url("GRAPH_BASE_URL", bad).is_err(), "{bad}");
        }
    }
}
