//! The wire: one connection to `lms-commands`, the caller's access token as
//! metadata, every `lms.command.v1` RPC as a [`Command`], and a refusal
//! decoded from the `Status` and its `google.rpc` details.

use anyhow::Context;
use lms_proto::command::v1 as pb;
use pb::course_commands_client::CourseCommandsClient;
use pb::enrollment_commands_client::EnrollmentCommandsClient;
use pb::subscription_commands_client::SubscriptionCommandsClient;
use std::time::Duration;
use tonic::metadata::{AsciiMetadataValue, MetadataMap};
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Status};
use tonic_types::StatusExt;
use uuid::Uuid;

pub const CORRELATION_HEADER: &str = "x-correlation-id";
pub const AUTHORIZATION: &str = "authorization";

/// The domain's roles, which parse and print their own names.
pub use lms_domain::Role;

/// Who sends a command: a signed-in user and their access token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity {
    pub actor: Uuid,
    /// The strongest role the token carries.
    pub role: Role,
    /// The access token. The CLI runs one command or the demo, so the few
    /// tokens it holds live as long as it does (`Identity` stays `Copy`).
    token: &'static str,
}

impl Identity {
    /// The caller a token names, read from its claims for display and
    /// defaults (`student_id` = me). The server verifies it; we do not.
    pub fn from_token(token: String) -> anyhow::Result<Self> {
        use base64::Engine;
        let payload = token
            .split('.')
            .nth(1)
            .context("an access token has three dot-separated parts")?;
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .context("the token's claims are not base64url")?;
        #[derive(serde::Deserialize)]
        struct Claims {
            sub: Uuid,
            #[serde(default)]
            roles: Vec<String>,
        }
        let claims: Claims =
            serde_json::from_slice(&bytes).context("the token's claims are not readable")?;
        let role = claims
            .roles
            .iter()
            .filter_map(|r| r.parse::<Role>().ok())
            .max()
            .unwrap_or(Role::Student);
        Ok(Self {
            actor: claims.sub,
            role,
            token: Box::leak(token.into_boxed_str()),
        })
    }

    /// `Bearer <token>` for the authorization metadata.
    pub fn bearer(&self) -> Option<AsciiMetadataValue> {
        format!("Bearer {}", self.token).parse().ok()
    }
}

/// Declares [`Command`] (one variant per RPC, holding its request) with its
/// RPC name, its idempotency key and the client call that sends it.
macro_rules! commands {
    ($($variant:ident($request:ident) => $client:ident.$method:ident;)*) => {
        /// One `lms.command.v1` request, ready to send.
        #[derive(Debug, Clone, PartialEq)]
        pub enum Command {
            $($variant(pb::$request),)*
        }

        impl Command {
            /// The RPC's name in the proto.
            pub fn name(&self) -> &'static str {
                match self {
                    $(Command::$variant(_) => stringify!($variant),)*
                }
            }

            /// The idempotency key the request carries.
            pub fn command_id(&self) -> &str {
                match self {
                    $(Command::$variant(r) => &r.command_id,)*
                }
            }

            /// The same command under another idempotency key.
            pub fn with_command_id(mut self, id: impl Into<String>) -> Self {
                match &mut self {
                    $(Command::$variant(r) => r.command_id = id.into(),)*
                }
                self
            }
        }

        impl Connection {
            /// Sends `command` as `who`; the reply, or the refusal as a `Status`.
            pub async fn send(
                &self,
                who: Identity,
                command: Command,
            ) -> Result<pb::CommandReply, Status> {
                let channel = self.channel.clone();
                let reply = match command {
                    $(Command::$variant(r) => {
                        $client::new(channel).$method(self.request(who, r)).await
                    })*
                };
                reply.map(tonic::Response::into_inner)
            }
        }
    };
}

commands! {
    CreateCourse(CreateCourseRequest) => CourseCommandsClient.create_course;
    UpdateCourseDetails(UpdateCourseDetailsRequest) => CourseCommandsClient.update_course_details;
    AddModule(AddModuleRequest) => CourseCommandsClient.add_module;
    AddLesson(AddLessonRequest) => CourseCommandsClient.add_lesson;
    ChangeCapacity(ChangeCapacityRequest) => CourseCommandsClient.change_capacity;
    PublishCourse(PublishCourseRequest) => CourseCommandsClient.publish_course;
    ArchiveCourse(ArchiveCourseRequest) => CourseCommandsClient.archive_course;
    Enroll(EnrollRequest) => EnrollmentCommandsClient.enroll;
    CompleteLesson(CompleteLessonRequest) => EnrollmentCommandsClient.complete_lesson;
    CompleteCourse(CompleteCourseRequest) => EnrollmentCommandsClient.complete_course;
    Withdraw(WithdrawRequest) => EnrollmentCommandsClient.withdraw;
    StartTrial(StartTrialRequest) => SubscriptionCommandsClient.start_trial;
    Activate(ActivateSubscriptionRequest) => SubscriptionCommandsClient.activate;
    Renew(RenewSubscriptionRequest) => SubscriptionCommandsClient.renew;
    MarkPastDue(MarkPastDueRequest) => SubscriptionCommandsClient.mark_past_due;
    Cancel(CancelSubscriptionRequest) => SubscriptionCommandsClient.cancel;
}

/// A fresh idempotency key.
pub fn new_command_id() -> String {
    Uuid::now_v7().to_string()
}

/// Metadata sent with every call besides the token.
#[derive(Debug, Clone, Default)]
pub struct CallContext {
    pub correlation_id: Option<String>,
}

/// A channel to the command service plus the per-call metadata.
#[derive(Debug, Clone)]
pub struct Connection {
    channel: Channel,
    correlation_id: Option<AsciiMetadataValue>,
}

impl Connection {
    pub async fn connect(endpoint: &str, context: CallContext) -> anyhow::Result<Self> {
        let correlation_id = ascii_header(CORRELATION_HEADER, context.correlation_id)?;
        let channel = channel(endpoint, Duration::from_secs(5)).await?;
        Ok(Self {
            channel,
            correlation_id,
        })
    }

    fn request<T>(&self, who: Identity, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        let metadata: &mut MetadataMap = request.metadata_mut();
        // Without it the server answers UNAUTHENTICATED, as it should.
        if let Some(bearer) = who.bearer() {
            metadata.insert(AUTHORIZATION, bearer);
        }
        if let Some(correlation_id) = &self.correlation_id {
            metadata.insert(CORRELATION_HEADER, correlation_id.clone());
        }
        request
    }
}

fn ascii_header(name: &str, value: Option<String>) -> anyhow::Result<Option<AsciiMetadataValue>> {
    value
        .map(|v| {
            v.parse::<AsciiMetadataValue>()
                .with_context(|| format!("{name} must be printable ASCII: {v:?}"))
        })
        .transpose()
}

/// Connects (eagerly, so a wrong endpoint fails here with a clear message).
pub async fn channel(endpoint: &str, connect_timeout: Duration) -> anyhow::Result<Channel> {
    Endpoint::from_shared(endpoint.to_string())
        .with_context(|| format!("invalid endpoint {endpoint:?}"))?
        .connect_timeout(connect_timeout)
        .timeout(Duration::from_secs(30))
        .connect()
        .await
        .with_context(|| format!("cannot connect to {endpoint}"))
}

/// A refused or failed call: the status and what its details say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub code: Code,
    pub message: String,
    /// `google.rpc.ErrorInfo.reason`, e.g. `COURSE_FULL`.
    pub reason: Option<String>,
    /// `google.rpc.BadRequest` field violations: (field, description).
    pub field_violations: Vec<(String, String)>,
    /// `google.rpc.PreconditionFailure` violations: (type, description).
    pub preconditions: Vec<(String, String)>,
    /// `google.rpc.RetryInfo.retry_delay`.
    pub retry_after: Option<Duration>,
}

impl From<&Status> for Failure {
    fn from(status: &Status) -> Self {
        let details = status.get_error_details();
        Self {
            code: status.code(),
            message: status.message().to_string(),
            reason: details.error_info().map(|info| info.reason.clone()),
            field_violations: details
                .bad_request()
                .map(|b| {
                    b.field_violations
                        .iter()
                        .map(|v| (v.field.clone(), v.description.clone()))
                        .collect()
                })
                .unwrap_or_default(),
            preconditions: details
                .precondition_failure()
                .map(|p| {
                    p.violations
                        .iter()
                        .map(|v| (v.r#type.clone(), v.description.clone()))
                        .collect()
                })
                .unwrap_or_default(),
            retry_after: details.retry_info().and_then(|r| r.retry_delay),
        }
    }
}

impl Failure {
    pub fn code_name(&self) -> &'static str {
        code_name(self.code)
    }
}

/// The canonical (proto enum) name of a gRPC status code.
pub use lms_runtime::grpc::status::code_name;
