//! The projections this binary runs, by name: start a live worker or a
//! redrive of one without the caller knowing its type.

use crate::billing::BillingProjection;
use crate::course_catalog::CourseCatalogProjection;
use crate::redrive::{redrive, RedriveReport};
use crate::roster::RosterProjection;
use crate::runner::{run_projection, Services};
use crate::student_dashboard::StudentDashboardProjection;
use crate::WorkerError;
use std::sync::Arc;
use tokio::sync::watch;
use tokio::task::JoinSet;

/// Every projection, in the order `run` starts them.
pub const NAMES: &[&str] = &["course-catalog", "roster", "student-dashboard", "billing"];

/// Spawns the live worker of `name` into `set`; false if unknown.
pub fn spawn(
    name: &str,
    services: &Services,
    stop: &watch::Receiver<bool>,
    set: &mut JoinSet<Result<(), WorkerError>>,
) -> bool {
    let (services, stop) = (services.clone(), stop.clone());
    match name {
        "course-catalog" => {
            set.spawn(run_projection(
                Arc::new(CourseCatalogProjection),
                services,
                stop,
            ));
        }
        "roster" => {
            set.spawn(run_projection(Arc::new(RosterProjection), services, stop));
        }
        "student-dashboard" => {
            set.spawn(run_projection(
                Arc::new(StudentDashboardProjection),
                services,
                stop,
            ));
        }
        "billing" => {
            set.spawn(run_projection(Arc::new(BillingProjection), services, stop));
        }
        _ => return false,
    }
    true
}

/// Redrives the DLQ of `name`; `None` if unknown.
pub async fn redrive_by_name(
    name: &str,
    services: &Services,
) -> Option<Result<RedriveReport, WorkerError>> {
    Some(match name {
        "course-catalog" => redrive(Arc::new(CourseCatalogProjection), services).await,
        "roster" => redrive(Arc::new(RosterProjection), services).await,
        "student-dashboard" => redrive(Arc::new(StudentDashboardProjection), services).await,
        "billing" => redrive(Arc::new(BillingProjection), services).await,
        _ => return None,
    })
}

/// Rebuilds the read model of `name` and swaps it in; `None` if unknown.
pub async fn rebuild_by_name(
    name: &str,
    pool: &sqlx::PgPool,
    redis: &redis::aio::ConnectionManager,
    redis_prefix: &str,
    options: &crate::rebuild::Options<'_>,
) -> Option<Result<crate::rebuild::RebuildReport, crate::rebuild::RebuildError>> {
    use crate::rebuild::rebuild;
    Some(match name {
        "course-catalog" => {
            rebuild(&CourseCatalogProjection, pool, redis, redis_prefix, options).await
        }
        "roster" => rebuild(&RosterProjection, pool, redis, redis_prefix, options).await,
        "student-dashboard" => {
            rebuild(
                &StudentDashboardProjection,
                pool,
                redis,
                redis_prefix,
                options,
            )
            .await
        }
        "billing" => rebuild(&BillingProjection, pool, redis, redis_prefix, options).await,
        _ => return None,
    })
}

/// Compares the live read model of `name` with a fresh rebuild; `None` if unknown.
pub async fn verify_by_name(
    name: &str,
    pool: &sqlx::PgPool,
    redis: &redis::aio::ConnectionManager,
    redis_prefix: &str,
    settle: std::time::Duration,
    options: &crate::rebuild::Options<'_>,
) -> Option<Result<crate::rebuild::VerifyReport, crate::rebuild::RebuildError>> {
    use crate::rebuild::verify;
    Some(match name {
        "course-catalog" => {
            verify(
                &CourseCatalogProjection,
                pool,
                redis,
                redis_prefix,
                settle,
                options,
            )
            .await
        }
        "roster" => {
            verify(
                &RosterProjection,
                pool,
                redis,
                redis_prefix,
                settle,
                options,
            )
            .await
        }
        "student-dashboard" => {
            verify(
                &StudentDashboardProjection,
                pool,
                redis,
                redis_prefix,
                settle,
                options,
            )
            .await
        }
        "billing" => {
            verify(
                &BillingProjection,
                pool,
                redis,
                redis_prefix,
                settle,
                options,
            )
            .await
        }
        _ => return None,
    })
}
