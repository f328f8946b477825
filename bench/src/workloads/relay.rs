//! Relay: events per second from the outbox to Kafka (lms-relay draining a
//! backlog left by CreateCourse commands, measured from the rows'
//! `published_at`), against the raw baseline: an rdkafka FutureProducer with
//! the relay's producer settings sending the very records the relay
//! produced (key, Avro bytes, headers) to a topic of the same partition count
//! on the same broker.

use super::{Bench, WorkloadError};
use crate::report::{Row, Target, Unit};
use crate::services::Service;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use std::time::{Duration, Instant};

const WORKLOAD: &str = "relay";
/// Partitions lms-relay gives each topic (LMS_TOPIC_PARTITIONS default).
const PARTITIONS: i32 = 6;

/// One record as the relay produced it.
struct Produced {
    key: Vec<u8>,
    payload: Vec<u8>,
    headers: OwnedHeaders,
}

pub async fn run(bench: &mut Bench) -> Result<(), WorkloadError> {
    bench
        .services
        .stop(&[Service::Projections, Service::Query, Service::Relay])
        .await;
    let wanted = bench.sizes.relay_events;
    let backlog = u64::try_from(bench.unpublished().await?).unwrap_or(0);
    if backlog < wanted {
        top_up(bench, wanted - backlog).await?;
    }
    let backlog = bench.unpublished().await?;
    // The course topic is read back; the backlog also holds the user
    // events of the bench's sign-ups.
    let course_events: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM outbox o JOIN events e USING (position)
          WHERE o.published_at IS NULL AND e.aggregate_type = 'Course'",
    )
    .fetch_one(&bench.pool)
    .await?;
    crate::progress(&format!("relay: draining a backlog of {backlog} events"));
    let started = Instant::now();
    bench
        .services
        .ensure(&[Service::Registry, Service::Relay])
        .await?;
    let timeout = Duration::from_secs(120 + backlog.max(0) as u64 / 200);
    while bench.unpublished().await? > 0 {
        if started.elapsed() > timeout {
            return Err(WorkloadError::Failed(format!(
                "relay: {} events still unpublished after {} s (log: {})",
                bench.unpublished().await?,
                timeout.as_secs(),
                bench.services.log_path("lms-relay").display()
            )));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Rate between the first and the last acknowledged batch: start-up
    // (topic creation, leader election) is not counted, nor is the first
    // batch (its rows get one timestamp at its end).
    let (events, seconds): (i64, f64) = sqlx::query_as(
        "WITH span AS (SELECT min(published_at) AS first, max(published_at) AS last FROM outbox)
         SELECT count(*) FILTER (WHERE o.published_at > span.first),
                COALESCE(EXTRACT(EPOCH FROM (span.last - span.first))::float8, 0)
           FROM outbox o, span
          GROUP BY span.first, span.last",
    )
    .fetch_one(&bench.pool)
    .await?;
    let ours = events as f64 / seconds.max(1e-6);

    let brokers = bench.services.env.kafka_brokers.clone();
    let topic = format!("{}lms.course.v1", bench.services.env.topic_prefix);
    let idempotence = bench.services.env.producer_idempotence;
    crate::progress(&format!(
        "relay: reading back {course_events} records of {topic}"
    ));
    let records = tokio::task::spawn_blocking({
        let brokers = brokers.clone();
        let topic = topic.clone();
        let expected = usize::try_from(course_events).unwrap_or(0);
        move || read_back(&brokers, &topic, expected)
    })
    .await
    .map_err(|e| WorkloadError::Failed(format!("reading back: {e}")))??;
    let raw_topic = format!("{}raw.lms.course.v1", bench.services.env.topic_prefix);
    create_topic(&brokers, &raw_topic).await?;
    crate::progress(&format!(
        "relay: raw produce of {} records to {raw_topic}",
        records.len()
    ));
    let raw = produce_all(&brokers, &raw_topic, &records, idempotence).await?;

    let label = "rdkafka FutureProducer, relay's settings, same records";
    bench.report.push(
        Row::new(WORKLOAD, "outbox → Kafka events/s", Unit::PerSecond, ours)
            .raw(raw, label)
            .target(Target::RatioAtLeast(0.5)),
    );
    bench.report.note(format!(
        "relay: backlog {backlog} CreateCourse events (rate over {events} events in {seconds:.2} s between the first and last acknowledged batch); \
         raw = {label} ({} records, acks=all, idempotence={idempotence}, linger.ms=5)",
        records.len()
    ));
    Ok(())
}

/// Sends `missing` CreateCourse commands with the relay stopped.
async fn top_up(bench: &mut Bench, missing: u64) -> Result<(), WorkloadError> {
    bench.services.ensure(&[Service::Commands]).await?;
    crate::progress(&format!(
        "relay: seeding {missing} more CreateCourse commands"
    ));
    let client = bench.command_client().await?;
    let concurrency = bench.sizes.concurrency.max(1) as u64;
    let per_worker = missing.div_ceil(concurrency);
    let mut workers = tokio::task::JoinSet::new();
    for w in 0..concurrency {
        let client = client.clone();
        workers.spawn(async move {
            for i in 0..per_worker {
                client.create_course(format!("Relay seed {w}-{i}")).await?;
            }
            Ok::<(), crate::client::ClientError>(())
        });
    }
    while let Some(joined) = workers.join_next().await {
        joined.map_err(|e| WorkloadError::Failed(e.to_string()))??;
    }
    Ok(())
}

/// Every record of `topic` from the start, until `expected` arrived (60 s at most).
fn read_back(brokers: &str, topic: &str, expected: usize) -> Result<Vec<Produced>, WorkloadError> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set(
            "group.id",
            format!("lms-bench-{}", uuid::Uuid::now_v7().simple()),
        )
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()?;
    consumer.subscribe(&[topic])?;
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut records = Vec::with_capacity(expected);
    while records.len() < expected && Instant::now() < deadline {
        if let Some(polled) = consumer.poll(Duration::from_millis(200)) {
            let message = polled?;
            let headers = message.headers().map(|h| h.detach()).unwrap_or_default();
            records.push(Produced {
                key: message.key().unwrap_or_default().to_vec(),
                payload: message.payload().unwrap_or_default().to_vec(),
                headers,
            });
        }
    }
    if records.len() < expected {
        return Err(WorkloadError::Failed(format!(
            "read back only {} of {expected} records of {topic}",
            records.len()
        )));
    }
    Ok(records)
}

async fn create_topic(brokers: &str, topic: &str) -> Result<(), WorkloadError> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()?;
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let new = NewTopic::new(topic, PARTITIONS, TopicReplication::Fixed(1));
    for result in admin.create_topics(&[new], &options).await? {
        match result {
            Ok(_) | Err((_, rdkafka::error::RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => {
                return Err(WorkloadError::Failed(format!("creating {topic}: {code}")))
            }
        }
    }
    Ok(())
}

/// Sends every record, then waits for every acknowledgement; records/s.
async fn produce_all(
    brokers: &str,
    topic: &str,
    records: &[Produced],
    idempotence: bool,
) -> Result<f64, WorkloadError> {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", brokers)
        .set("acks", "all")
        .set("message.timeout.ms", "30000")
        .set("linger.ms", "5");
    if idempotence {
        config.set("enable.idempotence", "true");
    } else {
        config
            .set("enable.idempotence", "false")
            .set("max.in.flight.requests.per.connection", "1");
    }
    config.set("queue.buffering.max.messages", "1000000");
    let producer: FutureProducer = config.create()?;
    let Some(first) = records.first() else {
        return Err(WorkloadError::Failed("no record to produce".into()));
    };
    // A warm connection and metadata, as the relay has after its first batch.
    producer
        .send(
            FutureRecord::<[u8], [u8]>::to(topic)
                .key(&first.key[..])
                .payload(&first.payload[..]),
            Duration::from_secs(30),
        )
        .await
        .map_err(|(e, _)| e)?;
    let started = Instant::now();
    let mut deliveries = Vec::with_capacity(records.len());
    for record in records {
        let future = FutureRecord::to(topic)
            .key(&record.key[..])
            .payload(&record.payload[..])
            .headers(record.headers.clone());
        let delivery = producer.send_result(future).map_err(|(e, _)| e)?;
        deliveries.push(delivery);
    }
    for delivery in deliveries {
        match delivery.await {
            Ok(Ok(_)) => {}
            Ok(Err((e, _))) => return Err(e.into()),
            Err(_) => return Err(WorkloadError::Failed("delivery cancelled".into())),
        }
    }
    Ok(records.len() as f64 / started.elapsed().as_secs_f64().max(1e-6))
}
