//! The scripted demo: an instructor and four students sign up (an admin
//! grants the instructor role), two courses, a trial and a paid
//! subscription, a full course, an idempotent retry, a freed seat; then,
//! given a query service, the same data read back (`read_back`) and a read
//! the caller may not make refused. Every account, id and command id is
//! fresh, so it runs again and again against one server. Stops at the
//! first step that does not end as scripted.

mod read_back;

use crate::identity::{identity_of, IdentityConnection};
use crate::output::{Outcome, Output};
use crate::query::{position_of, QueryConnection};
use crate::rpc::{code_name, new_command_id, Command, Connection, Failure, Identity};
use anyhow::{bail, Context};
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
    identity: &'a IdentityConnection,
    admin: Identity,
    /// One password for the run's accounts (printed at the end).
    password: String,
    out: Output,
}

/// A demo account: its sign-in and who it is.
struct Account {
    label: &'static str,
    email: String,
    who: Identity,
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
    /// Signed in, for the refused read.
    student_a: Identity,
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

impl Demo<'_> {
    /// Registers and signs in a fresh account.
    async fn sign_up(&self, label: &'static str) -> anyhow::Result<Account> {
        let slug = label.replace(' ', "-");
        let email = format!(
            "demo-{slug}-{}@lms.local",
            &Uuid::now_v7().simple().to_string()[20..]
        );
        self.identity
            .register(&email, &self.password, label)
            .await
            .map_err(|s| anyhow::anyhow!("{label}: register: {}: {}", s.code(), s.message()))?;
        let session = self
            .identity
            .login(&email, &self.password)
            .await
            .map_err(|s| anyhow::anyhow!("{label}: login: {}: {}", s.code(), s.message()))?;
        let who = identity_of(session)?;
        self.out.note(&format!(
            "{:<44} signed up {email} ({})",
            format!("{label}:"),
            who.role
        ));
        Ok(Account { label, email, who })
    }

    /// A fresh account an admin makes an instructor; signed in again so
    /// its token carries the role.
    async fn instructor(&self) -> anyhow::Result<Account> {
        let mut account = self.sign_up("instructor").await?;
        self.identity
            .grant_role(self.admin, &account.who.actor.to_string(), "instructor")
            .await
            .map_err(|s| anyhow::anyhow!("grant instructor: {}: {}", s.code(), s.message()))?;
        let session = self
            .identity
            .login(&account.email, &self.password)
            .await
            .map_err(|s| anyhow::anyhow!("instructor: login: {}: {}", s.code(), s.message()))?;
        account.who = identity_of(session)?;
        self.out.note(&format!(
            "{:<44} granted by an admin: now {}",
            "instructor:", account.who.role
        ));
        Ok(account)
    }
}

/// Signs the demo admin in (`LMS_DEMO_ADMIN_EMAIL`, `LMS_DEMO_ADMIN_PASSWORD`,
/// created by `lms-identity bootstrap-admin`, which the run command does).
pub async fn admin(identity: &IdentityConnection) -> anyhow::Result<Identity> {
    let email = std::env::var("LMS_DEMO_ADMIN_EMAIL")
        .context("set LMS_DEMO_ADMIN_EMAIL (scripts/run.sh creates the demo admin)")?;
    let password =
        std::env::var("LMS_DEMO_ADMIN_PASSWORD").context("set LMS_DEMO_ADMIN_PASSWORD")?;
    let session = identity
        .login(&email, &password)
        .await
        .map_err(|s| anyhow::anyhow!("admin login: {}: {}", s.code(), s.message()))?;
    identity_of(session)
}

/// Runs the script, then (given `queries`) reads its data back; an error
/// names the first step or check that went otherwise.
pub async fn run(
    conn: &Connection,
    identity: &IdentityConnection,
    admin: Identity,
    queries: Option<&QueryConnection>,
    out: Output,
) -> anyhow::Result<()> {
    let demo = Demo {
        conn,
        identity,
        admin,
        password: format!("demo-{}", Uuid::now_v7().simple()),
        out,
    };
    let (script, accounts) = write(&demo).await?;
    if let Some(queries) = queries {
        read_back::run(queries, &script, out).await?;
        refused_read(queries, &script, out).await?;
    }
    out.note(
        "
sign in as the demo's users (one password for all of this run):",
    );
    for account in &accounts {
        out.note(&format!("  {:<12} {}", account.label, account.email));
    }
    out.note(&format!(
        "  password     {}\n  e.g. export LMS_ACCESS_TOKEN=$(LMS_PASSWORD='{}' lms login --email {})",
        demo.password, demo.password, accounts[1].email
    ));
    Ok(())
}

/// Student A asks for student B's dashboard: refused, whoever asks for whom
/// is decided by the token, not by the request.
async fn refused_read(
    queries: &QueryConnection,
    script: &Script,
    out: Output,
) -> anyhow::Result<()> {
    let request = lms_proto::query::v1::GetStudentDashboardRequest {
        student_id: script.subscription.student.to_string(),
        min_position: None,
    };
    let name = "student A: read student B's dashboard";
    match queries.ask_as(script.student_a, request).await {
        Ok(_) => bail!("step {name:?}: expected PERMISSION_DENIED, got an answer"),
        Err(status) => {
            let failure = Failure::from(&status);
            if failure.code != Code::PermissionDenied {
                bail!(
                    "step {name:?}: expected PERMISSION_DENIED, got {}: {}",
                    failure.code_name(),
                    failure.message
                );
            }
            out.note(&format!(
                "\n{name:<44} refused: {} {}",
                failure.code_name(),
                failure.reason.as_deref().unwrap_or("")
            ));
            Ok(())
        }
    }
}

/// The command part of the demo.
async fn write(demo: &Demo<'_>) -> anyhow::Result<(Script, Vec<Account>)> {
    let out = demo.out;
    let instructor_account = demo.instructor().await?;
    let student_accounts = [
        demo.sign_up("student A").await?,
        demo.sign_up("student B").await?,
        demo.sign_up("student C").await?,
        demo.sign_up("student D").await?,
    ];
    out.note("");
    let instructor = instructor_account.who;
    let (a, b, c, d) = (
        student_accounts[0].who,
        student_accounts[1].who,
        student_accounts[2].who,
        student_accounts[3].who,
    );

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
        "\ntry, signed in as student D:\n  lms withdraw --enrollment {}\n  \
         lms dashboard {}\n  and as the instructor:\n  lms roster {}",
        enrollment_d.id, d.actor, course1.id
    ));
    let mut accounts = vec![instructor_account];
    accounts.extend(student_accounts);
    let script = Script {
        student_a: a,
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
    };
    Ok((script, accounts))
}
