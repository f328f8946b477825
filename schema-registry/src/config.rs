//! Settings of the schema registry: environment variables prefixed `LMS_`,
//! with defaults for the local setup (12-factor).

use figment::providers::{Env, Serialized};
use figment::Figment;
use serde::{Deserialize, Serialize};

pub const ENV_PREFIX: &str = "LMS_";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Config {
    /// Postgres holding the registry (schema `schema_registry`; it can share
    /// the event store's database).
    pub database_url: String,
    pub db_max_connections: u32,
    /// HTTP listen address: the Confluent API, `/health` and `/metrics`.
    pub http_addr: String,
    /// Global compatibility level until one is PUT on `/config`. The
    /// project's policy is BACKWARD_TRANSITIVE (Confluent's default is
    /// BACKWARD): a consumer on the newest schema must read every event ever
    /// written, since projections replay from the beginning.
    pub default_compatibility: String,
    /// `text` or `json` logs.
    pub log_format: String,
    /// tracing filter, e.g. `info,lms_schema_registry=debug`.
    pub log: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            database_url: "postgres://postgres@127.0.0.1:5432/lms".into(),
            db_max_connections: 10,
            http_addr: "127.0.0.1:8081".into(),
            default_compatibility: "BACKWARD_TRANSITIVE".into(),
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
        let defaults = serde_json::to_value(Config::default()).unwrap_or_default();
        let mut names: Vec<String> = defaults
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
}
