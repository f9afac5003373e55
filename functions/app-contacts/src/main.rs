//! Application API: PUT/DELETE /app/v1/users/{id}/end-date, closing and reopening contacts (IAM-authorized).

#[tokio::main]
async fn main() -> Result<(), scim_aws::lambda::Error> {
    scim_aws::lambda::serve_app().await
}
