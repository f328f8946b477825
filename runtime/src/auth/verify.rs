//! Verifying access tokens against the published keys.

use super::claims::{Claims, Principal};
use super::keys::Jwks;
use crate::shutdown::Shutdown;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// Why a token was refused. Never carries the token itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token is malformed")]
    Malformed,
    #[error("the token names no key id")]
    NoKeyId,
    #[error("the token's key '{0}' is unknown")]
    UnknownKey(String),
    #[error("the token is not signed with EdDSA")]
    WrongAlgorithm,
    #[error("the token's signature is invalid")]
    BadSignature,
    #[error("the token has expired")]
    Expired,
    #[error("the token is from another issuer")]
    WrongIssuer,
    #[error("the token is for another audience")]
    WrongAudience,
    #[error("the token's claims are invalid")]
    BadClaims,
}

#[derive(Debug, thiserror::Error)]
pub enum VerifierError {
    #[error("fetching the JWKS from {url}")]
    Fetch {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("reading the JWKS file {path}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the JWKS from {from} is not valid JSON")]
    Json {
        from: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("the JWKS key '{kid}' is not a usable Ed25519 key")]
    Key {
        kid: String,
        #[source]
        source: jsonwebtoken::errors::Error,
    },
}

impl VerifierError {
    /// Worth retrying at start-up: the identity service may not be up yet.
    pub fn is_transient(&self) -> bool {
        matches!(self, VerifierError::Fetch { .. })
    }
}

type Keys = HashMap<String, DecodingKey>;

/// Tokens verified lately, by the SHA-256 of the whole token (an edited
/// token is another entry), with the instant until which each is trusted.
type Verified = quick_cache::sync::Cache<[u8; 32], (Principal, Instant)>;

/// Verified tokens kept at most (a caller per entry).
const VERIFIED_CAPACITY: usize = 10_000;

/// The longest a verified token is trusted again without its signature
/// checked (never past its expiry). A key removed from the JWKS stops
/// them at the next read of the keys, which empties the cache.
pub const VERIFIED_FOR: Duration = Duration::from_secs(30);

/// Verifies access tokens. Cheap to clone; clones share the key set.
#[derive(Clone)]
pub struct Verifier {
    keys: Arc<RwLock<Keys>>,
    validation: Arc<Validation>,
    source: Option<String>,
    /// Woken by a token signed with a key we do not know: a rotation may
    /// have published it since the last read.
    unknown_key: Arc<tokio::sync::Notify>,
    /// A signature check costs tens of microseconds, a lookup far less: a
    /// client sends the same token with every call.
    verified: Arc<Verified>,
}

/// The soonest a token with an unknown key id makes the keys be read again.
pub const UNKNOWN_KEY_REFRESH: Duration = Duration::from_secs(10);

/// Clock skew allowed between the issuer and us.
const LEEWAY_SECS: u64 = 5;

fn decoding_keys(jwks: &Jwks) -> Result<Keys, VerifierError> {
    jwks.keys
        .iter()
        .filter(|k| k.kty == "OKP" && k.crv == "Ed25519")
        .map(|k| {
            DecodingKey::from_ed_components(&k.x)
                .map(|key| (k.kid.clone(), key))
                .map_err(|source| VerifierError::Key {
                    kid: k.kid.clone(),
                    source,
                })
        })
        .collect()
}

impl Verifier {
    /// A verifier of tokens from `issuer` for `audience`, with these keys.
    pub fn new(jwks: &Jwks, issuer: &str, audience: &str) -> Result<Self, VerifierError> {
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = LEEWAY_SECS;
        Ok(Self {
            keys: Arc::new(RwLock::new(decoding_keys(jwks)?)),
            validation: Arc::new(validation),
            source: None,
            unknown_key: Arc::new(tokio::sync::Notify::new()),
            verified: Arc::new(Verified::new(VERIFIED_CAPACITY)),
        })
    }

    /// Keys from `source`: an `http(s)://` URL (the identity service's
    /// `/.well-known/jwks.json`) or a file path. Retried at start-up.
    pub async fn load(source: &str, issuer: &str, audience: &str) -> Result<Self, VerifierError> {
        let jwks =
            crate::retry::at_startup("the JWKS", VerifierError::is_transient, || fetch(source))
                .await?;
        let mut verifier = Self::new(&jwks, issuer, audience)?;
        verifier.source = Some(source.to_string());
        Ok(verifier)
    }

    /// [`load`](Self::load), then [`refresh_every`](Self::refresh_every):
    /// what a service does at start-up.
    pub async fn start(
        source: &str,
        issuer: &str,
        audience: &str,
        refresh: Duration,
        shutdown: &Shutdown,
    ) -> Result<Self, VerifierError> {
        let verifier = Self::load(source, issuer, audience).await?;
        verifier.refresh_every(refresh, shutdown.clone());
        Ok(verifier)
    }

    /// Re-reads the keys every `every` until `shutdown`: keys published
    /// before a rotation are known before the first token they sign. A
    /// token with an unknown key id makes it read them sooner, at most once
    /// per [`UNKNOWN_KEY_REFRESH`] (a flood of forged key ids cannot turn
    /// into a flood of JWKS requests).
    pub fn refresh_every(&self, every: Duration, shutdown: Shutdown) {
        let Some(source) = self.source.clone() else {
            return;
        };
        let keys = self.keys.clone();
        let unknown_key = self.unknown_key.clone();
        let verified = self.verified.clone();
        tokio::spawn(async move {
            let mut last = tokio::time::Instant::now();
            loop {
                let early = last + UNKNOWN_KEY_REFRESH;
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep_until(last + every) => {}
                    () = async {
                        unknown_key.notified().await;
                        tokio::time::sleep_until(early).await;
                    } => {}
                }
                last = tokio::time::Instant::now();
                match fetch(&source).await.and_then(|jwks| decoding_keys(&jwks)) {
                    Ok(fresh) => {
                        if let Ok(mut current) = keys.write() {
                            let removed = current.keys().any(|kid| !fresh.contains_key(kid));
                            *current = fresh;
                            if removed {
                                // Tokens of a removed key are refused from now.
                                verified.clear();
                            }
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "refreshing the JWKS failed; keeping the keys we have")
                    }
                }
            }
        });
    }

    /// The caller a token proves, or why it proves nothing. A token verified
    /// in the last [`VERIFIED_FOR`] (and not expired) is not checked again.
    pub fn verify(&self, token: &str) -> Result<Principal, TokenError> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some((principal, until)) = self.verified.get(&digest) {
            if Instant::now() < until {
                return Ok(principal);
            }
        }
        let principal = self.check(token)?;
        let left = principal.expires_at.saturating_sub(unix_now());
        let trusted = VERIFIED_FOR.min(Duration::from_secs(u64::try_from(left).unwrap_or(0)));
        self.verified
            .insert(digest, (principal.clone(), Instant::now() + trusted));
        Ok(principal)
    }

    /// The signature and the claims, checked.
    fn check(&self, token: &str) -> Result<Principal, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed)?;
        if header.alg != Algorithm::EdDSA {
            return Err(TokenError::WrongAlgorithm);
        }
        let kid = header.kid.ok_or(TokenError::NoKeyId)?;
        let keys = self
            .keys
            .read()
            .map_err(|_| TokenError::UnknownKey(kid.clone()))?;
        let key = keys.get(&kid).ok_or_else(|| {
            self.unknown_key.notify_one();
            TokenError::UnknownKey(kid.clone())
        })?;
        let data = jsonwebtoken::decode::<Claims>(token, key, &self.validation).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind;
            match e.kind() {
                ErrorKind::InvalidSignature => TokenError::BadSignature,
                ErrorKind::ExpiredSignature => TokenError::Expired,
                ErrorKind::InvalidIssuer => TokenError::WrongIssuer,
                ErrorKind::InvalidAudience => TokenError::WrongAudience,
                ErrorKind::InvalidAlgorithm => TokenError::WrongAlgorithm,
                ErrorKind::MissingRequiredClaim(_)
                | ErrorKind::Json(_)
                | ErrorKind::ImmatureSignature => TokenError::BadClaims,
                _ => TokenError::Malformed,
            }
        })?;
        Ok(Principal::from(data.claims))
    }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

async fn fetch(source: &str) -> Result<Jwks, VerifierError> {
    let text = if source.starts_with("http://") || source.starts_with("https://") {
        let response = reqwest::Client::new()
            .get(source)
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| VerifierError::Fetch {
                url: source.to_string(),
                source: e,
            })?;
        response.text().await.map_err(|e| VerifierError::Fetch {
            url: source.to_string(),
            source: e,
        })?
    } else {
        // A small file, read once a refresh interval.
        std::fs::read_to_string(source).map_err(|e| VerifierError::Read {
            path: source.to_string(),
            source: e,
        })?
    };
    serde_json::from_str(&text).map_err(|e| VerifierError::Json {
        from: source.to_string(),
        source: e,
    })
}
