//! `roster`: enrollment events → `roster.enrollments`; the course's seat
//! events → Redis `<prefix>:seats:<course_id>` (seats taken). Its Redis
//! sequence guard has its own namespace (`<prefix>:seq:roster:…`) so it does
//! not collide with course-catalog's guard on the same course aggregate.

use crate::projection::{ApplyError, Projection};
use crate::redis_effects::RedisEffects;
use lms_domain::course::CourseEvent;
use lms_domain::enrollment::EnrollmentEvent;
use lms_schemas::{DecodedEvent, LmsEvent};
use sqlx::PgConnection;
use uuid::Uuid;

pub struct RosterProjection;

impl Projection for RosterProjection {
    fn name(&self) -> &'static str {
        "roster"
    }

    fn schema(&self) -> &'static str {
        "roster"
    }

    fn topics(&self) -> &'static [&'static str] {
        &["lms.enrollment.v1", "lms.course.v1"]
    }

    fn redis_seq_namespace(&self) -> Option<&'static str> {
        Some("roster")
    }

    async fn apply(
        &self,
        tx: &mut PgConnection,
        schema: &str,
        event: &DecodedEvent,
        redis: &mut RedisEffects,
    ) -> Result<(), ApplyError> {
        let at = event.envelope.occurred_at;
        let aggregate_id = &event.envelope.aggregate_id;
        match &event.event {
            LmsEvent::Course(CourseEvent::SeatReserved { .. }) => {
                let key = redis.key(&format!("seats:{aggregate_id}"));
                redis.incrby(&key, 1);
            }
            LmsEvent::Course(CourseEvent::SeatReleased { .. }) => {
                let key = redis.key(&format!("seats:{aggregate_id}"));
                redis.incrby(&key, -1);
            }
            LmsEvent::Enrollment(enrollment_event) => {
                let id = Uuid::parse_str(aggregate_id)
                    .map_err(|e| ApplyError::Rejected(format!("enrollment id: {e}")))?;
                let update = |set: &str| {
                    format!(
                        "UPDATE {schema}.enrollments SET {set}, updated_at = $2 WHERE enrollment_id = $1"
                    )
                };
                let query = match enrollment_event {
                    EnrollmentEvent::StudentEnrolled {
                        student_id,
                        course_id,
                        ..
                    } => {
                        sqlx::query(&format!(
                            "INSERT INTO {schema}.enrollments
                                 (enrollment_id, course_id, student_id, enrolled_at, updated_at)
                             VALUES ($1, $2, $3, $4, $4)
                             ON CONFLICT (enrollment_id) DO NOTHING"
                        ))
                        .bind(id)
                        .bind(course_id.0)
                        .bind(student_id.0)
                        .bind(at)
                        .execute(&mut *tx)
                        .await?;
                        return Ok(());
                    }
                    EnrollmentEvent::LessonCompleted { .. } => {
                        update("lessons_completed = lessons_completed + 1")
                    }
                    EnrollmentEvent::CourseCompleted => {
                        update("status = 'completed', completed_at = $2")
                    }
                    EnrollmentEvent::EnrollmentWithdrawn { .. } => {
                        update("status = 'withdrawn', withdrawn_at = $2")
                    }
                };
                sqlx::query(&query)
                    .bind(id)
                    .bind(at)
                    .execute(&mut *tx)
                    .await?;
            }
            _ => {}
        }
        Ok(())
    }
}
