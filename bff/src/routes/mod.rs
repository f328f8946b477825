//! The HTTP API under `/api`: one module per area, the extractors every
//! handler shares (the signed-in session with its CSRF check, JSON bodies
//! and query strings whose errors are problems), and the OpenAPI document.

pub mod admin;
pub mod auth;
pub mod billing;
pub mod courses;
pub mod learning;

use crate::config::Config;
use crate::error::BffError;
use crate::session::{self, Record, Store, CSRF_HEADER};
use crate::upstream::Upstream;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::Response;
use lms_proto::command::v1::CommandReply;
use lms_proto::query::v1::MinPosition;
use lms_runtime::client_address::{TrustedProxies, FORWARDED_FOR};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use utoipa::{IntoParams, ToSchema};

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub upstream: Upstream,
    pub sessions: Store,
    pub trusted_proxies: TrustedProxies,
}

/// A request from a signed-in browser: its session (access token fresh),
/// and for a state-changing method a matching `X-CSRF-Token`.
pub struct SignedIn {
    pub id: String,
    pub session: Record,
}

impl SignedIn {
    pub fn token(&self) -> Option<&str> {
        Some(self.session.access_token())
    }

    /// `message` as a gRPC request on this session's behalf.
    pub fn request<T>(
        &self,
        message: T,
        headers: &HeaderMap,
    ) -> Result<tonic::Request<T>, BffError> {
        crate::upstream::request(message, self.token(), headers)
    }
}

fn is_unsafe(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = BffError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let id = session::session_cookie(&parts.headers).ok_or(BffError::SessionRequired)?;
        let record = state
            .sessions
            .load(&id)
            .await?
            .ok_or(BffError::SessionRequired)?;
        if is_unsafe(&parts.method) {
            let presented = parts
                .headers
                .get(CSRF_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            if !record.csrf_matches(presented) {
                return Err(BffError::Csrf);
            }
        }
        let identity = state.upstream.identity();
        let margin = Duration::from_secs(state.config.refresh_margin_secs);
        let session = state
            .sessions
            .fresh(&id, record, margin, |refresh_token| async move {
                let mut identity = identity;
                identity
                    .refresh(lms_proto::identity::v1::RefreshRequest { refresh_token })
                    .await
                    .map(tonic::Response::into_inner)
            })
            .await?
            .ok_or(BffError::SessionRequired)?;
        Ok(SignedIn { id, session })
    }
}

/// A JSON body whose rejection is a problem naming what is wrong.
pub struct JsonBody<T>(pub T);

impl<T, S> FromRequest<S> for JsonBody<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = BffError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(JsonBody(value)),
            Err(rejection) => Err(json_rejection(&rejection)),
        }
    }
}

fn json_rejection(rejection: &JsonRejection) -> BffError {
    BffError::invalid("", rejection.body_text())
}

/// A query string whose rejection is a problem.
pub struct QueryParams<T>(pub T);

impl<T, S> FromRequestParts<S> for QueryParams<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = BffError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(QueryParams(value)),
            Err(rejection) => Err(query_rejection(&rejection)),
        }
    }
}

fn query_rejection(rejection: &QueryRejection) -> BffError {
    BffError::invalid("", rejection.body_text())
}

/// Refuses a state-changing request whose `Origin` (or `Sec-Fetch-Site`)
/// says another site sent it: the session cookie is SameSite=Strict and
/// every signed-in change needs the CSRF token, and this closes sign-up and
/// login to other sites too (login CSRF).
/// Replaces whatever `X-Forwarded-For` the request carries with the one
/// address the BFF vouches for: the peer, or the client a trusted proxy
/// names. Upstream calls forward it (identity's login limit counts it).
pub async fn client_address(
    axum::extract::State(state): axum::extract::State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let peer = request
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|info| info.0.ip());
    let client = peer.map(|peer| {
        let forwarded = request
            .headers()
            .get_all(FORWARDED_FOR)
            .iter()
            .filter_map(|v| v.to_str().ok());
        state.trusted_proxies.client_address(peer, forwarded)
    });
    let headers = request.headers_mut();
    headers.remove(FORWARDED_FOR);
    if let Some(value) = client.and_then(|c| HeaderValue::from_str(&c.to_string()).ok()) {
        headers.insert(FORWARDED_FOR, value);
    }
    next.run(request).await
}

pub async fn same_origin_only(
    axum::extract::State(state): axum::extract::State<AppState>,
    request: Request,
    next: Next,
) -> Result<Response, BffError> {
    if is_unsafe(request.method()) && !same_origin(request.headers(), &state.config.origins()) {
        return Err(BffError::CrossOrigin);
    }
    Ok(next.run(request).await)
}

fn same_origin(headers: &HeaderMap, allowed: &[String]) -> bool {
    let fetch_site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    if fetch_site.is_some_and(|site| site != "same-origin" && site != "none") {
        return false;
    }
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        // Not a browser's cross-site request (browsers send Origin on
        // every state-changing fetch).
        return true;
    };
    if allowed.iter().any(|a| a == origin) {
        return true;
    }
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let origin_host = origin.split_once("://").map(|(_, rest)| rest);
    allowed.is_empty() && host.is_some() && origin_host == host
}

/// Where a command's write landed: pass `position` as `after` to a read
/// to see the write in it (read-your-writes across the hop).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CommandResult {
    pub aggregate_id: String,
    pub sequence: u64,
    /// The entity the command created (course, module, lesson), if any.
    pub created_id: Option<String>,
    /// `<aggregate_id>:<sequence>`.
    pub position: String,
}

impl From<CommandReply> for CommandResult {
    fn from(reply: CommandReply) -> Self {
        CommandResult {
            position: format!("{}:{}", reply.aggregate_id, reply.sequence),
            aggregate_id: reply.aggregate_id,
            sequence: reply.sequence,
            created_id: Some(reply.created_id).filter(|id| !id.is_empty()),
        }
    }
}

/// `?after=<position>`: answer only once the read model holds that write.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct After {
    /// A `position` from a command's result.
    pub after: Option<String>,
}

impl After {
    pub fn min_position(&self) -> Result<Option<MinPosition>, BffError> {
        parse_position(self.after.as_deref())
    }
}

pub fn parse_position(after: Option<&str>) -> Result<Option<MinPosition>, BffError> {
    let Some(after) = after.filter(|a| !a.is_empty()) else {
        return Ok(None);
    };
    let parsed = after
        .rsplit_once(':')
        .and_then(|(id, seq)| Some((id, seq.parse::<u64>().ok()?)))
        .filter(|(id, _)| !id.is_empty());
    match parsed {
        Some((aggregate_id, sequence)) => Ok(Some(MinPosition {
            aggregate_id: aggregate_id.to_string(),
            sequence,
        })),
        None => Err(BffError::invalid(
            "after",
            "must be a position `<aggregate_id>:<sequence>` from a command's result",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_parse_or_name_the_field() {
        let parsed = parse_position(Some("abc:7")).unwrap_or_default();
        assert_eq!(
            parsed.map(|p| (p.aggregate_id, p.sequence)),
            Some(("abc".to_string(), 7))
        );
        assert!(matches!(parse_position(Some("")), Ok(None)));
        for bad in ["abc", ":7", "abc:x", "abc:-1"] {
            match parse_position(Some(bad)) {
                Err(BffError::Invalid(v)) => assert_eq!(v[0].field, "after"),
                other => panic!("{bad}: {other:?}"),
            }
        }
    }

    #[test]
    fn only_the_own_origin_may_change_state() {
        let headers = |pairs: &[(&'static str, &'static str)]| {
            let mut h = HeaderMap::new();
            for (k, v) in pairs {
                h.insert(*k, v.parse().unwrap_or_else(|_| unreachable!()));
            }
            h
        };
        let none: Vec<String> = Vec::new();
        assert!(same_origin(&headers(&[]), &none));
        assert!(same_origin(
            &headers(&[("host", "lms.test"), ("origin", "https://lms.test")]),
            &none
        ));
        assert!(!same_origin(
            &headers(&[("host", "lms.test"), ("origin", "https://evil.test")]),
            &none
        ));
        assert!(!same_origin(
            &headers(&[("sec-fetch-site", "cross-site")]),
            &none
        ));
        let allowed = vec!["https://app.lms.test".to_string()];
        assert!(same_origin(
            &headers(&[("host", "api.lms.test"), ("origin", "https://app.lms.test")]),
            &allowed
        ));
        assert!(!same_origin(
            &headers(&[("host", "lms.test"), ("origin", "https://lms.test")]),
            &allowed
        ));
    }
}
