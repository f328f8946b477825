//! The catalog, a course, and what instructors do with their courses.

use super::{After, AppState, CommandResult, JsonBody, QueryParams, SignedIn};
use crate::error::{BffError, Problem};
use crate::upstream::command_id;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use lms_proto::command::v1::{
    course_access, AddLessonRequest, AddModuleRequest, ChangeCapacityRequest, CourseAccess,
    CreateCourseRequest, EnrollRequest, PublishCourseRequest,
};
use lms_proto::query::v1::{Course, GetCourseRequest, GetRosterRequest, ListCoursesRequest};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CourseView {
    pub course_id: String,
    pub title: String,
    pub description: String,
    /// `draft` | `published` | `archived`.
    pub status: String,
    pub capacity: u32,
    pub seats_taken: u32,
    /// `free` | `paid` | `plan`.
    pub access_kind: String,
    pub price_cents: Option<u64>,
    pub plan: Option<String>,
    pub language: String,
    pub instructor_ids: Vec<String>,
    pub module_count: u32,
    pub lesson_count: u32,
    pub created_at: String,
    pub updated_at: String,
}

impl From<Course> for CourseView {
    fn from(c: Course) -> Self {
        CourseView {
            price_cents: (c.access_kind == "paid").then_some(c.price_cents),
            plan: Some(c.plan).filter(|p| !p.is_empty()),
            course_id: c.course_id,
            title: c.title,
            description: c.description,
            status: c.status,
            capacity: c.capacity,
            seats_taken: c.seats_taken,
            access_kind: c.access_kind,
            language: c.language,
            instructor_ids: c.instructor_ids,
            module_count: c.module_count,
            lesson_count: c.lesson_count,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CourseList {
    pub courses: Vec<CourseView>,
    /// Pass as `page_token` for the next page; absent on the last.
    pub next_page_token: Option<String>,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Case-insensitive part of the title.
    pub title: Option<String>,
    /// `draft` | `published` | `archived` (others than published: your own
    /// courses with `mine=true`, or as an admin).
    pub status: Option<String>,
    /// Only the courses the signed-in user teaches.
    pub mine: Option<bool>,
    pub page_size: Option<u32>,
    pub page_token: Option<String>,
    pub after: Option<String>,
}

/// Published courses (and, with `mine=true`, your own in any status).
#[utoipa::path(get, path = "/api/courses", tag = "courses", params(ListParams),
    responses((status = 200, body = CourseList), (status = 400, body = Problem, content_type = "application/problem+json")))]
pub async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    signed_in: SignedIn,
    QueryParams(params): QueryParams<ListParams>,
) -> Result<Json<CourseList>, BffError> {
    let min_position = super::parse_position(params.after.as_deref())?;
    let reply = state
        .upstream
        .course_queries()
        .list_courses(signed_in.request(
            ListCoursesRequest {
                status: params.status.unwrap_or_default(),
                instructor_id: if params.mine.unwrap_or(false) {
                    signed_in.session.user_id.clone()
                } else {
                    String::new()
                },
                title_contains: params.title.unwrap_or_default(),
                page_size: params.page_size.unwrap_or_default(),
                page_token: params.page_token.unwrap_or_default(),
                min_position,
            },
            &headers,
        )?)
        .await?
        .into_inner();
    Ok(Json(CourseList {
        courses: reply.courses.into_iter().map(CourseView::from).collect(),
        next_page_token: Some(reply.next_page_token).filter(|t| !t.is_empty()),
    }))
}

/// One course (a draft only for its teachers).
#[utoipa::path(get, path = "/api/courses/{course_id}", operation_id = "get_course", tag = "courses", params(("course_id" = String, Path), After),
    responses((status = 200, body = CourseView), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn get(
    State(state): State<AppState>,
    headers: HeaderMap,
    signed_in: SignedIn,
    Path(course_id): Path<String>,
    QueryParams(after): QueryParams<After>,
) -> Result<Json<CourseView>, BffError> {
    let reply = state
        .upstream
        .course_queries()
        .get_course(signed_in.request(
            GetCourseRequest {
                course_id,
                min_position: after.min_position()?,
            },
            &headers,
        )?)
        .await?
        .into_inner();
    let course = reply
        .course
        .ok_or_else(|| BffError::Upstream(tonic::Status::internal("a reply without its course")))?;
    Ok(Json(course.into()))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LessonView {
    pub lesson_id: String,
    pub title: String,
    pub position: u32,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ModuleView {
    pub module_id: String,
    pub title: String,
    pub position: u32,
    pub lessons: Vec<LessonView>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Outline {
    pub course_id: String,
    /// In order; empty for a course with no modules yet.
    pub modules: Vec<ModuleView>,
}

/// A course's modules and lessons (visible exactly when the course is).
#[utoipa::path(get, path = "/api/courses/{course_id}/outline", tag = "courses", params(("course_id" = String, Path), After),
    responses((status = 200, body = Outline), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn outline(
    State(state): State<AppState>,
    headers: HeaderMap,
    signed_in: SignedIn,
    Path(course_id): Path<String>,
    QueryParams(after): QueryParams<After>,
) -> Result<Json<Outline>, BffError> {
    let reply = state
        .upstream
        .course_queries()
        .get_course_outline(signed_in.request(
            GetCourseRequest {
                course_id,
                min_position: after.min_position()?,
            },
            &headers,
        )?)
        .await?
        .into_inner();
    Ok(Json(Outline {
        course_id: reply.course_id,
        modules: reply
            .modules
            .into_iter()
            .map(|m| ModuleView {
                module_id: m.module_id,
                title: m.title,
                position: m.position,
                lessons: m
                    .lessons
                    .into_iter()
                    .map(|l| LessonView {
                        lesson_id: l.lesson_id,
                        title: l.title,
                        position: l.position,
                    })
                    .collect(),
            })
            .collect(),
    }))
}

/// How students get in: `free`, `paid` (with `price_cents`) or `plan`
/// (with `plan`: `basic` | `pro`).
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct AccessBody {
    pub kind: String,
    pub price_cents: Option<u64>,
    pub plan: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateCourseBody {
    pub title: String,
    #[serde(default)]
    pub description: String,
    pub capacity: u32,
    pub access: Option<AccessBody>,
}

fn access(body: Option<AccessBody>) -> Result<Option<CourseAccess>, BffError> {
    let Some(body) = body else {
        return Ok(None);
    };
    let kind = match body.kind.as_str() {
        "free" => return Ok(None),
        "paid" => course_access::Kind::PriceCents(body.price_cents.ok_or_else(|| {
            BffError::invalid("access.price_cents", "is required for a paid course")
        })?),
        "plan" => course_access::Kind::Plan(
            body.plan
                .ok_or_else(|| BffError::invalid("access.plan", "is required for a plan course"))?,
        ),
        _ => {
            return Err(BffError::invalid(
                "access.kind",
                "must be one of free, paid, plan",
            ))
        }
    };
    Ok(Some(CourseAccess { kind: Some(kind) }))
}

/// Creates a draft course taught by the signed-in instructor.
#[utoipa::path(post, path = "/api/courses", tag = "courses", request_body = CreateCourseBody,
    params(("X-CSRF-Token" = String, Header), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = CommandResult, description = "`created_id` is the course id"),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json")))]
pub async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    signed_in: SignedIn,
    JsonBody(body): JsonBody<CreateCourseBody>,
) -> Result<(StatusCode, Json<CommandResult>), BffError> {
    let reply = state
        .upstream
        .courses()
        .create_course(signed_in.request(
            CreateCourseRequest {
                command_id: command_id(&headers),
                course_id: String::new(),
                title: body.title,
                description: body.description,
                instructor_ids: vec![signed_in.session.user_id.clone()],
                capacity: body.capacity,
                access: access(body.access)?,
            },
            &headers,
        )?)
        .await?
        .into_inner();
    let mut result = CommandResult::from(reply);
    result.created_id = Some(result.aggregate_id.clone());
    Ok((StatusCode::CREATED, Json(result)))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct TitleBody {
    pub title: String,
}

/// Adds a module (`created_id` is its id).
#[utoipa::path(post, path = "/api/courses/{course_id}/modules", tag = "courses", request_body = TitleBody,
    params(("course_id" = String, Path), ("X-CSRF-Token" = String, Header), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = CommandResult), (status = 400, body = Problem, content_type = "application/problem+json")))]
pub async fn add_module(
    State(state): State<AppState>,
    headers: HeaderMap,
    signed_in: SignedIn,
    Path(course_id): Path<String>,
    JsonBody(body): JsonBody<TitleBody>,
) -> Result<(StatusCode, Json<CommandResult>), BffError> {
    let reply = state
        .upstream
        .courses()
        .add_module(signed_in.request(
            AddModuleRequest {
                command_id: command_id(&headers),
                course_id,
                module_id: String::new(),
                title: body.title,
            },
            &headers,
        )?)
        .await?
        .into_inner();
    Ok((StatusCode::CREATED, Json(reply.into())))
}

/// Adds a lesson to a module (`created_id` is its id).
#[utoipa::path(post, path = "/api/courses/{course_id}/modules/{module_id}/lessons", tag = "courses", request_body = TitleBody,
    params(("course_id" = String, Path), ("module_id" = String, Path), ("X-CSRF-Token" = String, Header), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = CommandResult), (status = 400, body = Problem, content_type = "application/problem+json")))]
pub async fn add_lesson(
    State(state): State<AppState>,
    headers: HeaderMap,
    signed_in: SignedIn,
    Path((course_id, module_id)): Path<(String, String)>,
    JsonBody(body): JsonBody<TitleBody>,
) -> Result<(StatusCode, Json<CommandResult>), BffError> {
    let reply = state
        .upstream
        .courses()
        .add_lesson(signed_in.request(
            AddLessonRequest {
                command_id: command_id(&headers),
                course_id,
                module_id,
                lesson_id: String::new(),
                title: body.title,
            },
            &headers,
        )?)
        .await?
        .into_inner();
    Ok((StatusCode::CREATED, Json(reply.into())))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CapacityBody {
    pub capacity: u32,
}

/// Changes the number of seats.
#[utoipa::path(put, path = "/api/courses/{course_id}/capacity", tag = "courses", request_body = CapacityBody,
    params(("course_id" = String, Path), ("X-CSRF-Token" = String, Header), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = CommandResult), (status = 409, body = Problem, content_type = "application/problem+json")))]
pub async fn change_capacity(
    State(state): State<AppState>,
    headers: HeaderMap,
    signed_in: SignedIn,
    Path(course_id): Path<String>,
    JsonBody(body): JsonBody<CapacityBody>,
) -> Result<Json<CommandResult>, BffError> {
    let reply = state
        .upstream
        .courses()
        .change_capacity(signed_in.request(
            ChangeCapacityRequest {
                command_id: command_id(&headers),
                course_id,
                capacity: body.capacity,
            },
            &headers,
        )?)
        .await?
        .into_inner();
    Ok(Json(reply.into()))
}

/// Publishes a draft.
#[utoipa::path(post, path = "/api/courses/{course_id}/publish", tag = "courses",
    params(("course_id" = String, Path), ("X-CSRF-Token" = String, Header), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = CommandResult), (status = 409, body = Problem, content_type = "application/problem+json")))]
pub async fn publish(
    State(state): State<AppState>,
    headers: HeaderMap,
    signed_in: SignedIn,
    Path(course_id): Path<String>,
) -> Result<Json<CommandResult>, BffError> {
    let reply = state
        .upstream
        .courses()
        .publish_course(signed_in.request(
            PublishCourseRequest {
                command_id: command_id(&headers),
                course_id,
            },
            &headers,
        )?)
        .await?
        .into_inner();
    Ok(Json(reply.into()))
}

/// Enrolls the signed-in student (`aggregate_id` is the enrollment id).
#[utoipa::path(post, path = "/api/courses/{course_id}/enrollment", tag = "courses",
    params(("course_id" = String, Path), ("X-CSRF-Token" = String, Header), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = CommandResult),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "COURSE_FULL, COURSE_NOT_OPEN, ALREADY_ENROLLED, SUBSCRIPTION_REQUIRED")))]
pub async fn enroll(
    State(state): State<AppState>,
    headers: HeaderMap,
    signed_in: SignedIn,
    Path(course_id): Path<String>,
) -> Result<(StatusCode, Json<CommandResult>), BffError> {
    let reply = state
        .upstream
        .enrollments()
        .enroll(signed_in.request(
            EnrollRequest {
                command_id: command_id(&headers),
                course_id,
                student_id: signed_in.session.user_id.clone(),
            },
            &headers,
        )?)
        .await?
        .into_inner();
    Ok((StatusCode::CREATED, Json(reply.into())))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RosterEntry {
    pub enrollment_id: String,
    pub student_id: String,
    /// `active` | `completed` | `withdrawn`.
    pub status: String,
    pub lessons_completed: u32,
    pub enrolled_at: String,
    pub completed_at: Option<String>,
    pub withdrawn_at: Option<String>,
}

/// A course's enrollments (its instructors and admins).
#[utoipa::path(get, path = "/api/courses/{course_id}/roster", tag = "courses", params(("course_id" = String, Path), After),
    responses((status = 200, body = [RosterEntry]), (status = 403, body = Problem, content_type = "application/problem+json")))]
pub async fn roster(
    State(state): State<AppState>,
    headers: HeaderMap,
    signed_in: SignedIn,
    Path(course_id): Path<String>,
    QueryParams(after): QueryParams<After>,
) -> Result<Json<Vec<RosterEntry>>, BffError> {
    let reply = state
        .upstream
        .course_queries()
        .get_roster(signed_in.request(
            GetRosterRequest {
                course_id,
                min_position: after.min_position()?,
            },
            &headers,
        )?)
        .await?
        .into_inner();
    let optional = |s: String| Some(s).filter(|s| !s.is_empty());
    Ok(Json(
        reply
            .enrollments
            .into_iter()
            .map(|e| RosterEntry {
                enrollment_id: e.enrollment_id,
                student_id: e.student_id,
                status: e.status,
                lessons_completed: e.lessons_completed,
                enrolled_at: e.enrolled_at,
                completed_at: optional(e.completed_at),
                withdrawn_at: optional(e.withdrawn_at),
            })
            .collect(),
    ))
}
