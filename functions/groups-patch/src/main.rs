//! PATCH /Groups/{id}: modifies a group and its members.
//!
//! Wiring only: the shared serve helper builds configuration, clients and the token cache
//! once per cold start and runs the shared request path for this one operation.

use scim_core::schema::ResourceKind;
use scim_service::http::{op_set, Operation};

#[tokio::main]
async fn main() -> Result<(), scim_aws::lambda::Error> {
    scim_aws::lambda::serve::<{ op_set(&[Operation::Patch(ResourceKind::Group)]) }>().await
}
