//! Given/when/then tests of the Subscription aggregate, with a fixed clock and
//! a fake payment gateway that records what it was asked to charge.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use chrono::{DateTime, Utc};
use cqrs_es::test::TestFramework;
use cqrs_es::Aggregate;
use lms_domain::course::Plan;
use lms_domain::payment::ChargeRequest;
use lms_domain::subscription::{
    Standing, Subscription, SubscriptionCommand, SubscriptionError, SubscriptionEvent,
    SubscriptionStatus, CURRENCY, PERIOD_DAYS, RENEWAL_WINDOW_DAYS, TRIAL_DAYS,
};
use lms_domain::{Actor, DomainError, ErrorKind, InvoiceId};
use std::sync::Arc;
use support::*;

type Validator = cqrs_es::test::AggregateResultValidator<Subscription>;

/// Runs `command` at `now` against `given`, with a gateway in `mode`.
fn run_with(
    now: DateTime<Utc>,
    mode: GatewayMode,
    given: Vec<SubscriptionEvent>,
    command: SubscriptionCommand,
) -> (Validator, Arc<FakeGateway>) {
    let (services, gateway) = services_at(now, mode);
    let validator = TestFramework::<Subscription>::with(services)
        .given(given)
        .when(command);
    (validator, gateway)
}

fn run(
    now: DateTime<Utc>,
    given: Vec<SubscriptionEvent>,
    command: SubscriptionCommand,
) -> (Validator, Arc<FakeGateway>) {
    run_with(now, GatewayMode::Normal, given, command)
}

fn invoice(n: u32) -> InvoiceId {
    InvoiceId::for_period(subscription_id(), n)
}

fn start_trial(actor: Actor, plan: Plan) -> SubscriptionCommand {
    SubscriptionCommand::StartTrial {
        actor,
        subscription_id: subscription_id(),
        student_id: STUDENT,
        plan,
    }
}

fn activate(actor: Actor, plan: Plan, payment_method: &str) -> SubscriptionCommand {
    SubscriptionCommand::Activate {
        actor,
        subscription_id: subscription_id(),
        student_id: STUDENT,
        plan,
        payment_method: payment_method.into(),
    }
}

fn renew(actor: Actor, payment_method: &str) -> SubscriptionCommand {
    SubscriptionCommand::Renew {
        actor,
        payment_method: payment_method.into(),
    }
}

fn mark_past_due(actor: Actor) -> SubscriptionCommand {
    SubscriptionCommand::MarkPastDue { actor }
}

fn cancel(actor: Actor, reason: &str) -> SubscriptionCommand {
    SubscriptionCommand::Cancel {
        actor,
        reason: reason.into(),
    }
}

fn trial_started(at: DateTime<Utc>) -> SubscriptionEvent {
    SubscriptionEvent::TrialStarted {
        subscription_id: subscription_id(),
        student_id: STUDENT,
        plan: Plan::Basic,
        trial_ends_at: at + days(TRIAL_DAYS),
    }
}

fn invoice_issued(n: u32, plan: Plan, start: DateTime<Utc>) -> SubscriptionEvent {
    SubscriptionEvent::InvoiceIssued {
        invoice_id: invoice(n),
        amount_cents: plan.monthly_price_cents(),
        currency: CURRENCY.to_string(),
        period_start: start,
        period_end: start + days(PERIOD_DAYS),
        payment_reference: FakeGateway::reference_for(invoice(n)),
    }
}

/// The events of a successful activation with invoice number `n` at `at`.
fn activated(n: u32, plan: Plan, at: DateTime<Utc>) -> Vec<SubscriptionEvent> {
    vec![
        invoice_issued(n, plan, at),
        SubscriptionEvent::SubscriptionActivated {
            subscription_id: subscription_id(),
            student_id: STUDENT,
            plan,
            period_start: at,
            period_end: at + days(PERIOD_DAYS),
        },
    ]
}

/// Active on Basic since t0; the period ends at t0 + 30 days.
fn active() -> Vec<SubscriptionEvent> {
    activated(1, Plan::Basic, t0())
}

fn past_due() -> Vec<SubscriptionEvent> {
    let mut events = active();
    events.push(SubscriptionEvent::SubscriptionMarkedPastDue);
    events
}

fn cancelled() -> SubscriptionEvent {
    SubscriptionEvent::SubscriptionCancelled {
        reason: "too expensive".into(),
    }
}

fn charge(n: u32, plan: Plan, payment_method: &str) -> ChargeRequest {
    ChargeRequest {
        invoice_id: invoice(n),
        customer: STUDENT,
        amount_cents: plan.monthly_price_cents(),
        currency: CURRENCY,
        payment_method: payment_method.into(),
    }
}

// ---- StartTrial ---------------------------------------------------------------------

#[test]
fn start_trial_ends_fourteen_days_from_now() {
    let (then, gateway) = run(t0(), vec![], start_trial(student(), Plan::Basic));
    then.then_expect_events(vec![trial_started(t0())]);
    assert!(gateway.charges().is_empty(), "a trial charges nothing");
}

#[test]
fn start_trial_twice_is_refused() {
    let (then, _) = run(
        t0(),
        vec![trial_started(t0())],
        start_trial(student(), Plan::Basic),
    );
    then.then_expect_error(SubscriptionError::TrialAlreadyUsed);
}

#[test]
fn start_trial_after_cancelling_the_trial_is_refused() {
    let (then, _) = run(
        t0() + days(20),
        vec![trial_started(t0()), cancelled()],
        start_trial(student(), Plan::Pro),
    );
    then.then_expect_error(SubscriptionError::TrialAlreadyUsed);
}

#[test]
fn start_trial_while_active_is_refused() {
    let (then, _) = run(t0(), active(), start_trial(student(), Plan::Basic));
    then.then_expect_error(SubscriptionError::InvalidTransition {
        action: "put on trial",
        status: SubscriptionStatus::Active,
    });
}

#[test]
fn start_trial_for_someone_else_is_refused() {
    let (then, _) = run(t0(), vec![], start_trial(other_student(), Plan::Basic));
    then.then_expect_error(SubscriptionError::NotAllowed);
}

#[test]
fn admin_may_start_a_trial_for_a_student() {
    let (then, _) = run(t0(), vec![], start_trial(admin(), Plan::Basic));
    then.then_expect_events(vec![trial_started(t0())]);
}

// ---- Activate -----------------------------------------------------------------------

#[test]
fn activate_charges_the_plan_price_and_issues_the_invoice_first() {
    let (then, gateway) = run(t0(), vec![], activate(student(), Plan::Pro, CARD));
    then.then_expect_events(activated(1, Plan::Pro, t0()));
    assert_eq!(gateway.charges(), [charge(1, Plan::Pro, CARD)]);
    assert_eq!(gateway.charges()[0].amount_cents, 1999);
}

#[test]
fn activate_from_trial_charges_and_activates_now() {
    let now = t0() + days(10);
    let (then, gateway) = run(
        now,
        vec![trial_started(t0())],
        activate(student(), Plan::Basic, CARD),
    );
    then.then_expect_events(activated(1, Plan::Basic, now));
    assert_eq!(gateway.charges(), [charge(1, Plan::Basic, CARD)]);
}

#[test]
fn activate_again_after_cancelling_uses_the_next_invoice() {
    let now = t0() + days(40);
    let mut given = active();
    given.push(cancelled());
    let (then, gateway) = run(now, given, activate(student(), Plan::Pro, CARD));
    then.then_expect_events(activated(2, Plan::Pro, now));
    assert_eq!(gateway.charges(), [charge(2, Plan::Pro, CARD)]);
}

#[test]
fn activate_while_active_is_refused_without_charging() {
    let (then, gateway) = run(t0(), active(), activate(student(), Plan::Pro, CARD));
    then.then_expect_error(SubscriptionError::AlreadyActive);
    assert!(gateway.charges().is_empty());
}

#[test]
fn activate_while_past_due_is_refused() {
    let (then, gateway) = run(
        t0() + days(31),
        past_due(),
        activate(student(), Plan::Basic, CARD),
    );
    then.then_expect_error(SubscriptionError::InvalidTransition {
        action: "activated (renew it instead)",
        status: SubscriptionStatus::PastDue,
    });
    assert!(gateway.charges().is_empty());
}

#[test]
fn activate_with_a_declined_card_emits_nothing() {
    let (then, gateway) = run(
        t0(),
        vec![],
        activate(student(), Plan::Basic, DECLINED_METHOD),
    );
    then.then_expect_error(SubscriptionError::PaymentDeclined("card_declined".into()));
    assert_eq!(gateway.charges(), [charge(1, Plan::Basic, DECLINED_METHOD)]);
}

#[test]
fn activate_with_the_gateway_down_is_refused() {
    let (then, _) = run_with(
        t0(),
        GatewayMode::Unavailable,
        vec![],
        activate(student(), Plan::Basic, CARD),
    );
    then.then_expect_error(SubscriptionError::GatewayUnavailable("sandbox down".into()));
}

#[test]
fn activate_with_an_empty_payment_method_is_invalid_without_charging() {
    for method in ["", "   ", &"x".repeat(101)] {
        let (then, gateway) = run(t0(), vec![], activate(student(), Plan::Basic, method));
        match then.inspect_result() {
            Err(SubscriptionError::Invalid(v)) => {
                assert_eq!(v.len(), 1);
                assert_eq!(v[0].field, "payment_method");
            }
            other => panic!("expected Invalid for {method:?}, got {other:?}"),
        }
        assert!(gateway.charges().is_empty());
    }
}

#[test]
fn activate_for_someone_else_is_refused_without_charging() {
    let (then, gateway) = run(t0(), vec![], activate(other_student(), Plan::Basic, CARD));
    then.then_expect_error(SubscriptionError::NotAllowed);
    assert!(gateway.charges().is_empty());
}

// ---- Renew --------------------------------------------------------------------------

#[test]
fn renew_before_the_renewal_window_is_refused() {
    let now = t0() + days(PERIOD_DAYS - RENEWAL_WINDOW_DAYS) - days(1);
    let (then, gateway) = run(now, active(), renew(student(), CARD));
    then.then_expect_error(SubscriptionError::RenewalTooEarly);
    assert!(gateway.charges().is_empty());
}

#[test]
fn renew_inside_the_window_starts_at_the_old_period_end() {
    let now = t0() + days(25);
    let old_end = t0() + days(PERIOD_DAYS);
    let (then, gateway) = run(now, active(), renew(student(), CARD));
    then.then_expect_events(vec![
        invoice_issued(2, Plan::Basic, old_end),
        SubscriptionEvent::SubscriptionRenewed {
            period_start: old_end,
            period_end: old_end + days(PERIOD_DAYS),
        },
    ]);
    assert_eq!(gateway.charges(), [charge(2, Plan::Basic, CARD)]);
}

#[test]
fn renew_exactly_when_the_window_opens_is_allowed() {
    let now = t0() + days(PERIOD_DAYS - RENEWAL_WINDOW_DAYS);
    let (then, _) = run(now, active(), renew(student(), CARD));
    let events = then.inspect_result().unwrap();
    assert_eq!(events.len(), 2);
}

#[test]
fn renewal_invoice_id_differs_from_the_first_period() {
    let (then, gateway) = run(t0() + days(25), active(), renew(student(), CARD));
    let events = then.inspect_result().unwrap();
    let SubscriptionEvent::InvoiceIssued { invoice_id, .. } = &events[0] else {
        panic!("expected InvoiceIssued first, got {events:?}");
    };
    assert_ne!(*invoice_id, invoice(1));
    assert_eq!(gateway.charges()[0].invoice_id, *invoice_id);
}

#[test]
fn renew_when_past_due_starts_now() {
    let now = t0() + days(35);
    let (then, _) = run(now, past_due(), renew(student(), CARD));
    then.then_expect_events(vec![
        invoice_issued(2, Plan::Basic, now),
        SubscriptionEvent::SubscriptionRenewed {
            period_start: now,
            period_end: now + days(PERIOD_DAYS),
        },
    ]);
}

#[test]
fn renew_a_trial_is_refused() {
    let (then, _) = run(t0(), vec![trial_started(t0())], renew(student(), CARD));
    then.then_expect_error(SubscriptionError::InvalidTransition {
        action: "renewed",
        status: SubscriptionStatus::Trialing,
    });
}

#[test]
fn renew_a_cancelled_subscription_is_refused() {
    let mut given = active();
    given.push(cancelled());
    let (then, _) = run(t0() + days(25), given, renew(student(), CARD));
    then.then_expect_error(SubscriptionError::InvalidTransition {
        action: "renewed",
        status: SubscriptionStatus::Cancelled,
    });
}

#[test]
fn renew_a_missing_subscription_is_not_found() {
    let (then, _) = run(t0(), vec![], renew(student(), CARD));
    then.then_expect_error(SubscriptionError::NotFound);
}

#[test]
fn renew_with_a_declined_card_emits_nothing() {
    let (then, _) = run(t0() + days(25), active(), renew(student(), DECLINED_METHOD));
    then.then_expect_error(SubscriptionError::PaymentDeclined("card_declined".into()));
}

#[test]
fn renew_someone_elses_subscription_is_refused() {
    let (then, gateway) = run(t0() + days(25), active(), renew(other_student(), CARD));
    then.then_expect_error(SubscriptionError::NotAllowed);
    assert!(gateway.charges().is_empty());
}

#[test]
fn renew_with_an_empty_payment_method_is_invalid() {
    let (then, _) = run(t0() + days(25), active(), renew(student(), " "));
    assert!(matches!(
        then.inspect_result(),
        Err(SubscriptionError::Invalid(v)) if v.len() == 1 && v[0].field == "payment_method"
    ));
}

// ---- MarkPastDue --------------------------------------------------------------------

#[test]
fn mark_past_due_by_a_student_is_refused() {
    let (then, _) = run(t0() + days(31), active(), mark_past_due(student()));
    then.then_expect_error(SubscriptionError::NotAllowed);
}

#[test]
fn mark_past_due_before_the_period_ends_is_refused() {
    let now = t0() + days(PERIOD_DAYS) - chrono::Duration::seconds(1);
    let (then, _) = run(now, active(), mark_past_due(admin()));
    then.then_expect_error(SubscriptionError::PeriodNotEnded);
}

#[test]
fn mark_past_due_once_the_period_ended() {
    let (then, _) = run(t0() + days(PERIOD_DAYS), active(), mark_past_due(admin()));
    then.then_expect_events(vec![SubscriptionEvent::SubscriptionMarkedPastDue]);
}

#[test]
fn mark_past_due_when_not_active_is_refused() {
    let (then, _) = run(t0() + days(40), past_due(), mark_past_due(admin()));
    then.then_expect_error(SubscriptionError::InvalidTransition {
        action: "marked past due",
        status: SubscriptionStatus::PastDue,
    });
}

#[test]
fn mark_past_due_on_a_missing_subscription_is_not_found() {
    let (then, _) = run(t0(), vec![], mark_past_due(admin()));
    then.then_expect_error(SubscriptionError::NotFound);
}

// ---- Cancel -------------------------------------------------------------------------

#[test]
fn cancel_a_trial_active_or_past_due_subscription() {
    for given in [vec![trial_started(t0())], active(), past_due()] {
        let (then, _) = run(
            t0() + days(31),
            given,
            cancel(student(), "  too expensive "),
        );
        then.then_expect_events(vec![cancelled()]);
    }
}

#[test]
fn cancel_twice_is_refused() {
    let mut given = active();
    given.push(cancelled());
    let (then, _) = run(t0(), given, cancel(student(), "again"));
    then.then_expect_error(SubscriptionError::InvalidTransition {
        action: "cancelled",
        status: SubscriptionStatus::Cancelled,
    });
}

#[test]
fn cancel_a_missing_subscription_is_not_found() {
    let (then, _) = run(t0(), vec![], cancel(student(), "bye"));
    then.then_expect_error(SubscriptionError::NotFound);
}

#[test]
fn cancel_someone_elses_subscription_is_refused() {
    let (then, _) = run(t0(), active(), cancel(other_student(), "bye"));
    then.then_expect_error(SubscriptionError::NotAllowed);
}

#[test]
fn admin_may_cancel_a_subscription() {
    let (then, _) = run(t0(), active(), cancel(admin(), "too expensive"));
    then.then_expect_events(vec![cancelled()]);
}

// ---- Standing -----------------------------------------------------------------------

fn replay(events: Vec<SubscriptionEvent>) -> Subscription {
    let mut subscription = Subscription::default();
    for event in events {
        subscription.apply(event);
    }
    subscription
}

#[test]
fn a_trial_is_entitled_until_it_ends() {
    let trial = replay(vec![trial_started(t0())]);
    let end = t0() + days(TRIAL_DAYS);
    assert_eq!(trial.status(), SubscriptionStatus::Trialing);
    assert_eq!(
        trial.standing(end - chrono::Duration::seconds(1)),
        Standing::Entitled { plan: Plan::Basic }
    );
    assert_eq!(trial.standing(end), Standing::NotEntitled);
}

#[test]
fn an_active_subscription_is_entitled_to_its_plan() {
    let sub = replay(activated(1, Plan::Pro, t0()));
    assert_eq!(sub.status(), SubscriptionStatus::Active);
    assert_eq!(sub.plan(), Some(Plan::Pro));
    assert_eq!(sub.current_period_end(), Some(t0() + days(PERIOD_DAYS)));
    assert_eq!(
        sub.standing(t0() + days(1)),
        Standing::Entitled { plan: Plan::Pro }
    );
}

#[test]
fn a_renewed_subscription_extends_its_period() {
    let mut events = active();
    events.push(SubscriptionEvent::SubscriptionRenewed {
        period_start: t0() + days(30),
        period_end: t0() + days(60),
    });
    let sub = replay(events);
    assert_eq!(sub.current_period_end(), Some(t0() + days(60)));
    assert_eq!(sub.status(), SubscriptionStatus::Active);
}

#[test]
fn past_due_cancelled_and_missing_subscriptions_are_not_entitled() {
    let mut cancelled_events = active();
    cancelled_events.push(cancelled());
    for (events, status) in [
        (past_due(), SubscriptionStatus::PastDue),
        (cancelled_events, SubscriptionStatus::Cancelled),
        (vec![], SubscriptionStatus::None),
    ] {
        let sub = replay(events);
        assert_eq!(sub.status(), status);
        assert_eq!(
            sub.standing(t0() + days(1)),
            Standing::NotEntitled,
            "{status:?}"
        );
    }
}

// ---- Error mapping and ids ----------------------------------------------------------

#[test]
fn subscription_errors_map_to_kinds_and_reasons() {
    assert_eq!(
        SubscriptionError::NotAllowed.kind(),
        ErrorKind::PermissionDenied
    );
    assert_eq!(SubscriptionError::NotFound.kind(), ErrorKind::NotFound);
    assert_eq!(
        SubscriptionError::NotFound.reason(),
        "SUBSCRIPTION_NOT_FOUND"
    );
    let declined = SubscriptionError::PaymentDeclined("card_declined".into());
    assert_eq!(declined.kind(), ErrorKind::FailedPrecondition);
    assert_eq!(declined.reason(), "PAYMENT_DECLINED");
    assert_eq!(
        SubscriptionError::GatewayUnavailable("down".into()).reason(),
        "PAYMENT_GATEWAY_UNAVAILABLE"
    );
    assert_eq!(
        SubscriptionError::RenewalTooEarly.reason(),
        "RENEWAL_TOO_EARLY"
    );
}

#[test]
fn invoice_id_is_deterministic_and_differs_per_period() {
    assert_eq!(invoice(1), InvoiceId::for_period(subscription_id(), 1));
    assert_ne!(invoice(1), invoice(2));
    let other = lms_domain::SubscriptionId::for_student(OTHER_STUDENT);
    assert_ne!(other, subscription_id());
    assert_ne!(InvoiceId::for_period(other, 1), invoice(1));
}

#[test]
fn an_active_subscription_is_not_entitled_after_its_paid_period() {
    let sub = replay(activated(1, Plan::Pro, t0()));
    let end = t0() + days(PERIOD_DAYS);
    assert_eq!(sub.standing(end), Standing::NotEntitled);
}

#[test]
fn activating_another_students_subscription_stream_is_refused() {
    let command = SubscriptionCommand::Activate {
        actor: other_student(),
        subscription_id: subscription_id(),
        student_id: OTHER_STUDENT,
        plan: Plan::Basic,
        payment_method: "pm_card_visa".into(),
    };
    let mut given = active();
    given.push(cancelled());
    let (validator, gateway) = run(t0(), given, command);
    validator.then_expect_error(SubscriptionError::NotAllowed);
    assert!(gateway.charges().is_empty());
}

#[test]
fn a_gateway_outage_is_unavailable_not_a_broken_rule() {
    let err = SubscriptionError::GatewayUnavailable("down".into());
    assert_eq!(err.kind(), ErrorKind::Unavailable);
    assert_eq!(err.reason(), "PAYMENT_GATEWAY_UNAVAILABLE");
}
