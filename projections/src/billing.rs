//! `billing`: subscription events → `billing.subscriptions` and
//! `billing.invoices` (Postgres only).

use crate::projection::{ApplyError, Projection};
use crate::redis_effects::RedisEffects;
use lms_domain::subscription::SubscriptionEvent;
use lms_schemas::{DecodedEvent, LmsEvent};
use sqlx::PgConnection;
use uuid::Uuid;

pub struct BillingProjection;

impl Projection for BillingProjection {
    fn name(&self) -> &'static str {
        "billing"
    }

    fn schema(&self) -> &'static str {
        "billing"
    }

    fn topics(&self) -> &'static [&'static str] {
        &["lms.subscription.v1"]
    }

    async fn apply(
        &self,
        tx: &mut PgConnection,
        schema: &str,
        event: &DecodedEvent,
        _redis: &mut RedisEffects,
    ) -> Result<(), ApplyError> {
        let LmsEvent::Subscription(subscription_event) = &event.event else {
            return Ok(());
        };
        let id = Uuid::parse_str(&event.envelope.aggregate_id)
            .map_err(|e| ApplyError::Rejected(format!("subscription id: {e}")))?;
        let at = event.envelope.occurred_at;
        let set_status = |set: &str| {
            format!(
                "UPDATE {schema}.subscriptions SET {set}, updated_at = $2 WHERE subscription_id = $1"
            )
        };
        match subscription_event {
            SubscriptionEvent::TrialStarted {
                student_id,
                plan,
                trial_ends_at,
                ..
            } => {
                sqlx::query(&format!(
                    "INSERT INTO {schema}.subscriptions
                         (subscription_id, student_id, plan, status, trial_ends_at, updated_at)
                     VALUES ($1, $2, $3, 'trialing', $4, $5)
                     ON CONFLICT (subscription_id) DO NOTHING"
                ))
                .bind(id)
                .bind(student_id.0)
                .bind(plan.code())
                .bind(trial_ends_at)
                .bind(at)
                .execute(&mut *tx)
                .await?;
            }
            SubscriptionEvent::InvoiceIssued {
                invoice_id,
                amount_cents,
                currency,
                period_start,
                period_end,
                payment_reference,
            } => {
                // The first invoice comes before SubscriptionActivated: the
                // student is filled in from the subscription once it is known.
                sqlx::query(
                    &format!(
"INSERT INTO {schema}.invoices (invoice_id, subscription_id, student_id, amount_cents,
                         currency, period_start, period_end, payment_reference, issued_at)
                     VALUES ($1, $2,
                             COALESCE((SELECT student_id FROM {schema}.subscriptions WHERE subscription_id = $2),
                                      '00000000-0000-0000-0000-000000000000'::uuid),
                             $3, $4, $5, $6, $7, $8)
                     ON CONFLICT (invoice_id) DO NOTHING"),
                )
                .bind(invoice_id.0)
                .bind(id)
                .bind(*amount_cents as i64)
                .bind(currency)
                .bind(period_start)
                .bind(period_end)
                .bind(payment_reference)
                .bind(at)
                .execute(&mut *tx)
                .await?;
            }
            SubscriptionEvent::SubscriptionActivated {
                student_id,
                plan,
                period_end,
                ..
            } => {
                sqlx::query(&format!(
                    "INSERT INTO {schema}.subscriptions
                         (subscription_id, student_id, plan, status, current_period_end, updated_at)
                     VALUES ($1, $2, $3, 'active', $4, $5)
                     ON CONFLICT (subscription_id) DO UPDATE
                        SET plan = EXCLUDED.plan, status = 'active',
                            current_period_end = EXCLUDED.current_period_end,
                            updated_at = EXCLUDED.updated_at"
                ))
                .bind(id)
                .bind(student_id.0)
                .bind(plan.code())
                .bind(period_end)
                .bind(at)
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    &format!(
"UPDATE {schema}.invoices SET student_id = $2
                      WHERE subscription_id = $1 AND student_id = '00000000-0000-0000-0000-000000000000'::uuid"),
                )
                .bind(id)
                .bind(student_id.0)
                .execute(&mut *tx)
                .await?;
            }
            SubscriptionEvent::SubscriptionRenewed { period_end, .. } => {
                sqlx::query(&set_status("status = 'active', current_period_end = $3"))
                    .bind(id)
                    .bind(at)
                    .bind(period_end)
                    .execute(&mut *tx)
                    .await?;
            }
            SubscriptionEvent::SubscriptionMarkedPastDue => {
                sqlx::query(&set_status("status = 'past_due'"))
                    .bind(id)
                    .bind(at)
                    .execute(&mut *tx)
                    .await?;
            }
            SubscriptionEvent::SubscriptionCancelled { .. } => {
                sqlx::query(&set_status("status = 'cancelled'"))
                    .bind(id)
                    .bind(at)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        Ok(())
    }
}
