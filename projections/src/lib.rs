//! Projection workers: Kafka consumer groups that build the read models in Postgres and Redis (issue #4).
