//! The query side's error type, and its one mapping to `tonic::Status`.

use lms_runtime::grpc::status;
use std::time::Duration;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// `ErrorInfo.domain` of every error we return.
pub const ERROR_DOMAIN: &str = "lms.query.v1";

/// How long a client should wait before retrying a query whose read model
/// was behind.
pub const RETRY_AFTER: Duration = Duration::from_millis(250);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    pub field: String,
    pub description: String,
}

#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error("invalid request: {}", describe(.0))]
    Invalid(Vec<FieldViolation>),
    #[error("{what} {id} not found")]
    NotFound { what: &'static str, id: String },
    /// The caller may not read this.
    #[error("{message}")]
    PermissionDenied {
        reason: &'static str,
        message: &'static str,
    },
    /// The projection did not reach `min_position` within the timeout.
    #[error("read model not caught up: {aggregate_id} applied up to {applied}, wanted {sequence} (waited {waited_ms} ms)")]
    NotCaughtUp {
        aggregate_id: String,
        sequence: u64,
        /// -1 when the aggregate is unknown to the projection.
        applied: i64,
        waited_ms: u128,
    },
    #[error("read model store unavailable: {0}")]
    Unavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

fn describe(violations: &[FieldViolation]) -> String {
    violations
        .iter()
        .map(|v| format!("{}: {}", v.field, v.description))
        .collect::<Vec<_>>()
        .join("; ")
}

impl QueryError {
    pub fn invalid(field: impl Into<String>, description: impl Into<String>) -> Self {
        QueryError::Invalid(vec![FieldViolation {
            field: field.into(),
            description: description.into(),
        }])
    }

    /// A short label for metrics.
    pub fn outcome(&self) -> &'static str {
        match self {
            QueryError::Invalid(_) => "invalid",
            QueryError::NotFound { .. } => "not_found",
            QueryError::PermissionDenied { .. } => "permission_denied",
            QueryError::NotCaughtUp { .. } => "not_caught_up",
            QueryError::Unavailable(_) => "unavailable",
            QueryError::Internal(_) => "internal",
        }
    }
}

impl From<sqlx::Error> for QueryError {
    fn from(err: sqlx::Error) -> Self {
        match &err {
            _ if lms_runtime::database::is_unavailable(&err) => {
                QueryError::Unavailable(err.to_string())
            }
            _ => QueryError::Internal(err.to_string()),
        }
    }
}

fn error_info(reason: &str) -> ErrorDetails {
    status::error_info(reason, ERROR_DOMAIN)
}

impl From<QueryError> for Status {
    fn from(err: QueryError) -> Self {
        let message = err.to_string();
        match err {
            QueryError::Invalid(violations) => status::invalid_argument(
                message,
                violations.into_iter().map(|v| (v.field, v.description)),
            ),
            QueryError::NotFound { what, .. } => {
                let reason = format!("{}_NOT_FOUND", what.to_uppercase());
                Status::with_error_details(Code::NotFound, message, error_info(&reason))
            }
            QueryError::PermissionDenied { reason, .. } => {
                Status::with_error_details(Code::PermissionDenied, message, error_info(reason))
            }
            QueryError::NotCaughtUp { .. } => {
                let mut details = error_info("READ_MODEL_BEHIND");
                details.set_retry_info(Some(RETRY_AFTER));
                Status::with_error_details(Code::Unavailable, message, details)
            }
            // The cause stays in the server's log: a client never sees a
            // database's or a driver's words.
            QueryError::Unavailable(_) => {
                status::store_unavailable("read model store", ERROR_DOMAIN)
            }
            QueryError::Internal(_) => status::internal(ERROR_DOMAIN),
        }
    }
}
