//! Test harness: starts the real registry in-process on a random port
//! against its own fresh Postgres database, so tests run in parallel.
#![allow(dead_code)]

use lms_schema_registry::Config;
use reqwest::StatusCode;
use serde_json::Value;
use sqlx::PgPool;
use std::net::SocketAddr;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use uuid::Uuid;

pub const CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";

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
            .expect("connect admin database (is Postgres up? scripts/infra.sh up)");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&admin)
            .await
            .expect("create test database");
        admin.close().await;
        let url = with_database(&admin_url(), &name);
        let pool = lms_schema_registry::connect(&url, 10)
            .await
            .expect("connect test database");
        lms_schema_registry::migrate(&pool).await.expect("migrate");
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
}

pub struct TestRegistry {
    pub addr: SocketAddr,
    pub url: String,
    pub http: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl TestRegistry {
    pub async fn start(db: &TestDb) -> TestRegistry {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind http");
        let addr = listener.local_addr().expect("http addr");
        let config = Config {
            database_url: db.url.clone(),
            ..Config::default()
        };
        let pool = db.pool.clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let shutdown = async {
                let _ = stopped.await;
            };
            if let Err(e) = lms_schema_registry::serve(&config, pool, listener, shutdown).await {
                panic!("registry failed: {e}");
            }
        });
        TestRegistry {
            addr,
            url: format!("http://{addr}"),
            http: reqwest::Client::new(),
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("registry task");
        }
    }

    /// Sends a request (a JSON body, if any, with Confluent's content type)
    /// and returns status and parsed JSON body (`Null` when empty or not JSON).
    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.url))
            .header("Accept", CONTENT_TYPE);
        if let Some(body) = body {
            request = request
                .header("Content-Type", CONTENT_TYPE)
                .body(body.to_string());
        }
        let response = request.send().await.expect("registry reachable");
        let status = response.status();
        let text = response.text().await.expect("response body");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call("GET", path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call("POST", path, Some(body)).await
    }

    pub async fn put(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call("PUT", path, Some(body)).await
    }

    /// Registers `schema` (Avro JSON) under `subject`; returns status and body.
    pub async fn register(&self, subject: &str, schema: &Value) -> (StatusCode, Value) {
        self.post(
            &format!("/subjects/{subject}/versions"),
            serde_json::json!({ "schema": schema.to_string() }),
        )
        .await
    }

    /// Registers and expects success: the global id.
    pub async fn register_ok(&self, subject: &str, schema: &Value) -> i64 {
        let (status, body) = self.register(subject, schema).await;
        assert_eq!(status, StatusCode::OK, "register {subject}: {body}");
        body["id"].as_i64().expect("id in response")
    }

    pub async fn versions(&self, subject: &str) -> Vec<i64> {
        let (status, body) = self.get(&format!("/subjects/{subject}/versions")).await;
        assert_eq!(status, StatusCode::OK, "versions of {subject}: {body}");
        serde_json::from_value(body).expect("version list")
    }
}

/// A record schema named `lms.test.<name>` with the given fields.
pub fn record(name: &str, fields: Value) -> Value {
    serde_json::json!({
        "type": "record",
        "name": name,
        "namespace": "lms.test",
        "fields": fields,
    })
}

pub fn assert_error(status: StatusCode, body: &Value, expected_status: u16, expected_code: i64) {
    assert_eq!(status.as_u16(), expected_status, "body: {body}");
    assert_eq!(
        body["error_code"].as_i64(),
        Some(expected_code),
        "body: {body}"
    );
    assert!(body["message"].is_string(), "body: {body}");
}
