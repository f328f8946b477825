//! Closed-loop load: `concurrency` workers each send one operation after the
//! other for a fixed time; latencies go into an HDR histogram (microseconds).
//! Operations that start during the warm-up are run but not counted.

use hdrhistogram::Histogram;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinSet;

/// Highest latency the histograms hold: 60 s in microseconds.
const MAX_MICROS: u64 = 60_000_000;

#[allow(clippy::expect_used)] // constant, valid bounds: cannot fail
pub fn histogram() -> Histogram<u64> {
    // 3 significant digits over 1 µs..60 s: well under 1 MB per histogram.
    Histogram::new_with_bounds(1, MAX_MICROS, 3).expect("valid histogram bounds")
}

/// Records `elapsed` in microseconds, saturating at the histogram's bound.
pub fn record(histogram: &mut Histogram<u64>, elapsed: Duration) {
    let micros = u64::try_from(elapsed.as_micros())
        .unwrap_or(MAX_MICROS)
        .clamp(1, MAX_MICROS);
    histogram.saturating_record(micros);
}

/// What a load run measured.
pub struct LoadResult {
    pub latencies: Histogram<u64>,
    /// Operations that succeeded after the warm-up.
    pub ok: u64,
    pub errors: u64,
    pub first_error: Option<String>,
    /// Length of the measured window.
    pub elapsed: Duration,
}

impl LoadResult {
    pub fn per_second(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    pub fn p50_ms(&self) -> f64 {
        self.latencies.value_at_quantile(0.50) as f64 / 1000.0
    }

    pub fn p99_ms(&self) -> f64 {
        self.latencies.value_at_quantile(0.99) as f64 / 1000.0
    }

    /// `"N errors (first: ...)"`, or `None` when all went through.
    pub fn error_note(&self) -> Option<String> {
        (self.errors > 0).then(|| {
            format!(
                "{} error(s), first: {}",
                self.errors,
                self.first_error.as_deref().unwrap_or("?")
            )
        })
    }
}

/// Runs `op(worker, i)` in `concurrency` loops for `warmup + duration`.
pub async fn closed_loop<F, Fut, E>(
    concurrency: usize,
    warmup: Duration,
    duration: Duration,
    op: F,
) -> LoadResult
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), E>> + Send,
    E: std::fmt::Display,
{
    let op = Arc::new(op);
    let start = Instant::now();
    let measure_from = start + warmup;
    let deadline = measure_from + duration;
    let mut workers = JoinSet::new();
    for worker in 0..concurrency.max(1) {
        let op = Arc::clone(&op);
        workers.spawn(async move {
            let mut latencies = histogram();
            let (mut ok, mut errors, mut first_error) = (0u64, 0u64, None);
            let mut i: u64 = 0;
            loop {
                let began = Instant::now();
                if began >= deadline {
                    break;
                }
                let outcome = op(worker, i).await;
                i += 1;
                if began < measure_from {
                    continue;
                }
                match outcome {
                    Ok(()) => {
                        record(&mut latencies, began.elapsed());
                        ok += 1;
                    }
                    Err(e) => {
                        errors += 1;
                        first_error.get_or_insert_with(|| e.to_string());
                    }
                }
            }
            (latencies, ok, errors, first_error)
        });
    }
    let mut result = LoadResult {
        latencies: histogram(),
        ok: 0,
        errors: 0,
        first_error: None,
        elapsed: Duration::ZERO,
    };
    while let Some(joined) = workers.join_next().await {
        match joined {
            Ok((latencies, ok, errors, first_error)) => {
                let _ = result.latencies.add(&latencies);
                result.ok += ok;
                result.errors += errors;
                if result.first_error.is_none() {
                    result.first_error = first_error;
                }
            }
            Err(e) => {
                result.errors += 1;
                result.first_error.get_or_insert_with(|| e.to_string());
            }
        }
    }
    // The last operations may end after the deadline: the window is until now.
    result.elapsed = Instant::now().saturating_duration_since(measure_from);
    result
}
