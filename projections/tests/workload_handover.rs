//! Two workers of one projection share the partitions and hand them over on
//! SIGTERM with no lost or double effect.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use lms_testkit::pipeline::prelude::*;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

#[tokio::test(flavor = "multi_thread")]
async fn two_roster_workers_share_the_partitions_and_hand_them_over() {
    let h = Arc::new(Harness::start().await);
    let series = "lms_projection_assigned_partitions{projection=\"roster\"}";
    let applied = "lms_projection_applied_total{projection=\"roster\"}";
    let (a_addr, b_addr) = (free_addr(), free_addr());
    let worker = |h: &Harness, addr: &str| {
        h.binary(env!("CARGO_BIN_EXE_lms-projections"), addr)
            .args(["run", "--projection", "roster"])
            .stdout(child_output())
            .spawn()
            .unwrap()
    };
    let mut children = Children(vec![worker(&h, &a_addr)]);
    let mut setup = Expected::default();
    courses(&h, &mut setup).await;
    let expected = Arc::new(Mutex::new(setup));
    // Roster reads lms.course.v1 and lms.enrollment.v1, 3 partitions each.
    let assigned =
        |addr: String| async move { metric(&scrape(&addr).await, series).unwrap_or(0.0) };
    eventually(Duration::from_secs(120), || async {
        assigned(a_addr.clone()).await == 6.0
    })
    .await
    .expect("worker A holds all six partitions");

    let (stop_load, stopped) = watch::channel(false);
    let load = {
        let (h, expected) = (h.clone(), expected.clone());
        tokio::spawn(async move {
            enroll(&h, &expected, 100_000, Duration::from_millis(200), stopped).await;
        })
    };
    children.0.push(worker(&h, &b_addr));
    eventually(Duration::from_secs(120), || async {
        let (a, b) = (
            assigned(a_addr.clone()).await,
            assigned(b_addr.clone()).await,
        );
        a > 0.0 && b > 0.0 && a + b == 6.0
    })
    .await
    .expect("A and B split the partitions");
    let split = (
        assigned(a_addr.clone()).await,
        assigned(b_addr.clone()).await,
    );
    // Let B apply some of the stream before it stops.
    eventually(Duration::from_secs(60), || async {
        metric(&scrape(&b_addr).await, applied).unwrap_or(0.0) >= 20.0
    })
    .await
    .expect("B applies events");
    let b_applied = metric(&scrape(&b_addr).await, applied).unwrap_or(0.0);
    kill(&children.0[1], "-TERM");
    let status = wait_exit(&mut children.0[1], Duration::from_secs(30));
    assert!(status.success(), "B stops cleanly: {status:?}");
    eventually(Duration::from_secs(120), || async {
        assigned(a_addr.clone()).await == 6.0
    })
    .await
    .expect("A takes B's partitions back");
    // Keep commands flowing a little after the handover, then stop them.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let _ = stop_load.send(true);
    load.await.expect("commands");
    let expected = Arc::try_unwrap(expected)
        .ok()
        .expect("load ended")
        .into_inner()
        .unwrap();
    println!(
        "split A/B = {split:?}; B applied {b_applied} before stopping; {} enrollments",
        expected.enrollments.len()
    );
    assert_read_models(&h, &expected, false).await;
    drop(children);
    Arc::try_unwrap(h).ok().expect("harness").stop().await;
}
