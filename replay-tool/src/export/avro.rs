//! The Avro export. An object container file has exactly one writer schema
//! and an export holds many event types, so the schema is a wrapper record
//! `lms.replay.v1.ExportedEvent`: the store's own columns (`position`,
//! `recorded_at`, `event_type`, the stored `event_version`, every `metadata`
//! key) and `event`, a union of the latest record schema of every event type
//! exported (`schemas/avro`, via `lms_schemas::to_avro`, which upcasts).
//! Readers pick the branch by record name (fastavro: `return_record_name`).
//!
//! Avro names must be defined once per schema: a named type that several
//! event records define (`lms.course.v1.PaidAccess`, the `Plan` enums) is
//! kept in the first record that defines it and referenced by full name
//! after that; differing definitions under one name are refused.

use crate::output::Output;
use crate::store::EventRow;
use crate::{AggregateType, ReplayError};
use apache_avro::types::Value;
use apache_avro::{Schema, Writer};
use serde_json::{json, Value as Json};
use std::collections::HashMap;
use std::io::{self, Write};

pub const RECORD_NAME: &str = "lms.replay.v1.ExportedEvent";

/// OCF header key holding the export's filters (JSON).
pub const HEADER_KEY: &str = "lms.replay.export";

/// `(aggregate_type, event_type)` of each branch of `event`, in order.
pub type Branches = Vec<(&'static str, &'static str)>;

/// The writer schema of one export and where each event type sits in it.
#[derive(Debug)]
pub struct ExportSchema {
    schema: Schema,
    branches: Branches,
}

impl ExportSchema {
    /// Every event type of these aggregate types (all when empty), in the
    /// order of lms-schemas' catalog.
    pub fn for_types(types: &[AggregateType]) -> Result<ExportSchema, ReplayError> {
        let (json, branches) = schema_json(types).map_err(ReplayError::Internal)?;
        let schema = Schema::parse(&json)
            .map_err(|e| ReplayError::Internal(format!("the export schema does not parse: {e}")))?;
        Ok(ExportSchema { schema, branches })
    }

    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    fn branch(&self, aggregate_type: &str, event_type: &str) -> Option<usize> {
        self.branches
            .iter()
            .position(|(a, e)| *a == aggregate_type && *e == event_type)
    }

    /// One stored event as an `ExportedEvent`.
    pub fn value(&self, row: &EventRow) -> Result<Value, ReplayError> {
        let index = self
            .branch(&row.aggregate_type, &row.event_type)
            .ok_or_else(|| row.bad("no Avro schema for this event type (lms-schemas catalog)"))?;
        let index = u32::try_from(index).map_err(|e| ReplayError::Internal(e.to_string()))?;
        let event = lms_schemas::to_avro(&row.stored()).map_err(|e| row.bad(e.to_string()))?;
        let metadata = row
            .metadata
            .as_object()
            .ok_or_else(|| row.bad("metadata is not a JSON object"))?
            .iter()
            .map(|(key, value)| {
                let text = match value {
                    Json::String(s) => s.clone(),
                    other => other.to_string(),
                };
                (key.clone(), Value::String(text))
            })
            .collect::<HashMap<_, _>>();
        Ok(Value::Record(vec![
            ("position".into(), Value::Long(row.position)),
            (
                "recorded_at".into(),
                Value::TimestampMicros(row.recorded_at.timestamp_micros()),
            ),
            ("event_type".into(), Value::String(row.event_type.clone())),
            (
                "event_version".into(),
                Value::String(row.event_version.clone()),
            ),
            ("metadata".into(), Value::Map(metadata)),
            ("event".into(), Value::Union(index, Box::new(event.value))),
        ]))
    }
}

/// The wrapper record's JSON and its branches.
pub fn schema_json(types: &[AggregateType]) -> Result<(Json, Branches), String> {
    let mut defined = HashMap::new();
    let mut records = Vec::new();
    let mut branches = Vec::new();
    for entry in lms_schemas::EVENTS
        .iter()
        .filter(|e| types.is_empty() || types.iter().any(|t| t.as_str() == e.aggregate_type))
    {
        let mut record: Json = serde_json::from_str(entry.latest_json())
            .map_err(|e| format!("{}: {e}", entry.record_name()))?;
        share_named_types(&mut record, None, &mut defined, &entry.record_name())?;
        records.push(record);
        branches.push((entry.aggregate_type, entry.event_type));
    }
    let json = json!({
        "type": "record",
        "name": "ExportedEvent",
        "namespace": "lms.replay.v1",
        "doc": "One event of the LMS event store as exported by lms-replay (docs/replay.md).",
        "fields": [
            {"name": "position", "type": "long",
             "doc": "Global order of the event in the store (events.position)."},
            {"name": "recorded_at", "type": {"type": "long", "logicalType": "timestamp-micros"},
             "doc": "When the store recorded the event (events.recorded_at; UTC, microseconds since the Unix epoch)."},
            {"name": "event_type", "type": "string",
             "doc": "Event type (events.event_type), also the name of the event's record."},
            {"name": "event_version", "type": "string",
             "doc": "Version as stored (events.event_version); `event` is always the latest version of its schema, older ones upcast."},
            {"name": "metadata", "type": {"type": "map", "values": "string"},
             "doc": "The stored metadata JSON key by key (a value that is not a string as JSON text)."},
            {"name": "event", "type": records,
             "doc": "The event: envelope, then its own fields, in the latest schema of its type (schemas/avro)."}
        ]
    });
    Ok((json, branches))
}

/// Replaces the second and later definitions of a named type by its full
/// name. `namespace` is the enclosing one (Avro's inheritance rule).
fn share_named_types(
    value: &mut Json,
    namespace: Option<&str>,
    defined: &mut HashMap<String, Json>,
    owner: &str,
) -> Result<(), String> {
    match value {
        Json::Array(branches) => {
            for branch in branches {
                share_named_types(branch, namespace, defined, owner)?;
            }
            Ok(())
        }
        Json::Object(object) => {
            let kind = object.get("type").and_then(Json::as_str).unwrap_or("");
            match kind {
                "record" | "error" | "enum" | "fixed" => {
                    let name = object
                        .get("name")
                        .and_then(Json::as_str)
                        .ok_or_else(|| format!("{owner}: a {kind} without a name"))?;
                    let own_namespace = match name.rsplit_once('.') {
                        Some((ns, _)) => Some(ns.to_string()),
                        None => object
                            .get("namespace")
                            .and_then(Json::as_str)
                            .map(str::to_string)
                            .or_else(|| namespace.map(str::to_string)),
                    };
                    let short = name.rsplit('.').next().unwrap_or(name);
                    let full = match &own_namespace {
                        Some(ns) if !ns.is_empty() => format!("{ns}.{short}"),
                        _ => short.to_string(),
                    };
                    if let Some(first) = defined.get(&full) {
                        if first != &*value {
                            return Err(format!(
                                "{owner} defines {full} differently from an earlier event type; \
                                 one export schema cannot hold both"
                            ));
                        }
                        *value = Json::String(full);
                        return Ok(());
                    }
                    defined.insert(full, value.clone());
                    if let Some(Json::Array(fields)) = value.get_mut("fields") {
                        for field in fields {
                            if let Some(ty) = field.get_mut("type") {
                                share_named_types(ty, own_namespace.as_deref(), defined, owner)?;
                            }
                        }
                    }
                    Ok(())
                }
                "array" => match object.get_mut("items") {
                    Some(items) => share_named_types(items, namespace, defined, owner),
                    None => Ok(()),
                },
                "map" => match object.get_mut("values") {
                    Some(values) => share_named_types(values, namespace, defined, owner),
                    None => Ok(()),
                },
                // {"type": {...}} or {"type": [...]}: a wrapped schema.
                _ => match object.get_mut("type") {
                    Some(inner) if !inner.is_string() => {
                        share_named_types(inner, namespace, defined, owner)
                    }
                    _ => Ok(()),
                },
            }
        }
        _ => Ok(()),
    }
}

/// Remembers the I/O error behind an Avro write failure, so that a full disk
/// or a closed pipe is reported as an output error, not a bad event.
struct Tracked<W> {
    inner: W,
    error: Option<io::Error>,
}

impl<W: Write> Write for Tracked<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf).map_err(|e| self.remember(e))
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush().map_err(|e| self.remember(e))
    }
}

impl<W> Tracked<W> {
    fn remember(&mut self, e: io::Error) -> io::Error {
        let copy = io::Error::new(e.kind(), e.to_string());
        self.error = Some(e);
        copy
    }
}

/// Appends events to an object container file, block by block.
pub struct EventWriter<'s, 'o> {
    schema: &'s ExportSchema,
    writer: Writer<'s, Tracked<&'o mut Output>>,
    label: String,
}

impl<'s, 'o> EventWriter<'s, 'o> {
    /// Writes the header (with `filters` under [`HEADER_KEY`]) on the first block.
    pub fn new(
        schema: &'s ExportSchema,
        out: &'o mut Output,
        filters: &Json,
    ) -> Result<Self, ReplayError> {
        let label = out.label().to_string();
        let tracked = Tracked {
            inner: out,
            error: None,
        };
        let mut writer = Writer::new(&schema.schema, tracked)
            .map_err(|e| ReplayError::Internal(format!("Avro writer: {e}")))?;
        writer
            .add_user_metadata(HEADER_KEY.to_string(), filters.to_string())
            .map_err(|e| ReplayError::Internal(format!("Avro header: {e}")))?;
        Ok(EventWriter {
            schema,
            writer,
            label,
        })
    }

    pub fn append(&mut self, row: &EventRow) -> Result<(), ReplayError> {
        let value = self.schema.value(row)?;
        match self.writer.append_value_ref(&value) {
            Ok(_) => Ok(()),
            Err(e) => Err(self.failure(|| row.bad(format!("Avro: {e}")))),
        }
    }

    /// Writes the last block (and the header, for an empty export).
    pub fn finish(mut self) -> Result<(), ReplayError> {
        match self.writer.flush() {
            Ok(_) => Ok(()),
            Err(e) => Err(self.failure(|| ReplayError::Internal(format!("Avro: {e}")))),
        }
    }

    /// An output error if writing failed, else what `otherwise` says.
    fn failure(&mut self, otherwise: impl FnOnce() -> ReplayError) -> ReplayError {
        match self.writer.get_mut().error.take() {
            Some(source) => ReplayError::Output {
                target: self.label.clone(),
                source,
            },
            None => otherwise(),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use apache_avro::schema::Schema as S;

    fn union_of(schema: &Schema) -> Vec<String> {
        let S::Record(record) = schema else {
            panic!("not a record: {schema:?}")
        };
        let event = record
            .fields
            .iter()
            .find(|f| f.name == "event")
            .map(|f| &f.schema);
        let Some(S::Union(union)) = event else {
            panic!("event is not a union")
        };
        union
            .variants()
            .iter()
            .map(|v| match v {
                S::Record(r) => r.name.fullname(None),
                other => format!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn one_branch_per_event_type_of_the_selected_aggregates() {
        let all = ExportSchema::for_types(&[]).map_err(|e| e.to_string());
        let all = all.as_ref().map(|s| union_of(s.schema()));
        assert_eq!(all.as_ref().map(Vec::len), Ok(lms_schemas::EVENTS.len()));
        assert_eq!(
            all.as_ref().map(|names| names[0].clone()),
            Ok("lms.course.v1.CourseCreated".to_string())
        );

        let subscriptions = ExportSchema::for_types(&[AggregateType::Subscription])
            .map(|s| union_of(s.schema()))
            .map_err(|e| e.to_string());
        assert_eq!(
            subscriptions,
            Ok(lms_schemas::EVENTS
                .iter()
                .filter(|e| e.aggregate_type == "Subscription")
                .map(|e| e.record_name())
                .collect())
        );
    }

    #[test]
    fn named_types_are_defined_once_then_referenced() {
        let (json, _) = schema_json(&[AggregateType::Course]).unwrap();
        let text = json.to_string();
        assert_eq!(text.matches(r#""name":"PaidAccess""#).count(), 1, "{text}");
        assert!(text.contains(r#""lms.course.v1.PaidAccess""#), "{text}");
        assert_eq!(text.matches(r#""name":"Plan""#).count(), 1, "{text}");
    }

    #[test]
    fn a_name_defined_twice_differently_is_refused() {
        let mut defined = HashMap::new();
        let mut first = json!({"type": "enum", "name": "Plan", "namespace": "x", "symbols": ["a"]});
        let mut second =
            json!({"type": "enum", "name": "Plan", "namespace": "x", "symbols": ["a", "b"]});
        assert_eq!(
            share_named_types(&mut first, None, &mut defined, "One"),
            Ok(())
        );
        assert!(share_named_types(&mut second, None, &mut defined, "Two").is_err());
    }
}
