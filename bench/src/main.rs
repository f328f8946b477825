//! `lms-bench`: the benchmark command (issue #5), never part of the tests.
//! Seeds data, runs each workload against the real binaries on a database,
//! topic prefix and Redis prefix of its own, and prints a table of our figure
//! beside a raw baseline measured in the same run. See docs/benchmarks.md;
//! `scripts/bench.sh` builds the release binaries and starts the broker.

mod client;
mod database;
mod load;
mod report;
mod services;
mod workloads;

use anyhow::Context;
use clap::{Parser, ValueEnum};
use services::{Addresses, Environment, Services};
use std::path::PathBuf;
use std::time::Duration;
use workloads::{Bench, Sizes};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
enum Workload {
    Commands,
    Relay,
    E2e,
    Queries,
    Rebuild,
    All,
}

#[derive(Parser)]
#[command(
    name = "lms-bench",
    about = "Benchmarks of the LMS pipeline against raw baselines measured in the same run"
)]
struct Cli {
    /// Workloads to run, comma-separated (always in the order commands, relay, e2e, queries, rebuild).
    #[arg(long, value_delimiter = ',', default_value = "all")]
    workload: Vec<Workload>,
    /// Postgres server (any database on it); the bench database is created next to it.
    #[arg(
        long,
        env = "LMS_DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/lms"
    )]
    database_url: String,
    /// Name of the bench database, dropped and created afresh each run.
    #[arg(long, default_value = "lms_bench")]
    database: String,
    #[arg(long, env = "LMS_REDIS_URL", default_value = "redis://127.0.0.1:6379")]
    redis_url: String,
    /// Redis key prefix of the bench read models (its keys are deleted at start).
    #[arg(long, default_value = "lmsbench")]
    redis_prefix: String,
    /// Kafka brokers (scripts/bench.sh starts a fresh Kafka for the bench on 29092).
    #[arg(
        long,
        env = "LMS_BENCH_KAFKA_BROKERS",
        default_value = "127.0.0.1:29092"
    )]
    kafka_brokers: String,
    /// Directory of the lms-* binaries [default: the directory of lms-bench].
    #[arg(long)]
    bin_dir: Option<PathBuf>,
    /// Where the services' logs go (bench-<binary>.log).
    #[arg(long, default_value = ".lms/logs")]
    log_dir: PathBuf,
    /// Parallel clients of the closed-loop workloads (commands, queries, raw baselines).
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Measured seconds per closed-loop workload and for the end-to-end run.
    #[arg(long, default_value_t = 20)]
    duration: u64,
    /// Seconds run before measuring (closed-loop workloads).
    #[arg(long, default_value_t = 3)]
    warmup: u64,
    /// Outbox backlog the relay drains (topped up with CreateCourse commands).
    #[arg(long, default_value_t = 20_000)]
    relay_events: u64,
    /// Commands per second of the end-to-end runs, comma-separated: one run each
    /// (the target is p99 < 100 ms at 1000; 5000 shows where the time goes past it).
    #[arg(long, value_delimiter = ',', default_value = "1000,5000")]
    e2e_rate: Vec<u32>,
    /// How often the end-to-end run polls the read model, ms.
    #[arg(long, default_value_t = 5)]
    e2e_poll_ms: u64,
    /// Course events seeded for the rebuild (the figure is 1,000,000).
    #[arg(long, default_value_t = 100_000)]
    rebuild_events: u64,
    /// Projection rebuilt.
    #[arg(long, default_value = "course-catalog")]
    rebuild_projection: String,
    /// Published courses seeded for the query workload.
    #[arg(long, default_value_t = 200)]
    query_courses: usize,
    /// Relay and raw producer with the idempotent producer.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    producer_idempotence: bool,
    /// LMS_LOG of the services.
    #[arg(long, default_value = "warn")]
    service_log: String,
    /// Also print the report as one JSON document after the table.
    #[arg(long)]
    json: bool,
}

/// Progress on stderr (stdout carries the results).
pub fn progress(message: &str) {
    eprintln!("lms-bench: {message}");
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let outcome = tokio::select! {
        outcome = run(&cli) => outcome,
        signal = interrupted() => Err(anyhow::anyhow!("stopped by {signal}")),
    };
    // Dropping `run` (and with it the services) has killed the children.
    outcome
}

async fn run(cli: &Cli) -> anyhow::Result<()> {
    let bin_dir = match &cli.bin_dir {
        Some(dir) => dir.clone(),
        None => std::env::current_exe()
            .context("locating lms-bench")?
            .parent()
            .map(PathBuf::from)
            .context("lms-bench has no directory")?,
    };
    std::fs::create_dir_all(&cli.log_dir)
        .with_context(|| format!("creating {}", cli.log_dir.display()))?;
    let machine = Machine::now().await;
    progress(&format!("machine: {}", machine.summary()));

    let database_url = database::recreate(&cli.database_url, &cli.database)
        .await
        .context("creating the bench database")?;
    clear_redis(&cli.redis_url, &cli.redis_prefix)
        .await
        .context("clearing the bench Redis keys")?;
    // lms-identity's signing key for this run.
    let keys_dir = cli.log_dir.join(format!(
        "bench-keys-{}",
        chrono::Utc::now().timestamp_micros()
    ));
    std::fs::create_dir_all(&keys_dir)
        .with_context(|| format!("creating {}", keys_dir.display()))?;
    lms_runtime::auth::KeyRing::write_new_key(&keys_dir, "bench").context("a bench signing key")?;
    let env = Environment {
        keys_dir,
        database_url: database_url.clone(),
        redis_url: cli.redis_url.clone(),
        redis_prefix: cli.redis_prefix.clone(),
        kafka_brokers: cli.kafka_brokers.clone(),
        // Unique per run: a broker reused across runs keeps old records.
        topic_prefix: format!("bench{}.", chrono::Utc::now().timestamp()),
        producer_idempotence: cli.producer_idempotence,
        log: cli.service_log.clone(),
    };
    let addrs = Addresses::pick().context("picking ports")?;
    let mut services = Services::new(bin_dir, cli.log_dir.clone(), env, addrs)?;
    // lms-commands migrates the event store at start.
    services.ensure(&[services::Service::Commands]).await?;
    // The callers sign in like any user (lms-identity started with lms-commands).
    let tokens = client::Tokens::sign_in(&services)
        .await
        .context("signing the bench's callers in")?;
    let pool = database::pool(&database_url, 8)
        .await
        .context("connecting to the bench database")?;
    let mut bench = Bench {
        tokens,
        sizes: Sizes {
            concurrency: cli.concurrency.max(1),
            warmup: Duration::from_secs(cli.warmup),
            duration: Duration::from_secs(cli.duration.max(1)),
            relay_events: cli.relay_events.max(1),
            e2e_rates: cli.e2e_rate.clone(),
            e2e_poll: Duration::from_millis(cli.e2e_poll_ms.max(1)),
            rebuild_events: cli.rebuild_events,
            rebuild_projection: cli.rebuild_projection.clone(),
            query_courses: cli.query_courses,
        },
        services,
        pool,
        report: report::Report::default(),
    };
    let all = cli.workload.contains(&Workload::All);
    let wanted = |w: Workload| all || cli.workload.contains(&w);
    let outcome = async {
        if wanted(Workload::Commands) {
            workloads::commands::run(&mut bench).await?;
        }
        if wanted(Workload::Relay) {
            workloads::relay::run(&mut bench).await?;
        }
        if wanted(Workload::E2e) {
            workloads::e2e::run(&mut bench).await?;
        }
        if wanted(Workload::Queries) {
            workloads::queries::run(&mut bench).await?;
        }
        if wanted(Workload::Rebuild) {
            workloads::rebuild::run(&mut bench).await?;
        }
        Ok::<(), workloads::WorkloadError>(())
    }
    .await;
    bench.services.stop_all().await;
    let end = Machine::now().await;
    println!("{}", bench.report.table());
    println!();
    for note in &bench.report.notes {
        println!("- {note}");
    }
    println!(
        "- machine: {}; load average at the end: {}",
        machine.summary(),
        end.loadavg
    );
    println!(
        "- command: lms-bench {}",
        std::env::args().skip(1).collect::<Vec<_>>().join(" ")
    );
    if cli.json {
        let json = serde_json::json!({
            "rows": bench.report.rows,
            "notes": bench.report.notes,
            "machine": machine.summary(),
            "load_average_end": end.loadavg,
        });
        println!("{json}");
    }
    outcome.context("a workload failed (the table above has what ran before)")
}

/// Where and when the run happened.
struct Machine {
    date: String,
    cpus: usize,
    uname: String,
    loadavg: String,
}

impl Machine {
    async fn now() -> Machine {
        let uname = tokio::process::Command::new("uname")
            .arg("-a")
            .output()
            .await
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default();
        let loadavg = std::fs::read_to_string("/proc/loadavg")
            .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
            .unwrap_or_default();
        Machine {
            date: chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string(),
            cpus: std::thread::available_parallelism().map_or(0, |n| n.get()),
            uname,
            loadavg,
        }
    }

    fn summary(&self) -> String {
        format!(
            "{}, {} cpus, {}, load average at the start {}",
            self.date, self.cpus, self.uname, self.loadavg
        )
    }
}

/// Deletes every key under the bench prefix (the live and the rebuild copies).
async fn clear_redis(url: &str, prefix: &str) -> Result<(), redis::RedisError> {
    let client = redis::Client::open(url)?;
    let mut connection = client.get_multiplexed_async_connection().await?;
    let mut cursor: u64 = 0;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{prefix}*"))
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut connection)
            .await?;
        if !keys.is_empty() {
            redis::cmd("DEL")
                .arg(&keys)
                .query_async::<()>(&mut connection)
                .await?;
        }
        if next == 0 {
            return Ok(());
        }
        cursor = next;
    }
}

async fn interrupted() -> &'static str {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => "SIGINT",
        _ = term => "SIGTERM",
    }
}
