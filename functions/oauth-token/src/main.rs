//! The tenant's OAuth 2.0 token endpoint, POST /oauth2/token: client credentials and Entra workload identity federation (RFC 6749 §4.4, RFC 7523).

#[tokio::main]
async fn main() -> Result<(), scim_aws::lambda::Error> {
    scim_aws::lambda::serve_oauth().await
}
