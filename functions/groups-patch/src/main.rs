//! PATCH /Groups/{id}: modifies a group and its members.

use scim_core::schema::ResourceKind;
use scim_service::http::{op_set, Operation};

#[tokio::main]
async fn main() -> Result<(), scim_aws::lambda::Error> {
    scim_aws::lambda::serve::<{ op_set(&[Operation::Patch(ResourceKind::Group)]) }>().await
}
