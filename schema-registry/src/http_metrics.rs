//! The per-request HTTP metrics layer (the recorder and `/metrics` come from
//! lms-runtime).

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use std::time::Instant;

/// Counts requests by route template, method and status, and times them.
pub async fn track_http(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = request.method().to_string();
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    let labels = [("route", route), ("method", method), ("status", status)];
    metrics::counter!("schema_registry_http_requests_total", &labels).increment(1);
    metrics::histogram!("schema_registry_http_request_duration_seconds", &labels)
        .record(started.elapsed().as_secs_f64());
    response
}
