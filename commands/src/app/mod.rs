//! Application services: load aggregates, let them decide, append, and make
//! every command idempotent and retried on version conflicts.

mod aggregate_store;
mod course;
mod enrollment;
mod runner;
mod subscription;

pub use aggregate_store::{AggregateStore, Written};
pub use course::CourseService;
pub use enrollment::EnrollmentService;
pub use enrollment::Leave;
pub use runner::{Reply, Runner};
pub use subscription::SubscriptionService;
