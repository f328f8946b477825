//! Read models of issue #4 (see docs/read-models.md): their Postgres schemas
//! (`catalog`, `roster`, `dashboard`, `billing`), the typed rows of each
//! table with the queries on them, and the lms.query.v1 query API
//! (`lms-query`) that serves them, with Redis course cards when warm.

pub mod billing;
pub mod catalog;
pub mod config;
pub mod course_cache;
pub mod dashboard;
pub mod error;
pub mod grpc;
pub mod migrations;
pub mod page_token;
pub mod read_your_writes;
pub mod roster;
pub mod server;

pub use migrations::migrate;
pub use server::serve;
