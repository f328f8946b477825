//! `users`: account events → `users.accounts` (who a user id is, how to
//! address them, their roles and notification opt-outs), for the services
//! that address people (notifications) or show them (rosters with names).

use crate::projection::{ApplyError, Projection};
use crate::redis_effects::RedisEffects;
use lms_domain::user::UserEvent;
use lms_schemas::{DecodedEvent, LmsEvent};
use sqlx::PgConnection;
use uuid::Uuid;

pub struct UsersProjection;

impl Projection for UsersProjection {
    fn name(&self) -> &'static str {
        crate::workers::ProjectionId::Users.as_str()
    }

    fn schema(&self) -> &'static str {
        "users"
    }

    fn topics(&self) -> &'static [&'static str] {
        &["lms.user.v1"]
    }

    async fn apply(
        &self,
        tx: &mut PgConnection,
        schema: &str,
        event: &DecodedEvent,
        _redis: &mut RedisEffects,
    ) -> Result<(), ApplyError> {
        let LmsEvent::User(user_event) = &event.event else {
            return Ok(());
        };
        let envelope = &event.envelope;
        let at = envelope.occurred_at;
        let id = Uuid::parse_str(&envelope.aggregate_id)
            .map_err(|e| ApplyError::Rejected(format!("user id: {e}")))?;
        match user_event {
            UserEvent::UserRegistered {
                email,
                display_name,
                locale,
                time_zone,
                roles,
                ..
            } => {
                let roles: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
                sqlx::query(&format!(
                    "INSERT INTO {schema}.accounts (user_id, tenant_id, email, display_name,
                         locale, time_zone, roles, opted_out, registered_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, '{{}}', $8, $8)
                     ON CONFLICT (user_id) DO UPDATE
                        SET tenant_id = EXCLUDED.tenant_id, email = EXCLUDED.email,
                            display_name = EXCLUDED.display_name, locale = EXCLUDED.locale,
                            time_zone = EXCLUDED.time_zone, roles = EXCLUDED.roles,
                            opted_out = '{{}}', registered_at = EXCLUDED.registered_at,
                            updated_at = EXCLUDED.updated_at"
                ))
                .bind(id)
                .bind(&envelope.tenant_id)
                .bind(email)
                .bind(display_name)
                .bind(locale)
                .bind(time_zone)
                .bind(&roles)
                .bind(at)
                .execute(&mut *tx)
                .await?;
            }
            UserEvent::ProfileUpdated {
                display_name,
                locale,
                time_zone,
                opted_out,
            } => {
                let opted_out: Vec<&str> = opted_out.iter().map(|c| c.as_str()).collect();
                sqlx::query(&format!(
                    "UPDATE {schema}.accounts
                        SET display_name = $2, locale = $3, time_zone = $4, opted_out = $5,
                            updated_at = $6
                      WHERE user_id = $1"
                ))
                .bind(id)
                .bind(display_name)
                .bind(locale)
                .bind(time_zone)
                .bind(&opted_out)
                .bind(at)
                .execute(&mut *tx)
                .await?;
            }
            UserEvent::RoleGranted { role } => {
                sqlx::query(&format!(
                    "UPDATE {schema}.accounts
                        SET roles = CASE WHEN $2 = ANY(roles) THEN roles
                                         ELSE array_append(roles, $2) END,
                            updated_at = $3
                      WHERE user_id = $1"
                ))
                .bind(id)
                .bind(role.as_str())
                .bind(at)
                .execute(&mut *tx)
                .await?;
            }
            UserEvent::RoleRevoked { role } => {
                sqlx::query(&format!(
                    "UPDATE {schema}.accounts SET roles = array_remove(roles, $2), updated_at = $3
                      WHERE user_id = $1"
                ))
                .bind(id)
                .bind(role.as_str())
                .bind(at)
                .execute(&mut *tx)
                .await?;
            }
            // Nothing another service reads changes.
            UserEvent::PasswordChanged => {}
        }
        Ok(())
    }
}
