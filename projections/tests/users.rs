//! users end to end: sign-up, profile and role changes at the identity
//! service → its outbox → relay → Kafka → the users worker → users.accounts.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use lms_projections::users::UsersProjection;
use lms_proto::identity::v1::*;
use lms_readmodels::users::account;
use lms_testkit::identity::IdentityServer;
use lms_testkit::pipeline::prelude::*;
use std::sync::Arc;

#[tokio::test(flavor = "multi_thread")]
async fn accounts_follow_sign_up_profile_and_roles() {
    let h = Harness::start().await;
    let identity = IdentityServer::start(&h.db).await;
    let worker = h.start_worker(Arc::new(UsersProjection));

    let ada = identity.sign_up("ada").await;
    let admin = identity.bootstrap_admin("root").await;
    let mut client = identity.client();
    client
        .update_profile(ada.req(UpdateProfileRequest {
            command_id: new_id(),
            user_id: String::new(),
            display_name: Some("Ada L.".into()),
            locale: Some("pt-BR".into()),
            time_zone: Some("Europe/Lisbon".into()),
            notifications: Some(NotificationPreferences {
                opted_out: vec!["product_news".into(), "learning".into()],
            }),
        }))
        .await
        .unwrap();
    let role = |role: &str| RoleRequest {
        command_id: new_id(),
        user_id: ada.session.user_id.clone(),
        role: role.into(),
    };
    client
        .grant_role(admin.req(role("instructor")))
        .await
        .unwrap();
    let last = client
        .revoke_role(admin.req(role("student")))
        .await
        .unwrap()
        .into_inner();

    h.wait_applied("users", "users", &ada.session.user_id, last.sequence as i64)
        .await;
    let row = account(&h.db.pool, ada.user_id()).await.unwrap().unwrap();
    assert_eq!(row.email, ada.email);
    assert_eq!(row.tenant_id, "default");
    assert_eq!(row.display_name, "Ada L.");
    assert_eq!(
        (row.locale.as_str(), row.time_zone.as_str()),
        ("pt-BR", "Europe/Lisbon")
    );
    assert_eq!(row.opted_out, vec!["learning", "product_news"]);
    assert_eq!(row.roles, vec!["instructor"]);
    h.wait_applied("users", "users", &admin.session.user_id, 1)
        .await;
    let admin_row = account(&h.db.pool, admin.user_id()).await.unwrap().unwrap();
    assert_eq!(admin_row.roles, vec!["admin"]);

    worker.stop().await;
    identity.stop().await;
    h.stop().await;
}
