//! The projections this binary runs, by name: start a live worker or a
//! redrive of one without the caller knowing its type.

use crate::redrive::RedriveReport;
use crate::runner::Services;
use crate::WorkerError;
use tokio::sync::watch;
use tokio::task::JoinSet;

/// Every projection, in the order `run` starts them.
pub const NAMES: &[&str] = &[];

/// Spawns the live worker of `name` into `set`; false if unknown.
pub fn spawn(
    name: &str,
    services: &Services,
    stop: &watch::Receiver<bool>,
    set: &mut JoinSet<Result<(), WorkerError>>,
) -> bool {
    let _ = (name, services, stop, set);
    false
}

/// Redrives the DLQ of `name`; `None` if unknown.
pub async fn redrive_by_name(
    name: &str,
    services: &Services,
) -> Option<Result<RedriveReport, WorkerError>> {
    let _ = (name, services);
    None
}
