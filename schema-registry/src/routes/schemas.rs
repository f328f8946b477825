//! `/schemas/...`: schemas by global id, and the supported types.

use super::{flag, ok, AppState};
use crate::error::ApiError;
use crate::normalize::AVRO;
use crate::store;
use axum::extract::{Path, RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/schemas/types", get(|| async { ok(json!([AVRO])) }))
        .route("/schemas/ids/{id}", get(by_id))
        .route("/schemas/ids/{id}/schema", get(raw_by_id))
        .route("/schemas/ids/{id}/versions", get(versions_of_id))
        .route("/schemas/ids/{id}/subjects", get(subjects_of_id))
}

fn parse_id(id: &str) -> Result<i32, ApiError> {
    id.parse().map_err(|_| ApiError::SchemaNotFound)
}

async fn load(state: &AppState, id: &str) -> Result<store::StoredSchema, ApiError> {
    store::schema_by_id(state.registry.pool(), parse_id(id)?)
        .await?
        .ok_or(ApiError::SchemaNotFound)
}

/// `{"schema": "..."}`, with `schemaType` only when not Avro (as Confluent).
async fn by_id(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let schema = load(&state, &id).await?;
    let mut body = json!({ "schema": schema.schema_text });
    if schema.schema_type != AVRO {
        body["schemaType"] = Value::from(schema.schema_type);
    }
    if !schema.refs.0.is_empty() {
        body["references"] = json!(schema.refs.0);
    }
    Ok(ok(body))
}

async fn raw_by_id(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let schema = load(&state, &id).await?;
    Ok((
        [(header::CONTENT_TYPE, crate::error::CONTENT_TYPE)],
        schema.schema_text,
    )
        .into_response())
}

async fn versions_of_id(
    State(state): State<AppState>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let schema = load(&state, &id).await?;
    let deleted = flag(&query, "deleted").unwrap_or(false);
    let usages = store::usages_of_schema(state.registry.pool(), schema.id, deleted).await?;
    let body: Vec<Value> = usages
        .into_iter()
        .map(|(subject, version)| json!({"subject": subject, "version": version}))
        .collect();
    Ok(ok(Value::from(body)))
}

async fn subjects_of_id(
    State(state): State<AppState>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let schema = load(&state, &id).await?;
    let deleted = flag(&query, "deleted").unwrap_or(false);
    let mut subjects: Vec<String> =
        store::usages_of_schema(state.registry.pool(), schema.id, deleted)
            .await?
            .into_iter()
            .map(|(subject, _)| subject)
            .collect();
    subjects.dedup();
    Ok(ok(json!(subjects)))
}
