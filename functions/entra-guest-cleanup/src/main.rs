//! Closes an expired guest in the customer's Entra ID: one `user.expired` change event per
//! invocation (an EventBridge rule on the tenant's bus).
//!
//! Wiring only: configuration, clients and the token cache are built once per cold start
//! by `entra_guest_cleanup::serve`; the handler is `entra_guest_cleanup::Cleanup`.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    entra_guest_cleanup::serve().await
}
