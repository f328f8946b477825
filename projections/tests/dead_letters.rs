//! Poison records: undecodable bytes land in the DLQ with `dlq.*` headers
//! while the worker carries on, and so do a record claiming 300 MB and one
//! written with a schema id outside our subjects. An event its handler keeps
//! refusing is parked with its aggregate's later events; a redrive after the
//! fix applies them all, in order, exactly once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use lms_domain::course::CourseEvent;
use lms_projections::apply::Read;
use lms_projections::course_catalog::CourseCatalogProjection;
use lms_projections::decode::RecordDecoder;
use lms_projections::{
    redrive, ApplyError, KafkaPosition, Outcome, Projection, RedisEffects, RedriveReport,
};
use lms_schemas::{DecodedEvent, LmsEvent};
use lms_testkit::pipeline::prelude::*;
use rdkafka::message::{Header, Message, OwnedHeaders};
use sqlx::PgConnection;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

async fn titles(h: &Harness) -> Vec<String> {
    sqlx::query_scalar("SELECT title FROM catalog.courses ORDER BY title")
        .fetch_all(&h.db.pool)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn undecodable_bytes_go_to_the_dlq_and_the_worker_keeps_consuming() {
    let h = Harness::start().await;
    let instructor = Caller::instructor();
    // The topics exist once the relay published something.
    let (first, first_seq) = h.course(instructor, "Before", false).await;
    let worker = h.start_worker(Arc::new(CourseCatalogProjection));
    h.wait_applied("catalog", "course-catalog", &first, first_seq)
        .await;

    let topic = h.topic("lms.course.v1");
    let headers = OwnedHeaders::new().insert(Header {
        key: "event_id",
        value: Some("poison-1"),
    });
    // Same key as the next event of that course: same partition, before it.
    h.produce_raw(&topic, &first, b"\x00garbage, not avro", headers)
        .await;
    let sequence = h.change_capacity(instructor, &first, 42).await;
    h.wait_applied("catalog", "course-catalog", &first, sequence)
        .await;
    let (second, second_seq) = h.course(instructor, "After", false).await;
    h.wait_applied("catalog", "course-catalog", &second, second_seq)
        .await;
    let capacity: i32 =
        sqlx::query_scalar("SELECT capacity FROM catalog.courses WHERE course_id = $1::uuid")
            .bind(&first)
            .fetch_one(&h.db.pool)
            .await
            .unwrap();
    assert_eq!(
        capacity, 42,
        "the event right after the poison on its partition"
    );
    assert_eq!(titles(&h).await, vec!["After", "Before"]);

    let dlq = read_all(
        &h.config.kafka_brokers,
        &h.config.dlq(),
        1,
        Duration::from_secs(30),
    );
    assert_eq!(dlq.len(), 1, "one dead letter");
    let letter = &dlq[0];
    assert_eq!(letter.payload(), Some(&b"\x00garbage, not avro"[..]));
    assert_eq!(letter.key(), Some(first.as_bytes()));
    assert_eq!(header(letter, "event_id").as_deref(), Some("poison-1"));
    assert_eq!(
        header(letter, "dlq.projection").as_deref(),
        Some("course-catalog")
    );
    assert_eq!(header(letter, "dlq.topic").as_deref(), Some(topic.as_str()));
    assert!(header(letter, "dlq.partition")
        .unwrap()
        .parse::<i32>()
        .is_ok());
    assert!(header(letter, "dlq.offset").unwrap().parse::<i64>().is_ok());
    assert!(
        !header(letter, "dlq.error").unwrap_or_default().is_empty(),
        "the error travels with it"
    );

    worker.stop().await;
    h.stop().await;
}

/// Zigzag varint, as Avro writes a long.
fn avro_long(n: i64) -> Vec<u8> {
    let mut z = ((n << 1) ^ (n >> 63)) as u64;
    let mut out = Vec::new();
    loop {
        let byte = (z & 0x7f) as u8;
        z >>= 7;
        if z == 0 {
            out.push(byte);
            return out;
        }
        out.push(byte | 0x80);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_record_claiming_300_mb_and_one_with_a_foreign_schema_id_go_to_the_dlq_and_the_worker_lives(
) {
    let h = Harness::start().await;
    let instructor = Caller::instructor();
    let (first, first_seq) = h.course(instructor, "Before", false).await;
    let worker = h.start_worker(Arc::new(CourseCatalogProjection));
    h.wait_applied("catalog", "course-catalog", &first, first_seq)
        .await;
    let topic = h.topic("lms.course.v1");
    let (brokers, read) = (h.config.kafka_brokers.clone(), topic.clone());
    let real =
        tokio::task::spawn_blocking(move || read_all(&brokers, &read, 1, Duration::from_secs(30)))
            .await
            .unwrap();
    let real = real[0].payload().unwrap().to_vec();
    let our_id = u32::from_be_bytes(real[1..5].try_into().unwrap());

    // Our CourseCreated schema id, then a first string claiming 300 MB.
    let mut huge = real[..5].to_vec();
    huge.extend(avro_long(300_000_000));
    huge.extend(b"only a few bytes follow");
    h.produce_raw(&topic, &first, &huge, OwnedHeaders::new())
        .await;

    // The same record under a schema registered by someone else (another
    // subject; one more field, so another id): it would decode as our event.
    let http = reqwest::Client::new();
    let ours: serde_json::Value = http
        .get(format!("{}/schemas/ids/{our_id}", h.registry.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let our_schema = apache_avro::Schema::parse_str(ours["schema"].as_str().unwrap()).unwrap();
    let mut foreign_json: serde_json::Value =
        serde_json::from_str(ours["schema"].as_str().unwrap()).unwrap();
    foreign_json["fields"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({"name": "intruder", "type": "string", "default": ""}));
    let registered: serde_json::Value = http
        .post(format!(
            "{}/subjects/intruder-value/versions",
            h.registry.url
        ))
        .header("content-type", "application/vnd.schemaregistry.v1+json")
        .basic_auth(
            lms_testkit::registry::ADMIN_USER,
            Some(lms_testkit::registry::ADMIN_PASSWORD),
        )
        .json(&serde_json::json!({"schema": foreign_json.to_string()}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let foreign_id = registered["id"].as_u64().unwrap() as u32;
    assert_ne!(foreign_id, our_id);
    let foreign_schema = apache_avro::Schema::parse(&foreign_json).unwrap();
    let mut value = apache_avro::reader::datum::GenericDatumReader::builder(&our_schema)
        .build()
        .unwrap()
        .read_value(&mut &real[5..])
        .unwrap();
    if let apache_avro::types::Value::Record(fields) = &mut value {
        fields.push((
            "intruder".into(),
            apache_avro::types::Value::String("x".into()),
        ));
    }
    let mut foreign = vec![0];
    foreign.extend(foreign_id.to_be_bytes());
    foreign.extend(
        apache_avro::writer::datum::GenericDatumWriter::builder(&foreign_schema)
            .build()
            .unwrap()
            .write_value_to_vec(value)
            .unwrap(),
    );
    h.produce_raw(&topic, &first, &foreign, OwnedHeaders::new())
        .await;

    // The worker lives and applies what follows on the same partition.
    let sequence = h.change_capacity(instructor, &first, 42).await;
    h.wait_applied("catalog", "course-catalog", &first, sequence)
        .await;

    let dlq = read_all(
        &h.config.kafka_brokers,
        &h.config.dlq(),
        2,
        Duration::from_secs(30),
    );
    assert_eq!(dlq.len(), 2, "both records dead-lettered");
    let error_of = |payload: &[u8]| {
        let letter = dlq
            .iter()
            .find(|l| l.payload() == Some(payload))
            .expect("dead letter with these bytes");
        header(letter, "dlq.error").unwrap_or_default()
    };
    let huge_error = error_of(&huge);
    assert!(huge_error.contains("allocate"), "{huge_error}");
    let foreign_error = error_of(&foreign);
    assert!(
        foreign_error.contains(&format!(
            "schema id {foreign_id} is not one of our subjects"
        )),
        "{foreign_error}"
    );

    worker.stop().await;
    h.stop().await;
}

/// The catalog, except that it fails on CourseCreated "Poison" while `broken`.
struct FlakyCatalog {
    broken: AtomicBool,
}

impl Projection for FlakyCatalog {
    fn name(&self) -> &'static str {
        CourseCatalogProjection.name()
    }
    fn schema(&self) -> &'static str {
        CourseCatalogProjection.schema()
    }
    fn topics(&self) -> &'static [&'static str] {
        CourseCatalogProjection.topics()
    }
    async fn apply(
        &self,
        tx: &mut PgConnection,
        schema: &str,
        event: &DecodedEvent,
        redis: &mut RedisEffects,
    ) -> Result<(), ApplyError> {
        if let LmsEvent::Course(CourseEvent::CourseCreated { title, .. }) = &event.event {
            if title == "Poison" && self.broken.load(Ordering::SeqCst) {
                return Err(ApplyError::Rejected("poisoned for the test".into()));
            }
        }
        CourseCatalogProjection
            .apply(tx, schema, event, redis)
            .await
    }
}

/// (sequence, reason) of an aggregate's parked events, in order.
async fn parked(h: &Harness, aggregate_id: &str) -> Vec<(i64, String)> {
    sqlx::query_as(
        "SELECT sequence, reason FROM catalog.parked
          WHERE projection = 'course-catalog' AND aggregate_id = $1 ORDER BY sequence",
    )
    .bind(aggregate_id)
    .fetch_all(&h.db.pool)
    .await
    .unwrap()
}

async fn capacity(h: &Harness, course: &str) -> Option<i32> {
    sqlx::query_scalar("SELECT capacity FROM catalog.courses WHERE course_id = $1::uuid")
        .bind(course)
        .fetch_optional(&h.db.pool)
        .await
        .unwrap()
}

/// Nothing reached the DLQ within a few seconds.
fn assert_no_dead_letter(h: &Harness) {
    let dlq = read_all(
        &h.config.kafka_brokers,
        &h.config.dlq(),
        1,
        Duration::from_secs(3),
    );
    assert!(dlq.is_empty(), "{} dead letters", dlq.len());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_event_parks_its_aggregate_and_a_redrive_applies_it_and_the_later_ones_in_order()
{
    let h = Harness::start().await;
    let instructor = Caller::instructor();
    let flaky = Arc::new(FlakyCatalog {
        broken: AtomicBool::new(true),
    });
    let worker = h.start_worker(flaky.clone());
    let (poison, _) = h.course(instructor, "Poison", false).await;
    // Two valid events of the same course after the refused one.
    h.change_capacity(instructor, &poison, 21).await;
    let third = h.change_capacity(instructor, &poison, 33).await;
    assert_eq!(third, 3);
    let (fine, fine_seq) = h.course(instructor, "Fine", false).await;
    h.wait_applied("catalog", "course-catalog", &fine, fine_seq)
        .await;
    // The later two wait behind the first; the checkpoint moved past all four.
    eventually(Duration::from_secs(30), || async {
        let covered: Option<i64> = sqlx::query_scalar(
            "SELECT sum(next_offset)::bigint FROM catalog.checkpoints WHERE projection = 'course-catalog'",
        )
        .fetch_one(&h.db.pool)
        .await
        .unwrap();
        covered == Some(4) && parked(&h, &poison).await.len() == 3
    })
    .await
    .expect("checkpoint past the four records, three of them parked");
    assert_eq!(
        parked(&h, &poison).await,
        vec![
            (1, "poisoned for the test".to_string()),
            (2, lms_projections::apply::BEHIND.to_string()),
            (3, lms_projections::apply::BEHIND.to_string()),
        ]
    );
    assert_eq!(titles(&h).await, vec!["Fine"]);
    assert_eq!(h.applied("catalog", "course-catalog", &poison).await, 0);
    assert_no_dead_letter(&h);

    // Still broken: the redrive fails the first again and leaves all three.
    let report = redrive(flaky.clone(), &h.services, &lms_runtime::Shutdown::new())
        .await
        .unwrap();
    assert_eq!(
        report,
        RedriveReport {
            still_parked: 3,
            ..Default::default()
        }
    );
    assert_eq!(parked(&h, &poison).await.len(), 3);
    assert_eq!(capacity(&h, &poison).await, None);

    // Fixed: all three applied in order, once; no rebuild needed.
    flaky.broken.store(false, Ordering::SeqCst);
    let report = redrive(flaky.clone(), &h.services, &lms_runtime::Shutdown::new())
        .await
        .unwrap();
    assert_eq!(
        report,
        RedriveReport {
            unparked: 3,
            ..Default::default()
        }
    );
    assert_eq!(titles(&h).await, vec!["Fine", "Poison"]);
    assert_eq!(
        capacity(&h, &poison).await,
        Some(33),
        "the last change wins"
    );
    assert_eq!(h.applied("catalog", "course-catalog", &poison).await, 3);
    assert!(parked(&h, &poison).await.is_empty());
    let mut redis = h.redis().await;
    let card: Option<String> = redis::cmd("HGET")
        .arg(format!("{}:course:{poison}", h.config.redis_prefix))
        .arg("capacity")
        .query_async(&mut redis)
        .await
        .unwrap();
    assert_eq!(card.as_deref(), Some("33"), "the Redis card too");

    // The live worker applies what comes next, no longer parking it.
    let fourth = h.change_capacity(instructor, &poison, 44).await;
    h.wait_applied("catalog", "course-catalog", &poison, fourth)
        .await;
    assert_eq!(capacity(&h, &poison).await, Some(44));
    let report = redrive(flaky.clone(), &h.services, &lms_runtime::Shutdown::new())
        .await
        .unwrap();
    assert_eq!(report, RedriveReport::default());

    // The first record applied once more through the transactional path: skipped.
    let (brokers, topic) = (h.config.kafka_brokers.clone(), h.topic("lms.course.v1"));
    let records =
        tokio::task::spawn_blocking(move || read_all(&brokers, &topic, 6, Duration::from_secs(30)))
            .await
            .unwrap();
    let first = records
        .iter()
        .find(|r| r.key() == Some(poison.as_bytes()))
        .unwrap();
    let event = RecordDecoder::new(&h.registry.url)
        .decode(first.payload())
        .await
        .unwrap();
    assert_eq!(event.envelope.sequence, 1);
    let position = KafkaPosition {
        topic: first.topic().to_string(),
        partition: first.partition(),
        offset: first.offset(),
        expected_next: None,
    };
    let read = Read {
        position: &position,
        payload: first.payload().unwrap(),
    };
    let outcome = h
        .services
        .applier(flaky.clone())
        .apply_once(&event, read, false)
        .await
        .unwrap();
    assert_eq!(outcome, Outcome::Skipped);
    assert_eq!(capacity(&h, &poison).await, Some(44));

    worker.stop().await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn records_polled_together_apply_in_one_transaction_and_a_refused_one_is_parked_alone() {
    let h = Harness::start().await;
    let instructor = Caller::instructor();
    let flaky = Arc::new(FlakyCatalog {
        broken: AtomicBool::new(true),
    });
    // Everything is on the topic before the worker starts: its first polls
    // bring many records at once.
    let mut fine = Vec::new();
    for n in 0..10 {
        fine.push(h.course(instructor, &format!("Fine {n:02}"), false).await);
    }
    wait_for_topic(&h, 10).await;
    let worker = h.start_worker(flaky.clone());
    for (course, sequence) in &fine {
        h.wait_applied("catalog", "course-catalog", course, *sequence)
            .await;
    }
    // `applied.updated_at` is the transaction's time: fewer distinct ones
    // than courses means several courses' events shared a transaction.
    let transactions: i64 = sqlx::query_scalar(
        "SELECT count(DISTINCT updated_at) FROM catalog.applied WHERE projection = 'course-catalog'",
    )
    .fetch_one(&h.db.pool)
    .await
    .unwrap();
    assert!(
        transactions < 10,
        "10 courses polled together were applied in {transactions} transactions"
    );

    // A poison record among its neighbours of one poll.
    worker.stop().await;
    let mut more = Vec::new();
    for n in 10..20 {
        let title = if n == 15 {
            "Poison".to_string()
        } else {
            format!("Fine {n:02}")
        };
        more.push(h.course(instructor, &title, false).await);
    }
    wait_for_topic(&h, 20).await;
    let worker = h.start_worker(flaky.clone());
    for (n, (course, sequence)) in more.iter().enumerate() {
        if n != 5 {
            h.wait_applied("catalog", "course-catalog", course, *sequence)
                .await;
        }
    }
    eventually(Duration::from_secs(30), || async {
        parked(&h, &more[5].0).await.len() == 1
    })
    .await
    .expect("the refused event parked");
    let all_parked: i64 = sqlx::query_scalar("SELECT count(*) FROM catalog.parked")
        .fetch_one(&h.db.pool)
        .await
        .unwrap();
    assert_eq!(all_parked, 1, "only the refused event is parked");
    assert_no_dead_letter(&h);
    let titles = titles(&h).await;
    assert_eq!(titles.len(), 19);
    assert!(!titles.contains(&"Poison".to_string()));
    worker.stop().await;
    h.stop().await;
}

/// Waits until the relay has published `count` records of the course topic.
async fn wait_for_topic(h: &Harness, count: usize) {
    let records = read_all(
        &h.config.kafka_brokers,
        &h.topic("lms.course.v1"),
        count,
        Duration::from_secs(30),
    );
    assert!(
        records.len() >= count,
        "only {} records published",
        records.len()
    );
}

#[tokio::test]
async fn a_dead_letter_the_broker_never_acknowledges_gives_up_when_shutdown_is_asked() {
    // Nothing listens there: the producer never gets an acknowledgement.
    let nowhere = lms_testkit::ports::free_addr();
    let dead_letters = lms_projections::dlq::DeadLetters::new(&nowhere, "lms.dlq.v1").unwrap();
    let record = rdkafka::message::OwnedMessage::new(
        Some(b"bytes".to_vec()),
        Some(b"key".to_vec()),
        "t.lms.course.v1".into(),
        rdkafka::Timestamp::NotAvailable,
        0,
        7,
        None,
    );
    let stop = lms_runtime::Shutdown::new();
    let cancel = stop.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(500)).await;
        cancel.cancel();
    });
    let sent = tokio::time::timeout(
        Duration::from_secs(10),
        dead_letters.send(&record, "course-catalog", "bad bytes", &stop),
    )
    .await
    .expect("send returns once shutdown is asked");
    assert_eq!(sent, Err(lms_projections::dlq::Stopped));
}
