//! What an access token says, and the caller it proves.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The registered and private claims of an access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user id.
    pub sub: Uuid,
    pub tenant: String,
    /// Role names (`student`, `instructor`, `admin`).
    pub roles: Vec<String>,
    pub iss: String,
    pub aud: String,
    /// Expiry and issue time, seconds since the Unix epoch.
    pub exp: i64,
    pub iat: i64,
    /// Token id, for audit and revocation lists.
    pub jti: String,
}

/// A caller whose token was verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user_id: Uuid,
    pub tenant_id: String,
    pub roles: Vec<String>,
    pub token_id: String,
    /// Seconds since the Unix epoch.
    pub expires_at: i64,
}

impl Principal {
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }
}

impl From<Claims> for Principal {
    fn from(claims: Claims) -> Self {
        Self {
            user_id: claims.sub,
            tenant_id: claims.tenant,
            roles: claims.roles,
            token_id: claims.jti,
            expires_at: claims.exp,
        }
    }
}
