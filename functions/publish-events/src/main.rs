//! Change events: a batch of DynamoDB stream records (new audit records only, by the event
//! source mapping's filter) becomes one EventBridge event per record on the tenant's bus.
//! Records that could not be published are returned as batch item failures, so Lambda
//! retries them and, after the mapping's retries, sends them to the dead-letter queue.
//!
//! Wiring only: the handler, the sink and the serve loop are `scim_aws::events`.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    scim_aws::events::serve().await
}
