//! Pushes each Security Event Token on the tenant's bus to the tenant's receiver URL
//! (RFC 8935): one SET per invocation, from an EventBridge rule.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    push_sets::serve().await
}
