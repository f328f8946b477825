//! `lms-replay`: reads the event store, the source of truth, for auditors and
//! operators (issue #5).
//!
//! - [`history`]: every event of one aggregate with who, when and why;
//! - [`state`]: an aggregate's state at a time or sequence, folded by the domain;
//! - [`export`]: events in position order as JSON Lines or an Avro container file;
//! - [`rebuild`]: rebuild a read model without downtime, verify a live one.
//!
//! Every command reads through [`store`]: one read-only REPEATABLE READ
//! snapshot, keyset pages of `--batch-size` rows, never the whole history in
//! memory. `main.rs` parses arguments and turns [`ReplayError`] into the exit
//! codes of [`exit`].

pub mod aggregate;
pub mod config;
pub mod error;
pub mod export;
pub mod history;
pub mod output;
pub mod rebuild;
pub mod state;
pub mod store;

pub use aggregate::AggregateType;
pub use config::Config;
pub use error::{exit, ReplayError};
