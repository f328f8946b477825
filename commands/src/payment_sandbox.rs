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

/// No gateway: every charge is answered as unavailable, so no subscription
/// is ever activated without a real payment.
#[derive(Debug, Default, Clone, Copy)]
pub struct DisabledPaymentGateway;

impl PaymentGateway for DisabledPaymentGateway {
    fn charge<'a>(&'a self, _request: &'a ChargeRequest) -> ChargeFuture<'a> {
        Box::pin(async move {
            Err(ChargeError::Unavailable(
                "no payment gateway is configured".into(),
            ))
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum GatewayChoiceError {
    #[error("the sandbox payment gateway approves every card: refused with LMS_ENVIRONMENT=production (set LMS_PAYMENT_GATEWAY)")]
    SandboxInProduction,
    #[error("LMS_PAYMENT_GATEWAY={0:?} is not sandbox or disabled")]
    Unknown(String),
    #[error("LMS_ENVIRONMENT={0:?} is not development or production")]
    UnknownEnvironment(String),
}

/// The gateway the settings name; production never gets the sandbox.
pub fn choose(
    environment: &str,
    gateway: &str,
) -> Result<std::sync::Arc<dyn PaymentGateway>, GatewayChoiceError> {
    let production = match environment {
        "production" => true,
        "development" => false,
        other => return Err(GatewayChoiceError::UnknownEnvironment(other.into())),
    };
    match gateway {
        "sandbox" if production => Err(GatewayChoiceError::SandboxInProduction),
        "sandbox" => Ok(std::sync::Arc::new(SandboxPaymentGateway)),
        "disabled" => Ok(std::sync::Arc::new(DisabledPaymentGateway)),
        other => Err(GatewayChoiceError::Unknown(other.into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn production_refuses_the_sandbox_and_unknown_names() {
        assert!(matches!(
            choose("production", "sandbox"),
            Err(GatewayChoiceError::SandboxInProduction)
        ));
        assert!(choose("production", "disabled").is_ok());
        assert!(choose("development", "sandbox").is_ok());
        assert!(matches!(
            choose("development", "stripe"),
            Err(GatewayChoiceError::Unknown(_))
        ));
        assert!(matches!(
            choose("prod", "disabled"),
            Err(GatewayChoiceError::UnknownEnvironment(_))
        ));
    }
}
