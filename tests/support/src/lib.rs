//! What the test crates share: the end-to-end suite (`tests/e2e`), the scale test
//! (`tests/scale`), the benchmarks (`tests/bench`) and the performance tools (`tests/load`).
//! Never a dependency of anything deployed.
//!
//! | module | what |
//! |---|---|
//! | [`engine`] | a DynamoDB engine (embedded, or `SCIM_TEST_DYNAMODB_ENDPOINT`) and a fresh table on it |
//! | [`harness`] | the real service in-process on a loopback port, and a client that talks to it as an IdP would |
//! | [`request`] | requests for the shared handler called in-process |
//! | [`query`] | filters percent-encoded as Entra ID and Okta send them |
//! | [`fixtures`] | request bodies and Lambda events |
//! | [`ddb_local`], [`moto`] | launchers for Amazon's DynamoDB Local and moto (installed by `tests/tools/install.sh`) |
//! | [`aws`] | SDK clients for an emulator on loopback |
//! | [`gateway`] | `lambda-gateway`: the function binaries behind API Gateway's route table (`infra/functions.json`) over `cargo lambda watch` |
//! | [`logs`] | log capture |
//! | [`faults`] | a DynamoDB fault proxy on loopback (throttling, 500s, lost replies, slow replies, resets) |
//! | [`entra_issuer`] | the loopback stand-in for Entra as the issuer of federation assertions (JWKS, RS256 signer) |
//! | [`graph`] | the loopback stand-in for Entra's token endpoint and Microsoft Graph |

// Set-up that fails is a failed test: panicking with the reason is the point.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod aws;
pub mod ddb_local;
pub mod engine;
pub mod entra_issuer;
pub mod faults;
pub mod fixtures;
pub mod gateway;
pub mod graph;
pub mod harness;
mod launch;
pub mod logs;
pub mod moto;
pub mod query;
pub mod request;
