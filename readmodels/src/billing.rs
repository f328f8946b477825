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
}
