//! The HTTPS client for calls to Microsoft: Graph and its token endpoint
//! (`entra-guest-cleanup`), and Entra's published signing keys (the OAuth token endpoint,
//! [`JwksFetch`]). Only with the `https` feature, so no request-path function links it.
//!
//! hyper-util's pooled client over hyper-rustls, with rustls' ring provider and the
//! system's root certificates: the same crates and provider as the AWS SDK's HTTPS client
//! (`scim_aws::sdk`) that every function links already. The provider is passed
//! explicitly, so nothing depends on a process-wide default being installed.

use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use std::sync::Arc;
use std::time::Duration;

/// The largest response body read (Graph's and the token endpoint's answers are small).
pub const MAX_RESPONSE_BYTES: usize = 1 << 20;

/// A response as the callers read it.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

#[derive(Clone)]
pub struct HttpClient {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl HttpClient {
    /// Loads the system's root certificates (once per cold start).
    pub fn new() -> Result<HttpClient, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(provider)
            .map_err(|e| format!("TLS set-up (system root certificates): {e}"))?
            // http:// only reaches loopback stand-ins: the callers' URL checks refuse others.
            .https_or_http()
            .enable_http1()
            .build();
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(50))
            .pool_timer(TokioTimer::new())
            .build(https);
        Ok(HttpClient { client })
    }

    /// Sends one request and reads the whole response within `timeout`. Errors describe
    /// the transport failure only (never a header or body).
    pub async fn send(
        &self,
        req: Request<Full<Bytes>>,
        timeout: Duration,
    ) -> Result<Reply, String> {
        let exchange = async {
            let resp = self.client.request(req).await.map_err(|e| {
                let mut msg = e.to_string();
                let mut source = std::error::Error::source(&e);
                while let Some(s) = source {
                    msg.push_str(": ");
                    msg.push_str(&s.to_string());
                    source = s.source();
                }
                msg
            })?;
            let (parts, body) = resp.into_parts();
            let body = Limited::new(body, MAX_RESPONSE_BYTES)
                .collect()
                .await
                .map_err(|e| format!("reading the response: {e}"))?
                .to_bytes();
            Ok(Reply {
                status: parts.status,
                headers: parts.headers,
                body,
            })
        };
        match tokio::time::timeout(timeout, exchange).await {
            Ok(result) => result,
            Err(_) => Err(format!("no response within {} ms", timeout.as_millis())),
        }
    }
}

/// Fetches Entra's JWKS for the token endpoint's federation check
/// ([`scim_service::oauth::federation::Fetch`]).
pub struct JwksFetch {
    pub client: HttpClient,
    pub timeout: Duration,
}

impl scim_service::oauth::federation::Fetch for JwksFetch {
    async fn get(&self, url: &str) -> Result<Vec<u8>, String> {
        let req = Request::get(url)
            .header(http::header::ACCEPT, "application/json")
            .body(Full::new(Bytes::new()))
            .map_err(|e| format!("bad URL: {e}"))?;
        let reply = self.client.send(req, self.timeout).await?;
        if reply.status != StatusCode::OK {
            return Err(format!("{url} answered {}", reply.status));
        }
        Ok(reply.body.to_vec())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    /// The client speaks TLS for https:// URLs: a loopback listener receives a TLS
    /// ClientHello (record type 22, handshake) carrying the server name.
    #[tokio::test]
    async fn https_urls_are_spoken_in_tls() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 4096];
            let n = socket.read(&mut buf).await.unwrap();
            buf.truncate(n);
            buf
        });
        let client = HttpClient::new().expect("system roots load");
        let req = Request::get(format!("https://localhost:{port}/v1.0/users"))
            .body(Full::new(Bytes::new()))
            .unwrap();
        let result = client.send(req, Duration::from_secs(2)).await;
        assert!(
            result.is_err(),
            "a plain TCP listener cannot complete a handshake"
        );
        let hello = server.await.unwrap();
        assert_eq!(hello.first(), Some(&0x16), "TLS handshake record");
        assert_eq!(hello.get(5), Some(&0x01), "ClientHello");
        assert!(
            hello.windows(9).any(|w| w == b"localhost"),
            "the ClientHello names the server (SNI)"
        );
    }

    #[tokio::test]
    async fn a_silent_server_times_out() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let _keep = tokio::spawn(async move {
            let (socket, _) = listener.accept().await.unwrap();
            tokio::time::sleep(Duration::from_secs(5)).await;
            drop(socket);
        });
        let client = HttpClient::new().unwrap();
        let req = Request::get(format!("http://127.0.0.1:{port}/"))
            .body(Full::new(Bytes::new()))
            .unwrap();
        let e = client
            .send(req, Duration::from_millis(200))
            .await
            .unwrap_err();
        assert!(e.contains("no response within 200 ms"), "{e}");
    }
}
