//! What can go wrong, each kind with its own exit code (docs/replay.md).

use std::fmt;
use std::io;

/// Exit codes of `lms-replay`.
pub mod exit {
    pub const OK: u8 = 0;
    /// A bug or an unexpected condition.
    pub const INTERNAL: u8 = 1;
    /// Bad arguments or settings (clap uses 2 for its own usage errors too).
    pub const USAGE: u8 = 2;
    /// No such aggregate, or nothing at the requested point.
    pub const NOT_FOUND: u8 = 3;
    /// The database cannot be reached, refuses us, or is not an event store.
    pub const DATABASE: u8 = 4;
    /// A stored event this build cannot read (unknown type or version, bad payload).
    pub const BAD_EVENT: u8 = 5;
    /// The output (stdout or `--output`) cannot be written.
    pub const OUTPUT: u8 = 6;
    /// `verify`: the live read model differs from a fresh rebuild.
    pub const DIFFERENCES: u8 = 7;
    /// Stopped by SIGINT or SIGTERM (128 + SIGINT, as shells report it).
    pub const INTERRUPTED: u8 = 130;
}

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    NotFound(String),
    #[error("unreachable: {at}: {reason}")]
    Unreachable { at: String, reason: String },
    #[error("database error while {doing}: {source}")]
    Database {
        doing: &'static str,
        source: sqlx::Error,
    },
    #[error("the database has no event store (table `events`): is it the lms-commands database? ({source})")]
    NoEventStore { source: sqlx::Error },
    #[error("event {event} cannot be read: {reason}")]
    BadEvent {
        event: Box<EventRef>,
        reason: String,
    },
    #[error("cannot write {target}: {source}")]
    Output { target: String, source: io::Error },
    #[error("internal error: {0}")]
    Internal(String),
    #[error("the live read model {0} differs from a fresh rebuild (listed above)")]
    Differences(String),
}

impl ReplayError {
    pub fn exit_code(&self) -> u8 {
        match self {
            ReplayError::Usage(_) => exit::USAGE,
            ReplayError::NotFound(_) => exit::NOT_FOUND,
            ReplayError::Unreachable { .. }
            | ReplayError::Database { .. }
            | ReplayError::NoEventStore { .. } => exit::DATABASE,
            ReplayError::BadEvent { .. } => exit::BAD_EVENT,
            ReplayError::Output { .. } => exit::OUTPUT,
            ReplayError::Internal(_) => exit::INTERNAL,
            ReplayError::Differences(_) => exit::DIFFERENCES,
        }
    }

    /// The output is a pipe whose reader has gone.
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, ReplayError::Output { source, .. } if source.kind() == io::ErrorKind::BrokenPipe)
    }

    /// A query failed; a missing `events` table gets its own message.
    pub fn database(doing: &'static str, source: sqlx::Error) -> ReplayError {
        let undefined_table = matches!(
            &source,
            sqlx::Error::Database(db) if db.code().as_deref() == Some("42P01")
        );
        if undefined_table {
            ReplayError::NoEventStore { source }
        } else {
            ReplayError::Database { doing, source }
        }
    }
}

/// Which stored event an error is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRef {
    pub position: i64,
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub sequence: i64,
    pub event_type: String,
    pub event_version: String,
}

impl fmt::Display for EventRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "at position {} ({} {} #{}, {} v{})",
            self.position,
            self.aggregate_type,
            self.aggregate_id,
            self.sequence,
            self.event_type,
            self.event_version
        )
    }
}
