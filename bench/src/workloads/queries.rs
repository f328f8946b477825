//! Queries: GetCourse and ListCourses (published, first page of 20) over
//! gRPC at a fixed concurrency with the Redis cache warm, against
//! `redis-benchmark -t get` at the same concurrency and a raw sqlx select
//! of the same rows through a pool as large as lms-query's.

use super::{Bench, WorkloadError};
use crate::database;
use crate::load::{closed_loop, LoadResult};
use crate::report::{Row, Target, Unit};
use crate::services::Service;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::process::Command;

const WORKLOAD: &str = "queries";
const PAGE_SIZE: u32 = 20;
const REDIS_BENCHMARK: &str = "redis-benchmark";

pub async fn run(bench: &mut Bench) -> Result<(), WorkloadError> {
    bench.services.ensure(&Service::ALL).await?;
    let ids = seed(bench).await?;
    let warm = wait_warm(bench, Duration::from_secs(60)).await?;
    let query = bench.query_client().await?;
    let sizes = bench.sizes.clone();
    let ids = Arc::new(ids);

    crate::progress(&format!(
        "queries: GetCourse at concurrency {} for {} s",
        sizes.concurrency,
        sizes.duration.as_secs()
    ));
    let get = closed_loop(sizes.concurrency, sizes.warmup, sizes.duration, {
        let (query, ids) = (query.clone(), Arc::clone(&ids));
        move |w, i| {
            let (query, ids) = (query.clone(), Arc::clone(&ids));
            async move {
                let id = &ids[(w * 7919 + i as usize) % ids.len()];
                query.get_course(id).await.map(|_| ())
            }
        }
    })
    .await;
    crate::progress("queries: ListCourses");
    let list = closed_loop(sizes.concurrency, sizes.warmup, sizes.duration, {
        let query = query.clone();
        move |_, _| {
            let query = query.clone();
            async move { query.list_published(PAGE_SIZE).await.map(|_| ()) }
        }
    })
    .await;

    crate::progress("queries: raw SQL selects");
    // lms-query's pool: LMS_DB_MAX_CONNECTIONS, 20.
    let raw_pool = database::pool(&bench.services.env.database_url, 20).await?;
    let sql_get = closed_loop(sizes.concurrency, sizes.warmup, sizes.duration, {
        let (pool, ids) = (raw_pool.clone(), Arc::clone(&ids));
        move |w, i| {
            let (pool, ids) = (pool.clone(), Arc::clone(&ids));
            async move {
                let id = uuid::Uuid::parse_str(&ids[(w * 7919 + i as usize) % ids.len()])
                    .map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
                sqlx::query(
                    "SELECT * FROM catalog.courses WHERE course_id = $1 AND tenant_id = 'default'",
                )
                .bind(id)
                .fetch_one(&pool)
                .await
                .map(|_| ())
            }
        }
    })
    .await;
    let sql_list = closed_loop(sizes.concurrency, sizes.warmup, sizes.duration, {
        let pool = raw_pool.clone();
        move |_, _| {
            let pool = pool.clone();
            async move {
                sqlx::query(
                    "SELECT * FROM catalog.courses
                      WHERE tenant_id = 'default' AND status = 'published'
                      ORDER BY created_at DESC, course_id DESC LIMIT $1",
                )
                .bind(i64::from(PAGE_SIZE))
                .fetch_all(&pool)
                .await
                .map(|_| ())
            }
        }
    })
    .await;
    crate::progress("queries: redis-benchmark GET");
    let redis = redis_benchmark(&bench.services.env.redis_url, sizes.concurrency, &get).await?;

    let report = &mut bench.report;
    let redis_label = "redis-benchmark -t get";
    report.push(
        Row::new(
            WORKLOAD,
            "GetCourse throughput",
            Unit::PerSecond,
            get.per_second(),
        )
        .raw(redis.rps, redis_label),
    );
    report.push(
        Row::new(WORKLOAD, "GetCourse p50", Unit::Millis, get.p50_ms())
            .raw(redis.p50_ms, redis_label),
    );
    report.push(
        Row::new(WORKLOAD, "GetCourse p99", Unit::Millis, get.p99_ms())
            .raw(redis.p99_ms, redis_label)
            .target(Target::Below(5.0)),
    );
    let sql_label = "sqlx SELECT by id";
    report.push(
        Row::new(
            WORKLOAD,
            "GetCourse throughput vs SQL",
            Unit::PerSecond,
            get.per_second(),
        )
        .raw(sql_get.per_second(), sql_label),
    );
    report.push(
        Row::new(WORKLOAD, "GetCourse p99 vs SQL", Unit::Millis, get.p99_ms())
            .raw(sql_get.p99_ms(), sql_label),
    );
    let list_label = "sqlx SELECT of the page";
    report.push(
        Row::new(
            WORKLOAD,
            "ListCourses throughput",
            Unit::PerSecond,
            list.per_second(),
        )
        .raw(sql_list.per_second(), list_label),
    );
    report.push(
        Row::new(WORKLOAD, "ListCourses p50", Unit::Millis, list.p50_ms())
            .raw(sql_list.p50_ms(), list_label),
    );
    report.push(
        Row::new(WORKLOAD, "ListCourses p99", Unit::Millis, list.p99_ms())
            .raw(sql_list.p99_ms(), list_label)
            .target(Target::Below(5.0)),
    );
    report.note(format!(
        "queries: {} published courses seeded, Redis catalog {} ; concurrency {}, {} s each after {} s warm-up; \
         GetCourse cycles over the seeded ids; ListCourses status=published page_size {PAGE_SIZE}; \
         raw: {redis_label} -c {} -n {} (key absent: a plain GET), sqlx SELECT by id / of the same page with a 20-connection pool",
        ids.len(),
        if warm { "warm" } else { "NOT warm (marker missing: ListCourses from Postgres)" },
        sizes.concurrency,
        sizes.duration.as_secs(),
        sizes.warmup.as_secs(),
        sizes.concurrency,
        redis.requests,
    ));
    for (who, result) in [
        ("GetCourse", &get),
        ("ListCourses", &list),
        ("SQL by id", &sql_get),
        ("SQL page", &sql_list),
    ] {
        if let Some(note) = result.error_note() {
            report.note(format!("queries ({who}): {note}"));
        }
    }
    Ok(())
}

/// Publishes `query_courses` courses and waits until the catalog has them.
async fn seed(bench: &mut Bench) -> Result<Vec<String>, WorkloadError> {
    let count = bench.sizes.query_courses.max(1);
    crate::progress(&format!("queries: seeding {count} published courses"));
    let client = bench.command_client().await?;
    let mut courses = Vec::with_capacity(count);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..count {
        let client = client.clone();
        tasks.spawn(async move { client.published_course(format!("Query course {i}")).await });
        if tasks.len() >= 16 {
            if let Some(done) = tasks.join_next().await {
                courses.push(done.map_err(|e| WorkloadError::Failed(e.to_string()))??);
            }
        }
    }
    while let Some(done) = tasks.join_next().await {
        courses.push(done.map_err(|e| WorkloadError::Failed(e.to_string()))??);
    }
    for course in &courses {
        bench
            .wait_catalog(
                &course.course_id,
                course.sequence as i64,
                Duration::from_secs(300),
            )
            .await?;
    }
    Ok(courses.into_iter().map(|c| c.course_id).collect())
}

/// True once the catalog projection marked its Redis side complete.
async fn wait_warm(bench: &Bench, timeout: Duration) -> Result<bool, WorkloadError> {
    let client = redis::Client::open(bench.services.env.redis_url.as_str())?;
    let mut connection = client.get_multiplexed_async_connection().await?;
    let marker = format!(
        "{}:{}",
        bench.services.env.redis_prefix,
        lms_readmodels::catalog::WARM_MARKER
    );
    let deadline = Instant::now() + timeout;
    loop {
        let exists: bool = redis::cmd("EXISTS")
            .arg(&marker)
            .query_async(&mut connection)
            .await?;
        if exists {
            return Ok(true);
        }
        if Instant::now() > deadline {
            return Ok(false);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

struct RedisBenchmark {
    requests: u64,
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
}

/// `redis-benchmark -t get -q --csv` with as many requests as GetCourse made.
async fn redis_benchmark(
    redis_url: &str,
    concurrency: usize,
    ours: &LoadResult,
) -> Result<RedisBenchmark, WorkloadError> {
    let (host, port) = redis_host_port(redis_url);
    let requests = ours.ok.clamp(10_000, 2_000_000);
    let output = Command::new(REDIS_BENCHMARK)
        .args(["-h", &host, "-p", &port, "-t", "get", "-q", "--csv"])
        .args(["-c", &concurrency.to_string(), "-n", &requests.to_string()])
        .output()
        .await
        .map_err(|e| WorkloadError::Failed(format!("running {REDIS_BENCHMARK}: {e}")))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    parse_csv(&stdout)
        .map(|(rps, p50_ms, p99_ms)| RedisBenchmark {
            requests,
            rps,
            p50_ms,
            p99_ms,
        })
        .ok_or_else(|| {
            WorkloadError::Failed(format!(
                "{REDIS_BENCHMARK}: unexpected output {stdout:?} {}",
                String::from_utf8_lossy(&output.stderr)
            ))
        })
}

fn redis_host_port(url: &str) -> (String, String) {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let rest = rest.rsplit_once('@').map(|(_, r)| r).unwrap_or(rest);
    let server = rest.split('/').next().unwrap_or(rest);
    match server.rsplit_once(':') {
        Some((host, port)) => (host.to_string(), port.to_string()),
        None => (server.to_string(), "6379".to_string()),
    }
}

/// (rps, p50 ms, p99 ms) from redis-benchmark 7's CSV.
fn parse_csv(csv: &str) -> Option<(f64, f64, f64)> {
    let mut lines = csv.lines().filter(|l| !l.trim().is_empty());
    let header: Vec<String> = split_csv(lines.next()?);
    let values: Vec<String> = split_csv(lines.next()?);
    let field = |name: &str| -> Option<f64> {
        let i = header.iter().position(|h| h == name)?;
        values.get(i)?.parse().ok()
    };
    Some((
        field("rps")?,
        field("p50_latency_ms")?,
        field("p99_latency_ms")?,
    ))
}

fn split_csv(line: &str) -> Vec<String> {
    line.split(',')
        .map(|v| v.trim().trim_matches('"').to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_redis_benchmark_csv() {
        let csv = "\"test\",\"rps\",\"avg_latency_ms\",\"min_latency_ms\",\"p50_latency_ms\",\"p95_latency_ms\",\"p99_latency_ms\",\"max_latency_ms\"\n\
                   \"GET\",\"26315.79\",\"0.086\",\"0.008\",\"0.047\",\"0.079\",\"2.055\",\"7.991\"\n";
        assert_eq!(parse_csv(csv), Some((26315.79, 0.047, 2.055)));
    }

    #[test]
    fn splits_redis_urls() {
        assert_eq!(
            redis_host_port("redis://127.0.0.1:6379"),
            ("127.0.0.1".into(), "6379".into())
        );
        assert_eq!(
            redis_host_port("redis://:pw@h:7000/0"),
            ("h".into(), "7000".into())
        );
    }
}
