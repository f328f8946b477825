//! Per-command context: who and which tenant (from the verified access
//! token, never from a header), which correlation (from gRPC metadata, ids
//! generated when absent); written into every event's metadata.

use crate::error::CommandError;
use crate::store::{Completion, COMPLETION_KEY};
use chrono::{DateTime, SecondsFormat, Utc};
use lms_domain::{Actor, FieldViolation, Role, UserId};
use lms_runtime::auth::Principal;
use std::collections::HashMap;
use tonic::metadata::MetadataMap;
use uuid::Uuid;

pub const CORRELATION_HEADER: &str = "x-correlation-id";
pub const CAUSATION_HEADER: &str = "x-causation-id";
pub const DEFAULT_TENANT: &str = "default";

/// Who runs a command, and in which tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub actor: Actor,
    pub tenant_id: String,
}

impl Caller {
    /// The caller a verified token names, acting with their strongest role.
    pub fn from_principal(principal: &Principal) -> Result<Self, CommandError> {
        let role = principal
            .roles
            .iter()
            .filter_map(|r| r.parse::<Role>().ok())
            .max()
            .ok_or_else(|| {
                CommandError::Unauthenticated("the token carries no known role".into())
            })?;
        Ok(Caller {
            actor: Actor::new(UserId(principal.user_id), role),
            tenant_id: principal.tenant_id.clone(),
        })
    }

    /// The caller of a request that went through the token interceptor.
    pub fn of<T>(request: &tonic::Request<T>) -> Result<Self, CommandError> {
        let principal = lms_runtime::auth::principal(request)
            .map_err(|s| CommandError::Unauthenticated(s.message().to_string()))?;
        Self::from_principal(principal)
    }
}

#[derive(Debug, Clone)]
pub struct CommandContext {
    pub command_id: String,
    pub command_type: &'static str,
    /// Hash of command type, actor and request fields (the key aside): the
    /// same key from another caller or with other fields is a reuse.
    pub request_hash: String,
    pub correlation_id: String,
    /// What caused this command: the caller's message id if it sent one,
    /// else the command itself.
    pub causation_id: String,
    pub actor: Actor,
    pub tenant_id: String,
    pub occurred_at: DateTime<Utc>,
}

/// Ids a caller chooses (command id, correlation, causation, tenant) are
/// copied into every event: bounded, and printable without escaping.
fn id_ok(id: &str) -> bool {
    (1..=128).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_graphic())
}

impl CommandContext {
    /// The context of `command_id` run by `caller`; correlation and
    /// causation ids come from the metadata when the caller sent them.
    pub fn new(
        metadata: &MetadataMap,
        caller: Caller,
        command_type: &'static str,
        command_id: &str,
        occurred_at: DateTime<Utc>,
    ) -> Result<Self, CommandError> {
        let command_id = command_id.trim();
        let mut violations = Vec::new();
        if !id_ok(command_id) {
            violations.push(FieldViolation::new(
                "command_id",
                "an idempotency key of 1 to 128 visible ASCII characters is required",
            ));
        }
        let mut id_header = |name: &str| {
            let value = metadata.get(name)?;
            match value.to_str().map(str::trim) {
                Ok("") => None,
                Ok(id) if id_ok(id) => Some(id.to_string()),
                _ => {
                    violations.push(FieldViolation::new(
                        name,
                        "must be 1 to 128 visible ASCII characters",
                    ));
                    None
                }
            }
        };
        let correlation_id = id_header(CORRELATION_HEADER);
        let causation_id = id_header(CAUSATION_HEADER);
        if !violations.is_empty() {
            return Err(CommandError::Invalid(violations));
        }
        let correlation_id = correlation_id.unwrap_or_else(|| Uuid::now_v7().to_string());
        let causation_id = causation_id.unwrap_or_else(|| command_id.to_string());
        Ok(Self {
            command_id: command_id.to_string(),
            command_type,
            request_hash: String::new(),
            correlation_id,
            causation_id,
            actor: caller.actor,
            tenant_id: caller.tenant_id,
            occurred_at,
        })
    }

    /// The envelope fields every event of this command carries.
    pub fn metadata(&self) -> HashMap<String, String> {
        let role = self.actor.role.as_str();
        HashMap::from([
            ("command_id".into(), self.command_id.clone()),
            ("command_type".into(), self.command_type.into()),
            ("correlation_id".into(), self.correlation_id.clone()),
            ("causation_id".into(), self.causation_id.clone()),
            ("actor_id".into(), self.actor.user_id.to_string()),
            ("actor_role".into(), role.into()),
            ("tenant_id".into(), self.tenant_id.clone()),
            (
                "occurred_at".into(),
                self.occurred_at
                    .to_rfc3339_opts(SecondsFormat::Micros, true),
            ),
        ])
    }

    /// Metadata for the write that completes the command: it also carries the
    /// command-log record, so both land in one transaction.
    pub fn completing_metadata(
        &self,
        completion: &Completion,
    ) -> Result<HashMap<String, String>, CommandError> {
        let mut metadata = self.metadata();
        let encoded =
            serde_json::to_string(completion).map_err(|e| CommandError::Internal(e.to_string()))?;
        metadata.insert(COMPLETION_KEY.into(), encoded);
        Ok(metadata)
    }

    pub fn completion(
        &self,
        reply_aggregate: Option<(String, String, i64)>,
        created_id: String,
    ) -> Completion {
        Completion {
            tenant_id: self.tenant_id.clone(),
            command_id: self.command_id.clone(),
            command_type: self.command_type.to_string(),
            request_hash: self.request_hash.clone(),
            reply_aggregate,
            created_id,
        }
    }
}
