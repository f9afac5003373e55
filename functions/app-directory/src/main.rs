//! Application API reads: /app/v1/signin, users/{id}, groups, groups/{id}/members, activity, openapi.json (IAM-authorized).

#[tokio::main]
async fn main() -> Result<(), scim_aws::lambda::Error> {
    scim_aws::lambda::serve_app().await
}
