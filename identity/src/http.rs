//! The JWKS over HTTP: every service's verifier reads the public keys here.

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use lms_runtime::auth::Jwks;
use lms_runtime::Shutdown;
use std::sync::Arc;
use tokio::net::TcpListener;

pub const JWKS_PATH: &str = "/.well-known/jwks.json";

pub fn router(jwks: Jwks) -> Router {
    let jwks = Arc::new(jwks);
    Router::new().route(
        JWKS_PATH,
        get(move || {
            let jwks = jwks.clone();
            async move {
                (
                    // Verifiers refresh on their own schedule; caches may
                    // keep it briefly (a rotation publishes keys ahead).
                    [(header::CACHE_CONTROL, "public, max-age=300")],
                    Json(jwks.as_ref().clone()),
                )
                    .into_response()
            }
        }),
    )
}

pub async fn serve(listener: TcpListener, jwks: Jwks, shutdown: Shutdown) -> std::io::Result<()> {
    axum::serve(listener, router(jwks))
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
}
