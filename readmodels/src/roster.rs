//! Rows of the `roster` schema (projection `roster`).

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// Name of the projection writing this schema (`applied.projection`).
pub const PROJECTION: &str = "roster";

/// `roster.enrollments`: one row per enrollment.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct EnrollmentRow {
    pub enrollment_id: Uuid,
    pub course_id: Uuid,
    pub student_id: Uuid,
    /// `active` | `completed` | `withdrawn`.
    pub status: String,
    pub lessons_completed: i32,
    pub enrolled_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
    pub withdrawn_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
    pub tenant_id: String,
}

/// A course's enrollments in `tenant`, in enrollment order.
pub async fn enrollments_of_course(
    db: impl sqlx::PgExecutor<'_>,
    tenant: &str,
    course_id: Uuid,
) -> Result<Vec<EnrollmentRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT * FROM roster.enrollments WHERE course_id = $1 AND tenant_id = $2
          ORDER BY enrolled_at, enrollment_id",
    )
    .bind(course_id)
    .bind(tenant)
    .fetch_all(db)
    .await
}
