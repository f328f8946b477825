//! Every error the BFF answers, as `application/problem+json` (RFC 9457)
//! carrying the backend's reason and field violations.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use lms_runtime::grpc::status::code_name;
use serde::Serialize;
use std::time::Duration;
use tonic::Code;
use tonic_types::StatusExt;
use utoipa::ToSchema;

pub const PROBLEM_JSON: &str = "application/problem+json";

/// One field a request got wrong (the field as the API names it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Violation {
    pub field: String,
    pub description: String,
}

/// An RFC 9457 problem: `type` names the reason, `reason` is the stable
/// machine-readable code (e.g. `COURSE_FULL`), `violations` the bad fields.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub violations: Vec<Violation>,
    /// Seconds to wait before retrying (also in `Retry-After`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
}

#[derive(Debug, thiserror::Error)]
pub enum BffError {
    /// A backend service refused or failed the call.
    #[error("backend: {0}")]
    Upstream(#[from] tonic::Status),
    #[error("sign in first")]
    SessionRequired,
    #[error("missing or wrong X-CSRF-Token header")]
    Csrf,
    #[error("state-changing requests from another origin are refused")]
    CrossOrigin,
    #[error("invalid request: {}", describe(.0))]
    Invalid(Vec<Violation>),
    #[error("session store unavailable")]
    SessionStore(#[source] redis::RedisError),
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

fn describe(violations: &[Violation]) -> String {
    violations
        .iter()
        .map(|v| format!("{}: {}", v.field, v.description))
        .collect::<Vec<_>>()
        .join("; ")
}

impl BffError {
    pub fn invalid(field: &str, description: impl Into<String>) -> Self {
        BffError::Invalid(vec![Violation {
            field: field.into(),
            description: description.into(),
        }])
    }

    pub fn internal(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        BffError::Internal(Box::new(error))
    }

    pub fn problem(&self) -> Problem {
        match self {
            BffError::Upstream(status) => upstream_problem(status),
            BffError::SessionRequired => simple(
                StatusCode::UNAUTHORIZED,
                "SESSION_REQUIRED",
                self.to_string(),
            ),
            BffError::Csrf => simple(
                StatusCode::FORBIDDEN,
                "CSRF_TOKEN_INVALID",
                self.to_string(),
            ),
            BffError::CrossOrigin => {
                simple(StatusCode::FORBIDDEN, "CROSS_ORIGIN", self.to_string())
            }
            BffError::Invalid(violations) => Problem {
                violations: violations.clone(),
                ..simple(StatusCode::BAD_REQUEST, "INVALID_REQUEST", self.to_string())
            },
            BffError::SessionStore(_) => Problem {
                retry_after: Some(1),
                ..simple(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "SESSION_STORE_UNAVAILABLE",
                    self.to_string(),
                )
            },
            BffError::Internal(_) => simple(
                StatusCode::INTERNAL_SERVER_ERROR,
                "INTERNAL",
                self.to_string(),
            ),
        }
    }
}

fn simple(status: StatusCode, reason: &str, detail: String) -> Problem {
    Problem {
        kind: problem_type(reason),
        title: status.canonical_reason().unwrap_or("Error").to_string(),
        status: status.as_u16(),
        detail,
        reason: Some(reason.to_string()),
        violations: Vec::new(),
        retry_after: None,
    }
}

fn problem_type(reason: &str) -> String {
    format!("urn:lms:problem:{}", reason.to_ascii_lowercase())
}

/// The HTTP status a gRPC code means to a browser.
pub fn http_status(code: Code) -> StatusCode {
    match code {
        Code::InvalidArgument | Code::OutOfRange => StatusCode::BAD_REQUEST,
        Code::Unauthenticated => StatusCode::UNAUTHORIZED,
        Code::PermissionDenied => StatusCode::FORBIDDEN,
        Code::NotFound => StatusCode::NOT_FOUND,
        Code::AlreadyExists | Code::Aborted | Code::FailedPrecondition => StatusCode::CONFLICT,
        Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
        Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Code::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
        Code::Unimplemented => StatusCode::NOT_IMPLEMENTED,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

fn upstream_problem(status: &tonic::Status) -> Problem {
    let http = http_status(status.code());
    let details = status.get_error_details();
    let reason = details.error_info().map(|info| info.reason.clone());
    let violations = details
        .bad_request()
        .map(|bad| {
            bad.field_violations
                .iter()
                .map(|v| Violation {
                    field: v.field.clone(),
                    description: v.description.clone(),
                })
                .collect()
        })
        .unwrap_or_default();
    let retry_after = details
        .retry_info()
        .and_then(|info| info.retry_delay)
        .map(round_up_secs);
    // The services keep causes out of 5xx messages already; the BFF adds
    // none of its own.
    let detail = if http.is_server_error() {
        "the service could not answer; try again".to_string()
    } else {
        status.message().to_string()
    };
    // A status without ErrorInfo (e.g. INVALID_ARGUMENT with its field
    // violations) is named by its code.
    let reason = reason.unwrap_or_else(|| code_name(status.code()).to_string());
    Problem {
        kind: problem_type(&reason),
        title: http.canonical_reason().unwrap_or("Error").to_string(),
        status: http.as_u16(),
        detail,
        reason: Some(reason),
        violations,
        retry_after,
    }
}

fn round_up_secs(delay: Duration) -> u64 {
    let secs = delay.as_secs();
    if delay.subsec_nanos() > 0 {
        secs + 1
    } else {
        secs.max(1)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let retry_after = self.retry_after;
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if let Some(secs) = retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

impl IntoResponse for BffError {
    fn into_response(self) -> Response {
        let problem = self.problem();
        if problem.status >= 500 {
            tracing::error!(error = %self, source = ?std::error::Error::source(&self), "request failed");
        } else {
            tracing::debug!(error = %self, "request refused");
        }
        problem.into_response()
    }
}
