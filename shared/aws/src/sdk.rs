//! The one place AWS SDK configuration is loaded.
//!
//! Every SDK client in every function, the local server and the admin command is built
//! from [`load`] (or, for a client configured by hand against a local endpoint, with
//! [`http_client`]): the standard provider chain (environment, profile, web identity, the
//! Lambda container's credentials) with one HTTPS client, hyper 1 + rustls using the ring
//! provider and the system's root certificates. The SDKs' own `default-https-client`
//! feature is off: it links aws-lc-rs, which is about 4 MB of each stripped Lambda binary
//! and the slowest C build in the tree, for nothing ring does not do here.

use aws_config::{BehaviorVersion, SdkConfig};
use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
use aws_smithy_runtime_api::client::http::SharedHttpClient;

/// A new HTTPS client for AWS. Not shared process-wide: a pooled connection belongs to the
/// Tokio runtime that opened it, and tests run many runtimes in one process.
pub fn http_client() -> SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

/// Loads the SDK configuration from the environment, with the shared HTTPS client.
pub async fn load() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(http_client())
        .load()
        .await
}
