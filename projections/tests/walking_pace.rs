//! The read side keeps up with people using the LMS: every worker of the
//! binary, 10 courses × 20 students (enroll, complete a lesson, withdraw
//! some) → every roster, seat count and dashboard exact within 10 s of the
//! last command. And a worker whose lag reporter's broker never answers
//! keeps applying records: no broker call of the metrics sits on the
//! consume path. And a worker left without partitions by a member that
//! hangs takes them over within that member's poll interval.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use lms_projections::course_catalog::CourseCatalogProjection;
use lms_projections::{run_projection, Config, Services};
use lms_testkit::pipeline::prelude::*;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::watch;

#[tokio::test(flavor = "multi_thread")]
async fn ten_courses_of_twenty_students_are_exact_within_ten_seconds_of_the_last_command() {
    let h = Harness::start().await;
    let metrics = free_addr();
    let _children = Children(vec![h
        .binary(env!("CARGO_BIN_EXE_lms-projections"), &metrics)
        .arg("run")
        .stdout(child_output())
        .spawn()
        .unwrap()]);
    let mut expected = Expected::default();
    courses(&h, &mut expected).await;
    // The workers are in their groups once the catalog shows the courses.
    eventually(Duration::from_secs(60), || async {
        catalog_seats(&h).await.len() == COURSES
    })
    .await
    .expect("the catalog never showed the courses");

    let expected = Mutex::new(expected);
    let (_keep, stop) = watch::channel(false);
    // A walking pace: about 100 commands/s.
    enroll(
        &h,
        &expected,
        COURSES * 20,
        Duration::from_millis(100),
        stop,
    )
    .await;
    progress(&h, &expected, 100, 40).await;
    let last_command = Instant::now();
    let expected = expected.into_inner().unwrap();
    assert_eq!(expected.commands, 50 + 200 + 140);
    assert_read_models_within(&h, &expected, true, Duration::from_secs(10)).await;
    println!(
        "read models exact {:?} after the last command (plus a 3 s settle)",
        last_command.elapsed() - Duration::from_secs(3)
    );
    // The lag the metrics report is back to 0 for every projection.
    let body = scrape(&metrics).await;
    for projection in ["course-catalog", "roster", "student-dashboard"] {
        let lag: f64 = body
            .lines()
            .filter(|l| l.starts_with(&format!("lms_projection_lag{{projection=\"{projection}\"")))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum();
        let series = body
            .lines()
            .filter(|l| l.starts_with(&format!("lms_projection_lag{{projection=\"{projection}\"")))
            .count();
        assert!(series > 0, "no lag series for {projection}");
        assert_eq!(lag, 0.0, "{projection} reports lag");
    }
    h.stop().await;
}

/// Accepts connections and never answers: every request of a client
/// bootstrapped here waits for its timeout.
async fn black_hole() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            held.push(socket);
        }
    });
    (addr, accepted)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_worker_whose_lag_reporter_hangs_keeps_applying() {
    let h = Harness::start().await;
    let (hole, accepted) = black_hole().await;
    let config = Config {
        kafka_lag_brokers: hole,
        lag_interval_ms: 200,
        ..h.config.clone()
    };
    let services = Services::connect(&config, h.db.pool.clone()).await.unwrap();
    let stop = lms_runtime::Shutdown::new();
    let worker = tokio::spawn(run_projection(
        Arc::new(CourseCatalogProjection),
        services,
        stop.clone(),
    ));
    let instructor = Caller::instructor();
    let started = Instant::now();
    let mut courses = Vec::new();
    for n in 0..10 {
        courses.push(
            h.course(instructor, &format!("Course {n}"), n % 2 == 0)
                .await,
        );
    }
    for (course, sequence) in &courses {
        h.wait_applied("catalog", "course-catalog", course, *sequence)
            .await;
    }
    let took = started.elapsed();
    assert!(
        accepted.load(Ordering::SeqCst) > 0,
        "the lag reporter never tried its broker"
    );
    assert!(
        took < Duration::from_secs(30),
        "applying 10 courses took {took:?} beside a hanging lag reporter"
    );
    // And it keeps applying after many reporter rounds have hung.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (late, late_seq) = h.course(instructor, "Late", true).await;
    let applied_at = Instant::now();
    h.wait_applied("catalog", "course-catalog", &late, late_seq)
        .await;
    assert!(applied_at.elapsed() < Duration::from_secs(10));
    stop.cancel();
    worker.await.unwrap().expect("worker ends cleanly");
    h.stop().await;
}

/// A member that stays in the group but stops polling (a hung process
/// whose client still heartbeats) holds every partition while the topic has
/// a backlog; a worker that joins then has no assignment. Kafka's group
/// protocol frees those partitions: the rebalance the worker starts waits
/// on the hung member, which is dropped at its session timeout, and at the
/// latest its client leaves at `max.poll.interval.ms`. So the worker takes
/// over and applies the backlog within that bound, by itself.
#[tokio::test(flavor = "multi_thread")]
async fn a_worker_left_without_partitions_by_a_hung_member_takes_over_within_its_poll_interval() {
    use rdkafka::config::ClientConfig;
    use rdkafka::consumer::{BaseConsumer, Consumer};

    let h = Harness::start().await;
    let instructor = Caller::instructor();
    let mut courses = Vec::new();
    for n in 0..5 {
        courses.push(h.course(instructor, &format!("Backlog {n}"), true).await);
    }
    let topic = h.topic("lms.course.v1");
    // The relay created the topic and published the backlog.
    let (brokers, read) = (h.config.kafka_brokers.clone(), topic.clone());
    let published = tokio::task::spawn_blocking(move || {
        read_all(&brokers, &read, 5 * 4, Duration::from_secs(30)).len()
    })
    .await
    .unwrap();
    assert_eq!(published, 5 * 4, "the relay never published the courses");

    const HUNG_POLL_INTERVAL: Duration = Duration::from_secs(6);
    let hung: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &h.config.kafka_brokers)
        .set("group.id", h.config.consumer_group("course-catalog"))
        .set("enable.auto.commit", "false")
        .set("session.timeout.ms", "3000")
        .set(
            "max.poll.interval.ms",
            HUNG_POLL_INTERVAL.as_millis().to_string(),
        )
        .create()
        .unwrap();
    hung.subscribe(&[&topic]).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while hung.assignment().unwrap().count() < 3 {
        assert!(
            Instant::now() < deadline,
            "the hung member got no assignment"
        );
        let _ = hung.poll(Duration::from_millis(100));
    }
    // From here on it never polls again; its heartbeat thread keeps it a
    // member holding all three partitions.

    let started = Instant::now();
    let worker = h.start_worker(Arc::new(CourseCatalogProjection));
    for (course, sequence) in &courses {
        h.wait_applied("catalog", "course-catalog", course, *sequence)
            .await;
    }
    let took = started.elapsed();
    println!("the worker applied the backlog {took:?} after joining beside a hung member");
    assert!(
        took < HUNG_POLL_INTERVAL + Duration::from_secs(15),
        "the backlog waited {took:?} for a member that stopped polling"
    );
    // And the partitions are the worker's now: a new course applies promptly.
    let (late, late_seq) = h.course(instructor, "After the takeover", true).await;
    let applied_at = Instant::now();
    h.wait_applied("catalog", "course-catalog", &late, late_seq)
        .await;
    assert!(applied_at.elapsed() < Duration::from_secs(10));
    drop(hung);
    worker.stop().await;
    h.stop().await;
}
