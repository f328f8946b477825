//! Read models of issue #4 (see docs/read-models.md): their Postgres schemas
//! (`catalog`, `roster`, `dashboard`, `billing`), the typed rows of each
//! table, and the lms.query.v1 query API that reads them.

pub mod billing;
pub mod catalog;
pub mod dashboard;
pub mod migrations;
pub mod roster;

pub use migrations::migrate;
