//! The services under test, run as child processes of the real binaries
//! (`target/release/lms-*`) against the bench database, broker, topic prefix
//! and Redis prefix. Every child is killed when this set is dropped (also on
//! an error or Ctrl-C), and stopped with SIGTERM when a workload no longer
//! wants it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("{0} not found: build it first (scripts/bench.sh does: cargo build --release -p ...)")]
    MissingBinary(PathBuf),
    #[error("starting {name}: {error}")]
    Spawn {
        name: &'static str,
        error: std::io::Error,
    },
    #[error("{name} exited during start-up ({status}); log: {log}")]
    Exited {
        name: &'static str,
        status: String,
        log: String,
    },
    #[error("{name} not ready after {secs} s; log: {log}")]
    NotReady {
        name: &'static str,
        secs: u64,
        log: String,
    },
    #[error("log file {0}: {1}")]
    Log(PathBuf, std::io::Error),
}

/// One of the binaries the benchmark runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Service {
    Registry,
    Identity,
    Commands,
    Relay,
    Query,
    Projections,
}

impl Service {
    /// Every service, in start order (the registry first).
    pub const ALL: [Service; 6] = [
        Service::Registry,
        Service::Identity,
        Service::Commands,
        Service::Relay,
        Service::Query,
        Service::Projections,
    ];

    pub fn binary(self) -> &'static str {
        match self {
            Service::Registry => "lms-schema-registry",
            Service::Identity => "lms-identity",
            Service::Commands => "lms-commands",
            Service::Relay => "lms-relay",
            Service::Query => "lms-query",
            Service::Projections => "lms-projections",
        }
    }

    fn args(self) -> &'static [&'static str] {
        match self {
            Service::Projections => &["run"],
            _ => &[],
        }
    }
}

/// Addresses of the services, free loopback ports picked at start.
#[derive(Debug, Clone)]
pub struct Addresses {
    pub registry: String,
    pub identity: String,
    /// lms-identity's JWKS (HTTP).
    pub jwks: String,
    pub commands: String,
    pub query: String,
    metrics: BTreeMap<Service, String>,
}

impl Addresses {
    pub fn pick() -> std::io::Result<Self> {
        let mut metrics = BTreeMap::new();
        for service in [
            Service::Identity,
            Service::Commands,
            Service::Relay,
            Service::Query,
            Service::Projections,
        ] {
            metrics.insert(service, free_addr()?);
        }
        Ok(Addresses {
            registry: free_addr()?,
            identity: free_addr()?,
            jwks: free_addr()?,
            commands: free_addr()?,
            query: free_addr()?,
            metrics,
        })
    }

    /// The address whose port says the service is up.
    fn ready_addr(&self, service: Service) -> &str {
        match service {
            Service::Registry => &self.registry,
            Service::Identity => &self.identity,
            Service::Commands => &self.commands,
            Service::Query => &self.query,
            // The relay and the workers serve only /metrics: open once they
            // connected to Postgres (and, for the workers, Redis and Kafka).
            other => self.metrics.get(&other).map(String::as_str).unwrap_or(""),
        }
    }
}

fn free_addr() -> std::io::Result<String> {
    let probe = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(probe.local_addr()?.to_string())
}

/// Settings every service gets (the `LMS_*` variables they read).
/// The bench registry's admin password: a throw-away registry on loopback.
const REGISTRY_PASSWORD: &str = "bench-registry-admin";

#[derive(Debug, Clone)]
pub struct Environment {
    pub database_url: String,
    pub redis_url: String,
    pub redis_prefix: String,
    pub kafka_brokers: String,
    pub topic_prefix: String,
    /// `LMS_PRODUCER_IDEMPOTENCE` of the relay.
    pub producer_idempotence: bool,
    pub log: String,
    /// lms-identity's signing keys (`LMS_SIGNING_KEYS_DIR`, one key `bench`).
    pub keys_dir: PathBuf,
}

pub struct Services {
    bin_dir: PathBuf,
    log_dir: PathBuf,
    pub env: Environment,
    pub addrs: Addresses,
    running: BTreeMap<Service, Child>,
}

impl Services {
    pub fn new(
        bin_dir: PathBuf,
        log_dir: PathBuf,
        env: Environment,
        addrs: Addresses,
    ) -> Result<Self, ServiceError> {
        for service in Service::ALL {
            let path = bin_dir.join(service.binary());
            if !path.is_file() {
                return Err(ServiceError::MissingBinary(path));
            }
        }
        Ok(Services {
            bin_dir,
            log_dir,
            env,
            addrs,
            running: BTreeMap::new(),
        })
    }

    pub fn bin_dir(&self) -> &Path {
        &self.bin_dir
    }

    pub fn registry_url(&self) -> String {
        format!("http://{}", self.addrs.registry)
    }

    pub fn jwks_url(&self) -> String {
        format!("http://{}/.well-known/jwks.json", self.addrs.jwks)
    }

    pub fn log_path(&self, name: &str) -> PathBuf {
        self.log_dir.join(format!("bench-{name}.log"))
    }

    /// Starts each service not yet running, in the order given, each ready
    /// before the next; lms-identity first when a service verifies tokens.
    pub async fn ensure(&mut self, services: &[Service]) -> Result<(), ServiceError> {
        for &service in services {
            let verifies = matches!(service, Service::Commands | Service::Query);
            if verifies && !self.running.contains_key(&Service::Identity) {
                self.start(Service::Identity).await?;
            }
            if !self.running.contains_key(&service) {
                self.start(service).await?;
            }
        }
        Ok(())
    }

    /// `lms-identity bootstrap-admin`: the bench's admin account.
    pub async fn bootstrap_admin(&self, email: &str, password: &str) -> Result<(), ServiceError> {
        let name = "lms-identity";
        let mut command = Command::new(self.bin_dir.join(name));
        command
            .args([
                "bootstrap-admin",
                "--email",
                email,
                "--display-name",
                "Bench admin",
            ])
            .env("LMS_BOOTSTRAP_PASSWORD", password)
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        self.apply_env(Service::Identity, &mut command);
        let status = command
            .status()
            .await
            .map_err(|error| ServiceError::Spawn { name, error })?;
        if status.success() {
            Ok(())
        } else {
            Err(ServiceError::Exited {
                name,
                status: status.to_string(),
                log: "bootstrap-admin's stderr above".into(),
            })
        }
    }

    /// Stops these services if running (SIGTERM, then SIGKILL after 10 s).
    pub async fn stop(&mut self, services: &[Service]) {
        for service in services {
            if let Some(mut child) = self.running.remove(service) {
                terminate(&mut child).await;
            }
        }
    }

    /// Stops every service, the read side first.
    pub async fn stop_all(&mut self) {
        self.stop(&[
            Service::Projections,
            Service::Query,
            Service::Relay,
            Service::Commands,
            Service::Identity,
            Service::Registry,
        ])
        .await;
    }

    async fn start(&mut self, service: Service) -> Result<(), ServiceError> {
        let name = service.binary();
        let log_path = self.log_path(name);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|e| ServiceError::Log(log_path.clone(), e))?;
        let log_err = log
            .try_clone()
            .map_err(|e| ServiceError::Log(log_path.clone(), e))?;
        let mut command = Command::new(self.bin_dir.join(name));
        command
            .args(service.args())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .kill_on_drop(true);
        self.apply_env(service, &mut command);
        let mut child = command
            .spawn()
            .map_err(|error| ServiceError::Spawn { name, error })?;
        let ready = self.addrs.ready_addr(service).to_string();
        let timeout = Duration::from_secs(90);
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(ServiceError::Exited {
                    name,
                    status: status.to_string(),
                    log: log_path.display().to_string(),
                });
            }
            if tokio::net::TcpStream::connect(&ready).await.is_ok() {
                break;
            }
            if Instant::now() > deadline {
                terminate(&mut child).await;
                return Err(ServiceError::NotReady {
                    name,
                    secs: timeout.as_secs(),
                    log: log_path.display().to_string(),
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        crate::progress(&format!("{name} ready ({ready})"));
        self.running.insert(service, child);
        Ok(())
    }

    fn apply_env(&self, service: Service, command: &mut Command) {
        let env = &self.env;
        command
            .env("LMS_DATABASE_URL", &env.database_url)
            .env("LMS_REDIS_URL", &env.redis_url)
            .env("LMS_REDIS_PREFIX", &env.redis_prefix)
            .env("LMS_KAFKA_BROKERS", &env.kafka_brokers)
            .env("LMS_SCHEMA_REGISTRY_URL", self.registry_url())
            .env("LMS_TOPIC_PREFIX", &env.topic_prefix)
            .env("LMS_LOG", &env.log)
            .env("LMS_LOG_FORMAT", "text");
        if let Some(metrics) = self.addrs.metrics.get(&service) {
            command.env("LMS_METRICS_ADDR", metrics);
        }
        match service {
            Service::Registry => {
                command
                    .env("LMS_HTTP_ADDR", &self.addrs.registry)
                    .env("LMS_ADMIN_PASSWORD", REGISTRY_PASSWORD);
            }
            Service::Identity => {
                command
                    .env("LMS_GRPC_ADDR", &self.addrs.identity)
                    .env("LMS_JWKS_ADDR", &self.addrs.jwks)
                    .env("LMS_SIGNING_KEYS_DIR", &env.keys_dir)
                    .env("LMS_SIGNING_KID", "bench")
                    // A run outlasts the 15 minutes an access token lives.
                    .env("LMS_ACCESS_TOKEN_SECS", "86400");
            }
            Service::Commands => {
                command
                    .env("LMS_GRPC_ADDR", &self.addrs.commands)
                    .env("LMS_AUTH_JWKS", self.jwks_url());
            }
            Service::Query => {
                command
                    .env("LMS_GRPC_ADDR", &self.addrs.query)
                    .env("LMS_AUTH_JWKS", self.jwks_url());
            }
            Service::Relay => {
                command.env("LMS_SCHEMA_REGISTRY_PASSWORD", REGISTRY_PASSWORD);
                command.env(
                    "LMS_PRODUCER_IDEMPOTENCE",
                    env.producer_idempotence.to_string(),
                );
            }
            Service::Projections => {}
        }
    }
}

/// SIGTERM (through kill(1): this crate has no unsafe code), up to 10 s for a
/// graceful exit, then SIGKILL.
async fn terminate(child: &mut Child) {
    if let Some(pid) = child.id() {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(pid.to_string())
            .status()
            .await;
        if tokio::time::timeout(Duration::from_secs(10), child.wait())
            .await
            .is_ok()
        {
            return;
        }
    }
    let _ = child.kill().await;
}
