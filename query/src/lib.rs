//! The query service `lms-query` (lms.query.v1): the read models of
//! lms-readmodels served over gRPC, course cards from Redis when warm,
//! read-your-writes by command position (docs/read-models.md).

pub mod config;
pub mod course_cache;
pub mod error;
pub mod grpc;
pub mod page_token;
pub mod read_your_writes;
pub mod server;

pub use server::serve;
