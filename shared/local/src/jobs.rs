//! The local server's runner of asynchronous requests ([`scim_service::jobs`]): a task that
//! runs each accepted job, in order, through the same [`run_job`] as the stack's
//! `async-worker` function, over the same store. Its completion SETs are recorded on the
//! job item (read them at the `Location` the `202` named) and logged; they are signed with
//! a key made when the server starts (the local server has no SET receiver).
//!
//! A job that cannot finish for a store fault is tried again a few times, then left (its
//! `GET /AsyncRequests/{txn}` keeps answering `202`); the stack's worker retries from the
//! stream instead.

use scim_aws::DynamoStore;
use scim_service::http::{run_job, App, HttpConfig, ALL_OPS};
use scim_service::jobs::{AsyncRequests, Job, JobRunner, NoCallers, SetSigner};
use scim_service::oauth::keys::SigningKey;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// How often a job that met a store fault is tried, and the pause between tries.
const ATTEMPTS: u32 = 5;
const PAUSE: Duration = Duration::from_millis(500);

/// The sending side: what [`AsyncRequests::Run`] holds.
struct Queue(mpsc::UnboundedSender<Job>);

impl JobRunner for Queue {
    fn started(&self, job: Job) {
        if self.0.send(job).is_err() {
            tracing::error!("the job runner has stopped: the job stays accepted, not run");
        }
    }
}

/// Starts the runner over `store` and returns what the request path's [`HttpConfig`] holds
/// to hand it jobs. The task ends when every sender is dropped.
pub fn start(store: DynamoStore, config: &HttpConfig) -> Result<AsyncRequests, String> {
    let key = SigningKey::generate()?;
    let app = App {
        gate: Default::default(),
        store,
        auth: NoCallers,
        config: HttpConfig {
            async_requests: AsyncRequests::Off,
            ..config.clone()
        },
    };
    let (tx, mut rx) = mpsc::unbounded_channel::<Job>();
    tokio::spawn(async move {
        while let Some(job) = rx.recv().await {
            // The SETs' issuer and audience: the Tenant URL (configured, or as the job's
            // request addressed it).
            let issuer = app.config.base_url.clone().unwrap_or(job.base_url.clone());
            let signer = SetSigner {
                audience: issuer.clone(),
                issuer,
                key: key.clone(),
            };
            run(&app, &signer, &job).await;
        }
    });
    Ok(AsyncRequests::Run(Arc::new(Queue(tx))))
}

async fn run(app: &App<DynamoStore, NoCallers>, signer: &SetSigner, job: &Job) {
    for attempt in 1..=ATTEMPTS {
        match run_job::<_, _, ALL_OPS>(app, job, signer).await {
            Ok(sets) => {
                tracing::info!(txn = %job.txn, request_id = %job.request_id, completions = sets.len(), "job done");
                return;
            }
            Err(e) => {
                tracing::warn!(txn = %job.txn, attempt, error = %e, "job not finished");
                tokio::time::sleep(PAUSE).await;
            }
        }
    }
    tracing::error!(txn = %job.txn, "job left unfinished after {ATTEMPTS} attempts");
}
