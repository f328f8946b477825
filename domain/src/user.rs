//! The User aggregate: a person's account in one tenant (profile, roles,
//! the fact of a password change). Credentials themselves (the password
//! hash, refresh tokens) are not events: they live in the identity
//! service's own tables, so no hash is ever published or kept forever.
//!
//! The tenant travels in every event's envelope, not in the body. Email
//! uniqueness per tenant spans users, so it is enforced where the
//! account is created (the identity service's email claim), not here.

use crate::actor::{Actor, Role};
use crate::error::{describe, DomainError, ErrorKind, FieldViolation, TextRule, Violations};
use crate::ids::UserId;
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

pub const DISPLAY_NAME: TextRule = TextRule {
    min: 1,
    max: 100,
    multiline: false,
};
/// RFC 5321's limit on a forward path.
pub const MAX_EMAIL: usize = 254;
pub const DEFAULT_LOCALE: &str = "en";
pub const DEFAULT_TIME_ZONE: &str = "UTC";

/// Messages a user may opt out of. Transactional ones (receipts, security
/// notices) have no category: they cannot be turned off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotificationCategory {
    /// Enrollment confirmed, course completed.
    Learning,
    /// Trial ending, renewal reminders.
    BillingReminders,
    /// News about courses and the platform.
    ProductNews,
}

impl NotificationCategory {
    pub const ALL: [NotificationCategory; 3] = [
        NotificationCategory::Learning,
        NotificationCategory::BillingReminders,
        NotificationCategory::ProductNews,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            NotificationCategory::Learning => "learning",
            NotificationCategory::BillingReminders => "billing_reminders",
            NotificationCategory::ProductNews => "product_news",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == name)
    }
}

/// A profile as the user sees and edits it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    pub display_name: String,
    /// BCP 47 language tag, e.g. `en`, `pt-BR`.
    pub locale: String,
    /// IANA time zone, e.g. `Europe/Lisbon`.
    pub time_zone: String,
    /// Categories the user opted out of.
    pub opted_out: BTreeSet<NotificationCategory>,
}

#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    id: Option<UserId>,
    email: String,
    profile: Option<Profile>,
    roles: BTreeSet<Role>,
    password_changes: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub enum UserCommand {
    /// Self-service sign-up (roles: student), or an operator's bootstrap of
    /// the first admin. `email` arrives normalized by [`normalize_email`].
    Register {
        user_id: UserId,
        email: String,
        display_name: String,
        roles: BTreeSet<Role>,
    },
    /// `None` leaves a field as it is.
    UpdateProfile {
        actor: Actor,
        display_name: Option<String>,
        locale: Option<String>,
        time_zone: Option<String>,
        opted_out: Option<BTreeSet<NotificationCategory>>,
    },
    /// The identity service changed the stored hash; this records it.
    RecordPasswordChange {
        actor: Actor,
    },
    GrantRole {
        actor: Actor,
        role: Role,
    },
    RevokeRole {
        actor: Actor,
        role: Role,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum UserEvent {
    UserRegistered {
        user_id: UserId,
        email: String,
        display_name: String,
        locale: String,
        time_zone: String,
        roles: Vec<Role>,
    },
    ProfileUpdated {
        display_name: String,
        locale: String,
        time_zone: String,
        opted_out: Vec<NotificationCategory>,
    },
    PasswordChanged,
    RoleGranted {
        role: Role,
    },
    RoleRevoked {
        role: Role,
    },
}

impl DomainEvent for UserEvent {
    fn event_type(&self) -> String {
        match self {
            UserEvent::UserRegistered { .. } => "UserRegistered",
            UserEvent::ProfileUpdated { .. } => "ProfileUpdated",
            UserEvent::PasswordChanged => "PasswordChanged",
            UserEvent::RoleGranted { .. } => "RoleGranted",
            UserEvent::RoleRevoked { .. } => "RoleRevoked",
        }
        .to_string()
    }

    fn event_version(&self) -> String {
        "1".to_string()
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum UserError {
    #[error("invalid user command: {}", describe(.0))]
    Invalid(Vec<FieldViolation>),
    #[error("user not found")]
    NotFound,
    #[error("the user already exists")]
    AlreadyRegistered,
    #[error("only the user themselves or an admin may do this")]
    NotAllowed,
    #[error("only an admin may grant or revoke roles")]
    AdminOnly,
    #[error("the user already has this role")]
    RoleAlreadyHeld,
    #[error("the user does not have this role")]
    RoleNotHeld,
    #[error("a user keeps at least one role")]
    LastRole,
    #[error("an admin cannot revoke their own admin role")]
    OwnAdminRole,
}

impl DomainError for UserError {
    fn not_found() -> Self {
        UserError::NotFound
    }

    fn kind(&self) -> ErrorKind {
        match self {
            UserError::Invalid(v) => ErrorKind::Invalid(v.clone()),
            UserError::NotFound => ErrorKind::NotFound,
            UserError::AlreadyRegistered => ErrorKind::AlreadyExists,
            UserError::NotAllowed | UserError::AdminOnly => ErrorKind::PermissionDenied,
            _ => ErrorKind::FailedPrecondition,
        }
    }

    fn reason(&self) -> &'static str {
        match self {
            UserError::Invalid(_) => "INVALID_ARGUMENT",
            UserError::NotFound => "USER_NOT_FOUND",
            UserError::AlreadyRegistered => "USER_ALREADY_REGISTERED",
            UserError::NotAllowed => "NOT_ALLOWED_FOR_USER",
            UserError::AdminOnly => "ADMIN_ONLY",
            UserError::RoleAlreadyHeld => "ROLE_ALREADY_HELD",
            UserError::RoleNotHeld => "ROLE_NOT_HELD",
            UserError::LastRole => "LAST_ROLE",
            UserError::OwnAdminRole => "OWN_ADMIN_ROLE",
        }
    }
}

/// The form an email is stored, compared and claimed in: trimmed and
/// lower-cased (the local part too: no mainstream provider distinguishes
/// case, and two accounts differing only by case would be an impersonation
/// risk).
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// A plausible address: `local@domain.tld`, no spaces or control
/// characters, at most 254 characters. Deliverability is proven by a
/// confirmation mail, not by a pattern.
pub fn email_ok(email: &str) -> bool {
    let Some((local, domain)) = email.rsplit_once('@') else {
        return false;
    };
    email.len() <= MAX_EMAIL
        && !local.is_empty()
        && local.len() <= 64
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
        && email
            .chars()
            .all(|c| !c.is_control() && !c.is_whitespace() && c != '<' && c != '>')
        && domain
            .chars()
            .all(|c| c.is_alphanumeric() || c == '.' || c == '-')
}

/// A BCP 47 tag in its common shape: a 2–3 letter language, then subtags
/// of 2–8 letters or digits (`en`, `pt-BR`, `zh-Hant-TW`).
pub fn locale_ok(locale: &str) -> bool {
    let mut parts = locale.split('-');
    let language_ok = parts
        .next()
        .is_some_and(|l| (2..=3).contains(&l.len()) && l.bytes().all(|b| b.is_ascii_lowercase()));
    language_ok
        && locale.len() <= 35
        && parts.all(|p| (2..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// A time zone of the IANA database.
pub fn time_zone_ok(zone: &str) -> bool {
    zone.parse::<chrono_tz::Tz>().is_ok()
}

impl UserCommand {
    /// Input errors visible from the command alone.
    pub fn violations(&self) -> Vec<FieldViolation> {
        let mut v = Violations::default();
        match self {
            UserCommand::Register {
                email,
                display_name,
                roles,
                ..
            } => {
                v.check(
                    email_ok(email) && *email == normalize_email(email),
                    "email",
                    "must be an email address such as ada@example.com",
                );
                v.text("display_name", display_name, DISPLAY_NAME);
                v.check(!roles.is_empty(), "roles", "at least one role is required");
            }
            UserCommand::UpdateProfile {
                display_name,
                locale,
                time_zone,
                ..
            } => {
                if let Some(name) = display_name {
                    v.text("display_name", name, DISPLAY_NAME);
                }
                if let Some(locale) = locale {
                    v.check(
                        locale_ok(locale),
                        "locale",
                        "must be a language tag such as en or pt-BR",
                    );
                }
                if let Some(zone) = time_zone {
                    v.check(
                        time_zone_ok(zone),
                        "time_zone",
                        "must be an IANA time zone such as Europe/Lisbon",
                    );
                }
            }
            UserCommand::RecordPasswordChange { .. }
            | UserCommand::GrantRole { .. }
            | UserCommand::RevokeRole { .. } => {}
        }
        v.into_vec()
    }
}

impl User {
    pub fn exists(&self) -> bool {
        self.id.is_some()
    }

    pub fn id(&self) -> Option<UserId> {
        self.id
    }

    pub fn email(&self) -> &str {
        &self.email
    }

    pub fn profile(&self) -> Option<&Profile> {
        self.profile.as_ref()
    }

    pub fn roles(&self) -> &BTreeSet<Role> {
        &self.roles
    }

    pub fn password_changes(&self) -> u64 {
        self.password_changes
    }

    /// The decision: pure, synchronous, no side effects.
    pub fn decide(&self, command: UserCommand) -> Result<Vec<UserEvent>, UserError> {
        let violations = command.violations();
        if !violations.is_empty() {
            return Err(UserError::Invalid(violations));
        }
        match command {
            UserCommand::Register {
                user_id,
                email,
                display_name,
                roles,
            } => {
                if self.exists() {
                    return Err(UserError::AlreadyRegistered);
                }
                Ok(vec![UserEvent::UserRegistered {
                    user_id,
                    email,
                    display_name: display_name.trim().to_string(),
                    locale: DEFAULT_LOCALE.into(),
                    time_zone: DEFAULT_TIME_ZONE.into(),
                    roles: roles.into_iter().collect(),
                }])
            }
            UserCommand::UpdateProfile {
                actor,
                display_name,
                locale,
                time_zone,
                opted_out,
            } => {
                let current = self.profile_for(&actor)?;
                let next = Profile {
                    display_name: display_name
                        .map(|n| n.trim().to_string())
                        .unwrap_or_else(|| current.display_name.clone()),
                    locale: locale.unwrap_or_else(|| current.locale.clone()),
                    time_zone: time_zone.unwrap_or_else(|| current.time_zone.clone()),
                    opted_out: opted_out.unwrap_or_else(|| current.opted_out.clone()),
                };
                if &next == current {
                    return Ok(vec![]);
                }
                Ok(vec![UserEvent::ProfileUpdated {
                    display_name: next.display_name,
                    locale: next.locale,
                    time_zone: next.time_zone,
                    opted_out: next.opted_out.into_iter().collect(),
                }])
            }
            UserCommand::RecordPasswordChange { actor } => {
                self.profile_for(&actor)?;
                Ok(vec![UserEvent::PasswordChanged])
            }
            UserCommand::GrantRole { actor, role } => {
                self.ensure_admin(&actor)?;
                if self.roles.contains(&role) {
                    return Err(UserError::RoleAlreadyHeld);
                }
                Ok(vec![UserEvent::RoleGranted { role }])
            }
            UserCommand::RevokeRole { actor, role } => {
                self.ensure_admin(&actor)?;
                if !self.roles.contains(&role) {
                    return Err(UserError::RoleNotHeld);
                }
                if self.roles.len() == 1 {
                    return Err(UserError::LastRole);
                }
                if role == Role::Admin && self.id == Some(actor.user_id) {
                    return Err(UserError::OwnAdminRole);
                }
                Ok(vec![UserEvent::RoleRevoked { role }])
            }
        }
    }

    fn profile_for(&self, actor: &Actor) -> Result<&Profile, UserError> {
        let (Some(id), Some(profile)) = (self.id, self.profile.as_ref()) else {
            return Err(UserError::NotFound);
        };
        if !actor.may_act_for(id) {
            return Err(UserError::NotAllowed);
        }
        Ok(profile)
    }

    fn ensure_admin(&self, actor: &Actor) -> Result<(), UserError> {
        if !actor.is_admin() {
            return Err(UserError::AdminOnly);
        }
        if !self.exists() {
            return Err(UserError::NotFound);
        }
        Ok(())
    }
}

impl Aggregate for User {
    const TYPE: &'static str = "User";
    type Command = UserCommand;
    type Event = UserEvent;
    type Error = UserError;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        for event in self.decide(command)? {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        match event {
            UserEvent::UserRegistered {
                user_id,
                email,
                display_name,
                locale,
                time_zone,
                roles,
            } => {
                self.id = Some(user_id);
                self.email = email;
                self.profile = Some(Profile {
                    display_name,
                    locale,
                    time_zone,
                    opted_out: BTreeSet::new(),
                });
                self.roles = roles.into_iter().collect();
            }
            UserEvent::ProfileUpdated {
                display_name,
                locale,
                time_zone,
                opted_out,
            } => {
                self.profile = Some(Profile {
                    display_name,
                    locale,
                    time_zone,
                    opted_out: opted_out.into_iter().collect(),
                });
            }
            UserEvent::PasswordChanged => self.password_changes += 1,
            UserEvent::RoleGranted { role } => {
                self.roles.insert(role);
            }
            UserEvent::RoleRevoked { role } => {
                self.roles.remove(&role);
            }
        }
    }
}
