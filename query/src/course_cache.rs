//! The catalog's Redis side (warm path), written by the `course-catalog`
//! projection and only read here:
//! - `<prefix>:course:<id>` hash = the course card (fields in [`CARD_FIELDS`],
//!   its tenant among them); GetCourse serves a card only when it has every
//!   field, else Postgres.
//! - `<prefix>:courses:published:<tenant>` sorted set of the tenant's course
//!   ids, score = created_at in microseconds; trusted only while the warm
//!   marker ([`WARM_MARKER`]) exists (the projection sets it once it has
//!   caught up, and a rebuild deletes it first).

use chrono::{DateTime, Utc};
use lms_readmodels::catalog::{CourseRow, WARM_MARKER};
use redis::aio::ConnectionManager;
use redis::Script;
use std::collections::HashMap;
use std::sync::OnceLock;
use uuid::Uuid;

/// One round trip for a listing page: nil unless warm, else the index
/// entries (member, score, …) followed by each entry's card (HGETALL).
/// The card keys are derived from the index, so they cannot be declared in
/// KEYS: fine on one Redis (or a primary with replicas), not on a cluster
/// unless the prefix is a hash tag.
const PUBLISHED_PAGE: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
local entries = redis.call('ZREVRANGEBYSCORE', KEYS[2], ARGV[1], '-inf', 'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[2]))
local out = {entries}
for i = 1, #entries, 2 do
  out[#out + 1] = redis.call('HGETALL', ARGV[3] .. entries[i])
end
return out
";

fn published_page_script() -> &'static Script {
    static SCRIPT: OnceLock<Script> = OnceLock::new();
    SCRIPT.get_or_init(|| Script::new(PUBLISHED_PAGE))
}

/// What [`CourseCache::published_page`] read.
pub enum PublishedPage {
    /// The page, and the cursor (micros, id) of its last course when more follow.
    Page {
        cards: Vec<CourseRow>,
        next: Option<(i64, Uuid)>,
    },
    /// Not warm, or a card missing or incomplete: Postgres answers.
    Cold,
    /// More entries tie with the cursor than were read (or the index holds
    /// a non-id): walk the index step by step.
    InSteps,
}

/// Extra index entries read with a page, for entries that tie with the
/// cursor's timestamp and are skipped.
const TIE_SLACK: usize = 8;

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
    "tenant",
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

    pub fn published_key(&self, tenant: &str) -> String {
        format!("{}:courses:published:{tenant}", self.prefix)
    }

    pub fn warm_key(&self) -> String {
        format!("{}:{WARM_MARKER}", self.prefix)
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

    /// Up to `limit` of `tenant`'s published courses after `after` with their
    /// cards, in one round trip (see [`PublishedPage`] for when it cannot answer).
    pub async fn published_page(
        &self,
        tenant: &str,
        after: Option<(i64, Uuid)>,
        limit: usize,
    ) -> Result<PublishedPage, redis::RedisError> {
        let max = after.map_or_else(|| "+inf".to_string(), |(micros, _)| micros.to_string());
        let want = limit.max(1) + 1 + TIE_SLACK;
        let mut redis = self.redis.clone();
        let reply: Option<Vec<redis::Value>> = published_page_script()
            .key(self.warm_key())
            .key(self.published_key(tenant))
            .arg(&max)
            .arg(want)
            .arg(format!("{}:course:", self.prefix))
            .invoke_async(&mut redis)
            .await?;
        let Some(mut reply) = reply.filter(|r| !r.is_empty()) else {
            return Ok(PublishedPage::Cold);
        };
        let cards = reply.split_off(1);
        let entries: Vec<(String, f64)> = redis::from_redis_value(reply.remove(0))?;
        let exhausted = entries.len() < want;
        let mut page = Vec::with_capacity(limit);
        let mut last_micros = 0;
        let mut more = false;
        for ((member, score), card) in entries.into_iter().zip(cards) {
            let Ok(id) = Uuid::parse_str(&member) else {
                // The index walk skips and reports it.
                return Ok(PublishedPage::InSteps);
            };
            let micros = score as i64;
            if at_or_before(after, micros, id) {
                continue;
            }
            if page.len() == limit {
                more = true;
                break;
            }
            let fields: HashMap<String, String> = redis::from_redis_value(card)?;
            let Some(row) = parse_card(id, &fields).filter(|row| row.tenant_id == tenant) else {
                return Ok(PublishedPage::Cold);
            };
            page.push(row);
            last_micros = micros;
        }
        if !more && !exhausted {
            // Ties ate the slack: not enough read to know.
            return Ok(PublishedPage::InSteps);
        }
        let next = more
            .then(|| page.last().map(|row| (last_micros, row.course_id)))
            .flatten();
        Ok(PublishedPage::Page { cards: page, next })
    }

    /// Up to `limit` of `tenant`'s published courses, newest first (ties:
    /// higher id first, as in Postgres), strictly after `after` = (micros, id).
    pub async fn published(
        &self,
        tenant: &str,
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
                .arg(self.published_key(tenant))
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
                if at_or_before(after, micros, id) {
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

/// An index entry at or before the cursor (newest first): same score as the
/// cursor and an id that does not sort after it.
fn at_or_before(after: Option<(i64, Uuid)>, micros: i64, id: Uuid) -> bool {
    matches!(after, Some((m, last)) if m == micros && id >= last)
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
        tenant_id: text("tenant")?,
    };
    Some(card)
}
