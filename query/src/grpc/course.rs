//! `CourseQueries`: GetCourse, GetCourseOutline and ListCourses (Redis when warm, else the
//! `catalog` schema) and GetRoster (`roster` schema).

use super::{
    amount, count, count_source, observe, optional_timestamp, timestamp, QueryContext, Viewer,
    Violations,
};
use crate::course_cache::PublishedPage;
use crate::error::QueryError;
use crate::page_token::{self, Cursor};
use crate::read_your_writes::ReadModel;
use lms_proto::query::v1::course_queries_server::CourseQueries;
use lms_proto::query::v1::{
    Course, Enrollment, GetCourseOutlineResponse, GetCourseRequest, GetCourseResponse,
    GetRosterRequest, GetRosterResponse, Lesson, ListCoursesRequest, ListCoursesResponse, Module,
};
use lms_readmodels::catalog::{self, CourseFilter, CourseRow, LessonRow, ModuleRow};
use lms_readmodels::roster::{self, EnrollmentRow};
use tonic::{Request, Response, Status};

/// A title is at most 200 characters: a longer search cannot match.
const MAX_TITLE_SEARCH: usize = 200;

/// Tag of ListCourses page tokens.
const LISTING: &str = "courses";
const STATUSES: &[&str] = &["draft", "published", "archived"];

pub struct CourseQueriesService {
    ctx: QueryContext,
}

impl CourseQueriesService {
    pub fn new(ctx: QueryContext) -> Self {
        Self { ctx }
    }

    async fn get_course(
        &self,
        viewer: Viewer,
        req: GetCourseRequest,
    ) -> Result<GetCourseResponse, QueryError> {
        let mut v = Violations::default();
        let course_id = v.uuid("course_id", &req.course_id);
        let position = v.position(req.min_position);
        v.finish()?;
        let Some(course_id) = course_id else {
            return Err(QueryError::Internal("validated course_id missing".into()));
        };
        self.ctx.caught_up(ReadModel::Catalog, position).await?;

        // An unpublished course exists only for its teachers and admins.
        let not_found = || QueryError::NotFound {
            what: "course",
            id: course_id.to_string(),
        };
        match self.ctx.cache().card(course_id).await {
            Ok(Some(card)) => {
                count_source("GetCourse", "redis");
                if card.tenant_id != viewer.tenant_id
                    || (card.status != "published" && !viewer.teaches(&card.instructor_ids))
                {
                    return Err(not_found());
                }
                return Ok(GetCourseResponse {
                    course: Some(course_message(card)),
                });
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(error = %e, "redis unavailable; reading the course from Postgres")
            }
        }
        count_source("GetCourse", "postgres");
        let row = catalog::course(self.ctx.pool(), &viewer.tenant_id, course_id)
            .await?
            .ok_or_else(not_found)?;
        if row.status != "published" && !viewer.teaches(&row.instructor_ids) {
            return Err(not_found());
        }
        Ok(GetCourseResponse {
            course: Some(course_message(row)),
        })
    }

    /// Visible exactly when GetCourse is: that call does the checks.
    async fn get_course_outline(
        &self,
        viewer: Viewer,
        req: GetCourseRequest,
    ) -> Result<GetCourseOutlineResponse, QueryError> {
        let course = self
            .get_course(viewer, req)
            .await?
            .course
            .ok_or_else(|| QueryError::Internal("a course reply without its course".into()))?;
        let course_id = uuid::Uuid::parse_str(&course.course_id)
            .map_err(|e| QueryError::Internal(format!("course id of a card: {e}")))?;
        let (modules, lessons) = catalog::outline(self.ctx.pool(), course_id).await?;
        Ok(GetCourseOutlineResponse {
            course_id: course.course_id,
            modules: outline_message(modules, lessons),
        })
    }

    async fn list_courses(
        &self,
        viewer: Viewer,
        req: ListCoursesRequest,
    ) -> Result<ListCoursesResponse, QueryError> {
        let mut v = Violations::default();
        if !req.status.is_empty() && !STATUSES.contains(&req.status.as_str()) {
            v.add("status", "must be one of draft, published, archived");
        }
        let instructor_id = v.optional_uuid("instructor_id", &req.instructor_id);
        if req.title_contains.chars().count() > MAX_TITLE_SEARCH {
            v.add("title_contains", "must be at most 200 characters");
        } else if req.title_contains.chars().any(char::is_control) {
            v.add("title_contains", "must not contain control characters");
        }
        let page_size = v.check(page_token::page_size(req.page_size));
        let cursor = v
            .check(page_token::decode(LISTING, &req.page_token))
            .flatten();
        let position = v.position(req.min_position);
        v.finish()?;
        let page_size = page_size.unwrap_or(page_token::DEFAULT_PAGE_SIZE) as usize;
        self.ctx.caught_up(ReadModel::Catalog, position).await?;

        let mut filter = CourseFilter {
            status: Some(req.status).filter(|s| !s.is_empty()),
            instructor_id,
            title_contains: Some(req.title_contains).filter(|s| !s.is_empty()),
        };
        // Published courses are everyone's; other statuses are listed for
        // admins, and for an instructor asking for their own courses.
        if !viewer.admin && instructor_id != Some(viewer.user_id) {
            match filter.status.as_deref() {
                None => filter.status = Some("published".into()),
                Some("published") => {}
                Some(_) => {
                    return Err(QueryError::PermissionDenied {
                        reason: "PUBLISHED_ONLY",
                        message: "only published courses are listed for you; \
                                  list your own with instructor_id",
                    })
                }
            }
        }
        let after = cursor.map(|c| (c.micros, c.id));
        let only_published = filter.status.as_deref() == Some("published")
            && filter.instructor_id.is_none()
            && filter.title_contains.is_none();
        if only_published {
            match self
                .published_from_cache(&viewer.tenant_id, after, page_size)
                .await
            {
                Ok(Some(reply)) => {
                    count_source("ListCourses", "redis");
                    return Ok(reply);
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "redis unavailable; listing from Postgres"),
            }
        }
        count_source("ListCourses", "postgres");
        let limit = i64::try_from(page_size + 1).unwrap_or(i64::MAX);
        let mut rows =
            catalog::courses(self.ctx.pool(), &viewer.tenant_id, &filter, after, limit).await?;
        let next_page_token = if rows.len() > page_size {
            rows.truncate(page_size);
            rows.last().map(|last| {
                page_token::encode(
                    LISTING,
                    Cursor {
                        micros: last.created_at.timestamp_micros(),
                        id: last.course_id,
                    },
                )
            })
        } else {
            None
        };
        Ok(ListCoursesResponse {
            courses: rows.into_iter().map(course_message).collect(),
            next_page_token: next_page_token.unwrap_or_default(),
        })
    }

    /// The published listing from Redis; `None` when the catalog is not warm
    /// or a card is missing (then Postgres answers).
    async fn published_from_cache(
        &self,
        tenant: &str,
        after: Option<(i64, uuid::Uuid)>,
        page_size: usize,
    ) -> Result<Option<ListCoursesResponse>, redis::RedisError> {
        let cache = self.ctx.cache();
        // Usually one round trip; cursor ties beyond it walk the index.
        let (cards, next) = match cache.published_page(tenant, after, page_size).await? {
            PublishedPage::Page { cards, next } => (cards, next),
            PublishedPage::Cold => return Ok(None),
            PublishedPage::InSteps => {
                let mut index = cache.published(tenant, after, page_size + 1).await?;
                let next = if index.len() > page_size {
                    index.truncate(page_size);
                    index.last().map(|&(id, micros)| (micros, id))
                } else {
                    None
                };
                let ids: Vec<_> = index.iter().map(|(id, _)| *id).collect();
                let Some(cards) = cache
                    .cards(&ids)
                    .await?
                    .filter(|cards| cards.iter().all(|c| c.tenant_id == tenant))
                else {
                    tracing::debug!(
                        "published course without a complete card; listing from Postgres"
                    );
                    return Ok(None);
                };
                (cards, next)
            }
        };
        let next = next.map(|(micros, id)| page_token::encode(LISTING, Cursor { micros, id }));
        Ok(Some(ListCoursesResponse {
            courses: cards.into_iter().map(course_message).collect(),
            next_page_token: next.unwrap_or_default(),
        }))
    }

    async fn get_roster(
        &self,
        viewer: Viewer,
        req: GetRosterRequest,
    ) -> Result<GetRosterResponse, QueryError> {
        let mut v = Violations::default();
        let course_id = v.uuid("course_id", &req.course_id);
        let position = v.position(req.min_position);
        v.finish()?;
        let Some(course_id) = course_id else {
            return Err(QueryError::Internal("validated course_id missing".into()));
        };
        // The course's own position (the page after creating it) must be
        // reached by the catalog too: the course is looked up there first.
        let course_position = position
            .clone()
            .filter(|p| p.aggregate_id == course_id.to_string());
        self.ctx
            .caught_up(ReadModel::Catalog, course_position)
            .await?;
        // Another tenant's course is not there, whoever asks.
        let course = catalog::course(self.ctx.pool(), &viewer.tenant_id, course_id)
            .await?
            .ok_or_else(|| QueryError::NotFound {
                what: "course",
                id: course_id.to_string(),
            })?;
        if !viewer.teaches(&course.instructor_ids) {
            return Err(QueryError::PermissionDenied {
                reason: "NOT_COURSE_INSTRUCTOR",
                message: "a roster is read by the course's instructors and admins",
            });
        }
        self.ctx.caught_up(ReadModel::Roster, position).await?;
        let rows =
            roster::enrollments_of_course(self.ctx.pool(), &viewer.tenant_id, course_id).await?;
        Ok(GetRosterResponse {
            enrollments: rows.into_iter().map(enrollment_message).collect(),
        })
    }
}

/// Modules in order, each with its lessons in order. A lesson whose module
/// has no row (written before `catalog.modules` existed) gets one from the
/// module title it carries, after the others.
fn outline_message(modules: Vec<ModuleRow>, lessons: Vec<LessonRow>) -> Vec<Module> {
    let mut out: Vec<(uuid::Uuid, Module)> = modules
        .into_iter()
        .map(|m| {
            let module = Module {
                module_id: m.module_id.to_string(),
                title: m.title,
                position: count(m.position),
                lessons: Vec::new(),
            };
            (m.module_id, module)
        })
        .collect();
    for lesson in lessons {
        let index = match out.iter().position(|(id, _)| *id == lesson.module_id) {
            Some(index) => index,
            None => {
                let module = Module {
                    module_id: lesson.module_id.to_string(),
                    title: lesson.module_title.clone(),
                    position: u32::try_from(out.len()).unwrap_or(u32::MAX),
                    lessons: Vec::new(),
                };
                out.push((lesson.module_id, module));
                out.len() - 1
            }
        };
        out[index].1.lessons.push(Lesson {
            lesson_id: lesson.lesson_id.to_string(),
            title: lesson.title,
            position: count(lesson.position),
        });
    }
    out.into_iter().map(|(_, module)| module).collect()
}

fn course_message(row: CourseRow) -> Course {
    Course {
        course_id: row.course_id.to_string(),
        title: row.title,
        description: row.description,
        status: row.status,
        capacity: count(row.capacity),
        seats_taken: count(row.seats_taken),
        access_kind: row.access_kind,
        price_cents: row.price_cents.map(amount).unwrap_or_default(),
        plan: row.plan.unwrap_or_default(),
        language: row.language,
        instructor_ids: row.instructor_ids.iter().map(ToString::to_string).collect(),
        module_count: count(row.module_count),
        lesson_count: count(row.lesson_count),
        created_at: timestamp(row.created_at),
        updated_at: timestamp(row.updated_at),
    }
}

fn enrollment_message(row: EnrollmentRow) -> Enrollment {
    Enrollment {
        enrollment_id: row.enrollment_id.to_string(),
        course_id: row.course_id.to_string(),
        student_id: row.student_id.to_string(),
        status: row.status,
        lessons_completed: count(row.lessons_completed),
        enrolled_at: timestamp(row.enrolled_at),
        completed_at: optional_timestamp(row.completed_at),
        withdrawn_at: optional_timestamp(row.withdrawn_at),
        updated_at: timestamp(row.updated_at),
    }
}

#[tonic::async_trait]
impl CourseQueries for CourseQueriesService {
    async fn get_course(
        &self,
        request: Request<GetCourseRequest>,
    ) -> Result<Response<GetCourseResponse>, Status> {
        let viewer = Viewer::of(&request)?;
        observe("GetCourse", self.get_course(viewer, request.into_inner())).await
    }

    async fn get_course_outline(
        &self,
        request: Request<GetCourseRequest>,
    ) -> Result<Response<GetCourseOutlineResponse>, Status> {
        let viewer = Viewer::of(&request)?;
        observe(
            "GetCourseOutline",
            self.get_course_outline(viewer, request.into_inner()),
        )
        .await
    }

    async fn list_courses(
        &self,
        request: Request<ListCoursesRequest>,
    ) -> Result<Response<ListCoursesResponse>, Status> {
        let viewer = Viewer::of(&request)?;
        observe(
            "ListCourses",
            self.list_courses(viewer, request.into_inner()),
        )
        .await
    }

    async fn get_roster(
        &self,
        request: Request<GetRosterRequest>,
    ) -> Result<Response<GetRosterResponse>, Status> {
        let viewer = Viewer::of(&request)?;
        observe("GetRoster", self.get_roster(viewer, request.into_inner())).await
    }
}
