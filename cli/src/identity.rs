//! The identity service's wire: sign-up, sign-in, roles.

use crate::rpc::{self, Identity};
use lms_proto::identity::v1 as pb;
use pb::identity_client::IdentityClient;
use std::time::Duration;
use tonic::transport::Channel;
use tonic::Status;
use uuid::Uuid;

/// Where `lms-identity` listens unless `--identity-endpoint` / `LMS_IDENTITY_ENDPOINT` say otherwise.
pub const DEFAULT_ENDPOINT: &str = "http://127.0.0.1:50053";

#[derive(Debug, Clone)]
pub struct IdentityConnection {
    channel: Channel,
}

impl IdentityConnection {
    pub async fn connect(endpoint: &str) -> anyhow::Result<Self> {
        Ok(Self {
            channel: rpc::channel(endpoint, Duration::from_secs(5)).await?,
        })
    }

    fn client(&self) -> IdentityClient<Channel> {
        IdentityClient::new(self.channel.clone())
    }

    /// Creates a student account; its user id.
    pub async fn register(
        &self,
        email: &str,
        password: &str,
        display_name: &str,
    ) -> Result<String, Status> {
        self.client()
            .register(pb::RegisterRequest {
                command_id: Uuid::now_v7().to_string(),
                tenant_id: String::new(),
                email: email.into(),
                password: password.into(),
                display_name: display_name.into(),
            })
            .await
            .map(|r| r.into_inner().created_id)
    }

    pub async fn login(&self, email: &str, password: &str) -> Result<pb::Session, Status> {
        self.client()
            .login(pb::LoginRequest {
                tenant_id: String::new(),
                email: email.into(),
                password: password.into(),
            })
            .await
            .map(tonic::Response::into_inner)
    }

    /// `admin` grants `role` to `user_id`.
    pub async fn grant_role(
        &self,
        admin: Identity,
        user_id: &str,
        role: &str,
    ) -> Result<(), Status> {
        let mut request = tonic::Request::new(pb::RoleRequest {
            command_id: Uuid::now_v7().to_string(),
            user_id: user_id.into(),
            role: role.into(),
        });
        if let Some(bearer) = admin.bearer() {
            request.metadata_mut().insert(rpc::AUTHORIZATION, bearer);
        }
        self.client().grant_role(request).await.map(|_| ())
    }
}

/// The caller a session's access token names.
pub fn identity_of(session: pb::Session) -> anyhow::Result<Identity> {
    Identity::from_token(session.access_token)
}
