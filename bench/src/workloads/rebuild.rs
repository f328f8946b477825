//! Rebuild: events per second of `lms-replay rebuild <projection>` over a
//! store seeded with `rebuild_events` Course events, against the raw
//! baseline: the bulk insert (one INSERT … SELECT) that seeded those rows.
//!
//! The seed copies one real course stream (CreateCourse, AddModule,
//! AddLesson, PublishCourse, then UpdateCourseDetails: 10 events, written by
//! lms-commands) under new course, module and lesson ids, in stream order.

use super::{Bench, WorkloadError};
use crate::report::{Row, Target, Unit};
use crate::services::Service;
use serde::Deserialize;
use std::time::Instant;
use tokio::process::Command;

const WORKLOAD: &str = "rebuild";
/// Events in the template stream.
const STREAM_LENGTH: u64 = 10;

const SEED: &str = "
    WITH ids AS (
        SELECT n, gen_random_uuid()::text AS course, gen_random_uuid()::text AS module,
               gen_random_uuid()::text AS lesson
          FROM generate_series(1, $1::bigint) AS n),
    template AS (
        SELECT * FROM events WHERE aggregate_type = 'Course' AND aggregate_id = $2)
    INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version,
                        payload, metadata, event_id)
    SELECT t.aggregate_type, ids.course, t.sequence, t.event_type, t.event_version,
           replace(replace(replace(t.payload::text, $2, ids.course), $3, ids.module),
                   $4, ids.lesson)::json,
           t.metadata, gen_random_uuid()
      FROM ids CROSS JOIN template AS t
     ORDER BY ids.n, t.sequence";

#[derive(Debug, Deserialize)]
struct RebuildOutput {
    events: u64,
    aggregates: u64,
    seconds: f64,
    events_per_second: f64,
}

pub async fn run(bench: &mut Bench) -> Result<(), WorkloadError> {
    // A template stream made by the real command service; lms-query
    // migrates the read-model schemas the rebuild writes.
    bench
        .services
        .ensure(&[Service::Commands, Service::Query])
        .await?;
    let client = bench.command_client().await?;
    let course = client.published_course("Rebuild template".into()).await?;
    for n in 0..STREAM_LENGTH - 4 {
        client
            .update_details(&course.course_id, format!("Rebuild template v{n}"))
            .await?;
    }
    // The rebuild alone on the machine: no live worker, relay or server.
    bench.services.stop_all().await;

    let courses = bench.sizes.rebuild_events.div_ceil(STREAM_LENGTH).max(1);
    crate::progress(&format!(
        "rebuild: bulk insert of {} events ({courses} courses)",
        courses * STREAM_LENGTH
    ));
    let started = Instant::now();
    let inserted = sqlx::query(SEED)
        .bind(i64::try_from(courses).unwrap_or(i64::MAX))
        .bind(&course.course_id)
        .bind(&course.module_id)
        .bind(&course.lesson_id)
        .execute(&bench.pool)
        .await?
        .rows_affected();
    let insert_seconds = started.elapsed().as_secs_f64();
    let raw = inserted as f64 / insert_seconds.max(1e-6);
    sqlx::query("ANALYZE events").execute(&bench.pool).await?;

    let projection = bench.sizes.rebuild_projection.clone();
    crate::progress(&format!("rebuild: lms-replay rebuild {projection}"));
    let env = &bench.services.env;
    let output = Command::new(bench.services.bin_dir().join("lms-replay"))
        .args(["rebuild", &projection, "--json", "--quiet"])
        .env("LMS_DATABASE_URL", &env.database_url)
        .env("LMS_REDIS_URL", &env.redis_url)
        .env("LMS_REDIS_PREFIX", &env.redis_prefix)
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| WorkloadError::Failed(format!("running lms-replay: {e}")))?;
    if !output.status.success() {
        return Err(WorkloadError::Failed(format!(
            "lms-replay rebuild {projection}: {} {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        )));
    }
    let ours: RebuildOutput = serde_json::from_slice(&output.stdout).map_err(|e| {
        WorkloadError::Failed(format!(
            "lms-replay output {:?}: {e}",
            String::from_utf8_lossy(&output.stdout)
        ))
    })?;

    bench.report.push(
        Row::new(
            WORKLOAD,
            format!("{projection} events/s ({} events)", ours.events),
            Unit::PerSecond,
            ours.events_per_second,
        )
        .raw(raw, "bulk INSERT … SELECT of the same rows")
        .target(Target::AtLeast(50_000.0)),
    );
    bench.report.note(format!(
        "rebuild: {inserted} Course events seeded ({courses} copies of a 10-event stream) by one INSERT … SELECT in {insert_seconds:.1} s (the raw baseline); \
         lms-replay rebuild {projection} read {} events of {} aggregates (the earlier workloads' courses too) in {:.1} s, services stopped",
        ours.events, ours.aggregates, ours.seconds
    ));
    Ok(())
}
