//! The identity tables: email claims with password hashes, and refresh
//! tokens (stored hashed). See migrations/1001_identity.sql.

use chrono::{DateTime, Utc};
use lms_domain::UserId;
use sqlx::{PgPool, Row};
use uuid::Uuid;

/// How long an email claim whose account was never written (a crash
/// between the claim and the UserRegistered append) blocks the address.
const STALE_CLAIM_MINUTES: i32 = 10;

/// Applies the identity migrations (after the event store's, same database).
pub async fn migrate(pool: &PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    let mut migrator = sqlx::migrate!("./migrations");
    migrator.set_ignore_missing(true);
    lms_runtime::database::run_migrations(pool, &migrator, None).await
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The address is ours (now, or since an earlier try of this command).
    Ours,
    /// Another account holds it.
    Taken,
}

#[derive(Debug, Clone)]
pub struct Credential {
    pub user_id: UserId,
    pub tenant_id: String,
    pub email: String,
    pub password_hash: String,
    pub password_command_id: String,
}

/// What presenting a refresh token found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Presented {
    /// Unused and live: it is now used, and `next` was stored in its family.
    Rotated {
        user_id: UserId,
        tenant_id: String,
        expires_at: DateTime<Utc>,
    },
    /// Already used (stolen, or replayed): its family is now revoked.
    Reused,
    /// Unknown, expired or revoked.
    Invalid,
}

#[derive(Clone)]
pub struct IdentityStore {
    pool: PgPool,
}

impl IdentityStore {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Claims `email` in `tenant` for `user_id`. Exactly one of concurrent
    /// claims wins (the unique key); a retry of the winner finds it ours.
    /// A stale claim whose account never appeared is taken over.
    pub async fn claim_email(
        &self,
        tenant: &str,
        email: &str,
        user_id: UserId,
        password_hash: &str,
        command_id: &str,
    ) -> Result<Claim, sqlx::Error> {
        let inserted = sqlx::query(
            "INSERT INTO identity_credentials (user_id, tenant_id, email, password_hash, password_command_id)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT DO NOTHING",
        )
        .bind(user_id.0)
        .bind(tenant)
        .bind(email)
        .bind(password_hash)
        .bind(command_id)
        .execute(&self.pool)
        .await?;
        if inserted.rows_affected() == 1 {
            return Ok(Claim::Ours);
        }
        let taken_over = sqlx::query(
            "UPDATE identity_credentials c
                SET user_id = $3, password_hash = $4, password_command_id = $5,
                    claimed_at = now(), updated_at = now()
              WHERE c.tenant_id = $1 AND c.email = $2 AND c.user_id <> $3
                AND c.claimed_at < now() - make_interval(mins => $6)
                AND NOT EXISTS (SELECT 1 FROM events e
                                 WHERE e.aggregate_type = 'User'
                                   AND e.aggregate_id = c.user_id::text)",
        )
        .bind(tenant)
        .bind(email)
        .bind(user_id.0)
        .bind(password_hash)
        .bind(command_id)
        .bind(STALE_CLAIM_MINUTES)
        .execute(&self.pool)
        .await?;
        if taken_over.rows_affected() == 1 {
            return Ok(Claim::Ours);
        }
        let owner: Option<Uuid> = sqlx::query_scalar(
            "SELECT user_id FROM identity_credentials WHERE tenant_id = $1 AND email = $2",
        )
        .bind(tenant)
        .bind(email)
        .fetch_optional(&self.pool)
        .await?;
        Ok(if owner == Some(user_id.0) {
            Claim::Ours
        } else {
            Claim::Taken
        })
    }

    pub async fn by_email(
        &self,
        tenant: &str,
        email: &str,
    ) -> Result<Option<Credential>, sqlx::Error> {
        let row = sqlx::query(
            "SELECT user_id, tenant_id, email, password_hash, password_command_id
               FROM identity_credentials WHERE tenant_id = $1 AND email = $2",
        )
        .bind(tenant)
        .bind(email)
        .fetch_optional(&self.pool)
        .await?;
        row.map(credential).transpose()
    }

    pub async fn by_user(&self, user_id: UserId) -> Result<Option<Credential>, sqlx::Error> {
        let row = sqlx::query(
            "SELECT user_id, tenant_id, email, password_hash, password_command_id
               FROM identity_credentials WHERE user_id = $1",
        )
        .bind(user_id.0)
        .fetch_optional(&self.pool)
        .await?;
        row.map(credential).transpose()
    }

    /// Replaces the hash if it is still `expected`, and revokes every
    /// sign-in of the user, in one transaction. False: it changed meanwhile.
    pub async fn set_password(
        &self,
        user_id: UserId,
        expected: &str,
        new_hash: &str,
        command_id: &str,
    ) -> Result<bool, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let updated = sqlx::query(
            "UPDATE identity_credentials
                SET password_hash = $3, password_command_id = $4, updated_at = now()
              WHERE user_id = $1 AND password_hash = $2",
        )
        .bind(user_id.0)
        .bind(expected)
        .bind(new_hash)
        .bind(command_id)
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() != 1 {
            return Ok(false);
        }
        sqlx::query(
            "UPDATE identity_refresh_tokens SET revoked_at = now()
              WHERE user_id = $1 AND revoked_at IS NULL",
        )
        .bind(user_id.0)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Stores the first token of a new sign-in.
    pub async fn start_family(
        &self,
        token_hash: &[u8],
        user_id: UserId,
        tenant: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO identity_refresh_tokens (token_hash, family_id, user_id, tenant_id, expires_at)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(token_hash)
        .bind(Uuid::now_v7())
        .bind(user_id.0)
        .bind(tenant)
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Uses the token `presented` and stores `next` in its family, or, if
    /// it was used before, revokes the family.
    pub async fn rotate(&self, presented: &[u8], next: &[u8]) -> Result<Presented, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(
            "SELECT family_id, user_id, tenant_id, expires_at, used_at IS NOT NULL AS used,
                    revoked_at IS NOT NULL OR expires_at <= now() AS dead
               FROM identity_refresh_tokens WHERE token_hash = $1 FOR UPDATE",
        )
        .bind(presented)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(Presented::Invalid);
        };
        let family: Uuid = row.try_get("family_id")?;
        let used: bool = row.try_get("used")?;
        let dead: bool = row.try_get("dead")?;
        if used {
            sqlx::query(
                "UPDATE identity_refresh_tokens SET revoked_at = now()
                  WHERE family_id = $1 AND revoked_at IS NULL",
            )
            .bind(family)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            return Ok(if dead {
                Presented::Invalid
            } else {
                Presented::Reused
            });
        }
        if dead {
            return Ok(Presented::Invalid);
        }
        let user_id: Uuid = row.try_get("user_id")?;
        let tenant_id: String = row.try_get("tenant_id")?;
        let expires_at: DateTime<Utc> = row.try_get("expires_at")?;
        sqlx::query("UPDATE identity_refresh_tokens SET used_at = now() WHERE token_hash = $1")
            .bind(presented)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO identity_refresh_tokens (token_hash, family_id, user_id, tenant_id, expires_at)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(next)
        .bind(family)
        .bind(user_id)
        .bind(&tenant_id)
        .bind(expires_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Presented::Rotated {
            user_id: UserId(user_id),
            tenant_id,
            expires_at,
        })
    }

    /// Revokes the family of `token`; false when the token is unknown.
    pub async fn revoke_family_of(&self, token: &[u8]) -> Result<bool, sqlx::Error> {
        let revoked = sqlx::query(
            "UPDATE identity_refresh_tokens SET revoked_at = now()
              WHERE family_id = (SELECT family_id FROM identity_refresh_tokens WHERE token_hash = $1)
                AND revoked_at IS NULL",
        )
        .bind(token)
        .execute(&self.pool)
        .await?;
        Ok(revoked.rows_affected() > 0)
    }

    /// Whether any token of `token`'s family is revoked (tests, audits).
    pub async fn family_revoked(&self, token: &[u8]) -> Result<bool, sqlx::Error> {
        sqlx::query_scalar(
            "SELECT bool_and(revoked_at IS NOT NULL) FROM identity_refresh_tokens
              WHERE family_id = (SELECT family_id FROM identity_refresh_tokens WHERE token_hash = $1)",
        )
        .bind(token)
        .fetch_one(&self.pool)
        .await
        .map(|revoked: Option<bool>| revoked.unwrap_or(false))
    }
}

fn credential(row: sqlx::postgres::PgRow) -> Result<Credential, sqlx::Error> {
    Ok(Credential {
        user_id: UserId(row.try_get("user_id")?),
        tenant_id: row.try_get("tenant_id")?,
        email: row.try_get("email")?,
        password_hash: row.try_get("password_hash")?,
        password_command_id: row.try_get("password_command_id")?,
    })
}
