//! Kafka value → typed event: Confluent framing, writer schema from the
//! registry (cached by the decoder), then `lms_schemas::from_avro`.
//!
//! Bytes on a topic are input like any other: the writer schema id must
//! belong to one of our subjects (`<topic>-<record>` of the event catalog,
//! under any topic prefix), and no length inside a record may claim more
//! memory than one fetch can hold. Anything else is a permanent error: the
//! record goes to the DLQ, the worker stays up.

use lms_schemas::DecodedEvent;
use schema_registry_converter::async_impl::avro::AvroDecoder;
use schema_registry_converter::async_impl::schema_registry::SrSettings;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct DecodeError {
    pub message: String,
    /// The registry could not be reached: try again, it is not the record's fault.
    pub retriable: bool,
}

impl DecodeError {
    fn permanent(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            retriable: false,
        }
    }

    fn retriable(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            retriable: true,
        }
    }
}

pub struct RecordDecoder {
    decoder: AvroDecoder,
    registry_url: String,
    http: reqwest::Client,
    /// Writer schema id → whether it is one of ours.
    ours: Mutex<HashMap<u32, bool>>,
}

/// The largest allocation Avro decoding may make for one length (a string,
/// bytes, an array's items) in this process. Set once, by the first worker.
pub fn cap_allocations(max_bytes: usize) -> usize {
    apache_avro::util::max_allocation_bytes(max_bytes)
}

impl RecordDecoder {
    pub fn new(registry_url: &str) -> Self {
        Self {
            decoder: AvroDecoder::new(SrSettings::new(registry_url.to_string())),
            registry_url: registry_url.trim_end_matches('/').to_string(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .unwrap_or_default(),
            ours: Mutex::new(HashMap::new()),
        }
    }

    pub async fn decode(&self, payload: Option<&[u8]>) -> Result<DecodedEvent, DecodeError> {
        let id = match payload {
            Some([0, a, b, c, d, ..]) => u32::from_be_bytes([*a, *b, *c, *d]),
            Some(_) => return Err(DecodeError::permanent("not in the Confluent wire format")),
            None => return Err(DecodeError::permanent("empty value")),
        };
        if !self.is_ours(id).await? {
            return Err(DecodeError::permanent(format!(
                "writer schema id {id} is not one of our subjects"
            )));
        }
        let decoded = self
            .decoder
            .decode(payload)
            .await
            .map_err(|e| DecodeError {
                message: format!("avro: {e}"),
                retriable: e.retriable,
            })?;
        let name = decoded
            .name
            .map(|n| n.fullname(None))
            .ok_or_else(|| DecodeError::permanent("not a named Avro record (empty value?)"))?;
        lms_schemas::from_avro(&name, &decoded.value)
            .map_err(|e| DecodeError::permanent(format!("{name}: {e}")))
    }

    /// Asks the registry which subjects hold the id (`/schemas/ids/{id}/subjects`), once per id.
    async fn is_ours(&self, id: u32) -> Result<bool, DecodeError> {
        if let Some(known) = self.ours.lock().ok().and_then(|m| m.get(&id).copied()) {
            return Ok(known);
        }
        let url = format!("{}/schemas/ids/{id}/subjects", self.registry_url);
        let response = self
            .http
            .get(&url)
            .send()
            .await
            .map_err(|e| DecodeError::retriable(format!("schema registry: {e}")))?;
        let status = response.status();
        let ours = if status == reqwest::StatusCode::NOT_FOUND {
            false
        } else if status.is_success() {
            let subjects: Vec<String> = response
                .json()
                .await
                .map_err(|e| DecodeError::retriable(format!("schema registry answer: {e}")))?;
            subjects.iter().any(|s| is_our_subject(s))
        } else {
            return Err(DecodeError::retriable(format!(
                "schema registry answered {status} for schema id {id}"
            )));
        };
        if let Ok(mut known) = self.ours.lock() {
            known.insert(id, ours);
        }
        Ok(ours)
    }
}

/// `<prefix><topic>-<topic>.<Event>` for an event of the catalog.
fn is_our_subject(subject: &str) -> bool {
    lms_schemas::catalog::EVENTS
        .iter()
        .any(|event| subject.ends_with(&event.subject()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_subjects_are_the_catalog_events_under_any_prefix() {
        assert!(is_our_subject("lms.course.v1-lms.course.v1.CourseCreated"));
        assert!(is_our_subject(
            "t0193.lms.course.v1-lms.course.v1.CourseCreated"
        ));
        assert!(!is_our_subject("lms.course.v1-value"));
        assert!(!is_our_subject("intruder-lms.course.v1.CourseCreated"));
        assert!(!is_our_subject("lms.course.v1-lms.course.v1.Unknown"));
    }
}
