//! POST /Bulk: runs a bulk request's operations, each as its single request would run.
//! Serving the bulk operation compiles in the writes a bulk request holds (POST, PUT, PATCH,
//! DELETE of users and groups); this function still serves no other route.

use scim_service::http::{op_set, Operation};

#[tokio::main]
async fn main() -> Result<(), scim_aws::lambda::Error> {
    scim_aws::lambda::serve::<{ op_set(&[Operation::Bulk]) }>().await
}
