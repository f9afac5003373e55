//! GET /AsyncRequests/{txn}: the completion Security Event Tokens of an asynchronous SCIM
//! request (RFC 9967 §2.5.1), `202` while it still runs.

use scim_service::http::{op_set, Operation};

#[tokio::main]
async fn main() -> Result<(), scim_aws::lambda::Error> {
    scim_aws::lambda::serve::<{ op_set(&[Operation::AsyncStatus]) }>().await
}
