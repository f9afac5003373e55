//! Closing a contact in Entra ID too: when a guest's end date passes and `expire-contacts`
//! deactivates (or deletes) them here, this function disables or deletes the same person
//! in the customer's own Entra ID through Microsoft Graph. Opt-in per tenant.
//!
//! **Trigger.** An EventBridge rule on the tenant's bus matching
//! `{"source":["scim.provisioning"],"detail-type":["user.expired"]}`; the event's detail is
//! the change event (`scim_service::events::ChangeEvent` as JSON: `tenant`, `resourceType`,
//! `id`, `externalId`, ...). One event per invocation.
//!
//! **Mode** (`ENTRA_CLEANUP_MODE`, [`Mode`]): `off` (default: nothing is read, called or
//! written), `disable` (`PATCH /v1.0/users/{id}` with `{"accountEnabled": false}`) or
//! `delete` (`DELETE /v1.0/users/{id}`; Entra keeps deleted users restorable for 30 days).
//!
//! **Which users are touched — the guest rule.** Only users whose `externalId` is an Entra
//! object id (a GUID, as the guest mapping `objectId → externalId` provisions it) are
//! considered; anything else is `entra.skipped-not-guid` without any request. Before
//! acting, the user is read from the customer's directory
//! (`GET /v1.0/users/{id}?$select=id,userType`) and acted on only when Entra itself says
//! `userType` is `Guest`. Entra is the authority: nothing provisioned into this service
//! (which a SCIM client can set freely) decides it. A `Member` — or a user whose
//! `userType` is missing or anything else — is never touched (`entra.skipped-member`,
//! logged and audited). A `404` on that read means the user is already gone
//! (`entra.already-gone`).
//!
//! **Credentials.** An app registration in the customer's directory (client-credentials
//! flow): its `{"tenantId","clientId","clientSecret"}` live in the Secrets Manager secret
//! `ENTRA_CREDENTIALS_SECRET_ARN`, read when an access token is needed, never logged. The
//! access token (scope `{GRAPH_BASE_URL}/.default`) is cached until five minutes before it
//! expires ([`TOKEN_REFRESH_MARGIN`]), so one token serves many invocations.
//!
//! **Failures.** Graph `404` is done. `429`/`5xx` and transport errors are retried,
//! honouring `Retry-After`, inside the invocation's remaining time (read from the Lambda
//! context's deadline, keeping [`BUDGET_RESERVE`] for the audit write); then the invocation
//! fails, so Lambda's asynchronous retries and the dead-letter queue take over. `401`/`403`
//! (and a rejected client secret) are reported once per cold start with a message naming
//! the missing Graph application permission, and fail the invocation. Redelivery is
//! harmless: disabling a disabled user succeeds again; a deleted user reads `404`.
//!
//! **Audit.** Every outcome (see [`Outcome`]) is written to the table as an audit item in
//! the user's audit partition (`pk = {tenant}#A#{user id}`, `sk = {at}#{event id}`) with
//! `rec = "audit-ext"` — not `"audit"`, which is what the change-event publisher's stream
//! filter matches, so these records never become change events (no event loop).
//!
//! **HTTPS.** hyper + rustls with the ring provider and the system's root
//! certificates: the stack the AWS SDK's own HTTPS client already links, so the function
//! carries no second TLS implementation. Plain `http://` base URLs are accepted only for
//! loopback hosts (tests and local stand-ins).

pub mod audit;
pub mod cleanup;
pub mod credentials;
pub mod graph;
/// The HTTPS client, shared with the token endpoint's key fetch (`scim_aws::https`).
pub use scim_aws::https as http;
pub mod settings;

pub use audit::{AuditEntry, DynamoAudit, AUDIT_EXT_RECORD};
pub use cleanup::{Cleanup, CleanupError, Outcome, BUDGET_RESERVE, DEFAULT_BUDGET};
pub use credentials::{
    CredentialsSource, EntraCredentials, SecretsManagerCredentials, StaticCredentials,
};
pub use graph::TOKEN_REFRESH_MARGIN;
pub use settings::{Mode, Settings};

use std::sync::Arc;

use scim_aws::config::init_tracing;

/// The `entra-guest-cleanup` function: configuration, clients, the HTTPS client and the
/// token cache once per cold start, then one event per invocation.
pub async fn serve() -> Result<(), lambda_runtime::Error> {
    init_tracing();
    let settings = Settings::from_env()?;
    let sdk = scim_aws::sdk::load().await;
    let audit = DynamoAudit::new(aws_sdk_dynamodb::Client::new(&sdk), &settings.table);
    let credentials = SecretsManagerCredentials::new(
        scim_aws::tokens::client(&sdk),
        settings.credentials_secret.clone().unwrap_or_default(),
    );
    tracing::info!(mode = settings.mode.as_str(), "entra-guest-cleanup ready");
    let cleanup = Arc::new(Cleanup::new(settings, credentials, audit)?);
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<serde_json::Value>| {
            let cleanup = Arc::clone(&cleanup);
            async move { cleanup.handle(event).await }
        },
    ))
    .await
}
