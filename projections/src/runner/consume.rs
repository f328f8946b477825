//! The main loop: batches applied in one transaction, one by one when a
//! batch is refused; undecodable records to the DLQ, an event its handler
//! keeps refusing parked with its aggregate's later events.

use super::*;

impl<P: Projection> Worker<'_, P> {
    pub(super) async fn run(mut self, stop: &Shutdown) -> Result<(), WorkerError> {
        let mut lag_tick = tokio::time::interval(Duration::from_millis(
            self.services.config.lag_interval_ms.max(100),
        ));
        let consumer = self.consumer.clone();
        let max_records = self.services.config.batch_max_records.max(1);
        let linger = Duration::from_millis(self.services.config.batch_linger_ms);
        loop {
            let received = tokio::select! {
                biased;
                _ = stop.cancelled() => break,
                _ = lag_tick.tick() => {
                    self.take_assignment().await;
                    self.verify_within_log().await;
                    self.report_lag().await;
                    if let Err(error) = self.reconcile().await {
                        tracing::warn!(%error, "cannot compare with the checkpoint table");
                    }
                    continue;
                }
                m = consumer.recv() => m,
            };
            let first = match received {
                Ok(message) => message.detach(),
                Err(error) => {
                    tracing::warn!(%error, "kafka consumer error");
                    continue;
                }
            };
            // What else is already fetched (or arrives within the linger).
            let mut polled = vec![first];
            let until = tokio::time::Instant::now() + linger;
            while polled.len() < max_records {
                match tokio::time::timeout_at(until, consumer.recv()).await {
                    Ok(Ok(message)) => polled.push(message.detach()),
                    Ok(Err(error)) => {
                        tracing::warn!(%error, "kafka consumer error");
                        break;
                    }
                    Err(_) => break,
                }
            }
            self.take_assignment().await;
            let todo = self.after_checkpoints(polled).await?;
            if todo.is_empty() {
                continue;
            }
            if let Handled::Stopped = self.process(todo, stop).await? {
                break;
            }
        }
        self.commit_all();
        Ok(())
    }

    /// Drops polled records before their partition's checkpoint; when
    /// Kafka's committed offset is ahead of the checkpoint (a rebuild moved
    /// the table back), reads the partition again from the checkpoint, once
    /// per assignment (offsets may have gaps), dropping its other records.
    pub(super) async fn after_checkpoints(
        &mut self,
        polled: Vec<OwnedMessage>,
    ) -> Result<Vec<OwnedMessage>, WorkerError> {
        let mut sought_now: std::collections::HashSet<(String, i32)> = Default::default();
        let mut todo = Vec::with_capacity(polled.len());
        for message in polled {
            let key = (message.topic().to_string(), message.partition());
            if sought_now.contains(&key) {
                continue;
            }
            if let Some(next) = self.next.get(&key).copied() {
                if message.offset() > next && self.sought.insert(key.clone()) {
                    self.rewind(&key, next).await?;
                    sought_now.insert(key);
                    continue;
                }
                self.sought.insert(key.clone());
                if message.offset() < next {
                    tracing::debug!(topic = %key.0, partition = key.1, offset = message.offset(), "before the checkpoint; skipped");
                    continue;
                }
            }
            todo.push(message);
        }
        Ok(todo)
    }

    /// Applies polled records as one batch ([`Applier::apply_batch_once`]);
    /// records that cannot be decoded go to the DLQ first. A batch the
    /// store refuses for another reason than being unavailable is applied
    /// again record by record, so only the event at fault is parked.
    pub(super) async fn process(
        &mut self,
        todo: Vec<OwnedMessage>,
        stop: &Shutdown,
    ) -> Result<Handled, WorkerError> {
        let mut batch = Batch::default();
        let mut poison: Vec<(usize, String)> = Vec::new();
        for (index, message) in todo.iter().enumerate() {
            let key = (message.topic().to_string(), message.partition());
            let expected_next = self.next.get(&key).copied();
            batch
                .partitions
                .entry(key)
                .and_modify(|end| end.last_offset = end.last_offset.max(message.offset()))
                .or_insert(PartitionEnd {
                    expected_next,
                    last_offset: message.offset(),
                });
            match decode(&self.services.decoder, message.payload(), stop).await {
                Ok(event) => batch.records.push((
                    KafkaPosition {
                        topic: message.topic().to_string(),
                        partition: message.partition(),
                        offset: message.offset(),
                        expected_next,
                    },
                    event,
                    message.payload().unwrap_or_default(),
                )),
                Err(error) if error.retriable => return Ok(Handled::Stopped),
                Err(error) => {
                    let _span = record_span(self.name, message).entered();
                    tracing::error!(%error, "undecodable record; sending it to the DLQ");
                    poison.push((index, error.to_string()));
                }
            }
        }
        for (index, failure) in &poison {
            let sent = self
                .services
                .dead_letters
                .send(&todo[*index], self.name, failure, stop)
                .await;
            if sent.is_err() {
                return Ok(Handled::Stopped);
            }
        }
        let poison: Vec<usize> = poison.into_iter().map(|(index, _)| index).collect();
        metrics::histogram!("lms_projection_batch_records", "projection" => self.name)
            .record(todo.len() as f64);
        let mut attempt: u32 = 0;
        let outcome = loop {
            match self.applier.apply_batch_once(&batch).await {
                Ok(outcome) => break Some(outcome),
                Err(_) if stop.is_cancelled() => return Ok(Handled::Stopped),
                Err(error) if error.is_unavailable() => {
                    attempt = attempt.saturating_add(1);
                    let delay = backoff(attempt);
                    tracing::warn!(%error, attempt, ?delay, "store unavailable; retrying the batch");
                    tokio::time::sleep(delay).await;
                }
                Err(error) => {
                    tracing::warn!(%error, records = todo.len(), "batch refused; applying its records one by one");
                    break None;
                }
            }
        };
        let Some(outcome) = outcome else {
            return self.process_each(todo, &poison, stop).await;
        };
        metrics::counter!("lms_projection_applied_total", "projection" => self.name)
            .increment(outcome.applied as u64);
        if outcome.parked > 0 {
            tracing::warn!(
                parked = outcome.parked,
                "events parked behind an earlier parked event of their aggregate"
            );
        }
        let rewound: HashMap<(String, i32), i64> = outcome.rewound.into_iter().collect();
        let mut done = TopicPartitionList::new();
        for (key, end) in &batch.partitions {
            if let Some(next) = rewound.get(key) {
                self.rewind(key, *next).await?;
                continue;
            }
            self.next.insert(key.clone(), end.last_offset + 1);
            done.add_partition_offset(&key.0, key.1, Offset::Offset(end.last_offset + 1))?;
        }
        self.commit_offsets(&done);
        Ok(Handled::Done)
    }

    /// The per-record path over a batch the store refused as a whole.
    pub(super) async fn process_each(
        &mut self,
        todo: Vec<OwnedMessage>,
        poison: &[usize],
        stop: &Shutdown,
    ) -> Result<Handled, WorkerError> {
        let mut rewound: std::collections::HashSet<(String, i32)> = Default::default();
        for (index, message) in todo.iter().enumerate() {
            let key = (message.topic().to_string(), message.partition());
            if rewound.contains(&key) {
                continue;
            }
            if poison.contains(&index) {
                let position = KafkaPosition {
                    topic: key.0.clone(),
                    partition: key.1,
                    offset: message.offset(),
                    expected_next: None,
                };
                if !self.skip_past(&position, stop).await {
                    return Ok(Handled::Stopped);
                }
            } else {
                match self.handle(message, stop).await? {
                    Handled::Stopped => return Ok(Handled::Stopped),
                    Handled::Rewound(next) => {
                        self.rewind(&key, next).await?;
                        rewound.insert(key);
                        continue;
                    }
                    Handled::Done => {}
                }
            }
            self.next.insert(key.clone(), message.offset() + 1);
            let mut done = TopicPartitionList::new();
            done.add_partition_offset(&key.0, key.1, Offset::Offset(message.offset() + 1))?;
            self.commit_offsets(&done);
        }
        Ok(Handled::Done)
    }

    pub(super) fn commit_offsets(&self, done: &TopicPartitionList) {
        if done.count() == 0 {
            return;
        }
        if let Err(error) = self.consumer.commit(done, CommitMode::Async) {
            tracing::warn!(%error, "offset commit failed (the checkpoint table holds it)");
        }
    }

    /// Moves the checkpoint past a dead-lettered record, retrying until it
    /// moved (true) or `stop` (false).
    pub(super) async fn skip_past(&self, position: &KafkaPosition, stop: &Shutdown) -> bool {
        let mut attempt: u32 = 0;
        while let Err(error) = self.applier.skip_record(position).await {
            if stop.is_cancelled() {
                return false;
            }
            attempt = attempt.saturating_add(1);
            tracing::warn!(%error, attempt, "cannot move the checkpoint; retrying");
            tokio::time::sleep(backoff(attempt)).await;
        }
        true
    }

    pub(super) async fn handle(
        &self,
        message: &OwnedMessage,
        stop: &Shutdown,
    ) -> Result<Handled, WorkerError> {
        let position = KafkaPosition {
            topic: message.topic().to_string(),
            partition: message.partition(),
            offset: message.offset(),
            expected_next: self
                .next
                .get(&(message.topic().to_string(), message.partition()))
                .copied(),
        };
        async {
            let max = self.services.config.max_handler_retries;
            let read = Read {
                position: &position,
                payload: message.payload().unwrap_or_default(),
            };
            let failure = match decode(&self.services.decoder, message.payload(), stop).await {
                Ok(event) => match self.applier.apply(&event, read, true, max, stop).await {
                    Ok(Outcome::Applied) => {
                        metrics::counter!("lms_projection_applied_total", "projection" => self.name)
                            .increment(1);
                        return Ok(Handled::Done);
                    }
                    Ok(Outcome::Skipped) => {
                        tracing::debug!("already applied; skipped");
                        return Ok(Handled::Done);
                    }
                    Ok(Outcome::Parked) => {
                        tracing::warn!("parked behind an earlier parked event of its aggregate");
                        return Ok(Handled::Done);
                    }
                    Ok(Outcome::Rewound(next)) => return Ok(Handled::Rewound(next)),
                    Err(_) if stop.is_cancelled() => return Ok(Handled::Stopped),
                    Err(error) => {
                        let reason = error.to_string();
                        tracing::error!(error = %reason, "the handler keeps refusing this event; parking its aggregate");
                        return Ok(self.park(&event, read, &reason, stop).await);
                    }
                },
                Err(error) if error.retriable => return Ok(Handled::Stopped),
                Err(error) => error.to_string(),
            };
            tracing::error!(error = %failure, "undecodable record; sending it to the DLQ");
            let sent = self
                .services
                .dead_letters
                .send(message, self.name, &failure, stop)
                .await;
            if sent.is_err() {
                return Ok(Handled::Stopped);
            }
            if self.skip_past(&position, stop).await {
                Ok(Handled::Done)
            } else {
                Ok(Handled::Stopped)
            }
        }
        .instrument(record_span(self.name, message))
        .await
    }

    /// Parks a refused event and moves the checkpoint past it, retrying
    /// until done or `stop`.
    async fn park(
        &self,
        event: &DecodedEvent,
        read: Read<'_>,
        reason: &str,
        stop: &Shutdown,
    ) -> Handled {
        let mut attempt: u32 = 0;
        while let Err(error) = self.applier.park_failed(event, read, reason, true).await {
            if stop.is_cancelled() {
                return Handled::Stopped;
            }
            attempt = attempt.saturating_add(1);
            tracing::warn!(%error, attempt, "cannot park the event; retrying");
            tokio::time::sleep(backoff(attempt)).await;
        }
        Handled::Done
    }

    /// Final synchronous commit of what was applied (graceful shutdown).
    pub(super) fn commit_all(&self) {
        let mut done = TopicPartitionList::new();
        for ((topic, partition), next) in &self.next {
            if *next > 0 {
                let _ = done.add_partition_offset(topic, *partition, Offset::Offset(*next));
            }
        }
        if done.count() > 0 {
            if let Err(error) = self.consumer.commit(&done, CommitMode::Sync) {
                tracing::warn!(%error, "final offset commit failed (the checkpoint table holds it)");
            }
        }
    }
}
