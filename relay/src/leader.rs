//! Single active relay: a lease row (`relay_lease`) with an expiry, renewed
//! by the leader. Publishing from two relays at once could interleave an
//! aggregate's events (duplicates, never a reorder of first occurrences),
//! so a leader stops as soon as it cannot prove its lease is still valid,
//! and standbys take the lease over once it expired.

use super::RelayError;
use sqlx::PgPool;
use std::time::Duration;
use tokio::time::Instant;
use uuid::Uuid;

pub struct Leadership {
    pool: PgPool,
    name: String,
    holder: Uuid,
    epoch: i64,
    lease: Duration,
    /// Until when this relay may publish: the lease time counted from when
    /// the last successful renewal was sent (before the server set its
    /// expiry), so it ends no later than the row's `expires_at`.
    valid_until: Instant,
    renewed_at: Instant,
}

impl Leadership {
    /// Waits until `holder` (one id per relay process) holds the lease
    /// `name`: there is none, another relay's has expired, or it is still
    /// this relay's own. Checks every third of `lease`.
    pub async fn acquire(
        pool: &PgPool,
        name: &str,
        holder: Uuid,
        lease: Duration,
    ) -> Result<Leadership, RelayError> {
        let mut announced = false;
        loop {
            let sent = Instant::now();
            let taken = tokio::time::timeout(lease, take(pool, name, holder, lease)).await;
            match taken {
                Ok(Ok(Some(epoch))) => {
                    metrics::counter!("lms_relay_lease_acquired_total").increment(1);
                    return Ok(Leadership {
                        pool: pool.clone(),
                        name: name.to_string(),
                        holder,
                        epoch,
                        lease,
                        valid_until: sent + lease,
                        renewed_at: sent,
                    });
                }
                Ok(Ok(None)) => {
                    if !announced {
                        tracing::info!("another relay leads; standing by");
                        announced = true;
                    }
                }
                Ok(Err(error)) => return Err(error.into()),
                Err(_) => tracing::warn!("taking the lease timed out; retrying"),
            }
            tokio::time::sleep(lease / 3).await;
        }
    }

    /// Until when this relay may publish.
    pub fn valid_until(&self) -> Instant {
        self.valid_until
    }

    /// Renews the lease when a third of it has passed; an error when it is
    /// lost (taken over, or not renewed before it ran out).
    pub async fn check(&mut self) -> Result<(), RelayError> {
        let now = Instant::now();
        if now >= self.valid_until {
            return Err(RelayError::LeadershipLost("the lease ran out".into()));
        }
        if now < self.renewed_at + self.lease / 3 {
            return Ok(());
        }
        let renew = sqlx::query_scalar::<_, i32>(
            "UPDATE relay_lease SET expires_at = now() + make_interval(secs => $4)
              WHERE name = $1 AND holder = $2 AND epoch = $3
             RETURNING 1",
        )
        .bind(&self.name)
        .bind(self.holder)
        .bind(self.epoch)
        .bind(self.lease.as_secs_f64())
        .fetch_optional(&self.pool);
        match tokio::time::timeout_at(self.valid_until, renew).await {
            Ok(Ok(Some(_))) => {
                self.valid_until = now + self.lease;
                self.renewed_at = now;
                Ok(())
            }
            Ok(Ok(None)) => Err(RelayError::LeadershipLost(
                "another relay took the lease".into(),
            )),
            Ok(Err(error)) => Err(RelayError::LeadershipLost(format!(
                "renewing the lease: {error}"
            ))),
            Err(_) => Err(RelayError::LeadershipLost(
                "the lease ran out while renewing it".into(),
            )),
        }
    }
}

impl Leadership {
    /// Gives the lease up at once (a graceful stop): a standby need not
    /// wait for it to expire.
    pub async fn release(self) {
        let released = sqlx::query(
            "UPDATE relay_lease SET expires_at = now() - interval '1 millisecond'
              WHERE name = $1 AND holder = $2 AND epoch = $3",
        )
        .bind(&self.name)
        .bind(self.holder)
        .bind(self.epoch)
        .execute(&self.pool);
        if let Ok(Err(error)) = tokio::time::timeout(Duration::from_secs(2), released).await {
            tracing::warn!(%error, "could not release the lease; it expires by itself");
        }
    }
}

/// Takes the lease if it is free or expired (or already ours); its epoch.
async fn take(
    pool: &PgPool,
    name: &str,
    holder: Uuid,
    lease: Duration,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO relay_lease AS l (name, holder, epoch, expires_at)
         VALUES ($1, $2, 1, now() + make_interval(secs => $3))
         ON CONFLICT (name) DO UPDATE
            SET holder = EXCLUDED.holder, epoch = l.epoch + 1, expires_at = EXCLUDED.expires_at
          WHERE l.expires_at < now() OR l.holder = EXCLUDED.holder
         RETURNING epoch",
    )
    .bind(name)
    .bind(holder)
    .bind(lease.as_secs_f64())
    .fetch_optional(pool)
    .await
}
