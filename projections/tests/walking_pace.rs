//! The read side keeps up with people using the LMS: every worker of the
//! binary, 10 courses × 20 students (enroll, complete a lesson, withdraw
//! some) → every roster, seat count and dashboard exact within 10 s of the
//! last command. And a worker whose lag reporter's broker never answers
//! keeps applying records: no broker call of the metrics sits on the
//! consume path.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod harness;
#[path = "common/workload.rs"]
mod workload;

use harness::support::Caller;
use harness::*;
use lms_projections::course_catalog::CourseCatalogProjection;
use lms_projections::{run_projection, Config, Services};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::watch;
use workload::*;

#[tokio::test(flavor = "multi_thread")]
async fn ten_courses_of_twenty_students_are_exact_within_ten_seconds_of_the_last_command() {
    let h = Harness::start().await;
    let metrics = free_addr();
    let _children = Children(vec![binary(&h, &metrics)
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
    let (stop, stopped) = watch::channel(false);
    let worker = tokio::spawn(run_projection(
        Arc::new(CourseCatalogProjection),
        services,
        stopped,
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
    let _ = stop.send(true);
    worker.await.unwrap().expect("worker ends cleanly");
    h.stop().await;
}
