//! The SDK's transport to the embedded engine without a socket: an `HttpClient` whose every
//! request is handed to the engine's own axum router in this process. The DynamoDB client,
//! and so `DynamoStore`, is the one every function runs (same serialisation, signing,
//! retries, error handling); only the bytes skip the loopback TCP connection, hyper's
//! client pool and the engine's HTTP server.

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use bytes::Bytes;

/// The largest answer read from the engine (DynamoDB's own limit on a response is 16 MB).
const MAX_RESPONSE_BYTES: usize = 64 * 1024 * 1024;

/// The engine's router, called in process.
#[derive(Clone, Debug)]
pub struct InProcess {
    router: axum::Router,
}

impl InProcess {
    pub fn new(router: axum::Router) -> InProcess {
        InProcess { router }
    }

    /// As the SDK's `http_client`.
    pub fn http_client(self) -> SharedHttpClient {
        SharedHttpClient::new(self)
    }
}

fn failed(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> ConnectorError {
    ConnectorError::other(e.into(), None)
}

impl HttpConnector for InProcess {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let mut router = self.router.clone();
        HttpConnectorFuture::new(async move {
            let req = request.try_into_http1x().map_err(failed)?;
            let (parts, body) = req.into_parts();
            // The SDK's DynamoDB bodies are in memory (JSON); a streaming one is not sent.
            let bytes = body
                .bytes()
                .map(Bytes::copy_from_slice)
                .ok_or_else(|| failed("a streaming request body"))?;
            let req = http::Request::from_parts(parts, axum::body::Body::from(bytes));
            let resp = tower_service::Service::call(&mut router, req)
                .await
                .map_err(failed)?;
            let (parts, body) = resp.into_parts();
            let bytes = axum::body::to_bytes(body, MAX_RESPONSE_BYTES)
                .await
                .map_err(failed)?;
            HttpResponse::try_from(http::Response::from_parts(parts, SdkBody::from(bytes)))
                .map_err(failed)
        })
    }
}

impl HttpClient for InProcess {
    fn http_connector(
        &self,
        _settings: &HttpConnectorSettings,
        _components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(self.clone())
    }
}
