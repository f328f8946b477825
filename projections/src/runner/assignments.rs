//! The consumer's rebalance context.

use super::*;

/// The consumer's context: notes each rebalance's partitions for the worker,
/// which then reads their checkpoints from the checkpoint table (the truth:
/// it moves in the transaction that changes the read model; Kafka's
/// committed offset may be ahead of it, after a rebuild swapped in an older
/// position, or behind it, after a crash between the two).
pub(crate) struct Assignments {
    projection: &'static str,
    /// Set on each rebalance; the worker takes it before its next record.
    fresh: Mutex<Option<Vec<(String, i32)>>>,
    /// Rebalances seen (0: not in the group yet).
    pub(super) rebalances: std::sync::atomic::AtomicU64,
}

impl Assignments {
    pub(super) fn new(projection: &'static str) -> Self {
        Self {
            projection,
            fresh: Mutex::new(None),
            rebalances: std::sync::atomic::AtomicU64::new(0),
        }
    }

    pub(super) fn set_fresh(&self, tpl: &TopicPartitionList) {
        let partitions = tpl
            .elements()
            .iter()
            .map(|e| (e.topic().to_string(), e.partition()))
            .collect();
        self.rebalances
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        *self.fresh.lock().unwrap_or_else(|p| p.into_inner()) = Some(partitions);
    }

    pub(super) fn gauge(&self, assigned: usize) {
        metrics::gauge!("lms_projection_assigned_partitions", "projection" => self.projection)
            .set(assigned as f64);
    }

    pub(super) fn take_fresh(&self) -> Option<Vec<(String, i32)>> {
        self.fresh.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

impl ClientContext for Assignments {}
impl ConsumerContext for Assignments {
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                tracing::info!(
                    projection = self.projection,
                    assigned = tpl.count(),
                    "partitions assigned"
                );
                // The fetch starts at Kafka's committed offset. Records
                // before the checkpoint are skipped; a first record after it
                // seeks back once (see `Worker::run`).
                if let Err(error) = consumer.assign(tpl) {
                    tracing::error!(%error, "assign failed");
                }
                self.set_fresh(tpl);
                self.gauge(tpl.count());
            }
            other => {
                if other == RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS {
                    tracing::info!(
                        projection = self.projection,
                        revoked = tpl.count(),
                        "partitions revoked"
                    );
                } else {
                    tracing::error!(error = ?other, "rebalance failed");
                }
                if let Err(error) = consumer.unassign() {
                    tracing::error!(%error, "unassign failed");
                }
                self.set_fresh(&TopicPartitionList::new());
                self.gauge(0);
            }
        }
    }
}
