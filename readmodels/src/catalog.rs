//! Rows of the `catalog` schema (projection `course-catalog`).

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// Name of the projection writing this schema (`applied.projection`).
pub const PROJECTION: &str = "course-catalog";

/// The Redis key (after the prefix) whose presence says the cards and the
/// published sets are complete. `v2`: cards carry their tenant and each
/// tenant has its own published set; Redis written before that stays cold
/// (Postgres answers) until `lms-replay rebuild course-catalog`.
pub const WARM_MARKER: &str = "catalog:warm:v2";

/// `catalog.courses`: one row per course.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct CourseRow {
    pub course_id: Uuid,
    pub title: String,
    pub description: String,
    /// `draft` | `published` | `archived`.
    pub status: String,
    pub capacity: i32,
    pub seats_taken: i32,
    /// `free` | `paid` (with `price_cents`) | `plan` (with `plan`).
    pub access_kind: String,
    pub price_cents: Option<i64>,
    /// `basic` | `pro`.
    pub plan: Option<String>,
    pub language: String,
    pub instructor_ids: Vec<Uuid>,
    pub module_count: i32,
    pub lesson_count: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub tenant_id: String,
}

/// `catalog.modules`: a module as ModuleAdded named it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ModuleRow {
    pub module_id: Uuid,
    pub course_id: Uuid,
    pub title: String,
    /// 0-based, in the order the modules were added.
    pub position: i32,
    pub created_at: DateTime<Utc>,
}

/// `catalog.lessons`: one row per lesson, with its module.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct LessonRow {
    pub course_id: Uuid,
    pub module_id: Uuid,
    pub module_title: String,
    pub lesson_id: Uuid,
    pub title: String,
    pub position: i32,
}

/// ListCourses filters (all optional).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CourseFilter {
    pub status: Option<String>,
    pub instructor_id: Option<Uuid>,
    /// Case-insensitive substring of the title.
    pub title_contains: Option<String>,
}

/// The course, if it is `tenant`'s.
pub async fn course(
    db: impl sqlx::PgExecutor<'_>,
    tenant: &str,
    course_id: Uuid,
) -> Result<Option<CourseRow>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM catalog.courses WHERE course_id = $1 AND tenant_id = $2")
        .bind(course_id)
        .bind(tenant)
        .fetch_optional(db)
        .await
}

/// Up to `limit` of `tenant`'s courses, newest first, after `after` =
/// (created_at micros, course_id) of the previous page's last course.
pub async fn courses(
    db: impl sqlx::PgExecutor<'_>,
    tenant: &str,
    filter: &CourseFilter,
    after: Option<(i64, Uuid)>,
    limit: i64,
) -> Result<Vec<CourseRow>, sqlx::Error> {
    // Only the filters given go into the statement: one statement with
    // every filter optional (`$1 IS NULL OR …`) gets a generic plan that
    // scans and sorts the whole table instead of walking the matching index.
    let mut query = sqlx::QueryBuilder::new("SELECT * FROM catalog.courses WHERE tenant_id = ");
    query.push_bind(tenant.to_string());
    if let Some(status) = filter.status.as_deref() {
        query.push(" AND status = ").push_bind(status.to_string());
    }
    if let Some(instructor) = filter.instructor_id {
        query
            .push(" AND instructor_ids @> ARRAY[")
            .push_bind(instructor)
            .push("::uuid]");
    }
    if let Some(text) = filter.title_contains.as_deref() {
        query
            .push(" AND title ILIKE ")
            .push_bind(format!("%{}%", escape_like(text)));
    }
    let cursor = after
        .and_then(|(micros, id)| DateTime::<Utc>::from_timestamp_micros(micros).map(|at| (at, id)));
    if let Some((at, id)) = cursor {
        query
            .push(" AND (created_at, course_id) < (")
            .push_bind(at)
            .push("::timestamptz, ")
            .push_bind(id)
            .push("::uuid)");
    }
    query
        .push(" ORDER BY created_at DESC, course_id DESC LIMIT ")
        .push_bind(limit);
    query.build_query_as().fetch_all(db).await
}

/// `text` matched literally by ILIKE (`\` is the default escape).
fn escape_like(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// A course's modules and lessons in order (the caller checked the course
/// is the viewer's to see: these tables are reached through their course).
pub async fn outline(
    db: &sqlx::PgPool,
    course_id: Uuid,
) -> Result<(Vec<ModuleRow>, Vec<LessonRow>), sqlx::Error> {
    let modules = sqlx::query_as(
        "SELECT * FROM catalog.modules WHERE course_id = $1 ORDER BY position, created_at",
    )
    .bind(course_id)
    .fetch_all(db)
    .await?;
    let lessons = sqlx::query_as(
        "SELECT course_id, module_id, module_title, lesson_id, title, position
         FROM catalog.lessons WHERE course_id = $1 ORDER BY module_id, position",
    )
    .bind(course_id)
    .fetch_all(db)
    .await?;
    Ok((modules, lessons))
}
