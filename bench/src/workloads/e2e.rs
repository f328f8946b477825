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
const MAX_IN_FLIGHT: usize = 512;
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
    let (replies, pending) = mpsc::unbounded_channel::<(String, Instant)>();
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
                let outcome = client.create_course(title).await;
                drop(slot);
                match outcome {
                    Ok(reply) => {
                        let _ = replies.send((reply.aggregate_id, Instant::now()));
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

struct Lag {
    histogram: hdrhistogram::Histogram<u64>,
    seen: u64,
    unseen: usize,
}

/// Polls `catalog.applied` for the courses replied but not yet seen.
async fn watch(
    pool: sqlx::PgPool,
    mut replies: mpsc::UnboundedReceiver<(String, Instant)>,
    poll: Duration,
) -> Result<Lag, WorkloadError> {
    let mut lag = Lag {
        histogram: histogram(),
        seen: 0,
        unseen: 0,
    };
    let mut pending: HashMap<String, Instant> = HashMap::new();
    let mut closed = false;
    let mut closed_at = None;
    loop {
        loop {
            match replies.try_recv() {
                Ok((id, at)) => {
                    pending.insert(id, at);
                }
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => {
                    closed = true;
                    break;
                }
            }
        }
        if !pending.is_empty() {
            let ids: Vec<&str> = pending.keys().map(String::as_str).collect();
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
