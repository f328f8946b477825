//! Rows of the `users` schema (projection `users`).

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// Name of the projection writing this schema (`applied.projection`).
pub const PROJECTION: &str = "users";

/// `users.accounts`: one row per account.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AccountRow {
    pub user_id: Uuid,
    pub tenant_id: String,
    /// Normalized (trimmed, lower-case).
    pub email: String,
    pub display_name: String,
    pub locale: String,
    pub time_zone: String,
    /// `student` | `instructor` | `admin`.
    pub roles: Vec<String>,
    /// Notification categories opted out of.
    pub opted_out: Vec<String>,
    pub registered_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub async fn account(
    db: impl sqlx::PgExecutor<'_>,
    user_id: Uuid,
) -> Result<Option<AccountRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT user_id, tenant_id, email, display_name, locale, time_zone, roles, opted_out,
                registered_at, updated_at
           FROM users.accounts WHERE user_id = $1",
    )
    .bind(user_id)
    .fetch_optional(db)
    .await
}
