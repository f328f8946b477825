//! The outbox relay end to end: commands over gRPC → outbox → relay → Kafka
//! (Apache Kafka) → decoded through the schema registry. Real servers throughout.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use futures::StreamExt;
use lms_proto::command::v1::*;
use lms_relay::RelayConfig;
use lms_testkit::commands::{Caller, CommandServer};
use lms_testkit::kafka::{consume_all, Consumed, PrivateBroker};
use lms_testkit::process::Children;
use lms_testkit::registry::Registry;
use lms_testkit::relay::{self, backlog, wait_for_empty_outbox, Relay};
use lms_testkit::{new_id, shared_brokers, TestDb};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

/// Relay settings of these tests: a delivery timeout short enough that the
/// broker-down test sees failed attempts.
fn relay_config(db: &TestDb, brokers: &str, registry: &Registry) -> RelayConfig {
    RelayConfig {
        delivery_timeout_ms: 3_000,
        ..relay::relay_config(db, brokers, &registry.url)
    }
}

fn topics(config: &RelayConfig) -> Vec<String> {
    lms_schemas::TOPICS
        .iter()
        .map(|t| config.topic(t))
        .collect()
}

/// Creates a course, then adds modules to it: `1 + modules` commands, one event each.
async fn course_with_modules(server: &CommandServer, instructor: Caller, modules: usize) -> String {
    let mut courses = server.courses();
    let course_id = courses
        .create_course(instructor.req(CreateCourseRequest {
            command_id: new_id(),
            course_id: String::new(),
            title: "Streams".into(),
            description: String::new(),
            instructor_ids: vec![instructor.id.to_string()],
            capacity: 10,
            access: None,
        }))
        .await
        .expect("create")
        .into_inner()
        .aggregate_id;
    for i in 0..modules {
        courses
            .add_module(instructor.req(AddModuleRequest {
                command_id: new_id(),
                course_id: course_id.clone(),
                module_id: String::new(),
                title: format!("Module {i}"),
            }))
            .await
            .expect("add module");
    }
    course_id
}

/// Every stored event is on Kafka at least once; per key the first
/// occurrences come in sequence order; copies of one (key, sequence) carry
/// the same event id.
async fn assert_topics_match_store(db: &TestDb, consumed: &[Consumed]) {
    let stored: Vec<(String, i64, String)> = sqlx::query_as(
        "SELECT aggregate_id, sequence, metadata::jsonb ->> 'event_id' FROM events ORDER BY position",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    let stored_ids: HashSet<&str> = stored.iter().map(|(_, _, id)| id.as_str()).collect();
    let consumed_ids: HashSet<&str> = consumed.iter().map(|c| c.event_id.as_str()).collect();
    let missing = stored_ids.difference(&consumed_ids).count();
    let unexpected = consumed_ids.difference(&stored_ids).count();
    assert_eq!(
        (missing, unexpected),
        (0, 0),
        "every event published, nothing else"
    );

    let mut first_seen: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
    let mut ids: HashMap<(&str, i64), &str> = HashMap::new();
    for record in consumed {
        if let Some(previous) = ids.insert((&record.key, record.sequence), &record.event_id) {
            assert_eq!(
                previous, record.event_id,
                "a duplicate must carry the same event id"
            );
            continue;
        }
        first_seen
            .entry(&record.key)
            .or_default()
            .push(record.sequence);
    }
    for (key, sequences) in first_seen {
        let expected: Vec<i64> = (1..=sequences.len() as i64).collect();
        assert_eq!(sequences, expected, "order of aggregate {key}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn events_written_while_the_broker_is_down_arrive_in_order_when_it_is_back() {
    lms_runtime::telemetry::init_tracing(
        "warn,lms_commands=debug,rdkafka=info",
        lms_runtime::LogFormat::Text,
    );
    let db = TestDb::event_store().await;
    let registry = Registry::start(&db.pool).await;
    let mut broker = PrivateBroker::start().await;
    let server = CommandServer::start(&db).await;
    let config = relay_config(&db, &broker.brokers(), &registry);
    assert!(
        config.producer_idempotence,
        "the relay runs idempotent across the restart"
    );
    let relay = Relay::start(&config, &db.pool);

    let instructor = Caller::instructor();
    let first = course_with_modules(&server, instructor, 2).await;
    wait_for_empty_outbox(&db.pool, Duration::from_secs(30)).await;

    broker.stop();
    // Commands keep working with the broker down: they only touch Postgres.
    let second = course_with_modules(&server, instructor, 20).await;
    let _ = course_with_modules(&server, instructor, 5).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        backlog(&db.pool).await > 0,
        "nothing can be published while the broker is down"
    );

    broker.resume().await;
    wait_for_empty_outbox(&db.pool, Duration::from_secs(60)).await;
    let total = db.total_events().await as usize;
    let consumed = consume_all(
        &broker.brokers(),
        &registry.url,
        &topics(&config),
        total,
        Duration::from_secs(30),
    )
    .await;
    assert_topics_match_store(&db, &consumed).await;

    // Topic, key, headers and schema as documented.
    let created = consumed
        .iter()
        .find(|c| c.key == second && c.sequence == 1)
        .expect("second course created");
    assert_eq!(created.topic, config.topic("lms.course.v1"));
    assert_eq!(created.event_type, "CourseCreated");
    assert_eq!(created.record_name, "lms.course.v1.CourseCreated");
    assert!(created.schema_id.parse::<u32>().is_ok());
    assert!(!created.correlation_id.is_empty());
    assert!(consumed.iter().any(|c| c.key == first));

    relay.stop().await.expect("relay ends cleanly");
    server.stop().await;
    db.drop_database().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_relay_killed_mid_stream_loses_nothing_and_keeps_order() {
    let db = TestDb::event_store().await;
    let registry = Registry::start(&db.pool).await;
    let server = CommandServer::start(&db).await;
    let config = relay_config(&db, &shared_brokers(), &registry);
    let spawn_relay = || {
        Children(vec![lms_testkit::process::service(env!(
            "CARGO_BIN_EXE_lms-relay"
        ))
        .env("LMS_DATABASE_URL", &db.url)
        .env("LMS_KAFKA_BROKERS", &config.kafka_brokers)
        .env("LMS_SCHEMA_REGISTRY_URL", &config.schema_registry_url)
        .env(
            "LMS_SCHEMA_REGISTRY_PASSWORD",
            lms_testkit::registry::ADMIN_PASSWORD,
        )
        .env("LMS_TOPIC_PREFIX", &config.topic_prefix)
        .env("LMS_TOPIC_PARTITIONS", "3")
        .env("LMS_POLL_INTERVAL_MS", "100")
        .env("LMS_METRICS_ADDR", "127.0.0.1:0")
        .env("LMS_BATCH_SIZE", "100")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start lms-relay")])
    };
    let mut relay = spawn_relay();

    // 2,000 commands: 40 courses × (create + 49 modules), 8 streams at once.
    let instructor = Caller::instructor();
    let writer = {
        let server = &server;
        futures::stream::iter(0..40)
            .map(move |_| async move { course_with_modules(server, instructor, 49).await })
            .buffer_unordered(8)
            .collect::<Vec<_>>()
    };
    let killer = async {
        // Kill -9 once the relay is well into the stream.
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let published: i64 =
                sqlx::query_scalar("SELECT count(*) FROM outbox WHERE published_at IS NOT NULL")
                    .fetch_one(&db.pool)
                    .await
                    .unwrap();
            if published >= 300 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "relay published only {published}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let written_at_kill = db.total_events().await;
        relay.0[0].kill().expect("SIGKILL relay");
        relay.0[0].wait().expect("reap relay");
        assert!(written_at_kill < 2_000, "the kill must land mid-stream");
        tokio::time::sleep(Duration::from_millis(300)).await;
        spawn_relay()
    };
    let (courses, restarted) = tokio::join!(writer, killer);
    let mut relay = restarted;
    assert_eq!(courses.len(), 40);
    assert_eq!(db.total_events().await, 2_000);

    wait_for_empty_outbox(&db.pool, Duration::from_secs(120)).await;
    let consumed = consume_all(
        &shared_brokers(),
        &registry.url,
        &topics(&config),
        2_000,
        Duration::from_secs(60),
    )
    .await;
    let distinct: HashSet<&str> = consumed.iter().map(|c| c.event_id.as_str()).collect();
    assert_eq!(
        distinct.len(),
        2_000,
        "distinct events read back ({} records, prefix {})",
        consumed.len(),
        config.topic_prefix
    );
    eprintln!(
        "read {} records for 2000 events (the rest are re-sends after the kill)",
        consumed.len()
    );
    assert_topics_match_store(&db, &consumed).await;

    relay.0[0].kill().expect("stop relay");
    let _ = relay.0[0].wait();
    server.stop().await;
    db.drop_database().await;
}
