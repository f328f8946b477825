//! `course-catalog`: course events → `catalog.courses` / `catalog.modules` /
//! `catalog.lessons`,
//! and the Redis course card `<prefix>:course:<id>` plus the tenant's
//! `<prefix>:courses:published:<tenant>` sorted set (score = created_at micros).
//! A rebuild's batch goes set-based ([`batch`]).

mod batch;

use crate::projection::{ApplyError, BatchError, Projection};
use crate::redis_effects::{BatchEffects, RedisEffects};
use chrono::{DateTime, SecondsFormat, Utc};
use lms_domain::course::{Access, CourseEvent};
use lms_schemas::{DecodedEvent, Envelope, LmsEvent};
use sqlx::PgConnection;
use uuid::Uuid;

pub struct CourseCatalogProjection;

/// (access_kind, price_cents, plan) as the table stores them.
fn access_columns(access: &Access) -> (&'static str, Option<i64>, Option<&'static str>) {
    match access {
        Access::Free => ("free", None, None),
        Access::Paid { price_cents } => ("paid", Some(*price_cents as i64), None),
        Access::Plan { plan } => ("plan", None, Some(plan.code())),
    }
}

impl Projection for CourseCatalogProjection {
    fn name(&self) -> &'static str {
        crate::workers::ProjectionId::CourseCatalog.as_str()
    }

    fn schema(&self) -> &'static str {
        "catalog"
    }

    fn topics(&self) -> &'static [&'static str] {
        &["lms.course.v1"]
    }

    fn warm_marker(&self) -> Option<&'static str> {
        Some(lms_readmodels::catalog::WARM_MARKER)
    }

    async fn apply(
        &self,
        tx: &mut PgConnection,
        schema: &str,
        event: &DecodedEvent,
        redis: &mut RedisEffects,
    ) -> Result<(), ApplyError> {
        let LmsEvent::Course(course_event) = &event.event else {
            return Ok(());
        };
        let course_id = Uuid::parse_str(&event.envelope.aggregate_id)
            .map_err(|e| ApplyError::Rejected(format!("course id: {e}")))?;
        apply_to_tables(tx, schema, course_id, &event.envelope, course_event).await?;
        card(tx, schema, course_id, redis).await
    }

    /// The batch's Redis effects are each course's whole card and its place
    /// in the published set.
    fn live_batches(&self) -> bool {
        true
    }

    async fn apply_batch(
        &self,
        tx: &mut PgConnection,
        schema: &str,
        events: &[DecodedEvent],
        effects: &mut BatchEffects,
    ) -> Result<(), BatchError> {
        batch::apply(tx, schema, events, effects).await
    }
}

async fn apply_to_tables(
    tx: &mut PgConnection,
    schema: &str,
    course_id: Uuid,
    envelope: &Envelope,
    event: &CourseEvent,
) -> Result<(), ApplyError> {
    let at = envelope.occurred_at;
    let update = |set: &str| {
        format!("UPDATE {schema}.courses SET {set}, updated_at = $2 WHERE course_id = $1")
    };
    match event {
        CourseEvent::CourseCreated {
            title,
            description,
            instructors,
            capacity,
            access,
            language,
            ..
        } => {
            let (kind, price, plan) = access_columns(access);
            let instructors: Vec<Uuid> = instructors.iter().map(|i| i.0).collect();
            sqlx::query(&format!(
"INSERT INTO {schema}.courses (course_id, title, description, capacity, access_kind,
                     price_cents, plan, language, instructor_ids, created_at, updated_at, tenant_id)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $11)
                 ON CONFLICT (course_id) DO NOTHING"))
            .bind(course_id)
            .bind(title)
            .bind(description)
            .bind(*capacity as i32)
            .bind(kind)
            .bind(price)
            .bind(plan)
            .bind(language)
            .bind(&instructors)
            .bind(at)
            .bind(&envelope.tenant_id)
            .execute(&mut *tx)
            .await?;
        }
        CourseEvent::CourseDetailsUpdated {
            title,
            description,
            access,
        } => {
            let (kind, price, plan) = access_columns(access);
            sqlx::query(&update(
                "title = $3, description = $4, access_kind = $5, price_cents = $6, plan = $7",
            ))
            .bind(course_id)
            .bind(at)
            .bind(title)
            .bind(description)
            .bind(kind)
            .bind(price)
            .bind(plan)
            .execute(&mut *tx)
            .await?;
        }
        CourseEvent::ModuleAdded { module_id, title } => {
            sqlx::query(&format!(
                "INSERT INTO {schema}.modules (module_id, course_id, title, position, created_at)
                 SELECT $1, $2, $3, (SELECT count(*)::int FROM {schema}.modules WHERE course_id = $2), $4
                 ON CONFLICT (module_id) DO NOTHING"
            ))
            .bind(module_id.0)
            .bind(course_id)
            .bind(title)
            .bind(at)
            .execute(&mut *tx)
            .await?;
            sqlx::query(&update("module_count = module_count + 1"))
                .bind(course_id)
                .bind(at)
                .execute(&mut *tx)
                .await?;
        }
        CourseEvent::LessonAdded {
            module_id,
            lesson_id,
            title,
        } => {
            sqlx::query(&format!(
                "INSERT INTO {schema}.lessons (lesson_id, course_id, module_id, module_title, title, position)
                 SELECT $1, $2, $3,
                        COALESCE((SELECT title FROM {schema}.modules WHERE module_id = $3), ''),
                        $4,
                        (SELECT count(*)::int FROM {schema}.lessons WHERE module_id = $3)
                 ON CONFLICT (lesson_id) DO NOTHING"
            ))
            .bind(lesson_id.0)
            .bind(course_id)
            .bind(module_id.0)
            .bind(title)
            .execute(&mut *tx)
            .await?;
            sqlx::query(&update("lesson_count = lesson_count + 1"))
                .bind(course_id)
                .bind(at)
                .execute(&mut *tx)
                .await?;
        }
        CourseEvent::CapacityChanged { capacity } => {
            sqlx::query(&update("capacity = $3"))
                .bind(course_id)
                .bind(at)
                .bind(*capacity as i32)
                .execute(&mut *tx)
                .await?;
        }
        CourseEvent::CoursePublished => {
            sqlx::query(&update("status = 'published'"))
                .bind(course_id)
                .bind(at)
                .execute(&mut *tx)
                .await?;
        }
        CourseEvent::CourseArchived => {
            sqlx::query(&update("status = 'archived'"))
                .bind(course_id)
                .bind(at)
                .execute(&mut *tx)
                .await?;
        }
        CourseEvent::SeatReserved { .. } => {
            sqlx::query(&update("seats_taken = seats_taken + 1"))
                .bind(course_id)
                .bind(at)
                .execute(&mut *tx)
                .await?;
        }
        CourseEvent::SeatReleased { .. } => {
            sqlx::query(&update("seats_taken = GREATEST(seats_taken - 1, 0)"))
                .bind(course_id)
                .bind(at)
                .execute(&mut *tx)
                .await?;
        }
    }
    Ok(())
}

/// The whole card from the row just written (absolute values: replaying it
/// is harmless), complete as lms-query expects it (docs/read-models.md).
async fn card(
    tx: &mut PgConnection,
    schema: &str,
    course_id: Uuid,
    redis: &mut RedisEffects,
) -> Result<(), ApplyError> {
    let row: Option<CourseRow> = sqlx::query_as(&format!(
        "SELECT {COURSE_COLUMNS} FROM {schema}.courses WHERE course_id = $1"
    ))
    .bind(course_id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = row else {
        return Err(ApplyError::Rejected(format!(
            "course {course_id} is not in the catalog (CourseCreated missing?)"
        )));
    };
    push_card(&row, redis);
    Ok(())
}

/// The card's commands for `row`: every field set (those without a value
/// deleted), so the last card of a course is its whole state.
fn push_card(row: &CourseRow, redis: &mut RedisEffects) {
    let id = row.course_id.to_string();
    let key = redis.key(&format!("course:{id}"));
    let published = redis.key(&format!("courses:published:{}", row.tenant_id));
    let time = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Micros, true);
    let mut fields = vec![
        ("title", row.title.clone()),
        ("description", row.description.clone()),
        ("status", row.status.clone()),
        ("capacity", row.capacity.to_string()),
        ("seats_taken", row.seats_taken.to_string()),
        ("access", row.access_kind.clone()),
        ("language", row.language.clone()),
        ("instructor_ids", row.instructor_ids.clone()),
        ("module_count", row.module_count.to_string()),
        ("lesson_count", row.lesson_count.to_string()),
        ("created_at", time(row.created_at)),
        ("updated_at", time(row.updated_at)),
        ("tenant", row.tenant_id.clone()),
    ];
    let mut absent = Vec::new();
    match row.price_cents {
        Some(price) => fields.push(("price_cents", price.to_string())),
        None => absent.push("price_cents"),
    }
    match &row.plan {
        Some(plan) => fields.push(("plan", plan.clone())),
        None => absent.push("plan"),
    }
    redis.hset(&key, &fields);
    if !absent.is_empty() {
        redis.hdel(&key, &absent);
    }
    if row.status == "published" {
        redis.zadd(&published, row.created_at.timestamp_micros(), &id);
    } else {
        redis.zrem(&published, &id);
    }
}

/// The columns of [`CourseRow`], instructors as the card shows them.
const COURSE_COLUMNS: &str = "course_id, title, description, status, capacity, seats_taken,
    access_kind, price_cents, plan, language,
    array_to_string(instructor_ids, ',') AS instructor_ids, module_count, lesson_count,
    created_at, updated_at, tenant_id";

/// A row of `<schema>.courses` (instructor ids comma-separated).
#[derive(Debug, Clone, sqlx::FromRow)]
struct CourseRow {
    course_id: Uuid,
    title: String,
    description: String,
    status: String,
    capacity: i32,
    seats_taken: i32,
    access_kind: String,
    price_cents: Option<i64>,
    plan: Option<String>,
    language: String,
    instructor_ids: String,
    module_count: i32,
    lesson_count: i32,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    tenant_id: String,
}
