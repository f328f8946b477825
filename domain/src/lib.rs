//! The LMS domain: aggregates that validate commands and emit events.
//!
//! Pure by design: no IO crate, no async runtime, no clock or id generation
//! inside a decision. Time comes from an injected [`Clock`], ids arrive in
//! commands or are derived deterministically (UUIDv5) from ids that do.

pub mod actor;
pub mod clock;
pub mod course;
pub mod enrollment;
pub mod error;
pub mod ids;
pub mod payment;
pub mod subscription;
pub mod user;

pub use actor::{Actor, Role, UnknownRole};
pub use clock::{Clock, FixedClock};
pub use error::{DomainError, ErrorKind, FieldViolation};
pub use ids::{CourseId, EnrollmentId, InvoiceId, LessonId, ModuleId, SubscriptionId, UserId};
