//! No password, token or email reaches the service's log, even at debug:
//! the binary runs a whole session's worth of calls and its output is read.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use lms_proto::identity::v1::identity_client::IdentityClient;
use lms_proto::identity::v1::*;
use lms_runtime::auth::KeyRing;
use lms_testkit::grpc::when_listening;
use lms_testkit::identity::bearer;
use lms_testkit::logs::CapturedLog;
use lms_testkit::paths::TempDir;
use lms_testkit::ports::free_addr;
use lms_testkit::process::{service, Running};
use lms_testkit::TestDb;
use std::time::Duration;
use uuid::Uuid;

#[tokio::test(flavor = "multi_thread")]
async fn the_log_of_a_whole_session_holds_no_password_token_or_email() {
    let db = TestDb::event_store().await;
    let dir = TempDir::new("identity-logs");
    KeyRing::write_new_key(dir.path(), "k1").unwrap();
    let log = CapturedLog::new(&dir, "lms-identity");
    let (stdout, stderr) = log.stdio();
    let grpc = free_addr();
    let child = Running::spawn(
        service(env!("CARGO_BIN_EXE_lms-identity"))
            .env(
                "LMS_DATABASE_URL",
                secrecy::ExposeSecret::expose_secret(&db.secret_url()),
            )
            .env("LMS_GRPC_ADDR", &grpc)
            .env("LMS_METRICS_ADDR", free_addr())
            .env("LMS_JWKS_ADDR", free_addr())
            .env("LMS_SIGNING_KEYS_DIR", dir.path())
            .env("LMS_SIGNING_KID", "k1")
            .env("LMS_PASSWORD_MEMORY_KIB", "1024")
            .env("LMS_PASSWORD_ITERATIONS", "1")
            .env("LMS_LOG", "debug")
            .stdout(stdout)
            .stderr(stderr),
    );
    let mut client = IdentityClient::new(when_listening(&grpc, "lms-identity").await);

    let email = format!("secret-person-{}@example.test", Uuid::now_v7().simple());
    let password = format!("hunter2-{}", Uuid::now_v7().simple());
    let new_password = format!("hunter3-{}", Uuid::now_v7().simple());
    client
        .register(RegisterRequest {
            command_id: Uuid::now_v7().to_string(),
            tenant_id: String::new(),
            email: email.clone(),
            password: password.clone(),
            display_name: "Secret Person".into(),
        })
        .await
        .unwrap();
    let wrong = client
        .login(LoginRequest {
            tenant_id: String::new(),
            email: email.clone(),
            password: format!("{password}-wrong"),
        })
        .await;
    assert!(wrong.is_err());
    let session = client
        .login(LoginRequest {
            tenant_id: String::new(),
            email: email.clone(),
            password: password.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let refreshed = client
        .refresh(RefreshRequest {
            refresh_token: session.refresh_token.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let reused = client
        .refresh(RefreshRequest {
            refresh_token: session.refresh_token.clone(),
        })
        .await;
    assert!(reused.is_err());
    let login = client
        .login(LoginRequest {
            tenant_id: String::new(),
            email: email.clone(),
            password: password.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    client
        .get_me(bearer(GetMeRequest {}, &login.access_token))
        .await
        .unwrap();
    client
        .change_password(bearer(
            ChangePasswordRequest {
                command_id: Uuid::now_v7().to_string(),
                current_password: password.clone(),
                new_password: new_password.clone(),
            },
            &login.access_token,
        ))
        .await
        .unwrap();
    let tampered = format!("{}x", login.access_token);
    assert!(client
        .get_me(bearer(GetMeRequest {}, &tampered))
        .await
        .is_err());
    client
        .logout(LogoutRequest {
            refresh_token: login.refresh_token.clone(),
        })
        .await
        .unwrap();

    let status = child.terminate(Duration::from_secs(20)).await;
    assert!(status.success(), "lms-identity exited {status}");

    let text = log.text();
    assert!(
        text.contains("lms-identity listening") && text.contains("command accepted"),
        "the log was captured at debug: {text}"
    );
    let local_part = email.split('@').next().unwrap();
    log.assert_holds_none(&[
        ("the email", local_part),
        ("the password", &password),
        ("the new password", &new_password),
        ("an access token", &session.access_token),
        ("an access token", &refreshed.access_token),
        ("an access token", &login.access_token),
        ("a refresh token", &session.refresh_token),
        ("a refresh token", &refreshed.refresh_token),
        ("a refresh token", &login.refresh_token),
    ]);
    db.drop_database().await;
}
