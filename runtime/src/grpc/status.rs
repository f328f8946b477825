//! The statuses every gRPC API answers the same way: field violations,
//! a machine-readable reason (`ErrorInfo`), and the generic answers for a
//! store that is unavailable or an internal error, which never carry a
//! database's or a driver's words.

use std::collections::HashMap;
use std::time::Duration;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// How soon a client may retry after STORE_UNAVAILABLE.
pub const STORE_RETRY_AFTER: Duration = Duration::from_secs(1);

/// `ErrorInfo` with `reason` in `domain` (the API's package, e.g. `lms.command.v1`).
pub fn error_info(reason: &str, domain: &str) -> ErrorDetails {
    ErrorDetails::with_error_info(reason, domain, HashMap::<String, String>::new())
}

/// INVALID_ARGUMENT naming every bad field (`BadRequest` violations).
pub fn invalid_argument(
    message: impl Into<String>,
    violations: impl IntoIterator<Item = (String, String)>,
) -> Status {
    let mut details = ErrorDetails::new();
    for (field, description) in violations {
        details.add_bad_request_violation(field, description);
    }
    Status::with_error_details(Code::InvalidArgument, message, details)
}

/// UNAVAILABLE with reason STORE_UNAVAILABLE and a retry hint; `what`
/// names the store ("event store", "read model store").
pub fn store_unavailable(what: &str, domain: &str) -> Status {
    let mut details = error_info("STORE_UNAVAILABLE", domain);
    details.set_retry_info(Some(STORE_RETRY_AFTER));
    Status::with_error_details(
        Code::Unavailable,
        format!("{what} unavailable; retry"),
        details,
    )
}

/// RESOURCE_EXHAUSTED with `reason` and a RetryInfo of `wait` rounded up
/// to whole seconds (at least one: what a client can sleep).
pub fn exhausted(reason: &str, message: &str, wait: Duration, domain: &str) -> Status {
    let mut details = error_info(reason, domain);
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    details.set_retry_info(Some(Duration::from_secs(secs.max(1))));
    Status::with_error_details(Code::ResourceExhausted, message, details)
}

/// INTERNAL with reason INTERNAL and nothing of the cause.
pub fn internal(domain: &str) -> Status {
    Status::with_error_details(
        Code::Internal,
        "internal error",
        error_info("INTERNAL", domain),
    )
}

/// The canonical (proto enum) name of a gRPC status code, e.g.
/// `INVALID_ARGUMENT` (clients name a status without `ErrorInfo` by it).
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_unavailable_has_a_reason_and_a_retry_hint_and_no_cause() {
        let status = store_unavailable("event store", "lms.command.v1");
        assert_eq!(status.code(), Code::Unavailable);
        assert_eq!(status.message(), "event store unavailable; retry");
        let info = status.get_details_error_info();
        assert_eq!(
            info.as_ref().map(|i| i.reason.as_str()),
            Some("STORE_UNAVAILABLE")
        );
        assert_eq!(info.map(|i| i.domain), Some("lms.command.v1".to_string()));
        assert_eq!(
            status.get_details_retry_info().and_then(|r| r.retry_delay),
            Some(STORE_RETRY_AFTER)
        );
    }

    #[test]
    fn invalid_argument_names_every_field() {
        let status = invalid_argument(
            "bad",
            [
                ("title".to_string(), "too long".to_string()),
                ("capacity".to_string(), "negative".to_string()),
            ],
        );
        let fields: Vec<String> = status
            .get_details_bad_request()
            .map(|b| b.field_violations.into_iter().map(|v| v.field).collect())
            .unwrap_or_default();
        assert_eq!(fields, ["title", "capacity"]);
    }
}
