//! The Subscription aggregate (billing): trial → active ⇄ past due → cancelled,
//! renewals and invoices. Charging goes through the [`PaymentGateway`] port,
//! keyed by a deterministic invoice id so a retried command never charges twice.

use crate::actor::Actor;
use crate::clock::Clock;
use crate::course::Plan;
use crate::error::{
    describe, DomainError, ErrorKind, FieldViolation, Violations, PAYMENT_METHOD, REASON,
};
use crate::ids::{InvoiceId, SubscriptionId, UserId};
use crate::payment::{ChargeError, ChargeRequest, PaymentGateway};
use chrono::{DateTime, Duration, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

pub const TRIAL_DAYS: i64 = 14;
pub const PERIOD_DAYS: i64 = 30;
/// How long before the period ends an active subscription may be renewed.
pub const RENEWAL_WINDOW_DAYS: i64 = 7;
pub const CURRENCY: &str = "USD";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubscriptionStatus {
    #[default]
    None,
    Trialing,
    Active,
    PastDue,
    Cancelled,
}

/// Whether a student's subscription grants access to paid courses now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    Entitled { plan: Plan },
    NotEntitled,
}

#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subscription {
    id: Option<SubscriptionId>,
    student_id: Option<UserId>,
    status: SubscriptionStatus,
    plan: Option<Plan>,
    trial_used: bool,
    trial_ends_at: Option<DateTime<Utc>>,
    current_period_end: Option<DateTime<Utc>>,
    invoices_issued: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub enum SubscriptionCommand {
    StartTrial {
        actor: Actor,
        subscription_id: SubscriptionId,
        student_id: UserId,
        plan: Plan,
    },
    Activate {
        actor: Actor,
        subscription_id: SubscriptionId,
        student_id: UserId,
        plan: Plan,
        payment_method: String,
    },
    Renew {
        actor: Actor,
        payment_method: String,
    },
    /// Issued by billing operations (admin) when a period ended unpaid.
    MarkPastDue {
        actor: Actor,
    },
    Cancel {
        actor: Actor,
        reason: String,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum SubscriptionEvent {
    TrialStarted {
        subscription_id: SubscriptionId,
        student_id: UserId,
        plan: Plan,
        trial_ends_at: DateTime<Utc>,
    },
    InvoiceIssued {
        invoice_id: InvoiceId,
        amount_cents: u64,
        currency: String,
        period_start: DateTime<Utc>,
        period_end: DateTime<Utc>,
        payment_reference: String,
    },
    SubscriptionActivated {
        subscription_id: SubscriptionId,
        student_id: UserId,
        plan: Plan,
        period_start: DateTime<Utc>,
        period_end: DateTime<Utc>,
    },
    SubscriptionRenewed {
        period_start: DateTime<Utc>,
        period_end: DateTime<Utc>,
    },
    SubscriptionMarkedPastDue,
    SubscriptionCancelled {
        reason: String,
    },
}

impl DomainEvent for SubscriptionEvent {
    fn event_type(&self) -> String {
        match self {
            SubscriptionEvent::TrialStarted { .. } => "TrialStarted",
            SubscriptionEvent::InvoiceIssued { .. } => "InvoiceIssued",
            SubscriptionEvent::SubscriptionActivated { .. } => "SubscriptionActivated",
            SubscriptionEvent::SubscriptionRenewed { .. } => "SubscriptionRenewed",
            SubscriptionEvent::SubscriptionMarkedPastDue => "SubscriptionMarkedPastDue",
            SubscriptionEvent::SubscriptionCancelled { .. } => "SubscriptionCancelled",
        }
        .to_string()
    }

    fn event_version(&self) -> String {
        "1".to_string()
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SubscriptionError {
    #[error("invalid subscription command: {}", describe(.0))]
    Invalid(Vec<FieldViolation>),
    #[error("subscription not found")]
    NotFound,
    #[error("a student manages only their own subscription (or an admin)")]
    NotAllowed,
    #[error("the trial has already been used")]
    TrialAlreadyUsed,
    #[error("subscription is already active")]
    AlreadyActive,
    #[error("subscription cannot be {action} while {status:?}")]
    InvalidTransition {
        action: &'static str,
        status: SubscriptionStatus,
    },
    #[error("renewal opens {RENEWAL_WINDOW_DAYS} days before the period ends")]
    RenewalTooEarly,
    #[error("the current period has not ended yet")]
    PeriodNotEnded,
    #[error("payment declined: {0}")]
    PaymentDeclined(String),
    #[error("payment gateway unavailable: {0}")]
    GatewayUnavailable(String),
}

impl DomainError for SubscriptionError {
    fn not_found() -> Self {
        SubscriptionError::NotFound
    }

    fn kind(&self) -> ErrorKind {
        match self {
            SubscriptionError::Invalid(v) => ErrorKind::Invalid(v.clone()),
            SubscriptionError::NotFound => ErrorKind::NotFound,
            SubscriptionError::NotAllowed => ErrorKind::PermissionDenied,
            SubscriptionError::GatewayUnavailable(_) => ErrorKind::Unavailable,
            _ => ErrorKind::FailedPrecondition,
        }
    }

    fn reason(&self) -> &'static str {
        match self {
            SubscriptionError::Invalid(_) => "INVALID_ARGUMENT",
            SubscriptionError::NotFound => "SUBSCRIPTION_NOT_FOUND",
            SubscriptionError::NotAllowed => "NOT_ALLOWED_FOR_STUDENT",
            SubscriptionError::TrialAlreadyUsed => "TRIAL_ALREADY_USED",
            SubscriptionError::AlreadyActive => "SUBSCRIPTION_ALREADY_ACTIVE",
            SubscriptionError::InvalidTransition { .. } => "INVALID_SUBSCRIPTION_TRANSITION",
            SubscriptionError::RenewalTooEarly => "RENEWAL_TOO_EARLY",
            SubscriptionError::PeriodNotEnded => "PERIOD_NOT_ENDED",
            SubscriptionError::PaymentDeclined(_) => "PAYMENT_DECLINED",
            SubscriptionError::GatewayUnavailable(_) => "PAYMENT_GATEWAY_UNAVAILABLE",
        }
    }
}

impl From<ChargeError> for SubscriptionError {
    fn from(err: ChargeError) -> Self {
        match err {
            ChargeError::Declined(reason) => SubscriptionError::PaymentDeclined(reason),
            ChargeError::Unavailable(reason) => SubscriptionError::GatewayUnavailable(reason),
        }
    }
}

/// What a subscription decision may use: time and the payment gateway.
#[derive(Clone)]
pub struct SubscriptionServices {
    pub clock: Arc<dyn Clock>,
    pub gateway: Arc<dyn PaymentGateway>,
}

impl Subscription {
    pub fn exists(&self) -> bool {
        self.id.is_some()
    }

    pub fn status(&self) -> SubscriptionStatus {
        self.status
    }

    pub fn plan(&self) -> Option<Plan> {
        self.plan
    }

    pub fn current_period_end(&self) -> Option<DateTime<Utc>> {
        self.current_period_end
    }

    /// A trial grants access until it ends; an active subscription does; a
    /// past-due or cancelled one does not.
    pub fn standing(&self, now: DateTime<Utc>) -> Standing {
        match (self.status, self.plan) {
            (SubscriptionStatus::Trialing, Some(plan))
                if self.trial_ends_at.is_some_and(|end| now < end) =>
            {
                Standing::Entitled { plan }
            }
            // Entitlement ends with the paid period, even before billing
            // operations mark the subscription past due.
            (SubscriptionStatus::Active, Some(plan))
                if self.current_period_end.is_some_and(|end| now < end) =>
            {
                Standing::Entitled { plan }
            }
            _ => Standing::NotEntitled,
        }
    }

    fn ensure_actor(&self, actor: &Actor, student: UserId) -> Result<(), SubscriptionError> {
        if actor.may_act_for(student) {
            Ok(())
        } else {
            Err(SubscriptionError::NotAllowed)
        }
    }

    fn existing_student(&self, actor: &Actor) -> Result<UserId, SubscriptionError> {
        let student = self.student_id.ok_or(SubscriptionError::NotFound)?;
        self.ensure_actor(actor, student)?;
        Ok(student)
    }

    /// Charges the next period and returns the invoice event for it.
    async fn charge_period(
        &self,
        services: &SubscriptionServices,
        subscription_id: SubscriptionId,
        student: UserId,
        plan: Plan,
        payment_method: String,
        period_start: DateTime<Utc>,
    ) -> Result<SubscriptionEvent, SubscriptionError> {
        let invoice_id = InvoiceId::for_period(subscription_id, self.invoices_issued + 1);
        let request = ChargeRequest {
            invoice_id,
            customer: student,
            amount_cents: plan.monthly_price_cents(),
            currency: CURRENCY,
            payment_method,
        };
        let receipt = services.gateway.charge(&request).await?;
        Ok(SubscriptionEvent::InvoiceIssued {
            invoice_id,
            amount_cents: request.amount_cents,
            currency: CURRENCY.to_string(),
            period_start,
            period_end: period_start + Duration::days(PERIOD_DAYS),
            payment_reference: receipt.payment_reference,
        })
    }

    pub async fn decide(
        &self,
        command: SubscriptionCommand,
        services: &SubscriptionServices,
    ) -> Result<Vec<SubscriptionEvent>, SubscriptionError> {
        let violations = command.violations();
        if !violations.is_empty() {
            return Err(SubscriptionError::Invalid(violations));
        }
        let now = services.clock.now();
        match command {
            SubscriptionCommand::StartTrial {
                actor,
                subscription_id,
                student_id,
                plan,
            } => {
                self.ensure_actor(&actor, student_id)?;
                if self.trial_used {
                    return Err(SubscriptionError::TrialAlreadyUsed);
                }
                if self.status != SubscriptionStatus::None {
                    return Err(SubscriptionError::InvalidTransition {
                        action: "put on trial",
                        status: self.status,
                    });
                }
                Ok(vec![SubscriptionEvent::TrialStarted {
                    subscription_id,
                    student_id,
                    plan,
                    trial_ends_at: now + Duration::days(TRIAL_DAYS),
                }])
            }
            SubscriptionCommand::Activate {
                actor,
                subscription_id,
                student_id,
                plan,
                payment_method,
            } => {
                self.ensure_actor(&actor, student_id)?;
                if self.student_id.is_some_and(|owner| owner != student_id) {
                    return Err(SubscriptionError::NotAllowed);
                }
                match self.status {
                    SubscriptionStatus::Active => return Err(SubscriptionError::AlreadyActive),
                    SubscriptionStatus::PastDue => {
                        return Err(SubscriptionError::InvalidTransition {
                            action: "activated (renew it instead)",
                            status: self.status,
                        })
                    }
                    SubscriptionStatus::None
                    | SubscriptionStatus::Trialing
                    | SubscriptionStatus::Cancelled => {}
                }
                let invoice = self
                    .charge_period(
                        services,
                        subscription_id,
                        student_id,
                        plan,
                        payment_method,
                        now,
                    )
                    .await?;
                Ok(vec![
                    invoice,
                    SubscriptionEvent::SubscriptionActivated {
                        subscription_id,
                        student_id,
                        plan,
                        period_start: now,
                        period_end: now + Duration::days(PERIOD_DAYS),
                    },
                ])
            }
            SubscriptionCommand::Renew {
                actor,
                payment_method,
            } => {
                let student = self.existing_student(&actor)?;
                let (Some(id), Some(plan)) = (self.id, self.plan) else {
                    return Err(SubscriptionError::NotFound);
                };
                let period_start = match (self.status, self.current_period_end) {
                    (SubscriptionStatus::Active, Some(end)) => {
                        if now < end - Duration::days(RENEWAL_WINDOW_DAYS) {
                            return Err(SubscriptionError::RenewalTooEarly);
                        }
                        end
                    }
                    (SubscriptionStatus::PastDue, _) => now,
                    (status, _) => {
                        return Err(SubscriptionError::InvalidTransition {
                            action: "renewed",
                            status,
                        })
                    }
                };
                let invoice = self
                    .charge_period(services, id, student, plan, payment_method, period_start)
                    .await?;
                Ok(vec![
                    invoice,
                    SubscriptionEvent::SubscriptionRenewed {
                        period_start,
                        period_end: period_start + Duration::days(PERIOD_DAYS),
                    },
                ])
            }
            SubscriptionCommand::MarkPastDue { actor } => {
                if !self.exists() {
                    return Err(SubscriptionError::NotFound);
                }
                if !actor.is_admin() {
                    return Err(SubscriptionError::NotAllowed);
                }
                match (self.status, self.current_period_end) {
                    (SubscriptionStatus::Active, Some(end)) if now >= end => {
                        Ok(vec![SubscriptionEvent::SubscriptionMarkedPastDue])
                    }
                    (SubscriptionStatus::Active, _) => Err(SubscriptionError::PeriodNotEnded),
                    (status, _) => Err(SubscriptionError::InvalidTransition {
                        action: "marked past due",
                        status,
                    }),
                }
            }
            SubscriptionCommand::Cancel { actor, reason } => {
                self.existing_student(&actor)?;
                match self.status {
                    SubscriptionStatus::Trialing
                    | SubscriptionStatus::Active
                    | SubscriptionStatus::PastDue => {
                        Ok(vec![SubscriptionEvent::SubscriptionCancelled {
                            reason: reason.trim().to_string(),
                        }])
                    }
                    status => Err(SubscriptionError::InvalidTransition {
                        action: "cancelled",
                        status,
                    }),
                }
            }
        }
    }
}

impl SubscriptionCommand {
    /// Input errors visible from the command alone (see `CourseCommand::violations`).
    pub fn violations(&self) -> Vec<FieldViolation> {
        let mut v = Violations::default();
        match self {
            SubscriptionCommand::Activate { payment_method, .. }
            | SubscriptionCommand::Renew { payment_method, .. } => {
                v.text("payment_method", payment_method, PAYMENT_METHOD)
            }
            SubscriptionCommand::Cancel { reason, .. } => v.text("reason", reason, REASON),
            SubscriptionCommand::StartTrial { .. } | SubscriptionCommand::MarkPastDue { .. } => {}
        }
        v.into_vec()
    }
}

impl Aggregate for Subscription {
    const TYPE: &'static str = "Subscription";
    type Command = SubscriptionCommand;
    type Event = SubscriptionEvent;
    type Error = SubscriptionError;
    type Services = SubscriptionServices;

    async fn handle(
        &mut self,
        command: Self::Command,
        services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        for event in self.decide(command, services).await? {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        match event {
            SubscriptionEvent::TrialStarted {
                subscription_id,
                student_id,
                plan,
                trial_ends_at,
            } => {
                self.id = Some(subscription_id);
                self.student_id = Some(student_id);
                self.status = SubscriptionStatus::Trialing;
                self.plan = Some(plan);
                self.trial_used = true;
                self.trial_ends_at = Some(trial_ends_at);
            }
            SubscriptionEvent::InvoiceIssued { .. } => self.invoices_issued += 1,
            SubscriptionEvent::SubscriptionActivated {
                subscription_id,
                student_id,
                plan,
                period_end,
                ..
            } => {
                self.id = Some(subscription_id);
                self.student_id = Some(student_id);
                self.status = SubscriptionStatus::Active;
                self.plan = Some(plan);
                self.current_period_end = Some(period_end);
            }
            SubscriptionEvent::SubscriptionRenewed { period_end, .. } => {
                self.status = SubscriptionStatus::Active;
                self.current_period_end = Some(period_end);
            }
            SubscriptionEvent::SubscriptionMarkedPastDue => {
                self.status = SubscriptionStatus::PastDue
            }
            SubscriptionEvent::SubscriptionCancelled { .. } => {
                self.status = SubscriptionStatus::Cancelled
            }
        }
    }
}
