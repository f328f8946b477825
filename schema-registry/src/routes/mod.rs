//! The HTTP API: Confluent's REST paths, `/health` and `/metrics`, and the
//! helpers every handler shares (JSON in any content type, Confluent JSON out).

mod admin;
mod compatibility;
mod config;
mod schemas;
mod subjects;

use crate::error::{ApiError, CONTENT_TYPE};
use crate::http_metrics;
use crate::registry::Registry;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

pub use admin::Admin;

#[derive(Clone)]
pub struct AppState {
    pub registry: Registry,
    pub admin: Admin,
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(|| async { ok(json!({})) }))
        .route("/health", get(health))
        .route("/healthz", get(health))
        .merge(lms_runtime::telemetry::metrics_router())
        // Python confluent-kafka's default subject strategy asks this first
        // and falls back on an empty list (or a 404): we keep no associations.
        .route(
            "/associations/resources/{namespace}/{resource}",
            get(|| async { ok(json!([])) }),
        )
        .merge(schemas::routes())
        .merge(subjects::routes())
        .merge(compatibility::routes())
        .merge(config::routes())
        .fallback(|| async { ApiError::NoSuchRoute })
        .layer(axum::middleware::from_fn_with_state(
            state.admin.clone(),
            admin::require_for_writes,
        ))
        .layer(axum::middleware::from_fn(http_metrics::track_http))
        .with_state(state)
}

async fn health(State(state): State<AppState>) -> Response {
    match sqlx::query("SELECT 1").execute(state.registry.pool()).await {
        Ok(_) => ok(json!({"status": "ok"})),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::CONTENT_TYPE, "application/json")],
            json!({"status": "unavailable", "error": e.to_string()}).to_string(),
        )
            .into_response(),
    }
}

/// 200 with a Confluent JSON body.
pub(crate) fn ok(body: Value) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, CONTENT_TYPE)],
        body.to_string(),
    )
        .into_response()
}

/// Parses a JSON request body whatever its content type (clients send
/// `application/vnd.schemaregistry.v1+json`, `application/json` or nothing).
pub(crate) fn json_body<T: DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::BadRequest(e.to_string()))
}

/// A boolean query flag; lenient because Python clients send `True`/`False`.
pub(crate) fn flag(query: &Option<String>, name: &str) -> Option<bool> {
    query.as_deref().and_then(|q| {
        q.split('&').find_map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, "true"));
            (key == name).then(|| value.eq_ignore_ascii_case("true"))
        })
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::flag;

    #[test]
    fn flags_are_read_case_insensitively() {
        let q = Some("normalize=False&deleted=True&verbose".to_owned());
        assert_eq!(flag(&q, "normalize"), Some(false));
        assert_eq!(flag(&q, "deleted"), Some(true));
        assert_eq!(flag(&q, "verbose"), Some(true));
        assert_eq!(flag(&q, "permanent"), None);
        assert_eq!(flag(&None, "deleted"), None);
    }
}
