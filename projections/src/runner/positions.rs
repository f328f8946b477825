//! Where each held partition resumes: the checkpoint table is the truth;
//! rewinds and seeks follow it.

use super::*;

impl<P: Projection> Worker<'_, P> {
    /// After a rebalance: holds the new partitions from their checkpoints.
    pub(super) async fn take_assignment(&mut self) {
        if let Some(assigned) = self.consumer.context().take_fresh() {
            self.next = self.checkpoints_of(assigned).await;
            self.sought.clear();
            let now = std::time::Instant::now();
            self.unverified = self
                .next
                .iter()
                .filter(|(_, next)| **next > 0)
                .map(|(key, _)| (key.clone(), now))
                .collect();
        }
    }

    /// The checkpoint of each assigned partition (0 when it has none). On
    /// failure the per-record check in the apply transaction corrects.
    pub(super) async fn checkpoints_of(&self, assigned: Vec<(String, i32)>) -> Held {
        let table = match self.checkpoint_table().await {
            Ok(table) => table,
            Err(error) => {
                tracing::warn!(%error, "cannot read the checkpoints on assignment; starting from Kafka's offsets");
                return Held::new();
            }
        };
        let held: Held = assigned
            .into_iter()
            .map(|key| {
                let next = table.get(&key).copied().unwrap_or(0);
                (key, next)
            })
            .collect();
        tracing::info!(projection = self.name, assigned = ?held, "checkpoints of the assigned partitions");
        held
    }

    /// A checkpoint past the partition's end means the log it counted is
    /// gone (the topic was recreated, e.g. a fresh local broker beside an
    /// old database): every record would be skipped as "already applied".
    /// Such a partition is read again from its log start; the `applied`
    /// sequences skip any event that was applied before, so nothing counts
    /// twice. Judged only on watermarks read after the assignment (an older
    /// high watermark may predate records this worker applied since).
    pub(super) async fn verify_within_log(&mut self) {
        if self.unverified.is_empty() {
            return;
        }
        let view = self.view.borrow().clone();
        let Some(read_at) = view.read_at else { return };
        let settled: Vec<((String, i32), i64, i64)> = self
            .unverified
            .iter()
            .filter(|(_, assigned_at)| read_at > **assigned_at)
            .filter_map(|(key, _)| {
                let (low, high) = view.watermarks.get(key).copied()?;
                Some((key.clone(), low, high))
            })
            .collect();
        for (key, low, high) in settled {
            self.unverified.remove(&key);
            let Some(next) = self.next.get(&key).copied() else {
                continue;
            };
            if next <= high {
                continue;
            }
            tracing::error!(
                projection = self.name,
                topic = %key.0,
                partition = key.1,
                checkpoint = next,
                high_watermark = high,
                "checkpoint beyond the end of the log (topic recreated?); reading it again from its start"
            );
            match bookkeeping::move_back(
                &self.services.pool,
                self.schema,
                self.name,
                &key,
                next,
                low,
            )
            .await
            {
                Ok(()) => {
                    metrics::counter!("lms_projection_log_resets_total", "projection" => self.name)
                        .increment(1);
                    self.seek(&key, low).await;
                }
                Err(error) => tracing::warn!(%error, "cannot move the checkpoint back; keeping it"),
            }
        }
    }

    /// The checkpoint table of this projection.
    pub(super) async fn checkpoint_table(&self) -> Result<Held, sqlx::Error> {
        let mut conn = self.services.pool.acquire().await?;
        Ok(bookkeeping::checkpoints(&mut conn, self.schema, self.name)
            .await?
            .into_iter()
            .map(|(t, p, n)| ((t, p), n))
            .collect())
    }

    /// Reads a partition again from `next`, the checkpoint table's offset
    /// (behind what this worker read: a rebuild swapped in an older
    /// position). Records no longer on Kafka are reported and passed over.
    pub(super) async fn rewind(
        &mut self,
        key: &(String, i32),
        next: i64,
    ) -> Result<(), WorkerError> {
        let mut next = next;
        let low = self.view.borrow().low(key);
        if let Some(low) = low.filter(|low| *low > next) {
            tracing::error!(topic = %key.0, partition = key.1, next, low, "records before the log start are gone; the checkpoint moves to it");
            let gone = KafkaPosition {
                topic: key.0.clone(),
                partition: key.1,
                offset: low - 1,
                expected_next: None,
            };
            if let Err(error) = self.applier.skip_record(&gone).await {
                // The next record shows the rewind again.
                tracing::warn!(%error, "cannot move the checkpoint to the log start");
                return Ok(());
            }
            next = low;
        }
        tracing::info!(topic = %key.0, partition = key.1, next, "checkpoint table is behind; reading again from it");
        self.seek(key, next).await;
        metrics::counter!("lms_projection_rewinds_total", "projection" => self.name).increment(1);
        Ok(())
    }

    /// Reads a held partition again from `next` (a local operation of the
    /// consumer, no broker round trip).
    pub(super) async fn seek(&mut self, key: &(String, i32), next: i64) {
        if let Err(error) =
            self.consumer
                .seek(&key.0, key.1, Offset::Offset(next), Duration::from_secs(5))
        {
            // The next record of the partition shows the rewind again.
            tracing::warn!(%error, "seek failed; retrying on the next record");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        self.next.insert(key.clone(), next);
    }

    /// Rewinds held partitions whose checkpoint moved back while idle (no
    /// record would show it otherwise).
    pub(super) async fn reconcile(&mut self) -> Result<(), WorkerError> {
        if self.next.is_empty() {
            return Ok(());
        }
        let table = self.checkpoint_table().await?;
        let behind: Vec<((String, i32), i64)> = self
            .next
            .iter()
            .filter_map(|(key, next)| {
                let at = table.get(key).copied().unwrap_or(0);
                (at < *next).then(|| (key.clone(), at))
            })
            .collect();
        for (key, at) in behind {
            self.rewind(&key, at).await?;
        }
        Ok(())
    }
}
