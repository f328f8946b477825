//! Settings from `LMS_*` environment variables over a struct's defaults
//! (12-factor). A settings struct is `#[serde(default)]` with a `Default`
//! holding the local setup's values; secrets are `SecretString` fields, so
//! no password reaches a log through `Debug`.

use figment::providers::Env;
use figment::Figment;
use serde::de::DeserializeOwned;

pub const ENV_PREFIX: &str = "LMS_";

#[derive(Debug, thiserror::Error)]
#[error("reading LMS_* settings")]
pub struct SettingsError(#[source] Box<figment::Error>);

/// A binary's settings.
///
/// ```
/// use lms_runtime::Settings;
///
/// #[derive(Debug, serde::Deserialize)]
/// #[serde(default)]
/// struct Demo { grpc_addr: String }
/// impl Default for Demo {
///     fn default() -> Self { Self { grpc_addr: "127.0.0.1:50051".into() } }
/// }
/// impl lms_runtime::Settings for Demo {}
/// assert_eq!(Demo::names(), vec!["LMS_GRPC_ADDR"]);
/// ```
pub trait Settings: DeserializeOwned + Default {
    /// The defaults, overridden by every `LMS_<FIELD>` variable that is set.
    fn load() -> Result<Self, SettingsError> {
        Figment::new()
            .merge(Env::prefixed(ENV_PREFIX))
            .extract()
            .map_err(|e| SettingsError(Box::new(e)))
    }

    /// The environment variables read, sorted (`--print-settings`, which
    /// the deployment check compares with the manifests).
    fn names() -> Vec<String> {
        let mut names: Vec<String> = serde_aux::serde_introspection::serde_introspect::<Self>()
            .iter()
            .map(|field| format!("{ENV_PREFIX}{}", field.to_uppercase()))
            .collect();
        names.sort();
        names
    }

    /// Prints [`Settings::names`], one a line.
    fn print_names() {
        for name in Self::names() {
            println!("{name}");
        }
    }
}

/// `--print-settings` among the process's arguments (for binaries without
/// a clap parser).
pub fn print_requested() -> bool {
    std::env::args().any(|a| a == "--print-settings")
}
