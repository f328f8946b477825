//! Compatibility levels and the Avro checks behind them
//! (`apache_avro::schema_compatibility`; a `Partial` result is a refusal).

use apache_avro::schema_compatibility::{Compatibility, SchemaCompatibility};
use apache_avro::Schema;
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    None,
    Backward,
    BackwardTransitive,
    Forward,
    ForwardTransitive,
    Full,
    FullTransitive,
}

impl Level {
    pub const ALL: [Level; 7] = [
        Level::None,
        Level::Backward,
        Level::BackwardTransitive,
        Level::Forward,
        Level::ForwardTransitive,
        Level::Full,
        Level::FullTransitive,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Level::None => "NONE",
            Level::Backward => "BACKWARD",
            Level::BackwardTransitive => "BACKWARD_TRANSITIVE",
            Level::Forward => "FORWARD",
            Level::ForwardTransitive => "FORWARD_TRANSITIVE",
            Level::Full => "FULL",
            Level::FullTransitive => "FULL_TRANSITIVE",
        }
    }

    /// Checked against every earlier version, not only the latest.
    pub fn is_transitive(self) -> bool {
        matches!(
            self,
            Level::BackwardTransitive | Level::ForwardTransitive | Level::FullTransitive
        )
    }

    fn backward(self) -> bool {
        matches!(
            self,
            Level::Backward | Level::BackwardTransitive | Level::Full | Level::FullTransitive
        )
    }

    fn forward(self) -> bool {
        matches!(
            self,
            Level::Forward | Level::ForwardTransitive | Level::Full | Level::FullTransitive
        )
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Level {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_uppercase();
        Level::ALL
            .into_iter()
            .find(|level| level.as_str() == wanted)
            .ok_or_else(|| s.to_owned())
    }
}

/// Checks `new` against `existing` (oldest first) under `level`; the
/// non-transitive levels look at the last one only. Returns the reasons it is
/// incompatible, empty when it is compatible.
pub fn check(level: Level, new: &Schema, existing: &[(i32, Schema)]) -> Vec<String> {
    let against: &[(i32, Schema)] = if level.is_transitive() {
        existing
    } else {
        existing
            .last()
            .map(std::slice::from_ref)
            .unwrap_or_default()
    };
    let mut problems = Vec::new();
    for (version, old) in against {
        if level.backward() {
            if let Err(why) = can_read(old, new) {
                problems.push(format!(
                    "the new schema cannot read data written with version {version}: {why}"
                ));
            }
        }
        if level.forward() {
            if let Err(why) = can_read(new, old) {
                problems.push(format!(
                    "version {version} cannot read data written with the new schema: {why}"
                ));
            }
        }
    }
    problems
}

fn can_read(writer: &Schema, reader: &Schema) -> Result<(), String> {
    match SchemaCompatibility::can_read(writer, reader) {
        Ok(Compatibility::Full) => Ok(()),
        Ok(Compatibility::Partial) => {
            Err("only partially compatible (enum symbols or union branches missing)".into())
        }
        Err(e) => Err(e.to_string()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn schema(fields: &str) -> Schema {
        let text = format!(r#"{{"type":"record","name":"R","fields":[{fields}]}}"#);
        Schema::parse_str(&text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn levels_parse_case_insensitively_and_reject_the_unknown() {
        assert_eq!("backward".parse::<Level>(), Ok(Level::Backward));
        assert_eq!(
            "FULL_TRANSITIVE".parse::<Level>(),
            Ok(Level::FullTransitive)
        );
        assert!("SIDEWAYS".parse::<Level>().is_err());
    }

    #[test]
    fn adding_a_field_without_default_is_forward_but_not_backward_compatible() {
        let v1 = schema(r#"{"name":"a","type":"string"}"#);
        let v2 = schema(r#"{"name":"a","type":"string"},{"name":"b","type":"long"}"#);
        let existing = vec![(1, v1)];
        assert!(!check(Level::Backward, &v2, &existing).is_empty());
        assert!(check(Level::Forward, &v2, &existing).is_empty());
        assert!(!check(Level::Full, &v2, &existing).is_empty());
        assert!(check(Level::None, &v2, &existing).is_empty());
    }

    #[test]
    fn transitive_levels_look_at_every_version() {
        let v1 = schema(r#"{"name":"a","type":"string"}"#);
        let v2 = schema(r#"{"name":"a","type":"string"},{"name":"b","type":"long","default":0}"#);
        // v3 drops b's default: it reads v2 data, not v1 data.
        let v3 = schema(r#"{"name":"a","type":"string"},{"name":"b","type":"long"}"#);
        let existing = vec![(1, v1), (2, v2)];
        assert!(check(Level::Backward, &v3, &existing).is_empty());
        assert!(!check(Level::BackwardTransitive, &v3, &existing).is_empty());
    }

    #[test]
    fn removed_enum_symbol_is_partial_and_refused() {
        let e2 = Schema::parse_str(r#"{"type":"enum","name":"E","symbols":["A","B"]}"#);
        let e1 = Schema::parse_str(r#"{"type":"enum","name":"E","symbols":["A"]}"#);
        let (Ok(e1), Ok(e2)) = (e1, e2) else {
            panic!("enum schemas")
        };
        // old data may hold B, which the new schema does not know
        assert!(!check(Level::Backward, &e1, &[(1, e2)]).is_empty());
    }
}
