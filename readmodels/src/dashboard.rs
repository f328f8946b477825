//! Rows of the `dashboard` schema (projection `student-dashboard`).

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// Name of the projection writing this schema (`applied.projection`).
pub const PROJECTION: &str = "student-dashboard";

/// `dashboard.courses`: the course facts each enrollment row copies.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DashboardCourseRow {
    pub course_id: Uuid,
    pub course_title: String,
    pub lessons_total: i32,
    pub updated_at: DateTime<Utc>,
}

/// `dashboard.student_courses`: one row per (student, course).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct StudentCourseRow {
    pub student_id: Uuid,
    pub course_id: Uuid,
    pub enrollment_id: Uuid,
    /// `active` | `completed` | `withdrawn`.
    pub status: String,
    pub lessons_completed: i32,
    pub lessons_total: i32,
    /// Empty until the course's title is known.
    pub course_title: String,
    pub updated_at: DateTime<Utc>,
    pub tenant_id: String,
}

/// A student's courses in `tenant`, most recently updated first.
pub async fn courses_of_student(
    db: impl sqlx::PgExecutor<'_>,
    tenant: &str,
    student_id: Uuid,
) -> Result<Vec<StudentCourseRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT * FROM dashboard.student_courses WHERE student_id = $1 AND tenant_id = $2
          ORDER BY updated_at DESC, course_id",
    )
    .bind(student_id)
    .bind(tenant)
    .fetch_all(db)
    .await
}
