//! The catalog's Redis side (warm path), written by the `course-catalog`
//! projection and only read here:
//! - `<prefix>:course:<id>` hash = the course card (fields in [`CARD_FIELDS`]);
//!   GetCourse serves a card only when it has every field, else Postgres.
//! - `<prefix>:courses:published` sorted set of course ids, score =
//!   created_at in microseconds; trusted only while `<prefix>:catalog:warm`
//!   exists (the projection sets it once it has caught up, and a rebuild
//!   deletes it first).

use crate::catalog::CourseRow;
use chrono::{DateTime, Utc};
use redis::aio::ConnectionManager;
use std::collections::HashMap;
use uuid::Uuid;

/// Every field of a complete card. `price_cents` is required when `access` is
/// `paid`, `plan` when it is `plan`; `instructor_ids` is comma-separated,
/// timestamps are RFC 3339.
pub const CARD_FIELDS: &[&str] = &[
    "title",
    "description",
    "status",
    "capacity",
    "seats_taken",
    "access",
    "language",
    "instructor_ids",
    "module_count",
    "lesson_count",
    "created_at",
    "updated_at",
];

#[derive(Clone)]
pub struct CourseCache {
    redis: ConnectionManager,
    prefix: String,
}

/// One page of the published-courses index: (course_id, created_at micros).
pub type IndexPage = Vec<(Uuid, i64)>;

impl CourseCache {
    pub fn new(redis: ConnectionManager, prefix: impl Into<String>) -> Self {
        Self {
            redis,
            prefix: prefix.into(),
        }
    }

    pub fn card_key(&self, course_id: Uuid) -> String {
        format!("{}:course:{course_id}", self.prefix)
    }

    pub fn published_key(&self) -> String {
        format!("{}:courses:published", self.prefix)
    }

    pub fn warm_key(&self) -> String {
        format!("{}:catalog:warm", self.prefix)
    }

    /// The course's card, `None` when absent or incomplete.
    pub async fn card(&self, course_id: Uuid) -> Result<Option<CourseRow>, redis::RedisError> {
        let mut redis = self.redis.clone();
        let fields: HashMap<String, String> = redis::cmd("HGETALL")
            .arg(self.card_key(course_id))
            .query_async(&mut redis)
            .await?;
        Ok(parse_card(course_id, &fields))
    }

    /// Cards of several courses in one round trip, `None` if any is missing.
    pub async fn cards(&self, ids: &[Uuid]) -> Result<Option<Vec<CourseRow>>, redis::RedisError> {
        if ids.is_empty() {
            return Ok(Some(Vec::new()));
        }
        let mut pipe = redis::pipe();
        for id in ids {
            pipe.cmd("HGETALL").arg(self.card_key(*id));
        }
        let mut redis = self.redis.clone();
        let all: Vec<HashMap<String, String>> = pipe.query_async(&mut redis).await?;
        Ok(ids
            .iter()
            .zip(all.iter())
            .map(|(id, fields)| parse_card(*id, fields))
            .collect())
    }

    pub async fn is_warm(&self) -> Result<bool, redis::RedisError> {
        let mut redis = self.redis.clone();
        redis::cmd("EXISTS")
            .arg(self.warm_key())
            .query_async(&mut redis)
            .await
    }

    /// Up to `limit` published courses, newest first (ties: higher id first,
    /// as in Postgres), strictly after `after` = (micros, id).
    pub async fn published(
        &self,
        after: Option<(i64, Uuid)>,
        limit: usize,
    ) -> Result<IndexPage, redis::RedisError> {
        let max = after.map_or_else(|| "+inf".to_string(), |(micros, _)| micros.to_string());
        let chunk = limit.max(1) + 1;
        let mut redis = self.redis.clone();
        let mut page = Vec::new();
        let mut offset = 0;
        loop {
            let entries: Vec<(String, f64)> = redis::cmd("ZREVRANGEBYSCORE")
                .arg(self.published_key())
                .arg(&max)
                .arg("-inf")
                .arg("WITHSCORES")
                .arg("LIMIT")
                .arg(offset)
                .arg(chunk)
                .query_async(&mut redis)
                .await?;
            let exhausted = entries.len() < chunk;
            offset += entries.len();
            for (member, score) in entries {
                let Ok(id) = Uuid::parse_str(&member) else {
                    tracing::warn!(%member, "not a course id in the published index; skipped");
                    continue;
                };
                // Scores are micros (< 2^53), so exact in an f64.
                let micros = score as i64;
                // Same score as the cursor: only ids sorting after it.
                if matches!(after, Some((m, last)) if m == micros && id >= last) {
                    continue;
                }
                page.push((id, micros));
                if page.len() == limit {
                    return Ok(page);
                }
            }
            if exhausted {
                return Ok(page);
            }
        }
    }
}

fn parse_card(course_id: Uuid, fields: &HashMap<String, String>) -> Option<CourseRow> {
    if fields.is_empty() {
        return None;
    }
    let text = |name: &str| fields.get(name).cloned();
    let int = |name: &str| fields.get(name)?.parse::<i32>().ok();
    let time = |name: &str| {
        DateTime::parse_from_rfc3339(fields.get(name)?)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    };
    let access_kind = text("access")?;
    let (price_cents, plan) = match access_kind.as_str() {
        "free" => (None, None),
        "paid" => (Some(fields.get("price_cents")?.parse::<i64>().ok()?), None),
        "plan" => (None, Some(text("plan")?)),
        _ => return None,
    };
    let instructor_ids = match fields.get("instructor_ids")?.as_str() {
        "" => Vec::new(),
        ids => ids
            .split(',')
            .map(|id| Uuid::parse_str(id.trim()).ok())
            .collect::<Option<Vec<_>>>()?,
    };
    let card = CourseRow {
        course_id,
        title: text("title")?,
        description: text("description")?,
        status: text("status")?,
        capacity: int("capacity")?,
        seats_taken: int("seats_taken")?,
        access_kind,
        price_cents,
        plan,
        language: text("language")?,
        instructor_ids,
        module_count: int("module_count")?,
        lesson_count: int("lesson_count")?,
        created_at: time("created_at")?,
        updated_at: time("updated_at")?,
    };
    Some(card)
}
