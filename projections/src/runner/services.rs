//! What every worker of the process shares.

use super::*;

/// What every worker of the process shares.
#[derive(Clone)]
pub struct Services {
    pub config: Config,
    pub pool: PgPool,
    pub redis: ConnectionManager,
    pub decoder: Arc<RecordDecoder>,
    pub dead_letters: DeadLetters,
}

impl Services {
    pub async fn connect(config: &Config, pool: PgPool) -> Result<Self, WorkerError> {
        let redis = lms_runtime::redis::connect(&config.redis_url).await?;
        // No length inside a record can be longer than the fetch that brought it.
        let cap = crate::decode::cap_allocations(config.kafka_fetch_max_bytes as usize);
        if cap != config.kafka_fetch_max_bytes as usize {
            tracing::debug!(cap, "Avro allocation cap already set in this process");
        }
        Ok(Self {
            config: config.clone(),
            pool,
            redis,
            decoder: Arc::new(RecordDecoder::new(&config.schema_registry_url)),
            dead_letters: DeadLetters::new(&config.kafka_brokers, &config.dlq())?,
        })
    }

    pub fn applier<P: Projection>(&self, projection: Arc<P>) -> Applier<P> {
        Applier {
            projection,
            pool: self.pool.clone(),
            redis: self.redis.clone(),
            redis_prefix: self.config.redis_prefix.clone(),
        }
    }
}
