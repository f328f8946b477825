//! A deterministic payment gateway for development, tests and demos: no
//! network, same answer for the same input. `pm_card_declined` is declined,
//! `pm_gateway_down` is unavailable, every other method is approved.

use lms_domain::payment::{
    ChargeError, ChargeFuture, ChargeReceipt, ChargeRequest, PaymentGateway,
};

pub const DECLINED_METHOD: &str = "pm_card_declined";
pub const UNAVAILABLE_METHOD: &str = "pm_gateway_down";

#[derive(Debug, Default, Clone, Copy)]
pub struct SandboxPaymentGateway;

impl PaymentGateway for SandboxPaymentGateway {
    fn charge<'a>(&'a self, request: &'a ChargeRequest) -> ChargeFuture<'a> {
        Box::pin(async move {
            match request.payment_method.trim() {
                DECLINED_METHOD => Err(ChargeError::Declined("card declined (sandbox)".into())),
                UNAVAILABLE_METHOD => Err(ChargeError::Unavailable("sandbox outage".into())),
                // The invoice id is the idempotency key: a retry gets the same reference.
                _ => Ok(ChargeReceipt {
                    payment_reference: format!("sandbox_{}", request.invoice_id),
                }),
            }
        })
    }
}
