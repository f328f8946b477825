//! Wires the query service: the query APIs, health, reflection and the
//! `/metrics` endpoint, with graceful shutdown. Used by `main` and by the
//! integration tests.

use crate::config::Config;
use crate::course_cache::CourseCache;
use crate::grpc::{
    BillingQueriesService, CourseQueriesService, QueryContext, StudentQueriesService,
};
use crate::telemetry;
use lms_proto::query::v1::billing_queries_server::BillingQueriesServer;
use lms_proto::query::v1::course_queries_server::CourseQueriesServer;
use lms_proto::query::v1::student_queries_server::StudentQueriesServer;
use redis::aio::ConnectionManager;
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;
use std::future::Future;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tonic::transport::server::TcpIncoming;
use tonic_health::ServingStatus;

/// The largest request the transport decodes: a query above it is refused
/// with OUT_OF_RANGE; below it, the fields' own limits answer
/// INVALID_ARGUMENT naming the field.
pub const MAX_REQUEST_BYTES: usize = 1024 * 1024;

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
}

pub async fn connect_postgres(url: &str, max_connections: u32) -> Result<PgPool, sqlx::Error> {
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(5))
        .connect(url)
        .await
}

pub async fn connect_redis(url: &str) -> Result<ConnectionManager, redis::RedisError> {
    redis::Client::open(url)?.get_connection_manager().await
}

/// Serves until `shutdown` resolves, then drains in-flight queries.
pub async fn serve(
    config: &Config,
    pool: PgPool,
    redis: ConnectionManager,
    grpc: TcpListener,
    metrics: Option<TcpListener>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
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

    let (health, health_service) = tonic_health::server::health_reporter();
    health
        .set_serving::<CourseQueriesServer<CourseQueriesService>>()
        .await;
    health
        .set_serving::<StudentQueriesServer<StudentQueriesService>>()
        .await;
    health
        .set_serving::<BillingQueriesServer<BillingQueriesService>>()
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
            .add_service(student_api)
            .add_service(billing_api)
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
        tracing::info!("shutting down: draining in-flight queries");
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
