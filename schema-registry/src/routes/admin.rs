//! Writes need the admin credential: registering a schema, deleting a
//! subject or a version, setting a compatibility level. Reads (schemas by
//! id, subjects, versions, lookups, compatibility checks) stay open inside
//! the cluster, where the network policies keep them.

use crate::error::ApiError;
use axum::extract::{Request, State};
use axum::http::{header, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use lms_runtime::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// The configured admin credential, kept as a digest of `user:password`.
#[derive(Clone)]
pub struct Admin(Option<Arc<[u8; 32]>>);

impl Admin {
    pub fn new(user: &str, password: &SecretString) -> Self {
        if password.expose_secret().is_empty() {
            return Self(None);
        }
        let pair = format!("{user}:{}", password.expose_secret());
        Self(Some(Arc::new(Sha256::digest(pair.as_bytes()).into())))
    }

    /// Whether `authorization` (the header's value) is this credential.
    /// Digests are compared, so the comparison's time says nothing about
    /// the password.
    fn accepts(&self, authorization: Option<&str>) -> Result<(), ApiError> {
        let Some(expected) = &self.0 else {
            return Err(ApiError::ReadOnly);
        };
        let given = authorization
            .and_then(|v| v.strip_prefix("Basic "))
            .and_then(|b64| STANDARD.decode(b64.trim()).ok())
            .ok_or(ApiError::Unauthorized)?;
        let digest: [u8; 32] = Sha256::digest(&given).into();
        if &digest == expected.as_ref() {
            Ok(())
        } else {
            Err(ApiError::Unauthorized)
        }
    }
}

/// A write: any PUT or DELETE, and the POST that registers a version
/// (`/subjects/{subject}/versions`). The POSTs that look a schema up or
/// test compatibility change nothing.
fn is_write(method: &Method, path: &str) -> bool {
    match *method {
        Method::PUT | Method::DELETE => true,
        Method::POST => {
            path.starts_with("/subjects/") && path.trim_end_matches('/').ends_with("/versions")
        }
        _ => false,
    }
}

pub async fn require_for_writes(
    State(admin): State<Admin>,
    request: Request,
    next: Next,
) -> Response {
    if is_write(request.method(), request.uri().path()) {
        let authorization = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        if let Err(refused) = admin.accepts(authorization) {
            tracing::info!(method = %request.method(), path = request.uri().path(), "write refused without the admin credential");
            return refused.into_response();
        }
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_registering_deleting_and_configuring_are_writes() {
        assert!(is_write(&Method::POST, "/subjects/a-b/versions"));
        assert!(is_write(&Method::DELETE, "/subjects/a-b"));
        assert!(is_write(&Method::PUT, "/config"));
        assert!(!is_write(&Method::POST, "/subjects/a-b"));
        assert!(!is_write(
            &Method::POST,
            "/compatibility/subjects/a-b/versions/latest"
        ));
        assert!(!is_write(&Method::GET, "/subjects/a-b/versions"));
    }

    #[test]
    fn the_credential_is_checked_and_an_empty_password_means_read_only() {
        let admin = Admin::new("lms-admin", &SecretString::from("s3cret"));
        let good = format!("Basic {}", STANDARD.encode("lms-admin:s3cret"));
        let bad = format!("Basic {}", STANDARD.encode("lms-admin:guess"));
        assert!(admin.accepts(Some(&good)).is_ok());
        assert!(matches!(
            admin.accepts(Some(&bad)),
            Err(ApiError::Unauthorized)
        ));
        assert!(matches!(admin.accepts(None), Err(ApiError::Unauthorized)));
        let read_only = Admin::new("lms-admin", &SecretString::from(""));
        assert!(matches!(
            read_only.accepts(Some(&good)),
            Err(ApiError::ReadOnly)
        ));
    }
}
