//! `/config` and `/config/{subject}`: compatibility levels; `/mode` (always
//! READWRITE) for clients that ask.

use super::{flag, json_body, ok, AppState};
use crate::compatibility::Level;
use crate::error::ApiError;
use crate::store;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde::Deserialize;
use serde_json::json;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/config",
            get(get_global).put(put_global).delete(delete_global),
        )
        .route(
            "/config/{subject}",
            get(get_subject).put(put_subject).delete(delete_subject),
        )
        .route("/mode", get(mode))
        .route("/mode/{subject}", get(mode))
}

/// PUT body: Confluent clients send `compatibility`; some send `compatibilityLevel`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct LevelUpdate {
    compatibility: Option<String>,
    compatibility_level: Option<String>,
}

fn parse_update(body: &Bytes) -> Result<Level, ApiError> {
    let update: LevelUpdate = json_body(body)?;
    let text = update
        .compatibility
        .or(update.compatibility_level)
        .unwrap_or_default();
    text.parse().map_err(ApiError::InvalidCompatibilityLevel)
}

async fn get_global(State(state): State<AppState>) -> Result<Response, ApiError> {
    let mut conn = state.registry.pool().acquire().await?;
    let level = state.registry.global_level(&mut conn).await?;
    Ok(ok(json!({ "compatibilityLevel": level.as_str() })))
}

async fn put_global(State(state): State<AppState>, body: Bytes) -> Result<Response, ApiError> {
    let level = parse_update(&body)?;
    store::set_level(state.registry.pool(), "", level.as_str()).await?;
    tracing::info!(%level, "global compatibility level set");
    Ok(ok(json!({ "compatibility": level.as_str() })))
}

/// Back to the configured default; answers the level it replaced.
async fn delete_global(State(state): State<AppState>) -> Result<Response, ApiError> {
    let previous = store::delete_level(state.registry.pool(), "")
        .await?
        .and_then(|l| l.parse::<Level>().ok())
        .unwrap_or(state.registry.default_level());
    Ok(ok(json!({ "compatibility": previous.as_str() })))
}

/// The subject's level; without one, the global level unless the caller
/// says `defaultToGlobal=false` (then 40408, as Confluent by default).
async fn get_subject(
    State(state): State<AppState>,
    Path(subject): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let mut conn = state.registry.pool().acquire().await?;
    let level = match state.registry.subject_level(&mut conn, &subject).await? {
        Some(level) => level,
        None if flag(&query, "defaultToGlobal").unwrap_or(true) => {
            state.registry.global_level(&mut conn).await?
        }
        None => return Err(ApiError::SubjectCompatibilityNotConfigured(subject)),
    };
    Ok(ok(json!({ "compatibilityLevel": level.as_str() })))
}

async fn put_subject(
    State(state): State<AppState>,
    Path(subject): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let level = parse_update(&body)?;
    store::set_level(state.registry.pool(), &subject, level.as_str()).await?;
    tracing::info!(subject, %level, "subject compatibility level set");
    Ok(ok(json!({ "compatibility": level.as_str() })))
}

async fn delete_subject(
    State(state): State<AppState>,
    Path(subject): Path<String>,
) -> Result<Response, ApiError> {
    match store::delete_level(state.registry.pool(), &subject).await? {
        Some(previous) => Ok(ok(json!({ "compatibility": previous }))),
        None => Err(ApiError::SubjectCompatibilityNotConfigured(subject)),
    }
}

async fn mode() -> Response {
    ok(json!({ "mode": "READWRITE" }))
}
