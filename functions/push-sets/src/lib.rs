//! Push delivery of the tenant's Security Event Tokens (RFC 8935).
//!
//! **Trigger.** An EventBridge rule on the tenant's bus matching
//! `{"source":["scim.provisioning"],"detail-type":["scim.security-event"]}`: the SETs that
//! `publish-events` puts beside the change events (`scim_service::events::set`). One event
//! per invocation; its detail is `{"set": "<JWS>", "jti", "txn"}`.
//!
//! **Delivery.** `POST {SET_RECEIVER_URL}` with the JWS as the body, `Content-Type:
//! application/secevent+jwt` and `Accept: application/json` (RFC 8935 §2). `202` (or any
//! `2xx`) is delivered. Anything else — a `400` with the receiver's `{"err", "description"}`
//! (RFC 8935 §2.3), another status, no answer within [`TIMEOUT`] — fails the invocation:
//! Lambda's asynchronous retries (two) and then the function's dead-letter queue take over,
//! and its alarm fires. A redelivered SET keeps its `jti`, so the receiver can drop a
//! repeat (RFC 8935 §2.2). With no `SET_RECEIVER_URL` (the stack's default) nothing is sent.
//!
//! **URL.** `https://`, or `http://` to a loopback address only (tests, local stand-ins).

use bytes::Bytes;
use http_body_util::Full;
use scim_aws::config::init_tracing;
use scim_aws::https::HttpClient;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// How long one push waits for the receiver's answer.
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// RFC 8417's media type of a SET.
pub const SET_MEDIA_TYPE: &str = "application/secevent+jwt";

/// Why a SET was not delivered (the invocation fails; Lambda retries it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushError {
    /// The event carries no SET (not one of `publish-events`' SET entries).
    NotASet,
    /// The receiver refused the SET (`400`): its `err` code, if it gave one.
    Refused(u16, Option<String>),
    /// No answer, or a transport failure.
    Unreachable(String),
}

impl std::fmt::Display for PushError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PushError::NotASet => write!(f, "the event has no SET in its detail"),
            PushError::Refused(status, Some(err)) => {
                write!(f, "the receiver answered {status} ({err})")
            }
            PushError::Refused(status, None) => write!(f, "the receiver answered {status}"),
            PushError::Unreachable(e) => write!(f, "the receiver cannot be reached: {e}"),
        }
    }
}

impl std::error::Error for PushError {}

/// Checks a receiver URL: `https://`, or `http://` to loopback.
pub fn check_url(url: &str) -> Result<(), String> {
    let parsed: http::Uri = url
        .parse()
        .map_err(|_| format!("SET_RECEIVER_URL is not a URL: {url}"))?;
    let host = parsed.host().unwrap_or_default();
    match parsed.scheme_str() {
        Some("https") if !host.is_empty() => Ok(()),
        Some("http") if host == "127.0.0.1" || host == "localhost" || host == "[::1]" => Ok(()),
        _ => Err(format!(
            "SET_RECEIVER_URL must be https:// (http:// only to loopback): {url}"
        )),
    }
}

/// The pusher: the receiver (if any) and the HTTPS client, once per cold start.
pub struct Pusher {
    receiver: Option<String>,
    client: HttpClient,
}

impl Pusher {
    pub fn new(receiver: Option<String>) -> Result<Pusher, String> {
        if let Some(url) = &receiver {
            check_url(url)?;
        }
        Ok(Pusher {
            receiver,
            client: HttpClient::new()?,
        })
    }

    /// Delivers the SET of one EventBridge event (as Lambda hands it over).
    pub async fn handle(&self, event: &Value) -> Result<(), PushError> {
        let detail = &event["detail"];
        let token = detail["set"].as_str().ok_or(PushError::NotASet)?;
        let jti = detail["jti"].as_str().unwrap_or("-");
        let Some(url) = &self.receiver else {
            tracing::debug!(jti, "no SET receiver configured");
            return Ok(());
        };
        let req = http::Request::post(url.as_str())
            .header(http::header::CONTENT_TYPE, SET_MEDIA_TYPE)
            .header(http::header::ACCEPT, "application/json")
            .body(Full::new(Bytes::from(token.to_string())))
            .map_err(|e| PushError::Unreachable(e.to_string()))?;
        let reply = self
            .client
            .send(req, TIMEOUT)
            .await
            .map_err(PushError::Unreachable)?;
        if reply.status.is_success() {
            tracing::info!(jti, status = reply.status.as_u16(), "SET delivered");
            return Ok(());
        }
        let err = serde_json::from_slice::<Value>(&reply.body)
            .ok()
            .and_then(|b| b["err"].as_str().map(|s| s.chars().take(64).collect()));
        let e = PushError::Refused(reply.status.as_u16(), err);
        tracing::warn!(jti, error = %e, "SET not delivered");
        Err(e)
    }
}

/// The `push-sets` function.
pub async fn serve() -> Result<(), lambda_runtime::Error> {
    init_tracing();
    let receiver = scim_aws::config::var("SET_RECEIVER_URL").map(|v| v.trim().to_string());
    let pusher = Arc::new(Pusher::new(receiver)?);
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<Value>| {
            let pusher = Arc::clone(&pusher);
            async move {
                pusher.handle(&event.payload).await?;
                Ok::<(), lambda_runtime::Error>(())
            }
        },
    ))
    .await
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn receiver_urls_are_https_or_loopback() {
        assert!(check_url("https://receiver.example/events").is_ok());
        assert!(check_url("http://127.0.0.1:8080/sets").is_ok());
        assert!(check_url("http://receiver.example/events").is_err());
        assert!(check_url("ftp://receiver.example").is_err());
        assert!(check_url("not a url").is_err());
    }
}
