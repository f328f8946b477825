//! The wall clock, injected into the domain where it needs time.

use chrono::{DateTime, Timelike, Utc};
use lms_domain::Clock;

#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    /// Microsecond precision: what Postgres and Avro `timestamp-micros` keep,
    /// so every copy of a timestamp agrees.
    fn now(&self) -> DateTime<Utc> {
        let now = Utc::now();
        now.with_nanosecond(now.nanosecond() / 1_000 * 1_000)
            .unwrap_or(now)
    }
}
