//! The router (API, `/openapi.json`, `/healthz`), request metrics, and
//! serving until shutdown.

use crate::config::Config;
use crate::error::Problem;
use crate::routes::{self, auth, billing, courses, learning, AppState};
use crate::session::Store;
use crate::upstream::{EndpointError, Upstream};
use axum::extract::{MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use lms_runtime::Shutdown;
use redis::aio::ConnectionManager;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    info(title = "LMS BFF", description = "HTTP/JSON for the LMS web app. Errors are application/problem+json; a session is an HttpOnly cookie, and every state-changing request carries X-CSRF-Token."),
    paths(
        auth::sign_up, auth::login, auth::logout, auth::current, auth::me,
        courses::list, courses::get, courses::create, courses::add_module, courses::add_lesson,
        courses::change_capacity, courses::publish, courses::enroll, courses::roster,
        learning::complete_lesson, learning::withdraw, learning::dashboard,
        billing::get, billing::start_trial, billing::activate, billing::cancel, billing::invoices,
    ),
    components(schemas(Problem)),
    tags(
        (name = "auth", description = "Sign-up, login, the session"),
        (name = "courses", description = "The catalog and course authoring"),
        (name = "learning", description = "Enrollments and progress"),
        (name = "billing", description = "Subscription and invoices"),
    )
)]
pub struct ApiDoc;

/// The OpenAPI 3.1 document of the API.
pub fn openapi() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

pub fn state(config: &Config, redis: ConnectionManager) -> Result<AppState, EndpointError> {
    let upstream = Upstream::new(
        &config.identity_endpoint,
        &config.commands_endpoint,
        &config.query_endpoint,
        Duration::from_millis(config.upstream_timeout_ms),
    )?;
    Ok(AppState {
        sessions: Store::new(redis, &config.redis_prefix, config.cookie_secure),
        upstream,
        config: Arc::new(config.clone()),
    })
}

pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/auth/signup", post(auth::sign_up))
        .route("/auth/login", post(auth::login))
        .route("/auth/logout", post(auth::logout))
        .route("/session", get(auth::current))
        .route("/me", get(auth::me))
        .route("/courses", get(courses::list).post(courses::create))
        .route("/courses/{course_id}", get(courses::get))
        .route("/courses/{course_id}/modules", post(courses::add_module))
        .route(
            "/courses/{course_id}/modules/{module_id}/lessons",
            post(courses::add_lesson),
        )
        .route(
            "/courses/{course_id}/capacity",
            put(courses::change_capacity),
        )
        .route("/courses/{course_id}/publish", post(courses::publish))
        .route("/courses/{course_id}/enrollment", post(courses::enroll))
        .route("/courses/{course_id}/roster", get(courses::roster))
        .route(
            "/enrollments/{enrollment_id}/lessons/{lesson_id}/complete",
            post(learning::complete_lesson),
        )
        .route(
            "/enrollments/{enrollment_id}/withdraw",
            post(learning::withdraw),
        )
        .route("/dashboard", get(learning::dashboard))
        .route("/subscription", get(billing::get))
        .route("/subscription/trial", post(billing::start_trial))
        .route("/subscription/activate", post(billing::activate))
        .route("/subscription/cancel", post(billing::cancel))
        .route("/invoices", get(billing::invoices))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            routes::same_origin_only,
        ));
    Router::new()
        .nest("/api", api)
        .route("/openapi.json", get(|| async { Json(openapi()) }))
        .route("/healthz", get(health))
        .layer(middleware::from_fn(observe))
        .with_state(state)
}

async fn not_found() -> Response {
    Problem {
        kind: "urn:lms:problem:no_such_route".into(),
        title: "Not Found".into(),
        status: 404,
        detail: "no such route".into(),
        reason: Some("NO_SUCH_ROUTE".into()),
        violations: Vec::new(),
        retry_after: None,
    }
    .into_response()
}

/// Ready when the session store answers.
async fn health(State(state): State<AppState>) -> StatusCode {
    match state.sessions.ping().await {
        Ok(()) => StatusCode::OK,
        Err(_) => StatusCode::SERVICE_UNAVAILABLE,
    }
}

/// Counts and times every request by route template and status.
async fn observe(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let method = request.method().to_string();
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("lms_bff_requests_total", "method" => method.clone(), "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("lms_bff_request_duration_seconds", "method" => method, "route" => route)
        .record(started.elapsed().as_secs_f64());
    response
}

/// Serves the API on `http` (and `/metrics` on `metrics`) until `shutdown`.
pub async fn serve(
    state: AppState,
    http: TcpListener,
    metrics: Option<TcpListener>,
    shutdown: Shutdown,
) -> std::io::Result<()> {
    let metrics_task = metrics.map(|listener| {
        tokio::spawn(lms_runtime::telemetry::serve_metrics(
            listener,
            shutdown.clone(),
        ))
    });
    let stop = shutdown.clone();
    let served = axum::serve(http, router(state))
        .with_graceful_shutdown(async move { stop.cancelled().await })
        .await;
    shutdown.cancel();
    if let Some(task) = metrics_task {
        let _ = task.await;
    }
    served
}
