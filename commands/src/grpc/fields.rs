//! Field parsing at the edge: collects every bad field, so one reply names
//! them all (`google.rpc.BadRequest`).

use crate::error::CommandError;
use lms_domain::course::{Access, Plan};
use lms_domain::error::{TextRule, Violations};
use lms_domain::FieldViolation;
use lms_proto::command::v1::{course_access, CourseAccess};
use uuid::Uuid;

#[derive(Default)]
pub struct Fields(Vec<FieldViolation>);

impl Fields {
    /// A required UUID.
    pub fn id<T: From<Uuid>>(&mut self, field: &str, value: &str) -> T {
        match Uuid::parse_str(value.trim()) {
            Ok(id) => T::from(id),
            Err(_) => {
                let description = if value.trim().is_empty() {
                    "is required"
                } else {
                    "must be a UUID"
                };
                self.0.push(FieldViolation::new(field, description));
                T::from(Uuid::nil())
            }
        }
    }

    /// An optional UUID: a new UUIDv7 when empty.
    pub fn id_or_new<T: From<Uuid>>(&mut self, field: &str, value: &str) -> T {
        if value.trim().is_empty() {
            T::from(Uuid::now_v7())
        } else {
            self.id(field, value)
        }
    }

    pub fn ids<T: From<Uuid>>(&mut self, field: &str, values: &[String]) -> Vec<T> {
        values
            .iter()
            .enumerate()
            .map(|(i, v)| self.id(&format!("{field}[{i}]"), v))
            .collect()
    }

    pub fn plan(&mut self, field: &str, value: &str) -> Plan {
        Plan::parse(value.trim()).unwrap_or_else(|| {
            self.0
                .push(FieldViolation::new(field, "must be \"basic\" or \"pro\""));
            Plan::Basic
        })
    }

    pub fn access(&mut self, access: Option<&CourseAccess>) -> Access {
        match access.and_then(|a| a.kind.as_ref()) {
            None => Access::Free,
            Some(course_access::Kind::PriceCents(price_cents)) => Access::Paid {
                price_cents: *price_cents,
            },
            Some(course_access::Kind::Plan(plan)) => Access::Plan {
                plan: self.plan("access.plan", plan),
            },
        }
    }

    /// A free-text field under one of the domain's text rules.
    pub fn text(&mut self, field: &str, value: &str, rule: TextRule) {
        let mut v = Violations::default();
        v.text(field, value, rule);
        self.0.extend(v.into_vec());
    }

    /// Adds the domain's own input checks, so one reply names every bad field.
    pub fn extend(&mut self, violations: Vec<FieldViolation>) {
        self.0.extend(violations);
    }

    pub fn finish(self) -> Result<(), CommandError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(CommandError::Invalid(self.0))
        }
    }
}
