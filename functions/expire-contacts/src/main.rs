//! Scheduled by an EventBridge rule (default every 15 minutes): deactivates, or deletes
//! (`EXPIRED_ACTION=delete`), the tenant's contacts whose end date has passed.

use lambda_runtime::{service_fn, LambdaEvent};
use scim_aws::config::{init_tracing, Config};
use scim_aws::expiry::{self, ExpiryConfig};
use scim_aws::DynamoStore;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    init_tracing();
    let table = Config::from_env()?.table_name;
    let config = ExpiryConfig::from_env()?;
    let sdk = scim_aws::sdk::load().await;
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), table);
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
            Ok::<_, lambda_runtime::Error>(expiry::report_json(&report))
        }
    }))
    .await
}
