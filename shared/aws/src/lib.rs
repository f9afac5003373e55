//! Adapters: everything that knows AWS exists. The DynamoDB store, the Secrets Manager
//! token source and rotation steps, configuration from the environment, and the Lambda
//! serve helper every function's `main` calls.

pub mod config;
pub mod dynamo;
#[cfg(feature = "events")]
pub mod events;
pub mod expiry;
pub mod lambda;
pub mod sdk;
pub mod table;
pub mod tokens;

pub use dynamo::{Calls, DynamoStore};
pub use tokens::SecretsTokenSource;
