//! `billing`: subscription events → `billing.subscriptions` and
//! `billing.invoices` (Postgres only).
//!
//! A rebuild's batch goes set-based: the rows the batch touches are loaded
//! once, the events folded into them in memory as the per-event SQL would,
//! and the changed rows written with one UNNEST upsert per table.

use crate::projection::{ApplyError, BatchError, Projection};
use crate::redis_effects::{BatchEffects, RedisEffects};
use chrono::{DateTime, Utc};
use lms_domain::subscription::SubscriptionEvent;
use lms_schemas::{DecodedEvent, Envelope, LmsEvent};
use sqlx::PgConnection;
use std::collections::{BTreeMap, BTreeSet};
use uuid::Uuid;

/// The student of an invoice issued before its subscription was known.
const NO_STUDENT: Uuid = Uuid::nil();

pub struct BillingProjection;

impl Projection for BillingProjection {
    fn name(&self) -> &'static str {
        crate::workers::ProjectionId::Billing.as_str()
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
        let tenant = &event.envelope.tenant_id;
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
                         (subscription_id, student_id, plan, status, trial_ends_at, updated_at,
                          tenant_id)
                     VALUES ($1, $2, $3, 'trialing', $4, $5, $6)
                     ON CONFLICT (subscription_id) DO NOTHING"
                ))
                .bind(id)
                .bind(student_id.0)
                .bind(plan.code())
                .bind(trial_ends_at)
                .bind(at)
                .bind(tenant)
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
                         currency, period_start, period_end, payment_reference, issued_at, tenant_id)
                     VALUES ($1, $2,
                             COALESCE((SELECT student_id FROM {schema}.subscriptions WHERE subscription_id = $2),
                                      '00000000-0000-0000-0000-000000000000'::uuid),
                             $3, $4, $5, $6, $7, $8, $9)
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
                .bind(tenant)
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
                         (subscription_id, student_id, plan, status, current_period_end, updated_at,
                          tenant_id)
                     VALUES ($1, $2, $3, 'active', $4, $5, $6)
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
                .bind(tenant)
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

    /// No Redis effects.
    fn live_batches(&self) -> bool {
        true
    }

    async fn apply_batch(
        &self,
        tx: &mut PgConnection,
        schema: &str,
        events: &[DecodedEvent],
        _effects: &mut BatchEffects,
    ) -> Result<(), BatchError> {
        let mut batch = Vec::with_capacity(events.len());
        let (mut subscription_ids, mut invoice_ids, mut activated) =
            (BTreeSet::new(), BTreeSet::new(), BTreeSet::new());
        for event in events {
            let LmsEvent::Subscription(subscription_event) = &event.event else {
                continue;
            };
            let id = Uuid::parse_str(&event.envelope.aggregate_id).map_err(|e| {
                BatchError::batch(ApplyError::Rejected(format!("subscription id: {e}")))
            })?;
            subscription_ids.insert(id);
            match subscription_event {
                SubscriptionEvent::InvoiceIssued { invoice_id, .. } => {
                    invoice_ids.insert(invoice_id.0);
                }
                SubscriptionEvent::SubscriptionActivated { .. } => {
                    activated.insert(id);
                }
                _ => {}
            }
            batch.push((id, &event.envelope, subscription_event));
        }
        if batch.is_empty() {
            return Ok(());
        }
        let mut state = Rows::load(
            tx,
            schema,
            &subscription_ids.into_iter().collect::<Vec<_>>(),
            &invoice_ids.into_iter().collect::<Vec<_>>(),
            &activated.into_iter().collect::<Vec<_>>(),
        )
        .await?;
        for (id, envelope, event) in batch {
            state.fold(id, envelope, event)?;
        }
        state.store(tx, schema).await
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
struct SubscriptionRow {
    subscription_id: Uuid,
    student_id: Uuid,
    plan: String,
    status: String,
    trial_ends_at: Option<DateTime<Utc>>,
    current_period_end: Option<DateTime<Utc>>,
    updated_at: DateTime<Utc>,
    tenant_id: String,
}

#[derive(Debug, Clone, sqlx::FromRow)]
struct InvoiceRow {
    invoice_id: Uuid,
    subscription_id: Uuid,
    student_id: Uuid,
    amount_cents: i64,
    currency: String,
    period_start: DateTime<Utc>,
    period_end: DateTime<Utc>,
    payment_reference: String,
    issued_at: DateTime<Utc>,
    tenant_id: String,
}

/// The rows a batch can change, loaded before it and folded in memory.
struct Rows {
    subscriptions: BTreeMap<Uuid, SubscriptionRow>,
    /// Invoices of the batch already stored (ids only: a repeat is ignored).
    stored_invoices: BTreeSet<Uuid>,
    /// New invoices, and stored ones still waiting for their student.
    invoices: BTreeMap<Uuid, InvoiceRow>,
    changed_subscriptions: BTreeSet<Uuid>,
    changed_invoices: BTreeSet<Uuid>,
}

impl Rows {
    async fn load(
        tx: &mut PgConnection,
        schema: &str,
        subscription_ids: &[Uuid],
        invoice_ids: &[Uuid],
        activated: &[Uuid],
    ) -> Result<Rows, BatchError> {
        let subscriptions = sqlx::query_as::<_, SubscriptionRow>(&format!(
            "SELECT subscription_id, student_id, plan, status, trial_ends_at, current_period_end,
                    updated_at, tenant_id
               FROM {schema}.subscriptions WHERE subscription_id = ANY($1)"
        ))
        .bind(subscription_ids)
        .fetch_all(&mut *tx)
        .await
        .map_err(BatchError::batch)?;
        let stored_invoices: Vec<Uuid> = if invoice_ids.is_empty() {
            Vec::new()
        } else {
            sqlx::query_scalar(&format!(
                "SELECT invoice_id FROM {schema}.invoices WHERE invoice_id = ANY($1)"
            ))
            .bind(invoice_ids)
            .fetch_all(&mut *tx)
            .await
            .map_err(BatchError::batch)?
        };
        let waiting = if activated.is_empty() {
            Vec::new()
        } else {
            sqlx::query_as::<_, InvoiceRow>(&format!(
                "SELECT invoice_id, subscription_id, student_id, amount_cents, currency,
                        period_start, period_end, payment_reference, issued_at, tenant_id
                   FROM {schema}.invoices
                  WHERE student_id = $1 AND subscription_id = ANY($2)"
            ))
            .bind(NO_STUDENT)
            .bind(activated)
            .fetch_all(&mut *tx)
            .await
            .map_err(BatchError::batch)?
        };
        Ok(Rows {
            subscriptions: subscriptions
                .into_iter()
                .map(|row| (row.subscription_id, row))
                .collect(),
            stored_invoices: stored_invoices.into_iter().collect(),
            invoices: waiting
                .into_iter()
                .map(|row| (row.invoice_id, row))
                .collect(),
            changed_subscriptions: BTreeSet::new(),
            changed_invoices: BTreeSet::new(),
        })
    }

    /// One event, as [`BillingProjection::apply`]'s SQL changes the rows.
    fn fold(
        &mut self,
        id: Uuid,
        envelope: &Envelope,
        event: &SubscriptionEvent,
    ) -> Result<(), BatchError> {
        let at = envelope.occurred_at;
        let changed = match event {
            SubscriptionEvent::TrialStarted {
                student_id,
                plan,
                trial_ends_at,
                ..
            } => {
                if self.subscriptions.contains_key(&id) {
                    return Ok(());
                }
                self.subscriptions.insert(
                    id,
                    SubscriptionRow {
                        subscription_id: id,
                        student_id: student_id.0,
                        plan: plan.code().into(),
                        status: "trialing".into(),
                        trial_ends_at: Some(*trial_ends_at),
                        current_period_end: None,
                        updated_at: at,
                        tenant_id: envelope.tenant_id.clone(),
                    },
                );
                true
            }
            SubscriptionEvent::InvoiceIssued {
                invoice_id,
                amount_cents,
                currency,
                period_start,
                period_end,
                payment_reference,
            } => {
                let invoice_id = invoice_id.0;
                if self.stored_invoices.contains(&invoice_id)
                    || self.invoices.contains_key(&invoice_id)
                {
                    return Ok(());
                }
                let amount_cents = i64::try_from(*amount_cents).map_err(|_| {
                    BatchError::batch(ApplyError::Rejected("amount_cents out of range".into()))
                })?;
                let student_id = self
                    .subscriptions
                    .get(&id)
                    .map_or(NO_STUDENT, |s| s.student_id);
                self.invoices.insert(
                    invoice_id,
                    InvoiceRow {
                        invoice_id,
                        subscription_id: id,
                        student_id,
                        amount_cents,
                        currency: currency.clone(),
                        period_start: *period_start,
                        period_end: *period_end,
                        payment_reference: payment_reference.clone(),
                        issued_at: at,
                        tenant_id: envelope.tenant_id.clone(),
                    },
                );
                self.changed_invoices.insert(invoice_id);
                return Ok(());
            }
            SubscriptionEvent::SubscriptionActivated {
                student_id,
                plan,
                period_end,
                ..
            } => {
                let row = self
                    .subscriptions
                    .entry(id)
                    .or_insert_with(|| SubscriptionRow {
                        subscription_id: id,
                        student_id: student_id.0,
                        plan: String::new(),
                        status: String::new(),
                        trial_ends_at: None,
                        current_period_end: None,
                        updated_at: at,
                        tenant_id: envelope.tenant_id.clone(),
                    });
                row.plan = plan.code().into();
                row.status = "active".into();
                row.current_period_end = Some(*period_end);
                row.updated_at = at;
                for invoice in self.invoices.values_mut() {
                    if invoice.subscription_id == id && invoice.student_id == NO_STUDENT {
                        invoice.student_id = student_id.0;
                        self.changed_invoices.insert(invoice.invoice_id);
                    }
                }
                true
            }
            SubscriptionEvent::SubscriptionRenewed { period_end, .. } => {
                self.update(id, at, "active", Some(*period_end))
            }
            SubscriptionEvent::SubscriptionMarkedPastDue => self.update(id, at, "past_due", None),
            SubscriptionEvent::SubscriptionCancelled { .. } => {
                self.update(id, at, "cancelled", None)
            }
        };
        if changed {
            self.changed_subscriptions.insert(id);
        }
        Ok(())
    }

    /// An UPDATE of the status (and period end): nothing when the row is missing.
    fn update(
        &mut self,
        id: Uuid,
        at: DateTime<Utc>,
        status: &str,
        period_end: Option<DateTime<Utc>>,
    ) -> bool {
        let Some(row) = self.subscriptions.get_mut(&id) else {
            return false;
        };
        row.status = status.into();
        if period_end.is_some() {
            row.current_period_end = period_end;
        }
        row.updated_at = at;
        true
    }

    async fn store(&self, tx: &mut PgConnection, schema: &str) -> Result<(), BatchError> {
        let subscriptions: Vec<&SubscriptionRow> = self
            .changed_subscriptions
            .iter()
            .filter_map(|id| self.subscriptions.get(id))
            .collect();
        if !subscriptions.is_empty() {
            let rows = &subscriptions;
            sqlx::query(&format!(
                "INSERT INTO {schema}.subscriptions AS s (subscription_id, student_id, plan, status,
                        trial_ends_at, current_period_end, updated_at, tenant_id)
                 SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::text[], $4::text[],
                                      $5::timestamptz[], $6::timestamptz[], $7::timestamptz[],
                                      $8::text[])
                 ON CONFLICT (subscription_id) DO UPDATE
                    SET plan = EXCLUDED.plan, status = EXCLUDED.status,
                        trial_ends_at = EXCLUDED.trial_ends_at,
                        current_period_end = EXCLUDED.current_period_end,
                        updated_at = EXCLUDED.updated_at"
            ))
            .bind(rows.iter().map(|r| r.subscription_id).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.student_id).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.plan.as_str()).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.status.as_str()).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.trial_ends_at).collect::<Vec<_>>())
            .bind(
                rows.iter()
                    .map(|r| r.current_period_end)
                    .collect::<Vec<_>>(),
            )
            .bind(rows.iter().map(|r| r.updated_at).collect::<Vec<_>>())
            .bind(
                rows.iter()
                    .map(|r| r.tenant_id.as_str())
                    .collect::<Vec<_>>(),
            )
            .execute(&mut *tx)
            .await
            .map_err(BatchError::batch)?;
        }
        let invoices: Vec<&InvoiceRow> = self
            .changed_invoices
            .iter()
            .filter_map(|id| self.invoices.get(id))
            .collect();
        if !invoices.is_empty() {
            let rows = &invoices;
            sqlx::query(&format!(
                "INSERT INTO {schema}.invoices AS i (invoice_id, subscription_id, student_id,
                        amount_cents, currency, period_start, period_end, payment_reference, issued_at,
                        tenant_id)
                 SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[], $4::bigint[], $5::text[],
                                      $6::timestamptz[], $7::timestamptz[], $8::text[], $9::timestamptz[],
                                      $10::text[])
                 ON CONFLICT (invoice_id) DO UPDATE SET student_id = EXCLUDED.student_id"
            ))
            .bind(rows.iter().map(|r| r.invoice_id).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.subscription_id).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.student_id).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.amount_cents).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.currency.as_str()).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.period_start).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.period_end).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.payment_reference.as_str()).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.issued_at).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.tenant_id.as_str()).collect::<Vec<_>>())
            .execute(&mut *tx)
            .await
            .map_err(BatchError::batch)?;
        }
        Ok(())
    }
}
