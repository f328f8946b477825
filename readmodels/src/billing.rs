//! Rows of the `billing` schema (projection `billing`).

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// Name of the projection writing this schema (`applied.projection`).
pub const PROJECTION: &str = "billing";

/// `billing.subscriptions`: one row per subscription (one per student).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SubscriptionRow {
    pub subscription_id: Uuid,
    pub student_id: Uuid,
    /// `basic` | `pro`.
    pub plan: String,
    /// `trialing` | `active` | `past_due` | `cancelled`.
    pub status: String,
    pub trial_ends_at: Option<DateTime<Utc>>,
    pub current_period_end: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
    pub tenant_id: String,
}

/// `billing.invoices`: one row per invoice.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct InvoiceRow {
    pub invoice_id: Uuid,
    pub subscription_id: Uuid,
    pub student_id: Uuid,
    pub amount_cents: i64,
    pub currency: String,
    pub period_start: DateTime<Utc>,
    pub period_end: DateTime<Utc>,
    pub payment_reference: String,
    pub issued_at: DateTime<Utc>,
    pub tenant_id: String,
}

/// The student's subscription, if it is `tenant`'s.
pub async fn subscription_of_student(
    db: impl sqlx::PgExecutor<'_>,
    tenant: &str,
    student_id: Uuid,
) -> Result<Option<SubscriptionRow>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM billing.subscriptions WHERE student_id = $1 AND tenant_id = $2")
        .bind(student_id)
        .bind(tenant)
        .fetch_optional(db)
        .await
}

/// Up to `limit` invoices of a student in `tenant`, newest first, after
/// `after` = (issued_at micros, invoice_id) of the previous page's last one.
pub async fn invoices_of_student(
    db: impl sqlx::PgExecutor<'_>,
    tenant: &str,
    student_id: Uuid,
    after: Option<(i64, Uuid)>,
    limit: i64,
) -> Result<Vec<InvoiceRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT * FROM billing.invoices
          WHERE student_id = $1 AND tenant_id = $5
            AND ($2::timestamptz IS NULL
                 OR (issued_at, invoice_id) < ($2, $3::uuid))
          ORDER BY issued_at DESC, invoice_id DESC
          LIMIT $4",
    )
    .bind(student_id)
    .bind(after.and_then(|(micros, _)| DateTime::<Utc>::from_timestamp_micros(micros)))
    .bind(after.map(|(_, id)| id))
    .bind(limit)
    .bind(tenant)
    .fetch_all(db)
    .await
}
