//! The end-to-end suite: one test binary (links once), one module per concern. Every test
//! runs against the embedded engine, and against Amazon's DynamoDB Local when started by
//! `with-dynamodb-local` (see README, "Tests").

#![allow(clippy::unwrap_used, clippy::expect_used)]

// The harness and moto's launcher come from the support crate shared with the scale test,
// the benchmarks and the tools; modules name them `crate::harness` and `crate::moto`.
use scim_test_support::{harness, moto};

mod app_api;
mod async_requests;
mod budgets;
mod bulk;
mod concurrency;
mod entitlements;
mod entra;
mod entra_cleanup;
mod events;
mod expiry;
mod failures;
mod faults;
mod gallery;
mod hostile;
mod http_behaviour;
mod lambda_events;
mod lambda_routes;
mod lifecycle;
mod oauth;
mod okta;
mod protocol;
mod smoke;
mod token_watch;
mod tokens;
mod unindexed;
