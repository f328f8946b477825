//! What can go wrong between a stored event and its Avro record.

/// Errors of this crate; each names the event or record and the field at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaError {
    #[error("no topic for aggregate type '{0}'")]
    UnknownAggregate(String),
    #[error("no schema for event '{event_type}' of aggregate '{aggregate_type}'")]
    UnknownEvent {
        aggregate_type: String,
        event_type: String,
    },
    #[error("no schema named '{0}'")]
    UnknownRecord(String),
    #[error("event '{event_type}' version '{version}' has no upcaster to version {latest}")]
    UnsupportedVersion {
        event_type: String,
        version: String,
        latest: usize,
    },
    #[error("payload of '{event_type}' is not {{\"{event_type}\": {{...}}}} nor \"{event_type}\"")]
    MalformedPayload { event_type: String },
    #[error("{record}: field '{field}': {reason}")]
    Field {
        record: String,
        field: String,
        reason: String,
    },
    #[error("{record}: does not decode into the domain event: {reason}")]
    Domain { record: String, reason: String },
    #[error("schema file {file} is invalid: {reason}")]
    InvalidSchema { file: String, reason: String },
}
