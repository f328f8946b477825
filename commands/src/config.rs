//! Settings of the command service: environment variables prefixed `LMS_`,
//! with defaults for the local setup (12-factor).

use figment::providers::{Env, Serialized};
use figment::Figment;
use serde::{Deserialize, Serialize};

pub const ENV_PREFIX: &str = "LMS_";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Config {
    /// Postgres holding the event store.
    pub database_url: String,
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
    /// `text` or `json` logs.
    pub log_format: String,
    /// tracing filter, e.g. `info,lms_commands=debug`.
    pub log: String,
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
