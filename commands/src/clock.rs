//! The wall clock, injected into the domain where it needs time.

use chrono::{DateTime, Utc};
use lms_domain::Clock;

#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}
