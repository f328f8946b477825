//! Projection test harness: the command server, the relay and the schema
//! registry of lms-commands' test support on a fresh database (event store
//! and read models), a unique topic prefix on the shared broker and a unique
//! Redis prefix; plus helpers to start workers and read Kafka raw.
#![allow(dead_code)]

#[path = "../../../commands/tests/support/mod.rs"]
pub mod support;

use lms_commands::relay::{self, RelayConfig};
use lms_projections::{run_projection, Config, Projection, Services, WorkerError};
use lms_proto::command::v1::*;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message, OwnedHeaders, OwnedMessage};
use rdkafka::producer::{FutureProducer, FutureRecord};
use std::future::Future;
use std::process::{Child, Command};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::kafka::{shared_brokers, unique_prefix, Registry};
use support::{new_id, Caller, TestDb, TestServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

pub struct Harness {
    pub db: TestDb,
    pub registry: Registry,
    pub server: TestServer,
    pub config: Config,
    pub services: Services,
    relay_stop: Option<oneshot::Sender<()>>,
    relay: Option<JoinHandle<()>>,
}

pub struct Worker {
    stop: watch::Sender<bool>,
    task: JoinHandle<Result<(), WorkerError>>,
}

impl Worker {
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        self.task
            .await
            .expect("worker task")
            .expect("worker ends cleanly");
    }
}

impl Harness {
    pub async fn start() -> Harness {
        let db = TestDb::create().await;
        lms_readmodels::migrate(&db.pool)
            .await
            .expect("read-model migrations");
        let registry = Registry::start(&db).await;
        let server = TestServer::start(&db).await;
        let relay_config = RelayConfig {
            database_url: db.url.clone(),
            kafka_brokers: shared_brokers(),
            schema_registry_url: registry.url.clone(),
            topic_prefix: unique_prefix(),
            topic_partitions: 3,
            delivery_timeout_ms: 30_000,
            poll_interval_ms: 100,
            ..Default::default()
        };
        let config = Config {
            database_url: db.url.clone(),
            redis_url: std::env::var("LMS_TEST_REDIS_URL")
                .unwrap_or_else(|_| "redis://127.0.0.1:6379".into()),
            redis_prefix: format!("t{}", uuid::Uuid::now_v7().simple()),
            kafka_brokers: shared_brokers(),
            schema_registry_url: registry.url.clone(),
            topic_prefix: relay_config.topic_prefix.clone(),
            max_handler_retries: 2,
            ..Default::default()
        };
        let (relay_stop, stopped) = oneshot::channel::<()>();
        let pool = db.pool.clone();
        let relay = tokio::spawn(async move {
            relay::run(&relay_config, pool, async {
                let _ = stopped.await;
            })
            .await
            .expect("relay");
        });
        let services = Services::connect(&config, db.pool.clone())
            .await
            .expect("services");
        Harness {
            db,
            registry,
            server,
            config,
            services,
            relay_stop: Some(relay_stop),
            relay: Some(relay),
        }
    }

    pub fn start_worker<P: Projection>(&self, projection: Arc<P>) -> Worker {
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(run_projection(projection, self.services.clone(), stopped));
        Worker { stop, task }
    }

    pub fn topic(&self, base: &str) -> String {
        self.config.topic(base)
    }

    pub async fn stop(mut self) {
        if let Some(stop) = self.relay_stop.take() {
            let _ = stop.send(());
        }
        if let Some(relay) = self.relay.take() {
            let _ = relay.await;
        }
        self.server.stop().await;
        self.db.drop_database().await;
    }

    /// Last sequence `projection` applied for an aggregate (0 if none).
    pub async fn applied(&self, schema: &str, projection: &str, aggregate_id: &str) -> i64 {
        sqlx::query_scalar::<_, i64>(&format!(
            "SELECT last_sequence FROM {schema}.applied WHERE projection = $1 AND aggregate_id = $2"
        ))
        .bind(projection)
        .bind(aggregate_id)
        .fetch_optional(&self.db.pool)
        .await
        .expect("applied")
        .unwrap_or(0)
    }

    pub async fn wait_applied(
        &self,
        schema: &str,
        projection: &str,
        aggregate_id: &str,
        sequence: i64,
    ) {
        eventually(Duration::from_secs(60), || async {
            self.applied(schema, projection, aggregate_id).await >= sequence
        })
        .await
        .unwrap_or_else(|_| panic!("{aggregate_id} not applied up to {sequence}"));
    }

    pub async fn redis(&self) -> redis::aio::ConnectionManager {
        self.services.redis.clone()
    }

    /// Creates a course with one module and one lesson; returns (id, last sequence).
    pub async fn course(&self, caller: Caller, title: &str, publish: bool) -> (String, i64) {
        let mut courses = self.server.courses();
        let reply = courses
            .create_course(caller.req(CreateCourseRequest {
                command_id: new_id(),
                course_id: String::new(),
                title: title.into(),
                description: "about it".into(),
                instructor_ids: vec![caller.id.to_string()],
                capacity: 10,
                access: None,
            }))
            .await
            .expect("create course")
            .into_inner();
        let course_id = reply.aggregate_id;
        if !publish {
            return (course_id, reply.sequence as i64);
        }
        let module_id = courses
            .add_module(caller.req(AddModuleRequest {
                command_id: new_id(),
                course_id: course_id.clone(),
                module_id: String::new(),
                title: "Basics".into(),
            }))
            .await
            .expect("add module")
            .into_inner()
            .created_id;
        courses
            .add_lesson(caller.req(AddLessonRequest {
                command_id: new_id(),
                course_id: course_id.clone(),
                module_id,
                lesson_id: String::new(),
                title: "First steps".into(),
            }))
            .await
            .expect("add lesson");
        let reply = courses
            .publish_course(caller.req(PublishCourseRequest {
                command_id: new_id(),
                course_id: course_id.clone(),
            }))
            .await
            .expect("publish")
            .into_inner();
        (course_id, reply.sequence as i64)
    }

    /// Sets a course's capacity; returns the command's sequence.
    pub async fn change_capacity(&self, caller: Caller, course_id: &str, capacity: u32) -> i64 {
        self.server
            .courses()
            .change_capacity(caller.req(ChangeCapacityRequest {
                command_id: new_id(),
                course_id: course_id.to_string(),
                capacity,
            }))
            .await
            .expect("change capacity")
            .into_inner()
            .sequence as i64
    }

    pub fn producer(&self) -> FutureProducer {
        ClientConfig::new()
            .set("bootstrap.servers", &self.config.kafka_brokers)
            .create()
            .expect("producer")
    }

    /// Produces raw bytes to a topic.
    pub async fn produce_raw(&self, topic: &str, key: &str, value: &[u8], headers: OwnedHeaders) {
        self.producer()
            .send(
                FutureRecord::to(topic)
                    .key(key)
                    .payload(value)
                    .headers(headers),
                Duration::from_secs(10),
            )
            .await
            .expect("produce raw");
    }
}

/// Every record of `topic` from the beginning, until `expected` arrived or `timeout`.
pub fn read_all(
    brokers: &str,
    topic: &str,
    expected: usize,
    timeout: Duration,
) -> Vec<OwnedMessage> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set(
            "group.id",
            format!("test-{}", uuid::Uuid::now_v7().simple()),
        )
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    consumer.subscribe(&[topic]).expect("subscribe");
    let deadline = Instant::now() + timeout;
    let mut records = Vec::new();
    while records.len() < expected && Instant::now() < deadline {
        if let Some(polled) = consumer.poll(Duration::from_millis(200)) {
            records.push(polled.expect("kafka message").detach());
        }
    }
    records
}

pub fn header(message: &OwnedMessage, name: &str) -> Option<String> {
    message.headers().and_then(|headers| {
        headers
            .iter()
            .find(|h| h.key == name)
            .and_then(|h| h.value.map(|v| String::from_utf8_lossy(v).to_string()))
    })
}

/// Polls `check` until it is true or `timeout` passed.
pub async fn eventually<F, Fut>(timeout: Duration, mut check: F) -> Result<(), ()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if check().await {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The `lms-projections` binary with this harness's settings.
pub fn binary(h: &Harness, metrics_addr: &str) -> Command {
    // Defined only when compiled as an lms-projections test (the replay
    // tests include this harness too, without the worker binary).
    let path: Option<&str> = option_env!("CARGO_BIN_EXE_lms-projections");
    let Some(path) = path else {
        panic!("the lms-projections binary is only known to lms-projections tests");
    };
    let mut command = Command::new(path);
    command
        .env("LMS_DATABASE_URL", &h.config.database_url)
        .env("LMS_REDIS_URL", &h.config.redis_url)
        .env("LMS_REDIS_PREFIX", &h.config.redis_prefix)
        .env("LMS_KAFKA_BROKERS", &h.config.kafka_brokers)
        .env("LMS_SCHEMA_REGISTRY_URL", &h.config.schema_registry_url)
        .env("LMS_TOPIC_PREFIX", &h.config.topic_prefix)
        .env("LMS_METRICS_ADDR", metrics_addr)
        .env(
            "LMS_LOG",
            std::env::var("LMS_TEST_CHILD_LOG").unwrap_or_else(|_| "warn".into()),
        );
    command
}

pub async fn scrape(addr: &str) -> String {
    let Ok(mut stream) = tokio::net::TcpStream::connect(addr).await else {
        return String::new();
    };
    let request = format!("GET /metrics HTTP/1.0\r\nHost: {addr}\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("io");
    let mut body = String::new();
    let _ = stream.read_to_string(&mut body).await;
    body
}

pub fn wait_exit(child: &mut Child, timeout: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("io") {
            return status;
        }
        assert!(Instant::now() < deadline, "did not exit in {timeout:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A free loopback address for a child's metrics.
pub fn free_addr() -> String {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    probe.local_addr().expect("addr").to_string()
}

/// The value of an unlabelled-or-labelled metric line starting with `series`
/// (e.g. `lms_projection_assigned_partitions{projection="roster"}`).
pub fn metric(body: &str, series: &str) -> Option<f64> {
    body.lines()
        .find_map(|line| line.strip_prefix(series))
        .and_then(|rest| rest.trim().parse().ok())
}
