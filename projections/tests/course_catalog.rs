//! course-catalog end to end: commands over gRPC → outbox → relay → Kafka
//! (shared broker, own topic prefix) → worker → Postgres rows and Redis card;
//! redelivered records change nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use lms_projections::course_catalog::CourseCatalogProjection;
use lms_testkit::pipeline::prelude::*;
use rdkafka::message::{Message, OwnedHeaders};
use rdkafka::producer::FutureRecord;
use redis::AsyncCommands;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

type CourseRow = (String, String, i32, i32, i32, i32, String);

async fn course_row(h: &Harness, course_id: &str) -> CourseRow {
    sqlx::query_as(
        "SELECT title, status, capacity, seats_taken, module_count, lesson_count, language
           FROM catalog.courses WHERE course_id = $1::uuid",
    )
    .bind(course_id)
    .fetch_one(&h.db.pool)
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn commands_build_the_catalog_and_redelivered_records_change_nothing() {
    let h = Harness::start().await;
    let worker = h.start_worker(Arc::new(CourseCatalogProjection));
    let instructor = Caller::instructor();
    let (published, published_seq) = h.course(instructor, "Rust streams", true).await;
    let (draft, draft_seq) = h.course(instructor, "Draft", false).await;
    h.wait_applied("catalog", "course-catalog", &published, published_seq)
        .await;
    h.wait_applied("catalog", "course-catalog", &draft, draft_seq)
        .await;

    let expected = (
        "Rust streams".to_string(),
        "published".to_string(),
        10,
        0,
        1,
        1,
        "en".to_string(),
    );
    assert_eq!(course_row(&h, &published).await, expected);
    assert_eq!(course_row(&h, &draft).await.1, "draft");
    let lessons: Vec<(String, String, i32)> = sqlx::query_as(
        "SELECT title, module_title, position FROM catalog.lessons WHERE course_id = $1::uuid",
    )
    .bind(&published)
    .fetch_all(&h.db.pool)
    .await
    .unwrap();
    assert_eq!(lessons.len(), 1);
    // The module's first lesson carries the module's title (catalog.modules).
    assert_eq!(
        (lessons[0].0.as_str(), lessons[0].1.as_str(), lessons[0].2),
        ("First steps", "Basics", 0)
    );

    let mut redis = h.redis().await;
    let prefix = &h.config.redis_prefix;
    let card: HashMap<String, String> = redis
        .hgetall(format!("{prefix}:course:{published}"))
        .await
        .unwrap();
    assert_eq!(card["title"], "Rust streams");
    assert_eq!(card["status"], "published");
    assert_eq!(card["seats_taken"], "0");
    assert_eq!(card["access"], "free");
    assert_eq!(card["description"], "about it");
    assert_eq!(card["instructor_ids"], instructor.id.to_string());
    assert_eq!(
        (card["module_count"].as_str(), card["lesson_count"].as_str()),
        ("1", "1")
    );
    assert!(card["created_at"].ends_with('Z') && card["updated_at"].len() == 27);
    assert!(!card.contains_key("price_cents") && !card.contains_key("plan"));
    // Started from the first offset and caught up: the catalog is warm.
    eventually(Duration::from_secs(30), || {
        let mut redis = redis.clone();
        let key = format!("{prefix}:{}", lms_readmodels::catalog::WARM_MARKER);
        async move { redis.exists::<_, bool>(&key).await.unwrap() }
    })
    .await
    .expect("warm marker");
    let listed: Vec<String> = redis
        .zrange(format!("{prefix}:courses:published:default"), 0, -1)
        .await
        .unwrap();
    assert_eq!(listed, vec![published.clone()]);
    let seq: i64 = redis
        .get(format!("{prefix}:seq:Course:{published}"))
        .await
        .unwrap();
    assert_eq!(seq, published_seq);

    // Redelivery: every record of the topic produced again (same key,
    // value, headers), then one new event behind them.
    let topic = h.topic("lms.course.v1");
    let total = (published_seq + draft_seq) as usize;
    let records = read_all(
        &h.config.kafka_brokers,
        &topic,
        total,
        Duration::from_secs(30),
    );
    assert_eq!(records.len(), total);
    let producer = lms_testkit::kafka::producer(&h.config.kafka_brokers);
    for record in &records {
        let mut copy: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(&topic)
            .key(record.key().unwrap())
            .payload(record.payload().unwrap());
        copy = copy.headers(
            record
                .headers()
                .map(|h| h.as_borrowed().detach())
                .unwrap_or_else(OwnedHeaders::new),
        );
        producer
            .send(copy, Duration::from_secs(10))
            .await
            .expect("redeliver");
    }
    let sequence = h.change_capacity(instructor, &published, 25).await;
    h.wait_applied("catalog", "course-catalog", &published, sequence)
        .await;
    // Also past the draft's duplicates (other partitions possibly): the checkpoints cover every record.
    let end: i64 = (2 * total + 1) as i64;
    eventually(Duration::from_secs(60), || async {
        let covered: Option<i64> = sqlx::query_scalar(
            "SELECT sum(next_offset)::bigint FROM catalog.checkpoints WHERE projection = 'course-catalog'",
        )
        .fetch_one(&h.db.pool)
        .await
        .unwrap();
        covered == Some(end)
    })
    .await
    .expect("every record passed the worker");

    assert_eq!(
        course_row(&h, &published).await,
        CourseRow::from((
            expected.0.clone(),
            expected.1.clone(),
            25,
            0,
            1,
            1,
            expected.6.clone()
        ))
    );
    let lessons: i64 =
        sqlx::query_scalar("SELECT count(*) FROM catalog.lessons WHERE course_id = $1::uuid")
            .bind(&published)
            .fetch_one(&h.db.pool)
            .await
            .unwrap();
    assert_eq!(lessons, 1, "a redelivered LessonAdded is not applied twice");
    let card: HashMap<String, String> = redis
        .hgetall(format!("{prefix}:course:{published}"))
        .await
        .unwrap();
    assert_eq!(card["capacity"], "25");

    worker.stop().await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_course_lands_in_its_tenant_row_card_and_published_set() {
    let h = Harness::start().await;
    let worker = h.start_worker(Arc::new(CourseCatalogProjection));
    let (ours, ours_seq) = h.course(Caller::instructor(), "Ours", true).await;
    let (theirs, theirs_seq) = h
        .course_in("globex", Caller::instructor(), "Theirs", true)
        .await;
    h.wait_applied("catalog", "course-catalog", &ours, ours_seq)
        .await;
    h.wait_applied("catalog", "course-catalog", &theirs, theirs_seq)
        .await;

    let tenants: Vec<(String, String)> =
        sqlx::query_as("SELECT title, tenant_id FROM catalog.courses ORDER BY title")
            .fetch_all(&h.db.pool)
            .await
            .unwrap();
    assert_eq!(
        tenants,
        [
            ("Ours".to_string(), "default".to_string()),
            ("Theirs".to_string(), "globex".to_string())
        ]
    );
    let mut redis = h.redis().await;
    let prefix = &h.config.redis_prefix;
    for (course, tenant) in [(&ours, "default"), (&theirs, "globex")] {
        let card_tenant: String = redis
            .hget(format!("{prefix}:course:{course}"), "tenant")
            .await
            .unwrap();
        assert_eq!(card_tenant, tenant);
        let listed: Vec<String> = redis
            .zrange(format!("{prefix}:courses:published:{tenant}"), 0, -1)
            .await
            .unwrap();
        assert_eq!(listed, vec![course.clone()], "{tenant}'s published set");
    }

    worker.stop().await;
    h.stop().await;
}
