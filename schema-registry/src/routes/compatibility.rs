//! `/compatibility/...`: would this schema be accepted under the subject's level?

use super::{flag, json_body, ok, AppState};
use crate::error::ApiError;
use crate::registry::{SchemaRequest, VersionSpec};
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use serde_json::json;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/compatibility/subjects/{subject}/versions",
            post(against_all),
        )
        .route(
            "/compatibility/subjects/{subject}/versions/{version}",
            post(against_version),
        )
}

async fn against_all(
    State(state): State<AppState>,
    Path(subject): Path<String>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    test(state, subject, None, query, body).await
}

async fn against_version(
    State(state): State<AppState>,
    Path((subject, version)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    let spec = VersionSpec::parse(&version)?;
    test(state, subject, Some(spec), query, body).await
}

/// `{"is_compatible": bool}`, plus `messages` with `?verbose=true`.
async fn test(
    state: AppState,
    subject: String,
    against: Option<VersionSpec>,
    query: Option<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let request: SchemaRequest = json_body(&body)?;
    let problems = state
        .registry
        .test_compatibility(&subject, against, request)
        .await?;
    let mut response = json!({ "is_compatible": problems.is_empty() });
    if flag(&query, "verbose").unwrap_or(false) {
        response["messages"] = json!(problems);
    }
    Ok(ok(response))
}
