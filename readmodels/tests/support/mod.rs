//! Test harness: each test gets its own fresh Postgres database (migrated)
//! and Redis key prefix, and the real query server on a random port.
#![allow(dead_code)]

use lms_proto::query::v1::billing_queries_client::BillingQueriesClient;
use lms_proto::query::v1::course_queries_client::CourseQueriesClient;
use lms_proto::query::v1::student_queries_client::StudentQueriesClient;
use lms_readmodels::config::Config;
use lms_readmodels::server;
use redis::aio::ConnectionManager;
use sqlx::PgPool;
use std::net::SocketAddr;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::Channel;
use tonic::Status;
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
    /// A fresh, empty database (not migrated).
    pub async fn empty() -> TestDb {
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
        let pool = PgPool::connect(&url).await.expect("connect test database");
        TestDb { name, url, pool }
    }

    /// A fresh database with the read-model schemas.
    pub async fn create() -> TestDb {
        let db = Self::empty().await;
        lms_readmodels::migrate(&db.pool).await.expect("migrate");
        db
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
}

/// A running query server on a random port, with its own Redis key prefix.
pub struct TestServer {
    pub addr: SocketAddr,
    pub metrics_addr: SocketAddr,
    pub prefix: String,
    pub redis: ConnectionManager,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
    channel: Channel,
}

pub fn redis_url() -> String {
    std::env::var("LMS_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_string())
}

impl TestServer {
    pub async fn start(db: &TestDb) -> TestServer {
        Self::start_with(db, Config::default()).await
    }

    pub async fn start_with(db: &TestDb, mut config: Config) -> TestServer {
        config.database_url = db.url.clone();
        config.redis_url = redis_url();
        config.redis_prefix = format!("lms_test_{}", Uuid::now_v7().simple());
        let grpc = TcpListener::bind("127.0.0.1:0").await.expect("bind grpc");
        let metrics = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind metrics");
        let addr = grpc.local_addr().expect("grpc addr");
        let metrics_addr = metrics.local_addr().expect("metrics addr");
        let pool = server::connect_postgres(&db.url, 10).await.expect("pool");
        let redis = server::connect_redis(&config.redis_url)
            .await
            .expect("redis");
        let prefix = config.redis_prefix.clone();
        let server_redis = redis.clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let shutdown = async {
                let _ = stopped.await;
            };
            if let Err(e) =
                server::serve(&config, pool, server_redis, grpc, Some(metrics), shutdown).await
            {
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
            prefix,
            redis,
            stop: Some(stop),
            task: Some(task),
            channel,
        }
    }

    pub fn courses(&self) -> CourseQueriesClient<Channel> {
        CourseQueriesClient::new(self.channel.clone())
    }

    pub fn students(&self) -> StudentQueriesClient<Channel> {
        StudentQueriesClient::new(self.channel.clone())
    }

    pub fn billing(&self) -> BillingQueriesClient<Channel> {
        BillingQueriesClient::new(self.channel.clone())
    }

    /// Runs a Redis command with this test's key prefix substituted for `{p}`.
    pub async fn redis_cmd(&self, args: &[&str]) {
        let mut redis = self.redis.clone();
        let mut cmd = redis::cmd(args[0]);
        for arg in &args[1..] {
            cmd.arg(arg.replace("{p}", &self.prefix));
        }
        let _: redis::Value = cmd.query_async(&mut redis).await.expect("redis command");
    }

    /// Stops the server and deletes this test's Redis keys.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("server task");
        }
        let mut redis = self.redis.clone();
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{}:*", self.prefix))
            .query_async(&mut redis)
            .await
            .unwrap_or_default();
        if !keys.is_empty() {
            let _: Result<i64, _> = redis::cmd("DEL").arg(keys).query_async(&mut redis).await;
        }
    }
}

/// The `BadRequest` field names of a status.
pub fn violated_fields(status: &Status) -> Vec<String> {
    status
        .get_details_bad_request()
        .map(|br| br.field_violations.into_iter().map(|v| v.field).collect())
        .unwrap_or_default()
}

/// Sets `applied.last_sequence` of one aggregate as a projection would.
pub async fn set_applied(
    pool: &PgPool,
    schema: &str,
    projection: &str,
    aggregate_type: &str,
    aggregate_id: &str,
    sequence: i64,
) {
    sqlx::query(&format!(
        "INSERT INTO {schema}.applied (projection, aggregate_type, aggregate_id, last_sequence)
         VALUES ($1, $2, $3, $4)
         ON CONFLICT (projection, aggregate_type, aggregate_id)
         DO UPDATE SET last_sequence = EXCLUDED.last_sequence, updated_at = now()"
    ))
    .bind(projection)
    .bind(aggregate_type)
    .bind(aggregate_id)
    .bind(sequence)
    .execute(pool)
    .await
    .expect("set applied");
}
