//! What every aggregate error can say about itself, so the edge maps errors
//! to transport codes in one place without knowing each enum.

use serde::{Deserialize, Serialize};
use std::fmt;

/// One invalid input field, named as in the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldViolation {
    pub field: String,
    pub description: String,
}

impl FieldViolation {
    pub fn new(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            description: description.into(),
        }
    }
}

impl fmt::Display for FieldViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.description)
    }
}

/// Collects violations so a caller hears about every bad field at once.
#[derive(Debug, Default)]
pub struct Violations(Vec<FieldViolation>);

impl Violations {
    pub fn check(&mut self, ok: bool, field: &str, description: &str) {
        if !ok {
            self.0.push(FieldViolation::new(field, description));
        }
    }

    /// A text field: `min..=max` characters once trimmed, and only
    /// characters `text_chars_ok` allows inside (surrounding whitespace,
    /// line breaks included, is trimmed before the value is stored). The
    /// description never repeats the value.
    pub fn text(&mut self, field: &str, value: &str, rule: TextRule) {
        let len = value.trim().chars().count();
        if !(rule.min..=rule.max).contains(&len) {
            let description = if rule.min == 0 {
                format!("must be at most {} characters", rule.max)
            } else {
                format!("must be {} to {} characters", rule.min, rule.max)
            };
            self.0.push(FieldViolation::new(field, description));
        } else if !text_chars_ok(value.trim(), rule.multiline) {
            let description = if rule.multiline {
                "must not contain control characters (line breaks and tabs aside) or bidirectional overrides"
            } else {
                "must not contain control characters, line breaks or bidirectional overrides"
            };
            self.0.push(FieldViolation::new(field, description));
        }
    }

    pub fn into_vec(self) -> Vec<FieldViolation> {
        self.0
    }
}

pub(crate) fn describe(violations: &[FieldViolation]) -> String {
    violations
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// The category of a domain error; the edge turns it into a status code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorKind {
    /// Bad input: these fields are wrong.
    Invalid(Vec<FieldViolation>),
    /// The aggregate the command addresses does not exist.
    NotFound,
    /// The aggregate already exists.
    AlreadyExists,
    /// The actor may not do this.
    PermissionDenied,
    /// A business rule forbids this in the current state.
    FailedPrecondition,
    /// A dependency (e.g. the payment gateway) is down; retrying may succeed.
    Unavailable,
}

pub trait DomainError: std::error::Error {
    fn kind(&self) -> ErrorKind;
    /// Stable, machine-readable reason (e.g. `COURSE_FULL`), part of the API.
    fn reason(&self) -> &'static str;
    /// The error for an aggregate that does not exist (for this caller: a
    /// stream of another tenant answers the same).
    fn not_found() -> Self
    where
        Self: Sized;
}

/// Length and character rules of one text field.
#[derive(Debug, Clone, Copy)]
pub struct TextRule {
    pub min: usize,
    pub max: usize,
    /// Line feed, carriage return and tab allowed.
    pub multiline: bool,
}

pub const TITLE: TextRule = TextRule {
    min: 1,
    max: 200,
    multiline: false,
};
pub const DESCRIPTION: TextRule = TextRule {
    min: 0,
    max: 10_000,
    multiline: true,
};
/// A payment method token from the payment provider.
pub const PAYMENT_METHOD: TextRule = TextRule {
    min: 1,
    max: 100,
    multiline: false,
};
/// Why an enrollment or a subscription ended (free text, optional).
pub const REASON: TextRule = TextRule {
    min: 0,
    max: 1_000,
    multiline: true,
};
/// Instructors named on one course.
pub const MAX_INSTRUCTORS: usize = 20;

/// No C0 or C1 control character (U+0000 included, which Postgres cannot
/// store in text), nor the bidirectional embeddings, overrides and isolates
/// (U+202A–U+202E, U+2066–U+2069) that make text display in another order
/// than it is stored. A multi-line text may hold line breaks and tabs.
pub fn text_chars_ok(text: &str, multiline: bool) -> bool {
    text.chars().all(|c| match c {
        '\n' | '\r' | '\t' => multiline,
        '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' => false,
        c => !c.is_control(),
    })
}
