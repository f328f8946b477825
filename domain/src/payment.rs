//! The payment-gateway port. Adapters (a deterministic sandbox, a real PSP)
//! live outside the domain; the invoice id is the idempotency key so a retried
//! command never charges twice.

use crate::ids::{InvoiceId, UserId};
use std::future::Future;
use std::pin::Pin;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargeRequest {
    pub invoice_id: InvoiceId,
    pub customer: UserId,
    pub amount_cents: u64,
    pub currency: &'static str,
    pub payment_method: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargeReceipt {
    pub payment_reference: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChargeError {
    #[error("payment declined: {0}")]
    Declined(String),
    #[error("payment gateway unavailable: {0}")]
    Unavailable(String),
}

pub type ChargeFuture<'a> =
    Pin<Box<dyn Future<Output = Result<ChargeReceipt, ChargeError>> + Send + 'a>>;

pub trait PaymentGateway: Send + Sync {
    fn charge<'a>(&'a self, request: &'a ChargeRequest) -> ChargeFuture<'a>;
}
