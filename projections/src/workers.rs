//! The projections this binary runs, by id: start a live worker, a
//! redrive, a rebuild or a verify of one without the caller knowing its type.

use crate::billing::BillingProjection;
use crate::course_catalog::CourseCatalogProjection;
use crate::rebuild::{rebuild, verify, Options, RebuildError, RebuildReport, VerifyReport};
use crate::redrive::{redrive, RedriveReport};
use crate::roster::RosterProjection;
use crate::runner::{run_projection, Services};
use crate::student_dashboard::StudentDashboardProjection;
use crate::users::UsersProjection;
use crate::WorkerError;
use lms_runtime::Shutdown;
use redis::aio::ConnectionManager;
use sqlx::PgPool;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;

/// The projections this binary runs: each one's name is written here and
/// nowhere else (consumer groups, checkpoints, metrics, the CLI take it
/// from here through `Projection::name`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProjectionId {
    CourseCatalog,
    Roster,
    StudentDashboard,
    Billing,
    Users,
}

impl ProjectionId {
    /// Every projection, in the order `run` starts them.
    pub const ALL: [ProjectionId; 5] = [
        ProjectionId::CourseCatalog,
        ProjectionId::Roster,
        ProjectionId::StudentDashboard,
        ProjectionId::Billing,
        ProjectionId::Users,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            ProjectionId::CourseCatalog => "course-catalog",
            ProjectionId::Roster => "roster",
            ProjectionId::StudentDashboard => "student-dashboard",
            ProjectionId::Billing => "billing",
            ProjectionId::Users => "users",
        }
    }

    /// `course-catalog, roster, ...`, for messages.
    pub fn known() -> String {
        Self::ALL.map(Self::as_str).join(", ")
    }
}

impl std::fmt::Display for ProjectionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is none of [`ProjectionId::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown projection {0} (known: {known})", known = ProjectionId::known())]
pub struct UnknownProjection(pub String);

impl std::str::FromStr for ProjectionId {
    type Err = UnknownProjection;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|id| id.as_str() == name)
            .ok_or_else(|| UnknownProjection(name.to_string()))
    }
}

/// Evaluates `$body` with `$p` bound to the projection `$id` (a value of
/// its own type). The one place that maps ids to types.
macro_rules! with_projection {
    ($id:expr, |$p:ident| $body:expr) => {
        match $id {
            ProjectionId::CourseCatalog => {
                let $p = CourseCatalogProjection;
                $body
            }
            ProjectionId::Roster => {
                let $p = RosterProjection;
                $body
            }
            ProjectionId::StudentDashboard => {
                let $p = StudentDashboardProjection;
                $body
            }
            ProjectionId::Billing => {
                let $p = BillingProjection;
                $body
            }
            ProjectionId::Users => {
                let $p = UsersProjection;
                $body
            }
        }
    };
}

/// Spawns the live worker of `id` into `set`.
pub fn spawn(
    id: ProjectionId,
    services: &Services,
    stop: &Shutdown,
    set: &mut JoinSet<Result<(), WorkerError>>,
) {
    with_projection!(id, |p| {
        set.spawn(run_projection(Arc::new(p), services.clone(), stop.clone()));
    })
}

/// Redrives the DLQ of `id`.
pub async fn redrive_by_id(
    id: ProjectionId,
    services: &Services,
    stop: &Shutdown,
) -> Result<RedriveReport, WorkerError> {
    with_projection!(id, |p| redrive(Arc::new(p), services, stop).await)
}

/// Rebuilds the read model of `id` and swaps it in.
pub async fn rebuild_by_id(
    id: ProjectionId,
    pool: &PgPool,
    redis: &ConnectionManager,
    redis_prefix: &str,
    options: &Options<'_>,
) -> Result<RebuildReport, RebuildError> {
    with_projection!(id, |p| rebuild(&p, pool, redis, redis_prefix, options)
        .await)
}

/// Compares the live read model of `id` with a fresh rebuild.
pub async fn verify_by_id(
    id: ProjectionId,
    pool: &PgPool,
    redis: &ConnectionManager,
    redis_prefix: &str,
    settle: Duration,
    options: &Options<'_>,
) -> Result<VerifyReport, RebuildError> {
    with_projection!(id, |p| verify(
        &p,
        pool,
        redis,
        redis_prefix,
        settle,
        options
    )
    .await)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_projection_reads_back_its_name_and_unknown_names_list_the_known() {
        for id in ProjectionId::ALL {
            assert_eq!(id.as_str().parse::<ProjectionId>(), Ok(id));
        }
        let unknown = "catalog".parse::<ProjectionId>().map(|_| ());
        assert_eq!(
            unknown.map_err(|e| e.to_string()),
            Err("unknown projection catalog (known: course-catalog, roster, student-dashboard, billing, users)".to_string())
        );
    }
}
