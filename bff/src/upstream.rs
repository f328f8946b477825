//! The gRPC services behind the BFF, and how a browser request becomes a
//! gRPC request: the session's bearer token, the caller's idempotency key
//! as the command id, the correlation id passed along.

use crate::error::BffError;
use axum::http::HeaderMap;
use lms_proto::command::v1::course_commands_client::CourseCommandsClient;
use lms_proto::command::v1::enrollment_commands_client::EnrollmentCommandsClient;
use lms_proto::command::v1::subscription_commands_client::SubscriptionCommandsClient;
use lms_proto::identity::v1::identity_client::IdentityClient;
use lms_proto::query::v1::billing_queries_client::BillingQueriesClient;
use lms_proto::query::v1::course_queries_client::CourseQueriesClient;
use lms_proto::query::v1::student_queries_client::StudentQueriesClient;
use lms_runtime::client_address::FORWARDED_FOR;
use std::time::Duration;
use tonic::metadata::MetadataValue;
use tonic::transport::{Channel, Endpoint};

/// The header a client sets so that a retried request is the same command.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";
pub const CORRELATION_ID: &str = "x-correlation-id";

#[derive(Clone)]
pub struct Upstream {
    identity: Channel,
    commands: Channel,
    query: Channel,
}

#[derive(Debug, thiserror::Error)]
#[error("endpoint {endpoint}")]
pub struct EndpointError {
    endpoint: String,
    #[source]
    source: tonic::transport::Error,
}

fn channel(endpoint: &str, timeout: Duration) -> Result<Channel, EndpointError> {
    Endpoint::from_shared(endpoint.to_string())
        .map(|e| e.timeout(timeout).connect_timeout(Duration::from_secs(5)))
        .map(|e| e.connect_lazy())
        .map_err(|source| EndpointError {
            endpoint: endpoint.to_string(),
            source,
        })
}

impl Upstream {
    /// Lazy channels: the BFF starts (and answers its health check) before
    /// the services it calls; a call to one that is down is `503`.
    pub fn new(
        identity: &str,
        commands: &str,
        query: &str,
        timeout: Duration,
    ) -> Result<Self, EndpointError> {
        Ok(Self {
            identity: channel(identity, timeout)?,
            commands: channel(commands, timeout)?,
            query: channel(query, timeout)?,
        })
    }

    pub fn identity(&self) -> IdentityClient<Channel> {
        IdentityClient::new(self.identity.clone())
    }
    pub fn courses(&self) -> CourseCommandsClient<Channel> {
        CourseCommandsClient::new(self.commands.clone())
    }
    pub fn enrollments(&self) -> EnrollmentCommandsClient<Channel> {
        EnrollmentCommandsClient::new(self.commands.clone())
    }
    pub fn subscriptions(&self) -> SubscriptionCommandsClient<Channel> {
        SubscriptionCommandsClient::new(self.commands.clone())
    }
    pub fn course_queries(&self) -> CourseQueriesClient<Channel> {
        CourseQueriesClient::new(self.query.clone())
    }
    pub fn student_queries(&self) -> StudentQueriesClient<Channel> {
        StudentQueriesClient::new(self.query.clone())
    }
    pub fn billing_queries(&self) -> BillingQueriesClient<Channel> {
        BillingQueriesClient::new(self.query.clone())
    }
}

/// The command id of a state-changing request: the client's
/// `Idempotency-Key` (the command service validates it), else a new one.
pub fn command_id(headers: &HeaderMap) -> String {
    headers
        .get(IDEMPOTENCY_KEY)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string())
}

/// `message` as a gRPC request with `token` as its bearer and the
/// browser request's correlation id, if it sent one.
pub fn request<T>(
    message: T,
    token: Option<&str>,
    headers: &HeaderMap,
) -> Result<tonic::Request<T>, BffError> {
    let mut request = tonic::Request::new(message);
    let metadata = request.metadata_mut();
    if let Some(token) = token {
        let value = MetadataValue::try_from(format!("Bearer {token}"))
            .map_err(|_| BffError::SessionRequired)?;
        metadata.insert("authorization", value);
    }
    // The client address the BFF vouches for (set by `client_address`).
    if let Some(value) = headers
        .get(FORWARDED_FOR)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| MetadataValue::try_from(v).ok())
    {
        metadata.insert(FORWARDED_FOR, value);
    }
    if let Some(value) = headers
        .get(CORRELATION_ID)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| MetadataValue::try_from(v).ok())
    {
        metadata.insert(CORRELATION_ID, value);
    }
    Ok(request)
}
