//! Adapters: everything that knows AWS exists. The DynamoDB store, the Secrets Manager
//! token source and rotation steps, configuration from the environment, and the Lambda
//! serve helper every function's `main` calls.

pub mod config;
pub mod dynamo;
#[cfg(feature = "events")]
pub mod events;
pub mod expiry;
#[cfg(feature = "https")]
pub mod https;
#[cfg(feature = "events")]
pub mod jobs;
pub mod lambda;
pub mod metrics;
pub mod oauth;
pub mod retry;
pub mod sdk;
pub mod table;
pub mod tokens;

/// Every binary that links this crate (each function, the local server, the tools)
/// allocates with mimalloc: parsing, patching and rendering SCIM JSON is allocation-bound,
/// and glibc's malloc made it 1.4-1.7x slower (BENCHMARKS.md, "Allocator").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub use dynamo::{Calls, DynamoStore};
pub use tokens::SecretsTokenSource;
