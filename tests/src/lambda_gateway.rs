//! `lambda-gateway`: the real function binaries behind API Gateway's route table
//! (`infra/functions.json`) on one base URL, over `cargo lambda watch`, with DynamoDB (the
//! embedded engine) and Secrets Manager (moto) started for them. README, "Running the real
//! function binaries"; the code is `scim_test_support::gateway`.

fn main() -> std::process::ExitCode {
    scim_test_support::gateway::main()
}
