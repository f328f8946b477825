//! The schema registry in-process on a random port, with HTTP helpers.

use crate::background::Background;
use reqwest::StatusCode;
use serde_json::Value;
use sqlx::PgPool;
use std::net::SocketAddr;
use tokio::net::TcpListener;

pub const CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";

/// The admin credential of every test registry (writes need it).
pub const ADMIN_USER: &str = "lms-admin";
pub const ADMIN_PASSWORD: &str = "test-registry-admin";

/// A running registry; stopped on `stop()` or when dropped.
pub struct Registry {
    pub addr: SocketAddr,
    pub url: String,
    pub http: reqwest::Client,
    server: Background<()>,
}

impl Registry {
    /// Migrates the registry's tables in `pool`'s database (they can sit
    /// beside the event store's) and serves them.
    pub async fn start(pool: &PgPool) -> Registry {
        let config = lms_schema_registry::Config {
            admin_user: ADMIN_USER.into(),
            admin_password: ADMIN_PASSWORD.into(),
            ..Default::default()
        };
        Self::start_with(pool, config).await
    }

    pub async fn start_with(pool: &PgPool, config: lms_schema_registry::Config) -> Registry {
        lms_schema_registry::migrate(pool)
            .await
            .expect("registry migrations");
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind registry");
        let addr = listener.local_addr().expect("registry address");
        let pool = pool.clone();
        let server = Background::spawn(|stop| async move {
            if let Err(e) = lms_schema_registry::serve(&config, pool, listener, stop).await {
                panic!("registry failed: {e}");
            }
        });
        Registry {
            addr,
            url: format!("http://{addr}"),
            http: reqwest::Client::new(),
            server,
        }
    }

    /// Stops and waits for in-flight requests.
    pub async fn stop(self) {
        self.server.stop("registry").await;
    }

    /// Sends a request as the admin (a JSON body, if any, with Confluent's
    /// content type) and returns status and parsed JSON body (`Null` when
    /// empty or not JSON).
    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        self.call_as(Some((ADMIN_USER, ADMIN_PASSWORD)), method, path, body)
            .await
    }

    /// As [`call`](Self::call), with `credential` (or none) as HTTP Basic.
    pub async fn call_as(
        &self,
        credential: Option<(&str, &str)>,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.url))
            .header("Accept", CONTENT_TYPE);
        if let Some((user, password)) = credential {
            request = request.basic_auth(user, Some(password));
        }
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
