//! Settings: `LMS_*` environment variables with defaults for the local setup,
//! as the other binaries read them; `--database-url` overrides.

use crate::ReplayError;
use figment::providers::{Env, Serialized};
use figment::Figment;
use serde::{Deserialize, Serialize};

pub const ENV_PREFIX: &str = "LMS_";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Config {
    /// Postgres holding the event store (the lms-commands database).
    pub database_url: String,
    /// Redis of the read models (rebuild, verify).
    pub redis_url: String,
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

impl Config {
    pub fn load() -> Result<Self, ReplayError> {
        Figment::from(Serialized::defaults(Config::default()))
            .merge(Env::prefixed(ENV_PREFIX))
            .extract()
            .map_err(|e| ReplayError::Usage(format!("reading LMS_* settings: {e}")))
    }

    /// The environment variables this binary reads (`--print-settings`, used
    /// by the deployment check).
    pub fn settings() -> Vec<String> {
        let fields = serde_json::to_value(Config::default()).unwrap_or_default();
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
}

/// The URL without its password, for messages.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let Some((credentials, host)) = rest.rsplit_once('@') else {
        return url.to_string();
    };
    match credentials.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_hides_only_the_password() {
        assert_eq!(
            redact("postgres://app:s3cr@t@db:5432/lms"),
            "postgres://app:***@db:5432/lms"
        );
        assert_eq!(
            redact("postgres://postgres@127.0.0.1:5432/lms"),
            "postgres://postgres@127.0.0.1:5432/lms"
        );
        assert_eq!(redact("not a url"), "not a url");
    }

    #[test]
    fn settings_are_the_store_and_the_read_models_redis() {
        assert_eq!(
            Config::settings(),
            vec!["LMS_DATABASE_URL", "LMS_REDIS_PREFIX", "LMS_REDIS_URL"]
        );
    }
}
