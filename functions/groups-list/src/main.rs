//! GET /Groups and POST /Groups/.search: lists and filters groups.

use scim_core::schema::ResourceKind;
use scim_service::http::{op_set, Operation};

#[tokio::main]
async fn main() -> Result<(), scim_aws::lambda::Error> {
    scim_aws::lambda::serve::<{ op_set(&[Operation::List(ResourceKind::Group)]) }>().await
}
