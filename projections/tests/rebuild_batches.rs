//! The rebuild's set-based batch handlers against the per-event path: a
//! varied, interleaved history written straight into a fresh event store
//! (no Kafka needed), applied once event by event through the live worker's
//! apply path (`Applier::apply_once`), then rebuilt in batches of several
//! sizes (3 splits most aggregates' events across batches); tables and Redis
//! keys must be equal, for all four projections.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{DateTime, Duration as Span, SecondsFormat, TimeZone, Utc};
use lms_domain::course::{Access, CourseEvent, Plan};
use lms_domain::enrollment::EnrollmentEvent;
use lms_domain::subscription::SubscriptionEvent;
use lms_domain::{CourseId, EnrollmentId, InvoiceId, LessonId, ModuleId, SubscriptionId, UserId};
use lms_projections::apply::Read;
use lms_projections::billing::BillingProjection;
use lms_projections::course_catalog::CourseCatalogProjection;
use lms_projections::rebuild::{self, Options, RebuildError, Target};
use lms_projections::roster::RosterProjection;
use lms_projections::student_dashboard::StudentDashboardProjection;
use lms_projections::{Applier, KafkaPosition, Projection};
use lms_testkit::TestDb;
use redis::aio::ConnectionManager;
use serde_json::{json, Value as Json};
use sqlx::PgPool;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

// ---------------------------------------------------------------- database

/// A test database with the event store and the read models.
struct Store(TestDb);

impl Store {
    async fn create() -> Store {
        let db = TestDb::event_store().await;
        lms_readmodels::migrate(&db.pool)
            .await
            .expect("read models");
        Store(db)
    }

    fn pool(&self) -> &PgPool {
        &self.0.pool
    }

    async fn drop(self) {
        self.0.drop_database().await;
    }

    /// Appends events in this order (positions follow it).
    async fn append(&self, events: &[Stored]) {
        for chunk in events.chunks(5_000) {
            let column = |f: fn(&Stored) -> String| chunk.iter().map(f).collect::<Vec<_>>();
            sqlx::query(
                "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type,
                                     event_version, payload, metadata, event_id)
                 SELECT t, i, s, e, v, p::json, m::json, id
                   FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[],
                               $6::text[], $7::text[], $8::uuid[]) AS u(t, i, s, e, v, p, m, id)",
            )
            .bind(column(|e| e.aggregate_type.to_string()))
            .bind(column(|e| e.aggregate_id.clone()))
            .bind(chunk.iter().map(|e| e.sequence).collect::<Vec<_>>())
            .bind(column(|e| e.event_type.clone()))
            .bind(column(|e| e.version.to_string()))
            .bind(column(|e| e.payload.to_string()))
            .bind(column(|e| e.metadata.to_string()))
            .bind(chunk.iter().map(|e| e.event_id).collect::<Vec<_>>())
            .execute(self.pool())
            .await
            .expect("append events");
        }
    }
}

async fn redis() -> ConnectionManager {
    lms_testkit::redis::connect().await
}

// ---------------------------------------------------------------- history

/// One row of the event store, before it is written.
struct Stored {
    aggregate_type: &'static str,
    aggregate_id: String,
    sequence: i64,
    event_type: String,
    version: &'static str,
    payload: Json,
    metadata: Json,
    event_id: Uuid,
}

/// xorshift: the same history on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    fn uuid(&mut self) -> Uuid {
        Uuid::from_u64_pair(self.next(), self.next())
    }
}

/// One aggregate's events, in sequence order, still to be interleaved.
struct Script {
    aggregate_type: &'static str,
    aggregate_id: String,
    events: Vec<(Json, &'static str)>,
}

impl Script {
    fn new(aggregate_type: &'static str, id: Uuid) -> Script {
        Script {
            aggregate_type,
            aggregate_id: id.to_string(),
            events: Vec::new(),
        }
    }
    fn push(&mut self, event: impl serde::Serialize) {
        self.events
            .push((serde_json::to_value(event).expect("event json"), "1"));
    }
    fn push_versioned(&mut self, payload: Json, version: &'static str) {
        self.events.push((payload, version));
    }
}

/// How big a history to write.
struct Size {
    courses: usize,
    enrollments: usize,
    subscriptions: usize,
    seat_events_per_course: usize,
}

fn history(size: &Size, seed: u64) -> Vec<Stored> {
    let mut rng = Rng(seed | 1);
    let mut scripts = Vec::new();
    let mut course_ids = Vec::new();
    for c in 0..size.courses {
        let id = rng.uuid();
        course_ids.push(id);
        let mut s = Script::new("Course", id);
        let access = match c % 3 {
            0 => Access::Free,
            1 => Access::Paid {
                price_cents: 1_000 + c as u64,
            },
            _ => Access::Plan { plan: Plan::Pro },
        };
        let created = CourseEvent::CourseCreated {
            course_id: CourseId(id),
            title: format!("Course {c}"),
            description: format!("about {c}"),
            instructors: (0..c % 3).map(|_| UserId(rng.uuid())).collect(),
            capacity: 50 + c as u32,
            access,
            language: if c % 4 == 0 { "de".into() } else { "en".into() },
        };
        let mut payload = serde_json::to_value(&created).expect("json");
        if c % 5 == 0 {
            // Stored before languages existed: the upcaster adds "en".
            payload["CourseCreated"]
                .as_object_mut()
                .expect("body")
                .remove("language");
            s.push_versioned(payload, "1");
        } else {
            s.push_versioned(payload, "2");
        }
        let mut modules = Vec::new();
        for m in 0..(1 + c % 3) {
            let module = ModuleId(rng.uuid());
            modules.push(module);
            s.push(CourseEvent::ModuleAdded {
                module_id: module,
                title: format!("Module {m}"),
            });
            for l in 0..(1 + (c + m) % 4) {
                s.push(CourseEvent::LessonAdded {
                    module_id: module,
                    lesson_id: LessonId(rng.uuid()),
                    title: format!("Lesson {m}.{l}"),
                });
            }
        }
        if c % 7 == 1 {
            // A repeated module id and lesson id: not inserted twice, counted twice.
            s.push(CourseEvent::ModuleAdded {
                module_id: modules[0],
                title: "again".into(),
            });
            let lesson = LessonId(rng.uuid());
            for _ in 0..2 {
                s.push(CourseEvent::LessonAdded {
                    module_id: modules[0],
                    lesson_id: lesson,
                    title: "twice".into(),
                });
            }
            // A lesson of a module nobody added: no module title.
            s.push(CourseEvent::LessonAdded {
                module_id: ModuleId(rng.uuid()),
                lesson_id: LessonId(rng.uuid()),
                title: "orphan".into(),
            });
        }
        if c % 4 != 3 {
            s.push(CourseEvent::CoursePublished);
        }
        for k in 0..size.seat_events_per_course {
            let student = UserId(rng.uuid());
            // More releases than seats at times: the counter stops at 0.
            if k % 5 == 3 || (c % 6 == 2 && k < 3) {
                s.push(CourseEvent::SeatReleased {
                    student_id: student,
                });
            } else {
                s.push(CourseEvent::SeatReserved {
                    student_id: student,
                });
            }
            if k % 17 == 5 {
                s.push(CourseEvent::CourseDetailsUpdated {
                    title: format!("Course {c} (rev {k})"),
                    description: "revised".into(),
                    access: if k % 2 == 0 {
                        Access::Free
                    } else {
                        Access::Plan { plan: Plan::Basic }
                    },
                });
            }
            if k % 23 == 7 {
                s.push(CourseEvent::CapacityChanged {
                    capacity: 100 + k as u32,
                });
            }
        }
        if c % 9 == 4 {
            s.push(CourseEvent::LessonAdded {
                module_id: modules[0],
                lesson_id: LessonId(rng.uuid()),
                title: "late lesson".into(),
            });
            s.push(CourseEvent::CourseDetailsUpdated {
                title: format!("Course {c} renamed"),
                description: "late".into(),
                access: Access::Paid { price_cents: 5 },
            });
        }
        if c % 8 == 6 {
            s.push(CourseEvent::CourseArchived);
        }
        if c % 11 == 3 {
            // A repeated CourseCreated changes nothing but still sends the card.
            s.push(CourseEvent::CourseCreated {
                course_id: CourseId(id),
                title: "ignored".into(),
                description: String::new(),
                instructors: Vec::new(),
                capacity: 1,
                access: Access::Free,
                language: "fr".into(),
            });
        }
        scripts.push(s);
    }
    // Courses only enrollments know (their own events never came).
    let ghosts: Vec<Uuid> = (0..2).map(|_| rng.uuid()).collect();
    for e in 0..size.enrollments {
        let course = if e % 50 == 7 {
            ghosts[e % 2]
        } else {
            course_ids[rng.below(course_ids.len())]
        };
        let student = if e % 13 == 0 && e > 0 {
            // The same student in several courses.
            UserId(Uuid::from_u64_pair(7, (e % 5) as u64))
        } else {
            UserId(rng.uuid())
        };
        let id = rng.uuid();
        let mut s = Script::new("Enrollment", id);
        s.push(EnrollmentEvent::StudentEnrolled {
            enrollment_id: EnrollmentId(id),
            student_id: student,
            course_id: CourseId(course),
        });
        for _ in 0..rng.below(6) {
            s.push(EnrollmentEvent::LessonCompleted {
                lesson_id: LessonId(rng.uuid()),
            });
        }
        match e % 6 {
            1 => s.push(EnrollmentEvent::CourseCompleted),
            2 | 4 => {
                s.push(EnrollmentEvent::EnrollmentWithdrawn {
                    reason: "busy".into(),
                });
                if e % 12 == 4 {
                    // Back again on the same aggregate.
                    s.push(EnrollmentEvent::StudentEnrolled {
                        enrollment_id: EnrollmentId(id),
                        student_id: student,
                        course_id: CourseId(course),
                    });
                    s.push(EnrollmentEvent::LessonCompleted {
                        lesson_id: LessonId(rng.uuid()),
                    });
                }
            }
            _ => {}
        }
        scripts.push(s);
    }
    let day = Span::days(30);
    let start = Utc
        .with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
        .single()
        .expect("time");
    for n in 0..size.subscriptions {
        let id = rng.uuid();
        let student = UserId(rng.uuid());
        let plan = if n % 2 == 0 { Plan::Basic } else { Plan::Pro };
        let mut s = Script::new("Subscription", id);
        let invoice = |rng: &mut Rng, k: i64| SubscriptionEvent::InvoiceIssued {
            invoice_id: InvoiceId(rng.uuid()),
            amount_cents: 999 + k as u64,
            currency: "EUR".into(),
            period_start: start + day * k as i32,
            period_end: start + day * (k as i32 + 1),
            payment_reference: format!("pay-{n}-{k}"),
        };
        if n % 3 != 2 {
            s.push(SubscriptionEvent::TrialStarted {
                subscription_id: SubscriptionId(id),
                student_id: student,
                plan,
                trial_ends_at: start + Span::days(14),
            });
        }
        // The first invoice comes before the activation (no student yet
        // when there was no trial).
        let first = invoice(&mut rng, 0);
        s.push(first.clone());
        if n % 4 == 1 {
            s.push(first);
        }
        s.push(SubscriptionEvent::SubscriptionActivated {
            subscription_id: SubscriptionId(id),
            student_id: student,
            plan,
            period_start: start,
            period_end: start + day,
        });
        for k in 1..(1 + n as i64 % 4) {
            s.push(invoice(&mut rng, k));
            s.push(SubscriptionEvent::SubscriptionRenewed {
                period_start: start + day * k as i32,
                period_end: start + day * (k as i32 + 1),
            });
        }
        match n % 5 {
            1 => s.push(SubscriptionEvent::SubscriptionMarkedPastDue),
            2 => {
                s.push(SubscriptionEvent::SubscriptionMarkedPastDue);
                s.push(SubscriptionEvent::SubscriptionCancelled {
                    reason: "unpaid".into(),
                });
            }
            3 => s.push(SubscriptionEvent::SubscriptionCancelled {
                reason: "moved".into(),
            }),
            _ => {}
        }
        scripts.push(s);
    }
    interleave(scripts, &mut rng, start)
}

/// Random order across aggregates, sequence order within each.
/// Each aggregate's tenant, three tenants in all: both paths must carry
/// the envelope's tenant into every row and card.
fn tenant_of(aggregate_id: &str) -> &'static str {
    const TENANTS: [&str; 3] = ["default", "globex", "initech"];
    TENANTS[aggregate_id.bytes().map(usize::from).sum::<usize>() % TENANTS.len()]
}

fn interleave(mut scripts: Vec<Script>, rng: &mut Rng, start: DateTime<Utc>) -> Vec<Stored> {
    for s in &mut scripts {
        s.events.reverse();
    }
    let mut sequences = vec![0i64; scripts.len()];
    let mut live: Vec<usize> = (0..scripts.len()).collect();
    let mut out = Vec::new();
    let mut clock = start;
    while !live.is_empty() {
        let slot = rng.below(live.len());
        let index = live[slot];
        let script = &mut scripts[index];
        let Some((payload, version)) = script.events.pop() else {
            live.swap_remove(slot);
            continue;
        };
        sequences[index] += 1;
        // Mostly forward, sometimes a little back: occurred_at is the
        // command's time, not the store's order.
        clock += Span::microseconds(rng.below(2_000) as i64 + 1);
        let at = if rng.chance(5) {
            clock - Span::milliseconds(3)
        } else {
            clock
        };
        let event_type = match &payload {
            Json::String(name) => name.clone(),
            Json::Object(o) => o.keys().next().cloned().expect("tag"),
            _ => panic!("payload shape"),
        };
        let event_id = rng.uuid();
        let metadata = json!({
            "event_id": event_id.to_string(),
            "occurred_at": at.to_rfc3339_opts(SecondsFormat::Micros, true),
            "correlation_id": rng.uuid().to_string(),
            "causation_id": rng.uuid().to_string(),
            "actor_id": rng.uuid().to_string(),
            "actor_role": "instructor",
            "tenant_id": tenant_of(&script.aggregate_id),
            "command_id": rng.uuid().to_string(),
            "command_type": "Test",
        });
        out.push(Stored {
            aggregate_type: script.aggregate_type,
            aggregate_id: script.aggregate_id.clone(),
            sequence: sequences[index],
            event_type,
            version,
            payload,
            metadata,
            event_id,
        });
    }
    out
}

// ---------------------------------------------------------------- paths

/// The live worker's apply path, event by event in store order, into the
/// live schema and `prefix`.
async fn apply_live<P: Projection>(
    projection: P,
    pool: &PgPool,
    redis: &ConnectionManager,
    prefix: &str,
) {
    let types = rebuild::aggregate_types(&projection);
    let rows = sqlx::query(
        "SELECT position, aggregate_type, aggregate_id, sequence, event_type, event_version,
                payload, metadata
           FROM events WHERE aggregate_type = ANY($1) ORDER BY position",
    )
    .bind(&types)
    .fetch_all(pool)
    .await
    .expect("events");
    let applier = Applier {
        projection: Arc::new(projection),
        pool: pool.clone(),
        redis: redis.clone(),
        redis_prefix: prefix.to_string(),
    };
    for row in &rows {
        let (position, event) = rebuild::decode_stored(row).expect("decode");
        // Read from the store, not Kafka: no record position, no bytes.
        let at = KafkaPosition {
            topic: String::new(),
            partition: 0,
            offset: position,
            expected_next: None,
        };
        let read = Read {
            position: &at,
            payload: &[],
        };
        applier
            .apply_once(&event, read, false)
            .await
            .unwrap_or_else(|e| panic!("per-event apply at {position}: {e}"));
    }
}

async fn keys(redis: &ConnectionManager, prefix: &str) -> BTreeSet<String> {
    rebuild::scan(redis, &format!("{prefix}:*"))
        .await
        .expect("scan")
        .into_iter()
        .map(|k| k[prefix.len()..].to_string())
        .collect()
}

/// Rebuilds `projection` with each batch size and compares with the live
/// model: `verify` (every table row for row, every rebuilt key's value),
/// then the key names both ways (verify only looks at keys it rebuilt).
async fn assert_batches_match<P: Projection>(
    projection: &P,
    pool: &PgPool,
    redis: &ConnectionManager,
    prefix: &str,
    expect_keys: bool,
) {
    let live_keys = keys(redis, prefix).await;
    assert_eq!(
        !live_keys.is_empty(),
        expect_keys,
        "{}: live keys {live_keys:?}",
        projection.name()
    );
    for batch_size in [3, 1, 7, 2_000] {
        let options = Options {
            batch_size,
            ..Default::default()
        };
        let report = rebuild::verify(projection, pool, redis, prefix, Duration::ZERO, &options)
            .await
            .expect("verify");
        assert!(
            report.differences.is_empty(),
            "{} with batches of {batch_size}: {:#?}",
            projection.name(),
            report.differences
        );
        assert!(report.rebuild.events > 0);
        assert_eq!(
            report.redis_keys as usize,
            live_keys.len(),
            "{}",
            projection.name()
        );
        let target = Target::shadow(projection.schema(), prefix, "batchkeys");
        rebuild::fill(projection, pool, redis, &target, &options)
            .await
            .expect("fill");
        assert_eq!(
            keys(redis, &target.redis_prefix).await,
            live_keys,
            "{} with batches of {batch_size}: Redis key names",
            projection.name()
        );
        sqlx::query(&format!("DROP SCHEMA {} CASCADE", target.schema))
            .execute(pool)
            .await
            .expect("drop shadow");
        rebuild::clear_prefix(redis, &target.redis_prefix)
            .await
            .expect("clear");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn batch_rebuilds_equal_the_per_event_path() {
    let store = Store::create().await;
    let events = history(
        &Size {
            courses: 24,
            enrollments: 160,
            subscriptions: 30,
            seat_events_per_course: 12,
        },
        0x5eed,
    );
    store.append(&events).await;
    let redis = redis().await;
    // A prefix per projection: the key names are compared both ways.
    let prefix = |name: &str| format!("t{}{name}", Uuid::now_v7().simple());
    let prefixes = [prefix("c"), prefix("r"), prefix("d"), prefix("b")];
    apply_live(CourseCatalogProjection, store.pool(), &redis, &prefixes[0]).await;
    apply_live(RosterProjection, store.pool(), &redis, &prefixes[1]).await;
    apply_live(
        StudentDashboardProjection,
        store.pool(),
        &redis,
        &prefixes[2],
    )
    .await;
    apply_live(BillingProjection, store.pool(), &redis, &prefixes[3]).await;

    // The history reached every case: the handlers wrote what is looked for.
    let count = |sql: &'static str| {
        let pool = store.pool().clone();
        async move {
            sqlx::query_scalar::<_, i64>(sql)
                .fetch_one(&pool)
                .await
                .expect(sql)
        }
    };
    assert!(count("SELECT count(*) FROM catalog.courses WHERE status = 'archived'").await > 0);
    assert!(
        count(
            "SELECT count(*) FROM catalog.courses WHERE language = 'en' AND title LIKE 'Course 0%'"
        )
        .await
            > 0
    );
    assert!(count("SELECT count(*) FROM catalog.lessons WHERE module_title = ''").await > 0);
    assert!(count("SELECT count(*) FROM roster.enrollments WHERE status = 'withdrawn'").await > 0);
    // Re-enrollments after a withdrawal are active again in both models.
    assert_eq!(
        count(
            "SELECT count(*) FROM roster.enrollments r
               JOIN dashboard.student_courses d USING (enrollment_id)
              WHERE r.status <> d.status OR r.lessons_completed <> d.lessons_completed"
        )
        .await,
        0,
        "roster and dashboard agree on every enrollment"
    );
    assert!(
        count("SELECT count(*) FROM dashboard.student_courses WHERE course_title = ''").await > 0
    );
    assert!(count("SELECT count(*) FROM billing.invoices WHERE student_id = '00000000-0000-0000-0000-000000000000'").await == 0);
    assert!(
        count("SELECT count(*) FROM billing.subscriptions WHERE status = 'cancelled'").await > 0
    );

    let pool = store.pool();
    assert_batches_match(&CourseCatalogProjection, pool, &redis, &prefixes[0], true).await;
    assert_batches_match(&RosterProjection, pool, &redis, &prefixes[1], true).await;
    assert_batches_match(
        &StudentDashboardProjection,
        pool,
        &redis,
        &prefixes[2],
        false,
    )
    .await;
    assert_batches_match(&BillingProjection, pool, &redis, &prefixes[3], false).await;
    for prefix in &prefixes {
        rebuild::clear_prefix(&redis, prefix).await.expect("clear");
    }
    store.drop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_batch_that_fails_names_the_event() {
    let store = Store::create().await;
    let mut events = history(
        &Size {
            courses: 3,
            enrollments: 4,
            subscriptions: 1,
            seat_events_per_course: 4,
        },
        7,
    );
    // A seat on a course that was never created: course-catalog refuses it.
    let ghost = Uuid::now_v7().to_string();
    let mut bad = interleave(
        vec![{
            let mut s = Script::new("Course", Uuid::parse_str(&ghost).expect("uuid"));
            s.push(CourseEvent::SeatReserved {
                student_id: UserId(Uuid::now_v7()),
            });
            s
        }],
        &mut Rng(3),
        Utc::now(),
    );
    let at = events.len() / 2;
    events.insert(at, bad.remove(0));
    store.append(&events).await;
    let position: i64 = sqlx::query_scalar("SELECT position FROM events WHERE aggregate_id = $1")
        .bind(&ghost)
        .fetch_one(store.pool())
        .await
        .expect("position");
    let redis = redis().await;
    let prefix = format!("t{}", Uuid::now_v7().simple());
    for batch_size in [3, 2_000] {
        let target = Target::shadow("catalog", &prefix, "failing");
        let options = Options {
            batch_size,
            ..Default::default()
        };
        match rebuild::fill(
            &CourseCatalogProjection,
            store.pool(),
            &redis,
            &target,
            &options,
        )
        .await
        {
            Err(RebuildError::Apply {
                position: p,
                message,
            }) => {
                assert_eq!(p, position, "{message}");
                assert!(message.contains("not in the catalog"), "{message}");
            }
            other => panic!("expected the event at {position} to be refused, got {other:?}"),
        }
    }
    store.drop().await;
}
