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

    pub fn into_vec(self) -> Vec<FieldViolation> {
        self.0
    }

    pub fn into_result(self) -> Result<(), Vec<FieldViolation>> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(self.0)
        }
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
}

pub(crate) const MAX_TITLE: usize = 200;
pub(crate) const MAX_DESCRIPTION: usize = 10_000;

pub(crate) fn title_ok(title: &str) -> bool {
    let len = title.trim().chars().count();
    (1..=MAX_TITLE).contains(&len)
}

pub(crate) fn description_ok(description: &str) -> bool {
    description.chars().count() <= MAX_DESCRIPTION
}
