//! Signing keys and the JWKS document that publishes their public halves.

use super::claims::Claims;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use ed25519_dalek::SigningKey;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Duration;
use uuid::Uuid;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("reading signing keys from {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not an Ed25519 PKCS#8 PEM private key")]
    Parse {
        path: PathBuf,
        #[source]
        source: ed25519_dalek::pkcs8::Error,
    },
    #[error("no signing key '{kid}' among {dir}'s *.pem files")]
    NoActiveKey { kid: String, dir: PathBuf },
    #[error("a key id must be 1 to 64 letters, digits, '-', '_' or '.', got '{0}'")]
    BadKeyId(String),
    #[error("no randomness from the operating system")]
    Random(#[source] getrandom::Error),
    #[error("encoding a key")]
    Encode(#[source] ed25519_dalek::pkcs8::Error),
    #[error("signing a token")]
    Sign(#[source] jsonwebtoken::errors::Error),
}

/// One public key of the JWKS (RFC 7517 / RFC 8037, `OKP` / `Ed25519`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwk {
    pub kty: String,
    pub crv: String,
    /// The public key, base64url without padding.
    pub x: String,
    pub kid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    #[serde(default, rename = "use", skip_serializing_if = "Option::is_none")]
    pub use_: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwks {
    pub keys: Vec<Jwk>,
}

struct Key {
    kid: String,
    secret: SigningKey,
}

impl Key {
    fn jwk(&self) -> Jwk {
        Jwk {
            kty: "OKP".into(),
            crv: "Ed25519".into(),
            x: URL_SAFE_NO_PAD.encode(self.secret.verifying_key().as_bytes()),
            kid: self.kid.clone(),
            alg: Some("EdDSA".into()),
            use_: Some("sig".into()),
        }
    }
}

/// The identity service's keys: the active one signs, every one is published.
pub struct KeyRing {
    active: usize,
    keys: Vec<Key>,
}

fn check_kid(kid: &str) -> Result<(), KeyError> {
    let ok = (1..=64).contains(&kid.len())
        && kid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(KeyError::BadKeyId(kid.to_string()))
    }
}

impl KeyRing {
    /// Every `<kid>.pem` in `dir` (a mounted Secret in Kubernetes); `active`
    /// names the one that signs.
    pub fn load_dir(dir: &Path, active: &str) -> Result<Self, KeyError> {
        let read = |path: &Path, source| KeyError::Read {
            path: path.to_path_buf(),
            source,
        };
        let mut keys = Vec::new();
        let entries = std::fs::read_dir(dir).map_err(|e| read(dir, e))?;
        for entry in entries {
            let path = entry.map_err(|e| read(dir, e))?.path();
            if path.extension().and_then(|e| e.to_str()) != Some("pem") {
                continue;
            }
            let Some(kid) = path.file_stem().and_then(|s| s.to_str()) else {
                continue;
            };
            check_kid(kid)?;
            let pem = std::fs::read_to_string(&path).map_err(|e| read(&path, e))?;
            let secret = SigningKey::from_pkcs8_pem(&pem).map_err(|source| KeyError::Parse {
                path: path.clone(),
                source,
            })?;
            keys.push(Key {
                kid: kid.to_string(),
                secret,
            });
        }
        keys.sort_by(|a, b| a.kid.cmp(&b.kid));
        let active_index =
            keys.iter()
                .position(|k| k.kid == active)
                .ok_or_else(|| KeyError::NoActiveKey {
                    kid: active.to_string(),
                    dir: dir.to_path_buf(),
                })?;
        Ok(Self {
            active: active_index,
            keys,
        })
    }

    /// A ring of one fresh key (tests; `lms keys new` writes one to a file).
    pub fn generate(kid: &str) -> Result<Self, KeyError> {
        check_kid(kid)?;
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(KeyError::Random)?;
        Ok(Self {
            active: 0,
            keys: vec![Key {
                kid: kid.to_string(),
                secret: SigningKey::from_bytes(&seed),
            }],
        })
    }

    /// Writes a new key as `<dir>/<kid>.pem` (mode 0600 where supported).
    pub fn write_new_key(dir: &Path, kid: &str) -> Result<PathBuf, KeyError> {
        let ring = Self::generate(kid)?;
        let path = dir.join(format!("{kid}.pem"));
        let pem = ring.active_pem()?;
        write_private(&path, pem.expose_secret()).map_err(|source| KeyError::Read {
            path: path.clone(),
            source,
        })?;
        Ok(path)
    }

    /// The active key as PKCS#8 PEM.
    pub fn active_pem(&self) -> Result<SecretString, KeyError> {
        let pem = self.keys[self.active]
            .secret
            .to_pkcs8_pem(Default::default())
            .map_err(KeyError::Encode)?;
        Ok(SecretString::from(pem.as_str()))
    }

    pub fn active_kid(&self) -> &str {
        &self.keys[self.active].kid
    }

    /// The public halves of every key.
    pub fn jwks(&self) -> Jwks {
        Jwks {
            keys: self.keys.iter().map(Key::jwk).collect(),
        }
    }

    fn encoding_key(&self) -> Result<EncodingKey, KeyError> {
        let der = self.keys[self.active]
            .secret
            .to_pkcs8_der()
            .map_err(KeyError::Encode)?;
        Ok(EncodingKey::from_ed_der(der.as_bytes()))
    }
}

#[cfg(unix)]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(text.as_bytes())
}

#[cfg(not(unix))]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    std::fs::write(path, text)
}

/// Signs access tokens with the ring's active key.
pub struct TokenIssuer {
    kid: String,
    key: EncodingKey,
    issuer: String,
    audience: String,
    lifetime: Duration,
}

impl TokenIssuer {
    pub fn new(
        ring: &KeyRing,
        issuer: &str,
        audience: &str,
        lifetime: Duration,
    ) -> Result<Self, KeyError> {
        Ok(Self {
            kid: ring.active_kid().to_string(),
            key: ring.encoding_key()?,
            issuer: issuer.to_string(),
            audience: audience.to_string(),
            lifetime,
        })
    }

    pub fn lifetime(&self) -> Duration {
        self.lifetime
    }

    /// The claims of a token for `user_id` issued at `now` (seconds).
    pub fn claims(&self, user_id: Uuid, tenant: &str, roles: &[String], now: i64) -> Claims {
        let lifetime = i64::try_from(self.lifetime.as_secs()).unwrap_or(i64::MAX);
        Claims {
            sub: user_id,
            tenant: tenant.to_string(),
            roles: roles.to_vec(),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            exp: now.saturating_add(lifetime),
            iat: now,
            jti: Uuid::now_v7().to_string(),
        }
    }

    /// Signs `claims` as they are (tests sign expired or foreign ones).
    pub fn sign(&self, claims: &Claims) -> Result<SecretString, KeyError> {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.key)
            .map(SecretString::from)
            .map_err(KeyError::Sign)
    }
}
