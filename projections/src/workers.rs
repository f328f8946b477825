//! The projections this binary runs, by name: start a live worker, a
//! redrive, a rebuild or a verify of one without the caller knowing its type.

use crate::billing::BillingProjection;
use crate::course_catalog::CourseCatalogProjection;
use crate::rebuild::{rebuild, verify, Options, RebuildError, RebuildReport, VerifyReport};
use crate::redrive::{redrive, RedriveReport};
use crate::roster::RosterProjection;
use crate::runner::{run_projection, Services};
use crate::student_dashboard::StudentDashboardProjection;
use crate::WorkerError;
use lms_runtime::Shutdown;
use redis::aio::ConnectionManager;
use sqlx::PgPool;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;

/// Every projection, in the order `run` starts them.
pub const NAMES: &[&str] = &["course-catalog", "roster", "student-dashboard", "billing"];

/// Evaluates `$body` with `$p` bound to the projection named `$name` (a
/// value of its own type), as `Some`; `None` for an unknown name. The one
/// place that maps names to types.
macro_rules! with_projection {
    ($name:expr, |$p:ident| $body:expr) => {
        match $name {
            "course-catalog" => {
                let $p = CourseCatalogProjection;
                Some($body)
            }
            "roster" => {
                let $p = RosterProjection;
                Some($body)
            }
            "student-dashboard" => {
                let $p = StudentDashboardProjection;
                Some($body)
            }
            "billing" => {
                let $p = BillingProjection;
                Some($body)
            }
            _ => None,
        }
    };
}

/// Spawns the live worker of `name` into `set`; false if unknown.
pub fn spawn(
    name: &str,
    services: &Services,
    stop: &Shutdown,
    set: &mut JoinSet<Result<(), WorkerError>>,
) -> bool {
    with_projection!(name, |p| {
        set.spawn(run_projection(Arc::new(p), services.clone(), stop.clone()));
    })
    .is_some()
}

/// Redrives the DLQ of `name`; `None` if unknown.
pub async fn redrive_by_name(
    name: &str,
    services: &Services,
) -> Option<Result<RedriveReport, WorkerError>> {
    with_projection!(name, |p| redrive(Arc::new(p), services).await)
}

/// Rebuilds the read model of `name` and swaps it in; `None` if unknown.
pub async fn rebuild_by_name(
    name: &str,
    pool: &PgPool,
    redis: &ConnectionManager,
    redis_prefix: &str,
    options: &Options<'_>,
) -> Option<Result<RebuildReport, RebuildError>> {
    with_projection!(name, |p| rebuild(&p, pool, redis, redis_prefix, options)
        .await)
}

/// Compares the live read model of `name` with a fresh rebuild; `None` if unknown.
pub async fn verify_by_name(
    name: &str,
    pool: &PgPool,
    redis: &ConnectionManager,
    redis_prefix: &str,
    settle: Duration,
    options: &Options<'_>,
) -> Option<Result<VerifyReport, RebuildError>> {
    with_projection!(name, |p| verify(
        &p,
        pool,
        redis,
        redis_prefix,
        settle,
        options
    )
    .await)
}
