//! The command service in-process, an in-process relay, callers and the
//! status helpers the command tests share.

use crate::db::TestDb;
use lms_commands::config::Config;
use lms_commands::relay::{self, RelayConfig};
use lms_commands::server;
use lms_proto::command::v1::course_commands_client::CourseCommandsClient;
use lms_proto::command::v1::enrollment_commands_client::EnrollmentCommandsClient;
use lms_proto::command::v1::subscription_commands_client::SubscriptionCommandsClient;
use lms_runtime::Shutdown;
use sqlx::PgPool;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;
use tonic::Request;
use uuid::Uuid;

/// Event-store reads for assertions.
impl TestDb {
    /// (event_type, metadata) of one aggregate's stream, in order.
    pub async fn events(
        &self,
        aggregate_type: &str,
        aggregate_id: &str,
    ) -> Vec<(String, serde_json::Value)> {
        sqlx::query_as(
            "SELECT event_type, metadata::jsonb FROM events
              WHERE aggregate_type = $1 AND aggregate_id = $2 ORDER BY sequence",
        )
        .bind(aggregate_type)
        .bind(aggregate_id)
        .fetch_all(&self.pool)
        .await
        .expect("read events")
    }

    pub async fn count_events(&self, event_type: &str) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM events WHERE event_type = $1")
            .bind(event_type)
            .fetch_one(&self.pool)
            .await
            .expect("count events")
    }

    pub async fn total_events(&self) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM events")
            .fetch_one(&self.pool)
            .await
            .expect("count events")
    }
}

/// The command server on random ports (gRPC and metrics); stopped on
/// `stop()` or when dropped.
pub struct CommandServer {
    pub addr: SocketAddr,
    pub metrics_addr: SocketAddr,
    shutdown: Shutdown,
    task: Option<JoinHandle<()>>,
    channel: Channel,
}

impl CommandServer {
    pub async fn start(db: &TestDb) -> CommandServer {
        Self::start_with(db, Config::default()).await
    }

    pub async fn start_with(db: &TestDb, mut config: Config) -> CommandServer {
        config.database_url = db.secret_url();
        let grpc = TcpListener::bind("127.0.0.1:0").await.expect("bind grpc");
        let metrics = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind metrics");
        let addr = grpc.local_addr().expect("grpc addr");
        let metrics_addr = metrics.local_addr().expect("metrics addr");
        let pool = lms_runtime::database::connect(&config.database_url, config.db_max_connections)
            .await
            .expect("pool");
        let shutdown = Shutdown::new();
        let stop = shutdown.clone();
        let task = tokio::spawn(async move {
            if let Err(e) = server::serve(&config, pool, grpc, Some(metrics), stop).await {
                panic!("command server failed: {e}");
            }
        });
        let channel = Channel::from_shared(format!("http://{addr}"))
            .expect("endpoint")
            .connect()
            .await
            .expect("connect to the command server");
        CommandServer {
            addr,
            metrics_addr,
            shutdown,
            task: Some(task),
            channel,
        }
    }

    pub fn channel(&self) -> Channel {
        self.channel.clone()
    }

    pub fn courses(&self) -> CourseCommandsClient<Channel> {
        CourseCommandsClient::new(self.channel.clone())
    }

    pub fn enrollments(&self) -> EnrollmentCommandsClient<Channel> {
        EnrollmentCommandsClient::new(self.channel.clone())
    }

    pub fn subscriptions(&self) -> SubscriptionCommandsClient<Channel> {
        SubscriptionCommandsClient::new(self.channel.clone())
    }

    /// Stops and waits for in-flight calls.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(task) = self.task.take() {
            task.await.expect("command server task");
        }
    }
}

impl Drop for CommandServer {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Relay settings for a test: its own topic prefix, 3 partitions, quick polls.
pub fn relay_config(db: &TestDb, brokers: &str, registry_url: &str) -> RelayConfig {
    RelayConfig {
        database_url: db.secret_url(),
        kafka_brokers: brokers.to_string(),
        schema_registry_url: registry_url.to_string(),
        topic_prefix: crate::topic_prefix(),
        topic_partitions: 3,
        delivery_timeout_ms: 30_000,
        poll_interval_ms: 100,
        ..Default::default()
    }
}

/// The relay running in-process; stopped on `stop()` or when dropped.
pub struct Relay {
    shutdown: Shutdown,
    task: Option<JoinHandle<Result<(), relay::RelayError>>>,
}

impl Relay {
    pub fn start(config: &RelayConfig, pool: &PgPool) -> Relay {
        let shutdown = Shutdown::new();
        let stop = shutdown.clone();
        let (config, pool) = (config.clone(), pool.clone());
        let task =
            tokio::spawn(async move { relay::run(&config, pool, stop.cancelled_owned()).await });
        Relay {
            shutdown,
            task: Some(task),
        }
    }

    /// Stops it; what `relay::run` returned.
    pub async fn stop(mut self) -> Result<(), relay::RelayError> {
        self.shutdown.cancel();
        match self.task.take() {
            Some(task) => task.await.expect("relay task"),
            None => Ok(()),
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Outbox rows not yet published.
pub async fn backlog(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM outbox WHERE published_at IS NULL")
        .fetch_one(pool)
        .await
        .expect("outbox backlog")
}

/// Waits until the relay published every outbox row; panics with a few of
/// the rows' last errors when it does not in time.
pub async fn wait_for_empty_outbox(pool: &PgPool, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    loop {
        let left = backlog(pool).await;
        if left == 0 {
            return;
        }
        if Instant::now() >= deadline {
            let errors: Vec<(i64, i32, Option<String>)> = sqlx::query_as(
                "SELECT position, attempts, last_error FROM outbox WHERE published_at IS NULL LIMIT 3",
            )
            .fetch_all(pool)
            .await
            .expect("outbox rows");
            panic!("{left} events still unpublished, e.g. {errors:?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[derive(Clone, Copy, Debug)]
pub struct Caller {
    pub id: Uuid,
    pub role: &'static str,
}

impl Caller {
    pub fn instructor() -> Caller {
        Caller {
            id: Uuid::now_v7(),
            role: "instructor",
        }
    }
    pub fn student() -> Caller {
        Caller {
            id: Uuid::now_v7(),
            role: "student",
        }
    }
    pub fn admin() -> Caller {
        Caller {
            id: Uuid::now_v7(),
            role: "admin",
        }
    }

    /// A request carrying this caller's identity.
    pub fn req<T>(&self, message: T) -> Request<T> {
        let mut request = Request::new(message);
        let metadata = request.metadata_mut();
        metadata.insert(
            "x-actor-id",
            MetadataValue::try_from(self.id.to_string()).expect("header"),
        );
        metadata.insert("x-actor-role", MetadataValue::from_static(self.role));
        request
    }
}
