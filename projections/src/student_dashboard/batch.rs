//! student-dashboard's set-based rebuild batch: the course facts and the
//! student rows the batch touches (those of its enrollments, of the students
//! it enrolls and of the courses whose facts change) are loaded once, every
//! event is folded into them in memory as the per-event SQL would change
//! them (in the batch's order: an enrollment copies the course facts of its
//! moment), then the changed rows go in with one UNNEST upsert per table.

use crate::projection::{ApplyError, BatchError};
use chrono::{DateTime, Utc};
use lms_domain::course::CourseEvent;
use lms_domain::enrollment::EnrollmentEvent;
use lms_schemas::{DecodedEvent, LmsEvent};
use sqlx::PgConnection;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use uuid::Uuid;

fn rejected(message: String) -> BatchError {
    BatchError::batch(ApplyError::Rejected(message))
}

fn plus_one(value: i32, what: &str) -> Result<i32, BatchError> {
    value
        .checked_add(1)
        .ok_or_else(|| rejected(format!("{what} overflows")))
}

/// A row of `<schema>.courses`.
#[derive(Debug, Clone, sqlx::FromRow)]
struct CourseFacts {
    course_id: Uuid,
    course_title: String,
    lessons_total: i32,
    updated_at: DateTime<Utc>,
}

/// A row of `<schema>.student_courses`.
#[derive(Debug, Clone, sqlx::FromRow)]
struct StudentCourse {
    student_id: Uuid,
    course_id: Uuid,
    enrollment_id: Uuid,
    status: String,
    lessons_completed: i32,
    lessons_total: i32,
    course_title: String,
    updated_at: DateTime<Utc>,
    tenant_id: String,
}

type Key = (Uuid, Uuid);

/// What a course event changes: the title, or one more lesson.
enum Fact<'a> {
    Title(&'a str),
    Lesson,
}

#[derive(Default)]
struct State {
    courses: BTreeMap<Uuid, CourseFacts>,
    rows: BTreeMap<Key, StudentCourse>,
    by_course: HashMap<Uuid, BTreeSet<Key>>,
    by_enrollment: HashMap<Uuid, BTreeSet<Key>>,
    changed_courses: BTreeSet<Uuid>,
    changed_rows: BTreeSet<Key>,
}

pub(super) async fn apply(
    tx: &mut PgConnection,
    schema: &str,
    events: &[DecodedEvent],
) -> Result<(), BatchError> {
    let mut batch = Vec::with_capacity(events.len());
    let (mut fact_courses, mut course_ids) = (BTreeSet::new(), BTreeSet::new());
    let (mut enrollment_ids, mut pairs) = (BTreeSet::new(), BTreeSet::new());
    for event in events {
        // The per-event handler parses every event's id first.
        let id = Uuid::parse_str(&event.envelope.aggregate_id)
            .map_err(|e| rejected(format!("aggregate id: {e}")))?;
        match &event.event {
            LmsEvent::Course(
                CourseEvent::CourseCreated { .. }
                | CourseEvent::CourseDetailsUpdated { .. }
                | CourseEvent::LessonAdded { .. },
            ) => {
                fact_courses.insert(id);
                course_ids.insert(id);
            }
            LmsEvent::Enrollment(EnrollmentEvent::StudentEnrolled {
                student_id,
                course_id,
                ..
            }) => {
                course_ids.insert(course_id.0);
                pairs.insert((student_id.0, course_id.0));
            }
            LmsEvent::Enrollment(_) => {
                enrollment_ids.insert(id);
            }
            _ => continue,
        }
        batch.push((id, event));
    }
    if batch.is_empty() {
        return Ok(());
    }
    let mut state = State::load(
        tx,
        schema,
        &fact_courses,
        &course_ids,
        &enrollment_ids,
        &pairs,
    )
    .await
    .map_err(BatchError::batch)?;
    for (id, event) in batch {
        state.fold(id, event)?;
    }
    state.store(tx, schema).await.map_err(BatchError::batch)
}

impl State {
    async fn load(
        tx: &mut PgConnection,
        schema: &str,
        fact_courses: &BTreeSet<Uuid>,
        course_ids: &BTreeSet<Uuid>,
        enrollment_ids: &BTreeSet<Uuid>,
        pairs: &BTreeSet<Key>,
    ) -> Result<State, sqlx::Error> {
        let mut state = State::default();
        if !course_ids.is_empty() {
            let courses: Vec<CourseFacts> = sqlx::query_as(&format!(
                "SELECT course_id, course_title, lessons_total, updated_at
                   FROM {schema}.courses WHERE course_id = ANY($1)"
            ))
            .bind(course_ids.iter().copied().collect::<Vec<_>>())
            .fetch_all(&mut *tx)
            .await?;
            state.courses = courses.into_iter().map(|c| (c.course_id, c)).collect();
        }
        let (students, enrolled): (Vec<Uuid>, Vec<Uuid>) = pairs.iter().copied().unzip();
        let rows: Vec<StudentCourse> = sqlx::query_as(&format!(
            "SELECT student_id, course_id, enrollment_id, status, lessons_completed, lessons_total,
                    course_title, updated_at, tenant_id
               FROM {schema}.student_courses
              WHERE course_id = ANY($1) OR enrollment_id = ANY($2)
                 OR (student_id, course_id) IN (SELECT * FROM UNNEST($3::uuid[], $4::uuid[]))"
        ))
        .bind(fact_courses.iter().copied().collect::<Vec<_>>())
        .bind(enrollment_ids.iter().copied().collect::<Vec<_>>())
        .bind(&students)
        .bind(&enrolled)
        .fetch_all(&mut *tx)
        .await?;
        for row in rows {
            state.index(&row);
            state.rows.insert((row.student_id, row.course_id), row);
        }
        Ok(state)
    }

    fn index(&mut self, row: &StudentCourse) {
        let key = (row.student_id, row.course_id);
        self.by_course.entry(row.course_id).or_default().insert(key);
        self.by_enrollment
            .entry(row.enrollment_id)
            .or_default()
            .insert(key);
    }

    /// One event, as [`super::StudentDashboardProjection::apply`]'s SQL
    /// changes the rows (an update of missing rows changes nothing).
    fn fold(&mut self, id: Uuid, event: &DecodedEvent) -> Result<(), BatchError> {
        let at = event.envelope.occurred_at;
        match &event.event {
            LmsEvent::Course(course_event) => {
                let fact = match course_event {
                    CourseEvent::CourseCreated { title, .. }
                    | CourseEvent::CourseDetailsUpdated { title, .. } => Fact::Title(title),
                    CourseEvent::LessonAdded { .. } => Fact::Lesson,
                    _ => return Ok(()),
                };
                let course = self.courses.entry(id).or_insert_with(|| CourseFacts {
                    course_id: id,
                    course_title: String::new(),
                    lessons_total: 0,
                    updated_at: at,
                });
                match fact {
                    Fact::Title(title) => course.course_title = title.to_string(),
                    Fact::Lesson => {
                        course.lessons_total = plus_one(course.lessons_total, "lessons_total")?
                    }
                }
                course.updated_at = at;
                self.changed_courses.insert(id);
                let keys = self.by_course.get(&id).cloned().unwrap_or_default();
                for key in keys {
                    if let Some(row) = self.rows.get_mut(&key) {
                        match fact {
                            Fact::Title(title) => row.course_title = title.to_string(),
                            Fact::Lesson => {
                                row.lessons_total = plus_one(row.lessons_total, "lessons_total")?
                            }
                        }
                        row.updated_at = at;
                        self.changed_rows.insert(key);
                    }
                }
            }
            LmsEvent::Enrollment(EnrollmentEvent::StudentEnrolled {
                student_id,
                course_id,
                ..
            }) => {
                let key = (student_id.0, course_id.0);
                if let Some(row) = self.rows.get_mut(&key) {
                    let previous = row.enrollment_id;
                    row.enrollment_id = id;
                    row.status = "active".into();
                    row.lessons_completed = 0;
                    row.updated_at = at;
                    if let Some(keys) = self.by_enrollment.get_mut(&previous) {
                        keys.remove(&key);
                    }
                    self.by_enrollment.entry(id).or_default().insert(key);
                } else {
                    let facts = self.courses.get(&course_id.0);
                    let row = StudentCourse {
                        student_id: student_id.0,
                        course_id: course_id.0,
                        enrollment_id: id,
                        status: "active".into(),
                        lessons_completed: 0,
                        lessons_total: facts.map_or(0, |f| f.lessons_total),
                        course_title: facts.map(|f| f.course_title.clone()).unwrap_or_default(),
                        updated_at: at,
                        tenant_id: event.envelope.tenant_id.clone(),
                    };
                    self.index(&row);
                    self.rows.insert(key, row);
                }
                self.changed_rows.insert(key);
            }
            LmsEvent::Enrollment(enrollment_event) => {
                let keys = self.by_enrollment.get(&id).cloned().unwrap_or_default();
                for key in keys {
                    let Some(row) = self.rows.get_mut(&key) else {
                        continue;
                    };
                    match enrollment_event {
                        EnrollmentEvent::LessonCompleted { .. } => {
                            row.lessons_completed =
                                plus_one(row.lessons_completed, "lessons_completed")?
                        }
                        EnrollmentEvent::CourseCompleted => row.status = "completed".into(),
                        EnrollmentEvent::EnrollmentWithdrawn { .. } => {
                            row.status = "withdrawn".into()
                        }
                        EnrollmentEvent::StudentEnrolled { .. } => continue,
                    }
                    row.updated_at = at;
                    self.changed_rows.insert(key);
                }
            }
            LmsEvent::Subscription(_) | LmsEvent::User(_) => {}
        }
        Ok(())
    }

    async fn store(&self, tx: &mut PgConnection, schema: &str) -> Result<(), sqlx::Error> {
        let courses: Vec<&CourseFacts> = self
            .changed_courses
            .iter()
            .filter_map(|id| self.courses.get(id))
            .collect();
        if !courses.is_empty() {
            sqlx::query(&format!(
                "INSERT INTO {schema}.courses AS c (course_id, course_title, lessons_total, updated_at)
                 SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::int[], $4::timestamptz[])
                 ON CONFLICT (course_id) DO UPDATE
                    SET course_title = EXCLUDED.course_title,
                        lessons_total = EXCLUDED.lessons_total, updated_at = EXCLUDED.updated_at"
            ))
            .bind(courses.iter().map(|c| c.course_id).collect::<Vec<_>>())
            .bind(courses.iter().map(|c| c.course_title.as_str()).collect::<Vec<_>>())
            .bind(courses.iter().map(|c| c.lessons_total).collect::<Vec<_>>())
            .bind(courses.iter().map(|c| c.updated_at).collect::<Vec<_>>())
            .execute(&mut *tx)
            .await?;
        }
        let rows: Vec<&StudentCourse> = self
            .changed_rows
            .iter()
            .filter_map(|key| self.rows.get(key))
            .collect();
        if !rows.is_empty() {
            sqlx::query(&format!(
                "INSERT INTO {schema}.student_courses AS s (student_id, course_id, enrollment_id,
                        status, lessons_completed, lessons_total, course_title, updated_at,
                        tenant_id)
                 SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::int[],
                                      $6::int[], $7::text[], $8::timestamptz[], $9::text[])
                 ON CONFLICT (student_id, course_id) DO UPDATE
                    SET enrollment_id = EXCLUDED.enrollment_id, status = EXCLUDED.status,
                        lessons_completed = EXCLUDED.lessons_completed,
                        lessons_total = EXCLUDED.lessons_total,
                        course_title = EXCLUDED.course_title, updated_at = EXCLUDED.updated_at"
            ))
            .bind(rows.iter().map(|r| r.student_id).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.course_id).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.enrollment_id).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.status.as_str()).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.lessons_completed).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.lessons_total).collect::<Vec<_>>())
            .bind(
                rows.iter()
                    .map(|r| r.course_title.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(rows.iter().map(|r| r.updated_at).collect::<Vec<_>>())
            .bind(
                rows.iter()
                    .map(|r| r.tenant_id.as_str())
                    .collect::<Vec<_>>(),
            )
            .execute(&mut *tx)
            .await?;
        }
        Ok(())
    }
}
