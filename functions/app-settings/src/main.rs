//! Application API: GET/PATCH /app/v1/settings, POST /app/v1/tokens, DELETE /app/v1/tokens/previous (IAM-authorized).

#[tokio::main]
async fn main() -> Result<(), scim_aws::lambda::Error> {
    scim_aws::lambda::serve_app().await
}
