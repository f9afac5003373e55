//! `scim-admin`: generate, list and revoke a tenant's bearer tokens (see the library docs,
//! or `scim-admin help`). Wiring only.
//!
//! No log subscriber is installed: the command writes only its own output (the new token
//! on stdout once, everything else on stderr).

use std::process::ExitCode;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let sdk = scim_aws::sdk::load().await;
    let client = scim_aws::tokens::client(&sdk);
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    let code = scim_admin::run_with(
        &client,
        Some(&dynamodb),
        &args,
        &mut std::io::stdout().lock(),
        &mut std::io::stderr().lock(),
    )
    .await;
    ExitCode::from(code)
}
