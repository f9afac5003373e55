//! Closes an expired guest in the customer's Entra ID: one `user.expired` change event per
//! invocation (an EventBridge rule on the tenant's bus).

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    entra_guest_cleanup::serve().await
}
