//! Settings of the schema registry: environment variables prefixed `LMS_`,
//! with defaults for the local setup (12-factor).

use lms_runtime::{LogFormat, SecretString, Settings};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Postgres holding the registry (schema `schema_registry`; it can share
    /// the event store's database).
    pub database_url: SecretString,
    pub db_max_connections: u32,
    /// HTTP listen address: the Confluent API, `/health` and `/metrics`.
    pub http_addr: String,
    /// Global compatibility level until one is PUT on `/config`. The
    /// project's policy is BACKWARD_TRANSITIVE (Confluent's default is
    /// BACKWARD): a consumer on the newest schema must read every event ever
    /// written, since projections replay from the beginning.
    pub default_compatibility: String,
    /// The admin credential (HTTP Basic) that registering, deleting and
    /// configuring need; reads stay open. An empty password makes the
    /// registry read-only.
    pub admin_user: String,
    pub admin_password: SecretString,
    /// `text` or `json` logs.
    pub log_format: LogFormat,
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
            admin_user: "lms-admin".into(),
            admin_password: SecretString::from(""),
            log_format: LogFormat::Text,
            log: "info".into(),
        }
    }
}

impl Settings for Config {}
