//! Shared fixtures for the given/when/then tests: fixed ids and actors, a
//! fixed clock and a deterministic fake payment gateway.
#![allow(dead_code)]

use chrono::{DateTime, Duration, TimeZone, Utc};
use lms_domain::payment::{
    ChargeError, ChargeFuture, ChargeReceipt, ChargeRequest, PaymentGateway,
};
use lms_domain::subscription::SubscriptionServices;
use lms_domain::{Actor, CourseId, FixedClock, LessonId, ModuleId, Role, SubscriptionId, UserId};
use std::sync::{Arc, Mutex};
use uuid::Uuid;

pub const INSTRUCTOR: UserId = UserId(Uuid::from_u128(0x1001));
pub const CO_INSTRUCTOR: UserId = UserId(Uuid::from_u128(0x1002));
pub const OTHER_INSTRUCTOR: UserId = UserId(Uuid::from_u128(0x1003));
pub const STUDENT: UserId = UserId(Uuid::from_u128(0x2001));
pub const OTHER_STUDENT: UserId = UserId(Uuid::from_u128(0x2002));
pub const THIRD_STUDENT: UserId = UserId(Uuid::from_u128(0x2003));
pub const ADMIN: UserId = UserId(Uuid::from_u128(0x3001));

pub const COURSE: CourseId = CourseId(Uuid::from_u128(0x4001));
pub const OTHER_COURSE: CourseId = CourseId(Uuid::from_u128(0x4002));

pub const DECLINED_METHOD: &str = "pm_card_declined";
pub const CARD: &str = "pm_card_visa";

pub fn module(n: u128) -> ModuleId {
    ModuleId(Uuid::from_u128(0x5000 + n))
}

pub fn lesson(n: u128) -> LessonId {
    LessonId(Uuid::from_u128(0x6000 + n))
}

pub fn instructor() -> Actor {
    Actor::new(INSTRUCTOR, Role::Instructor)
}

pub fn co_instructor() -> Actor {
    Actor::new(CO_INSTRUCTOR, Role::Instructor)
}

/// An instructor who does not teach the course under test.
pub fn other_instructor() -> Actor {
    Actor::new(OTHER_INSTRUCTOR, Role::Instructor)
}

pub fn student() -> Actor {
    Actor::new(STUDENT, Role::Student)
}

pub fn other_student() -> Actor {
    Actor::new(OTHER_STUDENT, Role::Student)
}

pub fn admin() -> Actor {
    Actor::new(ADMIN, Role::Admin)
}

pub fn subscription_id() -> SubscriptionId {
    SubscriptionId::for_student(STUDENT)
}

/// The fixed "now" of the tests: 2025-01-15 12:00:00 UTC.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 1, 15, 12, 0, 0).unwrap()
}

pub fn days(n: i64) -> Duration {
    Duration::days(n)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GatewayMode {
    /// Approves every charge except for [`DECLINED_METHOD`].
    Normal,
    /// Every charge fails as if the gateway were down.
    Unavailable,
}

/// A deterministic payment gateway that records every charge it was asked for.
#[derive(Debug)]
pub struct FakeGateway {
    mode: GatewayMode,
    charges: Mutex<Vec<ChargeRequest>>,
}

impl FakeGateway {
    pub fn new(mode: GatewayMode) -> Arc<Self> {
        Arc::new(Self {
            mode,
            charges: Mutex::new(Vec::new()),
        })
    }

    pub fn charges(&self) -> Vec<ChargeRequest> {
        self.charges.lock().unwrap().clone()
    }

    /// The reference an approved charge for `request` gets.
    pub fn reference_for(request_invoice: lms_domain::InvoiceId) -> String {
        format!("ch_{request_invoice}")
    }
}

impl PaymentGateway for FakeGateway {
    fn charge<'a>(&'a self, request: &'a ChargeRequest) -> ChargeFuture<'a> {
        self.charges.lock().unwrap().push(request.clone());
        let result = match self.mode {
            GatewayMode::Unavailable => Err(ChargeError::Unavailable("sandbox down".into())),
            GatewayMode::Normal if request.payment_method == DECLINED_METHOD => {
                Err(ChargeError::Declined("card_declined".into()))
            }
            GatewayMode::Normal => Ok(ChargeReceipt {
                payment_reference: Self::reference_for(request.invoice_id),
            }),
        };
        Box::pin(async move { result })
    }
}

/// Services with a clock fixed at `now` and a gateway in `mode`; the gateway
/// is returned too so a test can inspect the charges.
pub fn services_at(
    now: DateTime<Utc>,
    mode: GatewayMode,
) -> (SubscriptionServices, Arc<FakeGateway>) {
    let gateway = FakeGateway::new(mode);
    let services = SubscriptionServices {
        clock: Arc::new(FixedClock(now)),
        gateway: gateway.clone(),
    };
    (services, gateway)
}
