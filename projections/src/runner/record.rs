//! One record: its span, its headers, its decoding.

use super::*;

/// The span of one record: where it was read and the ids it carries.
pub(super) fn record_span<M: Message>(projection: &'static str, message: &M) -> tracing::Span {
    tracing::info_span!(
        "project",
        projection,
        topic = %message.topic(),
        partition = message.partition(),
        offset = message.offset(),
        event_id = %header(message, "event_id"),
        event_type = %header(message, "event_type"),
        correlation_id = %header(message, "correlation_id"),
        causation_id = %header(message, "causation_id"),
    )
}

pub(crate) fn header<M: Message>(message: &M, name: &str) -> String {
    message
        .headers()
        .and_then(|headers| {
            headers
                .iter()
                .find(|h| h.key == name)
                .and_then(|h| h.value.map(|v| String::from_utf8_lossy(v).to_string()))
        })
        .unwrap_or_default()
}

/// Decodes, retrying while the registry is unreachable (until `stop`).
pub(crate) async fn decode(
    decoder: &RecordDecoder,
    payload: Option<&[u8]>,
    stop: &Shutdown,
) -> Result<DecodedEvent, DecodeError> {
    let mut attempt: u32 = 0;
    loop {
        match decoder.decode(payload).await {
            Err(e) if e.retriable && !stop.is_cancelled() => {
                attempt = attempt.saturating_add(1);
                tracing::warn!(error = %e, attempt, "schema registry unavailable; retrying");
                tokio::time::sleep(backoff(attempt)).await;
            }
            other => return other,
        }
    }
}
