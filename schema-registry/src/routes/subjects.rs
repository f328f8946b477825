//! `/subjects/...`: register, look up, list and delete subject versions.

use super::{flag, json_body, ok, AppState};
use crate::error::{ApiError, CONTENT_TYPE};
use crate::normalize::AVRO;
use crate::registry::{SchemaRequest, VersionSpec};
use crate::store::{self, StoredVersion};
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/subjects", get(list_subjects))
        .route(
            "/subjects/{subject}",
            axum::routing::post(lookup).delete(delete_subject),
        )
        .route(
            "/subjects/{subject}/versions",
            get(list_versions).post(register),
        )
        .route(
            "/subjects/{subject}/versions/{version}",
            get(get_version).delete(delete_version),
        )
        .route(
            "/subjects/{subject}/versions/{version}/schema",
            get(get_raw_schema),
        )
}

/// Confluent's subject-version object.
pub(crate) fn version_json(v: &StoredVersion) -> Value {
    let mut body = json!({
        "subject": v.subject,
        "version": v.version,
        "id": v.id,
        "schema": v.schema_text,
    });
    if v.schema_type != AVRO {
        body["schemaType"] = Value::from(v.schema_type.clone());
    }
    if !v.refs.0.is_empty() {
        body["references"] = json!(v.refs.0);
    }
    body
}

async fn list_subjects(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let deleted = flag(&query, "deleted").unwrap_or(false);
    Ok(ok(json!(
        store::subjects(state.registry.pool(), deleted).await?
    )))
}

async fn list_versions(
    State(state): State<AppState>,
    Path(subject): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let deleted = flag(&query, "deleted").unwrap_or(false);
    let versions = store::versions(state.registry.pool(), &subject, deleted).await?;
    if versions.is_empty() {
        return Err(ApiError::SubjectNotFound(subject));
    }
    let numbers: Vec<i32> = versions.iter().map(|v| v.version).collect();
    Ok(ok(json!(numbers)))
}

/// `{"id": N}`: the global id, new or existing.
async fn register(
    State(state): State<AppState>,
    Path(subject): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let request: SchemaRequest = json_body(&body)?;
    let id = state.registry.register(&subject, request).await?;
    Ok(ok(json!({ "id": id })))
}

/// `{"subject","id","version","schema"}` of the version holding the schema.
async fn lookup(
    State(state): State<AppState>,
    Path(subject): Path<String>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    let request: SchemaRequest = json_body(&body)?;
    let deleted = flag(&query, "deleted").unwrap_or(false);
    let found = state.registry.lookup(&subject, request, deleted).await?;
    Ok(ok(version_json(&found)))
}

async fn get_version(
    State(state): State<AppState>,
    Path((subject, version)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let spec = VersionSpec::parse(&version)?;
    let deleted = flag(&query, "deleted").unwrap_or(false);
    let found = state.registry.version(&subject, spec, deleted).await?;
    Ok(ok(version_json(&found)))
}

async fn get_raw_schema(
    State(state): State<AppState>,
    Path((subject, version)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let spec = VersionSpec::parse(&version)?;
    let found = state.registry.version(&subject, spec, false).await?;
    Ok(([(header::CONTENT_TYPE, CONTENT_TYPE)], found.schema_text).into_response())
}

/// Soft-deletes every version (`?permanent=true`: removes them); returns them.
async fn delete_subject(
    State(state): State<AppState>,
    Path(subject): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let permanent = flag(&query, "permanent").unwrap_or(false);
    let mut tx = state.registry.pool().begin().await?;
    store::lock_subject(&mut tx, &subject).await?;
    let versions = store::delete_versions(&mut tx, &subject, None, permanent).await?;
    if versions.is_empty() {
        return Err(ApiError::SubjectNotFound(subject));
    }
    if permanent {
        store::delete_level(&mut *tx, &subject).await?;
    }
    tx.commit().await?;
    tracing::info!(subject, ?versions, permanent, "subject deleted");
    Ok(ok(json!(versions)))
}

async fn delete_version(
    State(state): State<AppState>,
    Path((subject, version)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let permanent = flag(&query, "permanent").unwrap_or(false);
    let spec = VersionSpec::parse(&version)?;
    // resolves `latest` and answers 40401/40402 like a read
    let found = state.registry.version(&subject, spec, permanent).await?;
    let mut tx = state.registry.pool().begin().await?;
    store::lock_subject(&mut tx, &subject).await?;
    let deleted = store::delete_versions(&mut tx, &subject, Some(found.version), permanent).await?;
    tx.commit().await?;
    match deleted.first() {
        Some(version) => Ok(ok(json!(version))),
        None => Err(ApiError::VersionNotFound {
            subject,
            version: found.version.to_string(),
        }),
    }
}
