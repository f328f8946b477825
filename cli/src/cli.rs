//! The command line: global options, `demo`, `health`, one subcommand per
//! `lms.command.v1` RPC and one per `lms.query.v1` RPC (fields passed to the
//! server as given, so its validation can be explored too).

use crate::query;
use crate::rpc::{new_command_id, Command};
use clap::{ArgAction, Args, Parser, Subcommand};
use lms_proto::command::v1 as pb;
use lms_proto::query::v1::MinPosition;
use pb::course_access::Kind;
use uuid::Uuid;

#[derive(Debug, Parser)]
#[command(
    name = "lms",
    about = "Client for the LMS command service (lms.command.v1) and query service (lms.query.v1)",
    after_help = "Examples:\n  \
        lms health --wait 30\n  \
        lms demo\n  \
        LMS_PASSWORD=... lms register --email ada@example.com --display-name Ada\n  \
        export LMS_ACCESS_TOKEN=$(LMS_PASSWORD=... lms login --email ada@example.com)\n  \
        lms create-course --title 'Rust 101' --capacity 2\n  \
        lms enroll --course <uuid>\n  \
        lms events --max 20\n  \
        lms list-courses --status published\n  \
        lms get-course <uuid> --min-aggregate <uuid> --min-sequence 8\n  \
        lms --endpoint http://127.0.0.1:50052 health"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Cmd,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// gRPC endpoint of lms-commands.
    #[arg(
        long,
        global = true,
        env = "LMS_COMMANDS_ENDPOINT",
        default_value = "http://127.0.0.1:50051"
    )]
    pub endpoint: String,
    /// gRPC endpoint of lms-query [default: http://127.0.0.1:50052]. When
    /// given, `demo` fails if it cannot reach it; by default, `demo` skips
    /// its read-back when nothing listens there.
    #[arg(long, global = true, env = "LMS_QUERY_ENDPOINT", value_name = "URL")]
    pub query_endpoint: Option<String>,
    /// gRPC endpoint of lms-identity.
    #[arg(
        long,
        global = true,
        env = "LMS_IDENTITY_ENDPOINT",
        default_value = crate::identity::DEFAULT_ENDPOINT
    )]
    pub identity_endpoint: String,
    /// Access token of the caller (from `lms login`); who you are, your
    /// roles and your tenant come from it.
    #[arg(long, global = true, env = "LMS_ACCESS_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Correlation id (x-correlation-id); the server generates one when absent.
    #[arg(long, global = true)]
    pub correlation_id: Option<String>,
    /// Print replies, query answers (and events) as JSON lines.
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Run the scripted demo against a running server (fresh ids every run).
    Demo,
    /// Check grpc.health.v1.Health for the server ("" = overall).
    Health(HealthArgs),
    /// Read the event topics from Kafka and decode them through the schema registry.
    Events(EventsArgs),
    /// Create a student account (password from LMS_PASSWORD).
    Register {
        #[arg(long)]
        email: String,
        #[arg(long)]
        display_name: String,
    },
    /// Sign in (password from LMS_PASSWORD) and print the access token
    /// (with --json, the whole session).
    Login {
        #[arg(long)]
        email: String,
    },
    #[command(flatten)]
    Rpc(RpcCmd),
    #[command(flatten)]
    Query(QueryCmd),
}

impl GlobalArgs {
    /// `--query-endpoint`, or the default.
    pub fn query_endpoint(&self) -> &str {
        self.query_endpoint
            .as_deref()
            .unwrap_or(query::DEFAULT_ENDPOINT)
    }
}

#[derive(Debug, Args)]
pub struct HealthArgs {
    /// Poll until SERVING, for at most this many seconds.
    #[arg(long, value_name = "SECONDS")]
    pub wait: Option<u64>,
    /// Service name to check.
    #[arg(long, default_value = "")]
    pub service: String,
}

/// `events`: what lms-relay published, decoded (a fresh consumer group every
/// run, nothing committed).
#[derive(Debug, Args)]
#[command(
    after_help = "Text lines show the event's own fields; --json adds every field \
    (the envelope: event_id, occurred_at, actor, ...) and the headers."
)]
pub struct EventsArgs {
    /// Kafka bootstrap servers.
    #[arg(long, env = "LMS_KAFKA_BROKERS", default_value = "127.0.0.1:9092")]
    pub brokers: String,
    /// Schema registry URL.
    #[arg(
        long,
        env = "LMS_SCHEMA_REGISTRY_URL",
        default_value = "http://127.0.0.1:8081"
    )]
    pub registry: String,
    /// Prepended to the topic names (lms-relay's LMS_TOPIC_PREFIX).
    #[arg(long, env = "LMS_TOPIC_PREFIX", default_value = "")]
    pub topic_prefix: String,
    /// Start at the oldest record (false: only records arriving from now on).
    #[arg(
        long,
        action = ArgAction::Set,
        num_args = 0..=1,
        default_value_t = true,
        default_missing_value = "true",
        value_name = "BOOL"
    )]
    pub from_beginning: bool,
    /// Stop after this many records.
    #[arg(long, value_name = "N")]
    pub max: Option<u64>,
    /// Stop when no record arrived for this many seconds.
    #[arg(long, value_name = "SECS", default_value_t = 3.0)]
    pub idle_timeout: f64,
}

/// Read your writes: every query can wait for a command reply's position.
#[derive(Debug, Args)]
pub struct MinPositionArgs {
    /// Answer only once the read model has applied this aggregate (a command
    /// reply's aggregate_id) up to --min-sequence; UNAVAILABLE otherwise.
    #[arg(long, value_name = "ID", requires = "min_sequence")]
    pub min_aggregate: Option<String>,
    /// The command reply's sequence (with --min-aggregate).
    #[arg(long, value_name = "N", requires = "min_aggregate")]
    pub min_sequence: Option<u64>,
}

impl MinPositionArgs {
    pub fn position(self) -> Option<MinPosition> {
        match (self.min_aggregate, self.min_sequence) {
            (Some(aggregate_id), Some(sequence)) => Some(MinPosition {
                aggregate_id,
                sequence,
            }),
            _ => None,
        }
    }
}

/// One subcommand per `lms.query.v1` RPC, sent to `--query-endpoint`. Ids
/// are strings sent as-is (the server validates).
#[derive(Debug, Subcommand)]
pub enum QueryCmd {
    /// CourseQueries/GetCourse.
    GetCourse {
        course_id: String,
        #[command(flatten)]
        at: MinPositionArgs,
    },
    /// CourseQueries/ListCourses (newest first).
    ListCourses {
        /// draft, published or archived.
        #[arg(long)]
        status: Option<String>,
        /// An instructor's courses.
        #[arg(long, value_name = "UUID")]
        instructor: Option<String>,
        /// Case-insensitive substring of the title.
        #[arg(long, value_name = "TEXT")]
        title_contains: Option<String>,
        /// 1 to 100; 0 means the server's default (20).
        #[arg(long, default_value_t = 0)]
        page_size: u32,
        /// next_page_token of the previous page (same filters).
        #[arg(long)]
        page_token: Option<String>,
        #[command(flatten)]
        at: MinPositionArgs,
    },
    /// CourseQueries/GetRoster: a course's enrollments in enrollment order.
    Roster {
        course_id: String,
        #[command(flatten)]
        at: MinPositionArgs,
    },
    /// StudentQueries/GetStudentDashboard: a student's courses and progress.
    Dashboard {
        student_id: String,
        #[command(flatten)]
        at: MinPositionArgs,
    },
    /// BillingQueries/GetSubscription.
    Subscription {
        student_id: String,
        #[command(flatten)]
        at: MinPositionArgs,
    },
    /// BillingQueries/ListInvoices (newest first).
    Invoices {
        student_id: String,
        /// 1 to 100; 0 means the server's default (20).
        #[arg(long, default_value_t = 0)]
        page_size: u32,
        /// next_page_token of the previous page.
        #[arg(long)]
        page_token: Option<String>,
        #[command(flatten)]
        at: MinPositionArgs,
    },
}

/// The idempotency key every command carries.
#[derive(Debug, Args)]
pub struct Key {
    /// Idempotency key; a fresh UUIDv7 when absent (printed, to retry with).
    #[arg(long)]
    pub command_id: Option<String>,
}

impl Key {
    fn id(self) -> String {
        self.command_id.unwrap_or_else(new_command_id)
    }
}

/// Who may enroll: a list price, a plan, or (neither) free.
#[derive(Debug, Args)]
pub struct AccessArgs {
    /// List price in cents (any entitled subscription grants access).
    #[arg(long, conflicts_with = "plan")]
    pub price_cents: Option<u64>,
    /// Required subscription plan: basic or pro.
    #[arg(long)]
    pub plan: Option<String>,
}

impl AccessArgs {
    fn into_proto(self) -> Option<pb::CourseAccess> {
        let kind = match (self.price_cents, self.plan) {
            (Some(price_cents), _) => Kind::PriceCents(price_cents),
            (None, Some(plan)) => Kind::Plan(plan),
            (None, None) => return None,
        };
        Some(pb::CourseAccess { kind: Some(kind) })
    }
}

/// One subcommand per RPC. Ids are strings sent as-is (the server validates).
#[derive(Debug, Subcommand)]
pub enum RpcCmd {
    /// CourseCommands/CreateCourse.
    CreateCourse {
        #[command(flatten)]
        key: Key,
        /// Client-chosen course id; generated by the server when absent.
        #[arg(long)]
        course_id: Option<String>,
        /// Title.
        #[arg(long)]
        title: String,
        #[arg(long, default_value = "")]
        description: String,
        /// Instructor ids (repeatable); the actor when absent.
        #[arg(long = "instructor", value_name = "UUID", num_args = 1..)]
        instructors: Vec<String>,
        /// Seats: 1 to 100000.
        #[arg(long)]
        capacity: u32,
        #[command(flatten)]
        access: AccessArgs,
    },
    /// CourseCommands/UpdateCourseDetails.
    UpdateCourse {
        #[command(flatten)]
        key: Key,
        /// Course id.
        #[arg(long)]
        course: String,
        /// Title.
        #[arg(long)]
        title: String,
        #[arg(long, default_value = "")]
        description: String,
        #[command(flatten)]
        access: AccessArgs,
    },
    /// CourseCommands/AddModule (the reply's created_id is the module id).
    AddModule {
        #[command(flatten)]
        key: Key,
        /// Course id.
        #[arg(long)]
        course: String,
        /// Title.
        #[arg(long)]
        title: String,
        #[arg(long)]
        module_id: Option<String>,
    },
    /// CourseCommands/AddLesson (the reply's created_id is the lesson id).
    AddLesson {
        #[command(flatten)]
        key: Key,
        /// Course id.
        #[arg(long)]
        course: String,
        /// Module id (AddModule's created_id).
        #[arg(long)]
        module: String,
        /// Title.
        #[arg(long)]
        title: String,
        #[arg(long)]
        lesson_id: Option<String>,
    },
    /// CourseCommands/PublishCourse.
    Publish {
        #[command(flatten)]
        key: Key,
        /// Course id.
        #[arg(long)]
        course: String,
    },
    /// CourseCommands/ArchiveCourse.
    Archive {
        #[command(flatten)]
        key: Key,
        /// Course id.
        #[arg(long)]
        course: String,
    },
    /// CourseCommands/ChangeCapacity.
    ChangeCapacity {
        #[command(flatten)]
        key: Key,
        /// Course id.
        #[arg(long)]
        course: String,
        /// Seats: 1 to 100000.
        #[arg(long)]
        capacity: u32,
    },
    /// EnrollmentCommands/Enroll (the reply's aggregate_id is the enrollment id).
    Enroll {
        #[command(flatten)]
        key: Key,
        /// Course id.
        #[arg(long)]
        course: String,
        /// The student; the actor when absent.
        #[arg(long)]
        student: Option<String>,
    },
    /// EnrollmentCommands/CompleteLesson.
    CompleteLesson {
        #[command(flatten)]
        key: Key,
        /// Enrollment id (Enroll's aggregate_id).
        #[arg(long)]
        enrollment: String,
        /// Lesson id (AddLesson's created_id).
        #[arg(long)]
        lesson: String,
    },
    /// EnrollmentCommands/CompleteCourse (frees the seat).
    CompleteCourse {
        #[command(flatten)]
        key: Key,
        /// Enrollment id (Enroll's aggregate_id).
        #[arg(long)]
        enrollment: String,
    },
    /// EnrollmentCommands/Withdraw (frees the seat).
    Withdraw {
        #[command(flatten)]
        key: Key,
        /// Enrollment id (Enroll's aggregate_id).
        #[arg(long)]
        enrollment: String,
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// SubscriptionCommands/StartTrial.
    StartTrial {
        #[command(flatten)]
        key: Key,
        /// The student; the actor when absent.
        #[arg(long)]
        student: Option<String>,
        /// basic or pro.
        #[arg(long)]
        plan: String,
    },
    /// SubscriptionCommands/Activate (charges the sandbox gateway).
    Activate {
        #[command(flatten)]
        key: Key,
        /// The student; the actor when absent.
        #[arg(long)]
        student: Option<String>,
        /// basic or pro.
        #[arg(long)]
        plan: String,
        /// Sandbox: pm_card_declined is declined, pm_gateway_down unavailable.
        #[arg(long, default_value = "pm_card_visa")]
        payment_method: String,
    },
    /// SubscriptionCommands/Renew.
    Renew {
        #[command(flatten)]
        key: Key,
        /// The student; the actor when absent.
        #[arg(long)]
        student: Option<String>,
        #[arg(long, default_value = "pm_card_visa")]
        payment_method: String,
    },
    /// SubscriptionCommands/MarkPastDue (admin).
    MarkPastDue {
        #[command(flatten)]
        key: Key,
        /// The student whose subscription is meant.
        #[arg(long)]
        student: String,
    },
    /// SubscriptionCommands/Cancel.
    CancelSubscription {
        #[command(flatten)]
        key: Key,
        /// The student; the actor when absent.
        #[arg(long)]
        student: Option<String>,
        #[arg(long, default_value = "")]
        reason: String,
    },
}

impl RpcCmd {
    /// The request to send; `actor` fills the ids that default to the caller.
    pub fn into_command(self, actor: Uuid) -> Command {
        let me = || actor.to_string();
        let or_me = |id: Option<String>| id.unwrap_or_else(me);
        match self {
            RpcCmd::CreateCourse {
                key,
                course_id,
                title,
                description,
                instructors,
                capacity,
                access,
            } => Command::CreateCourse(pb::CreateCourseRequest {
                command_id: key.id(),
                course_id: course_id.unwrap_or_default(),
                title,
                description,
                instructor_ids: if instructors.is_empty() {
                    vec![me()]
                } else {
                    instructors
                },
                capacity,
                access: access.into_proto(),
            }),
            RpcCmd::UpdateCourse {
                key,
                course,
                title,
                description,
                access,
            } => Command::UpdateCourseDetails(pb::UpdateCourseDetailsRequest {
                command_id: key.id(),
                course_id: course,
                title,
                description,
                access: access.into_proto(),
            }),
            RpcCmd::AddModule {
                key,
                course,
                title,
                module_id,
            } => Command::AddModule(pb::AddModuleRequest {
                command_id: key.id(),
                course_id: course,
                module_id: module_id.unwrap_or_default(),
                title,
            }),
            RpcCmd::AddLesson {
                key,
                course,
                module,
                title,
                lesson_id,
            } => Command::AddLesson(pb::AddLessonRequest {
                command_id: key.id(),
                course_id: course,
                module_id: module,
                lesson_id: lesson_id.unwrap_or_default(),
                title,
            }),
            RpcCmd::Publish { key, course } => Command::PublishCourse(pb::PublishCourseRequest {
                command_id: key.id(),
                course_id: course,
            }),
            RpcCmd::Archive { key, course } => Command::ArchiveCourse(pb::ArchiveCourseRequest {
                command_id: key.id(),
                course_id: course,
            }),
            RpcCmd::ChangeCapacity {
                key,
                course,
                capacity,
            } => Command::ChangeCapacity(pb::ChangeCapacityRequest {
                command_id: key.id(),
                course_id: course,
                capacity,
            }),
            RpcCmd::Enroll {
                key,
                course,
                student,
            } => Command::Enroll(pb::EnrollRequest {
                command_id: key.id(),
                course_id: course,
                student_id: or_me(student),
            }),
            RpcCmd::CompleteLesson {
                key,
                enrollment,
                lesson,
            } => Command::CompleteLesson(pb::CompleteLessonRequest {
                command_id: key.id(),
                enrollment_id: enrollment,
                lesson_id: lesson,
            }),
            RpcCmd::CompleteCourse { key, enrollment } => {
                Command::CompleteCourse(pb::CompleteCourseRequest {
                    command_id: key.id(),
                    enrollment_id: enrollment,
                })
            }
            RpcCmd::Withdraw {
                key,
                enrollment,
                reason,
            } => Command::Withdraw(pb::WithdrawRequest {
                command_id: key.id(),
                enrollment_id: enrollment,
                reason,
            }),
            RpcCmd::StartTrial { key, student, plan } => {
                Command::StartTrial(pb::StartTrialRequest {
                    command_id: key.id(),
                    student_id: or_me(student),
                    plan,
                })
            }
            RpcCmd::Activate {
                key,
                student,
                plan,
                payment_method,
            } => Command::Activate(pb::ActivateSubscriptionRequest {
                command_id: key.id(),
                student_id: or_me(student),
                plan,
                payment_method,
            }),
            RpcCmd::Renew {
                key,
                student,
                payment_method,
            } => Command::Renew(pb::RenewSubscriptionRequest {
                command_id: key.id(),
                student_id: or_me(student),
                payment_method,
            }),
            RpcCmd::MarkPastDue { key, student } => Command::MarkPastDue(pb::MarkPastDueRequest {
                command_id: key.id(),
                student_id: student,
            }),
            RpcCmd::CancelSubscription {
                key,
                student,
                reason,
            } => Command::Cancel(pb::CancelSubscriptionRequest {
                command_id: key.id(),
                student_id: or_me(student),
                reason,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("lms").chain(args.iter().copied()))
    }

    #[test]
    fn create_course_defaults_the_instructor_to_the_actor() -> Result<(), clap::Error> {
        let actor = Uuid::now_v7();
        let cli = parse(&[
            "create-course",
            "--title",
            "Rust",
            "--capacity",
            "2",
            "--plan",
            "basic",
        ])?;
        let Cmd::Rpc(rpc) = cli.command else {
            panic!("not an rpc subcommand");
        };
        let Command::CreateCourse(request) = rpc.into_command(actor) else {
            panic!("not CreateCourse");
        };
        assert_eq!(request.instructor_ids, vec![actor.to_string()]);
        assert_eq!(
            request.access,
            Some(pb::CourseAccess {
                kind: Some(Kind::Plan("basic".into()))
            })
        );
        assert!(!request.command_id.is_empty());
        Ok(())
    }

    #[test]
    fn price_and_plan_exclude_each_other() {
        let both = parse(&[
            "create-course",
            "--title",
            "t",
            "--capacity",
            "1",
            "--plan",
            "basic",
            "--price-cents",
            "100",
        ]);
        assert!(both.is_err());
    }

    #[test]
    fn global_options_go_after_the_subcommand_too() -> Result<(), clap::Error> {
        let cli = parse(&[
            "enroll",
            "--course",
            "c",
            "--token",
            "t0k3n",
            "--json",
            "--command-id",
            "k1",
        ])?;
        assert_eq!(cli.global.token.as_deref(), Some("t0k3n"));
        assert!(cli.global.json);
        let Cmd::Rpc(rpc) = cli.command else {
            panic!("not an rpc subcommand");
        };
        assert_eq!(rpc.into_command(Uuid::nil()).command_id(), "k1");
        Ok(())
    }

    #[test]
    fn queries_take_a_read_your_writes_position() -> Result<(), clap::Error> {
        let cli = parse(&[
            "get-course",
            "c1",
            "--min-aggregate",
            "c1",
            "--min-sequence",
            "8",
            "--query-endpoint",
            "http://q:1",
        ])?;
        assert_eq!(cli.global.query_endpoint(), "http://q:1");
        let Cmd::Query(QueryCmd::GetCourse { course_id, at }) = cli.command else {
            panic!("not get-course");
        };
        assert_eq!(course_id, "c1");
        assert_eq!(
            at.position(),
            Some(MinPosition {
                aggregate_id: "c1".into(),
                sequence: 8
            })
        );
        Ok(())
    }

    #[test]
    fn a_position_needs_both_halves() {
        assert!(parse(&["roster", "c1", "--min-aggregate", "c1"]).is_err());
        assert!(parse(&["dashboard", "s1", "--min-sequence", "3"]).is_err());
    }

    #[test]
    fn list_courses_filters_are_optional() -> Result<(), clap::Error> {
        let cli = parse(&["list-courses", "--status", "published"])?;
        let Cmd::Query(QueryCmd::ListCourses {
            status,
            instructor,
            page_size,
            at,
            ..
        }) = cli.command
        else {
            panic!("not list-courses");
        };
        assert_eq!(status.as_deref(), Some("published"));
        assert_eq!(instructor, None);
        assert_eq!(page_size, 0);
        assert_eq!(at.position(), None);
        Ok(())
    }
}
