//! The test Redis and per-test key prefixes.

use redis::aio::ConnectionManager;

/// `LMS_TEST_REDIS_URL`, else the local Redis.
pub fn url() -> String {
    std::env::var("LMS_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_string())
}

/// A key prefix of this test's own (`t<uuid>`).
pub fn unique_prefix() -> String {
    format!("t{}", uuid::Uuid::now_v7().simple())
}

pub async fn connect() -> ConnectionManager {
    redis::Client::open(url())
        .expect("LMS_TEST_REDIS_URL")
        .get_connection_manager()
        .await
        .expect("connect to the test Redis (is it up? scripts/infra.sh up)")
}

/// Deletes every key under `prefix:`.
pub async fn clear(redis: &ConnectionManager, prefix: &str) {
    let mut redis = redis.clone();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}:*"))
        .query_async(&mut redis)
        .await
        .unwrap_or_default();
    if !keys.is_empty() {
        let _: Result<i64, _> = redis::cmd("DEL").arg(keys).query_async(&mut redis).await;
    }
}
