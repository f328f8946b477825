//! The registry's rules on top of the store: registration (dedupe, per-subject
//! lock, compatibility), lookup, compatibility tests and levels.

use crate::compatibility::{self, Level};
use crate::error::ApiError;
use crate::normalize::{self, SchemaReference, AVRO};
use crate::store::{self, StoredVersion};
use apache_avro::Schema;
use sqlx::{PgConnection, PgPool};
use std::collections::HashSet;

/// A schema as submitted by a client.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SchemaRequest {
    pub schema: String,
    #[serde(default)]
    pub schema_type: Option<String>,
    #[serde(default)]
    pub references: Option<Vec<SchemaReference>>,
}

/// `latest` (or -1) or a version number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionSpec {
    Latest,
    Number(i32),
}

impl VersionSpec {
    pub fn parse(text: &str) -> Result<Self, ApiError> {
        if text.eq_ignore_ascii_case("latest") || text == "-1" {
            return Ok(VersionSpec::Latest);
        }
        match text.parse::<i32>() {
            Ok(n) if n > 0 => Ok(VersionSpec::Number(n)),
            _ => Err(ApiError::InvalidVersion(text.to_owned())),
        }
    }
}

/// A submitted schema, validated and normalized.
struct Prepared {
    text: String,
    schema_type: String,
    references: Vec<SchemaReference>,
    fingerprint: String,
    parsed: Schema,
}

#[derive(Clone)]
pub struct Registry {
    pool: PgPool,
    default_level: Level,
}

impl Registry {
    pub fn new(pool: PgPool, default_level: Level) -> Self {
        Self {
            pool,
            default_level,
        }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Registers `request` under `subject` and returns its global id. A schema
    /// already live in the subject returns its id and adds no version.
    pub async fn register(&self, subject: &str, request: SchemaRequest) -> Result<i32, ApiError> {
        let mut tx = self.pool.begin().await?;
        let new = prepare(&mut tx, request).await?;
        store::lock_subject(&mut tx, subject).await?;
        if let Some(found) =
            store::version_of_fingerprint(&mut *tx, subject, &new.fingerprint, false).await?
        {
            tx.commit().await?;
            return Ok(found.id);
        }
        let level = self.effective_level(&mut tx, subject).await?;
        if level != Level::None {
            let existing = store::versions(&mut *tx, subject, false).await?;
            let existing = parse_versions(&mut tx, &existing).await?;
            let problems = compatibility::check(level, &new.parsed, &existing);
            if !problems.is_empty() {
                return Err(ApiError::Incompatible {
                    subject: subject.to_owned(),
                    level: level.to_string(),
                    details: problems.join("; "),
                });
            }
        }
        let id = store::upsert_schema(
            &mut tx,
            &new.schema_type,
            &new.text,
            &new.references,
            &new.fingerprint,
        )
        .await?;
        let version = store::append_version(&mut tx, subject, id).await?;
        tx.commit().await?;
        tracing::info!(subject, version, id, %level, "schema registered");
        Ok(id)
    }

    /// The version of `subject` holding `request`.
    pub async fn lookup(
        &self,
        subject: &str,
        request: SchemaRequest,
        deleted: bool,
    ) -> Result<StoredVersion, ApiError> {
        let mut conn = self.pool.acquire().await?;
        if store::versions(&mut *conn, subject, deleted)
            .await?
            .is_empty()
        {
            return Err(ApiError::SubjectNotFound(subject.to_owned()));
        }
        let new = prepare(&mut conn, request).await?;
        store::version_of_fingerprint(&mut *conn, subject, &new.fingerprint, deleted)
            .await?
            .ok_or(ApiError::SchemaNotFound)
    }

    /// One version of a subject.
    pub async fn version(
        &self,
        subject: &str,
        spec: VersionSpec,
        deleted: bool,
    ) -> Result<StoredVersion, ApiError> {
        let versions = store::versions(&self.pool, subject, deleted).await?;
        pick_version(subject, versions, spec)
    }

    /// Why `request` could not be registered under `subject` (empty: it can).
    /// With `against`, only that version is checked, in the level's direction.
    pub async fn test_compatibility(
        &self,
        subject: &str,
        against: Option<VersionSpec>,
        request: SchemaRequest,
    ) -> Result<Vec<String>, ApiError> {
        let mut conn = self.pool.acquire().await?;
        let versions = store::versions(&mut *conn, subject, false).await?;
        let versions = match against {
            Some(spec) => vec![pick_version(subject, versions, spec)?],
            None => versions,
        };
        let new = prepare(&mut conn, request).await?;
        let level = self.effective_level(&mut conn, subject).await?;
        let existing = parse_versions(&mut conn, &versions).await?;
        Ok(compatibility::check(level, &new.parsed, &existing))
    }

    /// The subject's level, else the global one, else the configured default.
    pub async fn effective_level(
        &self,
        conn: &mut PgConnection,
        subject: &str,
    ) -> Result<Level, ApiError> {
        match self.subject_level(&mut *conn, subject).await? {
            Some(level) => Ok(level),
            None => self.global_level(conn).await,
        }
    }

    pub async fn global_level(&self, conn: &mut PgConnection) -> Result<Level, ApiError> {
        Ok(self
            .subject_level(conn, "")
            .await?
            .unwrap_or(self.default_level))
    }

    /// The level stored for a subject (`""`: the global one), if any.
    pub async fn subject_level(
        &self,
        conn: &mut PgConnection,
        subject: &str,
    ) -> Result<Option<Level>, ApiError> {
        Ok(store::level(conn, subject)
            .await?
            .and_then(|level| level.parse().ok()))
    }

    pub fn default_level(&self) -> Level {
        self.default_level
    }
}

/// Validates and normalizes a submitted schema (42201 when it is not a
/// schema, its type is not Avro or a reference is unknown).
async fn prepare(conn: &mut PgConnection, request: SchemaRequest) -> Result<Prepared, ApiError> {
    let schema_type = request
        .schema_type
        .as_deref()
        .unwrap_or(AVRO)
        .to_ascii_uppercase();
    if schema_type != AVRO {
        return Err(ApiError::InvalidSchema(format!(
            "schema type {schema_type} is not supported by this registry (AVRO only)"
        )));
    }
    let references = request.references.unwrap_or_default();
    let text = normalize::normalize(&request.schema).map_err(ApiError::InvalidSchema)?;
    let referenced = resolve_references(conn, &references).await?;
    let parsed = normalize::parse_avro(&text, &referenced).map_err(ApiError::InvalidSchema)?;
    let fingerprint = normalize::fingerprint(&schema_type, &text, &references);
    Ok(Prepared {
        text,
        schema_type,
        references,
        fingerprint,
        parsed,
    })
}

/// The texts of the schemas `references` name, transitively.
async fn resolve_references(
    conn: &mut PgConnection,
    references: &[SchemaReference],
) -> Result<Vec<String>, ApiError> {
    let mut pending: Vec<SchemaReference> = references.to_vec();
    let mut seen = HashSet::new();
    let mut texts = Vec::new();
    while let Some(reference) = pending.pop() {
        if !seen.insert((reference.subject.clone(), reference.version)) {
            continue;
        }
        let versions = store::versions(&mut *conn, &reference.subject, true).await?;
        let found = versions
            .into_iter()
            .find(|v| v.version == reference.version)
            .ok_or_else(|| {
                ApiError::InvalidSchema(format!(
                    "reference {} (subject '{}' version {}) not found",
                    reference.name, reference.subject, reference.version
                ))
            })?;
        pending.extend(found.refs.0.iter().cloned());
        texts.push(found.schema_text);
    }
    Ok(texts)
}

async fn parse_versions(
    conn: &mut PgConnection,
    versions: &[StoredVersion],
) -> Result<Vec<(i32, Schema)>, ApiError> {
    let mut parsed = Vec::with_capacity(versions.len());
    for v in versions {
        let referenced = resolve_references(conn, &v.refs.0).await?;
        // Stored schemas were valid when registered; a parse failure here
        // would be a bug or a changed parser, not the client's fault.
        let schema = normalize::parse_avro(&v.schema_text, &referenced).map_err(|e| {
            ApiError::Internal(format!("stored schema {} no longer parses: {e}", v.id))
        })?;
        parsed.push((v.version, schema));
    }
    Ok(parsed)
}

fn pick_version(
    subject: &str,
    versions: Vec<StoredVersion>,
    spec: VersionSpec,
) -> Result<StoredVersion, ApiError> {
    if versions.is_empty() {
        return Err(ApiError::SubjectNotFound(subject.to_owned()));
    }
    let found = match spec {
        VersionSpec::Latest => versions.into_iter().last(),
        VersionSpec::Number(n) => versions.into_iter().find(|v| v.version == n),
    };
    found.ok_or_else(|| ApiError::VersionNotFound {
        subject: subject.to_owned(),
        version: match spec {
            VersionSpec::Latest => "latest".to_owned(),
            VersionSpec::Number(n) => n.to_string(),
        },
    })
}
