//! Waiting for something that happens asynchronously (a projection, a
//! relay), without fixed sleeps.

use std::future::Future;
use std::time::{Duration, Instant};

/// `check` did not become true in time.
#[derive(Debug)]
pub struct TimedOut;

/// Polls `check` every 200 ms until it is true or `timeout` passed.
pub async fn eventually<F, Fut>(timeout: Duration, mut check: F) -> Result<(), TimedOut>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if check().await {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(TimedOut);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
