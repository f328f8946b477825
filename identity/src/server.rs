//! Wires the identity service: event store, identity tables, keys, and the
//! gRPC API (with the shared token interceptor) beside the JWKS over HTTP.

use crate::config::Config;
use crate::http;
use crate::limits::LoginLimits;
use crate::password::{Hasher, PasswordError};
use crate::service::IdentityService;
use crate::store::IdentityStore;
use lms_commands::app::{AggregateStore, Runner};
use lms_commands::clock::SystemClock;
use lms_commands::store::CommandLog;
use lms_proto::identity::v1::identity_server::IdentityServer;
use lms_runtime::auth::{Authenticate, KeyError, KeyRing, TokenIssuer, Verifier, VerifierError};
use lms_runtime::grpc::{GrpcServer, ServeError};
use lms_runtime::Shutdown;
use sqlx::PgPool;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// Identity requests are small: a name, an email, a password.
pub const MAX_REQUEST_BYTES: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    Serve(#[from] ServeError),
    #[error("signing keys")]
    Keys(#[from] KeyError),
    #[error("token verification")]
    Verifier(#[from] VerifierError),
    #[error("password hashing")]
    Password(#[from] PasswordError),
    #[error("JWKS server failed")]
    Jwks(#[source] std::io::Error),
    #[error("LMS_TRUSTED_PROXIES")]
    TrustedProxies(#[from] lms_runtime::client_address::TrustedProxiesError),
}

pub struct Listeners {
    pub grpc: TcpListener,
    pub metrics: Option<TcpListener>,
    pub jwks: TcpListener,
}

/// The service, ready to serve or to run a command (the bootstrap).
pub fn build(
    config: &Config,
    pool: PgPool,
    ring: &KeyRing,
) -> Result<IdentityService, ServerError> {
    let issuer = TokenIssuer::new(
        ring,
        &config.token_issuer,
        &config.token_audience,
        Duration::from_secs(config.access_token_secs),
    )?;
    Ok(IdentityService {
        users: Arc::new(AggregateStore::new(pool.clone(), (), 0)),
        runner: Runner::new(CommandLog::new(pool.clone()), config.conflict_retries),
        store: IdentityStore::new(pool),
        hasher: Hasher::new(
            config.password_memory_kib,
            config.password_iterations,
            config.password_lanes,
        )?,
        issuer: Arc::new(issuer),
        limits: Arc::new(LoginLimits::new(
            config.login_account_burst,
            Duration::from_secs(config.login_account_every_secs),
            config.login_address_burst,
            Duration::from_secs(config.login_address_every_secs),
        )),
        clock: Arc::new(SystemClock),
        refresh_lifetime: Duration::from_secs(config.refresh_token_secs),
        trusted_proxies: config.trusted_proxies.parse()?,
    })
}

/// Serves until `shutdown` is cancelled, then drains in-flight calls.
pub async fn serve(
    config: &Config,
    pool: PgPool,
    ring: KeyRing,
    listeners: Listeners,
    shutdown: Shutdown,
) -> Result<(), ServerError> {
    let service = build(config, pool, &ring)?;
    let limits = service.limits.clone();
    let verifier = Verifier::new(&ring.jwks(), &config.token_issuer, &config.token_audience)?;
    let api = IdentityServer::new(service).max_decoding_message_size(MAX_REQUEST_BYTES);
    let api =
        tonic::service::interceptor::InterceptedService::new(api, Authenticate::optional(verifier));

    let forget = shutdown.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(60));
        loop {
            tokio::select! {
                () = forget.cancelled() => return,
                _ = every.tick() => limits.forget_idle(),
            }
        }
    });
    let jwks = tokio::spawn(http::serve(listeners.jwks, ring.jwks(), shutdown.clone()));
    let grpc = GrpcServer::new(lms_proto::FILE_DESCRIPTOR_SET)
        .limits(lms_runtime::grpc::Limits::from_settings(
            config.grpc_max_concurrent_requests,
            config.grpc_request_timeout_ms,
        ))
        .add_service(api)
        .serve(listeners.grpc, listeners.metrics, shutdown.clone())
        .await;
    shutdown.cancel();
    let jwks = jwks
        .await
        .map_err(|e| ServerError::Serve(ServeError::Join(e)))?;
    grpc?;
    jwks.map_err(ServerError::Jwks)
}
