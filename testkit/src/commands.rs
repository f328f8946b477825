//! The command service in-process, and the callers the tests send as.

use crate::background::Background;
use crate::db::TestDb;
use lms_commands::config::Config;
use lms_commands::server;
use lms_proto::command::v1::course_commands_client::CourseCommandsClient;
use lms_proto::command::v1::enrollment_commands_client::EnrollmentCommandsClient;
use lms_proto::command::v1::subscription_commands_client::SubscriptionCommandsClient;
use std::net::SocketAddr;
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;
use tonic::Request;
use uuid::Uuid;

/// Event-store reads for assertions.
impl TestDb {
    /// (event_type, metadata) of one aggregate's stream, in order.
    pub async fn events(
        &self,
        aggregate_type: &str,
        aggregate_id: &str,
    ) -> Vec<(String, serde_json::Value)> {
        sqlx::query_as(
            "SELECT event_type, metadata::jsonb FROM events
              WHERE aggregate_type = $1 AND aggregate_id = $2 ORDER BY sequence",
        )
        .bind(aggregate_type)
        .bind(aggregate_id)
        .fetch_all(&self.pool)
        .await
        .expect("read events")
    }

    pub async fn count_events(&self, event_type: &str) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM events WHERE event_type = $1")
            .bind(event_type)
            .fetch_one(&self.pool)
            .await
            .expect("count events")
    }

    pub async fn total_events(&self) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM events")
            .fetch_one(&self.pool)
            .await
            .expect("count events")
    }
}

/// The command server on random ports (gRPC and metrics); stopped on
/// `stop()` or when dropped.
pub struct CommandServer {
    pub addr: SocketAddr,
    pub metrics_addr: SocketAddr,
    server: Background<()>,
    channel: Channel,
}

impl CommandServer {
    pub async fn start(db: &TestDb) -> CommandServer {
        Self::start_with(db, Config::default()).await
    }

    pub async fn start_with(db: &TestDb, config: Config) -> CommandServer {
        Self::start_verified_by(db, config, crate::auth::verifier()).await
    }

    /// With tokens checked by `verifier` (e.g. the identity service's JWKS).
    pub async fn start_verified_by(
        db: &TestDb,
        mut config: Config,
        verifier: lms_runtime::auth::Verifier,
    ) -> CommandServer {
        config.database_url = db.secret_url();
        let (grpc, addr, metrics, metrics_addr) = crate::grpc::listeners().await;
        let pool = crate::db::service_pool(
            &config.database_url,
            config.db_statement_timeout_ms,
            config.db_max_connections,
        )
        .await;
        let server = Background::spawn(|stop| async move {
            if let Err(e) = server::serve(&config, pool, verifier, grpc, Some(metrics), stop).await
            {
                panic!("command server failed: {e}");
            }
        });
        let channel = crate::grpc::connect(addr, "command server").await;
        CommandServer {
            addr,
            metrics_addr,
            server,
            channel,
        }
    }

    pub fn channel(&self) -> Channel {
        self.channel.clone()
    }

    pub fn courses(&self) -> CourseCommandsClient<Channel> {
        CourseCommandsClient::new(self.channel.clone())
    }

    pub fn enrollments(&self) -> EnrollmentCommandsClient<Channel> {
        EnrollmentCommandsClient::new(self.channel.clone())
    }

    pub fn subscriptions(&self) -> SubscriptionCommandsClient<Channel> {
        SubscriptionCommandsClient::new(self.channel.clone())
    }

    /// Stops and waits for in-flight calls.
    pub async fn stop(self) {
        self.server.stop("command server").await;
    }
}

#[derive(Clone, Copy, Debug)]
pub struct Caller {
    pub id: Uuid,
    pub role: &'static str,
}

impl Caller {
    pub fn instructor() -> Caller {
        Caller {
            id: Uuid::now_v7(),
            role: "instructor",
        }
    }
    pub fn student() -> Caller {
        Caller {
            id: Uuid::now_v7(),
            role: "student",
        }
    }
    pub fn admin() -> Caller {
        Caller {
            id: Uuid::now_v7(),
            role: "admin",
        }
    }

    /// This caller's token on every call of a client.
    pub fn bearer(&self) -> crate::auth::Bearer {
        crate::auth::Bearer::new(&crate::auth::token(self.id, &[self.role]))
    }

    /// A request carrying this caller's access token.
    pub fn req<T>(&self, message: T) -> Request<T> {
        self.req_in(crate::auth::TENANT, message)
    }

    /// A request carrying this caller's access token for `tenant`.
    pub fn req_in<T>(&self, tenant: &str, message: T) -> Request<T> {
        let mut request = Request::new(message);
        let token = crate::auth::token_in(tenant, self.id, &[self.role]);
        let bearer = format!("Bearer {token}");
        request.metadata_mut().insert(
            "authorization",
            MetadataValue::try_from(bearer).expect("header"),
        );
        request
    }
}
