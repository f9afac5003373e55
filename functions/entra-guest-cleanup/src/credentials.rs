//! The app registration's credentials: where they come from and how they are kept out of
//! logs. The secret's value is JSON `{"tenantId","clientId","clientSecret"}`.

use aws_sdk_secretsmanager::error::{DisplayErrorContext, SdkError};
use aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueError;
use std::future::Future;

/// A client secret. No `Display`; `Debug` prints nothing of it.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientSecret(String);

impl ClientSecret {
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientSecret(<redacted>)")
    }
}

/// An Entra app registration: the directory (tenant) it lives in, its application (client)
/// id, and a client secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntraCredentials {
    pub tenant_id: String,
    pub client_id: String,
    client_secret: ClientSecret,
}

impl EntraCredentials {
    /// Checks the parts. Messages name the field, never quote a value (a secret pasted
    /// into the wrong field must not reach a log).
    pub fn new(
        tenant_id: &str,
        client_id: &str,
        client_secret: &str,
    ) -> Result<EntraCredentials, String> {
        let tenant_id = tenant_id.trim();
        let client_id = client_id.trim();
        // A directory id (GUID) or a verified domain (contoso.onmicrosoft.com): it is a path
        // segment of the token endpoint.
        let tenant_ok = !tenant_id.is_empty()
            && tenant_id.len() <= 253
            && tenant_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
            && !tenant_id.starts_with('.');
        if !tenant_ok {
            return Err(
                "tenantId must be the customer's directory id (a GUID) or its domain".into(),
            );
        }
        if !is_guid(client_id) {
            return Err(
                "clientId must be the app registration's application (client) id, a GUID".into(),
            );
        }
        if client_secret.trim().is_empty() {
            return Err("clientSecret is empty".into());
        }
        Ok(EntraCredentials {
            tenant_id: tenant_id.to_string(),
            client_id: client_id.to_string(),
            client_secret: ClientSecret(client_secret.trim().to_string()),
        })
    }

    /// Parses a secret value `{"tenantId","clientId","clientSecret"}`.
    pub fn parse(value: &str) -> Result<EntraCredentials, String> {
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Raw {
            tenant_id: Option<String>,
            client_id: Option<String>,
            client_secret: Option<String>,
        }
        // serde's messages can quote the input: never pass them on.
        let raw: Raw = serde_json::from_str(value).map_err(|_| {
            "the value is not a JSON object {\"tenantId\",\"clientId\",\"clientSecret\"}"
                .to_string()
        })?;
        let field = |v: Option<String>, name: &str| v.ok_or(format!("{name} is missing"));
        EntraCredentials::new(
            &field(raw.tenant_id, "tenantId")?,
            &field(raw.client_id, "clientId")?,
            &field(raw.client_secret, "clientSecret")?,
        )
    }

    pub(crate) fn client_secret(&self) -> &ClientSecret {
        &self.client_secret
    }
}

/// `8-4-4-4-12` hexadecimal digits: an Entra object or application id.
pub fn is_guid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// Where the credentials come from. Read each time a new access token is needed (about
/// once an hour per warm instance), so a replaced client secret is picked up without a
/// redeploy.
pub trait CredentialsSource: Send + Sync {
    fn load(&self) -> impl Future<Output = Result<EntraCredentials, String>> + Send;
    /// Names the source in messages (e.g. the secret's ARN).
    fn describe(&self) -> String;
}

/// The deployed source: the Secrets Manager secret `ENTRA_CREDENTIALS_SECRET_ARN`, version
/// `AWSCURRENT` (named explicitly).
#[derive(Clone, Debug)]
pub struct SecretsManagerCredentials {
    client: aws_sdk_secretsmanager::Client,
    secret_id: String,
}

impl SecretsManagerCredentials {
    pub fn new(
        client: aws_sdk_secretsmanager::Client,
        secret_id: impl Into<String>,
    ) -> SecretsManagerCredentials {
        SecretsManagerCredentials {
            client,
            secret_id: secret_id.into(),
        }
    }
}

impl CredentialsSource for SecretsManagerCredentials {
    async fn load(&self) -> Result<EntraCredentials, String> {
        let id = &self.secret_id;
        if id.is_empty() {
            return Err("ENTRA_CREDENTIALS_SECRET_ARN is not set".into());
        }
        let out = self
            .client
            .get_secret_value()
            .secret_id(id)
            .version_stage("AWSCURRENT")
            .send()
            .await
            .map_err(|e| read_error(id, e))?;
        let value = out.secret_string().ok_or_else(|| {
            format!("secret {id}: the value is binary, not {{\"tenantId\",\"clientId\",\"clientSecret\"}}")
        })?;
        EntraCredentials::parse(value).map_err(|e| format!("secret {id}: {e}"))
    }

    fn describe(&self) -> String {
        format!("secret {}", self.secret_id)
    }
}

fn read_error<R: std::fmt::Debug>(id: &str, e: SdkError<GetSecretValueError, R>) -> String {
    match e.as_service_error() {
        Some(GetSecretValueError::ResourceNotFoundException(_)) => format!(
            "secret {id} does not exist or has no current value: store the app registration's \
             credentials with `aws secretsmanager put-secret-value --secret-id {id} \
             --secret-string '{{\"tenantId\":\"...\",\"clientId\":\"...\",\"clientSecret\":\"...\"}}'`"
        ),
        _ => format!("reading secret {id}: {}", DisplayErrorContext(&e)),
    }
}

/// Fixed credentials (local runs and tests).
#[derive(Clone, Debug)]
pub struct StaticCredentials(pub EntraCredentials);

impl CredentialsSource for StaticCredentials {
    async fn load(&self) -> Result<EntraCredentials, String> {
        Ok(self.0.clone())
    }

    fn describe(&self) -> String {
        "static credentials".into()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const APP: &str = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0";

    #[test]
    fn guids() {
        assert!(is_guid("7d2a1c3e-5b4f-4e6a-9c8d-0123456789ab"));
        assert!(is_guid("7D2A1C3E-5B4F-4E6A-9C8D-0123456789AB"));
        for bad in [
            "",
            "ann@contoso.com",
            "7d2a1c3e5b4f4e6a9c8d0123456789ab",
            "{7d2a1c3e-5b4f-4e6a-9c8d-0123456789ab}",
            "7d2a1c3e-5b4f-4e6a-9c8d-0123456789ag",
            "7d2a1c3e-5b4f-4e6a-9c8d-0123456789ab ",
            "../../users/7d2a1c3e-5b4f-4e6a-9c8d-01",
        ] {
            assert!(!is_guid(bad), "{bad}");
        }
    }

    #[test]
    fn the_secret_value_parses_and_never_shows_the_secret() {
        let c = EntraCredentials::parse(&format!(
            r#"{{"tenantId":"contoso.onmicrosoft.com","clientId":"{APP}","clientSecret":"s3cr3t~value"}}"#
        ))
        .unwrap();
        assert_eq!(c.tenant_id, "contoso.onmicrosoft.com");
        assert_eq!(c.client_id, APP);
        assert_eq!(c.client_secret().expose(), "s3cr3t~value");
        assert!(!format!("{c:?}").contains("s3cr3t"), "{c:?}");
    }

    #[test]
    fn bad_values_are_named_not_quoted() {
        for (value, wanted) in [
            ("not json s3cr3t", "not a JSON object"),
            (
                r#"{"tenantId":"t","clientId":"x"}"#,
                "clientSecret is missing",
            ),
            (
                r#"{"tenantId":"t","clientId":"s3cr3t","clientSecret":"x"}"#,
                "clientId must be",
            ),
            (
                &format!(r#"{{"tenantId":"a/b s3cr3t","clientId":"{APP}","clientSecret":"x"}}"#),
                "tenantId must be",
            ),
            (
                &format!(r#"{{"tenantId":"t","clientId":"{APP}","clientSecret":" "}}"#),
                "clientSecret is empty",
            ),
        ] {
            let e = EntraCredentials::parse(value).unwrap_err();
            assert!(e.contains(wanted), "{value}: {e}");
            assert!(!e.contains("s3cr3t"), "{e}");
        }
    }
}
