//! The gRPC edge: turns requests into domain commands (field validation
//! here), runs them through the application services, and maps the outcome
//! to a reply or a `Status` in one place (`crate::error`).

mod course;
mod enrollment;
mod fields;
mod subscription;

pub use course::CourseCommandsService;
pub use enrollment::EnrollmentCommandsService;
pub use subscription::SubscriptionCommandsService;

use crate::app::Reply;
use crate::context::{Caller, CommandContext, CORRELATION_HEADER};
use crate::error::CommandError;
use lms_domain::{Actor, Clock};
use lms_proto::command::v1::CommandReply;
use prost::Message;
use sha2::{Digest, Sha256};
use std::future::Future;
use std::time::Instant;
use tonic::metadata::MetadataValue;
use tonic::{Request, Response, Status};
use tracing::Instrument;

/// Requests that carry an idempotency key.
pub trait CommandRequest: Message + Clone + Default {
    fn command_id(&self) -> &str;
    /// The request as its hash sees it: without the key, and without any
    /// secret (a password must not reach the command log, even hashed).
    fn without_command_id(&self) -> Self;
}

macro_rules! command_requests {
    ($($t:ty),* $(,)?) => {$(
        impl CommandRequest for $t {
            fn command_id(&self) -> &str {
                &self.command_id
            }
            fn without_command_id(&self) -> Self {
                Self { command_id: String::new(), ..self.clone() }
            }
        }
    )*};
}

use lms_proto::command::v1 as pb;
command_requests!(
    pb::CreateCourseRequest,
    pb::UpdateCourseDetailsRequest,
    pb::AddModuleRequest,
    pb::AddLessonRequest,
    pb::ChangeCapacityRequest,
    pb::PublishCourseRequest,
    pb::ArchiveCourseRequest,
    pb::EnrollRequest,
    pb::CompleteLessonRequest,
    pb::CompleteCourseRequest,
    pb::WithdrawRequest,
    pb::StartTrialRequest,
    pb::ActivateSubscriptionRequest,
    pb::RenewSubscriptionRequest,
    pb::MarkPastDueRequest,
    pb::CancelSubscriptionRequest,
);

/// The identity API's commands; passwords are blanked before hashing.
macro_rules! secret_command_requests {
    ($($t:ty => [$($secret:ident),*]),* $(,)?) => {$(
        impl CommandRequest for $t {
            fn command_id(&self) -> &str {
                &self.command_id
            }
            // A request made of its key and secrets only updates nothing.
            #[allow(clippy::needless_update)]
            fn without_command_id(&self) -> Self {
                Self {
                    command_id: String::new(),
                    $($secret: String::new(),)*
                    ..self.clone()
                }
            }
        }
    )*};
}

use lms_proto::identity::v1 as id;
secret_command_requests!(
    id::RegisterRequest => [password],
    id::UpdateProfileRequest => [],
    id::ChangePasswordRequest => [current_password, new_password],
    id::RoleRequest => [],
);

/// Same command type + same actor + same fields (the key aside) ⇒ same hash.
fn request_hash<R: CommandRequest>(command_type: &str, actor: &Actor, request: &R) -> String {
    let mut hasher = Sha256::new();
    hasher.update(command_type.as_bytes());
    hasher.update([0]);
    hasher.update(actor.user_id.as_uuid().as_bytes());
    hasher.update(format!("{:?}", actor.role).as_bytes());
    hasher.update([0]);
    hasher.update(request.without_command_id().encode_to_vec());
    hex::encode(hasher.finalize())
}

/// Runs one command request end to end: context, span, metrics, mapping.
pub(crate) async fn handle<R, F, Fut>(
    clock: &dyn Clock,
    command_type: &'static str,
    request: Request<R>,
    run: F,
) -> Result<Response<CommandReply>, Status>
where
    R: CommandRequest,
    F: FnOnce(CommandContext, R) -> Fut,
    Fut: Future<Output = Result<Reply, CommandError>>,
{
    let caller = Caller::of(&request);
    handle_as(clock, command_type, request, caller, run).await
}

/// As [`handle`], for a caller the service established itself.
pub async fn handle_as<R, F, Fut>(
    clock: &dyn Clock,
    command_type: &'static str,
    request: Request<R>,
    caller: Result<Caller, CommandError>,
    run: F,
) -> Result<Response<CommandReply>, Status>
where
    R: CommandRequest,
    F: FnOnce(CommandContext, R) -> Fut,
    Fut: Future<Output = Result<Reply, CommandError>>,
{
    let started = Instant::now();
    let (metadata, _, message) = request.into_parts();
    let context = caller.and_then(|caller| {
        CommandContext::new(
            &metadata,
            caller,
            command_type,
            message.command_id(),
            clock.now(),
        )
    });
    let (result, correlation_id) = match context {
        Ok(mut context) => {
            context.request_hash = request_hash(command_type, &context.actor, &message);
            let span = tracing::info_span!(
                "command",
                command = command_type,
                command_id = %context.command_id,
                correlation_id = %context.correlation_id,
                causation_id = %context.causation_id,
                actor = %context.actor.user_id,
                tenant = %context.tenant_id,
            );
            let correlation_id = context.correlation_id.clone();
            (
                run(context, message).instrument(span).await,
                Some(correlation_id),
            )
        }
        Err(e) => (Err(e), None),
    };
    let outcome = match &result {
        Ok(_) => "ok",
        Err(e) => e.outcome(),
    };
    metrics::counter!("lms_commands_total", "command" => command_type, "outcome" => outcome)
        .increment(1);
    metrics::histogram!("lms_command_duration_seconds", "command" => command_type)
        .record(started.elapsed().as_secs_f64());
    match result {
        Ok(reply) => {
            tracing::info!(command = command_type, aggregate_id = %reply.aggregate_id, sequence = reply.sequence, "command accepted");
            let mut response = Response::new(CommandReply {
                aggregate_id: reply.aggregate_id,
                sequence: u64::try_from(reply.sequence).unwrap_or_default(),
                created_id: reply.created_id,
            });
            if let Some(value) = correlation_id.and_then(|c| MetadataValue::try_from(c).ok()) {
                response.metadata_mut().insert(CORRELATION_HEADER, value);
            }
            Ok(response)
        }
        Err(e) => {
            match &e {
                CommandError::Internal(_) | CommandError::Unavailable(_) => {
                    tracing::error!(command = command_type, error = %e, "command failed")
                }
                _ => tracing::info!(command = command_type, outcome, error = %e, "command refused"),
            }
            Err(e.into())
        }
    }
}
