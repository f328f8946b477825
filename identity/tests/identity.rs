//! The identity API through real gRPC on a real Postgres: sign-up, sign-in,
//! tokens, refresh rotation and reuse, limits, profile, password, roles.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use futures::future::join_all;
use lms_proto::identity::v1::*;
use lms_runtime::auth::Claims;
use lms_testkit::identity::{bearer, IdentityServer, SignedIn};
use lms_testkit::status::{assert_refused, violated_fields};
use lms_testkit::TestDb;
use secrecy::ExposeSecret;
use std::time::Duration;
use tonic::Code;
use tonic_types::StatusExt;
use uuid::Uuid;

fn register(email: &str, password: &str) -> RegisterRequest {
    RegisterRequest {
        command_id: Uuid::now_v7().to_string(),
        tenant_id: String::new(),
        email: email.into(),
        password: password.into(),
        display_name: "Ada".into(),
    }
}

fn login(email: &str, password: &str) -> LoginRequest {
    LoginRequest {
        tenant_id: String::new(),
        email: email.into(),
        password: password.into(),
    }
}

async fn setup() -> (TestDb, IdentityServer) {
    let db = TestDb::event_store().await;
    let identity = IdentityServer::start(&db).await;
    (db, identity)
}

#[tokio::test]
async fn a_new_user_registers_signs_in_and_reads_their_account() {
    let (db, identity) = setup().await;
    let mut client = identity.client();
    let reply = client
        .register(register("  Ada@Example.TEST ", "correct horse battery"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.aggregate_id, reply.created_id);

    let session = client
        .login(login("ada@example.test", "correct horse battery"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(session.user_id, reply.created_id);
    assert_eq!(session.roles, vec!["student"]);
    assert_eq!(session.tenant_id, "default");
    assert!(session.expires_in > 0 && session.expires_in <= 900);
    assert!(session.refresh_token.starts_with("lmsr_"));

    let me = client
        .get_me(bearer(GetMeRequest {}, &session.access_token))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(me.email, "ada@example.test");
    assert_eq!(me.display_name, "Ada");
    assert_eq!((me.locale.as_str(), me.time_zone.as_str()), ("en", "UTC"));

    // The account is an event like any other: in the store and its outbox.
    let events = db.events("User", &reply.created_id).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].0, "UserRegistered");
    assert_eq!(events[0].1["actor_id"], reply.created_id.as_str());
    let queued: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM outbox o JOIN events e USING (position) WHERE e.aggregate_type = 'User'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(queued, 1);
    // No password, hash or token in the published history.
    let stored: String = sqlx::query_scalar("SELECT payload::text FROM events")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert!(!stored.contains("correct horse") && !stored.contains("argon2"));
}

#[tokio::test]
async fn registration_refuses_a_short_password_and_a_malformed_email_field_by_field() {
    let (_db, identity) = setup().await;
    let status = identity
        .client()
        .register(register("not-an-email", "short"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(violated_fields(&status), vec!["password", "email"]);
}

#[tokio::test]
async fn fifty_concurrent_registrations_of_one_email_make_exactly_one_user() {
    let (db, identity) = setup().await;
    let attempts = (0..50).map(|i| {
        let mut client = identity.client();
        async move {
            client
                .register(register(
                    "race@example.test",
                    &format!("password number {i}"),
                ))
                .await
        }
    });
    let results = join_all(attempts).await;
    let won = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(won, 1, "{results:?}");
    for status in results.iter().filter_map(|r| r.as_ref().err()) {
        assert_refused(status, Code::AlreadyExists, "EMAIL_TAKEN");
    }
    assert_eq!(db.count_events("UserRegistered").await, 1);
    let accounts: i64 = sqlx::query_scalar("SELECT count(*) FROM identity_credentials")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(accounts, 1);
}

#[tokio::test]
async fn a_retried_registration_returns_the_same_account() {
    let (db, identity) = setup().await;
    let request = register("retry@example.test", "a long enough password");
    let first = identity.client().register(request.clone()).await.unwrap();
    let again = identity.client().register(request).await.unwrap();
    assert_eq!(first.into_inner(), again.into_inner());
    assert_eq!(db.count_events("UserRegistered").await, 1);
}

#[tokio::test]
async fn a_wrong_password_is_refused_and_ten_in_a_row_are_limited() {
    let (_db, identity) = setup().await;
    let user = identity.sign_up("grace").await;
    let mut client = identity.client();
    let status = client
        .login(login(&user.email, "not the password"))
        .await
        .unwrap_err();
    assert_refused(&status, Code::Unauthenticated, "INVALID_CREDENTIALS");
    // An unknown account answers the same.
    let status = client
        .login(login("nobody@example.test", "not the password"))
        .await
        .unwrap_err();
    assert_refused(&status, Code::Unauthenticated, "INVALID_CREDENTIALS");

    let mut limited = None;
    for _ in 0..10 {
        if let Err(status) = client.login(login(&user.email, "still wrong")).await {
            if status.code() == Code::ResourceExhausted {
                limited = Some(status);
                break;
            }
        }
    }
    let status = limited.expect("ten wrong passwords are limited");
    assert_refused(&status, Code::ResourceExhausted, "TOO_MANY_ATTEMPTS");
    let retry = status.get_details_retry_info().expect("RetryInfo");
    assert!(retry
        .retry_delay
        .is_some_and(|d| d >= Duration::from_secs(1)));
    // The right password is limited too: the limit is on attempts.
    let status = client
        .login(login(&user.email, &user.password))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted);
}

#[tokio::test]
async fn a_refresh_token_works_once_and_its_reuse_revokes_the_whole_sign_in() {
    let (_db, identity) = setup().await;
    let user = identity.sign_up("alan").await;
    let mut client = identity.client();
    let first = user.session.refresh_token.clone();
    let second = client
        .refresh(RefreshRequest {
            refresh_token: first.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_ne!(second.refresh_token, first);
    assert_ne!(second.access_token, user.session.access_token);
    client
        .get_me(bearer(GetMeRequest {}, &second.access_token))
        .await
        .unwrap();

    // The first token again: a thief or a replay. The family goes.
    let status = client
        .refresh(RefreshRequest {
            refresh_token: first,
        })
        .await
        .unwrap_err();
    assert_refused(&status, Code::Unauthenticated, "REFRESH_TOKEN_REUSED");
    let status = client
        .refresh(RefreshRequest {
            refresh_token: second.refresh_token,
        })
        .await
        .unwrap_err();
    assert_refused(&status, Code::Unauthenticated, "REFRESH_TOKEN_INVALID");

    // Garbage is refused without a word about why.
    let status = client
        .refresh(RefreshRequest {
            refresh_token: "lmsr_garbage".into(),
        })
        .await
        .unwrap_err();
    assert_refused(&status, Code::Unauthenticated, "REFRESH_TOKEN_INVALID");
}

#[tokio::test]
async fn logout_ends_the_sign_in() {
    let (_db, identity) = setup().await;
    let user = identity.sign_up("barbara").await;
    let mut client = identity.client();
    client
        .logout(LogoutRequest {
            refresh_token: user.session.refresh_token.clone(),
        })
        .await
        .unwrap();
    let status = client
        .refresh(RefreshRequest {
            refresh_token: user.session.refresh_token,
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
}

fn claims_of(user: &SignedIn) -> Claims {
    let issuer_now = chrono::Utc::now().timestamp();
    Claims {
        sub: user.user_id(),
        tenant: "default".into(),
        roles: vec!["student".into()],
        iss: "lms-identity".into(),
        aud: "lms".into(),
        exp: issuer_now + 600,
        iat: issuer_now,
        jti: Uuid::now_v7().to_string(),
    }
}

#[tokio::test]
async fn bad_tokens_are_unauthenticated() {
    let (_db, identity) = setup().await;
    let user = identity.sign_up("edsger").await;
    let issuer = identity.issuer(Duration::from_secs(600));
    let mut client = identity.client();

    let status = client.get_me(GetMeRequest {}).await.unwrap_err();
    assert_refused(&status, Code::Unauthenticated, "TOKEN_MISSING");

    let mut expired = claims_of(&user);
    expired.iat -= 7200;
    expired.exp = expired.iat + 60;
    let mut foreign = claims_of(&user);
    foreign.iss = "https://evil.example".into();
    for (what, claims) in [("expired", expired), ("another issuer", foreign)] {
        let token = issuer.sign(&claims).unwrap();
        let status = client
            .get_me(bearer(GetMeRequest {}, token.expose_secret()))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated, "{what}");
    }

    let mut tampered: Vec<String> = user
        .session
        .access_token
        .split('.')
        .map(str::to_string)
        .collect();
    use base64::Engine;
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut claims: serde_json::Value =
        serde_json::from_slice(&engine.decode(&tampered[1]).unwrap()).unwrap();
    claims["roles"] = serde_json::json!(["admin"]);
    tampered[1] = engine.encode(serde_json::to_vec(&claims).unwrap());
    let status = client
        .get_me(bearer(GetMeRequest {}, &tampered.join(".")))
        .await
        .unwrap_err();
    assert_refused(&status, Code::Unauthenticated, "TOKEN_INVALID");

    let none = format!(
        "{}.{}.",
        engine.encode(br#"{"alg":"none","typ":"JWT","kid":"test-1"}"#),
        tampered[1]
    );
    let status = client
        .get_me(bearer(GetMeRequest {}, &none))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
}

#[tokio::test]
async fn a_user_edits_their_profile_and_nobody_else_can() {
    let (_db, identity) = setup().await;
    let ada = identity.sign_up("ada").await;
    let mallory = identity.sign_up("mallory").await;
    let mut client = identity.client();
    client
        .update_profile(ada.req(UpdateProfileRequest {
            command_id: Uuid::now_v7().to_string(),
            user_id: String::new(),
            display_name: Some("Ada L.".into()),
            locale: Some("pt-BR".into()),
            time_zone: Some("Europe/Lisbon".into()),
            notifications: Some(NotificationPreferences {
                opted_out: vec!["product_news".into()],
            }),
        }))
        .await
        .unwrap();
    let me = client
        .get_me(ada.req(GetMeRequest {}))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(me.display_name, "Ada L.");
    assert_eq!(me.time_zone, "Europe/Lisbon");
    assert_eq!(me.opted_out, vec!["product_news"]);

    let status = client
        .update_profile(mallory.req(UpdateProfileRequest {
            command_id: Uuid::now_v7().to_string(),
            user_id: ada.session.user_id.clone(),
            display_name: Some("pwned".into()),
            ..Default::default()
        }))
        .await
        .unwrap_err();
    assert_refused(&status, Code::PermissionDenied, "NOT_ALLOWED_FOR_USER");

    let status = client
        .update_profile(ada.req(UpdateProfileRequest {
            command_id: Uuid::now_v7().to_string(),
            time_zone: Some("Mars/Olympus".into()),
            ..Default::default()
        }))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&status), vec!["time_zone"]);
}

#[tokio::test]
async fn changing_the_password_needs_the_current_one_and_signs_out_every_session() {
    let (_db, identity) = setup().await;
    let user = identity.sign_up("kathleen").await;
    let mut client = identity.client();
    let status = client
        .change_password(user.req(ChangePasswordRequest {
            command_id: Uuid::now_v7().to_string(),
            current_password: "a wrong guess here".into(),
            new_password: "the brand new password".into(),
        }))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&status), vec!["current_password"]);

    client
        .change_password(user.req(ChangePasswordRequest {
            command_id: Uuid::now_v7().to_string(),
            current_password: user.password.clone(),
            new_password: "the brand new password".into(),
        }))
        .await
        .unwrap();
    let status = client
        .login(login(&user.email, &user.password))
        .await
        .unwrap_err();
    assert_refused(&status, Code::Unauthenticated, "INVALID_CREDENTIALS");
    client
        .login(login(&user.email, "the brand new password"))
        .await
        .unwrap();
    let status = client
        .refresh(RefreshRequest {
            refresh_token: user.session.refresh_token,
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
}

#[tokio::test]
async fn only_an_admin_grants_roles_and_the_next_token_carries_them() {
    let (db, identity) = setup().await;
    let student = identity.sign_up("student").await;
    let other = identity.sign_up("other").await;
    let mut client = identity.client();
    let grant = |user: &SignedIn, role: &str| RoleRequest {
        command_id: Uuid::now_v7().to_string(),
        user_id: user.session.user_id.clone(),
        role: role.into(),
    };
    let status = client
        .grant_role(other.req(grant(&student, "admin")))
        .await
        .unwrap_err();
    assert_refused(&status, Code::PermissionDenied, "ADMIN_ONLY");

    // The first admin comes from the operator's bootstrap.
    let admin = identity.bootstrap_admin("root").await;
    assert_eq!(admin.session.roles, vec!["admin"]);
    client
        .grant_role(admin.req(grant(&student, "instructor")))
        .await
        .unwrap();
    let status = client
        .grant_role(admin.req(grant(&student, "wizard")))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&status), vec!["role"]);
    let refreshed = client
        .refresh(RefreshRequest {
            refresh_token: student.session.refresh_token.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(refreshed.roles, vec!["student", "instructor"]);
    assert_eq!(db.count_events("RoleGranted").await, 1);
}

#[tokio::test]
async fn guessing_the_current_password_is_limited_like_a_login() {
    let (_db, identity) = setup().await;
    let user = identity.sign_up("guesser").await;
    let mut client = identity.client();
    let mut limited = None;
    for i in 0..10 {
        let guess = client
            .change_password(user.req(ChangePasswordRequest {
                command_id: Uuid::now_v7().to_string(),
                current_password: format!("guess number {i}"),
                new_password: "the brand new password".into(),
            }))
            .await
            .unwrap_err();
        if guess.code() == Code::ResourceExhausted {
            limited = Some(guess);
            break;
        }
        assert_eq!(violated_fields(&guess), vec!["current_password"]);
    }
    let status = limited.expect("guesses are limited");
    assert_refused(&status, Code::ResourceExhausted, "TOO_MANY_ATTEMPTS");
    assert!(status
        .get_details_retry_info()
        .and_then(|r| r.retry_delay)
        .is_some_and(|d| d >= Duration::from_secs(1)));
}

/// A login attempt for `email` that says, through `x-forwarded-for`, it
/// comes from `client`.
fn login_from(client: &str, email: &str) -> tonic::Request<LoginRequest> {
    let mut request = tonic::Request::new(login(email, "a wrong password"));
    request
        .metadata_mut()
        .insert("x-forwarded-for", client.parse().unwrap());
    request
}

/// Attempts until RESOURCE_EXHAUSTED (each for a new account, so that only
/// the address limit can answer so); how many went through before it.
async fn attempts_before_the_limit(identity: &IdentityServer, client: &str) -> usize {
    let mut grpc = identity.client();
    for n in 0..10 {
        let email = format!("nobody-{}@example.test", Uuid::now_v7().simple());
        let status = grpc.login(login_from(client, &email)).await.unwrap_err();
        if status.code() == Code::ResourceExhausted {
            return n;
        }
        assert_refused(&status, Code::Unauthenticated, "INVALID_CREDENTIALS");
    }
    10
}

#[tokio::test]
async fn the_address_limit_counts_the_client_the_bff_forwards_and_only_the_bffs_word() {
    let db = TestDb::event_store().await;
    let limited = |trusted: &str| lms_identity::config::Config {
        login_address_burst: 3,
        login_address_every_secs: 3600,
        trusted_proxies: trusted.into(),
        ..lms_testkit::identity::test_config()
    };
    // Behind the BFF (on loopback here): each client has its own budget.
    let behind_bff = IdentityServer::start_with(&db, limited("127.0.0.1")).await;
    assert_eq!(
        attempts_before_the_limit(&behind_bff, "203.0.113.7").await,
        3
    );
    assert_eq!(
        attempts_before_the_limit(&behind_bff, "203.0.113.8").await,
        3
    );
    behind_bff.stop().await;

    // A peer that is not trusted is the client, whatever it forwards: a
    // new address in the header does not buy new attempts.
    let db = TestDb::event_store().await;
    let direct = IdentityServer::start_with(&db, limited("")).await;
    assert_eq!(attempts_before_the_limit(&direct, "203.0.113.7").await, 3);
    assert_eq!(attempts_before_the_limit(&direct, "203.0.113.8").await, 0);
    direct.stop().await;
}
