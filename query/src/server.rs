//! Wires the query service: the query APIs served by the shared runtime
//! (health, reflection, `/metrics`, graceful shutdown). Used by `main` and
//! by the integration tests.

use crate::config::Config;
use crate::course_cache::CourseCache;
use crate::grpc::{
    BillingQueriesService, CourseQueriesService, QueryContext, StudentQueriesService,
};
use lms_proto::query::v1::billing_queries_server::BillingQueriesServer;
use lms_proto::query::v1::course_queries_server::CourseQueriesServer;
use lms_proto::query::v1::student_queries_server::StudentQueriesServer;
use lms_runtime::auth::{Authenticate, Verifier};
use lms_runtime::grpc::{GrpcServer, ServeError};
use lms_runtime::Shutdown;
use redis::aio::ConnectionManager;
use sqlx::PgPool;
use tokio::net::TcpListener;
use tonic::service::interceptor::InterceptedService;

/// The largest request the transport decodes: a query above it is refused
/// with OUT_OF_RANGE; below it, the fields' own limits answer
/// INVALID_ARGUMENT naming the field.
pub const MAX_REQUEST_BYTES: usize = 1024 * 1024;

/// Serves until `shutdown` is cancelled, then drains in-flight queries.
/// Every query needs an access token `verifier` accepts.
pub async fn serve(
    config: &Config,
    pool: PgPool,
    redis: ConnectionManager,
    verifier: Verifier,
    grpc: TcpListener,
    metrics: Option<TcpListener>,
    shutdown: Shutdown,
) -> Result<(), ServeError> {
    let ctx = QueryContext::new(
        pool,
        CourseCache::new(redis, config.redis_prefix.clone()),
        config.read_your_writes_timeout(),
    );
    let course_api = CourseQueriesServer::new(CourseQueriesService::new(ctx.clone()))
        .max_decoding_message_size(MAX_REQUEST_BYTES);
    let student_api = StudentQueriesServer::new(StudentQueriesService::new(ctx.clone()))
        .max_decoding_message_size(MAX_REQUEST_BYTES);
    let billing_api = BillingQueriesServer::new(BillingQueriesService::new(ctx))
        .max_decoding_message_size(MAX_REQUEST_BYTES);

    let auth = Authenticate::required(verifier);
    GrpcServer::new(lms_proto::FILE_DESCRIPTOR_SET)
        .limits(lms_runtime::grpc::Limits::from_settings(
            config.grpc_max_concurrent_requests,
            config.grpc_request_timeout_ms,
        ))
        .add_service(InterceptedService::new(course_api, auth.clone()))
        .add_service(InterceptedService::new(student_api, auth.clone()))
        .add_service(InterceptedService::new(billing_api, auth))
        .serve(grpc, metrics, shutdown)
        .await
}
