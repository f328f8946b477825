//! `lms.command.v1.EnrollmentCommands`.

use super::fields::Fields;
use super::handle;
use crate::app::EnrollmentService;
use crate::app::Leave;
use lms_domain::{Clock, CourseId, EnrollmentId, LessonId, UserId};
use lms_proto::command::v1::enrollment_commands_server::EnrollmentCommands;
use lms_proto::command::v1::*;
use std::sync::Arc;
use tonic::{Request, Response, Status};

pub struct EnrollmentCommandsService {
    service: EnrollmentService,
    clock: Arc<dyn Clock>,
}

impl EnrollmentCommandsService {
    pub fn new(service: EnrollmentService, clock: Arc<dyn Clock>) -> Self {
        Self { service, clock }
    }
}

#[tonic::async_trait]
impl EnrollmentCommands for EnrollmentCommandsService {
    async fn enroll(
        &self,
        request: Request<EnrollRequest>,
    ) -> Result<Response<CommandReply>, Status> {
        handle(&*self.clock, "Enroll", request, |ctx, r| async move {
            let mut f = Fields::default();
            let course_id: CourseId = f.id("course_id", &r.course_id);
            let student_id: UserId = f.id("student_id", &r.student_id);
            f.finish()?;
            self.service.enroll(&ctx, course_id, student_id).await
        })
        .await
    }

    async fn complete_lesson(
        &self,
        request: Request<CompleteLessonRequest>,
    ) -> Result<Response<CommandReply>, Status> {
        handle(
            &*self.clock,
            "CompleteLesson",
            request,
            |ctx, r| async move {
                let mut f = Fields::default();
                let enrollment_id: EnrollmentId = f.id("enrollment_id", &r.enrollment_id);
                let lesson_id: LessonId = f.id("lesson_id", &r.lesson_id);
                f.finish()?;
                self.service
                    .complete_lesson(&ctx, enrollment_id, lesson_id)
                    .await
            },
        )
        .await
    }

    async fn complete_course(
        &self,
        request: Request<CompleteCourseRequest>,
    ) -> Result<Response<CommandReply>, Status> {
        handle(
            &*self.clock,
            "CompleteCourse",
            request,
            |ctx, r| async move {
                let mut f = Fields::default();
                let enrollment_id: EnrollmentId = f.id("enrollment_id", &r.enrollment_id);
                f.finish()?;
                self.service
                    .leave(&ctx, enrollment_id, Leave::Complete)
                    .await
            },
        )
        .await
    }

    async fn withdraw(
        &self,
        request: Request<WithdrawRequest>,
    ) -> Result<Response<CommandReply>, Status> {
        handle(&*self.clock, "Withdraw", request, |ctx, r| async move {
            let mut f = Fields::default();
            let enrollment_id: EnrollmentId = f.id("enrollment_id", &r.enrollment_id);
            f.text("reason", &r.reason, lms_domain::error::REASON);
            f.finish()?;
            self.service
                .leave(&ctx, enrollment_id, Leave::Withdraw { reason: r.reason })
                .await
        })
        .await
    }
}
