//! Errors of the identity calls that are not commands (Login, Refresh,
//! Logout, GetMe), and their mapping to `tonic::Status`.

use lms_domain::FieldViolation;
use lms_runtime::grpc::status;
use std::time::Duration;
use tonic::{Code, Status};
use tonic_types::StatusExt;

pub const ERROR_DOMAIN: &str = "lms.identity.v1";

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("invalid request")]
    Invalid(Vec<FieldViolation>),
    /// Wrong email or password, or a refresh token that is not (any more)
    /// valid: the reason says which kind, never which part.
    #[error("{message}")]
    Unauthenticated {
        reason: &'static str,
        message: &'static str,
    },
    #[error("too many attempts; retry in {0:?}")]
    TooManyAttempts(Duration),
    #[error("user not found")]
    NotFound,
    #[error("database unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<sqlx::Error> for IdentityError {
    fn from(err: sqlx::Error) -> Self {
        if lms_runtime::database::is_unavailable(&err) {
            IdentityError::Unavailable(err)
        } else {
            IdentityError::Internal(err.to_string())
        }
    }
}

impl From<IdentityError> for Status {
    fn from(err: IdentityError) -> Self {
        let message = err.to_string();
        match err {
            IdentityError::Invalid(violations) => status::invalid_argument(
                "invalid request",
                violations.into_iter().map(|v| (v.field, v.description)),
            ),
            IdentityError::Unauthenticated { reason, .. } => Status::with_error_details(
                Code::Unauthenticated,
                message,
                status::error_info(reason, ERROR_DOMAIN),
            ),
            IdentityError::TooManyAttempts(wait) => status::exhausted(
                "TOO_MANY_ATTEMPTS",
                "too many sign-in attempts; retry later",
                wait,
                ERROR_DOMAIN,
            ),
            IdentityError::NotFound => Status::with_error_details(
                Code::NotFound,
                message,
                status::error_info("USER_NOT_FOUND", ERROR_DOMAIN),
            ),
            IdentityError::Unavailable(_) => {
                status::store_unavailable("identity store", ERROR_DOMAIN)
            }
            IdentityError::Internal(_) => status::internal(ERROR_DOMAIN),
        }
    }
}
