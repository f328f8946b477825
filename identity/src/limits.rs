//! Login attempts, limited per account and per client address (GCRA from
//! `governor`): guessing a password is slow, and so is trying one password
//! against many accounts. In memory, per replica: N replicas allow N times
//! the attempts (docs/security.md).

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

pub struct LoginLimits {
    account: DefaultKeyedRateLimiter<String>,
    address: DefaultKeyedRateLimiter<IpAddr>,
    clock: DefaultClock,
}

fn quota(burst: u32, every: Duration) -> Quota {
    let every = every.max(Duration::from_millis(1));
    Quota::with_period(every)
        .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
        .allow_burst(NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN))
}

impl LoginLimits {
    pub fn new(
        account_burst: u32,
        account_every: Duration,
        address_burst: u32,
        address_every: Duration,
    ) -> Self {
        Self {
            account: RateLimiter::keyed(quota(account_burst, account_every)),
            address: RateLimiter::keyed(quota(address_burst, address_every)),
            clock: DefaultClock::default(),
        }
    }

    /// Counts one attempt on `account` (tenant and email) from `address`;
    /// `Err(wait)` when either is over its limit.
    pub fn attempt(&self, account: &str, address: Option<IpAddr>) -> Result<(), Duration> {
        if let Some(address) = address {
            self.address
                .check_key(&address)
                .map_err(|until| until.wait_time_from(self.clock.now()))?;
        }
        self.account
            .check_key(&account.to_string())
            .map_err(|until| until.wait_time_from(self.clock.now()))
    }

    /// Drops the state of keys that are back to a full burst (memory).
    pub fn forget_idle(&self) {
        self.account.retain_recent();
        self.address.retain_recent();
    }
}

/// The key of an account's limit.
pub fn account_key(tenant: &str, email: &str) -> String {
    format!("{tenant}\u{0}{email}")
}
