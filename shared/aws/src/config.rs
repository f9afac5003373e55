//! Configuration from the environment, read once per cold start; a missing or bad value
//! fails the cold start with a message naming it.

use scim_service::http::HttpConfig;
use scim_service::jobs::AsyncRequests;

#[derive(Debug, Clone)]
pub struct Config {
    pub table_name: String,
    pub tenant_id: String,
    pub base_url: Option<String>,
    pub realm: String,
    /// How long tombstones and audit records are kept.
    pub retention: crate::dynamo::Retention,
}

/// An environment variable, `None` when unset or blank.
pub fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// A tenant id is part of every key and of resource names (secret, bus, log groups):
/// 3-40 lower-case letters, digits and hyphens, not starting or ending with a hyphen —
/// the same rule as the `TenantId` parameter of `template.yaml`.
pub fn check_tenant_id(t: &str) -> Result<(), String> {
    let b = t.as_bytes();
    let ok = (3..=40).contains(&b.len())
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-';
    if ok {
        Ok(())
    } else {
        Err(format!(
            "TENANT_ID '{t}' must be 3-40 lower-case letters, digits or '-', not starting or ending with '-'"
        ))
    }
}

/// `TOMBSTONE_RETENTION_DAYS` (default 90) and `AUDIT_RETENTION_DAYS` (default 400).
pub fn retention_from_env() -> Result<crate::dynamo::Retention, String> {
    let days = |name: &str, default: i64| -> Result<i64, String> {
        match var(name) {
            None => Ok(default),
            Some(v) => match v.trim().parse::<i64>() {
                Ok(d) if (1..=3650).contains(&d) => Ok(d),
                _ => Err(format!(
                    "{name} '{v}' must be a number of days from 1 to 3650"
                )),
            },
        }
    };
    Ok(crate::dynamo::Retention {
        tombstone_secs: days("TOMBSTONE_RETENTION_DAYS", 90)? * 86_400,
        audit_secs: days("AUDIT_RETENTION_DAYS", 400)? * 86_400,
    })
}

impl Config {
    pub fn from_env() -> Result<Config, String> {
        let table_name = var("TABLE_NAME").ok_or("TABLE_NAME is not set")?;
        let tenant_id = var("TENANT_ID").ok_or("TENANT_ID is not set")?;
        check_tenant_id(&tenant_id)?;
        Ok(Config {
            table_name,
            realm: var("SCIM_REALM").unwrap_or_else(|| format!("scim-{tenant_id}")),
            tenant_id,
            base_url: var("SCIM_BASE_URL"),
            retention: retention_from_env()?,
        })
    }

    pub fn http(&self) -> HttpConfig {
        HttpConfig {
            base_url: self.base_url.clone(),
            realm: self.realm.clone(),
            tenant: Some(self.tenant_id.clone()),
            // `request` in a stack, whose async-worker runs the jobs the write functions
            // store; unset (`cargo lambda watch`, the local gateway): nothing would run them,
            // so `Prefer: respond-async` is answered synchronously.
            async_requests: match var("ASYNC_REQUESTS").as_deref() {
                Some("request") => AsyncRequests::Stored,
                _ => AsyncRequests::Off,
            },
        }
    }
}

/// The one log subscriber of every process (functions, local server): JSON lines, levels
/// from `RUST_LOG` (default `info`), the AWS SDK's TRACE wire output dropped (it could
/// print a request body: a token being stored, a password hash). Nothing on the request
/// path logs headers, bodies, tokens or passwords.
///
/// `RUST_LOG` takes `tracing_subscriber`'s `Targets` syntax (`info`,
/// `scim_aws=debug,aws_smithy_runtime=warn`): levels per target, no span or field
/// filters, which keeps the regex engine out of every binary. An unparseable value falls
/// back to `info`.
pub fn init_tracing() {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::Layer;
    let layer = tracing_subscriber::fmt::layer()
        .json()
        .with_current_span(false)
        .with_ansi(false)
        .without_time()
        .with_filter(log_filter(std::env::var("RUST_LOG").ok().as_deref()))
        .with_filter(crate::tokens::sdk_wire_filter());
    let _ = tracing_subscriber::registry().with(layer).try_init();
}

/// The level filter for a `RUST_LOG` value (see [`init_tracing`]).
pub fn log_filter(spec: Option<&str>) -> tracing_subscriber::filter::Targets {
    use tracing_subscriber::filter::{LevelFilter, Targets};
    spec.map(str::trim)
        .filter(|s| !s.is_empty())
        .and_then(|s| s.parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_default(LevelFilter::INFO))
}

#[cfg(test)]
mod tests {
    use super::log_filter;
    use tracing::Level;

    #[test]
    fn rust_log_sets_levels_per_target_and_falls_back_to_info() {
        let f = log_filter(Some("warn,scim_aws=debug"));
        assert!(f.would_enable("scim_aws::dynamo", &Level::DEBUG));
        assert!(!f.would_enable("aws_smithy_runtime", &Level::INFO));
        assert!(f.would_enable("aws_smithy_runtime", &Level::WARN));
        for unset in [None, Some(""), Some("  "), Some("scim=[{bad")] {
            let f = log_filter(unset);
            assert!(f.would_enable("anything", &Level::INFO), "{unset:?}");
            assert!(!f.would_enable("anything", &Level::DEBUG), "{unset:?}");
        }
    }
}
