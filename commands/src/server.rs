//! Wires the command service: event store, application services and the
//! gRPC APIs, served by the shared runtime (health, reflection, `/metrics`,
//! graceful shutdown). Used by `main` and by the integration tests.

use crate::app::{AggregateStore, CourseService, EnrollmentService, Runner, SubscriptionService};
use crate::clock::SystemClock;
use crate::config::Config;
use crate::grpc::{CourseCommandsService, EnrollmentCommandsService, SubscriptionCommandsService};
use crate::store::CommandLog;
use lms_domain::subscription::SubscriptionServices;
use lms_domain::Clock;
use lms_proto::command::v1::course_commands_server::CourseCommandsServer;
use lms_proto::command::v1::enrollment_commands_server::EnrollmentCommandsServer;
use lms_proto::command::v1::subscription_commands_server::SubscriptionCommandsServer;
use lms_runtime::auth::{Authenticate, Verifier};
use lms_runtime::grpc::{GrpcServer, ServeError};
use lms_runtime::Shutdown;
use sqlx::PgPool;
use std::sync::Arc;
use tokio::net::TcpListener;
use tonic::service::interceptor::InterceptedService;

/// The largest request the transport decodes (tonic's default, made
/// explicit): a request above it is refused with OUT_OF_RANGE before
/// any handler runs; below it, every field's own limit answers
/// INVALID_ARGUMENT naming the field.
pub const MAX_REQUEST_BYTES: usize = 4 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    Serve(#[from] ServeError),
    #[error(transparent)]
    PaymentGateway(#[from] crate::payment_sandbox::GatewayChoiceError),
}

/// Serves until `shutdown` is cancelled, then drains in-flight calls. Every
/// call needs an access token `verifier` accepts.
pub async fn serve(
    config: &Config,
    pool: PgPool,
    verifier: Verifier,
    grpc: TcpListener,
    metrics: Option<TcpListener>,
    shutdown: Shutdown,
) -> Result<(), ServerError> {
    let gateway = crate::payment_sandbox::choose(&config.environment, &config.payment_gateway)?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let runner = Runner::new(CommandLog::new(pool.clone()), config.conflict_retries);
    let courses = Arc::new(AggregateStore::new(
        pool.clone(),
        (),
        config.course_snapshot_every,
    ));
    let enrollments = Arc::new(AggregateStore::new(pool.clone(), (), 0));
    let subscriptions = Arc::new(AggregateStore::new(
        pool.clone(),
        SubscriptionServices {
            clock: clock.clone(),
            gateway,
        },
        0,
    ));

    let course_api = CourseCommandsServer::new(CourseCommandsService::new(
        CourseService::new(courses.clone(), runner.clone()),
        clock.clone(),
    ))
    .max_decoding_message_size(MAX_REQUEST_BYTES);
    let enrollment_api = EnrollmentCommandsServer::new(EnrollmentCommandsService::new(
        EnrollmentService::new(
            courses,
            enrollments,
            subscriptions.clone(),
            clock.clone(),
            runner.clone(),
        ),
        clock.clone(),
    ))
    .max_decoding_message_size(MAX_REQUEST_BYTES);
    let subscription_api = SubscriptionCommandsServer::new(SubscriptionCommandsService::new(
        SubscriptionService::new(subscriptions, runner),
        clock,
    ))
    .max_decoding_message_size(MAX_REQUEST_BYTES);

    let auth = Authenticate::required(verifier);
    GrpcServer::new(lms_proto::FILE_DESCRIPTOR_SET)
        .limits(lms_runtime::grpc::Limits::from_settings(
            config.grpc_max_concurrent_requests,
            config.grpc_request_timeout_ms,
        ))
        .add_service(InterceptedService::new(course_api, auth.clone()))
        .add_service(InterceptedService::new(enrollment_api, auth.clone()))
        .add_service(InterceptedService::new(subscription_api, auth))
        .serve(grpc, metrics, shutdown)
        .await?;
    Ok(())
}
