//! Wires the registry: HTTP API, `/health` and `/metrics` on one listener,
//! with graceful shutdown. Used by `main` and by tests (ours and other crates').

use crate::compatibility::Level;
use crate::config::Config;
use crate::error::RegistryError;
use crate::registry::Registry;
use crate::routes::{self, AppState};
use crate::telemetry;
use sqlx::PgPool;
use std::future::Future;
use tokio::net::TcpListener;

/// Serves the registry on `listener` until `shutdown` resolves, then drains
/// in-flight requests. Expects a migrated database (see [`crate::migrate`]).
pub async fn serve(
    config: &Config,
    pool: PgPool,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), RegistryError> {
    let default_level: Level = config.default_compatibility.parse().map_err(|bad| {
        RegistryError::Config(format!("LMS_DEFAULT_COMPATIBILITY: unknown level '{bad}'"))
    })?;
    let state = AppState {
        registry: Registry::new(pool, default_level),
        prometheus: telemetry::prometheus(),
    };
    let app = routes::router(state);
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown.await;
            tracing::info!("shutting down: draining in-flight requests");
        })
        .await?;
    Ok(())
}
