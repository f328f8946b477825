//! Passwords: the policy, and argon2id hashes with a per-user salt (PHC
//! strings, so the cost can be raised later and old hashes still verify).

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use lms_domain::FieldViolation;
use secrecy::{ExposeSecret, SecretString};
use std::sync::Arc;

pub const MIN_CHARS: usize = 10;
pub const MAX_CHARS: usize = 128;

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("argon2 parameters are invalid: {0}")]
    Params(argon2::Error),
    #[error("hashing failed: {0}")]
    Hash(argon2::password_hash::Error),
    #[error("the stored hash is unreadable: {0}")]
    Stored(argon2::password_hash::Error),
    #[error("the hashing task failed")]
    Join(#[from] tokio::task::JoinError),
}

/// What a new password must be. Length over composition (NIST SP 800-63B);
/// the upper bound keeps a hash's cost bounded.
pub fn violations(field: &str, password: &str, email: &str) -> Vec<FieldViolation> {
    let chars = password.chars().count();
    let mut v = Vec::new();
    if !(MIN_CHARS..=MAX_CHARS).contains(&chars) {
        v.push(FieldViolation::new(
            field,
            format!("must be {MIN_CHARS} to {MAX_CHARS} characters"),
        ));
    } else if !email.is_empty() && password.trim().to_lowercase() == email {
        v.push(FieldViolation::new(field, "must not be the email address"));
    }
    v
}

/// Hashes and verifies off the async threads (argon2 is CPU- and
/// memory-bound on purpose).
#[derive(Clone)]
pub struct Hasher {
    argon2: Arc<Argon2<'static>>,
    /// A hash of nothing anyone knows: an unknown account costs a login
    /// the same time as a known one.
    decoy: Arc<String>,
}

impl Hasher {
    pub fn new(memory_kib: u32, iterations: u32, lanes: u32) -> Result<Self, PasswordError> {
        let params =
            Params::new(memory_kib, iterations, lanes, None).map_err(PasswordError::Params)?;
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let salt = SaltString::generate(&mut OsRng);
        let decoy = argon2
            .hash_password(b"decoy password nobody has", &salt)
            .map_err(PasswordError::Hash)?
            .to_string();
        Ok(Self {
            argon2: Arc::new(argon2),
            decoy: Arc::new(decoy),
        })
    }

    pub async fn hash(&self, password: &SecretString) -> Result<String, PasswordError> {
        let argon2 = self.argon2.clone();
        let password = password.clone();
        tokio::task::spawn_blocking(move || {
            let salt = SaltString::generate(&mut OsRng);
            argon2
                .hash_password(password.expose_secret().as_bytes(), &salt)
                .map(|h| h.to_string())
                .map_err(PasswordError::Hash)
        })
        .await?
    }

    /// Whether `password` matches `stored` (the decoy when `None`, which
    /// never matches).
    pub async fn verify(
        &self,
        password: &SecretString,
        stored: Option<String>,
    ) -> Result<bool, PasswordError> {
        let argon2 = self.argon2.clone();
        let password = password.clone();
        let known = stored.is_some();
        let stored = stored.unwrap_or_else(|| self.decoy.as_ref().clone());
        tokio::task::spawn_blocking(move || {
            let parsed = PasswordHash::new(&stored).map_err(PasswordError::Stored)?;
            let matches = argon2
                .verify_password(password.expose_secret().as_bytes(), &parsed)
                .is_ok();
            Ok(known && matches)
        })
        .await?
    }
}
