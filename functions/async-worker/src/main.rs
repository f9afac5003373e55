//! Asynchronous SCIM requests: a batch of DynamoDB stream records (new job items only, by
//! the event source mapping's filter); each job runs as its synchronous request would, and
//! its RFC 9967 completion events are recorded and put on the tenant's bus.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    scim_aws::jobs::serve().await
}
