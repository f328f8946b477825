//! Kafka value → typed event: Confluent framing, writer schema from the
//! registry (cached by the decoder), then `lms_schemas::from_avro`.

use lms_schemas::DecodedEvent;
use schema_registry_converter::async_impl::avro::AvroDecoder;
use schema_registry_converter::async_impl::schema_registry::SrSettings;

#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct DecodeError {
    pub message: String,
    /// The registry could not be reached: try again, it is not the record's fault.
    pub retriable: bool,
}

pub struct RecordDecoder {
    decoder: AvroDecoder,
}

impl RecordDecoder {
    pub fn new(registry_url: &str) -> Self {
        Self {
            decoder: AvroDecoder::new(SrSettings::new(registry_url.to_string())),
        }
    }

    pub async fn decode(&self, payload: Option<&[u8]>) -> Result<DecodedEvent, DecodeError> {
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
            .ok_or_else(|| DecodeError {
                message: "not a named Avro record (empty value?)".into(),
                retriable: false,
            })?;
        lms_schemas::from_avro(&name, &decoded.value).map_err(|e| DecodeError {
            message: format!("{name}: {e}"),
            retriable: false,
        })
    }
}
