//! The service layer shared by every function and the local server: the storage port, the
//! domain operations, bearer-token authentication and the one HTTP glue.
//!
//! Invariant: no AWS SDK and no Lambda runtime here; adapters implement [`port::Store`] and
//! [`auth::Authenticator`] and hand requests to [`http::handle`].

pub mod app;
pub mod auth;
pub mod events;
pub mod expiry;
pub mod http;
pub mod jobs;
pub mod oauth;
pub mod ops;
pub mod password;
pub mod port;
pub mod settings;
pub mod signin;
