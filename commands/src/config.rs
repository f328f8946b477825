//! Settings of the command service: environment variables prefixed `LMS_`,
//! with defaults for the local setup (12-factor).

use lms_runtime::{LogFormat, SecretString, Settings};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Postgres holding the event store.
    pub database_url: SecretString,
    pub db_max_connections: u32,
    /// gRPC listen address.
    pub grpc_addr: String,
    /// Prometheus `/metrics` listen address.
    pub metrics_addr: String,
    /// Version-conflict retries before a command is `Aborted`.
    pub conflict_retries: usize,
    /// Snapshot the Course aggregate every N events (0 = never).
    pub course_snapshot_every: usize,
    /// `development` or `production`: production refuses the sandbox
    /// payment gateway.
    pub environment: String,
    /// `sandbox` (approves every card but `pm_card_declined`; development,
    /// tests, demos) or `disabled` (every charge answered UNAVAILABLE: no
    /// real gateway is integrated yet).
    pub payment_gateway: String,
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
    /// tracing filter, e.g. `info,lms_commands=debug`.
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
            grpc_addr: "127.0.0.1:50051".into(),
            metrics_addr: "127.0.0.1:9101".into(),
            conflict_retries: 25,
            course_snapshot_every: 100,
            environment: "development".into(),
            payment_gateway: "sandbox".into(),
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
