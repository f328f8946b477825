//! `course-catalog`: course events → `catalog.courses` / `catalog.lessons`,
//! and the Redis course card `<prefix>:course:<id>` plus the
//! `<prefix>:courses:published` sorted set (score = created_at micros).

use crate::projection::{ApplyError, Projection};
use crate::redis_effects::RedisEffects;
use chrono::{DateTime, Utc};
use lms_domain::course::{Access, CourseEvent};
use lms_schemas::{DecodedEvent, LmsEvent};
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
        "course-catalog"
    }

    fn schema(&self) -> &'static str {
        "catalog"
    }

    fn topics(&self) -> &'static [&'static str] {
        &["lms.course.v1"]
    }

    async fn apply(
        &self,
        tx: &mut PgConnection,
        event: &DecodedEvent,
        redis: &mut RedisEffects,
    ) -> Result<(), ApplyError> {
        let LmsEvent::Course(course_event) = &event.event else {
            return Ok(());
        };
        let course_id = Uuid::parse_str(&event.envelope.aggregate_id)
            .map_err(|e| ApplyError::Rejected(format!("course id: {e}")))?;
        let at = event.envelope.occurred_at;
        apply_to_tables(tx, course_id, at, course_event).await?;
        card(tx, course_id, redis).await
    }
}

async fn apply_to_tables(
    tx: &mut PgConnection,
    course_id: Uuid,
    at: DateTime<Utc>,
    event: &CourseEvent,
) -> Result<(), ApplyError> {
    let update = |set: &str| {
        format!("UPDATE catalog.courses SET {set}, updated_at = $2 WHERE course_id = $1")
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
            sqlx::query(
                "INSERT INTO catalog.courses (course_id, title, description, capacity, access_kind,
                     price_cents, plan, language, instructor_ids, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)
                 ON CONFLICT (course_id) DO NOTHING",
            )
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
        CourseEvent::ModuleAdded { .. } => {
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
            // The module's title is only known from earlier lessons of it
            // (the schema has no modules table).
            sqlx::query(
                "INSERT INTO catalog.lessons (lesson_id, course_id, module_id, module_title, title, position)
                 SELECT $1, $2, $3,
                        COALESCE((SELECT module_title FROM catalog.lessons
                                   WHERE module_id = $3 AND module_title <> '' LIMIT 1), ''),
                        $4,
                        (SELECT count(*)::int FROM catalog.lessons WHERE module_id = $3)
                 ON CONFLICT (lesson_id) DO NOTHING",
            )
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

/// The whole card from the row just written (absolute values: replaying it is harmless).
async fn card(
    tx: &mut PgConnection,
    course_id: Uuid,
    redis: &mut RedisEffects,
) -> Result<(), ApplyError> {
    type Row = (
        String,
        String,
        i32,
        i32,
        String,
        Option<i64>,
        Option<String>,
        String,
        DateTime<Utc>,
    );
    let row: Option<Row> = sqlx::query_as(
        "SELECT title, status, capacity, seats_taken, access_kind, price_cents, plan, language, created_at
           FROM catalog.courses WHERE course_id = $1",
    )
    .bind(course_id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((title, status, capacity, seats, access, price, plan, language, created)) = row else {
        return Err(ApplyError::Rejected(format!(
            "course {course_id} is not in the catalog (CourseCreated missing?)"
        )));
    };
    let id = course_id.to_string();
    let key = redis.key(&format!("course:{id}"));
    let published = redis.key("courses:published");
    redis.hset(
        &key,
        &[
            ("title", title),
            ("status", status.clone()),
            ("capacity", capacity.to_string()),
            ("seats_taken", seats.to_string()),
            ("access", access),
            (
                "price_cents",
                price.map(|p| p.to_string()).unwrap_or_default(),
            ),
            ("plan", plan.unwrap_or_default()),
            ("language", language),
        ],
    );
    if status == "published" {
        redis.zadd(&published, created.timestamp_micros(), &id);
    } else {
        redis.zrem(&published, &id);
    }
    Ok(())
}
