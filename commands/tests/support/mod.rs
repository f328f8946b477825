//! Test harness: starts the real command server on a random port against its
//! own fresh Postgres database, so tests run in parallel.
#![allow(dead_code)]

pub mod kafka;

use lms_commands::config::Config;
use lms_commands::{server, store};
use lms_proto::command::v1::course_commands_client::CourseCommandsClient;
use lms_proto::command::v1::enrollment_commands_client::EnrollmentCommandsClient;
use lms_proto::command::v1::subscription_commands_client::SubscriptionCommandsClient;
use sqlx::PgPool;
use std::net::SocketAddr;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;
use tonic::{Code, Request, Status};
use tonic_types::StatusExt;
use uuid::Uuid;

/// Server-level Postgres URL (any database); tests create their own.
pub fn admin_url() -> String {
    std::env::var("LMS_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string())
}

fn with_database(url: &str, database: &str) -> String {
    match url.rsplit_once('/') {
        Some((base, _)) => format!("{base}/{database}"),
        None => format!("{url}/{database}"),
    }
}

pub struct TestDb {
    pub name: String,
    pub url: String,
    pub pool: PgPool,
}

impl TestDb {
    pub async fn create() -> TestDb {
        let name = format!("lms_test_{}", Uuid::now_v7().simple());
        let admin = PgPool::connect(&admin_url())
            .await
            .expect("connect admin database");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&admin)
            .await
            .expect("create test database");
        admin.close().await;
        let url = with_database(&admin_url(), &name);
        let pool = store::connect(&url, 30)
            .await
            .expect("connect test database");
        store::migrate(&pool).await.expect("migrate");
        TestDb { name, url, pool }
    }

    pub async fn drop_database(self) {
        self.pool.close().await;
        if let Ok(admin) = PgPool::connect(&admin_url()).await {
            let _ = sqlx::query(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .execute(&admin)
            .await;
        }
    }

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

pub struct TestServer {
    pub addr: SocketAddr,
    pub metrics_addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
    channel: Channel,
}

impl TestServer {
    pub async fn start(db: &TestDb) -> TestServer {
        Self::start_with(db, Config::default()).await
    }

    pub async fn start_with(db: &TestDb, mut config: Config) -> TestServer {
        config.database_url = db.url.clone();
        let grpc = TcpListener::bind("127.0.0.1:0").await.expect("bind grpc");
        let metrics = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind metrics");
        let addr = grpc.local_addr().expect("grpc addr");
        let metrics_addr = metrics.local_addr().expect("metrics addr");
        let pool = store::connect(&db.url, config.db_max_connections)
            .await
            .expect("pool");
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let shutdown = async {
                let _ = stopped.await;
            };
            if let Err(e) = server::serve(&config, pool, grpc, Some(metrics), shutdown).await {
                panic!("server failed: {e}");
            }
        });
        let channel = Channel::from_shared(format!("http://{addr}"))
            .expect("endpoint")
            .connect()
            .await
            .expect("connect to test server");
        TestServer {
            addr,
            metrics_addr,
            stop: Some(stop),
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

    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("server task");
        }
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

pub fn new_id() -> String {
    Uuid::now_v7().to_string()
}

/// The `ErrorInfo.reason` of a status, if any.
pub fn reason(status: &Status) -> Option<String> {
    status.get_details_error_info().map(|info| info.reason)
}

/// The `BadRequest` field names of a status.
pub fn violated_fields(status: &Status) -> Vec<String> {
    status
        .get_details_bad_request()
        .map(|br| br.field_violations.into_iter().map(|v| v.field).collect())
        .unwrap_or_default()
}

pub fn assert_refused(status: &Status, code: Code, expected_reason: &str) {
    assert_eq!(status.code(), code, "unexpected status: {status:?}");
    assert_eq!(
        reason(status).as_deref(),
        Some(expected_reason),
        "status: {status:?}"
    );
}
