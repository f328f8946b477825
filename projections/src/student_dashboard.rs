//! `student-dashboard`: enrollment events → `dashboard.student_courses`,
//! course events (title, lesson count) fanned out to every enrolled student.
//!
//! Course facts can arrive before any enrollment (another topic, no order
//! between them): they are kept in `dashboard.courses`, which each new
//! enrollment copies from. A rebuild's batch goes set-based ([`batch`]).

mod batch;

use crate::projection::{ApplyError, BatchError, Projection};
use crate::redis_effects::{BatchEffects, RedisEffects};
use lms_domain::course::CourseEvent;
use lms_domain::enrollment::EnrollmentEvent;
use lms_schemas::{DecodedEvent, LmsEvent};
use sqlx::PgConnection;
use uuid::Uuid;

pub struct StudentDashboardProjection;

impl Projection for StudentDashboardProjection {
    fn name(&self) -> &'static str {
        crate::workers::ProjectionId::StudentDashboard.as_str()
    }

    fn schema(&self) -> &'static str {
        "dashboard"
    }

    fn topics(&self) -> &'static [&'static str] {
        &["lms.enrollment.v1", "lms.course.v1"]
    }

    async fn apply(
        &self,
        tx: &mut PgConnection,
        schema: &str,
        event: &DecodedEvent,
        _redis: &mut RedisEffects,
    ) -> Result<(), ApplyError> {
        let at = event.envelope.occurred_at;
        let id = Uuid::parse_str(&event.envelope.aggregate_id)
            .map_err(|e| ApplyError::Rejected(format!("aggregate id: {e}")))?;
        match &event.event {
            LmsEvent::Course(course_event) => {
                let (set, title) = match course_event {
                    CourseEvent::CourseCreated { title, .. }
                    | CourseEvent::CourseDetailsUpdated { title, .. } => {
                        ("course_title = $3", Some(title))
                    }
                    CourseEvent::LessonAdded { .. } => ("lessons_total = lessons_total + 1", None),
                    _ => return Ok(()),
                };
                // The course's facts, then every enrollment row of the course.
                sqlx::query(&format!(
                    "INSERT INTO {schema}.courses (course_id, updated_at) VALUES ($1, $2)
                     ON CONFLICT (course_id) DO NOTHING"
                ))
                .bind(id)
                .bind(at)
                .execute(&mut *tx)
                .await?;
                for table in ["courses", "student_courses"] {
                    sqlx::query(&format!(
                        "UPDATE {schema}.{table} SET {set}, updated_at = $2 WHERE course_id = $1"
                    ))
                    .bind(id)
                    .bind(at)
                    .bind(title)
                    .execute(&mut *tx)
                    .await?;
                }
            }
            LmsEvent::Enrollment(EnrollmentEvent::StudentEnrolled {
                student_id,
                course_id,
                ..
            }) => {
                sqlx::query(
                    &format!(
"INSERT INTO {schema}.student_courses
                         (student_id, course_id, enrollment_id, course_title, lessons_total, updated_at,
                          tenant_id)
                     SELECT $1, $2, $3,
                            COALESCE(t.course_title, ''), COALESCE(t.lessons_total, 0), $4, $5
                       FROM (SELECT 1) one
                       LEFT JOIN {schema}.courses t ON t.course_id = $2
                     ON CONFLICT (student_id, course_id) DO UPDATE
                        SET enrollment_id = EXCLUDED.enrollment_id, status = 'active',
                            lessons_completed = 0, updated_at = EXCLUDED.updated_at"),
                )
                .bind(student_id.0)
                .bind(course_id.0)
                .bind(id)
                .bind(at)
                .bind(&event.envelope.tenant_id)
                .execute(&mut *tx)
                .await?;
            }
            LmsEvent::Enrollment(enrollment_event) => {
                let set = match enrollment_event {
                    EnrollmentEvent::LessonCompleted { .. } => {
                        "lessons_completed = lessons_completed + 1"
                    }
                    EnrollmentEvent::CourseCompleted => "status = 'completed'",
                    EnrollmentEvent::EnrollmentWithdrawn { .. } => "status = 'withdrawn'",
                    EnrollmentEvent::StudentEnrolled { .. } => return Ok(()),
                };
                sqlx::query(&format!(
                    "UPDATE {schema}.student_courses SET {set}, updated_at = $2 WHERE enrollment_id = $1"
                ))
                .bind(id)
                .bind(at)
                .execute(&mut *tx)
                .await?;
            }
            LmsEvent::Subscription(_) | LmsEvent::User(_) => {}
        }
        Ok(())
    }

    /// No Redis effects.
    fn live_batches(&self) -> bool {
        true
    }

    async fn apply_batch(
        &self,
        tx: &mut PgConnection,
        schema: &str,
        events: &[DecodedEvent],
        _effects: &mut BatchEffects,
    ) -> Result<(), BatchError> {
        batch::apply(tx, schema, events).await
    }
}
