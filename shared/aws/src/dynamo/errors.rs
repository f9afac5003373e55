//! SDK errors as store errors, and the backoff between the store's own retries.
//!
//! Errors are classified by the service's error code (`ProvideErrorMetadata::code`), never
//! by their text. Throttling becomes [`StoreError::Busy`] (the service answers 503); every
//! other failure is [`StoreError::Internal`] with the SDK's full context, logged once at the
//! edge and never shown to a client.

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

/// The store error of a failed call of operation `op` (for the log: `"GetItem"`).
pub(super) fn internal<E>(op: &str, e: SdkError<E>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    if is_throttle(&e) {
        return StoreError::Busy;
    }
    StoreError::Internal(format!("{op}: {}", DisplayErrorContext(&e)))
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

    fn service_error(code: &str) -> SdkError<GetItemError> {
        let e = GetItemError::generic(ErrorMetadata::builder().code(code).build());
        let raw = HttpResponse::new(StatusCode::try_from(400).unwrap(), SdkBody::empty());
        SdkError::service_error(e, raw)
    }

    #[test]
    fn throttling_is_busy_by_its_error_code() {
        for code in THROTTLING {
            assert_eq!(internal("GetItem", service_error(code)), StoreError::Busy);
        }
        for code in ["ValidationException", "ResourceNotFoundException"] {
            assert!(matches!(
                internal("GetItem", service_error(code)),
                StoreError::Internal(m) if m.starts_with("GetItem: ")
            ));
        }
    }
}
