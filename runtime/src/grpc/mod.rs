//! The gRPC server every service runs: its APIs plus health and reflection,
//! `/metrics` beside it, a graceful stop (health turns NOT_SERVING,
//! in-flight calls finish) when the shutdown token is cancelled, and
//! [`Limits`]: a bound on the API calls served at once (beyond it a call is
//! refused at once with RESOURCE_EXHAUSTED) and on how long one may take.

pub mod status;

use crate::shutdown::Shutdown;
use crate::telemetry;
use std::convert::Infallible;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tonic::body::Body;
use tonic::codegen::{http, Service};
use tonic::server::NamedService;
use tonic::service::RoutesBuilder;
use tonic::transport::server::TcpIncoming;
use tonic_health::ServingStatus;

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("gRPC server failed")]
    Grpc(#[from] tonic::transport::Error),
    #[error("building the reflection service")]
    Reflection(#[from] tonic_reflection::server::Error),
    #[error("metrics server failed")]
    Metrics(#[source] std::io::Error),
    #[error("server task failed")]
    Join(#[from] tokio::task::JoinError),
}

/// Bounds on one server's API calls (health and reflection are not
/// counted, so probes answer under load).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Calls served at once; one more is refused at once with
    /// RESOURCE_EXHAUSTED ("server busy") instead of queueing.
    pub max_concurrent_requests: usize,
    /// How long a call may take; then it ends with CANCELLED ("Timeout
    /// expired") and its work is dropped.
    pub request_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_concurrent_requests: 256,
            request_timeout: Duration::from_secs(30),
        }
    }
}

impl Limits {
    /// From a service's settings (`LMS_GRPC_MAX_CONCURRENT_REQUESTS`,
    /// `LMS_GRPC_REQUEST_TIMEOUT_MS`).
    pub fn from_settings(max_concurrent_requests: usize, request_timeout_ms: u64) -> Self {
        Self {
            max_concurrent_requests,
            request_timeout: Duration::from_millis(request_timeout_ms),
        }
    }
}

/// The APIs of one service, served with [`GrpcServer::serve`].
pub struct GrpcServer {
    routes: RoutesBuilder,
    names: Vec<&'static str>,
    descriptor_sets: Vec<&'static [u8]>,
    limits: Limits,
}

impl GrpcServer {
    /// A server whose reflection describes the services in
    /// `descriptor_set` (an encoded `FileDescriptorSet`).
    pub fn new(descriptor_set: &'static [u8]) -> Self {
        Self {
            routes: RoutesBuilder::default(),
            names: Vec::new(),
            descriptor_sets: vec![descriptor_set, tonic_health::pb::FILE_DESCRIPTOR_SET],
            limits: Limits::default(),
        }
    }

    /// Replaces the default [`Limits`].
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Adds an API; health reports it SERVING while the server runs.
    pub fn add_service<S>(mut self, service: S) -> Self
    where
        S: Service<http::Request<Body>, Error = Infallible>
            + NamedService
            + Clone
            + Send
            + Sync
            + 'static,
        S::Response: axum::response::IntoResponse,
        S::Future: Send + 'static,
    {
        self.names.push(S::NAME);
        self.routes.add_service(service);
        self
    }

    /// Serves on `grpc` (and `/metrics` on `metrics`) until `shutdown` is
    /// cancelled, then drains in-flight calls. A task that fails stops the
    /// others and its error is returned.
    pub async fn serve(
        self,
        grpc: TcpListener,
        metrics: Option<TcpListener>,
        shutdown: Shutdown,
    ) -> Result<(), ServeError> {
        let (health, health_service) = tonic_health::server::health_reporter();
        for name in &self.names {
            health
                .set_service_status(*name, ServingStatus::Serving)
                .await;
        }
        health.set_service_status("", ServingStatus::Serving).await;
        let mut reflection = tonic_reflection::server::Builder::configure();
        for set in self.descriptor_sets {
            reflection = reflection.register_encoded_file_descriptor_set(set);
        }
        let reflection = reflection.build_v1()?;

        // Cancelled by the caller, or by us when one of the tasks fails.
        let stop = shutdown.child_token();
        let mut tasks = JoinSet::new();
        let grpc_stop = stop.clone();
        let routes = limited(self.routes.routes(), self.limits.max_concurrent_requests);
        let timeout = self.limits.request_timeout;
        tasks.spawn(async move {
            tonic::transport::Server::builder()
                .timeout(timeout)
                .add_routes(routes)
                .add_service(health_service)
                .add_service(reflection)
                .serve_with_incoming_shutdown(
                    // Without TCP_NODELAY a reply of several segments waits
                    // for the client's delayed ACK (~40 ms a call).
                    TcpIncoming::from(grpc).with_nodelay(Some(true)),
                    async move {
                        grpc_stop.cancelled().await;
                        tracing::info!("shutting down: draining in-flight calls");
                        health
                            .set_service_status("", ServingStatus::NotServing)
                            .await;
                    },
                )
                .await
                .map_err(ServeError::from)
        });
        if let Some(listener) = metrics {
            let stop = stop.clone();
            tasks.spawn(async move {
                telemetry::serve_metrics(listener, stop)
                    .await
                    .map_err(ServeError::Metrics)
            });
        }

        let mut outcome = Ok(());
        while let Some(result) = tasks.join_next().await {
            if let Err(e) = result.map_err(ServeError::from).and_then(|r| r) {
                tracing::error!(error = %e, "server task ended with an error");
                outcome = Err(e);
                stop.cancel();
            }
        }
        outcome
    }
}

/// The API routes behind one shared concurrency limit that sheds load: a
/// call beyond `max` gets RESOURCE_EXHAUSTED at once.
fn limited(routes: tonic::service::Routes, max: usize) -> tonic::service::Routes {
    use tower::ServiceBuilder;
    let router = routes.into_axum_router().layer(
        ServiceBuilder::new()
            .layer(axum::error_handling::HandleErrorLayer::new(
                |_: tower::BoxError| async {
                    metrics::counter!("lms_grpc_shed_total").increment(1);
                    tonic::Status::resource_exhausted("server busy; retry later")
                        .into_http::<axum::body::Body>()
                },
            ))
            .load_shed()
            .layer(tower::limit::GlobalConcurrencyLimitLayer::new(max.max(1))),
    );
    tonic::service::Routes::from(router)
}
