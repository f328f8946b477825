//! The outbox relay: publishes every committed event to Kafka, Avro-encoded in
//! the Confluent wire format, one topic per aggregate type, key = aggregate id,
//! in per-aggregate order; rows are marked published only after the broker
//! acknowledged them. One relay leads (a lease row with an expiry); others
//! stand by and take over once it expired.
//! An event that cannot be published however often it is tried becomes a
//! dead letter (`outbox_dead_letters`): its aggregate's later events wait
//! behind it, every other aggregate's flow on.

mod config;
mod leader;
mod outbox;
mod publisher;

pub use config::RelayConfig;
pub use leader::Leadership;
pub use outbox::{DeadLetter, OutboxStore, PendingEvent};
pub use publisher::{Failure, Publisher};

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

/// Rows deleted per pruning statement.
const PRUNE_BATCH: i64 = 5_000;

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
    let holder = uuid::Uuid::now_v7();
    let mut failures: u32 = 0;
    // Leadership lost (its connection broke) or a database error: stand by
    // and take the lead again once it can be had.
    loop {
        let mut leadership = tokio::select! {
            _ = &mut shutdown => break,
            leadership = Leadership::acquire(&pool, &config.leader_lease_name, holder, config.leader_lease()) => match leadership {
                Ok(leadership) => leadership,
                Err(error) => {
                    failures = failures.saturating_add(1);
                    tracing::warn!(%error, "cannot take the lead; retrying");
                    tokio::select! {
                        _ = &mut shutdown => break,
                        _ = tokio::time::sleep(backoff(failures)) => continue,
                    }
                }
            },
        };
        tracing::info!("relay is the leader; publishing the outbox");
        let led = lead(
            config,
            &pool,
            &store,
            &mut leadership,
            &mut publisher,
            &mut shutdown,
        )
        .await;
        match led {
            Ok(()) => {
                leadership.release().await;
                break;
            }
            Err(error) => {
                failures = failures.saturating_add(1);
                tracing::warn!(%error, "relay interrupted; standing by to lead again");
                drop(leadership);
                tokio::select! {
                    _ = &mut shutdown => break,
                    _ = tokio::time::sleep(backoff(failures)) => {},
                }
            }
        }
    }
    tracing::info!("relay stopped");
    Ok(())
}

/// `work` while the lease is valid: a database that stops answering (a cut
/// connection) cannot keep a relay that lost the lease publishing.
async fn within<T, E: Into<RelayError>>(
    leadership: &Leadership,
    work: impl Future<Output = Result<T, E>>,
) -> Result<T, RelayError> {
    match tokio::time::timeout_at(leadership.valid_until(), work).await {
        Ok(result) => result.map_err(Into::into),
        Err(_) => Err(RelayError::LeadershipLost(
            "the lease ran out waiting for the database".into(),
        )),
    }
}

/// 200 ms, 400 ms, … capped at 6.4 s.
fn backoff(failures: u32) -> Duration {
    Duration::from_millis(100 * 2u64.pow(failures.clamp(1, 6)))
}

/// Publishes while this relay leads, until shutdown (Ok) or a database or
/// leadership error (Err: the caller stands by and tries again).
async fn lead(
    config: &RelayConfig,
    pool: &PgPool,
    store: &OutboxStore,
    leadership: &mut Leadership,
    publisher: &mut Publisher,
    shutdown: &mut std::pin::Pin<&mut impl Future<Output = ()>>,
) -> Result<(), RelayError> {
    let mut listener = within(leadership, PgListener::connect_with(pool)).await?;
    within(leadership, listener.listen(OUTBOX_CHANNEL)).await?;
    let poll = Duration::from_millis(config.poll_interval_ms);
    let mut failures: u32 = 0;
    let prune_every = Duration::from_secs(config.prune_interval_secs.max(1));
    let mut pruned_at: Option<tokio::time::Instant> = None;
    loop {
        leadership.check().await?;
        if pruned_at.is_none_or(|at| at.elapsed() >= prune_every) {
            let hours = |h: u64| Duration::from_secs(h.saturating_mul(3600));
            let (outbox, commands) = within(
                leadership,
                store.prune(
                    hours(config.outbox_retention_hours),
                    hours(config.command_log_retention_hours),
                    PRUNE_BATCH,
                ),
            )
            .await?;
            metrics::counter!("lms_outbox_pruned_total").increment(outbox);
            metrics::counter!("lms_command_log_pruned_total").increment(commands);
            if outbox + commands > 0 {
                tracing::info!(outbox, commands, "pruned rows past their retention");
            }
            pruned_at = Some(tokio::time::Instant::now());
        }
        let batch = within(
            leadership,
            store.pending(config.batch_size, config.batch_max_bytes),
        )
        .await?;
        let backlog = within(leadership, store.backlog()).await?;
        metrics::gauge!("lms_outbox_backlog").set(backlog as f64);
        let dead = within(leadership, store.dead_letter_count()).await?;
        metrics::gauge!("lms_outbox_dead_letters").set(dead as f64);
        if batch.is_empty() {
            tokio::select! {
                _ = &mut *shutdown => return Ok(()),
                _ = listener.recv() => {},
                _ = tokio::time::sleep(poll) => {},
            }
            continue;
        }
        let span =
            tracing::info_span!("relay_batch", size = batch.len(), first = batch[0].position);
        let outcome = within(
            leadership,
            span.in_scope(|| async { publish_batch(config, publisher, store, &batch).await }),
        )
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
                *publisher = Publisher::new(config)?;
            } else if failures.is_multiple_of(RECREATE_AFTER_FAILURES) {
                tracing::warn!(failures, "batches keep failing; recreating the producer");
                *publisher = Publisher::new(config)?;
            }
            let delay = backoff(failures);
            tracing::warn!(
                failed = outcome.failed,
                ?delay,
                "publishing failed; retrying"
            );
            tokio::select! {
                _ = &mut *shutdown => return Ok(()),
                _ = tokio::time::sleep(delay) => {},
            }
        } else {
            failures = 0;
        }
    }
}

struct BatchOutcome {
    failed: usize,
}

/// Publishes a batch in position order and marks what the broker acknowledged.
/// After a failure for an aggregate, its later events in the batch are not
/// sent, or, when the failure came with the acknowledgements, not marked:
/// they go again behind the failed one (duplicates keep their event id;
/// consumers are idempotent). An event whose failure retrying cannot fix
/// becomes a dead letter after `dead_letter_after_attempts`.
async fn publish_batch(
    config: &RelayConfig,
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
            Ok(()) | Err(Failure::Behind) => {}
            Err(Failure::Permanent(error)) => {
                blocked.insert(key);
                failed.push((event, error, true));
            }
            Err(Failure::Transient(error)) => {
                blocked.insert(key);
                failed.push((event, error, false));
            }
        }
    }
    store.mark_published(&published).await?;
    for (event, error, permanent) in &failed {
        let position = event.position;
        let attempts = store.mark_failed(position, error).await?;
        if *permanent && attempts >= config.dead_letter_after_attempts {
            tracing::error!(position, attempts, %error, "event cannot be published; dead-lettered, its aggregate's later events wait behind it");
            store.dead_letter(event, error, attempts).await?;
            metrics::counter!("lms_outbox_dead_lettered_total").increment(1);
        } else {
            tracing::warn!(position, attempts, %error, permanent, "event not published");
        }
    }
    metrics::counter!("lms_outbox_published_total").increment(published.len() as u64);
    metrics::counter!("lms_outbox_failures_total").increment(failed.len() as u64);
    Ok(BatchOutcome {
        failed: failed.len(),
    })
}
