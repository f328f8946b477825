//! What the user sees: aligned text for people, or one JSON object per line
//! (`--json`) for scripts. Replies and query answers go to stdout; refusals
//! of a single RPC go to stderr as text, or to stdout as JSON.

use crate::answers::Answer;
use crate::rpc::{Command, Failure, Identity};
use lms_proto::command::v1::CommandReply;
use serde_json::{json, Value};

/// Width of the step-name column of the demo.
const STEP_WIDTH: usize = 44;

#[derive(Debug, Clone, Copy)]
pub struct Output {
    json: bool,
}

/// How one demo step ended.
#[derive(Debug)]
pub enum Outcome<'a> {
    Ok(&'a CommandReply),
    /// An expected refusal.
    Refused(&'a Failure),
    /// Not what the script expected.
    Failed {
        detail: String,
        failure: Option<&'a Failure>,
    },
}

impl Output {
    pub fn new(json: bool) -> Self {
        Self { json }
    }

    fn line(value: &Value) {
        println!("{value}");
    }

    /// A single RPC's reply.
    pub fn reply(&self, command: &Command, who: Identity, reply: &CommandReply) {
        if self.json {
            Self::line(&json!({
                "command": command.name(),
                "command_id": command.command_id(),
                "actor": who.actor.to_string(),
                "role": who.role.as_str(),
                "ok": true,
                "aggregate_id": reply.aggregate_id,
                "sequence": reply.sequence,
                "created_id": reply.created_id,
            }));
            return;
        }
        println!("{} OK", command.name());
        println!("  aggregate_id  {}", reply.aggregate_id);
        println!("  sequence      {}", reply.sequence);
        if !reply.created_id.is_empty() {
            println!("  created_id    {}", reply.created_id);
        }
        println!("  command_id    {}", command.command_id());
        println!("  actor         {} ({})", who.actor, who.role.as_str());
    }

    /// A single RPC's refusal or error.
    pub fn failure(&self, command: &Command, who: Identity, failure: &Failure) {
        if self.json {
            let mut value = failure_json(failure);
            if let Value::Object(fields) = &mut value {
                fields.insert("command".into(), command.name().into());
                fields.insert("command_id".into(), command.command_id().into());
                fields.insert("actor".into(), who.actor.to_string().into());
                fields.insert("role".into(), who.role.as_str().into());
                fields.insert("ok".into(), false.into());
            }
            Self::line(&value);
            return;
        }
        eprintln!(
            "{} failed: {}: {}",
            command.name(),
            failure.code_name(),
            failure.message
        );
        for detail in failure_details(failure) {
            eprintln!("  {detail}");
        }
        eprintln!(
            "  command_id    {} (retry with --command-id {})",
            command.command_id(),
            command.command_id()
        );
        eprintln!("  actor         {} ({})", who.actor, who.role.as_str());
    }

    /// One line of the demo.
    pub fn step(&self, name: &str, command: &Command, outcome: &Outcome<'_>) {
        if self.json {
            let mut value = match outcome {
                Outcome::Ok(reply) => json!({
                    "outcome": "ok",
                    "aggregate_id": reply.aggregate_id,
                    "sequence": reply.sequence,
                    "created_id": reply.created_id,
                }),
                Outcome::Refused(failure) => {
                    let mut value = failure_json(failure);
                    if let Value::Object(fields) = &mut value {
                        fields.insert("outcome".into(), "refused".into());
                    }
                    value
                }
                Outcome::Failed { detail, failure } => {
                    let mut value = failure.map(failure_json).unwrap_or_else(|| json!({}));
                    if let Value::Object(fields) = &mut value {
                        fields.insert("outcome".into(), "failed".into());
                        fields.insert("detail".into(), detail.as_str().into());
                    }
                    value
                }
            };
            if let Value::Object(fields) = &mut value {
                fields.insert("step".into(), name.into());
                fields.insert("command".into(), command.name().into());
                fields.insert("command_id".into(), command.command_id().into());
            }
            Self::line(&value);
            return;
        }
        match outcome {
            Outcome::Ok(reply) => println!(
                "{name:<STEP_WIDTH$} {:<8} {:<36}  seq {:>3}",
                "OK", reply.aggregate_id, reply.sequence
            ),
            Outcome::Refused(failure) => println!(
                "{name:<STEP_WIDTH$} {:<8} {:<36}  seq {:>3}  {} {}: {}",
                "REFUSED",
                "-",
                "-",
                failure.code_name(),
                failure.reason.as_deref().unwrap_or("(no ErrorInfo)"),
                failure.message
            ),
            Outcome::Failed { detail, failure } => {
                println!("{name:<STEP_WIDTH$} {:<8} {detail}", "FAILED");
                if let Some(failure) = failure {
                    println!(
                        "    {}: {} ({})",
                        failure.code_name(),
                        failure.message,
                        command.command_id()
                    );
                    for detail in failure_details(failure) {
                        println!("    {detail}");
                    }
                }
            }
        }
    }

    /// A free-form note in the demo's text output (nothing in JSON mode).
    pub fn note(&self, text: &str) {
        if !self.json {
            println!("{text}");
        }
    }

    /// Named ids, for the user to continue from.
    pub fn ids(&self, ids: &[(&str, String)]) {
        if self.json {
            let fields: serde_json::Map<String, Value> = ids
                .iter()
                .map(|(name, id)| ((*name).to_string(), Value::from(id.as_str())))
                .collect();
            Self::line(&json!({ "ids": fields }));
            return;
        }
        let width = ids.iter().map(|(name, _)| name.len()).max().unwrap_or(0);
        println!("ids:");
        for (name, id) in ids {
            println!("  {name:<width$}  {id}");
        }
    }

    /// A single query's answer.
    pub fn answer(&self, rpc: &str, answer: &dyn Answer) {
        if self.json {
            let mut value = answer.json();
            if let Value::Object(fields) = &mut value {
                fields.insert("query".into(), rpc.into());
                fields.insert("ok".into(), true.into());
            }
            Self::line(&value);
            return;
        }
        for line in answer.lines() {
            println!("{line}");
        }
    }

    /// A single query's refusal or error.
    pub fn query_failure(&self, rpc: &str, failure: &Failure) {
        if self.json {
            let mut value = failure_json(failure);
            if let Value::Object(fields) = &mut value {
                fields.insert("query".into(), rpc.into());
                fields.insert("ok".into(), false.into());
            }
            Self::line(&value);
            return;
        }
        eprintln!("{rpc} failed: {}: {}", failure.code_name(), failure.message);
        for detail in failure_details(failure) {
            eprintln!("  {detail}");
        }
    }

    /// A refused identity call.
    pub fn call_failure(&self, rpc: &str, failure: &Failure) {
        self.query_failure(rpc, failure);
    }

    /// A session from `login`: the access token alone (for `$(...)`), or
    /// the whole session as JSON.
    pub fn session(&self, session: &lms_proto::identity::v1::Session) {
        if self.json {
            Self::line(&json!({
                "user_id": session.user_id,
                "tenant_id": session.tenant_id,
                "roles": session.roles,
                "access_token": session.access_token,
                "expires_in": session.expires_in,
                "refresh_token": session.refresh_token,
                "refresh_expires_in": session.refresh_expires_in,
            }));
            return;
        }
        println!("{}", session.access_token);
    }

    /// The demo's read-back of one query: a title, then the answer indented.
    pub fn read_back(&self, title: &str, rpc: &str, answer: &dyn Answer) {
        if self.json {
            Self::line(&json!({ "read": title, "query": rpc, "answer": answer.json() }));
            return;
        }
        println!("{title}");
        for line in answer.lines() {
            println!("    {line}");
        }
    }

    /// A check the demo made on what it read back.
    pub fn check(&self, what: &str) {
        if self.json {
            Self::line(&json!({ "check": what, "ok": true }));
        } else {
            println!("  ✓ {what}");
        }
    }

    pub fn health(&self, service: &str, status: &str) {
        if self.json {
            Self::line(&json!({ "service": service, "status": status }));
        } else {
            println!("{status}");
        }
    }
}

fn failure_json(failure: &Failure) -> Value {
    json!({
        "code": failure.code_name(),
        "message": failure.message,
        "reason": failure.reason,
        "field_violations": failure
            .field_violations
            .iter()
            .map(|(field, description)| json!({ "field": field, "description": description }))
            .collect::<Vec<_>>(),
        "precondition_violations": failure
            .preconditions
            .iter()
            .map(|(kind, description)| json!({ "type": kind, "description": description }))
            .collect::<Vec<_>>(),
        "retry_after_ms": failure.retry_after.map(|d| d.as_millis()),
    })
}

/// The status details, one line each.
fn failure_details(failure: &Failure) -> Vec<String> {
    let mut lines = Vec::new();
    if let Some(reason) = &failure.reason {
        lines.push(format!("reason        {reason}"));
    }
    for (field, description) in &failure.field_violations {
        lines.push(format!("field         {field}: {description}"));
    }
    for (kind, description) in &failure.preconditions {
        lines.push(format!("precondition  {kind}: {description}"));
    }
    if let Some(delay) = failure.retry_after {
        lines.push(format!("retry after   {delay:?}"));
    }
    lines
}
