//! JSON ⇄ Avro, driven by the schema: the stored JSON (serde's form of the
//! domain events) is the source of truth and the `.avsc` says how each field
//! travels. Conventions (see docs/events.md):
//! - ids: `string` with logicalType `uuid`; timestamps: `long` `timestamp-micros`
//!   (sub-microsecond digits are dropped); integers: `long`;
//! - closed string sets: Avro `enum` with the serde names as symbols;
//! - internally tagged serde enums (`{"kind": "paid", ...}`): a union of records,
//!   each record naming its tag in a `kind` attribute.

use crate::SchemaError;
use apache_avro::schema::{RecordSchema, UnionSchema};
use apache_avro::types::Value;
use apache_avro::Schema;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value as Json};

/// The serde tag key of internally tagged enums, and the record attribute
/// that names a union branch's tag.
const TAG: &str = "kind";

/// Where in which record a conversion is; becomes the error's context.
pub(crate) struct At<'a> {
    pub record: &'a str,
    pub field: String,
}

impl At<'_> {
    fn error(&self, reason: impl Into<String>) -> SchemaError {
        SchemaError::Field {
            record: self.record.to_string(),
            field: self.field.clone(),
            reason: reason.into(),
        }
    }

    fn child(&self, name: &str) -> Self {
        let field = if self.field.is_empty() {
            name.to_string()
        } else {
            format!("{}.{name}", self.field)
        };
        At {
            record: self.record,
            field,
        }
    }
}

/// JSON → Avro value of `schema`.
pub(crate) fn to_avro(json: &Json, schema: &Schema, at: &At<'_>) -> Result<Value, SchemaError> {
    let mismatch = || at.error(format!("expected {}, got {json}", kind_of(schema)));
    match schema {
        Schema::Null => json.is_null().then_some(Value::Null).ok_or_else(mismatch),
        Schema::Boolean => json.as_bool().map(Value::Boolean).ok_or_else(mismatch),
        Schema::Int => json
            .as_i64()
            .and_then(|n| i32::try_from(n).ok())
            .map(Value::Int)
            .ok_or_else(mismatch),
        Schema::Long => json.as_i64().map(Value::Long).ok_or_else(mismatch),
        Schema::Double => json.as_f64().map(Value::Double).ok_or_else(mismatch),
        Schema::String => json
            .as_str()
            .map(|s| Value::String(s.to_string()))
            .ok_or_else(mismatch),
        Schema::Uuid(_) => json
            .as_str()
            .and_then(|s| uuid::Uuid::parse_str(s).ok())
            .map(Value::Uuid)
            .ok_or_else(mismatch),
        Schema::TimestampMicros => json
            .as_str()
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .map(|t| Value::TimestampMicros(t.timestamp_micros()))
            .ok_or_else(mismatch),
        Schema::Enum(e) => {
            let symbol = json.as_str().ok_or_else(mismatch)?;
            let index = e
                .symbols
                .iter()
                .position(|s| s == symbol)
                .ok_or_else(|| at.error(format!("'{symbol}' is not one of {:?}", e.symbols)))?;
            Ok(Value::Enum(index as u32, symbol.to_string()))
        }
        Schema::Array(a) => json
            .as_array()
            .ok_or_else(mismatch)?
            .iter()
            .enumerate()
            .map(|(i, item)| to_avro(item, &a.items, &at.child(&i.to_string())))
            .collect::<Result<_, _>>()
            .map(Value::Array),
        Schema::Record(r) => record_to_avro(json.as_object().ok_or_else(mismatch)?, r, at),
        Schema::Union(u) => union_to_avro(json, u, at),
        other => Err(at.error(format!("unsupported schema type {}", kind_of(other)))),
    }
}

/// A record from a JSON object; a missing field takes its schema default.
pub(crate) fn record_to_avro(
    object: &Map<String, Json>,
    record: &RecordSchema,
    at: &At<'_>,
) -> Result<Value, SchemaError> {
    let mut fields = Vec::with_capacity(record.fields.len());
    for field in &record.fields {
        let at = at.child(&field.name);
        let json = match (object.get(&field.name), &field.default) {
            (Some(json), _) => json,
            (None, Some(default)) => default,
            (None, None) => return Err(at.error("missing and has no default")),
        };
        fields.push((field.name.clone(), to_avro(json, &field.schema, &at)?));
    }
    Ok(Value::Record(fields))
}

fn union_to_avro(json: &Json, union: &UnionSchema, at: &At<'_>) -> Result<Value, SchemaError> {
    let branches = union.variants();
    if json.is_null() {
        if let Some(i) = branches.iter().position(|b| matches!(b, Schema::Null)) {
            return Ok(Value::Union(i as u32, Box::new(Value::Null)));
        }
    }
    if let Some(tag) = json.get(TAG).and_then(Json::as_str) {
        let found = branches.iter().enumerate().find_map(|(i, b)| match b {
            Schema::Record(r) if branch_tag(r) == Some(tag) => Some((i, r)),
            _ => None,
        });
        let (i, record) =
            found.ok_or_else(|| at.error(format!("no union branch for {TAG} '{tag}'")))?;
        let mut object = json.as_object().cloned().unwrap_or_default();
        object.remove(TAG);
        let value = record_to_avro(&object, record, at)?;
        return Ok(Value::Union(i as u32, Box::new(value)));
    }
    branches
        .iter()
        .enumerate()
        .filter(|(_, b)| !matches!(b, Schema::Null))
        .find_map(|(i, b)| {
            to_avro(json, b, at)
                .ok()
                .map(|v| Value::Union(i as u32, Box::new(v)))
        })
        .ok_or_else(|| at.error(format!("{json} matches no branch of the union")))
}

fn branch_tag(record: &RecordSchema) -> Option<&str> {
    record.attributes.get(TAG).and_then(Json::as_str)
}

/// Avro value → JSON of the serde form. `schema` is the reader's (latest)
/// schema: a field the value lacks (read with an older reader schema) takes
/// the schema default.
pub(crate) fn to_json(value: &Value, schema: &Schema, at: &At<'_>) -> Result<Json, SchemaError> {
    let mismatch = || at.error(format!("expected {}, got {value:?}", kind_of(schema)));
    match (schema, value) {
        // A nullable field read as a union but mapped to a non-union schema.
        (_, Value::Union(_, inner)) if !matches!(schema, Schema::Union(_)) => {
            to_json(inner, schema, at)
        }
        (Schema::Null, Value::Null) => Ok(Json::Null),
        (Schema::Boolean, Value::Boolean(b)) => Ok(Json::Bool(*b)),
        (Schema::Int | Schema::Long, Value::Int(n)) => Ok(Json::from(*n)),
        (Schema::Long, Value::Long(n)) => Ok(Json::from(*n)),
        (Schema::Double, Value::Double(n)) => Ok(Json::from(*n)),
        (Schema::String, Value::String(s)) | (Schema::Uuid(_), Value::String(s)) => {
            Ok(Json::String(s.clone()))
        }
        (Schema::Uuid(_), Value::Uuid(u)) => Ok(Json::String(u.to_string())),
        (Schema::TimestampMicros, Value::TimestampMicros(us) | Value::Long(us)) => {
            let time: DateTime<Utc> = DateTime::from_timestamp_micros(*us)
                .ok_or_else(|| at.error(format!("{us} µs is out of range")))?;
            Ok(Json::String(
                time.to_rfc3339_opts(SecondsFormat::AutoSi, true),
            ))
        }
        (Schema::Enum(_), Value::Enum(_, symbol)) => Ok(Json::String(symbol.clone())),
        (Schema::Array(a), Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, item)| to_json(item, &a.items, &at.child(&i.to_string())))
            .collect::<Result<_, _>>()
            .map(Json::Array),
        (Schema::Record(r), Value::Record(fields)) => {
            record_to_json(fields, r, at).map(Json::Object)
        }
        (Schema::Union(u), Value::Union(i, inner)) => union_to_json(*i, inner, u, at),
        _ => Err(mismatch()),
    }
}

pub(crate) fn record_to_json(
    fields: &[(String, Value)],
    record: &RecordSchema,
    at: &At<'_>,
) -> Result<Map<String, Json>, SchemaError> {
    let mut object = Map::new();
    for field in &record.fields {
        let at = at.child(&field.name);
        let json = match (
            fields.iter().find(|(n, _)| *n == field.name),
            &field.default,
        ) {
            (Some((_, value)), _) => to_json(value, &field.schema, &at)?,
            (None, Some(default)) => default.clone(),
            (None, None) => return Err(at.error("missing and has no default")),
        };
        object.insert(field.name.clone(), json);
    }
    Ok(object)
}

/// The branch is picked by the inner record's field names (so a value read
/// with an older reader schema, whose union may be shorter, still maps), then
/// by index.
fn union_to_json(
    index: u32,
    inner: &Value,
    union: &UnionSchema,
    at: &At<'_>,
) -> Result<Json, SchemaError> {
    let branches = union.variants();
    let branch = match inner {
        Value::Record(fields) => branches
            .iter()
            .find(|b| match b {
                Schema::Record(r) => {
                    r.fields.len() == fields.len()
                        && fields.iter().all(|(n, _)| r.lookup.contains_key(n))
                }
                _ => false,
            })
            .or_else(|| branches.get(index as usize)),
        _ => branches.get(index as usize),
    }
    .ok_or_else(|| at.error(format!("union branch {index} does not exist")))?;
    let mut json = to_json(inner, branch, at)?;
    if let (Schema::Record(r), Json::Object(object)) = (branch, &mut json) {
        if let Some(tag) = branch_tag(r) {
            object.insert(TAG.to_string(), Json::String(tag.to_string()));
        }
    }
    Ok(json)
}

fn kind_of(schema: &Schema) -> String {
    match schema {
        Schema::Record(r) => format!("record {}", r.name.name()),
        Schema::Enum(e) => format!("enum {}", e.name.name()),
        Schema::Uuid(_) => "uuid string".into(),
        Schema::TimestampMicros => "RFC 3339 timestamp".into(),
        other => format!("{:?}", apache_avro::schema::SchemaKind::from(other)).to_lowercase(),
    }
}

/// Where a normalisation is, built into an [`At`] only on error (the Avro
/// path allocates its field path for every field; this one is per event).
#[derive(Clone, Copy)]
pub(crate) enum Path<'a> {
    Root(&'a str),
    Child(&'a Path<'a>, &'a str),
}

impl Path<'_> {
    fn at(&self) -> At<'_> {
        match self {
            Path::Root(record) => At {
                record,
                field: String::new(),
            },
            Path::Child(parent, name) => parent.at().child(name),
        }
    }

    fn error(&self, reason: impl Into<String>) -> SchemaError {
        self.at().error(reason)
    }
}

/// JSON of `schema` → exactly `to_json(to_avro(json))` (timestamps cut to
/// microseconds, uuids canonical, defaults filled, fields outside the schema
/// dropped, the same refusals), without building the Avro value: the
/// rebuild's decode, where the Avro values were most of the time per event.
pub(crate) fn normalize(json: Json, schema: &Schema, path: &Path<'_>) -> Result<Json, SchemaError> {
    let mismatch = |json: &Json| path.error(format!("expected {}, got {json}", kind_of(schema)));
    match schema {
        Schema::Null if json.is_null() => Ok(Json::Null),
        Schema::Boolean if json.is_boolean() => Ok(json),
        Schema::Int => json
            .as_i64()
            .and_then(|n| i32::try_from(n).ok())
            .map(Json::from)
            .ok_or_else(|| mismatch(&json)),
        Schema::Long => json.as_i64().map(Json::from).ok_or_else(|| mismatch(&json)),
        Schema::Double => json.as_f64().map(Json::from).ok_or_else(|| mismatch(&json)),
        Schema::String if json.is_string() => Ok(json),
        Schema::Uuid(_) => json
            .as_str()
            .and_then(|s| uuid::Uuid::parse_str(s).ok())
            .map(|u| Json::String(u.to_string()))
            .ok_or_else(|| mismatch(&json)),
        Schema::TimestampMicros => {
            let micros = json
                .as_str()
                .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
                .map(|t| t.timestamp_micros())
                .ok_or_else(|| mismatch(&json))?;
            let time: DateTime<Utc> = DateTime::from_timestamp_micros(micros)
                .ok_or_else(|| path.error(format!("{micros} µs is out of range")))?;
            Ok(Json::String(
                time.to_rfc3339_opts(SecondsFormat::AutoSi, true),
            ))
        }
        Schema::Enum(e) => {
            let symbol = json.as_str().ok_or_else(|| mismatch(&json))?;
            if !e.symbols.iter().any(|s| s == symbol) {
                return Err(path.error(format!("'{symbol}' is not one of {:?}", e.symbols)));
            }
            Ok(json)
        }
        Schema::Array(a) => match json {
            Json::Array(items) => items
                .into_iter()
                .enumerate()
                .map(|(i, item)| {
                    let name = i.to_string();
                    normalize(item, &a.items, &Path::Child(path, &name))
                })
                .collect::<Result<_, _>>()
                .map(Json::Array),
            other => Err(mismatch(&other)),
        },
        Schema::Record(r) => match json {
            Json::Object(object) => normalize_record(object, r, path).map(Json::Object),
            other => Err(mismatch(&other)),
        },
        Schema::Union(u) => normalize_union(json, u, schema, path),
        Schema::Null | Schema::Boolean | Schema::String => Err(mismatch(&json)),
        other => Err(path.error(format!("unsupported schema type {}", kind_of(other)))),
    }
}

/// A record's fields in schema order; a missing field takes its default.
pub(crate) fn normalize_record(
    mut object: Map<String, Json>,
    record: &RecordSchema,
    path: &Path<'_>,
) -> Result<Map<String, Json>, SchemaError> {
    let mut out = Map::new();
    for field in &record.fields {
        let path = Path::Child(path, &field.name);
        let json = match (object.remove(&field.name), &field.default) {
            (Some(json), _) => json,
            (None, Some(default)) => default.clone(),
            (None, None) => return Err(path.error("missing and has no default")),
        };
        out.insert(field.name.clone(), normalize(json, &field.schema, &path)?);
    }
    Ok(out)
}

fn normalize_union(
    json: Json,
    union: &UnionSchema,
    schema: &Schema,
    path: &Path<'_>,
) -> Result<Json, SchemaError> {
    let branches = union.variants();
    if json.is_null() && branches.iter().any(|b| matches!(b, Schema::Null)) {
        return Ok(Json::Null);
    }
    let tagged = json.get(TAG).and_then(Json::as_str).map(str::to_string);
    let chosen = match &tagged {
        Some(tag) => branches.iter().find(|b| match b {
            Schema::Record(r) => branch_tag(r) == Some(tag.as_str()),
            _ => false,
        }),
        // The first branch the value fits, as the Avro path picks it.
        None => branches
            .iter()
            .filter(|b| !matches!(b, Schema::Null))
            .find(|b| to_avro(&json, b, &path.at()).is_ok()),
    };
    // A record branch is read back by its field names, which another branch
    // could share: such a value takes the Avro path itself, to stay equal.
    let exact = |r: &RecordSchema| {
        branches.iter().find_map(|b| match b {
            Schema::Record(other)
                if other.fields.len() == r.fields.len()
                    && r.fields.iter().all(|f| other.lookup.contains_key(&f.name)) =>
            {
                Some(std::ptr::eq(other, r))
            }
            _ => None,
        }) == Some(true)
    };
    match (chosen, json) {
        (Some(Schema::Record(r)), Json::Object(mut object)) if exact(r) => {
            object.remove(TAG);
            let mut out = normalize_record(object, r, path)?;
            if let Some(tag) = branch_tag(r) {
                out.insert(TAG.to_string(), Json::String(tag.to_string()));
            }
            Ok(Json::Object(out))
        }
        (Some(Schema::Record(_)) | None, json) => {
            let at = path.at();
            to_json(&to_avro(&json, schema, &at)?, schema, &at)
        }
        (Some(branch), json) => normalize(json, branch, path),
    }
}
