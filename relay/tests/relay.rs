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

/// Once the outbox is empty: every record of the relay's topics, checked
/// against the store ([`assert_topics_match_store`]).
async fn drained_topics(
    db: &TestDb,
    brokers: &str,
    registry: &Registry,
    config: &RelayConfig,
) -> Vec<Consumed> {
    wait_for_empty_outbox(&db.pool, Duration::from_secs(60)).await;
    let total = db.total_events().await as usize;
    let consumed = consume_all(
        brokers,
        &registry.url,
        &topics(config),
        total,
        Duration::from_secs(30),
    )
    .await;
    assert_topics_match_store(db, &consumed).await;
    consumed
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
    let consumed = drained_topics(&db, &broker.brokers(), &registry, &config).await;

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
        // The restarted relay takes over the killed one's lease once it expired.
        .env("LMS_LEADER_LEASE_MS", "3000")
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

/// Writes a copy of the aggregate's event `from` as its next event, every
/// `title` in it `bytes` long: an event no command can write (the domain
/// bounds every field), as a bug or an older release might have. Returns
/// its outbox position.
async fn force_oversized_event(db: &TestDb, aggregate_id: &str, from: i64, bytes: usize) -> i64 {
    fn grow(value: &mut serde_json::Value, bytes: usize) {
        match value {
            serde_json::Value::Object(fields) => {
                for (name, field) in fields.iter_mut() {
                    if name == "title" && field.is_string() {
                        *field = serde_json::Value::String("x".repeat(bytes));
                    } else {
                        grow(field, bytes);
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(|v| grow(v, bytes)),
            _ => {}
        }
    }
    let (aggregate_type, event_type, event_version, mut payload, metadata): (
        String,
        String,
        String,
        serde_json::Value,
        serde_json::Value,
    ) = sqlx::query_as(
        "SELECT aggregate_type, event_type, event_version, payload, metadata FROM events
          WHERE aggregate_id = $1 AND sequence = $2",
    )
    .bind(aggregate_id)
    .bind(from)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    grow(&mut payload, bytes);
    let event_id = uuid::Uuid::now_v7();
    let mut metadata = metadata;
    metadata["event_id"] = serde_json::Value::String(event_id.to_string());
    let mut tx = db.pool.begin().await.unwrap();
    let position: i64 = sqlx::query_scalar(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version,
                             payload, metadata, event_id)
         SELECT $1, $2, max(sequence) + 1, $3, $4, $5, $6, $7 FROM events
          WHERE aggregate_type = $1 AND aggregate_id = $2
         RETURNING position",
    )
    .bind(&aggregate_type)
    .bind(aggregate_id)
    .bind(&event_type)
    .bind(&event_version)
    .bind(&payload)
    .bind(&metadata)
    .bind(event_id)
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    sqlx::query("INSERT INTO outbox (position) VALUES ($1)")
        .bind(position)
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    position
}

/// (key, sequence) of every record of the topics, first occurrences, in order per key.
fn sequences_by_key(consumed: &[Consumed]) -> BTreeMap<String, Vec<i64>> {
    let mut seen: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for record in consumed {
        let sequences = seen.entry(record.key.clone()).or_default();
        if !sequences.contains(&record.sequence) {
            sequences.push(record.sequence);
        }
    }
    seen
}

#[tokio::test(flavor = "multi_thread")]
async fn an_event_kafka_refuses_as_too_large_is_dead_lettered_its_aggregate_waits_and_others_flow()
{
    let db = TestDb::event_store().await;
    let registry = Registry::start(&db.pool).await;
    let server = CommandServer::start(&db).await;
    let config = RelayConfig {
        dead_letter_after_attempts: 2,
        ..relay_config(&db, &shared_brokers(), &registry)
    };
    let relay = Relay::start(&config, &db.pool);
    let instructor = Caller::instructor();
    let blocked = course_with_modules(&server, instructor, 1).await;
    wait_for_empty_outbox(&db.pool, Duration::from_secs(30)).await;

    // Sequence 3: a 2 MB module title; sequence 4 through the command API.
    let oversized = force_oversized_event(&db, &blocked, 2, 2_000_000).await;
    server
        .courses()
        .add_module(instructor.req(AddModuleRequest {
            command_id: new_id(),
            course_id: blocked.clone(),
            module_id: String::new(),
            title: "After the big one".into(),
        }))
        .await
        .expect("a command on the blocked course still works");
    let flowing = course_with_modules(&server, instructor, 2).await;

    let store = lms_relay::OutboxStore::new(db.pool.clone());
    let deadline = Instant::now() + Duration::from_secs(60);
    let letters = loop {
        let letters = store.dead_letters().await.unwrap();
        let left = backlog(&db.pool).await;
        if !letters.is_empty() && left == 2 {
            break letters;
        }
        assert!(
            Instant::now() < deadline,
            "no dead letter ({letters:?}) or backlog {left} != 2"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(letters.len(), 1, "{letters:?}");
    let letter = &letters[0];
    assert_eq!(letter.position, oversized);
    assert_eq!(letter.aggregate_id, blocked);
    assert_eq!(letter.attempts, 2);
    assert!(
        letter.error.to_lowercase().contains("too large"),
        "{}",
        letter.error
    );
    assert_eq!(letter.waiting, 1, "sequence 4 waits behind it");

    // On the topic: the blocked course up to 2, never 4 before 3; the other whole.
    let consumed = consume_all(
        &shared_brokers(),
        &registry.url,
        &topics(&config),
        5,
        Duration::from_secs(30),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let on_topic = sequences_by_key(
        &consume_all(
            &shared_brokers(),
            &registry.url,
            &topics(&config),
            6,
            Duration::from_secs(3),
        )
        .await,
    );
    assert!(consumed.len() >= 5);
    assert_eq!(on_topic.get(&blocked), Some(&vec![1, 2]));
    assert_eq!(on_topic.get(&flowing), Some(&vec![1, 2, 3]));

    // Let it be tried again (as after raising the broker's limit): still too
    // large here, so it is dead-lettered again after its attempts, and the
    // later event still waits.
    assert!(store.retry_dead_letter(oversized).await.unwrap());
    assert!(!store.retry_dead_letter(oversized + 1_000).await.unwrap());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let letters = store.dead_letters().await.unwrap();
        if letters.len() == 1 && letters[0].attempts == 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not dead-lettered again: {letters:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(backlog(&db.pool).await, 2);

    relay.stop().await.expect("relay ends cleanly");
    server.stop().await;
    db.drop_database().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_batch_is_bounded_in_bytes_and_passes_over_dead_lettered_aggregates() {
    let db = TestDb::event_store().await;
    let server = CommandServer::start(&db).await;
    let instructor = Caller::instructor();
    // No relay: the rows stay pending.
    let first = course_with_modules(&server, instructor, 3).await;
    let second = course_with_modules(&server, instructor, 1).await;
    let store = lms_relay::OutboxStore::new(db.pool.clone());

    let all = store.pending(500, i64::MAX, &[]).await.unwrap();
    assert_eq!(all.len(), 6);
    let positions: Vec<i64> = all.iter().map(|e| e.position).collect();
    let mut sorted = positions.clone();
    sorted.sort_unstable();
    assert_eq!(positions, sorted, "position order");
    assert_eq!(store.pending(2, i64::MAX, &[]).await.unwrap().len(), 2);
    // Events in flight (sent, not yet marked) are passed over, also when a
    // pending row sits below the last of them.
    let in_flight = [positions[0], positions[2]];
    let rest: Vec<i64> = store
        .pending(500, i64::MAX, &in_flight)
        .await
        .unwrap()
        .iter()
        .map(|e| e.position)
        .collect();
    assert_eq!(
        rest,
        [positions[1], positions[3], positions[4], positions[5]]
    );
    // A budget of one byte still loads one event; a budget of about two
    // events' size loads two.
    assert_eq!(store.pending(500, 1, &[]).await.unwrap().len(), 1);
    let sizes: Vec<i64> = sqlx::query_scalar(
        "SELECT (pg_column_size(e.payload) + pg_column_size(e.metadata))::bigint
           FROM outbox o JOIN events e USING (position) ORDER BY position LIMIT 2",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(
        store.pending(500, sizes[0] + 1, &[]).await.unwrap().len(),
        2,
        "the second starts within the budget"
    );
    assert_eq!(
        store
            .pending(500, sizes[0] + sizes[1], &[])
            .await
            .unwrap()
            .len(),
        2
    );

    // A dead letter on the first course: none of its events is loaded.
    store.dead_letter(&all[0], "refused", 5).await.unwrap();
    let left = store.pending(500, i64::MAX, &[]).await.unwrap();
    assert_eq!(left.len(), 2);
    assert!(left.iter().all(|e| e.aggregate_id == second));
    let letters = store.dead_letters().await.unwrap();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].aggregate_id, first);
    assert_eq!(letters[0].waiting, 3);

    server.stop().await;
    db.drop_database().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn when_the_leaders_connection_is_cut_the_standby_publishes_within_the_lease() {
    let db = TestDb::event_store().await;
    let registry = Registry::start(&db.pool).await;
    let server = CommandServer::start(&db).await;
    let config = RelayConfig {
        leader_lease_ms: 2_000,
        ..relay_config(&db, &shared_brokers(), &registry)
    };
    let lease = Duration::from_millis(config.leader_lease_ms);

    // The leader reaches Postgres only through a proxy the test can cut.
    let options: sqlx::postgres::PgConnectOptions = db.url.parse().unwrap();
    let upstream = format!("{}:{}", options.get_host(), options.get_port());
    let proxy = lms_testkit::proxy::Proxy::start(
        tokio::net::lookup_host(&upstream)
            .await
            .unwrap()
            .next()
            .unwrap(),
    )
    .await;
    let proxied = db.url.replacen(&upstream, &proxy.addr.to_string(), 1);
    assert_ne!(proxied, db.url, "the URL names {upstream}");
    let leader_pool = lms_runtime::database::connect(&lms_runtime::SecretString::from(proxied), 5)
        .await
        .unwrap();
    let leader = Relay::start(&config, &leader_pool);
    let instructor = Caller::instructor();
    course_with_modules(&server, instructor, 5).await;
    wait_for_empty_outbox(&db.pool, Duration::from_secs(30)).await;
    let holder = || async {
        sqlx::query_scalar::<_, uuid::Uuid>("SELECT holder FROM relay_lease")
            .fetch_one(&db.pool)
            .await
            .unwrap()
    };
    let first = holder().await;

    // A standby does not take a lease that is being renewed.
    let standby = Relay::start(&config, &db.pool);
    tokio::time::sleep(lease * 2).await;
    assert_eq!(holder().await, first, "the standby waited");

    // Commands keep coming while the leader is cut off mid-stream.
    let writer = {
        let server = &server;
        async move {
            for _ in 0..10 {
                course_with_modules(server, instructor, 9).await;
            }
        }
    };
    let cutter = async {
        let deadline = Instant::now() + Duration::from_secs(60);
        while db.total_events().await < 40 {
            assert!(Instant::now() < deadline, "commands too slow");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        proxy.cut();
        let cut_at = Instant::now();
        loop {
            if holder().await != first {
                break cut_at.elapsed();
            }
            assert!(
                cut_at.elapsed() < Duration::from_secs(30),
                "no takeover in 30 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let ((), takeover) = tokio::join!(writer, cutter);
    assert!(
        takeover < lease * 3,
        "the standby took over {takeover:?} after the cut (lease {lease:?})"
    );

    // Every event, and per key the first occurrences in order: duplicates
    // only, never a gap or a reorder.
    drained_topics(&db, &shared_brokers(), &registry, &config).await;
    assert_eq!(db.total_events().await, 6 + 100);

    standby.stop().await.expect("standby ends cleanly");
    leader
        .stop()
        .await
        .expect("the cut-off leader ends cleanly");
    server.stop().await;
    db.drop_database().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn published_outbox_rows_and_the_command_log_are_pruned_after_their_retention() {
    let db = TestDb::event_store().await;
    let server = CommandServer::start(&db).await;
    let instructor = Caller::instructor();
    // 2 + 3 events and 5 commands; no relay runs.
    course_with_modules(&server, instructor, 1).await;
    course_with_modules(&server, instructor, 2).await;
    // Two published two days ago, one an hour ago, two never; three
    // commands recorded 40 days ago.
    sqlx::query(
        "UPDATE outbox SET published_at = now() - CASE WHEN position <= (SELECT min(position) + 1 FROM outbox)
                                                     THEN interval '2 days' ELSE interval '1 hour' END
          WHERE position <= (SELECT min(position) + 2 FROM outbox)",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    sqlx::query(
        "UPDATE command_log SET recorded_at = now() - interval '40 days'
          WHERE (tenant_id, command_id) IN (SELECT tenant_id, command_id FROM command_log
                                             ORDER BY recorded_at LIMIT 3)",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    let store = lms_relay::OutboxStore::new(db.pool.clone());
    let day = Duration::from_secs(24 * 3600);

    // Zero keeps everything.
    assert_eq!(
        store
            .prune(Duration::ZERO, Duration::ZERO, 1)
            .await
            .unwrap(),
        (0, 0)
    );
    // In batches of one: every old row, nothing younger, nothing unpublished.
    assert_eq!(store.prune(day, 30 * day, 1).await.unwrap(), (2, 3));
    let (outbox, unpublished, commands): (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM outbox), (SELECT count(*) FROM outbox WHERE published_at IS NULL),
                (SELECT count(*) FROM command_log)",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!((outbox, unpublished, commands), (3, 2, 2));
    assert_eq!(db.total_events().await, 5, "the events themselves stay");
    assert_eq!(store.prune(day, 30 * day, 1).await.unwrap(), (0, 0));

    server.stop().await;
    db.drop_database().await;
}
