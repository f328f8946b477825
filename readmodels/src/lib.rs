//! The read models (docs/read-models.md): their Postgres schemas
//! (`catalog`, `roster`, `dashboard`, `billing`, `users`) and migrations, shadow
//! copies for rebuilds, and the typed rows of each table. Written by the
//! projection workers, read by the query service.

pub mod billing;
pub mod catalog;
pub mod dashboard;
pub mod migrations;
pub mod roster;
pub mod users;

pub use migrations::migrate;
