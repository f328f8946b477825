//! Errors: the Confluent error codes answered over HTTP, and the failures of
//! the server itself.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

/// The content type of every Confluent API response.
pub const CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";

/// An API error, answered as `{"error_code": N, "message": "..."}`.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("Subject '{0}' not found.")]
    SubjectNotFound(String),
    #[error("Version {version} not found for subject '{subject}'.")]
    VersionNotFound { subject: String, version: String },
    #[error("Schema not found")]
    SchemaNotFound,
    #[error("Subject '{0}' does not have subject-level compatibility configured")]
    SubjectCompatibilityNotConfigured(String),
    #[error("Schema being registered is incompatible with an earlier schema for subject \"{subject}\" ({level}): {details}")]
    Incompatible {
        subject: String,
        level: String,
        details: String,
    },
    #[error("Invalid schema: {0}")]
    InvalidSchema(String),
    #[error("The specified version '{0}' is not a valid version id. Allowed values are between [1, 2^31-1] and the string \"latest\"")]
    InvalidVersion(String),
    #[error("Invalid compatibility level: '{0}'. Valid values are NONE, BACKWARD, BACKWARD_TRANSITIVE, FORWARD, FORWARD_TRANSITIVE, FULL, FULL_TRANSITIVE")]
    InvalidCompatibilityLevel(String),
    #[error("Unprocessable request: {0}")]
    BadRequest(String),
    #[error("HTTP 404 Not Found")]
    NoSuchRoute,
    /// A write (register, delete, config) without the admin credential.
    #[error("Unauthorized: registering, deleting and configuring need the admin credential (HTTP Basic)")]
    Unauthorized,
    /// No admin credential is configured: the registry is read-only.
    #[error("Unauthorized: this registry is read-only (no admin credential is configured: LMS_ADMIN_PASSWORD)")]
    ReadOnly,
    #[error("Error in the backend data store: {0}")]
    Store(#[from] sqlx::Error),
    #[error("Internal error: {0}")]
    Internal(String),
}

impl ApiError {
    pub fn error_code(&self) -> u32 {
        match self {
            ApiError::SubjectNotFound(_) => 40401,
            ApiError::VersionNotFound { .. } => 40402,
            ApiError::SchemaNotFound => 40403,
            ApiError::SubjectCompatibilityNotConfigured(_) => 40408,
            ApiError::Incompatible { .. } => 40901,
            ApiError::InvalidSchema(_) => 42201,
            ApiError::InvalidVersion(_) => 42202,
            ApiError::InvalidCompatibilityLevel(_) => 42203,
            ApiError::BadRequest(_) => 422,
            ApiError::NoSuchRoute => 404,
            ApiError::Unauthorized | ApiError::ReadOnly => 40101,
            ApiError::Store(_) | ApiError::Internal(_) => 50001,
        }
    }

    pub fn status(&self) -> StatusCode {
        match self.error_code() {
            404 | 40400..=40499 => StatusCode::NOT_FOUND,
            40100..=40199 => StatusCode::UNAUTHORIZED,
            40900..=40999 => StatusCode::CONFLICT,
            422 | 42200..=42299 => StatusCode::UNPROCESSABLE_ENTITY,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(error = %self, "request failed");
        } else {
            tracing::debug!(error = %self, "request refused");
        }
        let body = serde_json::json!({
            "error_code": self.error_code(),
            "message": self.to_string(),
        });
        let mut response = (
            status,
            [(header::CONTENT_TYPE, CONTENT_TYPE)],
            body.to_string(),
        )
            .into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Basic realm=\"schema-registry\""),
            );
        }
        response
    }
}

/// Why the registry could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("invalid setting: {0}")]
    Config(String),
    #[error("HTTP server failed: {0}")]
    Http(#[from] std::io::Error),
}
