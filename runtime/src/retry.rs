//! The one retry policy for reaching a dependency at start-up (Postgres,
//! Redis may still be starting next to us: Kubernetes, local scripts).

use backon::{ExponentialBuilder, Retryable};
use std::future::Future;
use std::time::Duration;

/// 250 ms doubling to 5 s, with jitter, for about a minute.
pub fn startup_policy() -> ExponentialBuilder {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(250))
        .with_max_delay(Duration::from_secs(5))
        .with_max_times(16)
        .with_jitter()
}

/// Runs `attempt` until it succeeds, or fails with an error `transient`
/// does not accept, or the policy gives up; each retry is logged.
pub async fn at_startup<T, E, F, Fut>(
    what: &str,
    transient: impl Fn(&E) -> bool,
    attempt: F,
) -> Result<T, E>
where
    E: std::fmt::Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    attempt
        .retry(startup_policy())
        .when(|e| transient(e))
        .notify(|e, after| {
            tracing::warn!(error = %e, retry_in = ?after, "{what} not reachable yet");
        })
        .await
}
