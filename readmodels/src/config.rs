//! Settings of the query service `lms-query`: environment variables prefixed
//! `LMS_`, with defaults for the local setup (12-factor).

use figment::providers::{Env, Serialized};
use figment::Figment;
use serde::{Deserialize, Serialize};
use std::time::Duration;

pub const ENV_PREFIX: &str = "LMS_";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Config {
    /// Postgres holding the read models.
    pub database_url: String,
    pub db_max_connections: u32,
    /// Redis holding the course cards (warm path).
    pub redis_url: String,
    /// Key prefix of every Redis key (`<prefix>:course:<id>`, ...).
    pub redis_prefix: String,
    /// gRPC listen address.
    pub grpc_addr: String,
    /// Prometheus `/metrics` listen address.
    pub metrics_addr: String,
    /// How long a query with `min_position` waits for the projection.
    pub read_your_writes_timeout_ms: u64,
    /// `text` or `json` logs.
    pub log_format: String,
    /// tracing filter, e.g. `info,lms_readmodels=debug`.
    pub log: String,
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
            log_format: "text".into(),
            log: "info".into(),
        }
    }
}

impl Config {
    pub fn load() -> Result<Self, Box<figment::Error>> {
        Figment::from(Serialized::defaults(Config::default()))
            .merge(Env::prefixed(ENV_PREFIX))
            .extract()
            .map_err(Box::new)
    }

    /// The environment variables this binary reads (for `--print-settings`
    /// and the deployment check).
    pub fn settings() -> Vec<String> {
        setting_names(&Config::default())
    }

    pub fn read_your_writes_timeout(&self) -> Duration {
        Duration::from_millis(self.read_your_writes_timeout_ms)
    }
}

/// `LMS_<FIELD>` for every field of a settings struct.
pub fn setting_names<T: Serialize>(defaults: &T) -> Vec<String> {
    let fields = serde_json::to_value(defaults).unwrap_or_default();
    let mut names: Vec<String> = fields
        .as_object()
        .map(|fields| {
            fields
                .keys()
                .map(|k| format!("{ENV_PREFIX}{}", k.to_uppercase()))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}
