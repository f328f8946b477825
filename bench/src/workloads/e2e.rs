//! End to end: CreateCourse at a fixed rate (open loop: sent on a clock, not
//! after the previous reply) through the whole pipeline (lms-commands →
//! outbox → lms-relay → Kafka → lms-projections), and for each command the
//! time from its reply until the course-catalog read model shows it
//! (`catalog.applied`, written in the transaction that writes the row; the
//! Redis card is written just before it commits).

use super::{Bench, WorkloadError};
use crate::load::{histogram, record};
use crate::report::{Row, Target, Unit};
use crate::services::Service;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinSet;

const WORKLOAD: &str = "end to end";
/// Commands in flight at most; a tick finding none free skips its command.
/// lms-commands' default `LMS_GRPC_MAX_CONCURRENT_REQUESTS`: more would be
/// refused as RESOURCE_EXHAUSTED.
const MAX_IN_FLIGHT: usize = 256;
/// Replied courses the watcher asks about per poll, the oldest first: its
/// queries cost the same however far the workers fall behind.
const POLL_AT_MOST: usize = 64;
/// Ticks per second of the sending clock.
const TICKS_PER_SECOND: u32 = 100;

pub async fn run(bench: &mut Bench) -> Result<(), WorkloadError> {
    bench.services.ensure(&Service::ALL).await?;
    for rate in bench.sizes.e2e_rates.clone() {
        run_at(bench, rate.max(1)).await?;
    }
    Ok(())
}

async fn run_at(bench: &mut Bench, rate: u32) -> Result<(), WorkloadError> {
    let client = bench.command_client().await?;
    // Everything before is projected (the workers join their groups and
    // catch up with the earlier workloads' events).
    crate::progress("end to end: waiting for the workers to catch up");
    let probe = client.create_course("Catch-up probe".into()).await?;
    bench
        .wait_catalog(
            &probe.aggregate_id,
            probe.sequence as i64,
            Duration::from_secs(600),
        )
        .await?;

    let duration = bench.sizes.duration;
    crate::progress(&format!(
        "end to end: CreateCourse at {rate}/s for {} s",
        duration.as_secs()
    ));
    let (replies, pending) = mpsc::unbounded_channel::<Replied>();
    let watcher = tokio::spawn(watch(bench.pool.clone(), pending, bench.sizes.e2e_poll));
    let slots = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let mut sends = JoinSet::new();
    let per_tick = f64::from(rate) / f64::from(TICKS_PER_SECOND);
    let mut ticker = tokio::time::interval(Duration::from_secs(1) / TICKS_PER_SECOND);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let started = Instant::now();
    let (mut due, mut sent, mut skipped, mut errors) = (0.0f64, 0u64, 0u64, 0u64);
    let mut first_error = None;
    while started.elapsed() < duration {
        ticker.tick().await;
        due += per_tick;
        while due >= 1.0 {
            due -= 1.0;
            let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
                skipped += 1;
                continue;
            };
            let client = client.clone();
            let replies = replies.clone();
            let title = format!("E2E course {sent}");
            sent += 1;
            sends.spawn(async move {
                let sent_at = Instant::now();
                let outcome = client.create_course(title).await;
                drop(slot);
                match outcome {
                    Ok(reply) => {
                        let _ = replies.send(Replied {
                            id: reply.aggregate_id,
                            at: Instant::now(),
                            took: sent_at.elapsed(),
                        });
                        Ok(())
                    }
                    Err(e) => Err(e.to_string()),
                }
            });
        }
        while let Some(done) = sends.try_join_next() {
            if !matches!(done, Ok(Ok(()))) {
                errors += 1;
                first_error.get_or_insert_with(|| format!("{done:?}"));
            }
        }
    }
    // The clock's window; replies still coming are awaited below.
    let sending = started.elapsed();
    while let Some(done) = sends.join_next().await {
        if !matches!(done, Ok(Ok(()))) {
            errors += 1;
            first_error.get_or_insert_with(|| format!("{done:?}"));
        }
    }
    drop(replies);
    let lag = watcher
        .await
        .map_err(|e| WorkloadError::Failed(format!("watcher: {e}")))??;
    let achieved = sent.saturating_sub(errors) as f64 / sending.as_secs_f64();
    let stages = stages(&bench.pool, &lag.seen_ids).await?;

    let report = &mut bench.report;
    report.push(
        Row::new(
            WORKLOAD,
            format!("rate achieved (asked {rate}/s)"),
            Unit::PerSecond,
            achieved,
        )
        .target(Target::AtLeast(f64::from(rate))),
    );
    report.push(Row::new(
        WORKLOAD,
        format!("projection lag p50 at {rate}/s"),
        Unit::Millis,
        lag.histogram.value_at_quantile(0.5) as f64 / 1000.0,
    ));
    let p99 = Row::new(
        WORKLOAD,
        format!("projection lag p99 at {rate}/s"),
        Unit::Millis,
        lag.histogram.value_at_quantile(0.99) as f64 / 1000.0,
    );
    // The target is for 1,000 commands/s; a lower rate is context.
    report.push(if rate >= 1000 {
        p99.target(Target::Below(100.0))
    } else {
        p99
    });
    let ms = |h: &hdrhistogram::Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    for (stage, histogram) in [
        ("command send → reply", &lag.commands),
        ("commit → relay acknowledged", &stages.published),
        ("commit → worker's apply", &stages.applied),
    ] {
        report.push(Row::new(
            WORKLOAD,
            format!("{stage} p99 at {rate}/s"),
            Unit::Millis,
            ms(histogram, 0.99),
        ));
    }
    report.note(format!(
        "end to end at {rate}/s, where the time goes (p50 / p99 ms): command send → reply {:.1} / {:.1}; \
         commit → relay acknowledged and marked {:.1} / {:.1}; commit → the worker's apply transaction {:.1} / {:.1}; \
         reply → seen by the poller {:.1} / {:.1} ({} courses; times from outbox.created_at, outbox.published_at, catalog.applied.updated_at)",
        ms(&lag.commands, 0.5),
        ms(&lag.commands, 0.99),
        ms(&stages.published, 0.5),
        ms(&stages.published, 0.99),
        ms(&stages.applied, 0.5),
        ms(&stages.applied, 0.99),
        ms(&lag.histogram, 0.5),
        ms(&lag.histogram, 0.99),
        stages.applied.len(),
    ));
    report.note(format!(
        "end to end at {rate}/s: {sent} CreateCourse sent in {:.1} s ({skipped} ticks skipped with {MAX_IN_FLIGHT} in flight, {errors} errors{}); \
         lag = reply → row in catalog.applied (course-catalog), polled every {} ms, {} seen, {} not seen within 60 s after the last send; \
         max lag {:.1} ms",
        sending.as_secs_f64(),
        first_error.map(|e| format!(", first: {e}")).unwrap_or_default(),
        bench.sizes.e2e_poll.as_millis(),
        lag.seen,
        lag.unseen,
        lag.histogram.max() as f64 / 1000.0,
    ));
    Ok(())
}

struct Replied {
    id: String,
    /// When the reply arrived.
    at: Instant,
    /// Send → reply.
    took: Duration,
}

struct Lag {
    histogram: hdrhistogram::Histogram<u64>,
    /// Send → reply of the commands.
    commands: hdrhistogram::Histogram<u64>,
    seen: u64,
    seen_ids: Vec<String>,
    unseen: usize,
}

struct Stages {
    published: hdrhistogram::Histogram<u64>,
    applied: hdrhistogram::Histogram<u64>,
}

/// The server-side times of each course's first event: its commit
/// (`outbox.created_at`), the relay marking it published after the broker's
/// acknowledgement (`published_at`), and the start of the worker's apply
/// transaction (`catalog.applied.updated_at`). All three come from one
/// Postgres clock.
async fn stages(pool: &sqlx::PgPool, ids: &[String]) -> Result<Stages, WorkloadError> {
    let rows: Vec<(f64, f64)> = sqlx::query_as(
        "SELECT extract(epoch FROM o.published_at - o.created_at)::float8,
                extract(epoch FROM a.updated_at - o.created_at)::float8
           FROM unnest($1::text[]) AS run(id)
           JOIN events e ON e.aggregate_id = run.id AND e.sequence = 1
           JOIN outbox o ON o.position = e.position
           JOIN catalog.applied a ON a.projection = 'course-catalog' AND a.aggregate_id = run.id
          WHERE o.published_at IS NOT NULL",
    )
    .bind(ids)
    .fetch_all(pool)
    .await?;
    let mut stages = Stages {
        published: histogram(),
        applied: histogram(),
    };
    for (published, applied) in rows {
        record(
            &mut stages.published,
            Duration::from_secs_f64(published.max(0.0)),
        );
        record(
            &mut stages.applied,
            Duration::from_secs_f64(applied.max(0.0)),
        );
    }
    Ok(stages)
}

/// Polls `catalog.applied` for the courses replied but not yet seen.
async fn watch(
    pool: sqlx::PgPool,
    mut replies: mpsc::UnboundedReceiver<Replied>,
    poll: Duration,
) -> Result<Lag, WorkloadError> {
    let mut lag = Lag {
        histogram: histogram(),
        commands: histogram(),
        seen: 0,
        seen_ids: Vec::new(),
        unseen: 0,
    };
    let mut pending: HashMap<String, Instant> = HashMap::new();
    let mut closed = false;
    let mut closed_at = None;
    loop {
        loop {
            match replies.try_recv() {
                Ok(replied) => {
                    record(&mut lag.commands, replied.took);
                    pending.insert(replied.id, replied.at);
                }
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => {
                    closed = true;
                    break;
                }
            }
        }
        if !pending.is_empty() {
            let mut oldest: Vec<(&String, &Instant)> = pending.iter().collect();
            if oldest.len() > POLL_AT_MOST {
                oldest.select_nth_unstable_by_key(POLL_AT_MOST - 1, |(_, at)| **at);
                oldest.truncate(POLL_AT_MOST);
            }
            let ids: Vec<&str> = oldest.iter().map(|(id, _)| id.as_str()).collect();
            let found: Vec<String> = sqlx::query_scalar(
                "SELECT aggregate_id FROM catalog.applied
                  WHERE projection = 'course-catalog' AND aggregate_id = ANY($1)",
            )
            .bind(&ids)
            .fetch_all(&pool)
            .await?;
            let now = Instant::now();
            for id in found {
                if let Some(at) = pending.remove(&id) {
                    record(&mut lag.histogram, now.saturating_duration_since(at));
                    lag.seen += 1;
                    lag.seen_ids.push(id);
                }
            }
        }
        if closed {
            let since = *closed_at.get_or_insert_with(Instant::now);
            if pending.is_empty() || since.elapsed() > Duration::from_secs(60) {
                lag.unseen = pending.len();
                return Ok(lag);
            }
        }
        tokio::time::sleep(poll).await;
    }
}
