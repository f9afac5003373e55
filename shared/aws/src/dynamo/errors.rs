//! SDK errors as store errors, and the backoff between the store's own retries.
//!
//! Errors are classified by what failed and by the service's error code
//! (`ProvideErrorMetadata::code`), never by their text. What reaches here has outlasted the
//! SDK's own retries:
//!
//! - throttling is [`StoreError::Throttled`] (the client gets `429` + `Retry-After`);
//! - a 5xx answer, a timeout, a connection that failed or a reply that could not be read
//!   is [`StoreError::Unavailable`] (`503` + `Retry-After`): the same request can succeed
//!   later, and every write is idempotent under a retry (see `transact`);
//! - anything else (a request DynamoDB calls invalid, a missing table) is a defect,
//!   [`StoreError::Internal`] (`500`), logged once at the edge with the SDK's context and
//!   never shown to a client.

use crate::retry::Backoff;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use scim_service::port::StoreError;
use std::time::Duration;

/// The error codes DynamoDB answers when a request is throttled.
const THROTTLING: [&str; 3] = [
    "ThrottlingException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
];

/// Error codes of a service-side failure that a later retry may not meet.
const TRANSIENT: [&str; 3] = [
    "InternalServerError",
    "ServiceUnavailable",
    "TransactionInProgressException",
];

/// The store error of a failed call of operation `op` (for the log: `"GetItem"`).
pub(super) fn sdk_error<E>(op: &str, e: SdkError<E>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    if is_throttle(&e) {
        return StoreError::Throttled;
    }
    let context = || format!("{op}: {}", DisplayErrorContext(&e));
    let transient = match &e {
        SdkError::TimeoutError(_) | SdkError::ResponseError(_) => true,
        // A request the SDK could not even send (a bad endpoint) is a defect.
        SdkError::DispatchFailure(d) => !d.is_user(),
        SdkError::ServiceError(s) => {
            s.raw().status().is_server_error() || e.code().is_some_and(|c| TRANSIENT.contains(&c))
        }
        _ => false,
    };
    if transient {
        StoreError::Unavailable(context())
    } else {
        StoreError::Internal(context())
    }
}

/// Whether the service refused the call for throughput (after the SDK's own retries).
pub(super) fn is_throttle<E: ProvideErrorMetadata>(e: &SdkError<E>) -> bool {
    e.code().is_some_and(|code| THROTTLING.contains(&code))
}

/// A request that could not be built (a missing required field: a bug, not bad input).
pub(super) fn build(e: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(format!("building a request: {e}"))
}

/// The store's backoff: exponential from 10 ms (capped at 640 ms), between half and one
/// and a half times that, so that conflicting writers spread out.
const BACKOFF: Backoff = Backoff {
    first: Duration::from_millis(10),
    cap: Duration::from_millis(640),
    spread: (0.5, 1.5),
};

/// Waits before retry number `attempt`.
pub(super) async fn backoff(attempt: u32) {
    BACKOFF.wait(attempt).await;
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::error::ErrorMetadata;
    use aws_sdk_dynamodb::operation::get_item::GetItemError;
    use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;

    fn service_error(code: &str, status: u16) -> SdkError<GetItemError> {
        let e = GetItemError::generic(ErrorMetadata::builder().code(code).build());
        let raw = HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::empty());
        SdkError::service_error(e, raw)
    }

    #[test]
    fn throttling_is_throttled_by_its_error_code() {
        for code in THROTTLING {
            assert_eq!(
                sdk_error("GetItem", service_error(code, 400)),
                StoreError::Throttled
            );
        }
    }

    #[test]
    fn a_server_error_or_timeout_is_transient_and_a_bad_request_is_a_defect() {
        for (code, status) in [("InternalServerError", 500), ("Anything", 503)] {
            assert!(matches!(
                sdk_error("GetItem", service_error(code, status)),
                StoreError::Unavailable(m) if m.starts_with("GetItem: ")
            ));
        }
        let timeout: SdkError<GetItemError> = SdkError::timeout_error("attempt timed out");
        assert!(sdk_error("GetItem", timeout).is_transient());
        let reset: SdkError<GetItemError> = SdkError::dispatch_failure(
            aws_smithy_runtime_api::client::result::ConnectorError::io("connection reset".into()),
        );
        assert!(sdk_error("GetItem", reset).is_transient());
        for code in ["ValidationException", "ResourceNotFoundException"] {
            assert!(matches!(
                sdk_error("GetItem", service_error(code, 400)),
                StoreError::Internal(m) if m.starts_with("GetItem: ")
            ));
        }
    }
}
