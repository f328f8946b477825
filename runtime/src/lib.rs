//! The plumbing every LMS service shares, written once: settings from
//! `LMS_*` variables, logs and Prometheus metrics, one shutdown token,
//! connects to Postgres and Redis with one retry policy and one rule for
//! what counts as "unavailable", and the gRPC server with health,
//! reflection and graceful stop.
//!
//! Features keep a worker lean: `postgres`, `redis`, `grpc` (tonic),
//! `auth` (access tokens).

#[cfg(feature = "auth")]
pub mod auth;
pub mod client_address;
#[cfg(feature = "postgres")]
pub mod database;
#[cfg(feature = "grpc")]
pub mod grpc;
#[cfg(feature = "redis")]
pub mod redis;
pub mod retry;
pub mod settings;
pub mod shutdown;
pub mod telemetry;

pub use secrecy::{ExposeSecret, SecretString};
pub use settings::Settings;
pub use shutdown::Shutdown;
pub use telemetry::LogFormat;
