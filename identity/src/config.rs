//! Settings of the identity service: `LMS_*` variables over local defaults.

use lms_runtime::{LogFormat, SecretString, Settings};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Postgres holding the event store (and the identity tables beside it).
    pub database_url: SecretString,
    pub db_max_connections: u32,
    /// gRPC listen address (`lms.identity.v1`).
    pub grpc_addr: String,
    /// Prometheus `/metrics` listen address.
    pub metrics_addr: String,
    /// HTTP listen address of `/.well-known/jwks.json`.
    pub jwks_addr: String,
    /// Directory of `<kid>.pem` Ed25519 keys (a mounted Secret).
    pub signing_keys_dir: String,
    /// The key id that signs; the others stay published for verification.
    pub signing_kid: String,
    /// `iss` of every token, and what verifiers expect.
    pub token_issuer: String,
    /// `aud` of every token, and what verifiers expect.
    pub token_audience: String,
    /// Access token lifetime.
    pub access_token_secs: u64,
    /// Lifetime of a sign-in (a refresh token family).
    pub refresh_token_secs: u64,
    /// Login attempts per account: a burst, then one per `..._every_secs`.
    pub login_account_burst: u32,
    pub login_account_every_secs: u64,
    /// Peers whose `x-forwarded-for` names the client of a login, e.g. the
    /// BFF's network (`10.0.0.0/8`, comma-separated). Empty: the peer is
    /// the client. Anyone else's header is ignored.
    pub trusted_proxies: String,
    /// Login attempts per client address: a burst, then one per `..._every_secs`.
    pub login_address_burst: u32,
    pub login_address_every_secs: u64,
    /// argon2id cost: memory in KiB, iterations, lanes (OWASP's minimum by default).
    pub password_memory_kib: u32,
    pub password_iterations: u32,
    pub password_lanes: u32,
    /// Version-conflict retries before a command is `Aborted`.
    pub conflict_retries: usize,
    pub log_format: LogFormat,
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
            db_max_connections: 10,
            grpc_addr: "127.0.0.1:50053".into(),
            metrics_addr: "127.0.0.1:9105".into(),
            jwks_addr: "127.0.0.1:8083".into(),
            signing_keys_dir: ".lms/keys".into(),
            signing_kid: "dev-1".into(),
            token_issuer: "lms-identity".into(),
            token_audience: "lms".into(),
            access_token_secs: 900,
            refresh_token_secs: 30 * 24 * 3600,
            login_account_burst: 5,
            login_account_every_secs: 20,
            trusted_proxies: String::new(),
            login_address_burst: 30,
            login_address_every_secs: 2,
            password_memory_kib: 19 * 1024,
            password_iterations: 2,
            password_lanes: 1,
            conflict_retries: 25,
            log_format: LogFormat::Text,
            log: "info".into(),
            grpc_max_concurrent_requests: 256,
            grpc_request_timeout_ms: 30_000,
            db_statement_timeout_ms: 10_000,
        }
    }
}

impl Settings for Config {}
