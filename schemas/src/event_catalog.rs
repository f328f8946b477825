//! docs/events.md, generated from the schema files: every event, its topic,
//! key, subject, versions and fields. A test fails when the file is stale.

use crate::catalog::{EventSchema, EVENTS, TOPICS};
use crate::envelope::ENVELOPE_FIELDS;
use crate::SchemaError;
use apache_avro::schema::{RecordField, RecordSchema};
use apache_avro::Schema;
use std::fmt::Write;

pub const REGENERATE: &str = "cargo run -p lms-schemas --bin event-catalog -- --write";

/// Path of the generated file, relative to the workspace root.
pub const CATALOG_PATH: &str = "docs/events.md";

const CONVENTIONS: &str = "\
Kafka carries Avro in the Confluent wire format (0x00, 4-byte schema id, body).
One topic per aggregate type, several event types per topic; the subject of a
record is `<topic>-<record full name>` (TopicRecordNameStrategy). The message
key is the aggregate id, so one aggregate's events stay ordered in a partition.

Conventions of every record:
- **Envelope first**: the fields below, then the event's own fields.
- **Ids**: `string` with logicalType `uuid` (domain ids, `event_id`); ids the
  caller may choose freely (`command_id`, `correlation_id`, `causation_id`,
  `tenant_id`, `aggregate_id`, `actor_id`) are plain strings.
- **Time**: `long` with logicalType `timestamp-micros` (UTC, microseconds since
  the Unix epoch); finer digits in the stored JSON are dropped.
- **Money**: `long` cents, with the currency in a sibling field where it varies.
- **Closed sets** (plan): Avro `enum`; adding a symbol is a new version.
- **Access**: a union of the records `PaidAccess`, `PlanAccess`, `FreeAccess`;
  each names the serde tag it maps to in a `kind` attribute. `FreeAccess` (no
  fields) stays last: apache-avro 0.22 resolves a written union branch to the
  first reader branch the record fits, and an empty record fits every record.
- **PII** (none today): names, emails and the like go in a nested record field
  `pii` (nullable, default null) so they can be crypto-shredded later without
  touching the rest of the record.
- **Evolution**: BACKWARD_TRANSITIVE; only add fields with a default; rename or
  remove = a new event type. Every version stays in `schemas/avro/<topic>/<Event>.v<N>.avsc`;
  version N of a schema is `event_version` N in the event store, and older stored
  JSON is upcast (lms-schemas' `upcasters()`) before it is read or published.
";

/// The whole catalog, as markdown.
pub fn render() -> Result<String, SchemaError> {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "<!-- Generated from schemas/avro by `{REGENERATE}`; do not edit. -->\n"
    );
    let _ = writeln!(out, "# Event catalog\n\n{CONVENTIONS}");

    let first = EVENTS
        .first()
        .map(EventSchema::parse_versions)
        .transpose()?;
    if let Some(Schema::Record(record)) = first.as_ref().and_then(|v| v.last()) {
        let _ = writeln!(out, "## Envelope (every record)\n");
        field_table(&mut out, record, |f| {
            ENVELOPE_FIELDS.contains(&f.name.as_str())
        });
    }

    for topic in TOPICS {
        let events: Vec<&EventSchema> = EVENTS.iter().filter(|e| e.topic == *topic).collect();
        let aggregate = events.first().map(|e| e.aggregate_type).unwrap_or_default();
        let _ = writeln!(out, "## Topic `{topic}`\n");
        let _ = writeln!(
            out,
            "Aggregate `{aggregate}`; key: the {} id (`aggregate_id`).\n",
            aggregate.to_lowercase()
        );
        for event in events {
            render_event(&mut out, event)?;
        }
    }
    Ok(out)
}

fn render_event(out: &mut String, event: &EventSchema) -> Result<(), SchemaError> {
    let versions = event.parse_versions()?;
    let records: Vec<&RecordSchema> = versions
        .iter()
        .filter_map(|s| match s {
            Schema::Record(r) => Some(r),
            _ => None,
        })
        .collect();
    let Some(latest) = records.last() else {
        return Ok(());
    };
    let _ = writeln!(out, "### {}\n", event.event_type);
    if let Some(doc) = &latest.doc {
        let _ = writeln!(out, "{doc}\n");
    }
    let files: Vec<String> = (1..=event.latest_version())
        .map(|v| format!("[v{v}](../schemas/{})", event.file(v)))
        .collect();
    let _ = writeln!(out, "- Record: `{}`", event.record_name());
    let _ = writeln!(out, "- Topic: `{}`; key: `aggregate_id`", event.topic);
    let _ = writeln!(out, "- Subject: `{}`", event.subject());
    let _ = writeln!(
        out,
        "- Versions: {} (latest v{})",
        files.join(", "),
        event.latest_version()
    );
    for (i, pair) in records.windows(2).enumerate() {
        let added: Vec<String> = pair[1]
            .fields
            .iter()
            .filter(|f| !pair[0].lookup.contains_key(&f.name))
            .map(|f| match &f.default {
                Some(d) => format!("`{}` (default `{d}`)", f.name),
                None => format!("`{}`", f.name),
            })
            .collect();
        let removed: Vec<String> = pair[0]
            .fields
            .iter()
            .filter(|f| !pair[1].lookup.contains_key(&f.name))
            .map(|f| format!("`{}`", f.name))
            .collect();
        let mut change = Vec::new();
        if !added.is_empty() {
            change.push(format!("added {}", added.join(", ")));
        }
        if !removed.is_empty() {
            change.push(format!("removed {}", removed.join(", ")));
        }
        if change.is_empty() {
            change.push("documentation only".into());
        }
        let _ = writeln!(out, "- v{}: {}", i + 2, change.join("; "));
    }
    let _ = writeln!(out);
    if latest
        .fields
        .iter()
        .all(|f| ENVELOPE_FIELDS.contains(&f.name.as_str()))
    {
        let _ = writeln!(out, "No fields besides the envelope.\n");
    } else {
        field_table(out, latest, |f| !ENVELOPE_FIELDS.contains(&f.name.as_str()));
    }
    Ok(())
}

fn field_table(out: &mut String, record: &RecordSchema, keep: impl Fn(&RecordField) -> bool) {
    let _ = writeln!(out, "| Field | Type | Default | Description |");
    let _ = writeln!(out, "|---|---|---|---|");
    for field in record.fields.iter().filter(|f| keep(f)) {
        let default = field
            .default
            .as_ref()
            .map(|d| format!("`{d}`"))
            .unwrap_or_default();
        let doc = field.doc.as_deref().unwrap_or_default().replace('|', "\\|");
        let _ = writeln!(
            out,
            "| `{}` | {} | {default} | {doc} |",
            field.name,
            type_name(&field.schema).replace('|', "\\|")
        );
    }
    let _ = writeln!(out);
}

/// A compact, human-readable type: `string (uuid)`, `array<long>`, `enum Plan {basic, pro}`.
fn type_name(schema: &Schema) -> String {
    match schema {
        Schema::Uuid(_) => "string (uuid)".into(),
        Schema::TimestampMicros => "long (timestamp-micros)".into(),
        Schema::Array(a) => format!("array<{}>", type_name(&a.items)),
        Schema::Enum(e) => format!("enum {} {{{}}}", e.name.name(), e.symbols.join(", ")),
        Schema::Record(r) => {
            let fields: Vec<String> = r
                .fields
                .iter()
                .map(|f| format!("{}: {}", f.name, type_name(&f.schema)))
                .collect();
            format!("{} {{{}}}", r.name.name(), fields.join(", "))
        }
        Schema::Union(u) => u
            .variants()
            .iter()
            .map(type_name)
            .collect::<Vec<_>>()
            .join(" | "),
        Schema::Ref { name } => name.name().to_string(),
        other => format!("{:?}", apache_avro::schema::SchemaKind::from(other)).to_lowercase(),
    }
}
