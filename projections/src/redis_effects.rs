//! Redis side effects of one event, collected by the handler and run by the
//! worker in one Lua script that applies them only if the event's sequence
//! is newer than the one stored for its aggregate (atomic, idempotent); and
//! [`BatchEffects`], those of a rebuild's batch, sent in one pipeline.

use redis::aio::ConnectionManager;
use redis::Script;
use std::sync::OnceLock;

/// KEYS[1] is the aggregate's sequence key and KEYS[i + 1] the key of the
/// i-th command: every key the script touches is declared, as Redis asks
/// of scripts (ACLs, replication, a cluster's slot checks). ARGV[2] holds
/// each command's name and arguments without its key.
const APPLY_IF_NEWER: &str = r#"
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
local sequence = tonumber(ARGV[1])
if sequence <= current then return 0 end
for i, command in ipairs(cjson.decode(ARGV[2])) do
  redis.call(command[1], KEYS[i + 1], unpack(command, 2))
end
redis.call('SET', KEYS[1], ARGV[1])
return 1
"#;

fn script() -> &'static Script {
    static SCRIPT: OnceLock<Script> = OnceLock::new();
    SCRIPT.get_or_init(|| Script::new(APPLY_IF_NEWER))
}

/// Commands for one event, all under `<prefix>:`; each is its name, its
/// one key, then its other arguments.
#[derive(Debug, Clone, Default)]
pub struct RedisEffects {
    prefix: String,
    commands: Vec<Vec<String>>,
}

impl RedisEffects {
    pub fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_string(),
            commands: Vec::new(),
        }
    }

    /// `<prefix>:<name>`.
    pub fn key(&self, name: &str) -> String {
        format!("{}:{name}", self.prefix)
    }

    pub fn is_empty(&self) -> bool {
        self.commands.is_empty()
    }

    pub fn commands(&self) -> &[Vec<String>] {
        &self.commands
    }

    /// A Redis command on one key (from [`Self::key`]), with its other arguments.
    pub fn command<I, S>(&mut self, name: &str, key: &str, args: I) -> &mut Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut command = vec![name.to_string(), key.to_string()];
        command.extend(args.into_iter().map(Into::into));
        self.commands.push(command);
        self
    }

    pub fn hset(&mut self, key: &str, fields: &[(&str, String)]) -> &mut Self {
        let mut args = Vec::with_capacity(fields.len() * 2);
        for (field, value) in fields {
            args.push((*field).to_string());
            args.push(value.clone());
        }
        self.command("HSET", key, args)
    }

    pub fn hincrby(&mut self, key: &str, field: &str, by: i64) -> &mut Self {
        self.command("HINCRBY", key, [field.to_string(), by.to_string()])
    }

    pub fn hdel(&mut self, key: &str, fields: &[&str]) -> &mut Self {
        self.command("HDEL", key, fields.iter().copied())
    }

    pub fn set(&mut self, key: &str, value: String) -> &mut Self {
        self.command("SET", key, [value])
    }

    pub fn incrby(&mut self, key: &str, by: i64) -> &mut Self {
        self.command("INCRBY", key, [by.to_string()])
    }

    pub fn zadd(&mut self, key: &str, score: i64, member: &str) -> &mut Self {
        self.command("ZADD", key, [score.to_string(), member.to_string()])
    }

    pub fn zrem(&mut self, key: &str, member: &str) -> &mut Self {
        self.command("ZREM", key, [member])
    }

    /// The script's invocation: the sequence key and every command's key
    /// declared, the commands without their keys.
    fn invocation(&self, seq_key: &str, sequence: i64) -> redis::ScriptInvocation<'static> {
        let mut invocation = script().key(seq_key);
        let (keys, commands) = self.keys_and_commands();
        for key in keys {
            invocation.key(key);
        }
        invocation.arg(sequence).arg(commands);
        invocation
    }

    /// Each command's key, in order, and the commands as JSON without them.
    fn keys_and_commands(&self) -> (Vec<&str>, String) {
        let mut keys = Vec::with_capacity(self.commands.len());
        let mut without_keys: Vec<Vec<&str>> = Vec::with_capacity(self.commands.len());
        for command in &self.commands {
            keys.push(command.get(1).map(String::as_str).unwrap_or_default());
            without_keys.push(
                command
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| *i != 1)
                    .map(|(_, a)| a.as_str())
                    .collect(),
            );
        }
        let commands = serde_json::to_string(&without_keys).unwrap_or_else(|_| "[]".into());
        (keys, commands)
    }

    /// Queues the script on a pipeline: the commands run only if `sequence`
    /// is newer than `seq_key`'s value. The script must be loaded first
    /// ([`Self::load_script`]).
    pub fn pipeline(&self, pipe: &mut redis::Pipeline, seq_key: &str, sequence: i64) {
        pipe.invoke_script(&self.invocation(seq_key, sequence))
            .ignore();
    }

    /// Loads the script so pipelined invocations (EVALSHA) find it.
    pub async fn load_script(redis: &mut ConnectionManager) -> Result<(), redis::RedisError> {
        script()
            .prepare_invoke()
            .load_async(redis)
            .await
            .map(|_| ())
    }
}

/// `<prefix>:seq:[<namespace>:]<aggregate_type>:<aggregate_id>`.
pub fn seq_key(
    prefix: &str,
    namespace: Option<&str>,
    aggregate_type: &str,
    aggregate_id: &str,
) -> String {
    match namespace {
        Some(ns) => format!("{prefix}:seq:{ns}:{aggregate_type}:{aggregate_id}"),
        None => format!("{prefix}:seq:{aggregate_type}:{aggregate_id}"),
    }
}

/// The Redis effects of a rebuild's batch: one guarded script invocation per
/// entry, all in one pipeline. An entry is one event's effects (the per-event
/// path) or an aggregate's net effects over the batch at its last sequence
/// (a set-based [`crate::Projection::apply_batch`]); both end the same because
/// a rebuild's shadow prefix starts empty and sees each aggregate's events in
/// sequence order, so the guard never skips there.
#[derive(Debug, Clone)]
pub struct BatchEffects {
    prefix: String,
    namespace: Option<&'static str>,
    entries: Vec<(String, i64, RedisEffects)>,
}

impl BatchEffects {
    pub fn new(prefix: &str, namespace: Option<&'static str>) -> Self {
        Self {
            prefix: prefix.to_string(),
            namespace,
            entries: Vec::new(),
        }
    }

    /// Empty effects under this batch's prefix, to fill and [`Self::push`].
    pub fn effects(&self) -> RedisEffects {
        RedisEffects::new(&self.prefix)
    }

    /// Queues `effects` guarded by the aggregate's sequence key (nothing when empty).
    pub fn push(
        &mut self,
        aggregate_type: &str,
        aggregate_id: &str,
        sequence: i64,
        effects: RedisEffects,
    ) {
        if effects.is_empty() {
            return;
        }
        let key = seq_key(&self.prefix, self.namespace, aggregate_type, aggregate_id);
        self.entries.push((key, sequence, effects));
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// (sequence key, sequence, effects) in the order they are sent.
    pub fn entries(&self) -> &[(String, i64, RedisEffects)] {
        &self.entries
    }

    /// Loads the script and sends every entry in one pipeline.
    pub async fn send(&self, redis: &mut ConnectionManager) -> Result<(), redis::RedisError> {
        if self.entries.is_empty() {
            return Ok(());
        }
        RedisEffects::load_script(redis).await?;
        let mut pipe = redis::pipe();
        for (key, sequence, effects) in &self.entries {
            effects.pipeline(&mut pipe, key, *sequence);
        }
        pipe.query_async(redis).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_a_command_touches_is_declared_and_not_passed_as_an_argument() {
        let mut effects = RedisEffects::new("p");
        let card = effects.key("course:1");
        let published = effects.key("courses:published:t");
        effects
            .hset(&card, &[("title", "T".into()), ("capacity", "3".into())])
            .zadd(&published, 7, "1")
            .hdel(&card, &["plan"]);
        let (keys, commands) = effects.keys_and_commands();
        assert_eq!(keys, vec![card.as_str(), published.as_str(), card.as_str()]);
        assert_eq!(
            commands,
            r#"[["HSET","title","T","capacity","3"],["ZADD","7","1"],["HDEL","plan"]]"#
        );
        assert!(!commands.contains("p:"), "no key among the arguments");
    }
}
