//! `StudentQueries`: GetStudentDashboard (`dashboard` schema).

use super::{count, observe, timestamp, QueryContext, Viewer, Violations};
use crate::error::QueryError;
use crate::read_your_writes::ReadModel;
use lms_proto::query::v1::student_queries_server::StudentQueries;
use lms_proto::query::v1::{
    GetStudentDashboardRequest, GetStudentDashboardResponse, StudentCourse,
};
use lms_readmodels::dashboard::{self, StudentCourseRow};
use tonic::{Request, Response, Status};

pub struct StudentQueriesService {
    ctx: QueryContext,
}

impl StudentQueriesService {
    pub fn new(ctx: QueryContext) -> Self {
        Self { ctx }
    }

    async fn get_dashboard(
        &self,
        viewer: Viewer,
        req: GetStudentDashboardRequest,
    ) -> Result<GetStudentDashboardResponse, QueryError> {
        let mut v = Violations::default();
        let student_id = v.uuid("student_id", &req.student_id);
        let position = v.position(req.min_position);
        v.finish()?;
        let Some(student_id) = student_id else {
            return Err(QueryError::Internal("validated student_id missing".into()));
        };
        viewer.may_read_student(student_id)?;
        self.ctx.caught_up(ReadModel::Dashboard, position).await?;
        let rows =
            dashboard::courses_of_student(self.ctx.pool(), &viewer.tenant_id, student_id).await?;
        Ok(GetStudentDashboardResponse {
            student_id: student_id.to_string(),
            courses: rows.into_iter().map(student_course_message).collect(),
        })
    }
}

fn student_course_message(row: StudentCourseRow) -> StudentCourse {
    StudentCourse {
        course_id: row.course_id.to_string(),
        enrollment_id: row.enrollment_id.to_string(),
        status: row.status,
        lessons_completed: count(row.lessons_completed),
        lessons_total: count(row.lessons_total),
        course_title: row.course_title,
        updated_at: timestamp(row.updated_at),
    }
}

#[tonic::async_trait]
impl StudentQueries for StudentQueriesService {
    async fn get_student_dashboard(
        &self,
        request: Request<GetStudentDashboardRequest>,
    ) -> Result<Response<GetStudentDashboardResponse>, Status> {
        let viewer = Viewer::of(&request)?;
        observe(
            "GetStudentDashboard",
            self.get_dashboard(viewer, request.into_inner()),
        )
        .await
    }
}
