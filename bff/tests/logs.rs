//! No password, email, token, session cookie or CSRF token reaches the
//! BFF's log, even at debug: the binary serves a whole session and its
//! output is read.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use lms_testkit::commands::CommandServer;
use lms_testkit::identity::IdentityServer;
use lms_testkit::logs::CapturedLog;
use lms_testkit::paths::TempDir;
use lms_testkit::ports::free_addr;
use lms_testkit::process::{service, Running};
use lms_testkit::query::QueryServer;
use lms_testkit::TestDb;
use redis::AsyncCommands;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::time::Duration;
use uuid::Uuid;

#[tokio::test(flavor = "multi_thread")]
async fn the_log_of_a_whole_session_holds_no_secret() {
    let db = TestDb::event_store().await;
    lms_readmodels::migrate(&db.pool).await.unwrap();
    let identity = IdentityServer::start_trusted(&db).await;
    let commands = CommandServer::start(&db).await;
    let query = QueryServer::start(&db).await;
    let dir = TempDir::new("bff-logs");
    let log = CapturedLog::new(&dir, "lms-bff");
    let (stdout, stderr) = log.stdio();
    let http = free_addr();
    let prefix = lms_testkit::redis::unique_prefix();
    let child = Running::spawn(
        service(env!("CARGO_BIN_EXE_lms-bff"))
            .env("LMS_HTTP_ADDR", &http)
            .env("LMS_METRICS_ADDR", free_addr())
            .env("LMS_IDENTITY_ENDPOINT", format!("http://{}", identity.addr))
            .env("LMS_COMMANDS_ENDPOINT", format!("http://{}", commands.addr))
            .env("LMS_QUERY_ENDPOINT", format!("http://{}", query.addr))
            .env("LMS_REDIS_URL", lms_testkit::redis::url())
            .env("LMS_REDIS_PREFIX", &prefix)
            .env("LMS_LOG", "debug")
            .stdout(stdout)
            .stderr(stderr),
    );
    let base = format!("http://{http}");
    let client = reqwest::Client::new();
    lms_testkit::eventually(Duration::from_secs(30), || {
        let (client, url) = (client.clone(), format!("{base}/healthz"));
        async move { client.get(url).send().await.is_ok() }
    })
    .await
    .expect("lms-bff answers");

    let email = format!("secret-person-{}@example.test", Uuid::now_v7().simple());
    let password = format!("hunter2-{}", Uuid::now_v7().simple());
    let post = |path: &str, body: Value, cookie: Option<&str>, csrf: Option<&str>| {
        let mut request = client.post(format!("{base}{path}")).json(&body);
        if let Some(cookie) = cookie {
            request = request.header("cookie", format!("lms_session={cookie}"));
        }
        if let Some(csrf) = csrf {
            request = request.header("x-csrf-token", csrf);
        }
        request.send()
    };
    let signed_up = post(
        "/api/auth/signup",
        json!({"email": email, "password": password, "display_name": "Secret Person"}),
        None,
        None,
    )
    .await
    .unwrap();
    assert_eq!(signed_up.status(), 201);
    let again = post(
        "/api/auth/signup",
        json!({"email": email, "password": password, "display_name": "Secret Person"}),
        None,
        None,
    )
    .await
    .unwrap();
    assert_eq!(again.status(), 409, "the email is taken");
    let wrong = post(
        "/api/auth/login",
        json!({"email": email, "password": format!("{password}-wrong")}),
        None,
        None,
    )
    .await
    .unwrap();
    assert_eq!(wrong.status(), 401);
    let login = post(
        "/api/auth/login",
        json!({"email": email, "password": password}),
        None,
        None,
    )
    .await
    .unwrap();
    let cookie = login
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .trim_start_matches("lms_session=")
        .to_string();
    let session: Value = login.json().await.unwrap();
    let csrf = session["csrf_token"].as_str().unwrap().to_string();
    // The tokens live in Redis under the cookie's hash, not the cookie.
    let mut redis = lms_testkit::redis::connect().await;
    let key = format!(
        "{prefix}:bff:session:{}",
        hex::encode(Sha256::digest(&cookie))
    );
    let stored: String = redis.get(&key).await.unwrap();
    assert!(!stored.contains(&cookie));
    let stored: Value = serde_json::from_str(&stored).unwrap();
    let access = stored["access_token"].as_str().unwrap().to_string();
    let refresh = stored["refresh_token"].as_str().unwrap().to_string();

    let me = client
        .get(format!("{base}/api/me"))
        .header("cookie", format!("lms_session={cookie}"))
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);
    let forged = post(
        "/api/courses",
        json!({"title": "x", "capacity": 1}),
        Some(&cookie),
        Some("nope"),
    )
    .await
    .unwrap();
    assert_eq!(forged.status(), 403);
    let refused = post(
        "/api/courses",
        json!({"title": "x", "capacity": 1}),
        Some(&cookie),
        Some(&csrf),
    )
    .await
    .unwrap();
    assert_eq!(refused.status(), 403, "a student creates no course");
    let out = post("/api/auth/logout", json!({}), Some(&cookie), Some(&csrf))
        .await
        .unwrap();
    assert_eq!(out.status(), 204);

    let status = child.terminate(Duration::from_secs(20)).await;
    assert!(status.success(), "lms-bff exited {status}");
    let text = log.text();
    assert!(
        text.contains("lms-bff listening") && text.contains("request refused"),
        "the log was captured at debug: {text}"
    );
    let local_part = email.split('@').next().unwrap();
    log.assert_holds_none(&[
        ("the email", local_part),
        ("the password", &password),
        ("the session cookie", &cookie),
        ("the CSRF token", &csrf),
        ("the access token", &access),
        ("the refresh token", &refresh),
    ]);
    lms_testkit::redis::clear(&redis, &prefix).await;
    query.stop().await;
    commands.stop().await;
    identity.stop().await;
    db.drop_database().await;
}
