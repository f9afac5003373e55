//! Change events: a batch of DynamoDB stream records (new audit records only, by the event
//! source mapping's filter) becomes one EventBridge event per record on the tenant's bus.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    scim_aws::events::serve().await
}
