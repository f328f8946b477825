//! `roster`: enrollment events → `roster.enrollments`; the course's seat
//! events → Redis `<prefix>:seats:<course_id>` (seats taken). Its Redis
//! sequence guard has its own namespace (`<prefix>:seq:roster:…`) so it does
//! not collide with course-catalog's guard on the same course aggregate.
//!
//! A rebuild's batch goes set-based: the batch's enrollment rows are loaded
//! once, every event is folded into them in memory as the per-event SQL
//! would change them, and the changed rows are written with one UNNEST
//! upsert; seat events become one net INCRBY per course.

use crate::projection::{ApplyError, BatchError, Projection};
use crate::redis_effects::{BatchEffects, RedisEffects};
use chrono::{DateTime, Utc};
use lms_domain::course::CourseEvent;
use lms_domain::enrollment::EnrollmentEvent;
use lms_schemas::{DecodedEvent, Envelope, LmsEvent};
use sqlx::PgConnection;
use std::collections::{BTreeMap, BTreeSet};
use uuid::Uuid;

pub struct RosterProjection;

impl Projection for RosterProjection {
    fn name(&self) -> &'static str {
        crate::workers::ProjectionId::Roster.as_str()
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
                                 (enrollment_id, course_id, student_id, enrolled_at, updated_at,
                                  tenant_id)
                             VALUES ($1, $2, $3, $4, $4, $5)
                             ON CONFLICT (enrollment_id) DO UPDATE
                                SET status = 'active', lessons_completed = 0,
                                    enrolled_at = EXCLUDED.enrolled_at, completed_at = NULL,
                                    withdrawn_at = NULL, updated_at = EXCLUDED.updated_at"
                        ))
                        .bind(id)
                        .bind(course_id.0)
                        .bind(student_id.0)
                        .bind(at)
                        .bind(&event.envelope.tenant_id)
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

    async fn apply_batch(
        &self,
        tx: &mut PgConnection,
        schema: &str,
        events: &[DecodedEvent],
        effects: &mut BatchEffects,
    ) -> Result<(), BatchError> {
        // Seat deltas per course: (net change, last sequence).
        let mut seats: BTreeMap<(&str, &str), (i64, i64)> = BTreeMap::new();
        let mut ids = BTreeSet::new();
        for event in events {
            if let LmsEvent::Enrollment(_) = &event.event {
                ids.insert(parse_id(&event.envelope.aggregate_id)?);
            }
        }
        let ids: Vec<Uuid> = ids.into_iter().collect();
        let mut rows: BTreeMap<Uuid, EnrollmentRow> = if ids.is_empty() {
            BTreeMap::new()
        } else {
            sqlx::query_as::<_, EnrollmentRow>(&format!(
                "SELECT enrollment_id, course_id, student_id, status, lessons_completed,
                        enrolled_at, completed_at, withdrawn_at, updated_at, tenant_id
                   FROM {schema}.enrollments WHERE enrollment_id = ANY($1)"
            ))
            .bind(&ids)
            .fetch_all(&mut *tx)
            .await
            .map_err(BatchError::batch)?
            .into_iter()
            .map(|row| (row.enrollment_id, row))
            .collect()
        };
        let mut changed = BTreeSet::new();
        for event in events {
            let envelope = &event.envelope;
            let delta = match &event.event {
                LmsEvent::Course(CourseEvent::SeatReserved { .. }) => 1,
                LmsEvent::Course(CourseEvent::SeatReleased { .. }) => -1,
                LmsEvent::Enrollment(enrollment_event) => {
                    let id = parse_id(&envelope.aggregate_id)?;
                    fold(&mut rows, id, envelope, enrollment_event)?;
                    changed.insert(id);
                    continue;
                }
                _ => continue,
            };
            let course = (
                envelope.aggregate_type.as_str(),
                envelope.aggregate_id.as_str(),
            );
            let entry = seats.entry(course).or_insert((0, 0));
            *entry = (entry.0 + delta, envelope.sequence);
        }
        let changed: Vec<&EnrollmentRow> = changed.iter().filter_map(|id| rows.get(id)).collect();
        if !changed.is_empty() {
            store(tx, schema, &changed).await?;
        }
        for ((aggregate_type, course_id), (delta, sequence)) in seats {
            // INCRBY 0 still creates the key at 0, as +1 then -1 would.
            let mut net = effects.effects();
            let key = net.key(&format!("seats:{course_id}"));
            net.incrby(&key, delta);
            effects.push(aggregate_type, course_id, sequence, net);
        }
        Ok(())
    }
}

fn parse_id(id: &str) -> Result<Uuid, BatchError> {
    Uuid::parse_str(id)
        .map_err(|e| BatchError::batch(ApplyError::Rejected(format!("enrollment id: {e}"))))
}

/// A row of `<schema>.enrollments`.
#[derive(Debug, Clone, sqlx::FromRow)]
struct EnrollmentRow {
    enrollment_id: Uuid,
    course_id: Uuid,
    student_id: Uuid,
    status: String,
    lessons_completed: i32,
    enrolled_at: DateTime<Utc>,
    completed_at: Option<DateTime<Utc>>,
    withdrawn_at: Option<DateTime<Utc>>,
    updated_at: DateTime<Utc>,
    tenant_id: String,
}

/// One event's change to the rows, as [`RosterProjection::apply`]'s SQL does
/// it (an update of a missing row changes nothing; a StudentEnrolled of a
/// known id, a re-enrollment, starts the row afresh).
fn fold(
    rows: &mut BTreeMap<Uuid, EnrollmentRow>,
    id: Uuid,
    envelope: &Envelope,
    event: &EnrollmentEvent,
) -> Result<(), BatchError> {
    let at = envelope.occurred_at;
    if let EnrollmentEvent::StudentEnrolled {
        student_id,
        course_id,
        ..
    } = event
    {
        // A re-enrollment (same id, after a withdrawal) starts afresh, as
        // the aggregate does.
        rows.insert(
            id,
            EnrollmentRow {
                enrollment_id: id,
                course_id: course_id.0,
                student_id: student_id.0,
                status: "active".into(),
                lessons_completed: 0,
                enrolled_at: at,
                completed_at: None,
                withdrawn_at: None,
                updated_at: at,
                tenant_id: envelope.tenant_id.clone(),
            },
        );
        return Ok(());
    }
    let Some(row) = rows.get_mut(&id) else {
        return Ok(());
    };
    match event {
        EnrollmentEvent::LessonCompleted { .. } => {
            row.lessons_completed = row.lessons_completed.checked_add(1).ok_or_else(|| {
                BatchError::batch(ApplyError::Rejected("lessons_completed overflows".into()))
            })?;
        }
        EnrollmentEvent::CourseCompleted => {
            row.status = "completed".into();
            row.completed_at = Some(at);
        }
        EnrollmentEvent::EnrollmentWithdrawn { .. } => {
            row.status = "withdrawn".into();
            row.withdrawn_at = Some(at);
        }
        EnrollmentEvent::StudentEnrolled { .. } => return Ok(()),
    }
    row.updated_at = at;
    Ok(())
}

/// Writes the rows (new or changed) with one UNNEST upsert.
async fn store(
    tx: &mut PgConnection,
    schema: &str,
    rows: &[&EnrollmentRow],
) -> Result<(), BatchError> {
    sqlx::query(&format!(
        "INSERT INTO {schema}.enrollments AS e (enrollment_id, course_id, student_id, status,
                lessons_completed, enrolled_at, completed_at, withdrawn_at, updated_at, tenant_id)
         SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::int[],
                              $6::timestamptz[], $7::timestamptz[], $8::timestamptz[], $9::timestamptz[],
                              $10::text[])
         ON CONFLICT (enrollment_id) DO UPDATE
            SET course_id = EXCLUDED.course_id, student_id = EXCLUDED.student_id,
                status = EXCLUDED.status, lessons_completed = EXCLUDED.lessons_completed,
                enrolled_at = EXCLUDED.enrolled_at, completed_at = EXCLUDED.completed_at,
                withdrawn_at = EXCLUDED.withdrawn_at, updated_at = EXCLUDED.updated_at"
    ))
    .bind(rows.iter().map(|r| r.enrollment_id).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.course_id).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.student_id).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.status.as_str()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.lessons_completed).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.enrolled_at).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.completed_at).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.withdrawn_at).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.updated_at).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.tenant_id.as_str()).collect::<Vec<_>>())
    .execute(&mut *tx)
    .await
    .map_err(BatchError::batch)?;
    Ok(())
}
