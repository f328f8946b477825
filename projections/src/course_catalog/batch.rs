//! course-catalog's set-based rebuild batch: the courses, modules and lesson
//! counts the batch touches are loaded once, every event is folded into them
//! in memory as [`super::CourseCatalogProjection`]'s per-event SQL would
//! change them, then the changed courses go in with one UNNEST upsert, the
//! new modules and lessons with one UNNEST insert each, and each course gets
//! one card (its last: a card sets every field) at its last sequence.

use super::{access_columns, push_card, CourseRow, COURSE_COLUMNS};
use crate::projection::{ApplyError, BatchError};
use crate::redis_effects::BatchEffects;
use chrono::{DateTime, Utc};
use lms_domain::course::CourseEvent;
use lms_schemas::{DecodedEvent, Envelope, LmsEvent};
use sqlx::PgConnection;
use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet};
use uuid::Uuid;

fn rejected(message: String) -> BatchError {
    BatchError::batch(ApplyError::Rejected(message))
}

/// A u32 as the per-event SQL binds it (`as i32`), refused where the
/// table's CHECK would refuse it.
fn non_negative_i32(value: u32, what: &str) -> Result<i32, BatchError> {
    i32::try_from(value).map_err(|_| rejected(format!("{what} {value} is out of range")))
}

fn plus_one(value: i32, what: &str) -> Result<i32, BatchError> {
    value
        .checked_add(1)
        .ok_or_else(|| rejected(format!("{what} overflows")))
}

struct ModuleRow {
    module_id: Uuid,
    course_id: Uuid,
    title: String,
    position: i32,
    created_at: DateTime<Utc>,
}

struct LessonRow {
    lesson_id: Uuid,
    course_id: Uuid,
    module_id: Uuid,
    module_title: String,
    title: String,
    position: i32,
}

/// What the batch can change, as loaded before it and folded since.
#[derive(Default)]
struct State {
    courses: BTreeMap<Uuid, CourseRow>,
    /// Modules that exist (stored or added by the batch): id → title.
    module_titles: BTreeMap<Uuid, String>,
    modules_per_course: BTreeMap<Uuid, i32>,
    lesson_ids: BTreeSet<Uuid>,
    lessons_per_module: BTreeMap<Uuid, i32>,
    new_modules: Vec<ModuleRow>,
    new_lessons: Vec<LessonRow>,
}

pub(super) async fn apply(
    tx: &mut PgConnection,
    schema: &str,
    events: &[DecodedEvent],
    effects: &mut BatchEffects,
) -> Result<(), BatchError> {
    let mut batch = Vec::with_capacity(events.len());
    // Per course, the envelope's aggregate and the last sequence (the card's guard).
    let mut touched: BTreeMap<Uuid, (&str, &str, i64)> = BTreeMap::new();
    let (mut module_ids, mut module_courses) = (BTreeSet::new(), BTreeSet::new());
    let (mut lesson_ids, mut lesson_modules) = (BTreeSet::new(), BTreeSet::new());
    for event in events {
        let LmsEvent::Course(course_event) = &event.event else {
            continue;
        };
        let envelope = &event.envelope;
        let course_id = Uuid::parse_str(&envelope.aggregate_id)
            .map_err(|e| rejected(format!("course id: {e}")))?;
        match course_event {
            CourseEvent::ModuleAdded { module_id, .. } => {
                module_ids.insert(module_id.0);
                module_courses.insert(course_id);
            }
            CourseEvent::LessonAdded {
                module_id,
                lesson_id,
                ..
            } => {
                module_ids.insert(module_id.0);
                lesson_ids.insert(lesson_id.0);
                lesson_modules.insert(module_id.0);
            }
            _ => {}
        }
        touched.insert(
            course_id,
            (
                &envelope.aggregate_type,
                &envelope.aggregate_id,
                envelope.sequence,
            ),
        );
        batch.push((course_id, envelope, course_event));
    }
    if batch.is_empty() {
        return Ok(());
    }
    let course_ids: Vec<Uuid> = touched.keys().copied().collect();
    let mut state = State::load(
        tx,
        schema,
        &course_ids,
        &module_ids.into_iter().collect::<Vec<_>>(),
        &module_courses.into_iter().collect::<Vec<_>>(),
        &lesson_ids.into_iter().collect::<Vec<_>>(),
        &lesson_modules.into_iter().collect::<Vec<_>>(),
    )
    .await
    .map_err(BatchError::batch)?;
    for (course_id, envelope, event) in batch {
        state.fold(course_id, envelope, event)?;
    }
    state.store(tx, schema).await.map_err(BatchError::batch)?;
    for (course_id, (aggregate_type, aggregate_id, sequence)) in touched {
        let row = state
            .courses
            .get(&course_id)
            .ok_or_else(|| rejected(format!("course {course_id} is not in the catalog")))?;
        let mut card = effects.effects();
        push_card(row, &mut card);
        effects.push(aggregate_type, aggregate_id, sequence, card);
    }
    Ok(())
}

impl State {
    async fn load(
        tx: &mut PgConnection,
        schema: &str,
        course_ids: &[Uuid],
        module_ids: &[Uuid],
        module_courses: &[Uuid],
        lesson_ids: &[Uuid],
        lesson_modules: &[Uuid],
    ) -> Result<State, sqlx::Error> {
        let mut state = State::default();
        let courses: Vec<CourseRow> = sqlx::query_as(&format!(
            "SELECT {COURSE_COLUMNS} FROM {schema}.courses WHERE course_id = ANY($1)"
        ))
        .bind(course_ids)
        .fetch_all(&mut *tx)
        .await?;
        state.courses = courses.into_iter().map(|c| (c.course_id, c)).collect();
        if !module_ids.is_empty() {
            let titles: Vec<(Uuid, String)> = sqlx::query_as(&format!(
                "SELECT module_id, title FROM {schema}.modules WHERE module_id = ANY($1)"
            ))
            .bind(module_ids)
            .fetch_all(&mut *tx)
            .await?;
            state.module_titles = titles.into_iter().collect();
        }
        if !module_courses.is_empty() {
            let counts: Vec<(Uuid, i32)> = sqlx::query_as(&format!(
                "SELECT course_id, count(*)::int FROM {schema}.modules
                  WHERE course_id = ANY($1) GROUP BY course_id"
            ))
            .bind(module_courses)
            .fetch_all(&mut *tx)
            .await?;
            state.modules_per_course = counts.into_iter().collect();
        }
        if !lesson_ids.is_empty() {
            let ids: Vec<Uuid> = sqlx::query_scalar(&format!(
                "SELECT lesson_id FROM {schema}.lessons WHERE lesson_id = ANY($1)"
            ))
            .bind(lesson_ids)
            .fetch_all(&mut *tx)
            .await?;
            state.lesson_ids = ids.into_iter().collect();
            let counts: Vec<(Uuid, i32)> = sqlx::query_as(&format!(
                "SELECT module_id, count(*)::int FROM {schema}.lessons
                  WHERE module_id = ANY($1) GROUP BY module_id"
            ))
            .bind(lesson_modules)
            .fetch_all(&mut *tx)
            .await?;
            state.lessons_per_module = counts.into_iter().collect();
        }
        Ok(state)
    }

    /// One event, as the per-event SQL changes the rows. Every course event
    /// there ends with the card read from the course row: an event of a
    /// course that is not there fails the batch.
    fn fold(
        &mut self,
        course_id: Uuid,
        envelope: &Envelope,
        event: &CourseEvent,
    ) -> Result<(), BatchError> {
        let at = envelope.occurred_at;
        if let CourseEvent::CourseCreated {
            title,
            description,
            instructors,
            capacity,
            access,
            language,
            ..
        } = event
        {
            // ON CONFLICT DO NOTHING: a repeated CourseCreated changes nothing.
            if let Entry::Vacant(vacant) = self.courses.entry(course_id) {
                let (kind, price, plan) = access_columns(access);
                let row = CourseRow {
                    course_id,
                    title: title.clone(),
                    description: description.clone(),
                    status: "draft".into(),
                    capacity: non_negative_i32(*capacity, "capacity")?,
                    seats_taken: 0,
                    access_kind: kind.into(),
                    price_cents: price_cents(price)?,
                    plan: plan.map(String::from),
                    language: language.clone(),
                    instructor_ids: instructors
                        .iter()
                        .map(|i| i.0.to_string())
                        .collect::<Vec<_>>()
                        .join(","),
                    module_count: 0,
                    lesson_count: 0,
                    created_at: at,
                    updated_at: at,
                    tenant_id: envelope.tenant_id.clone(),
                };
                vacant.insert(row);
            }
            return Ok(());
        }
        let Some(row) = self.courses.get_mut(&course_id) else {
            return Err(rejected(format!(
                "course {course_id} is not in the catalog (CourseCreated missing?)"
            )));
        };
        match event {
            CourseEvent::CourseCreated { .. } => {}
            CourseEvent::CourseDetailsUpdated {
                title,
                description,
                access,
            } => {
                let (kind, price, plan) = access_columns(access);
                row.title = title.clone();
                row.description = description.clone();
                row.access_kind = kind.into();
                row.price_cents = price_cents(price)?;
                row.plan = plan.map(String::from);
            }
            CourseEvent::ModuleAdded { module_id, title } => {
                if !self.module_titles.contains_key(&module_id.0) {
                    let count = self.modules_per_course.entry(course_id).or_insert(0);
                    self.new_modules.push(ModuleRow {
                        module_id: module_id.0,
                        course_id,
                        title: title.clone(),
                        position: *count,
                        created_at: at,
                    });
                    *count = plus_one(*count, "module position")?;
                    self.module_titles.insert(module_id.0, title.clone());
                }
                row.module_count = plus_one(row.module_count, "module_count")?;
            }
            CourseEvent::LessonAdded {
                module_id,
                lesson_id,
                title,
            } => {
                if self.lesson_ids.insert(lesson_id.0) {
                    let count = self.lessons_per_module.entry(module_id.0).or_insert(0);
                    self.new_lessons.push(LessonRow {
                        lesson_id: lesson_id.0,
                        course_id,
                        module_id: module_id.0,
                        module_title: self
                            .module_titles
                            .get(&module_id.0)
                            .cloned()
                            .unwrap_or_default(),
                        title: title.clone(),
                        position: *count,
                    });
                    *count = plus_one(*count, "lesson position")?;
                }
                row.lesson_count = plus_one(row.lesson_count, "lesson_count")?;
            }
            CourseEvent::CapacityChanged { capacity } => {
                row.capacity = non_negative_i32(*capacity, "capacity")?;
            }
            CourseEvent::CoursePublished => row.status = "published".into(),
            CourseEvent::CourseArchived => row.status = "archived".into(),
            CourseEvent::SeatReserved { .. } => {
                row.seats_taken = plus_one(row.seats_taken, "seats_taken")?;
            }
            CourseEvent::SeatReleased { .. } => {
                row.seats_taken = (row.seats_taken - 1).max(0);
            }
        }
        row.updated_at = at;
        Ok(())
    }

    async fn store(&self, tx: &mut PgConnection, schema: &str) -> Result<(), sqlx::Error> {
        let rows: Vec<&CourseRow> = self.courses.values().collect();
        sqlx::query(&format!(
            "INSERT INTO {schema}.courses AS c (course_id, title, description, status, capacity,
                    seats_taken, access_kind, price_cents, plan, language, instructor_ids,
                    module_count, lesson_count, created_at, updated_at, tenant_id)
             SELECT u.course_id, u.title, u.description, u.status, u.capacity, u.seats_taken,
                    u.access_kind, u.price_cents, u.plan, u.language,
                    string_to_array(u.instructor_ids, ',')::uuid[],
                    u.module_count, u.lesson_count, u.created_at, u.updated_at, u.tenant_id
               FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[], $5::int[], $6::int[],
                           $7::text[], $8::bigint[], $9::text[], $10::text[], $11::text[],
                           $12::int[], $13::int[], $14::timestamptz[], $15::timestamptz[],
                           $16::text[])
                 AS u(course_id, title, description, status, capacity, seats_taken, access_kind,
                      price_cents, plan, language, instructor_ids, module_count, lesson_count,
                      created_at, updated_at, tenant_id)
             ON CONFLICT (course_id) DO UPDATE
                SET title = EXCLUDED.title, description = EXCLUDED.description,
                    status = EXCLUDED.status, capacity = EXCLUDED.capacity,
                    seats_taken = EXCLUDED.seats_taken, access_kind = EXCLUDED.access_kind,
                    price_cents = EXCLUDED.price_cents, plan = EXCLUDED.plan,
                    module_count = EXCLUDED.module_count, lesson_count = EXCLUDED.lesson_count,
                    updated_at = EXCLUDED.updated_at"
        ))
        .bind(rows.iter().map(|r| r.course_id).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.title.as_str()).collect::<Vec<_>>())
        .bind(
            rows.iter()
                .map(|r| r.description.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(rows.iter().map(|r| r.status.as_str()).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.capacity).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.seats_taken).collect::<Vec<_>>())
        .bind(
            rows.iter()
                .map(|r| r.access_kind.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(rows.iter().map(|r| r.price_cents).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.plan.as_deref()).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.language.as_str()).collect::<Vec<_>>())
        .bind(
            rows.iter()
                .map(|r| r.instructor_ids.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(rows.iter().map(|r| r.module_count).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.lesson_count).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.created_at).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.updated_at).collect::<Vec<_>>())
        .bind(
            rows.iter()
                .map(|r| r.tenant_id.as_str())
                .collect::<Vec<_>>(),
        )
        .execute(&mut *tx)
        .await?;
        if !self.new_modules.is_empty() {
            let rows = &self.new_modules;
            sqlx::query(&format!(
                "INSERT INTO {schema}.modules (module_id, course_id, title, position, created_at)
                 SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::text[], $4::int[], $5::timestamptz[])"
            ))
            .bind(rows.iter().map(|r| r.module_id).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.course_id).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.title.as_str()).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.position).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.created_at).collect::<Vec<_>>())
            .execute(&mut *tx)
            .await?;
        }
        if !self.new_lessons.is_empty() {
            let rows = &self.new_lessons;
            sqlx::query(&format!(
                "INSERT INTO {schema}.lessons (lesson_id, course_id, module_id, module_title, title, position)
                 SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::int[])"
            ))
            .bind(rows.iter().map(|r| r.lesson_id).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.course_id).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.module_id).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.module_title.as_str()).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.title.as_str()).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.position).collect::<Vec<_>>())
            .execute(&mut *tx)
            .await?;
        }
        Ok(())
    }
}

fn price_cents(price: Option<i64>) -> Result<Option<i64>, BatchError> {
    match price {
        Some(p) if p < 0 => Err(rejected(format!("price_cents {p} is out of range"))),
        other => Ok(other),
    }
}
