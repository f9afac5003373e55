//! Scheduled by an EventBridge rule (default every 15 minutes): deactivates, or deletes
//! (`EXPIRED_ACTION=delete`), the tenant's contacts whose end date has passed; then checks
//! the tenant's bearer tokens and sends each token notice due once
//! (`scim_aws::tokens::watch`).

use lambda_runtime::{service_fn, LambdaEvent};
use scim_aws::config::{init_tracing, Config};
use scim_aws::expiry::{self, ExpiryConfig};
use scim_aws::tokens::watch::Watch;
use scim_aws::DynamoStore;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    init_tracing();
    let table = Config::from_env()?.table_name;
    let config = ExpiryConfig::from_env()?;
    let sdk = scim_aws::sdk::load().await;
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), table);
    let watch = Watch::from_env(&sdk)?;
    let watch = &watch;
    lambda_runtime::run(service_fn(|event: LambdaEvent<serde_json::Value>| {
        let (store, config) = (store.clone(), config.clone());
        async move {
            let LambdaEvent { payload, context } = event;
            let mut event = expiry::scheduled_event(payload)?;
            if event.id.as_deref().is_none_or(str::is_empty) {
                event.id = Some(context.request_id.clone());
            }
            let deadline = expiry::stop_before(context.deadline);
            let report = expiry::handle(&store, &config, &event, deadline).await?;
            let mut out = expiry::report_json(&report);
            if let Some(watch) = watch {
                let now = expiry::event_time(&event)?;
                let tokens = watch.run(&store, now).await?;
                out["tokens"] = serde_json::to_value(&tokens)?;
            }
            Ok::<_, lambda_runtime::Error>(out)
        }
    }))
    .await
}
