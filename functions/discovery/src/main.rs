//! ServiceProviderConfig, ResourceTypes, Schemas, and SCIM 404/405 answers for every other route (the API's default route).

use scim_service::http::{op_set, Operation};

#[tokio::main]
async fn main() -> Result<(), scim_aws::lambda::Error> {
    scim_aws::lambda::serve::<{ op_set(&[Operation::Discovery]) }>().await
}
