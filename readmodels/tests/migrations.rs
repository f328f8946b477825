//! The read-model migrations: idempotent, independent of other crates'
//! migration bookkeeping, and the typed rows match the tables.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use lms_readmodels::billing::{InvoiceRow, SubscriptionRow};
use lms_readmodels::catalog::{CourseRow, LessonRow, ModuleRow};
use lms_readmodels::dashboard::{DashboardCourseRow, StudentCourseRow};
use lms_readmodels::roster::EnrollmentRow;
use lms_readmodels::users::AccountRow;
use lms_testkit::TestDb;

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
    assert_eq!(ours, (1..=18).collect::<Vec<i64>>());
    let public: i64 = sqlx::query_scalar("SELECT count(*) FROM public._sqlx_migrations")
        .fetch_one(&db.pool)
        .await
        .expect("public versions");
    assert_eq!(public, 2);

    for schema in ["catalog", "roster", "dashboard", "billing", "users"] {
        for table in ["applied", "checkpoints", "parked"] {
            let n: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {schema}.{table}"))
                .fetch_one(&db.pool)
                .await
                .unwrap_or_else(|e| panic!("{schema}.{table}: {e}"));
            assert_eq!(n, 0);
        }
    }
    db.drop_database().await;
}

/// One row in every read-model table, nullable columns filled, so each typed
/// row must decode a real value of every column.
const ONE_ROW_EACH: &str = "
    INSERT INTO catalog.courses (course_id, title, description, status, capacity, seats_taken,
        access_kind, price_cents, plan, language, instructor_ids, module_count, lesson_count,
        created_at, updated_at, tenant_id)
    VALUES ('00000000-0000-7000-8000-000000000001', 'Rust', 'About Rust', 'published', 30, 2,
        'paid', 4900, 'pro', 'en', ARRAY['00000000-0000-7000-8000-000000000009']::uuid[], 1, 1,
        now(), now(), 'globex');
    INSERT INTO catalog.modules (module_id, course_id, title, position, created_at)
    VALUES ('00000000-0000-7000-8000-000000000002', '00000000-0000-7000-8000-000000000001',
        'Basics', 0, now());
    INSERT INTO catalog.lessons (lesson_id, course_id, module_id, module_title, title, position)
    VALUES ('00000000-0000-7000-8000-000000000003', '00000000-0000-7000-8000-000000000001',
        '00000000-0000-7000-8000-000000000002', 'Basics', 'Ownership', 0);
    INSERT INTO roster.enrollments (enrollment_id, course_id, student_id, status,
        lessons_completed, enrolled_at, completed_at, withdrawn_at, updated_at, tenant_id)
    VALUES ('00000000-0000-7000-8000-000000000004', '00000000-0000-7000-8000-000000000001',
        '00000000-0000-7000-8000-000000000005', 'completed', 1, now(), now(), now(), now(),
        'globex');
    INSERT INTO dashboard.courses (course_id, course_title, lessons_total, updated_at)
    VALUES ('00000000-0000-7000-8000-000000000001', 'Rust', 1, now());
    INSERT INTO dashboard.student_courses (student_id, course_id, enrollment_id, status,
        lessons_completed, lessons_total, course_title, updated_at, tenant_id)
    VALUES ('00000000-0000-7000-8000-000000000005', '00000000-0000-7000-8000-000000000001',
        '00000000-0000-7000-8000-000000000004', 'completed', 1, 1, 'Rust', now(), 'globex');
    INSERT INTO billing.subscriptions (subscription_id, student_id, plan, status, trial_ends_at,
        current_period_end, updated_at, tenant_id)
    VALUES ('00000000-0000-7000-8000-000000000006', '00000000-0000-7000-8000-000000000005',
        'pro', 'active', now(), now(), now(), 'globex');
    INSERT INTO billing.invoices (invoice_id, subscription_id, student_id, amount_cents, currency,
        period_start, period_end, payment_reference, issued_at, tenant_id)
    VALUES ('00000000-0000-7000-8000-000000000007', '00000000-0000-7000-8000-000000000006',
        '00000000-0000-7000-8000-000000000005', 4900, 'EUR', now(), now(), 'pm_ref', now(),
        'globex');
    INSERT INTO users.accounts (user_id, tenant_id, email, display_name, locale, time_zone,
        roles, opted_out, registered_at, updated_at)
    VALUES ('00000000-0000-7000-8000-000000000005', 'default', 'ada@example.com', 'Ada', 'en',
        'UTC', ARRAY['student', 'instructor'], ARRAY['product_news'], now(), now());
";

#[tokio::test]
async fn row_types_decode_a_row_of_every_table() {
    let db = TestDb::read_models().await;
    let p = &db.pool;
    sqlx::raw_sql(ONE_ROW_EACH)
        .execute(p)
        .await
        .expect("a row in every table");

    let course: CourseRow = sqlx::query_as("SELECT * FROM catalog.courses")
        .fetch_one(p)
        .await
        .expect("courses");
    assert_eq!(course.title, "Rust");
    assert_eq!(course.price_cents, Some(4900));
    assert_eq!(course.plan.as_deref(), Some("pro"));
    assert_eq!(course.instructor_ids.len(), 1);
    assert_eq!(course.tenant_id, "globex");
    let lesson: LessonRow = sqlx::query_as("SELECT * FROM catalog.lessons")
        .fetch_one(p)
        .await
        .expect("lessons");
    assert_eq!(lesson.title, "Ownership");
    let module: ModuleRow = sqlx::query_as("SELECT * FROM catalog.modules")
        .fetch_one(p)
        .await
        .expect("modules");
    assert_eq!(module.title, "Basics");
    let dashboard_course: DashboardCourseRow = sqlx::query_as("SELECT * FROM dashboard.courses")
        .fetch_one(p)
        .await
        .expect("dashboard courses");
    assert_eq!(dashboard_course.lessons_total, 1);
    let enrollment: EnrollmentRow = sqlx::query_as("SELECT * FROM roster.enrollments")
        .fetch_one(p)
        .await
        .expect("enrollments");
    assert_eq!(enrollment.status, "completed");
    assert!(enrollment.completed_at.is_some() && enrollment.withdrawn_at.is_some());
    assert_eq!(enrollment.tenant_id, "globex");
    let student_course: StudentCourseRow =
        sqlx::query_as("SELECT * FROM dashboard.student_courses")
            .fetch_one(p)
            .await
            .expect("student_courses");
    assert_eq!(student_course.course_title, "Rust");
    assert_eq!(student_course.tenant_id, "globex");
    let subscription: SubscriptionRow = sqlx::query_as("SELECT * FROM billing.subscriptions")
        .fetch_one(p)
        .await
        .expect("subscriptions");
    assert!(subscription.trial_ends_at.is_some() && subscription.current_period_end.is_some());
    assert_eq!(subscription.tenant_id, "globex");
    let invoice: InvoiceRow = sqlx::query_as("SELECT * FROM billing.invoices")
        .fetch_one(p)
        .await
        .expect("invoices");
    assert_eq!(invoice.amount_cents, 4900);
    assert_eq!(invoice.tenant_id, "globex");
    let account: AccountRow = sqlx::query_as("SELECT * FROM users.accounts")
        .fetch_one(p)
        .await
        .expect("accounts");
    assert_eq!(account.roles, vec!["student", "instructor"]);
    assert_eq!(account.opted_out, vec!["product_news"]);
    db.drop_database().await;
}

#[tokio::test]
async fn no_write_can_omit_the_tenant() {
    let db = TestDb::read_models().await;
    let missing = sqlx::query(
        "INSERT INTO roster.enrollments (enrollment_id, course_id, student_id, enrolled_at,
           updated_at) VALUES (gen_random_uuid(), gen_random_uuid(), gen_random_uuid(), now(), now())",
    )
    .execute(&db.pool)
    .await
    .expect_err("tenant_id has no default");
    let code = missing.as_database_error().and_then(|e| e.code());
    assert_eq!(code.as_deref(), Some("23502"), "not-null violation");
    db.drop_database().await;
}
