//! Typed identifiers. Random ids are generated outside the domain and passed in;
//! ids that must be unique per pair (enrollment per student × course,
//! subscription per student, invoice per period) are derived with UUIDv5 so
//! that retries land on the same aggregate.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            pub fn as_uuid(&self) -> &Uuid {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }

        impl From<Uuid> for $name {
            fn from(id: Uuid) -> Self {
                Self(id)
            }
        }
    };
}

id_type!(
    /// A person: student, instructor or admin.
    UserId
);
id_type!(CourseId);
id_type!(ModuleId);
id_type!(LessonId);
id_type!(
    /// One student's enrollment history in one course.
    EnrollmentId
);
id_type!(
    /// One student's subscription (a student has at most one).
    SubscriptionId
);
id_type!(InvoiceId);

/// Namespace for the UUIDv5 ids derived below; fixed forever.
const LMS_NAMESPACE: Uuid = Uuid::from_u128(0x6c6d_735f_6e73_4000_8000_0000_0000_0001);

impl EnrollmentId {
    /// The enrollment stream of `student` in `course`: one stream per pair makes
    /// "no second active enrollment" a rule of a single aggregate.
    pub fn for_student_in_course(course: CourseId, student: UserId) -> Self {
        let mut name = Vec::with_capacity(32);
        name.extend_from_slice(course.0.as_bytes());
        name.extend_from_slice(student.0.as_bytes());
        Self(Uuid::new_v5(&LMS_NAMESPACE, &name))
    }
}

impl SubscriptionId {
    pub fn for_student(student: UserId) -> Self {
        let mut name = b"subscription:".to_vec();
        name.extend_from_slice(student.0.as_bytes());
        Self(Uuid::new_v5(&LMS_NAMESPACE, &name))
    }
}

impl InvoiceId {
    /// Deterministic per billing period, so a retried charge reuses the same
    /// invoice id as the payment gateway's idempotency key.
    pub fn for_period(subscription: SubscriptionId, period: u32) -> Self {
        let mut name = subscription.0.as_bytes().to_vec();
        name.extend_from_slice(&period.to_be_bytes());
        Self(Uuid::new_v5(&LMS_NAMESPACE, &name))
    }
}
