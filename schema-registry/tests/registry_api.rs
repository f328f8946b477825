//! The Confluent REST API through HTTP against a real Postgres: ids and
//! versions, compatibility levels, lookups, error codes, concurrency.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use lms_testkit::registry::{Registry, ADMIN_USER, CONTENT_TYPE};
use lms_testkit::TestDb;
use reqwest::StatusCode;
use serde_json::{json, Value};

fn v1() -> Value {
    record("Learner", json!([{"name": "id", "type": "string"}]))
}

/// v1 plus a field with a default: backward compatible with v1.
fn v2() -> Value {
    record(
        "Learner",
        json!([
            {"name": "id", "type": "string"},
            {"name": "score", "type": "long", "default": 0}
        ]),
    )
}

/// `score` without default: reads v2 data, not v1 data.
fn v3_no_default() -> Value {
    record(
        "Learner",
        json!([
            {"name": "id", "type": "string"},
            {"name": "score", "type": "long"}
        ]),
    )
}

async fn setup() -> (TestDb, Registry) {
    let db = TestDb::registry().await;
    let registry = Registry::start(&db.pool).await;
    (db, registry)
}

async fn teardown(db: TestDb, registry: Registry) {
    registry.stop().await;
    db.drop_database().await;
}

#[tokio::test]
async fn same_schema_twice_gets_the_same_id_and_one_version() {
    let (db, sr) = setup().await;
    let id = sr.register_ok("learners-value", &v1()).await;
    // same schema, different whitespace and key order
    let reordered = r#"{ "fields": [ {"type": "string", "name": "id"} ], "namespace": "lms.test", "name": "Learner", "type": "record" }"#;
    let (status, body) = sr
        .post(
            "/subjects/learners-value/versions",
            json!({"schema": reordered, "schemaType": "AVRO", "references": []}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"id": id}));
    assert_eq!(sr.versions("learners-value").await, vec![1]);

    let (status, body) = sr.get(&format!("/schemas/ids/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.get("schemaType").is_none(), "AVRO is implied: {body}");
    let schema: Value = serde_json::from_str(body["schema"].as_str().expect("schema string"))
        .expect("schema is JSON");
    assert_eq!(schema, v1());
    teardown(db, sr).await;
}

#[tokio::test]
async fn ids_are_global_across_subjects_and_keep_defaults_apart() {
    let (db, sr) = setup().await;
    let id = sr.register_ok("a-value", &v1()).await;
    assert_eq!(sr.register_ok("b-value", &v1()).await, id);
    // a different default is a different schema
    let other = record(
        "Learner",
        json!([{"name": "id", "type": "string", "default": "x"}]),
    );
    assert_ne!(sr.register_ok("c-value", &other).await, id);

    let (_, subjects) = sr.get("/subjects").await;
    assert_eq!(subjects, json!(["a-value", "b-value", "c-value"]));
    let (_, usages) = sr.get(&format!("/schemas/ids/{id}/versions")).await;
    assert_eq!(
        usages,
        json!([{"subject": "a-value", "version": 1}, {"subject": "b-value", "version": 1}])
    );
    teardown(db, sr).await;
}

#[tokio::test]
async fn compatible_evolution_becomes_version_two() {
    let (db, sr) = setup().await;
    let id1 = sr.register_ok("s-value", &v1()).await;
    let id2 = sr.register_ok("s-value", &v2()).await;
    assert_ne!(id1, id2);
    assert_eq!(sr.versions("s-value").await, vec![1, 2]);

    let (status, latest) = sr.get("/subjects/s-value/versions/latest").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(latest["version"], json!(2));
    assert_eq!(latest["id"], json!(id2));
    assert_eq!(latest["subject"], json!("s-value"));
    let (_, first) = sr.get("/subjects/s-value/versions/1").await;
    assert_eq!(first["id"], json!(id1));
    teardown(db, sr).await;
}

#[tokio::test]
async fn breaking_changes_are_refused_under_the_default_level_and_accepted_under_none() {
    let (db, sr) = setup().await;
    let (_, config) = sr.get("/config").await;
    assert_eq!(config, json!({"compatibilityLevel": "BACKWARD_TRANSITIVE"}));

    sr.register_ok("s-value", &v1()).await;
    let new_field_without_default = v3_no_default();
    let (status, body) = sr.register("s-value", &new_field_without_default).await;
    assert_error(status, &body, 409, 40901);
    let changed_type = record("Learner", json!([{"name": "id", "type": "long"}]));
    let (status, body) = sr.register("s-value", &changed_type).await;
    assert_error(status, &body, 409, 40901);
    assert_eq!(sr.versions("s-value").await, vec![1], "nothing registered");

    let (status, body) = sr
        .put("/config/s-value", json!({"compatibility": "NONE"}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"compatibility": "NONE"}));
    sr.register_ok("s-value", &new_field_without_default).await;
    sr.register_ok("s-value", &changed_type).await;
    assert_eq!(sr.versions("s-value").await, vec![1, 2, 3]);
    teardown(db, sr).await;
}

#[tokio::test]
async fn transitive_level_checks_every_version_backward_only_the_latest() {
    let (db, sr) = setup().await;
    for subject in ["transitive-value", "backward-value"] {
        sr.register_ok(subject, &v1()).await;
        sr.register_ok(subject, &v2()).await;
    }
    let (status, _) = sr
        .put(
            "/config/backward-value",
            json!({"compatibility": "BACKWARD"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    let (status, body) = sr.register("transitive-value", &v3_no_default()).await;
    assert_error(status, &body, 409, 40901);
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("version 1"),
        "names the version it breaks: {body}"
    );
    sr.register_ok("backward-value", &v3_no_default()).await;
    assert_eq!(sr.versions("backward-value").await, vec![1, 2, 3]);

    // the compatibility endpoint agrees, with reasons when verbose
    let probe = json!({"schema": v3_no_default().to_string()});
    let (status, body) = sr
        .post(
            "/compatibility/subjects/transitive-value/versions?verbose=true",
            probe.clone(),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["is_compatible"], json!(false));
    assert!(!body["messages"].as_array().expect("messages").is_empty());
    let (_, body) = sr
        .post(
            "/compatibility/subjects/transitive-value/versions/latest",
            probe.clone(),
        )
        .await;
    assert_eq!(body, json!({"is_compatible": true}), "v2 alone is fine");
    let (_, body) = sr
        .post("/compatibility/subjects/transitive-value/versions/1", probe)
        .await;
    assert_eq!(body, json!({"is_compatible": false}));
    teardown(db, sr).await;
}

#[tokio::test]
async fn subject_level_overrides_global_and_falls_back_to_it() {
    let (db, sr) = setup().await;
    let (status, body) = sr.put("/config", json!({"compatibility": "full"})).await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, json!({"compatibility": "FULL"}))
    );
    sr.put("/config/loose-value", json!({"compatibilityLevel": "NONE"}))
        .await;

    let (_, body) = sr.get("/config/loose-value").await;
    assert_eq!(body, json!({"compatibilityLevel": "NONE"}));
    let (_, body) = sr.get("/config/other-value").await;
    assert_eq!(body, json!({"compatibilityLevel": "FULL"}));
    let (_, body) = sr.get("/config/other-value?defaultToGlobal=true").await;
    assert_eq!(body, json!({"compatibilityLevel": "FULL"}));
    let (status, body) = sr.get("/config/other-value?defaultToGlobal=false").await;
    assert_error(status, &body, 404, 40408);

    // FULL refuses v3 after v1 (it cannot read v1 data); NONE lets it in
    for subject in ["loose-value", "other-value"] {
        sr.register_ok(subject, &v1()).await;
    }
    sr.register_ok("loose-value", &v3_no_default()).await;
    let (status, body) = sr.register("other-value", &v3_no_default()).await;
    assert_error(status, &body, 409, 40901);

    let (_, body) = sr.call("DELETE", "/config/loose-value", None).await;
    assert_eq!(body, json!({"compatibility": "NONE"}));
    let (_, body) = sr.get("/config/loose-value").await;
    assert_eq!(body, json!({"compatibilityLevel": "FULL"}));
    let (_, body) = sr.call("DELETE", "/config", None).await;
    assert_eq!(body, json!({"compatibility": "FULL"}));
    let (_, body) = sr.get("/config").await;
    assert_eq!(body, json!({"compatibilityLevel": "BACKWARD_TRANSITIVE"}));
    teardown(db, sr).await;
}

#[tokio::test]
async fn lookup_finds_the_version_or_says_which_part_is_missing() {
    let (db, sr) = setup().await;
    let id = sr.register_ok("s-value", &v1()).await;
    sr.register_ok("s-value", &v2()).await;

    let (status, body) = sr
        .post("/subjects/s-value", json!({"schema": v1().to_string()}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["subject"], json!("s-value"));
    assert_eq!(body["id"], json!(id));
    assert_eq!(body["version"], json!(1));
    assert!(body["schema"].is_string());

    let unknown = record("Other", json!([{"name": "x", "type": "int"}]));
    let (status, body) = sr
        .post("/subjects/s-value", json!({"schema": unknown.to_string()}))
        .await;
    assert_error(status, &body, 404, 40403);
    let (status, body) = sr
        .post(
            "/subjects/nobody-value",
            json!({"schema": v1().to_string()}),
        )
        .await;
    assert_error(status, &body, 404, 40401);
    teardown(db, sr).await;
}

#[tokio::test]
async fn not_found_and_invalid_inputs_answer_confluent_error_codes() {
    let (db, sr) = setup().await;
    sr.register_ok("s-value", &v1()).await;

    let (status, body) = sr.get("/subjects/nobody-value/versions").await;
    assert_error(status, &body, 404, 40401);
    let (status, body) = sr.get("/subjects/nobody-value/versions/latest").await;
    assert_error(status, &body, 404, 40401);
    let (status, body) = sr.get("/subjects/s-value/versions/7").await;
    assert_error(status, &body, 404, 40402);
    let (status, body) = sr.get("/schemas/ids/4242").await;
    assert_error(status, &body, 404, 40403);
    let (status, body) = sr.get("/subjects/s-value/versions/zero").await;
    assert_error(status, &body, 422, 42202);

    for bad in [
        r#"{"type": "record", "name": "NoFields"}"#,
        "{not even json",
        r#"{"type": "strin"}"#,
    ] {
        let (status, body) = sr
            .post("/subjects/s-value/versions", json!({"schema": bad}))
            .await;
        assert_error(status, &body, 422, 42201);
    }
    let (status, body) = sr
        .post(
            "/subjects/s-value/versions",
            json!({"schema": "{}", "schemaType": "PROTOBUF"}),
        )
        .await;
    assert_error(status, &body, 422, 42201);

    let (status, body) = sr
        .put("/config", json!({"compatibility": "SIDEWAYS"}))
        .await;
    assert_error(status, &body, 422, 42203);
    let (status, body) = sr
        .put("/config/s-value", json!({"compatibility": "ALMOST"}))
        .await;
    assert_error(status, &body, 422, 42203);

    let (status, body) = sr.get("/no/such/route").await;
    assert_error(status, &body, 404, 404);
    teardown(db, sr).await;
}

#[tokio::test]
async fn associations_lookup_never_fails() {
    let (db, sr) = setup().await;
    for path in [
        "/associations/resources/-/orders",
        "/associations/resources/lkc-123/orders?resourceType=topic&associationType=value&associationType=key",
        "/associations/resources/%2D/a.b-c",
    ] {
        let (status, body) = sr.get(path).await;
        assert!(!status.is_server_error(), "{path}: {status}");
        assert!(
            (status == StatusCode::OK && body == json!([]))
                || body["error_code"] == json!(40410),
            "{path}: {status} {body}"
        );
    }
    teardown(db, sr).await;
}

#[tokio::test]
async fn concurrent_registrations_of_one_schema_make_one_version() {
    let (db, sr) = setup().await;
    let schema = v2();
    let posts = (0..20).map(|_| sr.register("busy-value", &schema));
    let results = futures::future::join_all(posts).await;
    let mut ids = Vec::new();
    for (status, body) in results {
        assert_eq!(status, StatusCode::OK, "{body}");
        ids.push(body["id"].as_i64().expect("id"));
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "one id: {ids:?}");
    assert_eq!(sr.versions("busy-value").await, vec![1]);
    let (count,): (i64,) = sqlx::query_as("SELECT count(*) FROM schema_registry.schemas")
        .fetch_one(&db.pool)
        .await
        .expect("count schemas");
    assert_eq!(count, 1);
    teardown(db, sr).await;
}

#[tokio::test]
async fn delete_subject_hides_it_and_versions_are_not_reused() {
    let (db, sr) = setup().await;
    let id = sr.register_ok("gone-value", &v1()).await;
    let (status, body) = sr.call("DELETE", "/subjects/gone-value", None).await;
    assert_eq!((status, body), (StatusCode::OK, json!([1])));
    let (_, subjects) = sr.get("/subjects").await;
    assert_eq!(subjects, json!([]));
    let (_, subjects) = sr.get("/subjects?deleted=true").await;
    assert_eq!(subjects, json!(["gone-value"]));
    // the id stays readable for old messages
    let (status, _) = sr.get(&format!("/schemas/ids/{id}?deleted=true")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(sr.register_ok("gone-value", &v1()).await, id);
    assert_eq!(sr.versions("gone-value").await, vec![2]);
    teardown(db, sr).await;
}

#[tokio::test]
async fn health_metrics_and_content_type() {
    let (db, sr) = setup().await;
    sr.register_ok("m-value", &v1()).await;
    let response = sr
        .http
        .get(format!("{}/subjects", sr.url))
        .send()
        .await
        .expect("get subjects");
    assert_eq!(
        response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some(CONTENT_TYPE)
    );
    // plain application/json requests are fine too
    let response = sr
        .http
        .post(format!("{}/subjects/m-value", sr.url))
        .header("Content-Type", "application/json")
        .body(json!({"schema": v1().to_string()}).to_string())
        .send()
        .await
        .expect("lookup");
    assert_eq!(response.status(), StatusCode::OK);

    let (status, body) = sr.get("/health").await;
    assert_eq!((status, body), (StatusCode::OK, json!({"status": "ok"})));
    let metrics = sr
        .http
        .get(format!("{}/metrics", sr.url))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text");
    assert!(
        metrics.contains("schema_registry_http_requests_total")
            && metrics.contains(r#"route="/subjects/{subject}/versions""#),
        "{metrics}"
    );
    assert!(metrics.contains("schema_registry_http_request_duration_seconds"));
    teardown(db, sr).await;
}

#[test]
fn print_settings_lists_the_environment_variables() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_lms-schema-registry"))
        .arg("--print-settings")
        .output()
        .expect("run binary");
    assert!(output.status.success());
    let names = String::from_utf8_lossy(&output.stdout);
    for name in [
        "LMS_DATABASE_URL",
        "LMS_HTTP_ADDR",
        "LMS_LOG",
        "LMS_LOG_FORMAT",
        "LMS_DEFAULT_COMPATIBILITY",
    ] {
        assert!(names.lines().any(|l| l == name), "{name} in {names}");
    }
}

/// Our real event schemas: CourseCreated v1 then v2 register as versions 1
/// and 2 of their TopicRecordNameStrategy subject; every broken variant kept in
/// `schemas/avro-broken/` is refused with 409 / 40901.
#[tokio::test]
async fn our_course_created_evolution_registers_and_its_breaking_variants_are_refused() {
    let (db, sr) = setup().await;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas");
    let read = |path: &str| -> Value {
        let text = std::fs::read_to_string(root.join(path)).expect("schema file");
        serde_json::from_str(&text).expect("schema json")
    };
    let subject = "lms.course.v1-lms.course.v1.CourseCreated";
    sr.register_ok(subject, &read("avro/lms.course.v1/CourseCreated.v1.avsc"))
        .await;
    sr.register_ok(subject, &read("avro/lms.course.v1/CourseCreated.v2.avsc"))
        .await;
    for broken in [
        "avro-broken/lms.course.v1/CourseCreated.capacity-type-change.avsc",
        "avro-broken/lms.course.v1/CourseCreated.language-without-default.avsc",
    ] {
        let (status, body) = sr.register(subject, &read(broken)).await;
        assert_error(status, &body, 409, 40901);
    }
    assert_eq!(sr.versions(subject).await, vec![1, 2]);
    teardown(db, sr).await;
}

/// A record schema named `lms.test.<name>` with the given fields.
pub fn record(name: &str, fields: Value) -> Value {
    serde_json::json!({
        "type": "record",
        "name": name,
        "namespace": "lms.test",
        "fields": fields,
    })
}

pub fn assert_error(status: StatusCode, body: &Value, expected_status: u16, expected_code: i64) {
    assert_eq!(status.as_u16(), expected_status, "body: {body}");
    assert_eq!(
        body["error_code"].as_i64(),
        Some(expected_code),
        "body: {body}"
    );
    assert!(body["message"].is_string(), "body: {body}");
}

#[tokio::test]
async fn writes_need_the_admin_credential_and_reads_stay_open() {
    let (db, sr) = setup().await;
    let id = sr.register_ok("learners-value", &v1()).await;
    let register = json!({"schema": v2().to_string()});
    for credential in [None, Some((ADMIN_USER, "a guess"))] {
        let attempts = [
            (
                "POST",
                "/subjects/learners-value/versions",
                Some(register.clone()),
            ),
            ("DELETE", "/subjects/learners-value", None),
            ("DELETE", "/subjects/learners-value/versions/1", None),
            ("PUT", "/config", Some(json!({"compatibility": "NONE"}))),
            (
                "PUT",
                "/config/learners-value",
                Some(json!({"compatibility": "NONE"})),
            ),
            ("DELETE", "/config", None),
        ];
        for (method, path, body) in attempts {
            let (status, body) = sr.call_as(credential, method, path, body).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path}: {body}");
            assert_eq!(body["error_code"], 40101, "{method} {path}");
        }
    }
    // Nothing changed, and every read still answers without a credential.
    assert_eq!(sr.versions("learners-value").await, vec![1]);
    let (status, _) = sr
        .call_as(None, "GET", &format!("/schemas/ids/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = sr.call_as(None, "GET", "/subjects", None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = sr
        .call_as(
            None,
            "POST",
            "/subjects/learners-value",
            Some(json!({"schema": v1().to_string()})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "a lookup is a read: {body}");
    let (status, body) = sr
        .call_as(
            None,
            "POST",
            "/compatibility/subjects/learners-value/versions/latest",
            Some(json!({"schema": v2().to_string()})),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "a compatibility check is a read: {body}"
    );
    teardown(db, sr).await;
}

#[tokio::test]
async fn a_registry_without_an_admin_credential_is_read_only() {
    let db = TestDb::registry().await;
    let sr = Registry::start_with(&db.pool, lms_schema_registry::Config::default()).await;
    let (status, body) = sr
        .post(
            "/subjects/learners-value/versions",
            json!({"schema": v1().to_string()}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("read-only"),
        "{body}"
    );
    let (status, _) = sr.get("/subjects").await;
    assert_eq!(status, StatusCode::OK);
    teardown(db, sr).await;
}
