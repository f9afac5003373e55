//! The `async-worker` function: runs the asynchronous requests the write functions
//! accepted ([`scim_service::jobs`]). The table's stream hands it each new job item (the
//! event source mapping keeps `INSERT`s with `rec` = `job`); each job runs through
//! [`run_job`] (the same `dispatch` as the synchronous request), and its completion SETs,
//! recorded on the job item, are put on the tenant's bus as `scim.security-event` entries
//! (where `push-sets` delivers them to the tenant's receiver).
//!
//! A job that fails to finish (a store fault, a bus fault) is reported by its record's
//! sequence number and runs again; a job that already ran answers its recorded SETs again,
//! with the same `jti`s.

use crate::dynamo::DynamoStore;
use crate::events::{item_failure, put_sets, BatchResponse, Retry, StreamEvent};
use scim_service::http::{op_set, run_job, App, Operation};
use scim_service::jobs::{Job, NoCallers, SetSigner};
use std::sync::Arc;

/// The worker's operation set: a bulk request and, compiled in with it, every write.
pub const WORKER_OPS: u16 = op_set(&[Operation::Bulk]);

/// The job a stream record announces: `Ok(None)` for a record that is not a new job item.
pub fn record_job(event_name: &str, image: &serde_dynamo::Item) -> Result<Option<Job>, String> {
    if event_name != "INSERT" {
        return Ok(None);
    }
    let item = image.inner();
    match item.get("rec") {
        Some(serde_dynamo::AttributeValue::S(r)) if r == "job" => {}
        _ => return Ok(None),
    }
    match item.get("job") {
        Some(serde_dynamo::AttributeValue::S(text)) => serde_json::from_str(text)
            .map(Some)
            .map_err(|e| format!("job item: {e}")),
        _ => Err("job item without its request".into()),
    }
}

/// Where completion SETs go: the tenant's bus, or (tests) anything that takes them.
pub trait SetOutlet: Send + Sync {
    fn put(&self, sets: &[String]) -> impl std::future::Future<Output = Result<(), String>> + Send;
}

/// `PutEvents` on the tenant's bus.
pub struct Bus {
    pub client: aws_sdk_eventbridge::Client,
    pub bus: String,
}

impl SetOutlet for Bus {
    async fn put(&self, sets: &[String]) -> Result<(), String> {
        put_sets(&self.client, &self.bus, sets, Retry::default()).await
    }
}

/// Runs the jobs of one batch of stream records, in order; returns the sequence numbers of
/// the records whose job did not finish (run and published).
pub async fn handle_job_batch<O: SetOutlet>(
    app: &App<DynamoStore, NoCallers>,
    signer: &SetSigner,
    outlet: &O,
    batch: &StreamEvent,
) -> Result<BatchResponse, String> {
    let mut out = BatchResponse::default();
    for r in &batch.records {
        let done = match record_job(&r.event_name, &r.change.new_image) {
            Ok(None) => Ok(()),
            Ok(Some(job)) => match run_job::<_, _, WORKER_OPS>(app, &job, signer).await {
                Ok(sets) => {
                    tracing::info!(txn = %job.txn, request_id = %job.request_id, completions = sets.len(), "job done");
                    outlet.put(&sets).await
                }
                Err(e) => Err(format!("job {}: {e}", job.txn)),
            },
            Err(e) => Err(e),
        };
        if let Err(e) = done {
            tracing::error!(event_id = %r.event_id, error = %e, "job not finished");
            out.batch_item_failures.push(item_failure(r)?);
            // Later jobs wait for this one: the retry starts at the failed record.
            break;
        }
    }
    Ok(out)
}

/// The function: configuration from the environment (`TABLE_NAME`, `TENANT_ID`,
/// `EVENT_BUS_NAME`, `TENANT_URL` (the SETs' issuer), `SET_SIGNING_SECRET_ARN`,
/// `SET_AUDIENCE`).
pub async fn serve() -> Result<(), lambda_runtime::Error> {
    use scim_service::oauth::keys::KeySource;
    crate::config::init_tracing();
    let config = crate::config::Config::from_env()?;
    let need = |name: &str| crate::config::var(name).ok_or(format!("{name} is not set"));
    let bus = need("EVENT_BUS_NAME")?;
    let issuer = need("TENANT_URL")?;
    let audience = need("SET_AUDIENCE")?;
    let secret = need("SET_SIGNING_SECRET_ARN")?;
    let sdk = crate::sdk::load().await;
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), &config.table_name)
        .with_retention(config.retention);
    let keys =
        crate::oauth::SecretsKeySource::new(aws_sdk_secretsmanager::Client::new(&sdk), secret);
    let app = Arc::new(App {
        gate: Default::default(),
        store,
        auth: NoCallers,
        config: config.http(),
    });
    let outlet = Arc::new(Bus {
        client: aws_sdk_eventbridge::Client::new(&sdk),
        bus,
    });
    let keys = Arc::new(keys);
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<StreamEvent>| {
            let (app, outlet, keys) = (Arc::clone(&app), Arc::clone(&outlet), Arc::clone(&keys));
            let (issuer, audience) = (issuer.clone(), audience.clone());
            async move {
                // Read per batch (cached): a key that cannot be read fails the batch, retried.
                let set = keys
                    .keys(None)
                    .await
                    .map_err(|e| format!("the SET signing key cannot be read: {e:?}"))?;
                let signer = SetSigner {
                    issuer,
                    audience,
                    key: set.current().clone(),
                };
                let r = handle_job_batch(&app, &signer, outlet.as_ref(), &event.payload).await?;
                Ok::<_, lambda_runtime::Error>(r)
            }
        },
    ))
    .await
}
