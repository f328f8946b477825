//! Settings of the query service `lms-query`: environment variables prefixed
//! `LMS_`, with defaults for the local setup (12-factor).

use lms_runtime::{LogFormat, SecretString, Settings};
use serde::Deserialize;
use std::time::Duration;

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Postgres holding the read models.
    pub database_url: SecretString,
    pub db_max_connections: u32,
    /// Redis holding the course cards (warm path).
    pub redis_url: SecretString,
    /// Key prefix of every Redis key (`<prefix>:course:<id>`, ...).
    pub redis_prefix: String,
    /// gRPC listen address.
    pub grpc_addr: String,
    /// Prometheus `/metrics` listen address.
    pub metrics_addr: String,
    /// How long a query with `min_position` waits for the projection.
    pub read_your_writes_timeout_ms: u64,
    /// The identity service's JWKS (URL, or a file path): the keys access
    /// tokens are verified with.
    pub auth_jwks: String,
    /// Expected `iss` and `aud` of access tokens.
    pub token_issuer: String,
    pub token_audience: String,
    /// How often the JWKS is read again (new keys before they sign).
    pub jwks_refresh_secs: u64,
    /// `text` or `json` logs.
    pub log_format: LogFormat,
    /// tracing filter, e.g. `info,lms_readmodels=debug`.
    pub log: String,
    /// API calls served at once; more are refused with RESOURCE_EXHAUSTED.
    pub grpc_max_concurrent_requests: usize,
    /// How long an API call may take before it is cancelled.
    pub grpc_request_timeout_ms: u64,
    /// Postgres `statement_timeout` of every connection (0: none).
    pub db_statement_timeout_ms: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            database_url: "postgres://postgres@127.0.0.1:5432/lms".into(),
            db_max_connections: 20,
            redis_url: "redis://127.0.0.1:6379".into(),
            redis_prefix: "lms".into(),
            grpc_addr: "127.0.0.1:50052".into(),
            metrics_addr: "127.0.0.1:9103".into(),
            read_your_writes_timeout_ms: 2000,
            auth_jwks: "http://127.0.0.1:8083/.well-known/jwks.json".into(),
            token_issuer: "lms-identity".into(),
            token_audience: "lms".into(),
            jwks_refresh_secs: 300,
            log_format: LogFormat::Text,
            log: "info".into(),
            grpc_max_concurrent_requests: 256,
            grpc_request_timeout_ms: 30_000,
            db_statement_timeout_ms: 10_000,
        }
    }
}

impl Settings for Config {}

impl Config {
    pub fn read_your_writes_timeout(&self) -> Duration {
        Duration::from_millis(self.read_your_writes_timeout_ms)
    }
}
