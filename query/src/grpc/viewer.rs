//! Who reads: the verified caller, and what each read model lets them see.
//! A student reads their own dashboard, subscription and invoices; an
//! instructor the rosters of the courses they teach; an admin everything;
//! published courses are everyone's. All of it within the viewer's tenant:
//! another tenant's rows do not exist for them, whatever their role.

use crate::error::QueryError;
use lms_runtime::auth::principal;
use tonic::{Request, Status};
use uuid::Uuid;

#[derive(Debug, Clone)]
pub struct Viewer {
    pub user_id: Uuid,
    pub tenant_id: String,
    pub admin: bool,
}

impl Viewer {
    /// The caller of a request that went through the token interceptor.
    pub fn of<T>(request: &Request<T>) -> Result<Viewer, Status> {
        let principal = principal(request)?;
        Ok(Viewer {
            user_id: principal.user_id,
            tenant_id: principal.tenant_id.clone(),
            admin: principal.has_role("admin"),
        })
    }

    /// A student's own data, or an admin.
    pub fn may_read_student(&self, student: Uuid) -> Result<(), QueryError> {
        if self.admin || self.user_id == student {
            Ok(())
        } else {
            Err(QueryError::PermissionDenied {
                reason: "NOT_YOUR_DATA",
                message: "a student's data is theirs (and admins') to read",
            })
        }
    }

    /// A course's teachers, or an admin.
    pub fn teaches(&self, instructors: &[Uuid]) -> bool {
        self.admin || instructors.contains(&self.user_id)
    }
}
