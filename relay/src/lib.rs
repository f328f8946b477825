//! The outbox relay: publishes every committed event to Kafka, Avro-encoded in
//! the Confluent wire format, one topic per aggregate type, key = aggregate id,
//! in per-aggregate order; rows are marked published only after the broker
//! acknowledged them. One relay leads (Postgres advisory lock); others stand by.

mod config;
mod leader;
mod outbox;
mod publisher;

pub use config::RelayConfig;
pub use leader::Leadership;
pub use outbox::{OutboxStore, PendingEvent};
pub use publisher::Publisher;

use lms_commands::store::OUTBOX_CHANNEL;
use sqlx::postgres::PgListener;
use sqlx::PgPool;
use std::collections::HashSet;
use std::future::Future;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    #[error("creating topic {topic}: {error}")]
    TopicCreation { topic: String, error: String },
    #[error("lost leadership: {0}")]
    LeadershipLost(String),
    #[error("schema registry client: {0}")]
    Registry(#[from] schema_registry_converter::error::SRCError),
}

/// Failed batches in a row after which the producer is replaced.
const RECREATE_AFTER_FAILURES: u32 = 3;

/// Runs the relay until `shutdown` resolves.
pub async fn run(
    config: &RelayConfig,
    pool: PgPool,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), RelayError> {
    tokio::pin!(shutdown);
    let mut publisher = Publisher::new(config)?;
    // Topics exist before anything is produced: the broker may not
    // auto-create. The broker may also not be up yet: keep trying.
    let mut attempt: u32 = 0;
    loop {
        match publisher.ensure_topics(config).await {
            Ok(()) => break,
            Err(e) => {
                attempt = attempt.saturating_add(1);
                tracing::warn!(error = %e, attempt, "cannot create topics yet");
                tokio::select! {
                    _ = &mut shutdown => return Ok(()),
                    _ = tokio::time::sleep(Duration::from_secs(2)) => {},
                }
            }
        }
    }
    let store = OutboxStore::new(pool.clone());

    let mut leadership = tokio::select! {
        _ = &mut shutdown => return Ok(()),
        leadership = Leadership::acquire(&pool, config.leader_lock_key) => leadership?,
    };
    tracing::info!("relay is the leader; publishing the outbox");

    let mut listener = PgListener::connect_with(&pool).await?;
    listener.listen(OUTBOX_CHANNEL).await?;
    let poll = Duration::from_millis(config.poll_interval_ms);
    let mut failures: u32 = 0;

    loop {
        leadership.check().await?;
        let batch = store.pending(config.batch_size).await?;
        metrics::gauge!("lms_outbox_backlog").set(store.backlog().await? as f64);
        if batch.is_empty() {
            tokio::select! {
                _ = &mut shutdown => break,
                _ = listener.recv() => {},
                _ = tokio::time::sleep(poll) => {},
            }
            continue;
        }
        let span =
            tracing::info_span!("relay_batch", size = batch.len(), first = batch[0].position);
        let outcome = span
            .in_scope(|| async { publish_batch(&publisher, &store, &batch).await })
            .await?;
        if outcome.failed > 0 {
            // A fatal error (e.g. the idempotent producer's state lost in a
            // broker restart) leaves the producer unusable: start a new one.
            failures = failures.saturating_add(1);
            // A producer can also stay wedged without a fatal error (its
            // idempotence state stuck after a broker restart): after a few
            // failed batches in a row, start afresh as well.
            if let Some(fatal) = publisher.fatal_error() {
                tracing::warn!(%fatal, "producer failed fatally; recreating it");
                publisher = Publisher::new(config)?;
            } else if failures.is_multiple_of(RECREATE_AFTER_FAILURES) {
                tracing::warn!(failures, "batches keep failing; recreating the producer");
                publisher = Publisher::new(config)?;
            }
            let delay = Duration::from_millis(100 * 2u64.pow(failures.min(6)));
            tracing::warn!(
                failed = outcome.failed,
                ?delay,
                "publishing failed; retrying"
            );
            tokio::select! {
                _ = &mut shutdown => break,
                _ = tokio::time::sleep(delay) => {},
            }
        } else {
            failures = 0;
        }
    }
    tracing::info!("relay stopped");
    Ok(())
}

struct BatchOutcome {
    failed: usize,
}

/// Publishes a batch in position order and marks what the broker acknowledged.
/// After a failure for an aggregate, its later events in the batch are not
/// marked even if acknowledged: they are sent again behind the failed one, so
/// the first occurrences on the topic stay in order (duplicates keep their
/// event id; consumers are idempotent).
async fn publish_batch(
    publisher: &Publisher,
    store: &OutboxStore,
    batch: &[PendingEvent],
) -> Result<BatchOutcome, RelayError> {
    let results = publisher.publish(batch).await;
    let mut blocked: HashSet<(&str, &str)> = HashSet::new();
    let mut published = Vec::with_capacity(batch.len());
    let mut failed = Vec::new();
    for (event, result) in batch.iter().zip(results) {
        let key = (event.aggregate_type.as_str(), event.aggregate_id.as_str());
        match result {
            Ok(()) if !blocked.contains(&key) => published.push(event.position),
            Ok(()) => {}
            Err(error) => {
                blocked.insert(key);
                failed.push((event.position, error));
            }
        }
    }
    store.mark_published(&published).await?;
    for (position, error) in &failed {
        tracing::warn!(position, %error, "event not published");
        store.mark_failed(*position, error).await?;
    }
    metrics::counter!("lms_outbox_published_total").increment(published.len() as u64);
    metrics::counter!("lms_outbox_failures_total").increment(failed.len() as u64);
    Ok(BatchOutcome {
        failed: failed.len(),
    })
}
