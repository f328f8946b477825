//! Commands: `CreateCourse` over gRPC at a fixed concurrency (each a new
//! stream: one event, one outbox row, one command-log row) against the raw
//! baseline, a sqlx loop at the same concurrency inserting the same event row
//! and outbox row in one transaction into copies of the same tables.

use super::{Bench, WorkloadError};
use crate::database;
use crate::load::closed_loop;
use crate::report::{Row, Target, Unit};
use crate::services::Service;
use serde_json::Value;
use std::sync::Arc;
use uuid::Uuid;

const WORKLOAD: &str = "commands";

/// Copies of `events` and `outbox` (same columns, keys, indexes, identity),
/// so the raw rows never reach the relay.
const RAW_TABLES: &str = "
    DROP SCHEMA IF EXISTS bench_raw CASCADE;
    CREATE SCHEMA bench_raw;
    CREATE TABLE bench_raw.events (LIKE public.events INCLUDING ALL);
    CREATE TABLE bench_raw.outbox (LIKE public.outbox INCLUDING ALL);
    ALTER TABLE bench_raw.outbox ADD FOREIGN KEY (position) REFERENCES bench_raw.events (position);
";

/// The statement lms-commands' repository runs per event.
const RAW_APPEND: &str = "
    WITH appended AS (
        INSERT INTO bench_raw.events (aggregate_type, aggregate_id, sequence, event_type,
                                      event_version, payload, metadata, event_id)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
        RETURNING position)
    INSERT INTO bench_raw.outbox (position) SELECT position FROM appended";

pub async fn run(bench: &mut Bench) -> Result<(), WorkloadError> {
    // Only the command service: the relay would compete for the 2 cores.
    bench
        .services
        .stop(&[Service::Projections, Service::Query, Service::Relay])
        .await;
    bench.services.ensure(&[Service::Commands]).await?;
    let client = bench.command_client().await?;
    let sizes = bench.sizes.clone();
    crate::progress(&format!(
        "commands: CreateCourse at concurrency {} for {:?} (+{:?} warm-up)",
        sizes.concurrency, sizes.duration, sizes.warmup
    ));
    let ours = closed_loop(
        sizes.concurrency,
        sizes.warmup,
        sizes.duration,
        move |w, i| {
            let client = client.clone();
            async move {
                client
                    .create_course(format!("Bench course {w}-{i}"))
                    .await
                    .map(|_| ())
            }
        },
    )
    .await;

    // The same row as a real command wrote it.
    let template: (String, String, String, Value, Value) = sqlx::query_as(
        "SELECT aggregate_type, event_type, event_version, payload::jsonb, metadata::jsonb
           FROM events WHERE event_type = 'CourseCreated' ORDER BY position DESC LIMIT 1",
    )
    .fetch_one(&bench.pool)
    .await?;
    sqlx::raw_sql(RAW_TABLES).execute(&bench.pool).await?;
    // As many connections as lms-commands' pool (LMS_DB_MAX_CONNECTIONS, 20).
    let raw_pool = database::pool(&bench.services.env.database_url, 20).await?;
    let template = Arc::new(template);
    crate::progress("commands: raw insert baseline");
    let raw = closed_loop(
        sizes.concurrency,
        sizes.warmup,
        sizes.duration,
        move |_, _| {
            let pool = raw_pool.clone();
            let template = Arc::clone(&template);
            async move {
                let (aggregate_type, event_type, event_version, payload, metadata) = &*template;
                let mut tx = pool.begin().await?;
                sqlx::query(RAW_APPEND)
                    .bind(aggregate_type)
                    .bind(Uuid::now_v7().to_string())
                    .bind(1i64)
                    .bind(event_type)
                    .bind(event_version)
                    .bind(payload)
                    .bind(metadata)
                    .bind(Uuid::now_v7())
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await
            }
        },
    )
    .await;

    let label = "sqlx: same event + outbox row, one transaction each";
    let report = &mut bench.report;
    report.push(
        Row::new(
            WORKLOAD,
            "CreateCourse throughput",
            Unit::PerSecond,
            ours.per_second(),
        )
        .raw(raw.per_second(), label)
        .target(Target::RatioAtLeast(0.5)),
    );
    report.push(
        Row::new(
            WORKLOAD,
            "CreateCourse latency p50",
            Unit::Millis,
            ours.p50_ms(),
        )
        .raw(raw.p50_ms(), label),
    );
    report.push(
        Row::new(
            WORKLOAD,
            "CreateCourse latency p99",
            Unit::Millis,
            ours.p99_ms(),
        )
        .raw(raw.p99_ms(), label),
    );
    report.note(format!(
        "commands: concurrency {}, {} s measured after {} s warm-up; ours {} commands, raw {} inserts; \
         raw = {label} (tables bench_raw.events/outbox, same indexes)",
        sizes.concurrency,
        sizes.duration.as_secs(),
        sizes.warmup.as_secs(),
        ours.ok,
        raw.ok
    ));
    for (who, result) in [("ours", &ours), ("raw", &raw)] {
        if let Some(note) = result.error_note() {
            report.note(format!("commands ({who}): {note}"));
        }
    }
    Ok(())
}
