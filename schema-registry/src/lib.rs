//! A Confluent-API-compatible Avro schema registry on Postgres.
//!
//! Start it in-process (tests of other crates do):
//! ```no_run
//! # async fn demo(pool: sqlx::PgPool) -> Result<(), lms_schema_registry::RegistryError> {
//! let config = lms_schema_registry::Config::default();
//! lms_schema_registry::migrate(&pool).await?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! lms_schema_registry::serve(&config, pool, listener, lms_runtime::Shutdown::new()).await
//! # }
//! ```
//! The global compatibility level defaults to BACKWARD_TRANSITIVE, the
//! project's policy (Confluent's default is BACKWARD); `LMS_DEFAULT_COMPATIBILITY`
//! or `PUT /config` change it.

pub mod compatibility;
pub mod config;
pub mod error;
mod http_metrics;
pub mod normalize;
pub mod registry;
mod routes;
pub mod server;
pub mod store;

pub use config::Config;
pub use error::RegistryError;
pub use server::serve;

/// Creates or updates the registry's tables (schema `schema_registry`).
pub async fn migrate(pool: &sqlx::PgPool) -> Result<(), RegistryError> {
    Ok(store::migrate(pool).await?)
}
