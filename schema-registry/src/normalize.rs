//! Validates a submitted schema and gives it the normalized text that decides
//! its identity: the JSON with object keys sorted and no whitespace. Unlike
//! Avro's Parsing Canonical Form this keeps defaults, docs and aliases, so two
//! schemas that differ in a default are different schemas.

use apache_avro::Schema;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// A reference to a schema registered under another subject.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SchemaReference {
    pub name: String,
    pub subject: String,
    pub version: i32,
}

/// The schema types this registry accepts.
pub const AVRO: &str = "AVRO";

/// Parses `text` as JSON and renders it canonically (sorted keys, compact).
pub fn normalize(text: &str) -> Result<String, String> {
    let value: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let mut out = String::with_capacity(text.len());
    write_sorted(&value, &mut out);
    Ok(out)
}

/// Parses a normalized schema with apache-avro, with the texts of the schemas
/// it references (already resolved by the store).
pub fn parse_avro(text: &str, referenced: &[String]) -> Result<Schema, String> {
    let parsed = if referenced.is_empty() {
        Schema::parse_str(text)
    } else {
        Schema::parse_str_with_list(text, referenced).map(|(schema, _)| schema)
    };
    parsed.map_err(|e| e.to_string())
}

/// The identity of a schema: its type, normalized text and references.
pub fn fingerprint(schema_type: &str, normalized: &str, references: &[SchemaReference]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(schema_type.as_bytes());
    hasher.update([0]);
    hasher.update(normalized.as_bytes());
    for r in references {
        hasher.update([0]);
        hasher.update(format!("{}\u{1}{}\u{1}{}", r.name, r.subject, r.version).as_bytes());
    }
    hex::encode(hasher.finalize())
}

// Written by hand rather than with serde_json::to_string: whether serde_json's
// Map is sorted depends on a feature (`preserve_order`) any crate in the build
// can turn on.
fn write_sorted(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_sorted(item, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_sorted(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn sorts_keys_and_drops_whitespace_but_keeps_defaults() {
        let a = r#"{ "type": "record", "name": "A", "fields": [ {"name": "x", "type": "int", "default": 1, "doc": "d"} ] }"#;
        let b = r#"{"fields":[{"doc":"d","default":1,"type":"int","name":"x"}],"name":"A","type":"record"}"#;
        assert_eq!(normalize(a), normalize(b));
        assert_eq!(
            normalize(a).as_deref(),
            Ok(
                r#"{"fields":[{"default":1,"doc":"d","name":"x","type":"int"}],"name":"A","type":"record"}"#
            )
        );
        let other_default = a.replace("\"default\": 1", "\"default\": 2");
        assert_ne!(normalize(a), normalize(&other_default));
    }

    #[test]
    fn keeps_field_order_which_is_significant() {
        let a = r#"{"type":"record","name":"A","fields":[{"name":"x","type":"int"},{"name":"y","type":"int"}]}"#;
        let b = r#"{"type":"record","name":"A","fields":[{"name":"y","type":"int"},{"name":"x","type":"int"}]}"#;
        assert_ne!(normalize(a), normalize(b));
    }

    #[test]
    fn primitive_schemas_are_fine_and_garbage_is_not() {
        assert_eq!(normalize(r#" "string" "#).as_deref(), Ok(r#""string""#));
        assert!(normalize("{not json").is_err());
        assert!(parse_avro(r#"{"type":"record","name":"A"}"#, &[]).is_err());
        assert!(parse_avro(r#""string""#, &[]).is_ok());
    }
}
