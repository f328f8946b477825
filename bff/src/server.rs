//! The router (API, `/openapi.json`, `/healthz`), request metrics, and
//! serving until shutdown.

use crate::config::Config;
use crate::error::Problem;
use crate::routes::{self, admin, auth, billing, courses, learning, AppState};
use crate::session::Store;
use crate::upstream::{EndpointError, Upstream};
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use lms_runtime::Shutdown;
use redis::aio::ConnectionManager;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tower_http::services::{ServeDir, ServeFile};
use tower_http::set_header::SetResponseHeaderLayer;
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    info(title = "LMS BFF", description = "HTTP/JSON for the LMS web app. Errors are application/problem+json; a session is an HttpOnly cookie, and every state-changing request carries X-CSRF-Token."),
    paths(
        auth::sign_up, auth::login, auth::logout, auth::current, auth::me,
        courses::list, courses::get, courses::outline, courses::create, courses::add_module, courses::add_lesson,
        courses::change_capacity, courses::publish, courses::enroll, courses::roster,
        learning::complete_lesson, learning::complete_course, learning::withdraw, learning::dashboard,
        billing::get, billing::start_trial, billing::activate, billing::cancel, billing::invoices,
        admin::grant_role, admin::revoke_role,
    ),
    components(schemas(Problem)),
    tags(
        (name = "auth", description = "Sign-up, login, the session"),
        (name = "courses", description = "The catalog and course authoring"),
        (name = "learning", description = "Enrollments and progress"),
        (name = "billing", description = "Subscription and invoices"),
        (name = "admin", description = "Accounts and roles (admins)"),
    )
)]
pub struct ApiDoc;

/// The OpenAPI 3.1 document of the API.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    with_default_problem(&mut doc);
    doc
}

/// Every operation can answer with any error status a backend service
/// gives (a gRPC code maps to one), always as problem+json: the
/// `default` response says so where a handler lists only its typical ones.
fn with_default_problem(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
    let problem = ResponseBuilder::new()
        .description("Any other outcome: an error as application/problem+json")
        .content(
            "application/problem+json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Problem")))
                .build(),
        )
        .build();
    for item in doc.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for operation in operations.into_iter().flatten() {
            operation
                .responses
                .responses
                .entry("default".into())
                .or_insert_with(|| problem.clone().into());
        }
    }
}

/// A setting the BFF cannot start with.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error(transparent)]
    Endpoint(#[from] EndpointError),
    #[error("LMS_TRUSTED_PROXIES")]
    TrustedProxies(#[from] lms_runtime::client_address::TrustedProxiesError),
}

pub fn state(config: &Config, redis: ConnectionManager) -> Result<AppState, StateError> {
    let upstream = Upstream::new(
        &config.identity_endpoint,
        &config.commands_endpoint,
        &config.query_endpoint,
        Duration::from_millis(config.upstream_timeout_ms),
    )?;
    Ok(AppState {
        trusted_proxies: config.trusted_proxies.parse()?,
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
        .route("/courses/{course_id}/outline", get(courses::outline))
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
            "/enrollments/{enrollment_id}/complete",
            post(learning::complete_course),
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
        .route("/admin/users/{user_id}/roles", post(admin::grant_role))
        .route(
            "/admin/users/{user_id}/roles/{role}",
            delete(admin::revoke_role),
        )
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            routes::same_origin_only,
        ));
    let web = web_app(Path::new(&state.config.web_dir));
    Router::new()
        .nest("/api", api)
        .route("/openapi.json", get(|| async { Json(openapi()) }))
        .route("/healthz", get(health))
        .fallback_service(web)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            routes::client_address,
        ))
        .layer(middleware::from_fn(observe))
        .with_state(state)
}

/// What the browser may do with the web app's pages: scripts, styles and
/// fetches from this origin only, never framed.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; img-src 'self' data:; \
     style-src 'self'; style-src-attr 'unsafe-inline'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; \
     base-uri 'self'; form-action 'self'; object-src 'none'";

/// The built SPA: its files, and `index.html` for the paths its router owns.
/// Hashed assets are cached for good; `index.html` is revalidated so a new
/// release is picked up on the next load.
fn web_app(dir: &Path) -> Router {
    if !dir.join("index.html").is_file() {
        tracing::warn!(dir = %dir.display(), "no built web app here (npm run build in web/): serving the API only");
    }
    let index = ServeFile::new(dir.join("index.html"));
    let assets = Router::new()
        .fallback_service(ServeDir::new(dir.join("assets")))
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=31536000, immutable"),
        ));
    let pages = ServeDir::new(dir).fallback(index);
    Router::new()
        .nest("/assets", assets)
        .fallback_service(pages)
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-cache"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        ))
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
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    let served = axum::serve(http, app)
        .with_graceful_shutdown(async move { stop.cancelled().await })
        .await;
    shutdown.cancel();
    if let Some(task) = metrics_task {
        let _ = task.await;
    }
    served
}
