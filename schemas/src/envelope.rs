//! The envelope: the fields every event record carries besides its own, taken
//! from the event store's columns and metadata (written by commands' context).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Field names of the envelope, in record order (the first fields of every record).
pub const ENVELOPE_FIELDS: &[&str] = &[
    "event_id",
    "aggregate_type",
    "aggregate_id",
    "sequence",
    "occurred_at",
    "correlation_id",
    "causation_id",
    "actor_id",
    "actor_role",
    "tenant_id",
    "command_id",
];

/// Metadata keys copied into the record as they are.
pub(crate) const METADATA_FIELDS: &[&str] = &[
    "event_id",
    "occurred_at",
    "correlation_id",
    "causation_id",
    "actor_id",
    "actor_role",
    "tenant_id",
    "command_id",
];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    pub event_id: Uuid,
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub sequence: i64,
    /// Microsecond precision (Avro `timestamp-micros`).
    pub occurred_at: DateTime<Utc>,
    pub correlation_id: String,
    pub causation_id: String,
    pub actor_id: String,
    pub actor_role: String,
    pub tenant_id: String,
    pub command_id: String,
}
