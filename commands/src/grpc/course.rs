//! `lms.command.v1.CourseCommands`.

use super::fields::Fields;
use super::handle;
use crate::app::CourseService;
use lms_domain::course::CourseCommand;
use lms_domain::{Clock, CourseId, LessonId, ModuleId};
use lms_proto::command::v1::course_commands_server::CourseCommands;
use lms_proto::command::v1::*;
use std::sync::Arc;
use tonic::{Request, Response, Status};

pub struct CourseCommandsService {
    service: CourseService,
    clock: Arc<dyn Clock>,
}

impl CourseCommandsService {
    pub fn new(service: CourseService, clock: Arc<dyn Clock>) -> Self {
        Self { service, clock }
    }
}

#[tonic::async_trait]
impl CourseCommands for CourseCommandsService {
    async fn create_course(
        &self,
        request: Request<CreateCourseRequest>,
    ) -> Result<Response<CommandReply>, Status> {
        handle(&*self.clock, "CreateCourse", request, |ctx, r| async move {
            let mut f = Fields::default();
            let generated = r.course_id.trim().is_empty();
            let course_id: CourseId = f.id_or_new("course_id", &r.course_id);
            let instructors = f.ids("instructor_ids", &r.instructor_ids);
            let access = f.access(r.access.as_ref());
            let command = CourseCommand::Create {
                course_id,
                actor: ctx.actor,
                title: r.title,
                description: r.description,
                instructors,
                capacity: r.capacity,
                access,
                language: None,
            };
            f.extend(command.violations());
            f.finish()?;
            if generated {
                self.service.create_new(&ctx, course_id, command).await
            } else {
                self.service
                    .execute(&ctx, course_id, command, String::new())
                    .await
            }
        })
        .await
    }

    async fn update_course_details(
        &self,
        request: Request<UpdateCourseDetailsRequest>,
    ) -> Result<Response<CommandReply>, Status> {
        handle(
            &*self.clock,
            "UpdateCourseDetails",
            request,
            |ctx, r| async move {
                let mut f = Fields::default();
                let course_id: CourseId = f.id("course_id", &r.course_id);
                let access = f.access(r.access.as_ref());
                let command = CourseCommand::UpdateDetails {
                    actor: ctx.actor,
                    title: r.title,
                    description: r.description,
                    access,
                };
                f.extend(command.violations());
                f.finish()?;
                self.service
                    .execute(&ctx, course_id, command, String::new())
                    .await
            },
        )
        .await
    }

    async fn add_module(
        &self,
        request: Request<AddModuleRequest>,
    ) -> Result<Response<CommandReply>, Status> {
        handle(&*self.clock, "AddModule", request, |ctx, r| async move {
            let mut f = Fields::default();
            let course_id: CourseId = f.id("course_id", &r.course_id);
            let module_id: ModuleId = f.id_or_new("module_id", &r.module_id);
            let command = CourseCommand::AddModule {
                actor: ctx.actor,
                module_id,
                title: r.title,
            };
            f.extend(command.violations());
            f.finish()?;
            self.service
                .execute(&ctx, course_id, command, module_id.to_string())
                .await
        })
        .await
    }

    async fn add_lesson(
        &self,
        request: Request<AddLessonRequest>,
    ) -> Result<Response<CommandReply>, Status> {
        handle(&*self.clock, "AddLesson", request, |ctx, r| async move {
            let mut f = Fields::default();
            let course_id: CourseId = f.id("course_id", &r.course_id);
            let module_id: ModuleId = f.id("module_id", &r.module_id);
            let lesson_id: LessonId = f.id_or_new("lesson_id", &r.lesson_id);
            let command = CourseCommand::AddLesson {
                actor: ctx.actor,
                module_id,
                lesson_id,
                title: r.title,
            };
            f.extend(command.violations());
            f.finish()?;
            self.service
                .execute(&ctx, course_id, command, lesson_id.to_string())
                .await
        })
        .await
    }

    async fn change_capacity(
        &self,
        request: Request<ChangeCapacityRequest>,
    ) -> Result<Response<CommandReply>, Status> {
        handle(
            &*self.clock,
            "ChangeCapacity",
            request,
            |ctx, r| async move {
                let mut f = Fields::default();
                let course_id: CourseId = f.id("course_id", &r.course_id);
                let command = CourseCommand::ChangeCapacity {
                    actor: ctx.actor,
                    capacity: r.capacity,
                };
                f.extend(command.violations());
                f.finish()?;
                self.service
                    .execute(&ctx, course_id, command, String::new())
                    .await
            },
        )
        .await
    }

    async fn publish_course(
        &self,
        request: Request<PublishCourseRequest>,
    ) -> Result<Response<CommandReply>, Status> {
        handle(
            &*self.clock,
            "PublishCourse",
            request,
            |ctx, r| async move {
                let mut f = Fields::default();
                let course_id: CourseId = f.id("course_id", &r.course_id);
                let command = CourseCommand::Publish { actor: ctx.actor };
                f.extend(command.violations());
                f.finish()?;
                self.service
                    .execute(&ctx, course_id, command, String::new())
                    .await
            },
        )
        .await
    }

    async fn archive_course(
        &self,
        request: Request<ArchiveCourseRequest>,
    ) -> Result<Response<CommandReply>, Status> {
        handle(
            &*self.clock,
            "ArchiveCourse",
            request,
            |ctx, r| async move {
                let mut f = Fields::default();
                let course_id: CourseId = f.id("course_id", &r.course_id);
                let command = CourseCommand::Archive { actor: ctx.actor };
                f.extend(command.violations());
                f.finish()?;
                self.service
                    .execute(&ctx, course_id, command, String::new())
                    .await
            },
        )
        .await
    }
}
