//! Wires the command service: event store, application services, gRPC
//! (commands, health, reflection) and the `/metrics` endpoint, with graceful
//! shutdown. Used by `main` and by the integration tests.

use crate::app::{AggregateStore, CourseService, EnrollmentService, Runner, SubscriptionService};
use crate::clock::SystemClock;
use crate::config::Config;
use crate::grpc::{CourseCommandsService, EnrollmentCommandsService, SubscriptionCommandsService};
use crate::store::CommandLog;
use crate::telemetry;
use lms_domain::subscription::SubscriptionServices;
use lms_domain::Clock;
use lms_proto::command::v1::course_commands_server::CourseCommandsServer;
use lms_proto::command::v1::enrollment_commands_server::EnrollmentCommandsServer;
use lms_proto::command::v1::subscription_commands_server::SubscriptionCommandsServer;
use sqlx::PgPool;
use std::future::Future;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tonic::transport::server::TcpIncoming;
use tonic_health::ServingStatus;

/// The largest request the transport decodes (tonic's default, made
/// explicit): a request above it is refused with OUT_OF_RANGE before
/// any handler runs; below it, every field's own limit answers
/// INVALID_ARGUMENT naming the field.
pub const MAX_REQUEST_BYTES: usize = 4 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("gRPC server failed: {0}")]
    Grpc(#[from] tonic::transport::Error),
    #[error("reflection service: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    #[error("metrics server failed: {0}")]
    Metrics(#[from] std::io::Error),
    #[error("server task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
    #[error(transparent)]
    PaymentGateway(#[from] crate::payment_sandbox::GatewayChoiceError),
}

/// Serves until `shutdown` resolves, then drains in-flight calls.
pub async fn serve(
    config: &Config,
    pool: PgPool,
    grpc: TcpListener,
    metrics: Option<TcpListener>,
    shutdown: impl Future<Output = ()> + Send + 'static,
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

    let (health, health_service) = tonic_health::server::health_reporter();
    health
        .set_serving::<CourseCommandsServer<CourseCommandsService>>()
        .await;
    health
        .set_serving::<EnrollmentCommandsServer<EnrollmentCommandsService>>()
        .await;
    health
        .set_serving::<SubscriptionCommandsServer<SubscriptionCommandsService>>()
        .await;
    health.set_service_status("", ServingStatus::Serving).await;

    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(lms_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;

    let (stop_tx, stop_rx) = watch::channel(false);
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };

    let mut tasks = JoinSet::new();
    let grpc_stop = stopped(stop_rx.clone());
    tasks.spawn(async move {
        tonic::transport::Server::builder()
            .add_service(health_service)
            .add_service(reflection)
            .add_service(course_api)
            .add_service(enrollment_api)
            .add_service(subscription_api)
            .serve_with_incoming_shutdown(
                // Without TCP_NODELAY a reply of several segments waits for
                // the client's delayed ACK (~40 ms per call, measured).
                TcpIncoming::from(grpc).with_nodelay(Some(true)),
                grpc_stop,
            )
            .await
            .map_err(ServerError::from)
    });
    if let Some(listener) = metrics {
        let stop = stop_rx.clone();
        tasks.spawn(async move {
            telemetry::serve_metrics(listener, stop)
                .await
                .map_err(ServerError::from)
        });
    }
    tasks.spawn(async move {
        shutdown.await;
        tracing::info!("shutting down: draining in-flight commands");
        health
            .set_service_status("", ServingStatus::NotServing)
            .await;
        let _ = stop_tx.send(true);
        Ok(())
    });

    let mut outcome = Ok(());
    while let Some(result) = tasks.join_next().await {
        if let Err(e) = result.map_err(ServerError::from).and_then(|r| r) {
            tracing::error!(error = %e, "server task ended with an error");
            outcome = Err(e);
            tasks.abort_all();
        }
    }
    outcome
}
