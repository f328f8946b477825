//! Lag metrics from the broker view, and rejoining the group when idle.

use super::*;

impl<P: Projection> Worker<'_, P> {
    /// `lms_projection_lag` = high watermark − next offset, per held
    /// partition, from the latest broker view; sets the warm marker once
    /// every assigned partition is caught up.
    pub(super) async fn report_lag(&mut self) {
        let assigned: Vec<(String, i32)> = self
            .consumer
            .assignment()
            .map(|tpl| {
                tpl.elements()
                    .iter()
                    .map(|e| (e.topic().to_string(), e.partition()))
                    .collect()
            })
            .unwrap_or_default();
        let view = self.view.borrow().clone();
        let max_age = Duration::from_millis(self.services.config.lag_interval_ms.max(100) * 3);
        let Some(view) = view.fresh(max_age) else {
            return;
        };
        if assigned.is_empty() {
            self.check_idle(view.backlog);
        } else {
            self.idle = None;
        }
        let mut caught_up = !assigned.is_empty();
        for key in assigned {
            let Some(high) = view.high(&key) else {
                caught_up = false;
                continue;
            };
            let next = self.next.get(&key).copied();
            let lag = (high - next.unwrap_or(0)).max(0);
            caught_up &= lag == 0;
            if next.is_some() {
                let (topic, partition) = key;
                metrics::gauge!("lms_projection_lag", "projection" => self.name, "topic" => topic, "partition" => partition.to_string())
                    .set(lag as f64);
            }
        }
        if let (true, Some(marker)) = (caught_up, self.warm.as_ref()) {
            let mut redis = self.services.redis.clone();
            let set = tokio::time::timeout(
                Duration::from_secs(2),
                redis::cmd("SET")
                    .arg(marker)
                    .arg("1")
                    .query_async::<()>(&mut redis),
            )
            .await;
            match set {
                Ok(Ok(())) => {
                    tracing::info!(%marker, "caught up from the first offset; Redis is warm");
                    self.warm = None;
                }
                Ok(Err(error)) => tracing::warn!(%error, "cannot set the warm marker"),
                Err(_) => tracing::warn!("cannot set the warm marker: Redis did not answer"),
            }
        }
    }

    /// Holding no partition is normal with more workers than partitions,
    /// as long as someone consumes: when the group's backlog has not shrunk
    /// for `idle_rejoin_after_ms`, rejoin: a member left without partitions
    /// while the backlog stands still recreates its membership.
    pub(super) fn check_idle(&mut self, backlog: i64) {
        let joined = self
            .consumer
            .context()
            .rebalances
            .load(std::sync::atomic::Ordering::SeqCst);
        if joined == 0 {
            // Still joining: nothing to judge yet.
            return;
        }
        let now = std::time::Instant::now();
        let patience = Duration::from_millis(self.services.config.idle_rejoin_after_ms);
        match self.idle {
            Some((since, before)) if backlog > 0 && backlog >= before => {
                if now.duration_since(since) < patience {
                    return;
                }
                tracing::warn!(
                    projection = self.name,
                    backlog,
                    "holding no partition while nobody consumes the backlog; rejoining the group"
                );
                metrics::counter!("lms_projection_rejoins_total", "projection" => self.name)
                    .increment(1);
                self.consumer.unsubscribe();
                let names: Vec<&str> = self.topics.iter().map(String::as_str).collect();
                if let Err(error) = self.consumer.subscribe(&names) {
                    tracing::error!(%error, "cannot subscribe again");
                }
                self.idle = None;
            }
            _ => self.idle = Some((now, backlog)),
        }
    }
}
