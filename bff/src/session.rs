//! Sessions: the browser holds only an opaque id in an HttpOnly,
//! SameSite=Strict cookie; the access and refresh tokens stay in Redis
//! under the id's SHA-256 (a Redis reader cannot replay a cookie), next to
//! the session's CSRF token. Access tokens are refreshed here before they
//! expire, one refresh per session at a time (identity revokes a refresh
//! token family on reuse, so two concurrent refreshes would sign the user
//! out).

use crate::error::BffError;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use cookie::{Cookie, SameSite};
use lms_proto::identity::v1::Session as Issued;
use redis::aio::ConnectionManager;
use redis::AsyncCommands;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use subtle::ConstantTimeEq;

pub const COOKIE: &str = "lms_session";
pub const CSRF_HEADER: &str = "x-csrf-token";

/// What Redis keeps per session.
#[derive(Clone, Serialize, Deserialize)]
pub struct Record {
    pub user_id: String,
    pub tenant_id: String,
    pub roles: Vec<String>,
    access_token: String,
    /// Unix seconds.
    access_expires_at: u64,
    refresh_token: String,
    refresh_expires_at: u64,
    csrf_token: String,
}

impl std::fmt::Debug for Record {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Record")
            .field("user_id", &self.user_id)
            .field("tenant_id", &self.tenant_id)
            .field("roles", &self.roles)
            .finish_non_exhaustive()
    }
}

impl Record {
    fn from_issued(issued: &Issued, csrf_token: String) -> Record {
        let now = unix_now();
        Record {
            user_id: issued.user_id.clone(),
            tenant_id: issued.tenant_id.clone(),
            roles: issued.roles.clone(),
            access_token: issued.access_token.clone(),
            access_expires_at: now + issued.expires_in,
            refresh_token: issued.refresh_token.clone(),
            refresh_expires_at: now + issued.refresh_expires_in,
            csrf_token,
        }
    }

    pub fn access_token(&self) -> &str {
        &self.access_token
    }

    pub fn refresh_token(&self) -> &str {
        &self.refresh_token
    }

    pub fn csrf_token(&self) -> &str {
        &self.csrf_token
    }

    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }

    /// The presented CSRF token, compared in constant time.
    pub fn csrf_matches(&self, presented: &str) -> bool {
        bool::from(presented.as_bytes().ct_eq(self.csrf_token.as_bytes()))
    }

    fn ttl_secs(&self) -> u64 {
        self.refresh_expires_at.saturating_sub(unix_now()).max(1)
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// A fresh random token: 256 bits, base64url.
pub fn random_token() -> Result<String, BffError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| BffError::internal(RandomError(e.to_string())))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

#[derive(Debug, thiserror::Error)]
#[error("no randomness: {0}")]
struct RandomError(String);

/// The session id as the browser holds it.
pub struct SessionId(SecretString);

impl SessionId {
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

#[derive(Clone)]
pub struct Store {
    redis: ConnectionManager,
    prefix: String,
    secure_cookie: bool,
}

impl Store {
    pub fn new(redis: ConnectionManager, prefix: &str, secure_cookie: bool) -> Self {
        Self {
            redis,
            prefix: prefix.to_string(),
            secure_cookie,
        }
    }

    fn key(&self, id: &str) -> String {
        format!(
            "{}:bff:session:{}",
            self.prefix,
            hex::encode(Sha256::digest(id))
        )
    }

    /// A new session for what identity issued; returns its id.
    pub async fn create(&self, issued: &Issued) -> Result<(SessionId, Record), BffError> {
        let id = random_token()?;
        let record = Record::from_issued(issued, random_token()?);
        self.save(&id, &record).await?;
        Ok((SessionId(id.into()), record))
    }

    async fn save(&self, id: &str, record: &Record) -> Result<(), BffError> {
        let body = serde_json::to_string(record).map_err(BffError::internal)?;
        let mut redis = self.redis.clone();
        redis
            .set_ex::<_, _, ()>(self.key(id), body, record.ttl_secs())
            .await
            .map_err(BffError::SessionStore)
    }

    pub async fn load(&self, id: &str) -> Result<Option<Record>, BffError> {
        let mut redis = self.redis.clone();
        let body: Option<String> = redis
            .get(self.key(id))
            .await
            .map_err(BffError::SessionStore)?;
        Ok(body.and_then(|b| serde_json::from_str(&b).ok()))
    }

    pub async fn delete(&self, id: &str) -> Result<(), BffError> {
        let mut redis = self.redis.clone();
        redis
            .del::<_, ()>(self.key(id))
            .await
            .map_err(BffError::SessionStore)
    }

    /// The store answers (health check).
    pub async fn ping(&self) -> Result<(), BffError> {
        let mut redis = self.redis.clone();
        redis::cmd("PING")
            .query_async::<String>(&mut redis)
            .await
            .map(|_| ())
            .map_err(BffError::SessionStore)
    }

    /// The session with an access token good for at least `margin`:
    /// refreshed through `refresh` when it is not, by one caller at a time
    /// (the others wait for its result). `None`: the session ended (its
    /// refresh token was refused).
    pub async fn fresh<F, Fut>(
        &self,
        id: &str,
        record: Record,
        margin: Duration,
        refresh: F,
    ) -> Result<Option<Record>, BffError>
    where
        F: FnOnce(String) -> Fut,
        Fut: std::future::Future<Output = Result<Issued, tonic::Status>>,
    {
        if record.access_expires_at > unix_now() + margin.as_secs() {
            return Ok(Some(record));
        }
        let lock = format!("{}:refreshing", self.key(id));
        let mut redis = self.redis.clone();
        let won: bool = redis::cmd("SET")
            .arg(&lock)
            .arg(1)
            .arg("NX")
            .arg("PX")
            .arg(10_000)
            .query_async::<Option<String>>(&mut redis)
            .await
            .map_err(BffError::SessionStore)?
            .is_some();
        if !won {
            return self.await_refresh(id, &record, margin).await;
        }
        let outcome = self.refresh_locked(id, &record, refresh).await;
        let _: Result<(), _> = redis.del(&lock).await;
        outcome
    }

    /// The refresh itself, under the lock. The session is read again first:
    /// a request that loaded it before another one's refresh finished and
    /// released the lock holds a rotated-away refresh token, and using it
    /// would revoke the whole sign-in.
    async fn refresh_locked<F, Fut>(
        &self,
        id: &str,
        loaded: &Record,
        refresh: F,
    ) -> Result<Option<Record>, BffError>
    where
        F: FnOnce(String) -> Fut,
        Fut: std::future::Future<Output = Result<Issued, tonic::Status>>,
    {
        let Some(current) = self.load(id).await? else {
            return Ok(None);
        };
        if current.access_token != loaded.access_token {
            return Ok(Some(current));
        }
        match refresh(current.refresh_token.clone()).await {
            Ok(issued) => {
                let renewed = Record::from_issued(&issued, current.csrf_token.clone());
                self.save(id, &renewed).await.map(|()| Some(renewed))
            }
            Err(status) if status.code() == tonic::Code::Unauthenticated => {
                self.delete(id).await.map(|()| None)
            }
            Err(status) => Err(BffError::Upstream(status)),
        }
    }

    /// Waits (bounded) for another request's refresh of this session.
    async fn await_refresh(
        &self,
        id: &str,
        stale: &Record,
        margin: Duration,
    ) -> Result<Option<Record>, BffError> {
        for _ in 0..100 {
            tokio::time::sleep(Duration::from_millis(50)).await;
            match self.load(id).await? {
                None => return Ok(None),
                Some(now) if now.access_token != stale.access_token => return Ok(Some(now)),
                Some(_) => {}
            }
        }
        // The other refresh is stuck; the old token may still have seconds.
        if stale.access_expires_at > unix_now() + margin.as_secs() / 2 {
            return Ok(Some(stale.clone()));
        }
        Err(BffError::Upstream(tonic::Status::unavailable(
            "the session is being refreshed",
        )))
    }

    /// The `Set-Cookie` value of a session.
    pub fn cookie(&self, id: &SessionId, record: &Record) -> String {
        Cookie::build((COOKIE, id.expose().to_string()))
            .http_only(true)
            .secure(self.secure_cookie)
            .same_site(SameSite::Strict)
            .path("/")
            .max_age(cookie::time::Duration::seconds(
                i64::try_from(record.ttl_secs()).unwrap_or(i64::MAX),
            ))
            .build()
            .to_string()
    }

    /// The `Set-Cookie` value that ends the session in the browser.
    pub fn expired_cookie(&self) -> String {
        Cookie::build((COOKIE, ""))
            .http_only(true)
            .secure(self.secure_cookie)
            .same_site(SameSite::Strict)
            .path("/")
            .max_age(cookie::time::Duration::ZERO)
            .build()
            .to_string()
    }
}

/// The session id the request's `Cookie` headers carry, if any.
pub fn session_cookie(headers: &axum::http::HeaderMap) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == COOKIE)
        .map(|c| c.value().to_string())
        .filter(|v| !v.is_empty())
}
