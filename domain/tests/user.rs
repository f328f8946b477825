//! Given/when/then tests of the User aggregate.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use cqrs_es::test::TestFramework;
use lms_domain::user::{
    email_ok, normalize_email, NotificationCategory, User, UserCommand, UserError, UserEvent,
};
use lms_domain::{DomainError, ErrorKind, Role};
use std::collections::BTreeSet;
use support::*;

fn framework() -> TestFramework<User> {
    TestFramework::with(())
}

fn register(email: &str, name: &str) -> UserCommand {
    UserCommand::Register {
        user_id: STUDENT,
        email: email.into(),
        display_name: name.into(),
        roles: BTreeSet::from([Role::Student]),
    }
}

fn registered() -> UserEvent {
    UserEvent::UserRegistered {
        user_id: STUDENT,
        email: "ada@example.com".into(),
        display_name: "Ada".into(),
        locale: "en".into(),
        time_zone: "UTC".into(),
        roles: vec![Role::Student],
    }
}

fn violated_fields(error: &UserError) -> Vec<String> {
    match error.kind() {
        ErrorKind::Invalid(v) => v.into_iter().map(|v| v.field).collect(),
        other => panic!("expected Invalid, got {other:?}"),
    }
}

#[test]
fn a_new_user_registers_as_a_student_with_default_locale_and_zone() {
    framework()
        .given_no_previous_events()
        .when(register("ada@example.com", "  Ada "))
        .then_expect_events(vec![registered()]);
}

#[test]
fn registering_twice_is_refused() {
    framework()
        .given(vec![registered()])
        .when(register("ada@example.com", "Ada"))
        .then_expect_error(UserError::AlreadyRegistered);
}

#[test]
fn registration_names_every_bad_field() {
    let error = User::default()
        .decide(UserCommand::Register {
            user_id: STUDENT,
            email: "Not An Email".into(),
            display_name: "\u{202E}evil".into(),
            roles: BTreeSet::new(),
        })
        .unwrap_err();
    assert_eq!(
        violated_fields(&error),
        vec!["email", "display_name", "roles"]
    );
}

#[test]
fn an_email_must_arrive_normalized_and_look_like_an_address() {
    assert_eq!(normalize_email("  Ada@Example.COM "), "ada@example.com");
    for good in [
        "ada@example.com",
        "a.b+tag@sub.example.org",
        "zoë@exämple.de",
    ] {
        assert!(email_ok(good), "{good}");
    }
    for bad in [
        "",
        "ada",
        "ada@",
        "@example.com",
        "ada@localhost",
        "ada@example..com",
        "ada smith@example.com",
        "ada@exa_mple.com",
        "<ada@example.com>",
    ] {
        assert!(!email_ok(bad), "{bad}");
    }
    let error = User::default()
        .decide(register("Ada@Example.com", "Ada"))
        .unwrap_err();
    assert_eq!(violated_fields(&error), vec!["email"]);
}

#[test]
fn a_user_updates_their_own_profile_and_only_what_changes_is_recorded() {
    framework()
        .given(vec![registered()])
        .when(UserCommand::UpdateProfile {
            actor: student(),
            display_name: None,
            locale: Some("pt-BR".into()),
            time_zone: Some("Europe/Lisbon".into()),
            opted_out: Some(BTreeSet::from([NotificationCategory::ProductNews])),
        })
        .then_expect_events(vec![UserEvent::ProfileUpdated {
            display_name: "Ada".into(),
            locale: "pt-BR".into(),
            time_zone: "Europe/Lisbon".into(),
            opted_out: vec![NotificationCategory::ProductNews],
        }]);
}

#[test]
fn an_update_that_changes_nothing_records_nothing() {
    framework()
        .given(vec![registered()])
        .when(UserCommand::UpdateProfile {
            actor: student(),
            display_name: Some("Ada".into()),
            locale: None,
            time_zone: Some("UTC".into()),
            opted_out: None,
        })
        .then_expect_events(vec![]);
}

#[test]
fn a_profile_refuses_unknown_zones_and_malformed_locales() {
    let mut user = User::default();
    cqrs_es::Aggregate::apply(&mut user, registered());
    let error = user
        .decide(UserCommand::UpdateProfile {
            actor: student(),
            display_name: Some(String::new()),
            locale: Some("english".into()),
            time_zone: Some("Mars/Olympus".into()),
            opted_out: None,
        })
        .unwrap_err();
    assert_eq!(
        violated_fields(&error),
        vec!["display_name", "locale", "time_zone"]
    );
}

#[test]
fn another_student_cannot_edit_a_profile_but_an_admin_can() {
    framework()
        .given(vec![registered()])
        .when(UserCommand::UpdateProfile {
            actor: other_student(),
            display_name: Some("Mallory".into()),
            locale: None,
            time_zone: None,
            opted_out: None,
        })
        .then_expect_error(UserError::NotAllowed);
    framework()
        .given(vec![registered()])
        .when(UserCommand::RecordPasswordChange { actor: admin() })
        .then_expect_events(vec![UserEvent::PasswordChanged]);
}

#[test]
fn a_password_change_of_an_unknown_user_is_not_found() {
    framework()
        .given_no_previous_events()
        .when(UserCommand::RecordPasswordChange { actor: student() })
        .then_expect_error(UserError::NotFound);
}

#[test]
fn only_an_admin_grants_roles() {
    framework()
        .given(vec![registered()])
        .when(UserCommand::GrantRole {
            actor: instructor(),
            role: Role::Instructor,
        })
        .then_expect_error(UserError::AdminOnly);
    framework()
        .given(vec![registered()])
        .when(UserCommand::GrantRole {
            actor: admin(),
            role: Role::Instructor,
        })
        .then_expect_events(vec![UserEvent::RoleGranted {
            role: Role::Instructor,
        }]);
    framework()
        .given(vec![registered()])
        .when(UserCommand::GrantRole {
            actor: admin(),
            role: Role::Student,
        })
        .then_expect_error(UserError::RoleAlreadyHeld);
}

#[test]
fn revoking_keeps_at_least_one_role_and_an_admin_cannot_demote_themselves() {
    framework()
        .given(vec![registered()])
        .when(UserCommand::RevokeRole {
            actor: admin(),
            role: Role::Student,
        })
        .then_expect_error(UserError::LastRole);
    framework()
        .given(vec![
            registered(),
            UserEvent::RoleGranted {
                role: Role::Instructor,
            },
        ])
        .when(UserCommand::RevokeRole {
            actor: admin(),
            role: Role::Student,
        })
        .then_expect_events(vec![UserEvent::RoleRevoked {
            role: Role::Student,
        }]);
    let own = UserEvent::UserRegistered {
        user_id: ADMIN,
        email: "root@example.com".into(),
        display_name: "Root".into(),
        locale: "en".into(),
        time_zone: "UTC".into(),
        roles: vec![Role::Student, Role::Admin],
    };
    framework()
        .given(vec![own])
        .when(UserCommand::RevokeRole {
            actor: admin(),
            role: Role::Admin,
        })
        .then_expect_error(UserError::OwnAdminRole);
}

#[test]
fn a_user_acts_with_their_strongest_role() {
    let roles = BTreeSet::from([Role::Admin, Role::Student, Role::Instructor]);
    assert_eq!(roles.iter().max(), Some(&Role::Admin));
    assert!(Role::Student < Role::Instructor && Role::Instructor < Role::Admin);
}
