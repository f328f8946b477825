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
use rdkafka::producer::DeliveryFuture;
use sqlx::postgres::PgListener;
use sqlx::PgPool;
use std::collections::HashSet;
use std::future::Future;
use std::time::Duration;
use tracing::Instrument;

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    #[error("creating topic {topic}: {error}")]
    TopicCreation { topic: String, error: String },
    #[error("settling a batch: {0}")]
    Settling(#[from] tokio::task::JoinError),
    #[error("lost leadership: {0}")]
    LeadershipLost(String),
    #[error("schema registry client: {0}")]
    Registry(#[from] schema_registry_converter::error::SRCError),
}

/// Rows deleted per pruning statement.
const PRUNE_BATCH: i64 = 5_000;

/// Failed batches in a row after which the producer is replaced.
const RECREATE_AFTER_FAILURES: u32 = 3;

/// How often the backlog and dead-letter gauges are read.
const GAUGE_INTERVAL: Duration = Duration::from_secs(1);

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

/// A batch enqueued to the producer, before its acknowledgements are in.
struct InFlight {
    batch: Vec<PendingEvent>,
    sent: Vec<Result<DeliveryFuture, Failure>>,
}

/// A batch whose acknowledgements are awaited and whose rows are marked by a
/// task of its own, while the next batch is read, encoded and enqueued.
struct Settling {
    positions: Vec<i64>,
    task: tokio::task::JoinHandle<Result<Settled, RelayError>>,
}

struct Settled {
    failed: usize,
    /// `blocked` as given, with the aggregates that failed in this batch.
    blocked: HashSet<(String, String)>,
}

impl Settling {
    fn start(
        config: &RelayConfig,
        store: &OutboxStore,
        in_flight: InFlight,
        mut blocked: HashSet<(String, String)>,
    ) -> Self {
        let positions = in_flight.batch.iter().map(|e| e.position).collect();
        let store = store.clone();
        let dead_letter_after = config.dead_letter_after_attempts;
        let task = tokio::spawn(async move {
            let outcome = complete(dead_letter_after, &store, in_flight, &mut blocked).await?;
            Ok(Settled {
                failed: outcome.failed,
                blocked,
            })
        });
        Self { positions, task }
    }

    /// Waits for the task while the lease is valid; a task still running
    /// when it runs out is stopped.
    async fn settled(self, leadership: &Leadership) -> Result<Settled, RelayError> {
        let abort = self.task.abort_handle();
        match tokio::time::timeout_at(leadership.valid_until(), self.task).await {
            Ok(Ok(settled)) => settled,
            Ok(Err(join)) => Err(join.into()),
            Err(_) => {
                abort.abort();
                Err(RelayError::LeadershipLost(
                    "the lease ran out waiting for acknowledgements".into(),
                ))
            }
        }
    }
}

/// Publishes while this relay leads, until shutdown (Ok) or a database or
/// leadership error (Err: the caller stands by and tries again).
///
/// Two batches overlap: while the broker acknowledges one and its rows are
/// marked, the next is read, encoded and enqueued behind it on the same
/// producer (per-partition order holds). After a failure the pipeline drains
/// and nothing new is sent until the backoff has passed.
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
    let mut gauges_at: Option<tokio::time::Instant> = None;
    let mut settling: Option<Settling> = None;
    // Aggregates with an event that failed in a batch still in flight: their
    // later events are not sent (at enqueue) or not marked (acknowledged).
    let mut blocked: HashSet<(String, String)> = HashSet::new();
    loop {
        // A relay busy with a backlog stops too: what is in flight is
        // settled (marked) first.
        let stopping = tokio::select! {
            biased;
            _ = &mut *shutdown => true,
            _ = std::future::ready(()) => false,
        };
        if stopping {
            if let Some(last) = settling.take() {
                last.settled(leadership).await?;
            }
            return Ok(());
        }
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
        // Counting the backlog scans it: once per interval, not per batch.
        if gauges_at.is_none_or(|at| at.elapsed() >= GAUGE_INTERVAL) {
            let backlog = within(leadership, store.backlog()).await?;
            metrics::gauge!("lms_outbox_backlog").set(backlog as f64);
            let dead = within(leadership, store.dead_letter_count()).await?;
            metrics::gauge!("lms_outbox_dead_letters").set(dead as f64);
            gauges_at = Some(tokio::time::Instant::now());
        }
        let flying: &[i64] = settling.as_ref().map_or(&[], |s| &s.positions);
        let started = std::time::Instant::now();
        let batch = within(
            leadership,
            store.pending(config.batch_size, config.batch_max_bytes, flying),
        )
        .await?;
        let read = started.elapsed();
        if batch.is_empty() {
            if let Some(previous) = settling.take() {
                let done = previous.settled(leadership).await?;
                blocked.clear();
                if done.failed == 0 {
                    failures = 0;
                } else if failed(config, publisher, &mut failures, done.failed, shutdown).await? {
                    return Ok(());
                }
                continue;
            }
            tokio::select! {
                _ = &mut *shutdown => return Ok(()),
                _ = listener.recv() => {},
                _ = tokio::time::sleep(poll) => {},
            }
            continue;
        }
        let span =
            tracing::info_span!("relay_batch", size = batch.len(), first = batch[0].position);
        let sent = within(
            leadership,
            async { Ok::<_, RelayError>(publisher.send_batch(&batch, &mut blocked).await) }
                .instrument(span),
        )
        .await?;
        let enqueued = started.elapsed() - read;
        let size = batch.len();
        let current = InFlight { batch, sent };
        let Some(previous) = settling.take() else {
            settling = Some(Settling::start(config, store, current, blocked.clone()));
            continue;
        };
        let done = previous.settled(leadership).await?;
        tracing::debug!(
            size,
            ?read,
            ?enqueued,
            waited = ?(started.elapsed() - read - enqueued),
            "batch read and enqueued, the one before settled"
        );
        blocked.extend(done.blocked);
        if done.failed > 0 {
            // The batch just sent may hold later events of the failed
            // aggregates: settle it too (those are not marked), then back off.
            let more = Settling::start(config, store, current, blocked.clone())
                .settled(leadership)
                .await?;
            blocked.clear();
            let all = done.failed + more.failed;
            if failed(config, publisher, &mut failures, all, shutdown).await? {
                return Ok(());
            }
            continue;
        }
        failures = 0;
        settling = Some(Settling::start(config, store, current, blocked.clone()));
    }
}

/// After a batch with failures: a new producer when the old one cannot go
/// on, then a growing pause; true if shutdown came during it.
async fn failed(
    config: &RelayConfig,
    publisher: &mut Publisher,
    failures: &mut u32,
    failed: usize,
    shutdown: &mut std::pin::Pin<&mut impl Future<Output = ()>>,
) -> Result<bool, RelayError> {
    *failures = failures.saturating_add(1);
    // A fatal error (e.g. the idempotent producer's state lost in a broker
    // restart) leaves the producer unusable: start a new one. A producer can
    // also stay wedged without a fatal error (its idempotence state stuck
    // after a broker restart): after a few failed batches in a row, start
    // afresh as well.
    if let Some(fatal) = publisher.fatal_error() {
        tracing::warn!(%fatal, "producer failed fatally; recreating it");
        *publisher = Publisher::new(config)?;
    } else if failures.is_multiple_of(RECREATE_AFTER_FAILURES) {
        tracing::warn!(failures, "batches keep failing; recreating the producer");
        *publisher = Publisher::new(config)?;
    }
    let delay = backoff(*failures);
    tracing::warn!(failed, ?delay, "publishing failed; retrying");
    Ok(tokio::select! {
        _ = &mut *shutdown => true,
        _ = tokio::time::sleep(delay) => false,
    })
}

struct BatchOutcome {
    failed: usize,
}

/// Waits for a batch's acknowledgements and marks what the broker took.
/// After a failure for an aggregate (here or in the batch before), its later
/// events are not marked: they go again behind the failed one (duplicates
/// keep their event id; consumers are idempotent). An event whose failure
/// retrying cannot fix becomes a dead letter after
/// `dead_letter_after_attempts`.
async fn complete(
    dead_letter_after_attempts: i32,
    store: &OutboxStore,
    in_flight: InFlight,
    blocked: &mut HashSet<(String, String)>,
) -> Result<BatchOutcome, RelayError> {
    let InFlight { batch, sent } = in_flight;
    let results = Publisher::acknowledged(&batch, sent).await;
    let mut published = Vec::with_capacity(batch.len());
    let mut failed = Vec::new();
    let key = |event: &PendingEvent| (event.aggregate_type.clone(), event.aggregate_id.clone());
    for (event, result) in batch.iter().zip(results) {
        match result {
            Ok(()) if blocked.is_empty() || !blocked.contains(&key(event)) => {
                published.push(event.position);
            }
            Ok(()) | Err(Failure::Behind) => {}
            Err(Failure::Permanent(error)) => {
                blocked.insert(key(event));
                failed.push((event, error, true));
            }
            Err(Failure::Transient(error)) => {
                blocked.insert(key(event));
                failed.push((event, error, false));
            }
        }
    }
    store.mark_published(&published).await?;
    for (event, error, permanent) in &failed {
        let position = event.position;
        let attempts = store.mark_failed(position, error).await?;
        if *permanent && attempts >= dead_letter_after_attempts {
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
