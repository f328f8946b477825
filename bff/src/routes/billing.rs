//! The signed-in student's subscription and invoices.

use super::{After, AppState, CommandResult, JsonBody, QueryParams, SignedIn};
use crate::error::{BffError, Problem};
use crate::upstream::command_id;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use lms_proto::command::v1::{
    ActivateSubscriptionRequest, CancelSubscriptionRequest, StartTrialRequest,
};
use lms_proto::query::v1::{GetSubscriptionRequest, ListInvoicesRequest};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SubscriptionView {
    pub subscription_id: String,
    /// `basic` | `pro`.
    pub plan: String,
    /// `trialing` | `active` | `past_due` | `cancelled`.
    pub status: String,
    pub trial_ends_at: Option<String>,
    pub current_period_end: Option<String>,
    pub updated_at: String,
}

fn optional(s: String) -> Option<String> {
    Some(s).filter(|s| !s.is_empty())
}

/// The subscription (404 `NOT_FOUND` when there is none yet).
#[utoipa::path(get, path = "/api/subscription", operation_id = "get_subscription", tag = "billing", params(After),
    responses((status = 200, body = SubscriptionView), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn get(
    State(state): State<AppState>,
    headers: HeaderMap,
    signed_in: SignedIn,
    QueryParams(after): QueryParams<After>,
) -> Result<Json<SubscriptionView>, BffError> {
    let reply = state
        .upstream
        .billing_queries()
        .get_subscription(signed_in.request(
            GetSubscriptionRequest {
                student_id: signed_in.session.user_id.clone(),
                min_position: after.min_position()?,
            },
            &headers,
        )?)
        .await?
        .into_inner();
    let s = reply.subscription.ok_or_else(|| {
        BffError::Upstream(tonic::Status::internal("a reply without its subscription"))
    })?;
    Ok(Json(SubscriptionView {
        subscription_id: s.subscription_id,
        plan: s.plan,
        status: s.status,
        trial_ends_at: optional(s.trial_ends_at),
        current_period_end: optional(s.current_period_end),
        updated_at: s.updated_at,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct PlanBody {
    /// `basic` | `pro`.
    pub plan: String,
}

/// Starts a free trial.
#[utoipa::path(post, path = "/api/subscription/trial", tag = "billing", request_body = PlanBody,
    params(("X-CSRF-Token" = String, Header), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = CommandResult), (status = 409, body = Problem, content_type = "application/problem+json")))]
pub async fn start_trial(
    State(state): State<AppState>,
    headers: HeaderMap,
    signed_in: SignedIn,
    JsonBody(body): JsonBody<PlanBody>,
) -> Result<Json<CommandResult>, BffError> {
    let reply = state
        .upstream
        .subscriptions()
        .start_trial(signed_in.request(
            StartTrialRequest {
                command_id: command_id(&headers),
                student_id: signed_in.session.user_id.clone(),
                plan: body.plan,
            },
            &headers,
        )?)
        .await?
        .into_inner();
    Ok(Json(reply.into()))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ActivateBody {
    /// `basic` | `pro`.
    pub plan: String,
    /// A sandbox payment method, e.g. `pm_card_visa` (`pm_card_declined`
    /// is declined).
    pub payment_method: String,
}

/// Activates a paid subscription (charges the first period).
#[utoipa::path(post, path = "/api/subscription/activate", tag = "billing", request_body = ActivateBody,
    params(("X-CSRF-Token" = String, Header), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = CommandResult), (status = 409, body = Problem, content_type = "application/problem+json", description = "e.g. PAYMENT_DECLINED")))]
pub async fn activate(
    State(state): State<AppState>,
    headers: HeaderMap,
    signed_in: SignedIn,
    JsonBody(body): JsonBody<ActivateBody>,
) -> Result<Json<CommandResult>, BffError> {
    let reply = state
        .upstream
        .subscriptions()
        .activate(signed_in.request(
            ActivateSubscriptionRequest {
                command_id: command_id(&headers),
                student_id: signed_in.session.user_id.clone(),
                plan: body.plan,
                payment_method: body.payment_method,
            },
            &headers,
        )?)
        .await?
        .into_inner();
    Ok(Json(reply.into()))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CancelBody {
    #[serde(default)]
    pub reason: String,
}

/// Cancels the subscription.
#[utoipa::path(post, path = "/api/subscription/cancel", tag = "billing", request_body = CancelBody,
    params(("X-CSRF-Token" = String, Header), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = CommandResult), (status = 409, body = Problem, content_type = "application/problem+json")))]
pub async fn cancel(
    State(state): State<AppState>,
    headers: HeaderMap,
    signed_in: SignedIn,
    JsonBody(body): JsonBody<CancelBody>,
) -> Result<Json<CommandResult>, BffError> {
    let reply = state
        .upstream
        .subscriptions()
        .cancel(signed_in.request(
            CancelSubscriptionRequest {
                command_id: command_id(&headers),
                student_id: signed_in.session.user_id.clone(),
                reason: body.reason,
            },
            &headers,
        )?)
        .await?
        .into_inner();
    Ok(Json(reply.into()))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct InvoiceView {
    pub invoice_id: String,
    pub amount_cents: u64,
    pub currency: String,
    pub period_start: String,
    pub period_end: String,
    pub payment_reference: String,
    pub issued_at: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct InvoiceList {
    pub invoices: Vec<InvoiceView>,
    pub next_page_token: Option<String>,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InvoiceParams {
    /// Whose invoices: yourself when absent. Another student's are for
    /// admins (403 `NOT_YOUR_DATA` otherwise).
    pub student_id: Option<String>,
    pub page_size: Option<u32>,
    pub page_token: Option<String>,
    pub after: Option<String>,
}

/// A student's invoices (the signed-in one's by default), newest first.
#[utoipa::path(get, path = "/api/invoices", tag = "billing", params(InvoiceParams),
    responses((status = 200, body = InvoiceList), (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json")))]
pub async fn invoices(
    State(state): State<AppState>,
    headers: HeaderMap,
    signed_in: SignedIn,
    QueryParams(params): QueryParams<InvoiceParams>,
) -> Result<Json<InvoiceList>, BffError> {
    let reply = state
        .upstream
        .billing_queries()
        .list_invoices(
            signed_in.request(
                ListInvoicesRequest {
                    student_id: params
                        .student_id
                        .unwrap_or_else(|| signed_in.session.user_id.clone()),
                    page_size: params.page_size.unwrap_or_default(),
                    page_token: params.page_token.unwrap_or_default(),
                    min_position: super::parse_position(params.after.as_deref())?,
                },
                &headers,
            )?,
        )
        .await?
        .into_inner();
    Ok(Json(InvoiceList {
        invoices: reply
            .invoices
            .into_iter()
            .map(|i| InvoiceView {
                invoice_id: i.invoice_id,
                amount_cents: i.amount_cents,
                currency: i.currency,
                period_start: i.period_start,
                period_end: i.period_end,
                payment_reference: i.payment_reference,
                issued_at: i.issued_at,
            })
            .collect(),
        next_page_token: optional(reply.next_page_token),
    }))
}
