//! The worker binary killed with SIGKILL in the middle of 2,000 commands and
//! restarted: every read model equals the state the commands imply.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use lms_testkit::pipeline::prelude::*;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

#[tokio::test(flavor = "multi_thread")]
async fn a_worker_killed_mid_stream_of_2000_commands_leaves_exact_read_models() {
    let h = Harness::start().await;
    let mut children = Children(Vec::new());
    let run = |h: &Harness| {
        h.binary(env!("CARGO_BIN_EXE_lms-projections"), &free_addr())
            .env(
                "LMS_KAFKA_SESSION_TIMEOUT_MS",
                SESSION_TIMEOUT_MS.to_string(),
            )
            .arg("run")
            .stdout(child_output())
            .spawn()
            .unwrap()
    };
    children.0.push(run(&h));
    let mut setup = Expected::default();
    courses(&h, &mut setup).await;
    let expected = Arc::new(Mutex::new(setup));
    let h = Arc::new(h);
    let load = {
        let (h, expected) = (h.clone(), expected.clone());
        tokio::spawn(async move {
            let (_keep, stop) = watch::channel(false);
            // Paced (~25 commands/s) so the kill lands mid-stream.
            enroll(&h, &expected, 1_450, Duration::from_millis(40), stop).await;
            progress(&h, &expected, 300, 200).await;
        })
    };
    // SIGKILL in the middle of the stream: 800 of the 2,000 commands done
    // and the worker busy applying them.
    let reached = eventually(Duration::from_secs(300), || async {
        let commands = expected.lock().unwrap().commands;
        commands >= 800 && roster_rows(&h).await.len() >= 50
    })
    .await;
    assert!(reached.is_ok(), "the worker never got going");
    assert!(!load.is_finished(), "the commands ended before the kill");
    let at_kill = roster_rows(&h).await.len();
    let commands_at_kill = expected.lock().unwrap().commands;
    kill(&children.0[0], "-KILL");
    let status = wait_exit(&mut children.0[0], Duration::from_secs(10));
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(9)
    );
    // Restarted at once: the new member joins while the group still waits
    // for the dead one's session to expire.
    children.0.push(run(&h));
    load.await.expect("commands");
    let expected = Arc::try_unwrap(expected)
        .ok()
        .expect("load ended")
        .into_inner()
        .unwrap();
    assert_eq!(expected.commands, 2_000);
    println!(
        "killed at {at_kill} roster rows of {} (after {commands_at_kill} commands); restarted",
        expected.enrollments.len()
    );
    assert!(at_kill < expected.enrollments.len());
    assert_read_models(&h, &expected, true).await;
    drop(children);
    Arc::try_unwrap(h).ok().expect("harness").stop().await;
}
