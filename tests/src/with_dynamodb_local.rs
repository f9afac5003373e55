//! `with-dynamodb-local <command...>`: starts Amazon's DynamoDB Local (installed by
//! `tests/tools/install.sh`) on a free loopback port, runs the command with
//! `SCIM_TEST_DYNAMODB_ENDPOINT` set to it, stops DynamoDB Local, and exits with the
//! command's status. This is how the end-to-end suite runs against DynamoDB Local.

use scim_test_support::ddb_local;
use std::process::{Command, ExitCode};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((program, rest)) = args.split_first() else {
        eprintln!("usage: with-dynamodb-local <command> [args...]");
        return ExitCode::from(2);
    };
    let ddb = match ddb_local::DynamoDbLocal::start() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("with-dynamodb-local: could not start DynamoDB Local: {e}");
            return ExitCode::from(2);
        }
    };
    eprintln!("with-dynamodb-local: DynamoDB Local at {}", ddb.endpoint);
    let status = Command::new(program)
        .args(rest)
        .env("SCIM_TEST_DYNAMODB_ENDPOINT", &ddb.endpoint)
        .status();
    drop(ddb);
    match status {
        Ok(s) if s.success() => ExitCode::SUCCESS,
        Ok(s) => ExitCode::from(s.code().unwrap_or(1).clamp(1, 255) as u8),
        Err(e) => {
            eprintln!("with-dynamodb-local: could not run {program}: {e}");
            ExitCode::from(2)
        }
    }
}
