//! `lms.identity.v1.Identity`: accounts through the User aggregate (event
//! store, outbox, Kafka like every aggregate), credentials and sign-ins in
//! the identity tables.

use crate::error::IdentityError;
use crate::limits::{account_key, LoginLimits};
use crate::password::{self, Hasher};
use crate::refresh;
use crate::store::{Claim, IdentityStore, Presented};
use lms_commands::app::{AggregateStore, Reply, Runner};
use lms_commands::context::{Caller, CommandContext, DEFAULT_TENANT};
use lms_commands::error::CommandError;
use lms_commands::grpc::handle_as;
use lms_domain::user::{normalize_email, NotificationCategory, User, UserCommand};
use lms_domain::{Actor, Clock, FieldViolation, Role, UserId};
use lms_proto::command::v1::CommandReply;
use lms_proto::identity::v1 as pb;
use lms_proto::identity::v1::identity_server::Identity;
use lms_runtime::auth::{principal, TokenIssuer};
use lms_runtime::client_address::{TrustedProxies, FORWARDED_FOR};
use secrecy::{ExposeSecret, SecretString};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;
use tonic::{Request, Response, Status};
use uuid::Uuid;

/// Namespace of user ids derived from (tenant, Register's command id), so a
/// retried Register lands on the same account.
const USER_ID_NAMESPACE: Uuid = Uuid::from_u128(0x6c6d_735f_7573_4000_8000_0000_0000_0001);

/// The account a Register with `command_id` in `tenant` creates.
pub fn user_id_for(tenant: &str, command_id: &str) -> UserId {
    let name = format!("{tenant}\u{0}{}", command_id.trim());
    UserId(Uuid::new_v5(&USER_ID_NAMESPACE, name.as_bytes()))
}

pub struct IdentityService {
    pub(crate) users: Arc<AggregateStore<User>>,
    pub(crate) runner: Runner,
    pub(crate) store: IdentityStore,
    pub(crate) hasher: Hasher,
    pub(crate) issuer: Arc<TokenIssuer>,
    pub(crate) limits: Arc<LoginLimits>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) refresh_lifetime: Duration,
    /// Whose `x-forwarded-for` names the client (the BFF's network).
    pub(crate) trusted_proxies: TrustedProxies,
}

pub fn tenant_or_default(tenant: &str) -> Result<String, IdentityError> {
    let tenant = tenant.trim();
    if tenant.is_empty() {
        return Ok(DEFAULT_TENANT.to_string());
    }
    if tenant.len() <= 128 && tenant.bytes().all(|b| b.is_ascii_graphic()) {
        Ok(tenant.to_string())
    } else {
        Err(IdentityError::Invalid(vec![FieldViolation::new(
            "tenant_id",
            "must be 1 to 128 visible ASCII characters",
        )]))
    }
}

fn token_caller<T>(request: &Request<T>) -> Result<Caller, CommandError> {
    Caller::of(request)
}

fn role_names(roles: &BTreeSet<Role>) -> Vec<String> {
    roles.iter().map(|r| r.as_str().to_string()).collect()
}

fn internal(e: impl std::fmt::Display) -> CommandError {
    CommandError::Internal(e.to_string())
}

fn secs_until(later: i64, now: i64) -> u64 {
    u64::try_from(later.saturating_sub(now)).unwrap_or_default()
}

impl IdentityService {
    /// Signs a new access token for `user_id` with the roles they hold now.
    async fn access_for(
        &self,
        user_id: UserId,
        tenant: &str,
    ) -> Result<(SecretString, Vec<String>, i64), IdentityError> {
        let (user, _) = self
            .users
            .load(tenant, &user_id.to_string())
            .await
            .map_err(|e| IdentityError::Internal(e.to_string()))?;
        if !user.exists() {
            return Err(IdentityError::Unauthenticated {
                reason: "INVALID_CREDENTIALS",
                message: "wrong email or password",
            });
        }
        let roles = role_names(user.roles());
        let claims = self
            .issuer
            .claims(user_id.0, tenant, &roles, self.clock.now().timestamp());
        let token = self
            .issuer
            .sign(&claims)
            .map_err(|e| IdentityError::Internal(e.to_string()))?;
        Ok((token, roles, claims.exp))
    }

    async fn session(
        &self,
        user_id: UserId,
        tenant: &str,
        refresh_token: SecretString,
        refresh_expires_at: i64,
    ) -> Result<pb::Session, IdentityError> {
        let (access, roles, exp) = self.access_for(user_id, tenant).await?;
        let now = self.clock.now().timestamp();
        Ok(pb::Session {
            user_id: user_id.to_string(),
            tenant_id: tenant.to_string(),
            roles,
            access_token: access.expose_secret().to_string(),
            expires_in: secs_until(exp, now),
            refresh_token: refresh_token.expose_secret().to_string(),
            refresh_expires_in: secs_until(refresh_expires_at, now),
        })
    }

    /// The target of an admin-or-self command: the caller, or a user of
    /// the caller's tenant (another tenant's user is not found).
    async fn target(
        &self,
        context: &CommandContext,
        user_id: &str,
    ) -> Result<UserId, CommandError> {
        if user_id.trim().is_empty() {
            return Ok(context.actor.user_id);
        }
        let target: UserId = user_id.trim().parse().map_err(|_| {
            CommandError::Invalid(vec![FieldViolation::new("user_id", "must be a UUID")])
        })?;
        let credential = self.store.by_user(target).await?;
        match credential {
            Some(c) if c.tenant_id == context.tenant_id => Ok(target),
            _ => Err(CommandError::from_domain(
                &lms_domain::user::UserError::NotFound,
            )),
        }
    }

    async fn user_command(
        &self,
        context: &CommandContext,
        user_id: UserId,
        command: UserCommand,
    ) -> Result<Reply, CommandError> {
        let id = user_id.to_string();
        self.runner
            .run(context, || {
                self.users.complete(context, &id, command.clone(), "")
            })
            .await
    }

    /// The operator's first admin of `tenant`: no admin exists yet to grant
    /// the role. The command id is derived from the email, so running it
    /// again for the same email replays the first reply and writes nothing.
    pub async fn bootstrap_admin(
        &self,
        tenant: &str,
        email: &str,
        password: SecretString,
        display_name: String,
    ) -> Result<Reply, CommandError> {
        let email = normalize_email(email);
        let command_id = format!("bootstrap-admin:{email}");
        let caller = Caller {
            actor: Actor::new(user_id_for(tenant, &command_id), Role::Admin),
            tenant_id: tenant.to_string(),
        };
        let mut context = CommandContext::new(
            &Default::default(),
            caller,
            "BootstrapAdmin",
            &command_id,
            self.clock.now(),
        )?;
        context.request_hash = command_id.clone();
        let roles = BTreeSet::from([Role::Admin]);
        self.create_account(&context, &email, password, display_name, roles)
            .await
    }

    /// GrantRole and RevokeRole: the same request, another decision.
    async fn change_role(
        &self,
        request: Request<pb::RoleRequest>,
        command_type: &'static str,
        decide: fn(Actor, Role) -> UserCommand,
    ) -> Result<Response<CommandReply>, Status> {
        let caller = token_caller(&request);
        handle_as(
            &*self.clock,
            command_type,
            request,
            caller,
            |ctx, r| async move {
                let role = parse_role("role", &r.role)?;
                let target = self.target(&ctx, &r.user_id).await?;
                self.user_command(&ctx, target, decide(ctx.actor, role))
                    .await
            },
        )
        .await
    }

    /// Creates the account `context.actor` names: claims the email, stores
    /// the hash, appends UserRegistered. Retries of the command resume.
    pub async fn create_account(
        &self,
        context: &CommandContext,
        email: &str,
        password: SecretString,
        display_name: String,
        roles: BTreeSet<Role>,
    ) -> Result<Reply, CommandError> {
        let email = normalize_email(email);
        let mut violations = password::violations("password", password.expose_secret(), &email);
        let user_id = context.actor.user_id;
        let command = UserCommand::Register {
            user_id,
            email: email.clone(),
            display_name,
            roles,
        };
        violations.extend(command.violations());
        if !violations.is_empty() {
            return Err(CommandError::Invalid(violations));
        }
        let hash = self.hasher.hash(&password).await.map_err(internal)?;
        let id = user_id.to_string();
        self.runner
            .run(context, || async {
                let claim = self
                    .store
                    .claim_email(
                        &context.tenant_id,
                        &email,
                        user_id,
                        &hash,
                        &context.command_id,
                    )
                    .await?;
                if claim == Claim::Taken {
                    return Err(CommandError::Rejected {
                        kind: lms_domain::ErrorKind::AlreadyExists,
                        reason: "EMAIL_TAKEN",
                        message: "an account with this email already exists".into(),
                    });
                }
                self.users
                    .complete_new(context, &id, command.clone(), &id)
                    .await
            })
            .await
    }

    async fn change_password(
        &self,
        context: &CommandContext,
        request: pb::ChangePasswordRequest,
    ) -> Result<Reply, CommandError> {
        let user_id = context.actor.user_id;
        let current = SecretString::from(request.current_password);
        let new = SecretString::from(request.new_password);
        let id = user_id.to_string();
        self.runner
            .run(context, || async {
                let credential = self.store.by_user(user_id).await?.ok_or_else(|| {
                    CommandError::from_domain(&lms_domain::user::UserError::NotFound)
                })?;
                // A retry after the hash was replaced but before the event
                // was appended resumes here.
                if credential.password_command_id != context.command_id {
                    let violations = password::violations(
                        "new_password",
                        new.expose_secret(),
                        &credential.email,
                    );
                    if !violations.is_empty() {
                        return Err(CommandError::Invalid(violations));
                    }
                    self.limits
                        .attempt(&account_key(&context.tenant_id, &credential.email), None)
                        .map_err(CommandError::TooManyAttempts)?;
                    let matches = self
                        .hasher
                        .verify(&current, Some(credential.password_hash.clone()))
                        .await
                        .map_err(internal)?;
                    if !matches {
                        return Err(CommandError::Invalid(vec![FieldViolation::new(
                            "current_password",
                            "is not the current password",
                        )]));
                    }
                    let hash = self.hasher.hash(&new).await.map_err(internal)?;
                    let replaced = self
                        .store
                        .set_password(
                            user_id,
                            &credential.password_hash,
                            &hash,
                            &context.command_id,
                        )
                        .await?;
                    if !replaced {
                        return Err(CommandError::Conflict);
                    }
                }
                let command = UserCommand::RecordPasswordChange {
                    actor: context.actor,
                };
                self.users.complete(context, &id, command, "").await
            })
            .await
    }
}

fn parse_role(field: &str, role: &str) -> Result<Role, CommandError> {
    role.trim().parse().map_err(|_| {
        CommandError::Invalid(vec![FieldViolation::new(
            field,
            "must be student, instructor or admin",
        )])
    })
}

fn parse_categories(names: &[String]) -> Result<BTreeSet<NotificationCategory>, CommandError> {
    names
        .iter()
        .map(|name| {
            NotificationCategory::parse(name.trim()).ok_or_else(|| {
                CommandError::Invalid(vec![FieldViolation::new(
                    "notifications.opted_out",
                    "each must be learning, billing_reminders or product_news",
                )])
            })
        })
        .collect()
}

#[tonic::async_trait]
impl Identity for IdentityService {
    async fn register(
        &self,
        request: Request<pb::RegisterRequest>,
    ) -> Result<Response<CommandReply>, Status> {
        let tenant = tenant_or_default(&request.get_ref().tenant_id).map_err(Status::from)?;
        let user_id = user_id_for(&tenant, &request.get_ref().command_id);
        let caller = Ok(Caller {
            actor: Actor::new(user_id, Role::Student),
            tenant_id: tenant,
        });
        handle_as(
            &*self.clock,
            "Register",
            request,
            caller,
            |ctx, r| async move {
                let roles = BTreeSet::from([Role::Student]);
                self.create_account(&ctx, &r.email, r.password.into(), r.display_name, roles)
                    .await
            },
        )
        .await
    }

    async fn login(
        &self,
        request: Request<pb::LoginRequest>,
    ) -> Result<Response<pb::Session>, Status> {
        // Through the BFF, the client is whom the BFF says it is; from
        // anyone else, the peer.
        let address = request.remote_addr().map(|peer| {
            let forwarded = request
                .metadata()
                .get_all(FORWARDED_FOR)
                .iter()
                .filter_map(|v| v.to_str().ok());
            self.trusted_proxies.client_address(peer.ip(), forwarded)
        });
        let request = request.into_inner();
        let outcome = self.login_inner(address, request).await;
        let label = match &outcome {
            Ok(_) => "ok",
            Err(IdentityError::Unauthenticated { .. }) => "refused",
            Err(IdentityError::TooManyAttempts(_)) => "limited",
            Err(IdentityError::Invalid(_)) => "invalid",
            Err(_) => "error",
        };
        metrics::counter!("lms_identity_logins_total", "outcome" => label).increment(1);
        if let Err(e) = &outcome {
            if matches!(
                e,
                IdentityError::Internal(_) | IdentityError::Unavailable(_)
            ) {
                tracing::error!(error = %e, "login failed");
            } else {
                tracing::info!(outcome = label, "login refused");
            }
        }
        outcome.map(Response::new).map_err(Status::from)
    }

    async fn refresh(
        &self,
        request: Request<pb::RefreshRequest>,
    ) -> Result<Response<pb::Session>, Status> {
        let presented = SecretString::from(request.into_inner().refresh_token);
        let outcome = self.refresh_inner(presented).await;
        let label = match &outcome {
            Ok(_) => "ok",
            Err(IdentityError::Unauthenticated { reason, .. })
                if *reason == "REFRESH_TOKEN_REUSED" =>
            {
                "reused"
            }
            Err(IdentityError::Unauthenticated { .. }) => "refused",
            Err(_) => "error",
        };
        metrics::counter!("lms_identity_refreshes_total", "outcome" => label).increment(1);
        if label == "reused" {
            tracing::warn!("a used refresh token was presented again; its sign-in is revoked");
        }
        outcome.map(Response::new).map_err(Status::from)
    }

    async fn logout(
        &self,
        request: Request<pb::LogoutRequest>,
    ) -> Result<Response<pb::LogoutReply>, Status> {
        let presented = SecretString::from(request.into_inner().refresh_token);
        if refresh::well_formed(presented.expose_secret()) {
            self.store
                .revoke_family_of(&refresh::digest(&presented))
                .await
                .map_err(|e| Status::from(IdentityError::from(e)))?;
        }
        // The same answer for an unknown token: logging out is idempotent.
        Ok(Response::new(pb::LogoutReply {}))
    }

    async fn get_me(&self, request: Request<pb::GetMeRequest>) -> Result<Response<pb::Me>, Status> {
        let principal = principal(&request)?.clone();
        let user_id = UserId(principal.user_id);
        let (user, _) = self
            .users
            .load(&principal.tenant_id, &user_id.to_string())
            .await
            .map_err(Status::from)?;
        let profile = user
            .profile()
            .ok_or_else(|| Status::from(IdentityError::NotFound))?;
        Ok(Response::new(pb::Me {
            user_id: user_id.to_string(),
            tenant_id: principal.tenant_id,
            email: user.email().to_string(),
            display_name: profile.display_name.clone(),
            locale: profile.locale.clone(),
            time_zone: profile.time_zone.clone(),
            opted_out: profile
                .opted_out
                .iter()
                .map(|c| c.as_str().to_string())
                .collect(),
            roles: role_names(user.roles()),
        }))
    }

    async fn update_profile(
        &self,
        request: Request<pb::UpdateProfileRequest>,
    ) -> Result<Response<CommandReply>, Status> {
        let caller = token_caller(&request);
        handle_as(
            &*self.clock,
            "UpdateProfile",
            request,
            caller,
            |ctx, r| async move {
                let target = self.target(&ctx, &r.user_id).await?;
                let opted_out = r
                    .notifications
                    .map(|n| parse_categories(&n.opted_out))
                    .transpose()?;
                let command = UserCommand::UpdateProfile {
                    actor: ctx.actor,
                    display_name: r.display_name,
                    locale: r.locale.map(|l| l.trim().to_string()),
                    time_zone: r.time_zone.map(|z| z.trim().to_string()),
                    opted_out,
                };
                self.user_command(&ctx, target, command).await
            },
        )
        .await
    }

    async fn change_password(
        &self,
        request: Request<pb::ChangePasswordRequest>,
    ) -> Result<Response<CommandReply>, Status> {
        let caller = token_caller(&request);
        handle_as(
            &*self.clock,
            "ChangePassword",
            request,
            caller,
            |ctx, r| async move { self.change_password(&ctx, r).await },
        )
        .await
    }

    async fn grant_role(
        &self,
        request: Request<pb::RoleRequest>,
    ) -> Result<Response<CommandReply>, Status> {
        self.change_role(request, "GrantRole", |actor, role| UserCommand::GrantRole {
            actor,
            role,
        })
        .await
    }

    async fn revoke_role(
        &self,
        request: Request<pb::RoleRequest>,
    ) -> Result<Response<CommandReply>, Status> {
        self.change_role(request, "RevokeRole", |actor, role| {
            UserCommand::RevokeRole { actor, role }
        })
        .await
    }
}

impl IdentityService {
    async fn login_inner(
        &self,
        address: Option<std::net::IpAddr>,
        request: pb::LoginRequest,
    ) -> Result<pb::Session, IdentityError> {
        let tenant = tenant_or_default(&request.tenant_id)?;
        let email = normalize_email(&request.email);
        let password = SecretString::from(request.password);
        if email.is_empty() || password.expose_secret().is_empty() {
            let mut violations = Vec::new();
            if email.is_empty() {
                violations.push(FieldViolation::new("email", "is required"));
            }
            if password.expose_secret().is_empty() {
                violations.push(FieldViolation::new("password", "is required"));
            }
            return Err(IdentityError::Invalid(violations));
        }
        self.limits
            .attempt(&account_key(&tenant, &email), address)
            .map_err(IdentityError::TooManyAttempts)?;
        let credential = self.store.by_email(&tenant, &email).await?;
        let (user_id, stored) = match credential {
            Some(c) => (Some(c.user_id), Some(c.password_hash)),
            None => (None, None),
        };
        let matches = self
            .hasher
            .verify(&password, stored)
            .await
            .map_err(|e| IdentityError::Internal(e.to_string()))?;
        let Some(user_id) = user_id.filter(|_| matches) else {
            return Err(IdentityError::Unauthenticated {
                reason: "INVALID_CREDENTIALS",
                message: "wrong email or password",
            });
        };
        let refresh_token =
            refresh::generate().map_err(|e| IdentityError::Internal(e.to_string()))?;
        let refresh_lifetime =
            chrono::Duration::from_std(self.refresh_lifetime).unwrap_or(chrono::Duration::days(30));
        let expires_at = self.clock.now() + refresh_lifetime;
        self.store
            .start_family(
                &refresh::digest(&refresh_token),
                user_id,
                &tenant,
                expires_at,
            )
            .await?;
        self.session(user_id, &tenant, refresh_token, expires_at.timestamp())
            .await
    }

    async fn refresh_inner(&self, presented: SecretString) -> Result<pb::Session, IdentityError> {
        let invalid = IdentityError::Unauthenticated {
            reason: "REFRESH_TOKEN_INVALID",
            message: "the refresh token is not valid; sign in again",
        };
        if !refresh::well_formed(presented.expose_secret()) {
            return Err(invalid);
        }
        let next = refresh::generate().map_err(|e| IdentityError::Internal(e.to_string()))?;
        match self
            .store
            .rotate(&refresh::digest(&presented), &refresh::digest(&next))
            .await?
        {
            Presented::Rotated {
                user_id,
                tenant_id,
                expires_at,
            } => {
                self.session(user_id, &tenant_id, next, expires_at.timestamp())
                    .await
            }
            Presented::Reused => Err(IdentityError::Unauthenticated {
                reason: "REFRESH_TOKEN_REUSED",
                message:
                    "this refresh token was already used; every session of this sign-in is revoked",
            }),
            Presented::Invalid => Err(invalid),
        }
    }
}
