//! Secrets Manager rotation of the tenant's bearer-token secret: one of the four steps
//! (`createSecret`, `setSecret`, `testSecret`, `finishSecret`) per invocation.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    scim_aws::tokens::rotation::serve().await
}
