//! The end-to-end suite: one test binary (links once), one module per concern. Every test
//! runs against the embedded engine, and against Amazon's DynamoDB Local when started by
//! `with-dynamodb-local` (see README, "Tests").

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod harness;
/// moto's server (Secrets Manager, EventBridge, SQS), shared by the modules that use it.
#[path = "../tools/moto.rs"]
#[allow(dead_code)]
mod moto;

mod app_api;
mod budgets;
mod concurrency;
mod entra;
mod entra_cleanup;
mod events;
mod expiry;
mod failures;
mod gallery;
mod http_behaviour;
mod lambda_events;
mod lifecycle;
mod okta;
mod smoke;
mod tokens;
