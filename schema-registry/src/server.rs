//! Wires the registry: HTTP API, `/health` and `/metrics` on one listener,
//! with graceful shutdown. Used by `main` and by tests (ours and other crates').

use crate::compatibility::Level;
use crate::config::Config;
use crate::error::RegistryError;
use crate::registry::Registry;
use crate::routes::{self, AppState};
use lms_runtime::Shutdown;
use sqlx::PgPool;
use tokio::net::TcpListener;

/// Serves the registry on `listener` until `shutdown` is cancelled, then drains
/// in-flight requests. Expects a migrated database (see [`crate::migrate`]).
pub async fn serve(
    config: &Config,
    pool: PgPool,
    listener: TcpListener,
    shutdown: Shutdown,
) -> Result<(), RegistryError> {
    let default_level: Level = config.default_compatibility.parse().map_err(|bad| {
        RegistryError::Config(format!("LMS_DEFAULT_COMPATIBILITY: unknown level '{bad}'"))
    })?;
    let state = AppState {
        registry: Registry::new(pool, default_level),
        admin: routes::Admin::new(&config.admin_user, &config.admin_password),
    };
    let app = routes::router(state);
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown.cancelled().await;
            tracing::info!("shutting down: draining in-flight requests");
        })
        .await?;
    Ok(())
}
