//! Who issues a command. Authentication happens at the edge; the domain only
//! checks what the authenticated actor may do.

use crate::ids::UserId;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Student,
    Instructor,
    Admin,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    pub user_id: UserId,
    pub role: Role,
}

impl Actor {
    pub fn new(user_id: UserId, role: Role) -> Self {
        Self { user_id, role }
    }

    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// A student acts for themselves; an admin acts for anyone.
    pub fn may_act_for(&self, user: UserId) -> bool {
        self.is_admin() || self.user_id == user
    }
}
