//! `rebuild <projection>` and `verify <projection>`: the read-model side of
//! the replay tool, driving `lms_projections::rebuild` (shadow schema and
//! Redis prefix, atomic swap; see docs/runbooks/rebuilding-a-read-model.md).

use crate::{Config, ReplayError};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use lms_projections::rebuild::{Options, RebuildError};
use lms_projections::workers::{self, ProjectionId};
use lms_runtime::{database, ExposeSecret};
use redis::aio::ConnectionManager;
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;
use std::io::IsTerminal;
use std::time::Duration;

/// `--batch-size` of rebuild and verify unless given: the projections' batch
/// handlers write a batch in a few statements, so bigger batches are faster.
pub const REBUILD_BATCH_SIZE: u32 = 5_000;

#[derive(Debug, clap::Args)]
pub struct RebuildArgs {
    /// course-catalog | roster | student-dashboard | billing
    pub projection: String,
    /// One JSON document on stdout instead of text.
    #[arg(long)]
    pub json: bool,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// course-catalog | roster | student-dashboard | billing
    pub projection: String,
    /// How long to wait for the live worker to reach the snapshot first.
    #[arg(long, default_value_t = 30)]
    pub settle_secs: u64,
    /// One JSON document on stdout instead of text.
    #[arg(long)]
    pub json: bool,
    #[arg(long, short)]
    pub quiet: bool,
}

fn known(projection: &str) -> Result<ProjectionId, ReplayError> {
    projection
        .parse()
        .map_err(|e: workers::UnknownProjection| ReplayError::Usage(e.to_string()))
}

fn rebuild_error(e: RebuildError) -> ReplayError {
    match e {
        RebuildError::Database(source) => ReplayError::database("rebuilding", source),
        RebuildError::Event { position, source } => ReplayError::Internal(format!(
            "the event at position {position} cannot be read: {source}"
        )),
        other => ReplayError::Internal(other.to_string()),
    }
}

async fn connect(config: &Config) -> Result<(PgPool, ConnectionManager), ReplayError> {
    let options =
        database::options(&config.database_url).map_err(|e| ReplayError::Usage(e.to_string()))?;
    let at = format!("database at {}", database::describe(&options));
    let pool = PgPoolOptions::new()
        .max_connections(4)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(options)
        .await
        .map_err(|e| ReplayError::Unreachable {
            at,
            reason: e.to_string(),
        })?;
    let redis = redis::Client::open(config.redis_url.expose_secret())
        .map_err(|e| ReplayError::Usage(format!("LMS_REDIS_URL: {e}")))?
        .get_connection_manager()
        .await
        .map_err(|e| ReplayError::Unreachable {
            at: "Redis (LMS_REDIS_URL)".into(),
            reason: e.to_string(),
        })?;
    Ok((pool, redis))
}

/// Rate and ETA on stderr, when it is a terminal and not `--quiet`.
fn progress_bar(quiet: bool, what: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
    if quiet || !std::io::stderr().is_terminal() {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    if let Ok(style) =
        ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} events, {per_sec}, ETA {eta}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(what.to_string());
    bar
}

pub async fn run_rebuild(
    config: &Config,
    args: &RebuildArgs,
    batch_size: u32,
) -> Result<(), ReplayError> {
    let id = known(&args.projection)?;
    let (pool, redis) = connect(config).await?;
    let bar = progress_bar(args.quiet, &format!("rebuilding {}", args.projection));
    let progress = |done: u64, total: u64| {
        bar.set_length(total);
        bar.set_position(done);
    };
    let options = Options {
        batch_size: i64::from(batch_size),
        progress: &progress,
    };
    let report = workers::rebuild_by_id(id, &pool, &redis, &config.redis_prefix, &options)
        .await
        .map_err(rebuild_error)?;
    bar.finish_and_clear();
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "projection": args.projection,
                "events": report.events,
                "aggregates": report.aggregates,
                "up_to_position": report.up_to_position,
                "seconds": report.elapsed.as_secs_f64(),
                "events_per_second": report.events_per_second(),
                "swapped": report.swapped,
            })
        );
    } else {
        println!(
            "rebuilt {}: {} events of {} aggregates up to position {} in {:.2} s ({:.0} events/s); swapped in, the live worker continues from the positions noted at the start",
            args.projection,
            report.events,
            report.aggregates,
            report.up_to_position,
            report.elapsed.as_secs_f64(),
            report.events_per_second()
        );
    }
    Ok(())
}

/// Ok(true) when the live model equals the rebuild.
pub async fn run_verify(
    config: &Config,
    args: &VerifyArgs,
    batch_size: u32,
) -> Result<bool, ReplayError> {
    let id = known(&args.projection)?;
    let (pool, redis) = connect(config).await?;
    let bar = progress_bar(
        args.quiet,
        &format!("rebuilding {} to compare", args.projection),
    );
    let progress = |done: u64, total: u64| {
        bar.set_length(total);
        bar.set_position(done);
    };
    let options = Options {
        batch_size: i64::from(batch_size),
        progress: &progress,
    };
    let report = workers::verify_by_id(
        id,
        &pool,
        &redis,
        &config.redis_prefix,
        Duration::from_secs(args.settle_secs),
        &options,
    )
    .await
    .map_err(rebuild_error)?;
    bar.finish_and_clear();
    let same = report.differences.is_empty();
    if args.json {
        let differences: Vec<serde_json::Value> = report
            .differences
            .iter()
            .map(|d| serde_json::json!({"place": d.place, "live": d.live, "rebuilt": d.rebuilt}))
            .collect();
        println!(
            "{}",
            serde_json::json!({
                "projection": args.projection,
                "events": report.rebuild.events,
                "tables": report.tables,
                "redis_keys": report.redis_keys,
                "live_ahead": report.live_ahead,
                "differences": differences,
            })
        );
    } else {
        println!(
            "verify {}: compared tables {} and {} Redis keys with a rebuild of {} events",
            args.projection,
            report.tables.join(", "),
            report.redis_keys,
            report.rebuild.events
        );
        if report.live_ahead > 0 {
            println!(
                "note: the live model applied {} aggregates further than the snapshot (commands kept arriving); differences there are expected",
                report.live_ahead
            );
        }
        for d in &report.differences {
            println!(
                "DIFF {}: live {} | rebuilt {}",
                d.place,
                d.live.as_deref().unwrap_or("(none)"),
                d.rebuilt.as_deref().unwrap_or("(none)")
            );
        }
        if same {
            println!("no difference");
        } else {
            println!("{} differences", report.differences.len());
        }
    }
    Ok(same)
}
