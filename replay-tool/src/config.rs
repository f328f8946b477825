//! Settings: `LMS_*` environment variables with defaults for the local setup,
//! as the other binaries read them; `--database-url` overrides.

use crate::ReplayError;
use lms_runtime::{SecretString, Settings};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Postgres holding the event store (the lms-commands database).
    pub database_url: SecretString,
    /// Redis of the read models (rebuild, verify).
    pub redis_url: SecretString,
    /// Key prefix the projection workers write under (rebuild, verify).
    pub redis_prefix: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            database_url: "postgres://postgres@127.0.0.1:5432/lms".into(),
            redis_url: "redis://127.0.0.1:6379".into(),
            redis_prefix: "lms".into(),
        }
    }
}

impl Settings for Config {}

impl Config {
    /// The settings, or exit code 2 when one does not parse.
    pub fn read() -> Result<Self, ReplayError> {
        <Config as Settings>::load()
            .map_err(|e| ReplayError::Usage(format!("{e}: {}", source_of(&e))))
    }
}

fn source_of(e: &dyn std::error::Error) -> String {
    e.source().map(|s| s.to_string()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_the_store_and_the_read_models_redis() {
        assert_eq!(
            Config::names(),
            vec!["LMS_DATABASE_URL", "LMS_REDIS_PREFIX", "LMS_REDIS_URL"]
        );
    }
}
