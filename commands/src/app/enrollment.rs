//! The enrollment process. Enrolling touches two aggregates: the Course (seat
//! ledger, the capacity boundary) and the Enrollment. Every rule is checked
//! first on loaded state without writing; then the seat is reserved
//! (optimistic concurrency on the course stream makes capacity hold), then the
//! enrollment is written together with the command-log row. Leaving (withdraw,
//! complete) writes the enrollment first and releases the seat last. Each step
//! is idempotent, so a retry of the same command resumes an interrupted run.
//! See docs/adr/0002-seat-capacity.md.

use super::{AggregateStore, Reply, Runner, Written};
use crate::context::CommandContext;
use crate::error::CommandError;
use cqrs_es::Aggregate;
use lms_domain::course::{Course, CourseCommand, SeatStatus};
use lms_domain::enrollment::{Enrollment, EnrollmentCommand, EnrollmentError, EnrollmentStatus};
use lms_domain::subscription::{Standing, Subscription};
use lms_domain::{Clock, CourseId, EnrollmentId, LessonId, SubscriptionId, UserId};
use std::sync::Arc;

#[derive(Clone)]
pub struct EnrollmentService {
    courses: Arc<AggregateStore<Course>>,
    enrollments: Arc<AggregateStore<Enrollment>>,
    subscriptions: Arc<AggregateStore<Subscription>>,
    clock: Arc<dyn Clock>,
    runner: Runner,
}

/// The two ways an active enrollment ends; both free the seat.
#[derive(Debug, Clone)]
pub enum Leave {
    Withdraw { reason: String },
    Complete,
}

impl EnrollmentService {
    pub fn new(
        courses: Arc<AggregateStore<Course>>,
        enrollments: Arc<AggregateStore<Enrollment>>,
        subscriptions: Arc<AggregateStore<Subscription>>,
        clock: Arc<dyn Clock>,
        runner: Runner,
    ) -> Self {
        Self {
            courses,
            enrollments,
            subscriptions,
            clock,
            runner,
        }
    }

    async fn course(
        &self,
        context: &CommandContext,
        course_id: CourseId,
    ) -> Result<Course, CommandError> {
        let (course, _) = self
            .courses
            .load(&context.tenant_id, &course_id.to_string())
            .await?;
        if !course.exists() {
            return Err(CommandError::from_domain(
                &lms_domain::course::CourseError::NotFound,
            ));
        }
        Ok(course)
    }

    async fn standing(
        &self,
        context: &CommandContext,
        student: UserId,
        course: &Course,
    ) -> Result<Standing, CommandError> {
        if !course.access().requires_subscription() {
            return Ok(Standing::NotEntitled);
        }
        let id = SubscriptionId::for_student(student).to_string();
        let (subscription, _) = self.subscriptions.load(&context.tenant_id, &id).await?;
        Ok(subscription.standing(self.clock.now()))
    }

    pub async fn enroll(
        &self,
        context: &CommandContext,
        course_id: CourseId,
        student_id: UserId,
    ) -> Result<Reply, CommandError> {
        let enrollment_id = EnrollmentId::for_student_in_course(course_id, student_id);
        let id = enrollment_id.to_string();
        self.runner
            .run(context, || async {
                let course = self.course(context, course_id).await?;
                let subscription = self.standing(context, student_id, &course).await?;
                let (enrollment, _) = self.enrollments.load(&context.tenant_id, &id).await?;
                let command = |admission| EnrollmentCommand::Enroll {
                    actor: context.actor,
                    enrollment_id,
                    student_id,
                    course_id,
                    admission,
                    subscription,
                };
                // Dry run on loaded state: a refusal writes nothing.
                enrollment
                    .decide(command(course.admission_for(student_id)))
                    .map_err(|e| CommandError::from_domain(&e))?;
                self.courses
                    .execute(
                        context,
                        &course_id.to_string(),
                        CourseCommand::ReserveSeat { student_id },
                        None,
                    )
                    .await?;
                let mut admission = course.admission_for(student_id);
                admission.seat = SeatStatus::Held;
                self.enrollments
                    .complete(context, &id, command(admission), "")
                    .await
            })
            .await
    }

    pub async fn complete_lesson(
        &self,
        context: &CommandContext,
        enrollment_id: EnrollmentId,
        lesson_id: LessonId,
    ) -> Result<Reply, CommandError> {
        let id = enrollment_id.to_string();
        self.runner
            .run(context, || async {
                let (enrollment, _) = self.existing(context, &id).await?;
                let course_lessons = match enrollment.course_id() {
                    Some(course_id) => self.course(context, course_id).await?.lesson_ids(),
                    None => Default::default(),
                };
                let command = EnrollmentCommand::CompleteLesson {
                    actor: context.actor,
                    lesson_id,
                    course_lessons,
                };
                self.enrollments.complete(context, &id, command, "").await
            })
            .await
    }

    /// Withdraws or completes, then frees the seat. If an earlier run of the
    /// same request ended the enrollment but not the seat, this resumes it.
    pub async fn leave(
        &self,
        context: &CommandContext,
        enrollment_id: EnrollmentId,
        leave: Leave,
    ) -> Result<Reply, CommandError> {
        let id = enrollment_id.to_string();
        self.runner
            .run(context, || async {
                let (enrollment, sequence) = self.existing(context, &id).await?;
                let (Some(course_id), Some(student_id)) =
                    (enrollment.course_id(), enrollment.student_id())
                else {
                    return Err(CommandError::from_domain(&EnrollmentError::NotFound));
                };
                let course = self.course(context, course_id).await?;
                let resuming = enrollment.status() != EnrollmentStatus::Active
                    && course.holds_seat(student_id);
                if resuming && !context.actor.may_act_for(student_id) {
                    return Err(CommandError::from_domain(&EnrollmentError::NotAllowed));
                }
                let written = if resuming {
                    Written {
                        aggregate_id: id.clone(),
                        sequence,
                    }
                } else {
                    let command = match &leave {
                        Leave::Withdraw { reason } => EnrollmentCommand::Withdraw {
                            actor: context.actor,
                            reason: reason.clone(),
                        },
                        Leave::Complete => EnrollmentCommand::CompleteCourse {
                            actor: context.actor,
                            course_lessons: course.lesson_ids(),
                        },
                    };
                    self.enrollments
                        .execute(context, &id, command, None)
                        .await?
                };
                let completion = context.completion(
                    Some((Enrollment::TYPE.to_string(), id.clone(), written.sequence)),
                    String::new(),
                );
                self.courses
                    .execute(
                        context,
                        &course_id.to_string(),
                        CourseCommand::ReleaseSeat { student_id },
                        Some(&completion),
                    )
                    .await?;
                Ok(written.reply(""))
            })
            .await
    }

    async fn existing(
        &self,
        context: &CommandContext,
        id: &str,
    ) -> Result<(Enrollment, i64), CommandError> {
        let (enrollment, sequence) = self.enrollments.load(&context.tenant_id, id).await?;
        if !enrollment.exists() {
            return Err(CommandError::from_domain(&EnrollmentError::NotFound));
        }
        Ok((enrollment, sequence))
    }
}
