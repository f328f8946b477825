//! Sign-up, login, logout, the current session and the profile.

use super::{AppState, JsonBody, SignedIn};
use crate::error::{BffError, Problem};
use crate::session::Record;
use crate::upstream::{command_id, request};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use lms_proto::identity::v1::{GetMeRequest, LoginRequest, LogoutRequest, RegisterRequest};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Deserialize, ToSchema)]
pub struct SignUpBody {
    pub email: String,
    #[schema(value_type = String, format = Password)]
    pub password: SecretString,
    pub display_name: String,
}

#[derive(Deserialize, ToSchema)]
pub struct LoginBody {
    pub email: String,
    #[schema(value_type = String, format = Password)]
    pub password: SecretString,
}

/// The signed-in user as the SPA needs them, and the CSRF token to send
/// as `X-CSRF-Token` on every state-changing request.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SessionView {
    pub user_id: String,
    pub tenant_id: String,
    pub roles: Vec<String>,
    pub csrf_token: String,
}

impl From<&Record> for SessionView {
    fn from(record: &Record) -> Self {
        SessionView {
            user_id: record.user_id.clone(),
            tenant_id: record.tenant_id.clone(),
            roles: record.roles.clone(),
            csrf_token: record.csrf_token().to_string(),
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Profile {
    pub user_id: String,
    pub tenant_id: String,
    pub email: String,
    pub display_name: String,
    pub locale: String,
    pub time_zone: String,
    pub opted_out: Vec<String>,
    pub roles: Vec<String>,
}

async fn start_session(
    state: &AppState,
    email: String,
    password: &SecretString,
    headers: &HeaderMap,
    status: StatusCode,
) -> Result<Response, BffError> {
    let issued = state
        .upstream
        .identity()
        .login(request(
            LoginRequest {
                tenant_id: state.config.tenant.clone(),
                email,
                password: password.expose_secret().to_string(),
            },
            None,
            headers,
        )?)
        .await?
        .into_inner();
    let (id, record) = state.sessions.create(&issued).await?;
    let cookie = state.sessions.cookie(&id, &record);
    Ok((
        status,
        [(header::SET_COOKIE, cookie)],
        Json(SessionView::from(&record)),
    )
        .into_response())
}

/// Creates a student account and signs it in.
#[utoipa::path(post, path = "/api/auth/signup", tag = "auth", request_body = SignUpBody,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retried sign-up the same one")),
    responses(
        (status = 201, body = SessionView, description = "Signed in; the session cookie is set"),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "EMAIL_TAKEN"),
    ))]
pub async fn sign_up(
    State(state): State<AppState>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<SignUpBody>,
) -> Result<Response, BffError> {
    state
        .upstream
        .identity()
        .register(request(
            RegisterRequest {
                command_id: command_id(&headers),
                tenant_id: state.config.tenant.clone(),
                email: body.email.clone(),
                password: body.password.expose_secret().to_string(),
                display_name: body.display_name,
            },
            None,
            &headers,
        )?)
        .await?;
    start_session(
        &state,
        body.email,
        &body.password,
        &headers,
        StatusCode::CREATED,
    )
    .await
}

/// Signs in.
#[utoipa::path(post, path = "/api/auth/login", tag = "auth", request_body = LoginBody,
    responses(
        (status = 200, body = SessionView, description = "Signed in; the session cookie is set"),
        (status = 401, body = Problem, content_type = "application/problem+json", description = "INVALID_CREDENTIALS"),
        (status = 429, body = Problem, content_type = "application/problem+json", description = "TOO_MANY_ATTEMPTS, with Retry-After"),
    ))]
pub async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<LoginBody>,
) -> Result<Response, BffError> {
    start_session(&state, body.email, &body.password, &headers, StatusCode::OK).await
}

/// Signs out: the refresh token is revoked and the cookie cleared.
#[utoipa::path(post, path = "/api/auth/logout", tag = "auth",
    params(("X-CSRF-Token" = String, Header)),
    responses((status = 204, description = "Signed out")))]
pub async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    signed_in: SignedIn,
) -> Result<Response, BffError> {
    state
        .upstream
        .identity()
        .logout(request(
            LogoutRequest {
                refresh_token: signed_in.session.refresh_token().to_string(),
            },
            None,
            &headers,
        )?)
        .await?;
    state.sessions.delete(&signed_in.id).await?;
    Ok((
        StatusCode::NO_CONTENT,
        [(header::SET_COOKIE, state.sessions.expired_cookie())],
    )
        .into_response())
}

/// The current session (and its CSRF token), or 401.
#[utoipa::path(get, path = "/api/session", tag = "auth",
    responses(
        (status = 200, body = SessionView),
        (status = 401, body = Problem, content_type = "application/problem+json", description = "SESSION_REQUIRED"),
    ))]
pub async fn current(signed_in: SignedIn) -> Json<SessionView> {
    Json(SessionView::from(&signed_in.session))
}

/// The signed-in user's profile.
#[utoipa::path(get, path = "/api/me", tag = "auth",
    responses((status = 200, body = Profile), (status = 401, body = Problem, content_type = "application/problem+json")))]
pub async fn me(
    State(state): State<AppState>,
    headers: HeaderMap,
    signed_in: SignedIn,
) -> Result<Json<Profile>, BffError> {
    let me = state
        .upstream
        .identity()
        .get_me(signed_in.request(GetMeRequest {}, &headers)?)
        .await?
        .into_inner();
    Ok(Json(Profile {
        user_id: me.user_id,
        tenant_id: me.tenant_id,
        email: me.email,
        display_name: me.display_name,
        locale: me.locale,
        time_zone: me.time_zone,
        opted_out: me.opted_out,
        roles: me.roles,
    }))
}
