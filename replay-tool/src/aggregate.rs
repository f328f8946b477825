//! The aggregate types of the event store, as named on the command line.

use cqrs_es::Aggregate;
use lms_domain::course::Course;
use lms_domain::enrollment::Enrollment;
use lms_domain::subscription::Subscription;
use std::fmt;

/// `Course`, `Enrollment` or `Subscription` (any case on the command line).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum AggregateType {
    #[value(name = "Course")]
    Course,
    #[value(name = "Enrollment")]
    Enrollment,
    #[value(name = "Subscription")]
    Subscription,
}

impl AggregateType {
    pub const ALL: [AggregateType; 3] = [
        AggregateType::Course,
        AggregateType::Enrollment,
        AggregateType::Subscription,
    ];

    /// The `aggregate_type` column value (`Aggregate::TYPE`).
    pub fn as_str(self) -> &'static str {
        match self {
            AggregateType::Course => Course::TYPE,
            AggregateType::Enrollment => Enrollment::TYPE,
            AggregateType::Subscription => Subscription::TYPE,
        }
    }
}

impl fmt::Display for AggregateType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
