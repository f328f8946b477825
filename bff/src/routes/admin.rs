//! What an admin does with accounts: grant and revoke roles. Identity
//! checks the caller is an admin (PERMISSION_DENIED otherwise).

use super::{AppState, CommandResult, JsonBody, SignedIn};
use crate::error::{BffError, Problem};
use crate::upstream::command_id;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::Json;
use lms_proto::identity::v1::RoleRequest;
use serde::Deserialize;
use utoipa::ToSchema;

#[derive(Debug, Deserialize, ToSchema)]
pub struct RoleBody {
    /// `student` | `instructor` | `admin`.
    pub role: String,
}

/// Grants a role; the user's next token (at most one access-token
/// lifetime later, or at their next sign-in) carries it.
#[utoipa::path(post, path = "/api/admin/users/{user_id}/roles", tag = "admin", request_body = RoleBody,
    params(("user_id" = String, Path), ("X-CSRF-Token" = String, Header), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = CommandResult), (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn grant_role(
    State(state): State<AppState>,
    headers: HeaderMap,
    signed_in: SignedIn,
    Path(user_id): Path<String>,
    JsonBody(body): JsonBody<RoleBody>,
) -> Result<Json<CommandResult>, BffError> {
    let reply = state
        .upstream
        .identity()
        .grant_role(signed_in.request(
            RoleRequest {
                command_id: command_id(&headers),
                user_id,
                role: body.role,
            },
            &headers,
        )?)
        .await?
        .into_inner();
    Ok(Json(reply.into()))
}

/// Revokes a role.
#[utoipa::path(delete, path = "/api/admin/users/{user_id}/roles/{role}", tag = "admin",
    params(("user_id" = String, Path), ("role" = String, Path), ("X-CSRF-Token" = String, Header), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = CommandResult), (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn revoke_role(
    State(state): State<AppState>,
    headers: HeaderMap,
    signed_in: SignedIn,
    Path((user_id, role)): Path<(String, String)>,
) -> Result<Json<CommandResult>, BffError> {
    let reply = state
        .upstream
        .identity()
        .revoke_role(signed_in.request(
            RoleRequest {
                command_id: command_id(&headers),
                user_id,
                role,
            },
            &headers,
        )?)
        .await?
        .into_inner();
    Ok(Json(reply.into()))
}
