//! Requests for the shared handler called in-process (`scim_service::http::handle`), as
//! API Gateway or the local server hands them over.

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method};
use scim_service::http::ScimRequest;
use serde_json::Value;

/// `path_and_query` (`/scim/v2/Users?filter=...`) split at `?`, the bearer token, `Host`,
/// and a JSON body sent as `application/scim+json`.
pub fn scim_request(
    method: Method,
    path_and_query: &str,
    token: &str,
    body: Option<&Value>,
) -> ScimRequest {
    let (path, query) = match path_and_query.split_once('?') {
        Some((p, q)) => (p.to_string(), Some(q.to_string())),
        None => (path_and_query.to_string(), None),
    };
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&format!("Bearer {token}")) {
        headers.insert(http::header::AUTHORIZATION, v);
    }
    headers.insert(http::header::HOST, HeaderValue::from_static("127.0.0.1"));
    let body = match body {
        Some(b) => {
            headers.insert(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/scim+json"),
            );
            Bytes::from(serde_json::to_vec(b).unwrap_or_default())
        }
        None => Bytes::new(),
    };
    ScimRequest {
        method,
        path,
        query,
        headers,
        body,
        request_id: None,
    }
}
