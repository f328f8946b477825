//! The input topics (the relay creates them) and the DLQ.

use super::*;

/// Waits until the input topics exist (the relay creates them), then creates
/// the DLQ with as many partitions as the largest of them.
pub(super) async fn prepare_topics(
    config: &Config,
    topics: &[String],
    stop: &Shutdown,
) -> Result<bool, WorkerError> {
    let mut attempt: u32 = 0;
    loop {
        let brokers = config.kafka_brokers.clone();
        let names = topics.to_vec();
        let found = tokio::task::spawn_blocking(move || dlq::partitions(&brokers, &names))
            .await
            .map_err(|e| WorkerError::Setup(e.to_string()))?;
        let result = match found {
            Ok(partitions) => {
                dlq::create_topic(
                    &config.kafka_brokers,
                    &config.dlq(),
                    partitions,
                    config.topic_replication,
                )
                .await
            }
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => return Ok(true),
            Err(error) => {
                attempt = attempt.saturating_add(1);
                tracing::warn!(%error, attempt, "topics not ready yet");
                tokio::select! {
                    _ = stop.cancelled() => return Ok(false),
                    _ = tokio::time::sleep(Duration::from_secs(2)) => {},
                }
            }
        }
    }
}
