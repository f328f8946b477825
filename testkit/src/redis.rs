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

/// A Redis server of this test's own (data in a temp dir, append-only file
/// synced on every write), so the test can restart it without disturbing
/// others and find its data again.
pub struct PrivateRedis {
    pub port: u16,
    dir: std::path::PathBuf,
    child: Option<std::process::Child>,
}

impl PrivateRedis {
    pub async fn start() -> PrivateRedis {
        let dir = std::env::temp_dir().join(format!("lms-redis-{}", uuid::Uuid::now_v7().simple()));
        std::fs::create_dir_all(&dir).expect("redis dir");
        let mut redis = PrivateRedis {
            port: crate::ports::free_port(),
            dir,
            child: None,
        };
        redis.spawn(None);
        redis.wait_ready().await;
        redis
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn spawn(&mut self, key_load_delay_micros: Option<u64>) {
        let mut command = std::process::Command::new("redis-server");
        command
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args([
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
            ])
            .arg("--dir")
            .arg(&self.dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        if let Some(delay) = key_load_delay_micros {
            // A debugging knob of Redis: each key takes this long to load,
            // so the restarted server answers LOADING for a while.
            command.args(["--key-load-delay", &delay.to_string()]);
            // Answer clients (LOADING) often while loading, not every 2 MB.
            command.args(["--loading-process-events-interval-bytes", "1024"]);
        }
        self.child = Some(
            command
                .spawn()
                .expect("start redis-server (scripts/infra.sh up installs it)"),
        );
    }

    /// Waits until the server accepts connections (it may still be loading).
    async fn wait_ready(&self) {
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .is_ok()
            {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        panic!("redis-server on port {} did not start", self.port);
    }

    /// Kills the server (SIGKILL: every acknowledged write is in its
    /// append-only file) and starts it again on the same port and data,
    /// each key taking `key_load_delay_micros` to load.
    pub async fn restart(
        &mut self,
        down_for: std::time::Duration,
        key_load_delay_micros: Option<u64>,
    ) {
        if key_load_delay_micros.is_some() {
            // The delay applies to an RDB base: rewrite the append-only
            // file into one first (later writes go to its increment).
            self.rewrite_aof().await;
        }
        self.kill();
        tokio::time::sleep(down_for).await;
        self.spawn(key_load_delay_micros);
        self.wait_ready().await;
    }

    async fn rewrite_aof(&self) {
        let client = redis::Client::open(self.url()).expect("url");
        let mut connection = client
            .get_multiplexed_async_connection()
            .await
            .expect("connect to the private Redis");
        let _: String = redis::cmd("BGREWRITEAOF")
            .query_async(&mut connection)
            .await
            .expect("BGREWRITEAOF");
        for _ in 0..400 {
            let info: String = redis::cmd("INFO")
                .arg("persistence")
                .query_async(&mut connection)
                .await
                .expect("INFO");
            if info.contains("aof_rewrite_in_progress:0")
                && info.contains("aof_rewrite_scheduled:0")
            {
                assert!(info.contains("aof_last_bgrewrite_status:ok"), "{info}");
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        panic!("the AOF rewrite did not finish");
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
