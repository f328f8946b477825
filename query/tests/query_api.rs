//! lms.query.v1 through real gRPC on a random port, against rows and Redis
//! keys seeded as the projections would write them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{DateTime, Duration, TimeZone, Utc};
use lms_proto::query::v1::{
    GetCourseRequest, GetRosterRequest, GetStudentDashboardRequest, GetSubscriptionRequest,
    ListCoursesRequest, ListInvoicesRequest, MinPosition,
};
use lms_query::config::Config;
use lms_testkit::auth::Bearer;
use lms_testkit::query::QueryServer;
use lms_testkit::status::{assert_refused, violated_fields};
use lms_testkit::TestDb;
use sqlx::PgPool;
use std::collections::HashSet;
use tonic::Code;
use tonic_types::StatusExt;
use uuid::Uuid;

/// The catalog's warm marker under the test prefix.
const WARM: &str = "{p}:catalog:warm:v2";

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 1, 9, 0, 0).unwrap()
}

/// The tenant of the test clients' tokens.
const HOME: &str = lms_testkit::auth::TENANT;

async fn seed_course(
    pool: &PgPool,
    title: &str,
    status: &str,
    instructor: Uuid,
    created_at: DateTime<Utc>,
) -> Uuid {
    seed_course_in(pool, HOME, title, status, instructor, created_at).await
}

async fn seed_course_in(
    pool: &PgPool,
    tenant: &str,
    title: &str,
    status: &str,
    instructor: Uuid,
    created_at: DateTime<Utc>,
) -> Uuid {
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO catalog.courses (course_id, title, description, status, capacity, seats_taken,
           access_kind, price_cents, language, instructor_ids, module_count, lesson_count,
           created_at, updated_at, tenant_id)
         VALUES ($1, $2, 'about ' || $2, $3, 30, 3, 'paid', 4900, 'en', ARRAY[$4::uuid], 2, 5, $5, $5,
                 $6)",
    )
    .bind(id)
    .bind(title)
    .bind(status)
    .bind(instructor)
    .bind(created_at)
    .bind(tenant)
    .execute(pool)
    .await
    .expect("seed course");
    id
}

/// A complete Redis card as the catalog projection writes it.
async fn seed_card(server: &QueryServer, id: Uuid, title: &str, created_at: DateTime<Utc>) {
    seed_card_in(server, HOME, id, title, created_at).await
}

async fn seed_card_in(
    server: &QueryServer,
    tenant: &str,
    id: Uuid,
    title: &str,
    created_at: DateTime<Utc>,
) {
    let key = format!("{{p}}:course:{id}");
    let created = created_at.to_rfc3339();
    server
        .redis_cmd(&[
            "HSET",
            &key,
            "title",
            title,
            "description",
            "from redis",
            "status",
            "published",
            "capacity",
            "40",
            "seats_taken",
            "7",
            "access",
            "plan",
            "plan",
            "pro",
            "language",
            "fr",
            "instructor_ids",
            "",
            "module_count",
            "1",
            "lesson_count",
            "1",
            "created_at",
            &created,
            "updated_at",
            &created,
            "tenant",
            tenant,
        ])
        .await;
    server
        .redis_cmd(&[
            "ZADD",
            &format!("{{p}}:courses:published:{tenant}"),
            &created_at.timestamp_micros().to_string(),
            &id.to_string(),
        ])
        .await;
}

#[tokio::test]
async fn get_course_cold_warm_not_found_and_invalid() {
    let db = TestDb::read_models().await;
    let server = QueryServer::start(&db).await;
    let instructor = Uuid::now_v7();
    let id = seed_course(&db.pool, "Rust 101", "published", instructor, t0()).await;
    let mut api = server.courses();

    // Cold: no card in Redis, Postgres answers.
    let course = api
        .get_course(GetCourseRequest {
            course_id: id.to_string(),
            min_position: None,
        })
        .await
        .unwrap()
        .into_inner()
        .course
        .unwrap();
    assert_eq!(course.title, "Rust 101");
    assert_eq!(course.description, "about Rust 101");
    assert_eq!((course.capacity, course.seats_taken), (30, 3));
    assert_eq!(
        (course.access_kind.as_str(), course.price_cents),
        ("paid", 4900)
    );
    assert_eq!(course.instructor_ids, vec![instructor.to_string()]);
    assert_eq!((course.module_count, course.lesson_count), (2, 5));
    assert_eq!(course.created_at, "2026-11-01T09:00:00.000000Z");

    // An incomplete card is not served.
    server
        .redis_cmd(&["HSET", &format!("{{p}}:course:{id}"), "title", "partial"])
        .await;
    let course = api
        .get_course(GetCourseRequest {
            course_id: id.to_string(),
            min_position: None,
        })
        .await
        .unwrap()
        .into_inner()
        .course
        .unwrap();
    assert_eq!(course.title, "Rust 101");

    // Warm: the card (which differs from Postgres) is what is returned.
    seed_card(&server, id, "Rust 101 (cached)", t0()).await;
    let course = api
        .get_course(GetCourseRequest {
            course_id: id.to_string(),
            min_position: None,
        })
        .await
        .unwrap()
        .into_inner()
        .course
        .unwrap();
    assert_eq!(course.title, "Rust 101 (cached)");
    assert_eq!((course.capacity, course.seats_taken), (40, 7));
    assert_eq!(
        (course.access_kind.as_str(), course.plan.as_str()),
        ("plan", "pro")
    );
    assert!(course.instructor_ids.is_empty());

    let missing = api
        .get_course(GetCourseRequest {
            course_id: Uuid::now_v7().to_string(),
            min_position: None,
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
    assert_eq!(
        missing
            .get_details_error_info()
            .map(|i| i.reason)
            .as_deref(),
        Some("COURSE_NOT_FOUND")
    );

    let invalid = api
        .get_course(GetCourseRequest {
            course_id: "nope".into(),
            min_position: Some(MinPosition {
                aggregate_id: String::new(),
                sequence: 1,
            }),
        })
        .await
        .unwrap_err();
    assert_eq!(invalid.code(), Code::InvalidArgument);
    assert_eq!(
        violated_fields(&invalid),
        vec!["course_id", "min_position.aggregate_id"]
    );

    server.stop().await;
    db.drop_database().await;
}

/// Walks every page of a ListCourses request; returns the titles in order.
async fn walk_courses(server: &QueryServer, mut request: ListCoursesRequest) -> Vec<String> {
    let mut api = server.courses();
    let mut titles = Vec::new();
    for _ in 0..100 {
        let page = api
            .list_courses(request.clone())
            .await
            .unwrap()
            .into_inner();
        assert!(page.courses.len() <= request.page_size as usize);
        titles.extend(page.courses.into_iter().map(|c| c.title));
        if page.next_page_token.is_empty() {
            return titles;
        }
        request.page_token = page.next_page_token;
    }
    panic!("pagination did not end");
}

#[tokio::test]
async fn list_courses_paginates_postgres_with_filters() {
    let db = TestDb::read_models().await;
    let server = QueryServer::start(&db).await;
    let alice = Uuid::now_v7();
    let bob = Uuid::now_v7();
    // 23 published courses, several sharing a created_at (ties on the key),
    // plus drafts and another instructor's.
    let mut expected = Vec::new();
    for i in 0..23 {
        let at = t0() + Duration::minutes(i / 3);
        let title = format!("published {i:02}");
        let id = seed_course(&db.pool, &title, "published", alice, at).await;
        expected.push((at, id, title));
    }
    for i in 0..4 {
        seed_course(&db.pool, &format!("draft {i}"), "draft", alice, t0()).await;
    }
    seed_course(&db.pool, "Bob's 100%_course", "published", bob, t0()).await;
    expected.sort_by_key(|e| std::cmp::Reverse((e.0, e.1)));
    let expected: Vec<String> = expected.into_iter().map(|(_, _, t)| t).collect();

    let all_alice_published = walk_courses(
        &server,
        ListCoursesRequest {
            status: "published".into(),
            instructor_id: alice.to_string(),
            page_size: 5,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(
        all_alice_published, expected,
        "no duplicates, no gaps, newest first"
    );

    let everything = walk_courses(
        &server,
        ListCoursesRequest {
            page_size: 7,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(everything.len(), 28);
    assert_eq!(everything.iter().collect::<HashSet<_>>().len(), 28);

    let drafts = walk_courses(
        &server,
        ListCoursesRequest {
            status: "draft".into(),
            page_size: 100,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(drafts.len(), 4);

    // Title search is a literal, case-insensitive substring.
    let found = walk_courses(
        &server,
        ListCoursesRequest {
            title_contains: "100%_C".into(),
            page_size: 10,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(found, vec!["Bob's 100%_course"]);
    let none = walk_courses(
        &server,
        ListCoursesRequest {
            title_contains: "1_0".into(),
            page_size: 10,
            ..Default::default()
        },
    )
    .await;
    assert!(none.is_empty());

    let mut api = server.courses();
    let invalid = api
        .list_courses(ListCoursesRequest {
            status: "open".into(),
            instructor_id: "x".into(),
            page_size: 101,
            page_token: "garbage".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(invalid.code(), Code::InvalidArgument);
    assert_eq!(
        violated_fields(&invalid),
        vec!["status", "instructor_id", "page_size", "page_token"]
    );
    // A search longer than any title cannot match: refused, not scanned.
    for search in ["t".repeat(100 * 1024), "nul\u{0}".into()] {
        let invalid = api
            .list_courses(ListCoursesRequest {
                title_contains: search,
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(invalid.code(), Code::InvalidArgument);
        assert_eq!(violated_fields(&invalid), vec!["title_contains"]);
    }
    // The trigram index serves the substring search.
    let index: Option<String> = sqlx::query_scalar(
        "SELECT indexdef FROM pg_indexes WHERE schemaname = 'catalog' AND indexname = 'courses_title_trgm'",
    )
    .fetch_optional(&db.pool)
    .await
    .unwrap();
    assert!(index.is_some_and(|d| d.contains("gin_trgm_ops")));

    server.stop().await;
    db.drop_database().await;
}

#[tokio::test]
async fn list_courses_uses_redis_only_when_warm() {
    let db = TestDb::read_models().await;
    let server = QueryServer::start(&db).await;
    let instructor = Uuid::now_v7();
    let mut expected = Vec::new();
    for i in 0..11 {
        let at = t0() + Duration::minutes(i / 2);
        let id = seed_course(&db.pool, &format!("pg {i:02}"), "published", instructor, at).await;
        seed_card(&server, id, &format!("redis {i:02}"), at).await;
        expected.push((at, id, format!("redis {i:02}")));
    }
    expected.sort_by_key(|e| std::cmp::Reverse((e.0, e.1)));
    let expected: Vec<String> = expected.into_iter().map(|(_, _, t)| t).collect();
    let published = ListCoursesRequest {
        status: "published".into(),
        page_size: 3,
        ..Default::default()
    };

    // Not warm yet: Postgres answers.
    let cold = walk_courses(&server, published.clone()).await;
    assert!(cold.iter().all(|t| t.starts_with("pg ")), "{cold:?}");
    assert_eq!(cold.len(), 11);

    server.redis_cmd(&["SET", WARM, "1"]).await;
    let warm = walk_courses(&server, published.clone()).await;
    assert_eq!(warm, expected, "walked from the sorted set, ties included");

    // Any other filter goes to Postgres even when warm.
    let filtered = walk_courses(
        &server,
        ListCoursesRequest {
            instructor_id: instructor.to_string(),
            ..published.clone()
        },
    )
    .await;
    assert!(filtered.iter().all(|t| t.starts_with("pg ")));
    assert_eq!(filtered.len(), 11);

    server.stop().await;
    db.drop_database().await;
}

#[tokio::test]
async fn a_listing_of_more_ties_than_one_read_holds_is_walked_exactly_from_redis() {
    let db = TestDb::read_models().await;
    let server = QueryServer::start(&db).await;
    let instructor = Uuid::now_v7();
    // 20 courses created in the same microsecond: the one-round-trip page
    // reads a few entries past the cursor's ties, then the slower path must
    // take over; each page is still the next 3 in (created_at, id) order.
    let at = t0();
    let mut expected = Vec::new();
    for i in 0..20 {
        let id = seed_course(&db.pool, &format!("pg {i:02}"), "published", instructor, at).await;
        seed_card(&server, id, &format!("redis {i:02}"), at).await;
        expected.push((id, format!("redis {i:02}")));
    }
    expected.sort_by_key(|e| std::cmp::Reverse(e.0));
    let expected: Vec<String> = expected.into_iter().map(|(_, t)| t).collect();
    server.redis_cmd(&["SET", WARM, "1"]).await;
    let walked = walk_courses(
        &server,
        ListCoursesRequest {
            status: "published".into(),
            page_size: 3,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(walked, expected);

    server.stop().await;
    db.drop_database().await;
}

#[tokio::test]
async fn roster_dashboard_subscription_and_invoices() {
    let db = TestDb::read_models().await;
    let server = QueryServer::start(&db).await;
    let course = seed_course(&db.pool, "Rust 101", "published", Uuid::now_v7(), t0()).await;
    let student = Uuid::now_v7();
    let other_student = Uuid::now_v7();
    for (i, s) in [student, other_student].iter().enumerate() {
        sqlx::query(
            "INSERT INTO roster.enrollments (enrollment_id, course_id, student_id, status,
               lessons_completed, enrolled_at, completed_at, updated_at, tenant_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $6, 'default')",
        )
        .bind(Uuid::now_v7())
        .bind(course)
        .bind(s)
        .bind(if i == 0 { "completed" } else { "active" })
        .bind(if i == 0 { 5 } else { 1 })
        .bind(t0() + Duration::hours(i as i64))
        .bind((i == 0).then(|| t0() + Duration::days(3)))
        .execute(&db.pool)
        .await
        .unwrap();
    }
    let roster = server
        .courses()
        .get_roster(GetRosterRequest {
            course_id: course.to_string(),
            min_position: None,
        })
        .await
        .unwrap()
        .into_inner()
        .enrollments;
    assert_eq!(roster.len(), 2);
    assert_eq!(roster[0].student_id, student.to_string());
    assert_eq!(roster[0].status, "completed");
    assert_eq!(roster[0].completed_at, "2026-11-04T09:00:00.000000Z");
    assert_eq!(roster[1].completed_at, "");

    sqlx::query(
        "INSERT INTO dashboard.student_courses (student_id, course_id, enrollment_id, status,
           lessons_completed, lessons_total, course_title, updated_at, tenant_id)
         VALUES ($1, $2, $3, 'active', 2, 5, 'Rust 101', now(), 'default')",
    )
    .bind(student)
    .bind(course)
    .bind(Uuid::now_v7())
    .execute(&db.pool)
    .await
    .unwrap();
    let dashboard = server
        .students()
        .get_student_dashboard(GetStudentDashboardRequest {
            student_id: student.to_string(),
            min_position: None,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(dashboard.courses.len(), 1);
    assert_eq!(dashboard.courses[0].course_title, "Rust 101");
    assert_eq!(
        (
            dashboard.courses[0].lessons_completed,
            dashboard.courses[0].lessons_total
        ),
        (2, 5)
    );

    let subscription = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO billing.subscriptions (subscription_id, student_id, plan, status,
           trial_ends_at, current_period_end, updated_at, tenant_id)
         VALUES ($1, $2, 'pro', 'active', NULL, $3, $3, 'default')",
    )
    .bind(subscription)
    .bind(student)
    .bind(t0())
    .execute(&db.pool)
    .await
    .unwrap();
    let mut billing = server.billing();
    let sub = billing
        .get_subscription(GetSubscriptionRequest {
            student_id: student.to_string(),
            min_position: None,
        })
        .await
        .unwrap()
        .into_inner()
        .subscription
        .unwrap();
    assert_eq!((sub.plan.as_str(), sub.status.as_str()), ("pro", "active"));
    assert_eq!(sub.trial_ends_at, "");
    let none = billing
        .get_subscription(GetSubscriptionRequest {
            student_id: other_student.to_string(),
            min_position: None,
        })
        .await
        .unwrap_err();
    assert_eq!(none.code(), Code::NotFound);

    for month in 0..13u32 {
        let start = t0() + Duration::days(30 * i64::from(month));
        sqlx::query(
            "INSERT INTO billing.invoices (invoice_id, subscription_id, student_id, amount_cents,
               currency, period_start, period_end, payment_reference, issued_at, tenant_id)
             VALUES ($1, $2, $3, 1999, 'USD', $4, $5, $6, $4, 'default')",
        )
        .bind(Uuid::now_v7())
        .bind(subscription)
        .bind(student)
        .bind(start)
        .bind(start + Duration::days(30))
        .bind(format!("ref-{month:02}"))
        .execute(&db.pool)
        .await
        .unwrap();
    }
    let mut request = ListInvoicesRequest {
        student_id: student.to_string(),
        page_size: 4,
        ..Default::default()
    };
    let mut refs = Vec::new();
    loop {
        let page = billing
            .list_invoices(request.clone())
            .await
            .unwrap()
            .into_inner();
        assert!(page.invoices.len() <= 4);
        refs.extend(page.invoices.into_iter().map(|i| i.payment_reference));
        if page.next_page_token.is_empty() {
            break;
        }
        request.page_token = page.next_page_token;
    }
    let expected: Vec<String> = (0..13).rev().map(|m| format!("ref-{m:02}")).collect();
    assert_eq!(refs, expected);

    let invalid = billing
        .list_invoices(ListInvoicesRequest {
            student_id: String::new(),
            page_size: 500,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(invalid.code(), Code::InvalidArgument);
    assert_eq!(violated_fields(&invalid), vec!["student_id", "page_size"]);

    server.stop().await;
    db.drop_database().await;
}

#[tokio::test]
async fn min_position_waits_for_the_projection_or_answers_unavailable() {
    let db = TestDb::read_models().await;
    let config = Config {
        read_your_writes_timeout_ms: 1500,
        ..Config::default()
    };
    let server = QueryServer::start_with(&db, config).await;
    let student = Uuid::now_v7();
    let aggregate = Uuid::now_v7().to_string();
    set_applied(
        &db.pool,
        "dashboard",
        "student-dashboard",
        "Enrollment",
        &aggregate,
        2,
    )
    .await;

    // Already applied: answers at once.
    let mut students = server.students();
    let request = |sequence| GetStudentDashboardRequest {
        student_id: student.to_string(),
        min_position: Some(MinPosition {
            aggregate_id: aggregate.clone(),
            sequence,
        }),
    };
    students.get_student_dashboard(request(2)).await.unwrap();

    // Ahead: waits until a "projection" catches up within the timeout.
    let pool = db.pool.clone();
    let bump_id = aggregate.clone();
    let bump = tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        set_applied(
            &pool,
            "dashboard",
            "student-dashboard",
            "Enrollment",
            &bump_id,
            3,
        )
        .await;
    });
    let started = std::time::Instant::now();
    students.get_student_dashboard(request(3)).await.unwrap();
    let waited = started.elapsed();
    assert!(
        waited >= std::time::Duration::from_millis(250),
        "{waited:?}"
    );
    assert!(
        waited < std::time::Duration::from_millis(1500),
        "{waited:?}"
    );
    bump.await.unwrap();

    // Another projection's progress does not count.
    set_applied(&db.pool, "billing", "billing", "Enrollment", &aggregate, 9).await;
    let started = std::time::Instant::now();
    let status = students
        .get_student_dashboard(request(4))
        .await
        .unwrap_err();
    assert!(started.elapsed() >= std::time::Duration::from_millis(1400));
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert_eq!(
        status.get_details_error_info().map(|i| i.reason).as_deref(),
        Some("READ_MODEL_BEHIND")
    );
    let retry = status.get_details_retry_info().expect("RetryInfo");
    assert!(retry.retry_delay.is_some());

    // Unknown aggregate: same answer; the billing query sees its own projection.
    let billing = server
        .billing()
        .list_invoices(ListInvoicesRequest {
            student_id: student.to_string(),
            min_position: Some(MinPosition {
                aggregate_id: aggregate.clone(),
                sequence: 9,
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(billing.invoices.is_empty());

    server.stop().await;
    db.drop_database().await;
}

#[tokio::test]
async fn metrics_count_queries_by_rpc_and_outcome() {
    let db = TestDb::read_models().await;
    let server = QueryServer::start(&db).await;
    let _ = server
        .courses()
        .get_course(GetCourseRequest {
            course_id: Uuid::now_v7().to_string(),
            min_position: None,
        })
        .await;
    let body = http_get(server.metrics_addr, "/metrics").await;
    assert!(
        body.contains("lms_queries_total{rpc=\"GetCourse\",outcome=\"not_found\"}"),
        "{body}"
    );
    assert!(body.contains("lms_query_duration_seconds_bucket"), "{body}");
    server.stop().await;
    db.drop_database().await;
}

async fn http_get(addr: std::net::SocketAddr, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut body = String::new();
    stream.read_to_string(&mut body).await.unwrap();
    body
}

/// Sets `applied.last_sequence` of one aggregate as a projection would.
pub async fn set_applied(
    pool: &PgPool,
    schema: &str,
    projection: &str,
    aggregate_type: &str,
    aggregate_id: &str,
    sequence: i64,
) {
    sqlx::query(&format!(
        "INSERT INTO {schema}.applied (projection, aggregate_type, aggregate_id, last_sequence)
         VALUES ($1, $2, $3, $4)
         ON CONFLICT (projection, aggregate_type, aggregate_id)
         DO UPDATE SET last_sequence = EXCLUDED.last_sequence, updated_at = now()"
    ))
    .bind(projection)
    .bind(aggregate_type)
    .bind(aggregate_id)
    .bind(sequence)
    .execute(pool)
    .await
    .expect("set applied");
}

fn as_user(user: Uuid, role: &str) -> Bearer {
    Bearer::new(&lms_testkit::auth::token(user, &[role]))
}

#[tokio::test]
async fn every_read_is_authorized_by_the_token() {
    let db = TestDb::read_models().await;
    let server = QueryServer::start(&db).await;
    let teacher = Uuid::now_v7();
    let other_teacher = Uuid::now_v7();
    let student = Uuid::now_v7();
    let other_student = Uuid::now_v7();
    let published = seed_course(&db.pool, "Open", "published", teacher, t0()).await;
    let draft = seed_course(&db.pool, "Secret draft", "draft", teacher, t0()).await;

    // No token, or the old identity headers: nobody.
    let mut anonymous =
        lms_proto::query::v1::course_queries_client::CourseQueriesClient::new(server.channel());
    let mut request = tonic::Request::new(GetCourseRequest {
        course_id: published.to_string(),
        min_position: None,
    });
    request
        .metadata_mut()
        .insert("x-actor-role", "admin".parse().unwrap());
    let status = anonymous.get_course(request).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);

    // A student reads published courses, not drafts (which do not exist for them).
    let mut courses = server.courses_as(as_user(student, "student"));
    courses
        .get_course(GetCourseRequest {
            course_id: published.to_string(),
            min_position: None,
        })
        .await
        .unwrap();
    let status = courses
        .get_course(GetCourseRequest {
            course_id: draft.to_string(),
            min_position: None,
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    // Nor its outline: visible exactly when the course is.
    let status = courses
        .get_course_outline(GetCourseRequest {
            course_id: draft.to_string(),
            min_position: None,
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    let listed = courses
        .list_courses(ListCoursesRequest::default())
        .await
        .unwrap()
        .into_inner()
        .courses;
    assert_eq!(listed.len(), 1, "only the published course");
    let status = courses
        .list_courses(ListCoursesRequest {
            status: "draft".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_refused(&status, Code::PermissionDenied, "PUBLISHED_ONLY");

    // Its teacher sees the draft and lists their own courses in any status.
    let mut own = server.courses_as(as_user(teacher, "instructor"));
    own.get_course(GetCourseRequest {
        course_id: draft.to_string(),
        min_position: None,
    })
    .await
    .unwrap();
    // Its outline: modules in the order added, lessons in order within each.
    let (basics, advanced) = (Uuid::now_v7(), Uuid::now_v7());
    for (module, title, position) in [(advanced, "Advanced", 1), (basics, "Basics", 0)] {
        sqlx::query(
            "INSERT INTO catalog.modules (module_id, course_id, title, position, created_at)
             VALUES ($1, $2, $3, $4, now())",
        )
        .bind(module)
        .bind(draft)
        .bind(title)
        .bind(position)
        .execute(&db.pool)
        .await
        .unwrap();
    }
    for (module, module_title, title, position) in [
        (basics, "Basics", "Second", 1),
        (advanced, "Advanced", "Third", 0),
        (basics, "Basics", "First", 0),
    ] {
        sqlx::query(
            "INSERT INTO catalog.lessons (lesson_id, course_id, module_id, module_title, title, position)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(Uuid::now_v7())
        .bind(draft)
        .bind(module)
        .bind(module_title)
        .bind(title)
        .bind(position)
        .execute(&db.pool)
        .await
        .unwrap();
    }
    let outline = own
        .get_course_outline(GetCourseRequest {
            course_id: draft.to_string(),
            min_position: None,
        })
        .await
        .unwrap()
        .into_inner();
    let shape: Vec<(String, Vec<String>)> = outline
        .modules
        .into_iter()
        .map(|m| (m.title, m.lessons.into_iter().map(|l| l.title).collect()))
        .collect();
    assert_eq!(
        shape,
        [
            (
                "Basics".to_string(),
                vec!["First".to_string(), "Second".to_string()]
            ),
            ("Advanced".to_string(), vec!["Third".to_string()]),
        ]
    );
    let mine = own
        .list_courses(ListCoursesRequest {
            instructor_id: teacher.to_string(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .courses;
    assert_eq!(mine.len(), 2);

    // A roster belongs to the course's instructors (and admins).
    let roster = |course: Uuid| GetRosterRequest {
        course_id: course.to_string(),
        min_position: None,
    };
    own.get_roster(roster(published)).await.unwrap();
    let status = server
        .courses_as(as_user(other_teacher, "instructor"))
        .get_roster(roster(published))
        .await
        .unwrap_err();
    assert_refused(&status, Code::PermissionDenied, "NOT_COURSE_INSTRUCTOR");
    let status = courses.get_roster(roster(published)).await.unwrap_err();
    assert_refused(&status, Code::PermissionDenied, "NOT_COURSE_INSTRUCTOR");
    server
        .courses()
        .get_roster(roster(published))
        .await
        .unwrap();

    // A student's dashboard, subscription and invoices are theirs.
    let mut students = server.students_as(as_user(student, "student"));
    students
        .get_student_dashboard(GetStudentDashboardRequest {
            student_id: student.to_string(),
            min_position: None,
        })
        .await
        .unwrap();
    let status = students
        .get_student_dashboard(GetStudentDashboardRequest {
            student_id: other_student.to_string(),
            min_position: None,
        })
        .await
        .unwrap_err();
    assert_refused(&status, Code::PermissionDenied, "NOT_YOUR_DATA");
    let mut billing = server.billing_as(as_user(student, "student"));
    let status = billing
        .get_subscription(GetSubscriptionRequest {
            student_id: other_student.to_string(),
            min_position: None,
        })
        .await
        .unwrap_err();
    assert_refused(&status, Code::PermissionDenied, "NOT_YOUR_DATA");
    let status = billing
        .list_invoices(ListInvoicesRequest {
            student_id: other_student.to_string(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_refused(&status, Code::PermissionDenied, "NOT_YOUR_DATA");
    // An admin reads anyone's.
    server
        .students()
        .get_student_dashboard(GetStudentDashboardRequest {
            student_id: other_student.to_string(),
            min_position: None,
        })
        .await
        .unwrap();
    server.stop().await;
    db.drop_database().await;
}

/// A token of `user` with `role` in `tenant`.
fn in_tenant(tenant: &str, user: Uuid, role: &str) -> Bearer {
    Bearer::new(&lms_testkit::auth::token_in(tenant, user, &[role]))
}

#[tokio::test]
async fn another_tenants_rows_do_not_exist_for_a_viewer_whatever_their_role() {
    const OTHER: &str = "globex";
    let db = TestDb::read_models().await;
    let server = QueryServer::start(&db).await;
    let teacher = Uuid::now_v7();
    let student = Uuid::now_v7();
    // Tenant globex: a published course (row and card), its roster, a
    // student's dashboard row, subscription and invoice.
    let course = seed_course_in(&db.pool, OTHER, "Theirs", "published", teacher, t0()).await;
    seed_card_in(&server, OTHER, course, "Theirs (cached)", t0()).await;
    let home = seed_course(&db.pool, "Ours", "published", teacher, t0()).await;
    seed_card(&server, home, "Ours (cached)", t0()).await;
    let subscription = Uuid::now_v7();
    for statement in [
        "INSERT INTO roster.enrollments (enrollment_id, course_id, student_id, enrolled_at,
           updated_at, tenant_id) VALUES (gen_random_uuid(), $1, $2, $3, $3, $4)",
        "INSERT INTO dashboard.student_courses (student_id, course_id, enrollment_id,
           course_title, updated_at, tenant_id)
         VALUES ($2, $1, gen_random_uuid(), 'Theirs', $3, $4)",
        "INSERT INTO billing.subscriptions (subscription_id, student_id, plan, status,
           updated_at, tenant_id) VALUES ($5, $2, 'pro', 'active', $3, $4)",
        "INSERT INTO billing.invoices (invoice_id, subscription_id, student_id, amount_cents,
           currency, period_start, period_end, issued_at, tenant_id)
         VALUES (gen_random_uuid(), $5, $2, 1999, 'USD', $3, $3, $3, $4)",
    ] {
        sqlx::query(statement)
            .bind(course)
            .bind(student)
            .bind(t0())
            .bind(OTHER)
            .bind(subscription)
            .execute(&db.pool)
            .await
            .unwrap();
    }

    // What globex's own admin reads, cold (Postgres) and warm (Redis) alike.
    let theirs = in_tenant(OTHER, Uuid::now_v7(), "admin");
    let titles = |courses: Vec<lms_proto::query::v1::Course>| -> Vec<String> {
        courses.into_iter().map(|c| c.title).collect()
    };
    // The published listing: the one Redis serves when warm.
    let listing = ListCoursesRequest {
        status: "published".into(),
        ..Default::default()
    };
    let get = GetCourseRequest {
        course_id: course.to_string(),
        min_position: None,
    };
    for warm in [false, true] {
        if warm {
            server.redis_cmd(&["SET", WARM, "1"]).await;
        }
        let mut own = server.courses_as(theirs.clone());
        let listed = own
            .list_courses(listing.clone())
            .await
            .unwrap()
            .into_inner();
        let expected = if warm { "Theirs (cached)" } else { "Theirs" };
        assert_eq!(titles(listed.courses), [expected], "warm: {warm}");
        own.get_course(get.clone()).await.unwrap();

        // Tenant default's admin and the course's own teacher id with a
        // default-tenant token: not there.
        for viewer in [Bearer::admin(), as_user(teacher, "instructor")] {
            let mut courses = server.courses_as(viewer);
            let status = courses.get_course(get.clone()).await.unwrap_err();
            assert_eq!(status.code(), Code::NotFound, "warm: {warm}");
            let listed = courses.list_courses(listing.clone()).await.unwrap();
            let expected = if warm { "Ours (cached)" } else { "Ours" };
            assert_eq!(titles(listed.into_inner().courses), [expected]);
            let status = courses
                .get_roster(GetRosterRequest {
                    course_id: course.to_string(),
                    min_position: None,
                })
                .await
                .unwrap_err();
            assert_eq!(status.code(), Code::NotFound, "roster, warm: {warm}");
        }
    }
    assert_eq!(
        server
            .courses_as(theirs.clone())
            .get_roster(GetRosterRequest {
                course_id: course.to_string(),
                min_position: None,
            })
            .await
            .unwrap()
            .into_inner()
            .enrollments
            .len(),
        1
    );

    // The student's rows: globex's admin (and the student in globex) read
    // them; an admin of default and the same user id in default do not.
    let dashboard = GetStudentDashboardRequest {
        student_id: student.to_string(),
        min_position: None,
    };
    let subscription_of = GetSubscriptionRequest {
        student_id: student.to_string(),
        min_position: None,
    };
    let invoices = ListInvoicesRequest {
        student_id: student.to_string(),
        ..Default::default()
    };
    for (viewer, home_tenant) in [
        (theirs.clone(), true),
        (in_tenant(OTHER, student, "student"), true),
        (Bearer::admin(), false),
        (as_user(student, "student"), false),
    ] {
        let rows = server
            .students_as(viewer.clone())
            .get_student_dashboard(dashboard.clone())
            .await
            .unwrap()
            .into_inner()
            .courses;
        assert_eq!(rows.len(), usize::from(home_tenant));
        let mut billing = server.billing_as(viewer);
        let found = billing.get_subscription(subscription_of.clone()).await;
        match home_tenant {
            true => assert!(found.is_ok()),
            false => assert_eq!(found.unwrap_err().code(), Code::NotFound),
        }
        let listed = billing.list_invoices(invoices.clone()).await.unwrap();
        assert_eq!(listed.into_inner().invoices.len(), usize::from(home_tenant));
    }

    server.stop().await;
    db.drop_database().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_thousand_slow_calls_at_once_are_shed_with_resource_exhausted_and_the_server_stays_up() {
    let db = TestDb::read_models().await;
    let config = Config {
        read_your_writes_timeout_ms: 1500,
        grpc_max_concurrent_requests: 16,
        ..Config::default()
    };
    let server = QueryServer::start_with(&db, config).await;
    let student = Uuid::now_v7();
    let aggregate = Uuid::now_v7().to_string();
    set_applied(
        &db.pool,
        "dashboard",
        "student-dashboard",
        "Enrollment",
        &aggregate,
        1,
    )
    .await;
    let request = |sequence| GetStudentDashboardRequest {
        student_id: student.to_string(),
        min_position: Some(MinPosition {
            aggregate_id: aggregate.clone(),
            sequence,
        }),
    };
    // Slow: each waits the whole read-your-writes timeout for sequence 2.
    let calls = (0..1_000).map(|_| {
        let mut students = server.students();
        let request = request(2);
        async move { students.get_student_dashboard(request).await }
    });
    let results = futures::future::join_all(calls).await;
    let mut codes: std::collections::BTreeMap<String, usize> = Default::default();
    for result in &results {
        let code = match result {
            Ok(_) => "OK".to_string(),
            Err(status) => format!("{:?}", status.code()),
        };
        *codes.entry(code).or_default() += 1;
    }
    let shed = codes.get("ResourceExhausted").copied().unwrap_or(0);
    let waited = codes.get("Unavailable").copied().unwrap_or(0);
    assert_eq!(shed + waited, 1_000, "{codes:?}");
    assert!(shed >= 900, "{codes:?}");
    assert!(waited >= 16, "{codes:?}");
    let busy = results
        .iter()
        .find_map(|r| {
            r.as_ref()
                .err()
                .filter(|s| s.code() == Code::ResourceExhausted)
        })
        .expect("a shed call");
    assert_eq!(busy.message(), "server busy; retry later");

    // Still up: a call that needs no wait is served.
    server
        .students()
        .get_student_dashboard(request(1))
        .await
        .expect("served after the burst");
    server.stop().await;
    db.drop_database().await;
}

#[tokio::test]
async fn a_call_longer_than_the_request_timeout_is_cancelled() {
    let db = TestDb::read_models().await;
    let config = Config {
        read_your_writes_timeout_ms: 10_000,
        grpc_request_timeout_ms: 300,
        ..Config::default()
    };
    let server = QueryServer::start_with(&db, config).await;
    let started = std::time::Instant::now();
    let status = server
        .students()
        .get_student_dashboard(GetStudentDashboardRequest {
            student_id: Uuid::now_v7().to_string(),
            min_position: Some(MinPosition {
                aggregate_id: Uuid::now_v7().to_string(),
                sequence: 1,
            }),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Cancelled, "{status:?}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    server.stop().await;
    db.drop_database().await;
}

#[tokio::test]
async fn every_connection_of_the_service_has_its_statement_timeout() {
    let db = TestDb::read_models().await;
    let config = Config {
        database_url: db.secret_url(),
        db_statement_timeout_ms: 200,
        ..Config::default()
    };
    let pool = lms_runtime::database::connect_with(
        lms_runtime::database::service_options(
            &config.database_url,
            config.db_statement_timeout_ms,
        )
        .unwrap(),
        2,
    )
    .await
    .unwrap();
    let shown: String = sqlx::query_scalar("SHOW statement_timeout")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(shown, "200ms");
    let error = sqlx::query("SELECT pg_sleep(2)")
        .execute(&pool)
        .await
        .unwrap_err();
    let code = error
        .as_database_error()
        .and_then(|e| e.code())
        .map(|c| c.to_string());
    assert_eq!(code.as_deref(), Some("57014"), "{error}");
    pool.close().await;
    db.drop_database().await;
}
