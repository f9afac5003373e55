//! GET /Entitlements[/{id}], GET /Roles[/{id}]: reads the tenant's catalog of entitlements
//! and roles (Okta Identity Governance).

use scim_service::http::{op_set, Operation};

#[tokio::main]
async fn main() -> Result<(), scim_aws::lambda::Error> {
    scim_aws::lambda::serve::<{ op_set(&[Operation::Catalog]) }>().await
}
