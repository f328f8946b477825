//! Course authoring: each command is one decision of the Course aggregate.

use super::{AggregateStore, Reply, Runner};
use crate::context::CommandContext;
use crate::error::CommandError;
use lms_domain::course::{Course, CourseCommand};
use lms_domain::CourseId;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

#[derive(Clone)]
pub struct CourseService {
    courses: Arc<AggregateStore<Course>>,
    runner: Runner,
}

impl CourseService {
    pub fn new(courses: Arc<AggregateStore<Course>>, runner: Runner) -> Self {
        Self { courses, runner }
    }

    /// Executes `command` on course `course_id` as one idempotent command;
    /// `created_id` names an entity the command creates (module, lesson).
    pub async fn execute(
        &self,
        context: &CommandContext,
        course_id: CourseId,
        command: CourseCommand,
        created_id: String,
    ) -> Result<Reply, CommandError> {
        self.run(context, course_id, command, created_id, false)
            .await
    }

    /// Creates course `course_id`, an id generated for this command: the
    /// first attempt reads nothing of the (nonexistent) stream.
    pub async fn create_new(
        &self,
        context: &CommandContext,
        course_id: CourseId,
        command: CourseCommand,
    ) -> Result<Reply, CommandError> {
        self.run(context, course_id, command, String::new(), true)
            .await
    }

    async fn run(
        &self,
        context: &CommandContext,
        course_id: CourseId,
        command: CourseCommand,
        created_id: String,
        fresh: bool,
    ) -> Result<Reply, CommandError> {
        let id = course_id.to_string();
        // Only the first attempt: a retry after a conflict loads the stream.
        let first = AtomicBool::new(fresh);
        self.runner
            .run(context, || async {
                if first.swap(false, Ordering::Relaxed) {
                    self.courses
                        .complete_new(context, &id, command.clone(), &created_id)
                        .await
                } else {
                    self.courses
                        .complete(context, &id, command.clone(), &created_id)
                        .await
                }
            })
            .await
    }
}
