//! The scripted demo: two courses, four students, a trial and a paid
//! subscription, a full course, an idempotent retry, a freed seat; then,
//! given a query service, the same data read back (`read_back`). Every id
//! and command id is fresh, so it runs again and again against one server.
//! Stops at the first step that does not end as scripted.

mod read_back;

use crate::output::{Outcome, Output};
use crate::query::{position_of, QueryConnection};
use crate::rpc::{code_name, new_command_id, Command, Connection, Failure, Identity, Role};
use anyhow::bail;
use lms_proto::command::v1 as pb;
use lms_proto::command::v1::CommandReply;
use lms_proto::query::v1::MinPosition;
use tonic::Code;
use uuid::Uuid;

/// Accepted by the sandbox payment gateway.
const PAYMENT_METHOD: &str = "pm_card_visa";
const PLAN: &str = "basic";

struct Demo<'a> {
    conn: &'a Connection,
    out: Output,
}

/// A published course with one module and one lesson, and the seats the
/// script took and freed in it.
struct Course {
    label: &'static str,
    id: String,
    lesson_id: String,
    title: &'static str,
    capacity: u32,
    /// `plan` courses: the plan required; free courses: none.
    plan: Option<String>,
    /// The publish reply: the course stream's position before any seat moved.
    published: CommandReply,
    /// Accepted enrollments and withdrawals. Each appended one
    /// SeatReserved / SeatReleased to the course stream (ADR 0002).
    enrolled: u64,
    withdrawn: u64,
}

impl Course {
    fn seats_taken(&self) -> u64 {
        self.enrolled.saturating_sub(self.withdrawn)
    }

    /// The course stream's position after every seat change of the script.
    /// Enroll and Withdraw reply with the enrollment's position, so it is
    /// counted here: the publish reply's sequence plus one event per change
    /// (only the demo writes to its fresh course).
    fn position(&self) -> MinPosition {
        MinPosition {
            aggregate_id: self.id.clone(),
            sequence: self.published.sequence + self.enrolled + self.withdrawn,
        }
    }
}

/// One enrollment of the script, as its last accepted command left it.
struct Enrollment {
    student_label: &'static str,
    student: Uuid,
    course_id: String,
    id: String,
    /// The last reply on this enrollment (read-your-writes position).
    last: CommandReply,
    /// active | completed | withdrawn, as the query API spells it.
    status: &'static str,
    lessons_completed: u32,
}

impl Enrollment {
    fn new(label: &'static str, student: Identity, course: &Course, reply: CommandReply) -> Self {
        Self {
            student_label: label,
            student: student.actor,
            course_id: course.id.clone(),
            id: reply.aggregate_id.clone(),
            last: reply,
            status: "active",
            lessons_completed: 0,
        }
    }

    fn position(&self) -> MinPosition {
        position_of(&self.last)
    }
}

/// The subscription of the script's paying student.
struct Subscription {
    student_label: &'static str,
    student: Uuid,
    plan: &'static str,
    /// The Activate reply (it charged the first invoice).
    activated: CommandReply,
    /// The last reply (Cancel).
    last: CommandReply,
    /// trialing | active | past_due | cancelled.
    status: &'static str,
}

/// Everything the script wrote that the read side should show.
struct Script {
    instructor: Uuid,
    courses: [Course; 2],
    enrollments: Vec<Enrollment>,
    subscription: Subscription,
}

impl Demo<'_> {
    /// A step that must be accepted.
    async fn ok(
        &self,
        name: &str,
        who: Identity,
        command: Command,
    ) -> anyhow::Result<CommandReply> {
        match self.conn.send(who, command.clone()).await {
            Ok(reply) => {
                self.out.step(name, &command, &Outcome::Ok(&reply));
                Ok(reply)
            }
            Err(status) => {
                let failure = Failure::from(&status);
                self.out.step(
                    name,
                    &command,
                    &Outcome::Failed {
                        detail: "expected OK".into(),
                        failure: Some(&failure),
                    },
                );
                bail!(
                    "step {name:?} failed: {}: {}",
                    failure.code_name(),
                    failure.message
                )
            }
        }
    }

    /// A step that must be refused with `code` and ErrorInfo `reason`.
    async fn refused(
        &self,
        name: &str,
        who: Identity,
        command: Command,
        code: Code,
        reason: &str,
    ) -> anyhow::Result<Failure> {
        let expected = format!("expected {} {reason}", code_name(code));
        match self.conn.send(who, command.clone()).await {
            Ok(reply) => {
                let detail = format!(
                    "{expected}, got OK ({} seq {})",
                    reply.aggregate_id, reply.sequence
                );
                self.out.step(
                    name,
                    &command,
                    &Outcome::Failed {
                        detail: detail.clone(),
                        failure: None,
                    },
                );
                bail!("step {name:?}: {detail}")
            }
            Err(status) => {
                let failure = Failure::from(&status);
                if failure.code == code && failure.reason.as_deref() == Some(reason) {
                    self.out.step(name, &command, &Outcome::Refused(&failure));
                    return Ok(failure);
                }
                self.out.step(
                    name,
                    &command,
                    &Outcome::Failed {
                        detail: expected.clone(),
                        failure: Some(&failure),
                    },
                );
                bail!(
                    "step {name:?}: {expected}, got {} {}",
                    failure.code_name(),
                    failure.reason.as_deref().unwrap_or("(no reason)")
                )
            }
        }
    }

    /// Re-sends `command` (same command id): must return `first` again.
    async fn replayed(
        &self,
        name: &str,
        who: Identity,
        command: Command,
        first: &CommandReply,
    ) -> anyhow::Result<()> {
        let again = self.ok(name, who, command).await?;
        if &again != first {
            bail!("step {name:?}: the retry replied {again:?}, the first call {first:?}");
        }
        self.out.note(&format!(
            "{:>44} same reply as the first call: nothing written twice",
            "↳"
        ));
        Ok(())
    }

    /// Create, add a module and a lesson, publish.
    async fn course(
        &self,
        instructor: Identity,
        label: &'static str,
        title: &'static str,
        capacity: u32,
        access: Option<pb::course_access::Kind>,
    ) -> anyhow::Result<Course> {
        let id = Uuid::now_v7().to_string();
        let kind = match &access {
            None => "free".to_string(),
            Some(pb::course_access::Kind::Plan(plan)) => plan.clone(),
            Some(pb::course_access::Kind::PriceCents(cents)) => format!("{cents}¢"),
        };
        let create = Command::CreateCourse(pb::CreateCourseRequest {
            command_id: new_command_id(),
            course_id: id.clone(),
            title: title.into(),
            description: format!("Demo course ({kind})."),
            instructor_ids: vec![instructor.actor.to_string()],
            capacity,
            access: access
                .clone()
                .map(|kind| pb::CourseAccess { kind: Some(kind) }),
        });
        let name = format!("instructor: create {label} ({kind}, cap {capacity})");
        self.ok(&name, instructor, create).await?;
        let module = Command::AddModule(pb::AddModuleRequest {
            command_id: new_command_id(),
            course_id: id.clone(),
            module_id: String::new(),
            title: "Getting started".into(),
        });
        let module_id = self
            .ok(
                &format!("instructor: add module to {label}"),
                instructor,
                module,
            )
            .await?
            .created_id;
        let lesson = Command::AddLesson(pb::AddLessonRequest {
            command_id: new_command_id(),
            course_id: id.clone(),
            module_id,
            lesson_id: String::new(),
            title: "Hello, events".into(),
        });
        let lesson_id = self
            .ok(
                &format!("instructor: add lesson to {label}"),
                instructor,
                lesson,
            )
            .await?
            .created_id;
        let publish = Command::PublishCourse(pb::PublishCourseRequest {
            command_id: new_command_id(),
            course_id: id.clone(),
        });
        let published = self
            .ok(&format!("instructor: publish {label}"), instructor, publish)
            .await?;
        let plan = match access {
            Some(pb::course_access::Kind::Plan(plan)) => Some(plan),
            _ => None,
        };
        Ok(Course {
            label,
            id,
            lesson_id,
            title,
            capacity,
            plan,
            published,
            enrolled: 0,
            withdrawn: 0,
        })
    }
}

fn enroll(course: &Course, student: Identity) -> Command {
    Command::Enroll(pb::EnrollRequest {
        command_id: new_command_id(),
        course_id: course.id.clone(),
        student_id: student.actor.to_string(),
    })
}

fn student() -> Identity {
    Identity::new(Uuid::now_v7(), Role::Student)
}

/// Runs the script, then (given `queries`) reads its data back; an error
/// names the first step or check that went otherwise.
pub async fn run(
    conn: &Connection,
    queries: Option<&QueryConnection>,
    out: Output,
) -> anyhow::Result<()> {
    let script = write(conn, out).await?;
    if let Some(queries) = queries {
        read_back::run(queries, &script, out).await?;
    }
    Ok(())
}

/// The command part of the demo.
async fn write(conn: &Connection, out: Output) -> anyhow::Result<Script> {
    let demo = Demo { conn, out };
    let instructor = Identity::new(Uuid::now_v7(), Role::Instructor);
    let (a, b, c, d) = (student(), student(), student(), student());

    let mut course1 = demo
        .course(instructor, "course 1", "Event Sourcing 101", 2, None)
        .await?;
    let mut course2 = demo
        .course(
            instructor,
            "course 2",
            "CQRS in Rust",
            10,
            Some(pb::course_access::Kind::Plan(PLAN.into())),
        )
        .await?;

    let enrolled = demo
        .ok("student A: enroll in course 1", a, enroll(&course1, a))
        .await?;
    course1.enrolled += 1;
    let mut enrollment_a = Enrollment::new("student A", a, &course1, enrolled);
    let trial = Command::StartTrial(pb::StartTrialRequest {
        command_id: new_command_id(),
        student_id: b.actor.to_string(),
        plan: PLAN.into(),
    });
    demo.ok("student B: start basic trial", b, trial).await?;
    let enrolled = demo
        .ok(
            "student B: enroll in course 2 (trial)",
            b,
            enroll(&course2, b),
        )
        .await?;
    course2.enrolled += 1;
    let enrollment_b = Enrollment::new("student B", b, &course2, enrolled);
    let activate = Command::Activate(pb::ActivateSubscriptionRequest {
        command_id: new_command_id(),
        student_id: b.actor.to_string(),
        plan: PLAN.into(),
        payment_method: PAYMENT_METHOD.into(),
    });
    let activated = demo
        .ok("student B: activate basic (pm_card_visa)", b, activate)
        .await?;
    let enroll_c = enroll(&course1, c);
    let enrolled_c = demo
        .ok(
            "student C: enroll in course 1 (full now)",
            c,
            enroll_c.clone(),
        )
        .await?;
    course1.enrolled += 1;
    demo.refused(
        "student D: enroll in course 1",
        d,
        enroll(&course1, d),
        Code::FailedPrecondition,
        "COURSE_FULL",
    )
    .await?;
    demo.replayed(
        "student C: enroll again, same command id",
        c,
        enroll_c.clone(),
        &enrolled_c,
    )
    .await?;
    let enrollment_c = Enrollment::new("student C", c, &course1, enrolled_c);
    let reused = enroll(&course2, c).with_command_id(enroll_c.command_id());
    demo.refused(
        "student C: same command id, other request",
        c,
        reused,
        Code::AlreadyExists,
        "COMMAND_ID_REUSED",
    )
    .await?;
    let complete = Command::CompleteLesson(pb::CompleteLessonRequest {
        command_id: new_command_id(),
        enrollment_id: enrollment_a.id.clone(),
        lesson_id: course1.lesson_id.clone(),
    });
    enrollment_a.last = demo
        .ok("student A: complete the lesson", a, complete)
        .await?;
    enrollment_a.lessons_completed += 1;
    let withdraw = Command::Withdraw(pb::WithdrawRequest {
        command_id: new_command_id(),
        enrollment_id: enrollment_a.id.clone(),
        reason: "demo".into(),
    });
    enrollment_a.last = demo
        .ok("student A: withdraw from course 1", a, withdraw)
        .await?;
    enrollment_a.status = "withdrawn";
    course1.withdrawn += 1;
    let enrolled = demo
        .ok(
            "student D: enroll in course 1 (seat freed)",
            d,
            enroll(&course1, d),
        )
        .await?;
    course1.enrolled += 1;
    let enrollment_d = Enrollment::new("student D", d, &course1, enrolled);
    let cancel = Command::Cancel(pb::CancelSubscriptionRequest {
        command_id: new_command_id(),
        student_id: b.actor.to_string(),
        reason: "demo".into(),
    });
    let cancelled = demo.ok("student B: cancel subscription", b, cancel).await?;

    out.note("");
    out.ids(&[
        ("instructor", instructor.actor.to_string()),
        ("course 1 (free, capacity 2)", course1.id.clone()),
        ("course 1 lesson", course1.lesson_id.clone()),
        ("course 2 (plan basic)", course2.id.clone()),
        ("course 2 lesson", course2.lesson_id.clone()),
        ("student A (withdrew)", a.actor.to_string()),
        ("student B (cancelled)", b.actor.to_string()),
        ("student C", c.actor.to_string()),
        ("student D", d.actor.to_string()),
        ("enrollment A, course 1", enrollment_a.id.clone()),
        ("enrollment B, course 2", enrollment_b.id.clone()),
        ("enrollment C, course 1", enrollment_c.id.clone()),
        ("enrollment D, course 1", enrollment_d.id.clone()),
    ]);
    out.note(&format!(
        "\ntry:\n  cargo run -q -p lms-cli -- --role student --actor {} withdraw --enrollment {}\n  \
         cargo run -q -p lms-cli -- --role student --actor {} enroll --course {}\n  \
         cargo run -q -p lms-cli -- roster {}",
        d.actor, enrollment_d.id, a.actor, course1.id, course1.id
    ));
    Ok(Script {
        instructor: instructor.actor,
        courses: [course1, course2],
        enrollments: vec![enrollment_a, enrollment_b, enrollment_c, enrollment_d],
        subscription: Subscription {
            student_label: "student B",
            student: b.actor,
            plan: PLAN,
            activated,
            last: cancelled,
            status: "cancelled",
        },
    })
}
