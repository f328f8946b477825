//! The Enrollment aggregate: one student's history in one course
//! (active → completed / withdrawn, and active again after a withdrawal).
//!
//! Facts owned by other aggregates (is the course published, is a seat held,
//! is the student's subscription entitled, which lessons exist) arrive in the
//! command, read by the application layer from those aggregates; this keeps
//! the decision pure and testable.

use crate::actor::Actor;
use crate::course::{Access, Admission, SeatStatus};
use crate::error::{describe, DomainError, ErrorKind, FieldViolation, Violations, REASON};
use crate::ids::{CourseId, EnrollmentId, LessonId, UserId};
use crate::subscription::Standing;
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EnrollmentStatus {
    #[default]
    None,
    Active,
    Completed,
    Withdrawn,
}

#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct Enrollment {
    id: Option<EnrollmentId>,
    student_id: Option<UserId>,
    course_id: Option<CourseId>,
    status: EnrollmentStatus,
    completed_lessons: BTreeSet<LessonId>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum EnrollmentCommand {
    Enroll {
        actor: Actor,
        enrollment_id: EnrollmentId,
        student_id: UserId,
        course_id: CourseId,
        admission: Admission,
        subscription: Standing,
    },
    CompleteLesson {
        actor: Actor,
        lesson_id: LessonId,
        course_lessons: BTreeSet<LessonId>,
    },
    CompleteCourse {
        actor: Actor,
        course_lessons: BTreeSet<LessonId>,
    },
    Withdraw {
        actor: Actor,
        reason: String,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum EnrollmentEvent {
    StudentEnrolled {
        enrollment_id: EnrollmentId,
        student_id: UserId,
        course_id: CourseId,
    },
    LessonCompleted {
        lesson_id: LessonId,
    },
    CourseCompleted,
    EnrollmentWithdrawn {
        reason: String,
    },
}

impl DomainEvent for EnrollmentEvent {
    fn event_type(&self) -> String {
        match self {
            EnrollmentEvent::StudentEnrolled { .. } => "StudentEnrolled",
            EnrollmentEvent::LessonCompleted { .. } => "LessonCompleted",
            EnrollmentEvent::CourseCompleted => "CourseCompleted",
            EnrollmentEvent::EnrollmentWithdrawn { .. } => "EnrollmentWithdrawn",
        }
        .to_string()
    }

    fn event_version(&self) -> String {
        "1".to_string()
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EnrollmentError {
    #[error("invalid enrollment command: {}", describe(.0))]
    Invalid(Vec<FieldViolation>),
    #[error("enrollment not found")]
    NotFound,
    #[error("a student may only enroll themselves (or an admin for them)")]
    NotAllowed,
    #[error("course is not published")]
    CourseNotPublished,
    #[error("course is full")]
    CourseFull,
    #[error("student is already enrolled in this course")]
    AlreadyEnrolled,
    #[error("student has already completed this course")]
    AlreadyCompleted,
    #[error("this course needs an active subscription")]
    SubscriptionRequired,
    #[error("this course needs the {required} plan")]
    PlanNotSufficient { required: &'static str },
    #[error("enrollment is not active")]
    NotActive,
    #[error("lesson is not part of this course")]
    UnknownLesson,
    #[error("lesson already completed")]
    LessonAlreadyCompleted,
    #[error("{remaining} lesson(s) are not completed yet")]
    LessonsRemaining { remaining: usize },
}

impl EnrollmentCommand {
    /// Input errors visible from the command alone (see `CourseCommand::violations`).
    pub fn violations(&self) -> Vec<FieldViolation> {
        let mut v = Violations::default();
        if let EnrollmentCommand::Withdraw { reason, .. } = self {
            v.text("reason", reason, REASON);
        }
        v.into_vec()
    }
}

impl DomainError for EnrollmentError {
    fn not_found() -> Self {
        EnrollmentError::NotFound
    }

    fn kind(&self) -> ErrorKind {
        match self {
            EnrollmentError::Invalid(v) => ErrorKind::Invalid(v.clone()),
            EnrollmentError::NotFound => ErrorKind::NotFound,
            EnrollmentError::NotAllowed => ErrorKind::PermissionDenied,
            _ => ErrorKind::FailedPrecondition,
        }
    }

    fn reason(&self) -> &'static str {
        match self {
            EnrollmentError::Invalid(_) => "INVALID_ARGUMENT",
            EnrollmentError::NotFound => "ENROLLMENT_NOT_FOUND",
            EnrollmentError::NotAllowed => "NOT_ALLOWED_FOR_STUDENT",
            EnrollmentError::CourseNotPublished => "COURSE_NOT_PUBLISHED",
            EnrollmentError::CourseFull => "COURSE_FULL",
            EnrollmentError::AlreadyEnrolled => "ALREADY_ENROLLED",
            EnrollmentError::AlreadyCompleted => "ALREADY_COMPLETED",
            EnrollmentError::SubscriptionRequired => "SUBSCRIPTION_REQUIRED",
            EnrollmentError::PlanNotSufficient { .. } => "PLAN_NOT_SUFFICIENT",
            EnrollmentError::NotActive => "ENROLLMENT_NOT_ACTIVE",
            EnrollmentError::UnknownLesson => "LESSON_NOT_IN_COURSE",
            EnrollmentError::LessonAlreadyCompleted => "LESSON_ALREADY_COMPLETED",
            EnrollmentError::LessonsRemaining { .. } => "LESSONS_REMAINING",
        }
    }
}

impl Enrollment {
    pub fn exists(&self) -> bool {
        self.id.is_some()
    }

    pub fn status(&self) -> EnrollmentStatus {
        self.status
    }

    pub fn student_id(&self) -> Option<UserId> {
        self.student_id
    }

    pub fn course_id(&self) -> Option<CourseId> {
        self.course_id
    }

    pub fn completed_lessons(&self) -> &BTreeSet<LessonId> {
        &self.completed_lessons
    }

    /// The decision: pure, synchronous, no side effects.
    pub fn decide(
        &self,
        command: EnrollmentCommand,
    ) -> Result<Vec<EnrollmentEvent>, EnrollmentError> {
        let violations = command.violations();
        if !violations.is_empty() {
            return Err(EnrollmentError::Invalid(violations));
        }
        match command {
            EnrollmentCommand::Enroll {
                actor,
                enrollment_id,
                student_id,
                course_id,
                admission,
                subscription,
            } => {
                // The stream belongs to one student in one course.
                let owner_mismatch = self.student_id.is_some_and(|s| s != student_id)
                    || self.course_id.is_some_and(|c| c != course_id);
                if !actor.may_act_for(student_id) || owner_mismatch {
                    return Err(EnrollmentError::NotAllowed);
                }
                match self.status {
                    EnrollmentStatus::Active => return Err(EnrollmentError::AlreadyEnrolled),
                    EnrollmentStatus::Completed => return Err(EnrollmentError::AlreadyCompleted),
                    EnrollmentStatus::None | EnrollmentStatus::Withdrawn => {}
                }
                if !admission.published {
                    return Err(EnrollmentError::CourseNotPublished);
                }
                check_access(admission.access, subscription)?;
                if admission.seat == SeatStatus::Full {
                    return Err(EnrollmentError::CourseFull);
                }
                Ok(vec![EnrollmentEvent::StudentEnrolled {
                    enrollment_id,
                    student_id,
                    course_id,
                }])
            }
            EnrollmentCommand::CompleteLesson {
                actor,
                lesson_id,
                course_lessons,
            } => {
                self.ensure_active_for(&actor)?;
                if !course_lessons.contains(&lesson_id) {
                    return Err(EnrollmentError::UnknownLesson);
                }
                if self.completed_lessons.contains(&lesson_id) {
                    return Err(EnrollmentError::LessonAlreadyCompleted);
                }
                Ok(vec![EnrollmentEvent::LessonCompleted { lesson_id }])
            }
            EnrollmentCommand::CompleteCourse {
                actor,
                course_lessons,
            } => {
                self.ensure_active_for(&actor)?;
                let remaining = course_lessons.difference(&self.completed_lessons).count();
                if remaining > 0 {
                    return Err(EnrollmentError::LessonsRemaining { remaining });
                }
                Ok(vec![EnrollmentEvent::CourseCompleted])
            }
            EnrollmentCommand::Withdraw { actor, reason } => {
                self.ensure_active_for(&actor)?;
                Ok(vec![EnrollmentEvent::EnrollmentWithdrawn {
                    reason: reason.trim().to_string(),
                }])
            }
        }
    }

    fn ensure_active_for(&self, actor: &Actor) -> Result<(), EnrollmentError> {
        let Some(student) = self.student_id else {
            return Err(EnrollmentError::NotFound);
        };
        if !actor.may_act_for(student) {
            return Err(EnrollmentError::NotAllowed);
        }
        if self.status != EnrollmentStatus::Active {
            return Err(EnrollmentError::NotActive);
        }
        Ok(())
    }
}

fn check_access(access: Access, subscription: Standing) -> Result<(), EnrollmentError> {
    match (access, subscription) {
        (Access::Free, _) => Ok(()),
        (_, Standing::NotEntitled) => Err(EnrollmentError::SubscriptionRequired),
        (Access::Paid { .. }, Standing::Entitled { .. }) => Ok(()),
        (Access::Plan { plan: required }, Standing::Entitled { plan }) => {
            if plan.covers(required) {
                Ok(())
            } else {
                Err(EnrollmentError::PlanNotSufficient {
                    required: required.code(),
                })
            }
        }
    }
}

impl Aggregate for Enrollment {
    const TYPE: &'static str = "Enrollment";
    type Command = EnrollmentCommand;
    type Event = EnrollmentEvent;
    type Error = EnrollmentError;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        for event in self.decide(command)? {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        match event {
            EnrollmentEvent::StudentEnrolled {
                enrollment_id,
                student_id,
                course_id,
            } => {
                self.id = Some(enrollment_id);
                self.student_id = Some(student_id);
                self.course_id = Some(course_id);
                self.status = EnrollmentStatus::Active;
                self.completed_lessons.clear();
            }
            EnrollmentEvent::LessonCompleted { lesson_id } => {
                self.completed_lessons.insert(lesson_id);
            }
            EnrollmentEvent::CourseCompleted => self.status = EnrollmentStatus::Completed,
            EnrollmentEvent::EnrollmentWithdrawn { .. } => {
                self.status = EnrollmentStatus::Withdrawn
            }
        }
    }
}
