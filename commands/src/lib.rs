//! The command side of the LMS: gRPC `lms.command.v1`, aggregates loaded from
//! and appended to the Postgres event store, idempotent by command id.

pub mod app;
pub mod clock;
pub mod config;
pub mod context;
pub mod error;
pub mod grpc;
pub mod payment_sandbox;
pub mod server;
pub mod store;
