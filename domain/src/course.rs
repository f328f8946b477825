//! The Course aggregate: catalog details, modules and lessons, lifecycle
//! (draft → published → archived) and the seat ledger.
//!
//! Seats live here (see docs/adr/0002-seat-capacity.md): the course stream is
//! the consistency boundary for capacity, so "never more active students than
//! seats" and "capacity never below active enrollments" are checked against
//! one version of one aggregate and guarded by optimistic concurrency.

use crate::actor::{Actor, Role};
use crate::error::{
    describe, DomainError, ErrorKind, FieldViolation, Violations, DESCRIPTION, MAX_INSTRUCTORS,
    TITLE,
};
use crate::ids::{CourseId, LessonId, ModuleId, UserId};
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

pub const MAX_CAPACITY: u32 = 100_000;

/// Teaching language of a course created without one, and of every course
/// created before the field existed (`CourseCreated` version 1).
pub const DEFAULT_LANGUAGE: &str = "en";

pub fn default_language() -> String {
    DEFAULT_LANGUAGE.to_string()
}

/// An ISO 639-1 code: two lowercase ASCII letters (the list itself is not checked).
pub fn language_ok(code: &str) -> bool {
    code.len() == 2 && code.bytes().all(|b| b.is_ascii_lowercase())
}

/// Subscription plans a course can require.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Plan {
    Basic,
    Pro,
}

impl Plan {
    pub fn monthly_price_cents(self) -> u64 {
        match self {
            Plan::Basic => 999,
            Plan::Pro => 1999,
        }
    }

    pub fn parse(code: &str) -> Option<Plan> {
        match code {
            "basic" => Some(Plan::Basic),
            "pro" => Some(Plan::Pro),
            _ => None,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Plan::Basic => "basic",
            Plan::Pro => "pro",
        }
    }

    /// Pro includes everything Basic does.
    pub fn covers(self, required: Plan) -> bool {
        self == Plan::Pro || required == Plan::Basic
    }
}

/// What a student needs to enroll.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Access {
    #[default]
    Free,
    /// A list price; access comes with any entitled subscription.
    Paid { price_cents: u64 },
    /// Only subscribers of this plan (or a higher one).
    Plan { plan: Plan },
}

impl Access {
    pub fn requires_subscription(&self) -> bool {
        !matches!(self, Access::Free)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CourseStatus {
    #[default]
    Draft,
    Published,
    Archived,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lesson {
    pub lesson_id: LessonId,
    pub title: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Module {
    pub module_id: ModuleId,
    pub title: String,
    pub lessons: Vec<Lesson>,
}

#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct Course {
    id: Option<CourseId>,
    status: CourseStatus,
    title: String,
    description: String,
    instructors: BTreeSet<UserId>,
    capacity: u32,
    access: Access,
    /// ISO 639-1; snapshots taken before the field existed read as "en".
    #[serde(default = "default_language")]
    language: String,
    modules: Vec<Module>,
    /// Students holding a seat (active enrollments).
    seats: BTreeSet<UserId>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum CourseCommand {
    Create {
        course_id: CourseId,
        actor: Actor,
        title: String,
        description: String,
        instructors: Vec<UserId>,
        capacity: u32,
        access: Access,
        /// ISO 639-1 code; `None` means [`DEFAULT_LANGUAGE`].
        language: Option<String>,
    },
    UpdateDetails {
        actor: Actor,
        title: String,
        description: String,
        access: Access,
    },
    AddModule {
        actor: Actor,
        module_id: ModuleId,
        title: String,
    },
    AddLesson {
        actor: Actor,
        module_id: ModuleId,
        lesson_id: LessonId,
        title: String,
    },
    ChangeCapacity {
        actor: Actor,
        capacity: u32,
    },
    Publish {
        actor: Actor,
    },
    Archive {
        actor: Actor,
    },
    /// Issued by the enrollment process, not by users directly.
    ReserveSeat {
        student_id: UserId,
    },
    /// Issued by the enrollment process when an enrollment stops being active.
    ReleaseSeat {
        student_id: UserId,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum CourseEvent {
    CourseCreated {
        course_id: CourseId,
        title: String,
        description: String,
        instructors: Vec<UserId>,
        capacity: u32,
        access: Access,
        /// Added in version 2; version-1 events read as [`DEFAULT_LANGUAGE`].
        #[serde(default = "default_language")]
        language: String,
    },
    CourseDetailsUpdated {
        title: String,
        description: String,
        access: Access,
    },
    ModuleAdded {
        module_id: ModuleId,
        title: String,
    },
    LessonAdded {
        module_id: ModuleId,
        lesson_id: LessonId,
        title: String,
    },
    CapacityChanged {
        capacity: u32,
    },
    CoursePublished,
    CourseArchived,
    SeatReserved {
        student_id: UserId,
    },
    SeatReleased {
        student_id: UserId,
    },
}

impl DomainEvent for CourseEvent {
    fn event_type(&self) -> String {
        match self {
            CourseEvent::CourseCreated { .. } => "CourseCreated",
            CourseEvent::CourseDetailsUpdated { .. } => "CourseDetailsUpdated",
            CourseEvent::ModuleAdded { .. } => "ModuleAdded",
            CourseEvent::LessonAdded { .. } => "LessonAdded",
            CourseEvent::CapacityChanged { .. } => "CapacityChanged",
            CourseEvent::CoursePublished => "CoursePublished",
            CourseEvent::CourseArchived => "CourseArchived",
            CourseEvent::SeatReserved { .. } => "SeatReserved",
            CourseEvent::SeatReleased { .. } => "SeatReleased",
        }
        .to_string()
    }

    /// CourseCreated is at version 2 (it gained `language`); stored version-1
    /// events are upcast on load (lms-schemas' upcasters).
    fn event_version(&self) -> String {
        match self {
            CourseEvent::CourseCreated { .. } => "2",
            _ => "1",
        }
        .to_string()
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CourseError {
    #[error("invalid course: {}", describe(.0))]
    Invalid(Vec<FieldViolation>),
    #[error("course not found")]
    NotFound,
    #[error("course already exists")]
    AlreadyExists,
    #[error("only an instructor of the course or an admin may change it")]
    NotAnInstructor,
    #[error("course is archived")]
    Archived,
    #[error("course is already published")]
    AlreadyPublished,
    #[error("a course needs at least one lesson to be published")]
    NoLessons,
    #[error("course is not published")]
    NotPublished,
    #[error("course is full")]
    Full,
    #[error("capacity {requested} is below the {active} active enrollments")]
    CapacityBelowEnrollments { requested: u32, active: u32 },
    #[error("module not found in this course")]
    ModuleNotFound,
    #[error("a module with this id already exists")]
    DuplicateModule,
    #[error("a lesson with this id already exists")]
    DuplicateLesson,
}

impl DomainError for CourseError {
    fn not_found() -> Self {
        CourseError::NotFound
    }

    fn kind(&self) -> ErrorKind {
        match self {
            CourseError::Invalid(v) => ErrorKind::Invalid(v.clone()),
            CourseError::NotFound => ErrorKind::NotFound,
            CourseError::AlreadyExists => ErrorKind::AlreadyExists,
            CourseError::NotAnInstructor => ErrorKind::PermissionDenied,
            _ => ErrorKind::FailedPrecondition,
        }
    }

    fn reason(&self) -> &'static str {
        match self {
            CourseError::Invalid(_) => "INVALID_ARGUMENT",
            CourseError::NotFound => "COURSE_NOT_FOUND",
            CourseError::AlreadyExists => "COURSE_ALREADY_EXISTS",
            CourseError::NotAnInstructor => "NOT_COURSE_INSTRUCTOR",
            CourseError::Archived => "COURSE_ARCHIVED",
            CourseError::AlreadyPublished => "COURSE_ALREADY_PUBLISHED",
            CourseError::NoLessons => "COURSE_HAS_NO_LESSONS",
            CourseError::NotPublished => "COURSE_NOT_PUBLISHED",
            CourseError::Full => "COURSE_FULL",
            CourseError::CapacityBelowEnrollments { .. } => "CAPACITY_BELOW_ENROLLMENTS",
            CourseError::ModuleNotFound => "MODULE_NOT_FOUND",
            CourseError::DuplicateModule => "MODULE_ALREADY_EXISTS",
            CourseError::DuplicateLesson => "LESSON_ALREADY_EXISTS",
        }
    }
}

/// Whether the student could take a seat right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeatStatus {
    /// The student already holds a seat (reserved by this enrollment process).
    Held,
    Available,
    Full,
}

/// What the enrollment decision needs to know about the course.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admission {
    pub published: bool,
    pub seat: SeatStatus,
    pub access: Access,
}

impl Course {
    pub fn exists(&self) -> bool {
        self.id.is_some()
    }

    pub fn status(&self) -> CourseStatus {
        self.status
    }

    pub fn capacity(&self) -> u32 {
        self.capacity
    }

    pub fn access(&self) -> Access {
        self.access
    }

    pub fn title(&self) -> &str {
        &self.title
    }

    pub fn language(&self) -> &str {
        &self.language
    }

    pub fn instructors(&self) -> &BTreeSet<UserId> {
        &self.instructors
    }

    pub fn modules(&self) -> &[Module] {
        &self.modules
    }

    pub fn active_seats(&self) -> u32 {
        u32::try_from(self.seats.len()).unwrap_or(u32::MAX)
    }

    pub fn holds_seat(&self, student: UserId) -> bool {
        self.seats.contains(&student)
    }

    pub fn lesson_ids(&self) -> BTreeSet<LessonId> {
        self.modules
            .iter()
            .flat_map(|m| m.lessons.iter().map(|l| l.lesson_id))
            .collect()
    }

    fn lesson_count(&self) -> usize {
        self.modules.iter().map(|m| m.lessons.len()).sum()
    }

    pub fn admission_for(&self, student: UserId) -> Admission {
        let seat = if self.holds_seat(student) {
            SeatStatus::Held
        } else if self.active_seats() < self.capacity {
            SeatStatus::Available
        } else {
            SeatStatus::Full
        };
        Admission {
            published: self.status == CourseStatus::Published,
            seat,
            access: self.access,
        }
    }

    /// The decision: pure, synchronous, no side effects.
    pub fn decide(&self, command: CourseCommand) -> Result<Vec<CourseEvent>, CourseError> {
        let violations = command.violations();
        if !violations.is_empty() {
            return Err(CourseError::Invalid(violations));
        }
        if let CourseCommand::Create {
            course_id,
            actor,
            title,
            description,
            instructors,
            capacity,
            access,
            language,
        } = command
        {
            if self.exists() {
                return Err(CourseError::AlreadyExists);
            }
            // Only instructors author courses, and only ones they teach.
            let teaches = actor.role == Role::Instructor && instructors.contains(&actor.user_id);
            if !(actor.is_admin() || teaches) {
                return Err(CourseError::NotAnInstructor);
            }
            let mut unique = BTreeSet::new();
            let instructors = instructors
                .into_iter()
                .filter(|i| unique.insert(*i))
                .collect();
            return Ok(vec![CourseEvent::CourseCreated {
                course_id,
                title: title.trim().to_string(),
                description,
                instructors,
                capacity,
                access,
                language: language.unwrap_or_else(default_language),
            }]);
        }
        if !self.exists() {
            return Err(CourseError::NotFound);
        }
        match command {
            CourseCommand::Create { .. } => Err(CourseError::AlreadyExists),
            CourseCommand::UpdateDetails {
                actor,
                title,
                description,
                access,
            } => {
                self.ensure_editable_by(&actor)?;
                Ok(vec![CourseEvent::CourseDetailsUpdated {
                    title: title.trim().to_string(),
                    description,
                    access,
                }])
            }
            CourseCommand::AddModule {
                actor,
                module_id,
                title,
            } => {
                self.ensure_editable_by(&actor)?;
                if self.modules.iter().any(|m| m.module_id == module_id) {
                    return Err(CourseError::DuplicateModule);
                }
                Ok(vec![CourseEvent::ModuleAdded {
                    module_id,
                    title: title.trim().to_string(),
                }])
            }
            CourseCommand::AddLesson {
                actor,
                module_id,
                lesson_id,
                title,
            } => {
                self.ensure_editable_by(&actor)?;
                if !self.modules.iter().any(|m| m.module_id == module_id) {
                    return Err(CourseError::ModuleNotFound);
                }
                if self.lesson_ids().contains(&lesson_id) {
                    return Err(CourseError::DuplicateLesson);
                }
                Ok(vec![CourseEvent::LessonAdded {
                    module_id,
                    lesson_id,
                    title: title.trim().to_string(),
                }])
            }
            CourseCommand::ChangeCapacity { actor, capacity } => {
                self.ensure_editable_by(&actor)?;
                let active = self.active_seats();
                if capacity < active {
                    return Err(CourseError::CapacityBelowEnrollments {
                        requested: capacity,
                        active,
                    });
                }
                Ok(vec![CourseEvent::CapacityChanged { capacity }])
            }
            CourseCommand::Publish { actor } => {
                self.ensure_editable_by(&actor)?;
                if self.status == CourseStatus::Published {
                    return Err(CourseError::AlreadyPublished);
                }
                if self.lesson_count() == 0 {
                    return Err(CourseError::NoLessons);
                }
                Ok(vec![CourseEvent::CoursePublished])
            }
            CourseCommand::Archive { actor } => {
                self.ensure_editable_by(&actor)?;
                Ok(vec![CourseEvent::CourseArchived])
            }
            CourseCommand::ReserveSeat { student_id } => match self.admission_for(student_id) {
                // Re-running an interrupted enrollment finds its seat already held.
                Admission {
                    seat: SeatStatus::Held,
                    ..
                } => Ok(vec![]),
                Admission {
                    published: false, ..
                } => Err(CourseError::NotPublished),
                Admission {
                    seat: SeatStatus::Full,
                    ..
                } => Err(CourseError::Full),
                Admission { .. } => Ok(vec![CourseEvent::SeatReserved { student_id }]),
            },
            CourseCommand::ReleaseSeat { student_id } => {
                if self.holds_seat(student_id) {
                    Ok(vec![CourseEvent::SeatReleased { student_id }])
                } else {
                    Ok(vec![])
                }
            }
        }
    }

    fn ensure_editable_by(&self, actor: &Actor) -> Result<(), CourseError> {
        if !(actor.is_admin() || self.instructors.contains(&actor.user_id)) {
            return Err(CourseError::NotAnInstructor);
        }
        if self.status == CourseStatus::Archived {
            return Err(CourseError::Archived);
        }
        Ok(())
    }
}

impl CourseCommand {
    /// Input errors visible from the command alone, without any state; the
    /// edge merges them with its own parsing errors so one reply names all.
    pub fn violations(&self) -> Vec<FieldViolation> {
        let mut v = Violations::default();
        match self {
            CourseCommand::Create {
                title,
                description,
                instructors,
                capacity,
                access,
                language,
                ..
            } => {
                check_details(&mut v, title, description, access);
                if let Some(language) = language {
                    v.check(
                        language_ok(language),
                        "language",
                        "must be an ISO 639-1 code of two lowercase letters",
                    );
                }
                v.check(
                    !instructors.is_empty(),
                    "instructor_ids",
                    "at least one instructor is required",
                );
                v.check(
                    instructors.len() <= MAX_INSTRUCTORS,
                    "instructor_ids",
                    "at most 20 instructors",
                );
                check_capacity(&mut v, *capacity);
            }
            CourseCommand::UpdateDetails {
                title,
                description,
                access,
                ..
            } => check_details(&mut v, title, description, access),
            CourseCommand::AddModule { title, .. } | CourseCommand::AddLesson { title, .. } => {
                v.text("title", title, TITLE)
            }
            CourseCommand::ChangeCapacity { capacity, .. } => check_capacity(&mut v, *capacity),
            CourseCommand::Publish { .. }
            | CourseCommand::Archive { .. }
            | CourseCommand::ReserveSeat { .. }
            | CourseCommand::ReleaseSeat { .. } => {}
        }
        v.into_vec()
    }
}

fn check_details(v: &mut Violations, title: &str, description: &str, access: &Access) {
    v.text("title", title, TITLE);
    v.text("description", description, DESCRIPTION);
    if let Access::Paid { price_cents } = access {
        v.check(
            *price_cents > 0,
            "access.price_cents",
            "a paid course needs a price above zero",
        );
    }
}

fn check_capacity(v: &mut Violations, capacity: u32) {
    v.check(
        (1..=MAX_CAPACITY).contains(&capacity),
        "capacity",
        "must be between 1 and 100000",
    );
}

impl Aggregate for Course {
    const TYPE: &'static str = "Course";
    type Command = CourseCommand;
    type Event = CourseEvent;
    type Error = CourseError;
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
            CourseEvent::CourseCreated {
                course_id,
                title,
                description,
                instructors,
                capacity,
                access,
                language,
            } => {
                self.id = Some(course_id);
                self.status = CourseStatus::Draft;
                self.title = title;
                self.description = description;
                self.instructors = instructors.into_iter().collect();
                self.capacity = capacity;
                self.access = access;
                self.language = language;
            }
            CourseEvent::CourseDetailsUpdated {
                title,
                description,
                access,
            } => {
                self.title = title;
                self.description = description;
                self.access = access;
            }
            CourseEvent::ModuleAdded { module_id, title } => self.modules.push(Module {
                module_id,
                title,
                lessons: vec![],
            }),
            CourseEvent::LessonAdded {
                module_id,
                lesson_id,
                title,
            } => {
                if let Some(module) = self.modules.iter_mut().find(|m| m.module_id == module_id) {
                    module.lessons.push(Lesson { lesson_id, title });
                }
            }
            CourseEvent::CapacityChanged { capacity } => self.capacity = capacity,
            CourseEvent::CoursePublished => self.status = CourseStatus::Published,
            CourseEvent::CourseArchived => self.status = CourseStatus::Archived,
            CourseEvent::SeatReserved { student_id } => {
                self.seats.insert(student_id);
            }
            CourseEvent::SeatReleased { student_id } => {
                self.seats.remove(&student_id);
            }
        }
    }
}
