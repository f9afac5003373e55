//! Adapters: everything that knows AWS exists. The DynamoDB store, configuration from the
//! environment, and the Lambda serve helper every function's `main` calls.

pub mod config;
pub mod dynamo;
pub mod lambda;
pub mod table;

pub use dynamo::{Calls, DynamoStore};
