//! The pure SCIM 2.0 core of the provisioning service.
//!
//! Invariant: this crate does no I/O and reads no clock. It takes values (and `now`) in and
//! gives values out; the adapters in `scim-aws` and the functions do everything else.

pub mod bulk;
pub mod error;
pub mod filter;
pub mod json;
pub mod limits;
pub mod patch;
pub mod path;
pub mod schema;
pub mod sort;

pub use error::{ScimError, ScimResult, ScimType};
pub mod catalog;
pub mod discovery;
pub mod list;
pub mod projection;
pub mod resource;
