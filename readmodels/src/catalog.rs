//! Rows of the `catalog` schema (projection `course-catalog`).

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// Name of the projection writing this schema (`applied.projection`).
pub const PROJECTION: &str = "course-catalog";

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
