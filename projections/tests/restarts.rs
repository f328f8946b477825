//! A store restarting under a running worker while 2,000 commands flow:
//! Redis killed and started again, answering LOADING while it reloads its
//! data; Postgres (every part's: event store, outbox, registry, read
//! models) stopped fast and crashed. Nothing is dead-lettered or parked,
//! and the read model, rows and cards, is exact afterwards.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use futures::StreamExt;
use lms_projections::course_catalog::CourseCatalogProjection;
use lms_proto::command::v1::{ChangeCapacityRequest, CreateCourseRequest};
use lms_testkit::pipeline::prelude::*;
use lms_testkit::postgres::PrivatePostgres;
use lms_testkit::redis::PrivateRedis;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tonic::Code;

const COURSES: u32 = 400;
/// Capacity changes per course after its creation: 5 commands per course.
const CHANGES: u32 = 4;

fn final_capacity(course: u32) -> u32 {
    10 + course % 50 + CHANGES
}

fn is_loading(error: &redis::RedisError) -> bool {
    error.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::BusyLoading)
        || error.to_string().contains("LOADING")
}

/// Whether a client of `url` is told LOADING before the server serves.
async fn saw_loading(url: &str) -> bool {
    let client = redis::Client::open(url).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut loading = false;
    while Instant::now() < deadline {
        // Setting a connection up sends commands too: LOADING may come there.
        let answer = match client.get_multiplexed_async_connection().await {
            Ok(mut connection) => redis::cmd("GET")
                .arg("probe")
                .query_async::<Option<String>>(&mut connection)
                .await
                .map(|_| ()),
            Err(e) => Err(e),
        };
        match answer {
            Ok(()) => return loading,
            Err(e) if is_loading(&e) => loading = true,
            Err(_) => {}
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("Redis did not serve within 30 s of its restart");
}

#[tokio::test(flavor = "multi_thread")]
async fn redis_restarting_and_loading_under_2000_commands_dead_letters_nothing_and_loses_nothing() {
    let mut redis = PrivateRedis::start().await;
    let h = Harness::start_with_redis(redis.url()).await;
    let worker = h.start_worker(Arc::new(CourseCatalogProjection));

    let writer = write_courses(&h, false);
    let restarter = async {
        let deadline = Instant::now() + Duration::from_secs(120);
        // Mid-stream: a plain restart, then one that loads slowly.
        for (at, delay) in [(500, None), (1_200, Some(5_000))] {
            until_events(&h, at, deadline).await;
            redis.restart(Duration::from_millis(500), delay).await;
            if delay.is_some() {
                assert!(saw_loading(&redis.url()).await, "Redis answered LOADING");
            }
        }
    };
    let (expected, ()) = tokio::join!(writer, restarter);
    assert_exact(&h, &expected).await;
    worker.stop().await;
    h.stop().await;
}

/// Every event applied; every row and card as the commands left it;
/// nothing parked or dead-lettered.
async fn assert_exact(h: &Harness, expected: &BTreeMap<String, u32>) {
    assert_eq!(expected.len(), COURSES as usize);
    assert_eq!(h.db.total_events().await, (COURSES * (1 + CHANGES)) as i64);

    // Every event applied: the worker retried through both restarts.
    eventually(Duration::from_secs(120), || async {
        let applied: Option<i64> = sqlx::query_scalar(
            "SELECT sum(last_sequence)::bigint FROM catalog.applied WHERE projection = 'course-catalog'",
        )
        .fetch_one(&h.db.pool)
        .await
        .unwrap();
        applied == Some((COURSES * (1 + CHANGES)) as i64)
    })
    .await
    .expect("every event applied");

    let rows: BTreeMap<String, i32> =
        sqlx::query_as::<_, (String, i32)>("SELECT course_id::text, capacity FROM catalog.courses")
            .fetch_all(&h.db.pool)
            .await
            .unwrap()
            .into_iter()
            .collect();
    let expected_rows: BTreeMap<String, i32> = expected
        .iter()
        .map(|(k, v)| (k.clone(), *v as i32))
        .collect();
    assert_eq!(rows, expected_rows, "the rows");
    let mut connection = h.redis().await;
    for (course, capacity) in expected {
        let card: Option<String> = redis::cmd("HGET")
            .arg(format!("{}:course:{course}", h.config.redis_prefix))
            .arg("capacity")
            .query_async(&mut connection)
            .await
            .unwrap();
        assert_eq!(card, Some(capacity.to_string()), "the card of {course}");
    }
    let parked: i64 = sqlx::query_scalar("SELECT count(*) FROM catalog.parked")
        .fetch_one(&h.db.pool)
        .await
        .unwrap();
    assert_eq!(parked, 0, "nothing parked");
    let dlq = read_all(
        &h.config.kafka_brokers,
        &h.config.dlq(),
        1,
        Duration::from_secs(3),
    );
    assert!(dlq.is_empty(), "nothing dead-lettered");
}

/// Writes `COURSES` courses, each created then changed `CHANGES` times, 8
/// courses at a time; the final capacity of each. With `retry`, a command
/// answered UNAVAILABLE or ABORTED (a store restarting) is sent again with
/// the same command id until answered (a retry after a lost reply gets the
/// first reply); without, any refusal fails the test.
async fn write_courses(h: &Harness, retry: bool) -> BTreeMap<String, u32> {
    let instructor = Caller::instructor();
    futures::stream::iter(0..COURSES)
        .map(|n| async move {
            let create = CreateCourseRequest {
                command_id: new_id(),
                course_id: String::new(),
                title: format!("Course {n:03}"),
                description: String::new(),
                instructor_ids: vec![instructor.id.to_string()],
                capacity: 10,
                access: None,
            };
            let course = answered(retry, || {
                let mut courses = h.server.courses();
                let request = instructor.req(create.clone());
                async move { courses.create_course(request).await }
            })
            .await
            .aggregate_id;
            for step in 1..=CHANGES {
                let change = ChangeCapacityRequest {
                    command_id: new_id(),
                    course_id: course.clone(),
                    capacity: 10 + n % 50 + step,
                };
                answered(retry, || {
                    let mut courses = h.server.courses();
                    let request = instructor.req(change.clone());
                    async move { courses.change_capacity(request).await }
                })
                .await;
            }
            (course, final_capacity(n))
        })
        .buffer_unordered(8)
        .collect()
        .await
}

/// The reply to a command; with `retry`, sent again while UNAVAILABLE or
/// ABORTED (for up to 120 s).
async fn answered<T, F, Fut>(retry: bool, mut call: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
{
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        match call().await {
            Ok(reply) => return reply.into_inner(),
            Err(status)
                if retry
                    && matches!(status.code(), Code::Unavailable | Code::Aborted)
                    && Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(status) => panic!("command failed: {status:?}"),
        }
    }
}

/// Waits until the store holds `at` events (it counts 0 while it cannot be
/// read); fails after `deadline`.
async fn until_events(h: &Harness, at: i64, deadline: Instant) {
    loop {
        let written: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
            .fetch_one(&h.db.pool)
            .await
            .unwrap_or(0);
        if written >= at {
            return;
        }
        assert!(Instant::now() < deadline, "commands too slow");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_stopping_and_crashing_under_2000_commands_dead_letters_nothing_and_loses_nothing()
{
    let postgres = PrivatePostgres::start().await;
    let h = Harness::start_on(&postgres.admin_url(), lms_testkit::redis::url()).await;
    let worker = h.start_worker(Arc::new(CourseCatalogProjection));

    let writer = write_courses(&h, true);
    let restarter = async {
        let deadline = Instant::now() + Duration::from_secs(180);
        // Mid-stream: a clean fast shutdown (57P01 to every session), then a
        // crash (WAL recovery at the next start).
        for (at, mode) in [(500, "fast"), (1_200, "immediate")] {
            until_events(&h, at, deadline).await;
            postgres.restart(mode, Duration::from_secs(1)).await;
        }
    };
    let (expected, ()) = tokio::join!(writer, restarter);
    assert_exact(&h, &expected).await;

    worker.stop().await;
    h.stop().await;
}
