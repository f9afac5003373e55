//! Application API: the tenant's catalog of entitlements and roles, /app/v1/entitlements and /app/v1/roles (IAM-authorized).

#[tokio::main]
async fn main() -> Result<(), scim_aws::lambda::Error> {
    scim_aws::lambda::serve_app().await
}
