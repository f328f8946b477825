//! The read-model migrations: idempotent, independent of other crates'
//! migration bookkeeping, and the typed rows match the tables.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use lms_readmodels::billing::{InvoiceRow, SubscriptionRow};
use lms_readmodels::catalog::{CourseRow, LessonRow, ModuleRow};
use lms_readmodels::dashboard::{DashboardCourseRow, StudentCourseRow};
use lms_readmodels::roster::EnrollmentRow;
use support::TestDb;

#[tokio::test]
async fn migrations_coexist_with_public_sqlx_migrations_and_are_idempotent() {
    let db = TestDb::empty().await;
    // What the event store leaves behind: versions 1 and 2 in public.
    sqlx::query(
        "CREATE TABLE public._sqlx_migrations (version bigint PRIMARY KEY, description text NOT NULL,
           installed_on timestamptz NOT NULL DEFAULT now(), success boolean NOT NULL,
           checksum bytea NOT NULL, execution_time bigint NOT NULL)",
    )
    .execute(&db.pool)
    .await
    .expect("public bookkeeping");
    sqlx::query(
        "INSERT INTO public._sqlx_migrations (version, description, success, checksum, execution_time)
         VALUES (1, 'event store', true, '\\x00', 0), (2, 'command log', true, '\\x00', 0)",
    )
    .execute(&db.pool)
    .await
    .expect("public versions");

    lms_readmodels::migrate(&db.pool).await.expect("first run");
    lms_readmodels::migrate(&db.pool).await.expect("second run");

    let ours: Vec<i64> = sqlx::query_scalar(
        "SELECT version FROM readmodels_migrations._sqlx_migrations ORDER BY version",
    )
    .fetch_all(&db.pool)
    .await
    .expect("our versions");
    assert_eq!(ours, vec![1, 2, 3, 4, 5, 6, 7, 8]);
    let public: i64 = sqlx::query_scalar("SELECT count(*) FROM public._sqlx_migrations")
        .fetch_one(&db.pool)
        .await
        .expect("public versions");
    assert_eq!(public, 2);

    for schema in ["catalog", "roster", "dashboard", "billing"] {
        for table in ["applied", "checkpoints"] {
            let n: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {schema}.{table}"))
                .fetch_one(&db.pool)
                .await
                .unwrap_or_else(|e| panic!("{schema}.{table}: {e}"));
            assert_eq!(n, 0);
        }
    }
    db.drop_database().await;
}

#[tokio::test]
async fn row_types_decode_every_table() {
    let db = TestDb::create().await;
    let p = &db.pool;
    let _: Vec<CourseRow> = sqlx::query_as("SELECT * FROM catalog.courses")
        .fetch_all(p)
        .await
        .expect("courses");
    let _: Vec<LessonRow> = sqlx::query_as("SELECT * FROM catalog.lessons")
        .fetch_all(p)
        .await
        .expect("lessons");
    let _: Vec<ModuleRow> = sqlx::query_as("SELECT * FROM catalog.modules")
        .fetch_all(p)
        .await
        .expect("modules");
    let _: Vec<DashboardCourseRow> = sqlx::query_as("SELECT * FROM dashboard.courses")
        .fetch_all(p)
        .await
        .expect("dashboard courses");
    let _: Vec<EnrollmentRow> = sqlx::query_as("SELECT * FROM roster.enrollments")
        .fetch_all(p)
        .await
        .expect("enrollments");
    let _: Vec<StudentCourseRow> = sqlx::query_as("SELECT * FROM dashboard.student_courses")
        .fetch_all(p)
        .await
        .expect("student_courses");
    let _: Vec<SubscriptionRow> = sqlx::query_as("SELECT * FROM billing.subscriptions")
        .fetch_all(p)
        .await
        .expect("subscriptions");
    let _: Vec<InvoiceRow> = sqlx::query_as("SELECT * FROM billing.invoices")
        .fetch_all(p)
        .await
        .expect("invoices");
    db.drop_database().await;
}
