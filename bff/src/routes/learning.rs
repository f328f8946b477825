//! What a student does in a course they are enrolled in, and their dashboard.

use super::{After, AppState, CommandResult, JsonBody, QueryParams, SignedIn};
use crate::error::{BffError, Problem};
use crate::upstream::command_id;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::Json;
use lms_proto::command::v1::{CompleteCourseRequest, CompleteLessonRequest, WithdrawRequest};
use lms_proto::query::v1::GetStudentDashboardRequest;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Marks a lesson done.
#[utoipa::path(post, path = "/api/enrollments/{enrollment_id}/lessons/{lesson_id}/complete", tag = "learning",
    params(("enrollment_id" = String, Path), ("lesson_id" = String, Path), ("X-CSRF-Token" = String, Header), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = CommandResult), (status = 409, body = Problem, content_type = "application/problem+json")))]
pub async fn complete_lesson(
    State(state): State<AppState>,
    headers: HeaderMap,
    signed_in: SignedIn,
    Path((enrollment_id, lesson_id)): Path<(String, String)>,
) -> Result<Json<CommandResult>, BffError> {
    let reply = state
        .upstream
        .enrollments()
        .complete_lesson(signed_in.request(
            CompleteLessonRequest {
                command_id: command_id(&headers),
                enrollment_id,
                lesson_id,
            },
            &headers,
        )?)
        .await?
        .into_inner();
    Ok(Json(reply.into()))
}

/// Finishes the course once every lesson is done (409 `LESSONS_REMAINING`
/// before); the seat is freed.
#[utoipa::path(post, path = "/api/enrollments/{enrollment_id}/complete", tag = "learning",
    params(("enrollment_id" = String, Path), ("X-CSRF-Token" = String, Header), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = CommandResult), (status = 409, body = Problem, content_type = "application/problem+json")))]
pub async fn complete_course(
    State(state): State<AppState>,
    headers: HeaderMap,
    signed_in: SignedIn,
    Path(enrollment_id): Path<String>,
) -> Result<Json<CommandResult>, BffError> {
    let reply = state
        .upstream
        .enrollments()
        .complete_course(signed_in.request(
            CompleteCourseRequest {
                command_id: command_id(&headers),
                enrollment_id,
            },
            &headers,
        )?)
        .await?
        .into_inner();
    Ok(Json(reply.into()))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct WithdrawBody {
    #[serde(default)]
    pub reason: String,
}

/// Leaves a course (the seat is freed).
#[utoipa::path(post, path = "/api/enrollments/{enrollment_id}/withdraw", tag = "learning", request_body = WithdrawBody,
    params(("enrollment_id" = String, Path), ("X-CSRF-Token" = String, Header), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = CommandResult), (status = 409, body = Problem, content_type = "application/problem+json")))]
pub async fn withdraw(
    State(state): State<AppState>,
    headers: HeaderMap,
    signed_in: SignedIn,
    Path(enrollment_id): Path<String>,
    JsonBody(body): JsonBody<WithdrawBody>,
) -> Result<Json<CommandResult>, BffError> {
    let reply = state
        .upstream
        .enrollments()
        .withdraw(signed_in.request(
            WithdrawRequest {
                command_id: command_id(&headers),
                enrollment_id,
                reason: body.reason,
            },
            &headers,
        )?)
        .await?
        .into_inner();
    Ok(Json(reply.into()))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DashboardCourse {
    pub course_id: String,
    pub enrollment_id: String,
    /// `active` | `completed` | `withdrawn`.
    pub status: String,
    pub course_title: String,
    pub lessons_completed: u32,
    pub lessons_total: u32,
    /// 0–100.
    pub percent_complete: u32,
    pub updated_at: String,
}

/// The signed-in student's courses with their progress.
#[utoipa::path(get, path = "/api/dashboard", tag = "learning", params(After),
    responses((status = 200, body = [DashboardCourse]), (status = 401, body = Problem, content_type = "application/problem+json")))]
pub async fn dashboard(
    State(state): State<AppState>,
    headers: HeaderMap,
    signed_in: SignedIn,
    QueryParams(after): QueryParams<After>,
) -> Result<Json<Vec<DashboardCourse>>, BffError> {
    let reply = state
        .upstream
        .student_queries()
        .get_student_dashboard(signed_in.request(
            GetStudentDashboardRequest {
                student_id: signed_in.session.user_id.clone(),
                min_position: after.min_position()?,
            },
            &headers,
        )?)
        .await?
        .into_inner();
    Ok(Json(
        reply
            .courses
            .into_iter()
            .map(|c| DashboardCourse {
                percent_complete: percent(c.lessons_completed, c.lessons_total),
                course_id: c.course_id,
                enrollment_id: c.enrollment_id,
                status: c.status,
                course_title: c.course_title,
                lessons_completed: c.lessons_completed,
                lessons_total: c.lessons_total,
                updated_at: c.updated_at,
            })
            .collect(),
    ))
}

fn percent(done: u32, total: u32) -> u32 {
    if total == 0 {
        return 0;
    }
    (u64::from(done.min(total)) * 100 / u64::from(total)) as u32
}
