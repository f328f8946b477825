//! `BillingQueries`: GetSubscription and ListInvoices (`billing` schema).

use super::{amount, observe, optional_timestamp, timestamp, QueryContext, Viewer, Violations};
use crate::error::QueryError;
use crate::page_token::{self, Cursor};
use crate::read_your_writes::ReadModel;
use lms_proto::query::v1::billing_queries_server::BillingQueries;
use lms_proto::query::v1::{
    GetSubscriptionRequest, GetSubscriptionResponse, Invoice, ListInvoicesRequest,
    ListInvoicesResponse, Subscription,
};
use lms_readmodels::billing::{self, InvoiceRow, SubscriptionRow};
use tonic::{Request, Response, Status};

/// Tag of ListInvoices page tokens.
const LISTING: &str = "invoices";

pub struct BillingQueriesService {
    ctx: QueryContext,
}

impl BillingQueriesService {
    pub fn new(ctx: QueryContext) -> Self {
        Self { ctx }
    }

    async fn get_subscription(
        &self,
        viewer: Viewer,
        req: GetSubscriptionRequest,
    ) -> Result<GetSubscriptionResponse, QueryError> {
        let mut v = Violations::default();
        let student_id = v.uuid("student_id", &req.student_id);
        let position = v.position(req.min_position);
        v.finish()?;
        let Some(student_id) = student_id else {
            return Err(QueryError::Internal("validated student_id missing".into()));
        };
        viewer.may_read_student(student_id)?;
        self.ctx.caught_up(ReadModel::Billing, position).await?;
        let row = billing::subscription_of_student(self.ctx.pool(), &viewer.tenant_id, student_id)
            .await?
            .ok_or_else(|| QueryError::NotFound {
                what: "subscription",
                id: format!("of student {student_id}"),
            })?;
        Ok(GetSubscriptionResponse {
            subscription: Some(subscription_message(row)),
        })
    }

    async fn list_invoices(
        &self,
        viewer: Viewer,
        req: ListInvoicesRequest,
    ) -> Result<ListInvoicesResponse, QueryError> {
        let mut v = Violations::default();
        let student_id = v.uuid("student_id", &req.student_id);
        let page_size = v.check(page_token::page_size(req.page_size));
        let cursor = v
            .check(page_token::decode(LISTING, &req.page_token))
            .flatten();
        let position = v.position(req.min_position);
        v.finish()?;
        let Some(student_id) = student_id else {
            return Err(QueryError::Internal("validated student_id missing".into()));
        };
        viewer.may_read_student(student_id)?;
        let page_size = page_size.unwrap_or(page_token::DEFAULT_PAGE_SIZE) as usize;
        self.ctx.caught_up(ReadModel::Billing, position).await?;
        let limit = i64::try_from(page_size + 1).unwrap_or(i64::MAX);
        let after = cursor.map(|c| (c.micros, c.id));
        let mut rows = billing::invoices_of_student(
            self.ctx.pool(),
            &viewer.tenant_id,
            student_id,
            after,
            limit,
        )
        .await?;
        let next_page_token = if rows.len() > page_size {
            rows.truncate(page_size);
            rows.last().map(|last| {
                page_token::encode(
                    LISTING,
                    Cursor {
                        micros: last.issued_at.timestamp_micros(),
                        id: last.invoice_id,
                    },
                )
            })
        } else {
            None
        };
        Ok(ListInvoicesResponse {
            invoices: rows.into_iter().map(invoice_message).collect(),
            next_page_token: next_page_token.unwrap_or_default(),
        })
    }
}

fn subscription_message(row: SubscriptionRow) -> Subscription {
    Subscription {
        subscription_id: row.subscription_id.to_string(),
        student_id: row.student_id.to_string(),
        plan: row.plan,
        status: row.status,
        trial_ends_at: optional_timestamp(row.trial_ends_at),
        current_period_end: optional_timestamp(row.current_period_end),
        updated_at: timestamp(row.updated_at),
    }
}

fn invoice_message(row: InvoiceRow) -> Invoice {
    Invoice {
        invoice_id: row.invoice_id.to_string(),
        subscription_id: row.subscription_id.to_string(),
        student_id: row.student_id.to_string(),
        amount_cents: amount(row.amount_cents),
        currency: row.currency,
        period_start: timestamp(row.period_start),
        period_end: timestamp(row.period_end),
        payment_reference: row.payment_reference,
        issued_at: timestamp(row.issued_at),
    }
}

#[tonic::async_trait]
impl BillingQueries for BillingQueriesService {
    async fn get_subscription(
        &self,
        request: Request<GetSubscriptionRequest>,
    ) -> Result<Response<GetSubscriptionResponse>, Status> {
        let viewer = Viewer::of(&request)?;
        observe(
            "GetSubscription",
            self.get_subscription(viewer, request.into_inner()),
        )
        .await
    }

    async fn list_invoices(
        &self,
        request: Request<ListInvoicesRequest>,
    ) -> Result<Response<ListInvoicesResponse>, Status> {
        let viewer = Viewer::of(&request)?;
        observe(
            "ListInvoices",
            self.list_invoices(viewer, request.into_inner()),
        )
        .await
    }
}
