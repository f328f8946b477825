//! `lms-replay rebuild` and `verify` against the real pipeline: commands over
//! gRPC → relay → Kafka → live projection workers, a rebuild while commands
//! keep arriving, then `verify` finds no difference; a tampered read model
//! is reported with exit code 7.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use lms_projections::course_catalog::CourseCatalogProjection;
use lms_projections::roster::RosterProjection;
use lms_proto::command::v1::*;
use lms_testkit::pipeline::prelude::*;
use std::process::Output;
use std::sync::Arc;
use std::time::Duration;

fn replay(h: &Harness, args: &[&str]) -> Output {
    lms_testkit::process::service(env!("CARGO_BIN_EXE_lms-replay"))
        .args(args)
        .env("LMS_DATABASE_URL", &h.db.url)
        .env("LMS_REDIS_URL", lms_testkit::redis::url())
        .env("LMS_REDIS_PREFIX", &h.config.redis_prefix)
        .output()
        .unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Enrolls `count` new students into `courses` round-robin, one at a time.
async fn enroll(h: &Harness, courses: &[String], count: usize, pause: Duration) -> Vec<String> {
    let mut api = h.server.enrollments();
    let mut ids = Vec::new();
    for n in 0..count {
        let student = Caller::student();
        let reply = api
            .enroll(student.req(EnrollRequest {
                command_id: new_id(),
                course_id: courses[n % courses.len()].clone(),
                student_id: student.id.to_string(),
            }))
            .await
            .expect("enroll")
            .into_inner();
        ids.push(reply.aggregate_id);
        tokio::time::sleep(pause).await;
    }
    ids
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rebuild_while_commands_arrive_swaps_in_and_verify_finds_no_difference() {
    let h = Arc::new(Harness::start().await);
    let catalog = h.start_worker(Arc::new(CourseCatalogProjection));
    let roster = h.start_worker(Arc::new(RosterProjection));
    let instructor = Caller::instructor();
    let mut courses = Vec::new();
    // Ten seats each (the harness's courses): room for 140 enrollments.
    for n in 0..15 {
        let (id, _) = h.course(instructor, &format!("Course {n}"), true).await;
        courses.push(id);
    }
    let first = enroll(&h, &courses, 20, Duration::ZERO).await;
    h.wait_applied("roster", "roster", first.last().unwrap(), 1)
        .await;

    // Commands keep arriving during both rebuilds.
    let load = {
        let (h, courses) = (h.clone(), courses.clone());
        tokio::spawn(async move { enroll(&h, &courses, 120, Duration::from_millis(50)).await })
    };
    // The load is under way before the first rebuild starts.
    let under_way = |pool: sqlx::PgPool| async move {
        let enrolled: i64 =
            sqlx::query_scalar("SELECT count(*) FROM events WHERE event_type = 'StudentEnrolled'")
                .fetch_one(&pool)
                .await
                .unwrap();
        enrolled >= 30
    };
    eventually(Duration::from_secs(30), || under_way(h.db.pool.clone()))
        .await
        .expect("the concurrent enrollments started");
    for projection in ["course-catalog", "roster"] {
        let output = replay(&h, &["rebuild", projection, "--batch-size", "7"]);
        assert!(output.status.success(), "{}", text(&output));
        assert!(
            text(&output).contains(&format!("rebuilt {projection}:")),
            "{}",
            text(&output)
        );
    }
    assert!(
        !load.is_finished(),
        "the commands ended before the rebuilds"
    );
    let later = load.await.unwrap();

    // The live workers carry on after the swap: the last enrollment lands.
    h.wait_applied("roster", "roster", later.last().unwrap(), 1)
        .await;
    let enrollments: i64 = sqlx::query_scalar("SELECT count(*) FROM roster.enrollments")
        .fetch_one(&h.db.pool)
        .await
        .unwrap();
    assert_eq!(enrollments, 140);
    // Rebuilt from the store: modules exist for every course.
    let modules: i64 = sqlx::query_scalar("SELECT count(*) FROM catalog.modules")
        .fetch_one(&h.db.pool)
        .await
        .unwrap();
    assert_eq!(modules, 15);

    for projection in ["course-catalog", "roster"] {
        let output = replay(&h, &["verify", projection, "--settle-secs", "60"]);
        assert!(output.status.success(), "{}", text(&output));
        assert!(text(&output).contains("no difference"), "{}", text(&output));
    }

    // A tampered read model: verify names the row and exits 7.
    sqlx::query("UPDATE catalog.courses SET title = 'tampered' WHERE course_id = $1::uuid")
        .bind(&courses[0])
        .execute(&h.db.pool)
        .await
        .unwrap();
    let output = replay(&h, &["verify", "course-catalog", "--json"]);
    assert_eq!(output.status.code(), Some(7), "{}", text(&output));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let places: Vec<&str> = report["differences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["place"].as_str().unwrap())
        .collect();
    assert_eq!(
        places,
        vec!["catalog.courses", "catalog.courses"],
        "{report}"
    );
    // Unknown projection: usage error.
    let output = replay(&h, &["rebuild", "nope"]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(
        text(&output).contains("unknown projection nope (known: course-catalog, roster"),
        "{}",
        text(&output)
    );

    catalog.stop().await;
    roster.stop().await;
    Arc::try_unwrap(h).ok().expect("harness").stop().await;
}
