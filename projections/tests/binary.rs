//! The `lms-projections` binary: `--print-settings`, `run` with metrics and a
//! graceful SIGTERM, `redrive-dlq`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use lms_testkit::pipeline::prelude::*;
use std::process::{Command, Stdio};
use std::time::Duration;

#[test]
fn print_settings_lists_what_the_binary_reads() {
    let output = Command::new(env!("CARGO_BIN_EXE_lms-projections"))
        .arg("--print-settings")
        .output()
        .unwrap();
    assert!(output.status.success());
    let names = String::from_utf8(output.stdout).unwrap();
    for name in [
        "LMS_DATABASE_URL",
        "LMS_REDIS_URL",
        "LMS_REDIS_PREFIX",
        "LMS_KAFKA_BROKERS",
        "LMS_SCHEMA_REGISTRY_URL",
        "LMS_TOPIC_PREFIX",
        "LMS_DLQ_TOPIC",
        "LMS_MAX_HANDLER_RETRIES",
        "LMS_METRICS_ADDR",
        "LMS_LOG",
        "LMS_LOG_FORMAT",
    ] {
        assert!(names.lines().any(|l| l == name), "{name} missing");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn run_projects_exposes_metrics_and_stops_on_sigterm() {
    let h = Harness::start().await;
    let (course, seq) = h.course(Caller::instructor(), "Binary", true).await;
    let metrics_addr = free_addr();
    let mut child = h
        .binary(env!("CARGO_BIN_EXE_lms-projections"), &metrics_addr)
        .args(["run", "--projection", "course-catalog"])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    h.wait_applied("catalog", "course-catalog", &course, seq)
        .await;
    let seen = eventually(Duration::from_secs(30), || async {
        let body = scrape(&metrics_addr).await;
        body.contains(&format!(
            "lms_projection_applied_total{{projection=\"course-catalog\"}} {seq}"
        )) && body.contains("lms_projection_lag{projection=\"course-catalog\"")
    })
    .await;
    if seen.is_err() {
        panic!("metrics: {}", scrape(&metrics_addr).await);
    }

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = wait_exit(&mut child, Duration::from_secs(30));
    assert!(status.success(), "graceful exit, got {status:?}");

    let output = h
        .binary(env!("CARGO_BIN_EXE_lms-projections"), "127.0.0.1:0")
        .args(["redrive-dlq", "course-catalog"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        stdout.contains(
            "course-catalog: parked: applied 0, still parked 0; DLQ: applied 0, skipped 0, failed again 0"
        ),
        "{stdout}"
    );
    h.stop().await;
}
