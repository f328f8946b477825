//! The command side's error type, and its one mapping to `tonic::Status`.

use cqrs_es::AggregateError;
use lms_domain::{DomainError, ErrorKind, FieldViolation};
use lms_runtime::grpc::status;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// `ErrorInfo.domain` of every error we return.
pub const ERROR_DOMAIN: &str = "lms.command.v1";

#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error("invalid request: {}", describe(.0))]
    Invalid(Vec<FieldViolation>),
    /// A business rule refused the command (kind is never `Invalid`).
    #[error("{message}")]
    Rejected {
        kind: ErrorKind,
        reason: &'static str,
        message: String,
    },
    #[error("command id {0} was already used for a different request")]
    CommandIdReused(String),
    /// Optimistic-concurrency conflict; retried by the runner, never returned raw.
    #[error("concurrent modification of the same aggregate")]
    Conflict,
    #[error("gave up after {0} attempts: the aggregate kept changing concurrently")]
    Exhausted(usize),
    #[error("unauthenticated: {0}")]
    Unauthenticated(String),
    /// A caller over a rate limit (password attempts); retry after this.
    #[error("too many attempts; retry in {0:?}")]
    TooManyAttempts(std::time::Duration),
    #[error("event store unavailable: {0}")]
    Unavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

fn describe(violations: &[FieldViolation]) -> String {
    violations
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl CommandError {
    pub fn from_domain<E: DomainError>(err: &E) -> Self {
        match err.kind() {
            ErrorKind::Invalid(violations) => CommandError::Invalid(violations),
            kind => CommandError::Rejected {
                kind,
                reason: err.reason(),
                message: err.to_string(),
            },
        }
    }

    /// A short label for metrics.
    pub fn outcome(&self) -> &'static str {
        match self {
            CommandError::Invalid(_) => "invalid",
            CommandError::Rejected { kind, .. } => match kind {
                ErrorKind::NotFound => "not_found",
                ErrorKind::AlreadyExists => "already_exists",
                ErrorKind::PermissionDenied => "permission_denied",
                ErrorKind::Unavailable => "unavailable",
                _ => "rejected",
            },
            CommandError::CommandIdReused(_) => "command_id_reused",
            CommandError::Conflict | CommandError::Exhausted(_) => "aborted",
            CommandError::Unauthenticated(_) => "unauthenticated",
            CommandError::TooManyAttempts(_) => "limited",
            CommandError::Unavailable(_) => "unavailable",
            CommandError::Internal(_) => "internal",
        }
    }
}

impl<E: DomainError> From<AggregateError<E>> for CommandError {
    fn from(err: AggregateError<E>) -> Self {
        match err {
            AggregateError::UserError(e) => CommandError::from_domain(&e),
            AggregateError::AggregateConflict => CommandError::Conflict,
            AggregateError::DatabaseConnectionError(e) => CommandError::Unavailable(e.to_string()),
            AggregateError::DeserializationError(e) => {
                CommandError::Internal(format!("stored event unreadable: {e}"))
            }
            // postgres-es files a pool timeout, a server shutting down
            // (57P01) or a failover (25006) under "unexpected": the shared
            // rule decides, from the sqlx error inside.
            AggregateError::UnexpectedError(e) if store_unavailable(e.as_ref()) => {
                CommandError::Unavailable(e.to_string())
            }
            AggregateError::UnexpectedError(e) => CommandError::Internal(e.to_string()),
        }
    }
}

/// Whether `error`, or an error it wraps, is a database error the shared
/// rule calls unavailable.
fn store_unavailable(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(error);
    while let Some(error) = next {
        if let Some(sql) = error.downcast_ref::<sqlx::Error>() {
            return lms_runtime::database::is_unavailable(sql);
        }
        next = error.source();
    }
    false
}

impl From<sqlx::Error> for CommandError {
    fn from(err: sqlx::Error) -> Self {
        match &err {
            sqlx::Error::Database(db) if db.code().as_deref() == Some("23505") => {
                CommandError::Conflict
            }
            _ if lms_runtime::database::is_unavailable(&err) => {
                CommandError::Unavailable(err.to_string())
            }
            _ => CommandError::Internal(err.to_string()),
        }
    }
}

fn error_info(reason: &str) -> ErrorDetails {
    status::error_info(reason, ERROR_DOMAIN)
}

impl From<CommandError> for Status {
    fn from(err: CommandError) -> Self {
        let message = err.to_string();
        match err {
            CommandError::Invalid(violations) => status::invalid_argument(
                message,
                violations.into_iter().map(|v| (v.field, v.description)),
            ),
            CommandError::Rejected { kind, reason, .. } => {
                let code = match kind {
                    ErrorKind::NotFound => Code::NotFound,
                    ErrorKind::AlreadyExists => Code::AlreadyExists,
                    ErrorKind::PermissionDenied => Code::PermissionDenied,
                    ErrorKind::Invalid(_) => Code::InvalidArgument,
                    ErrorKind::FailedPrecondition => Code::FailedPrecondition,
                    ErrorKind::Unavailable => Code::Unavailable,
                };
                let mut details = error_info(reason);
                if code == Code::FailedPrecondition {
                    details.add_precondition_failure_violation(reason, "", message.clone());
                }
                Status::with_error_details(code, message, details)
            }
            CommandError::CommandIdReused(_) => Status::with_error_details(
                Code::AlreadyExists,
                message,
                error_info("COMMAND_ID_REUSED"),
            ),
            CommandError::Conflict | CommandError::Exhausted(_) => {
                let mut details = error_info("CONCURRENT_MODIFICATION");
                details.set_retry_info(Some(std::time::Duration::from_millis(50)));
                Status::with_error_details(Code::Aborted, message, details)
            }
            CommandError::Unauthenticated(_) => Status::unauthenticated(message),
            CommandError::TooManyAttempts(wait) => {
                status::exhausted("TOO_MANY_ATTEMPTS", &message, wait, ERROR_DOMAIN)
            }
            // The cause stays in the server's log (`handle`): a client never
            // sees a database's or a driver's words.
            CommandError::Unavailable(_) => status::store_unavailable("event store", ERROR_DOMAIN),
            CommandError::Internal(_) => status::internal(ERROR_DOMAIN),
        }
    }
}
