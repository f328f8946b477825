//! The query service in-process on random ports, on a test database and a
//! Redis key prefix of the test's own.

use crate::auth::{Authed, Bearer};
use crate::background::Background;
use crate::db::TestDb;
use lms_proto::query::v1::billing_queries_client::BillingQueriesClient;
use lms_proto::query::v1::course_queries_client::CourseQueriesClient;
use lms_proto::query::v1::student_queries_client::StudentQueriesClient;
use lms_query::config::Config;
use lms_query::server;
use lms_runtime::SecretString;
use redis::aio::ConnectionManager;
use std::net::SocketAddr;
use tonic::transport::Channel;

/// The prefix every service uses by default: a test never writes under it.
const SHARED_PREFIX: &str = "lms";

pub struct QueryServer {
    pub addr: SocketAddr,
    pub metrics_addr: SocketAddr,
    pub prefix: String,
    pub redis: ConnectionManager,
    owns_prefix: bool,
    server: Background<()>,
    channel: Channel,
}

impl QueryServer {
    /// On `db`, with a fresh Redis prefix (its keys deleted on `stop()`).
    pub async fn start(db: &TestDb) -> QueryServer {
        Self::start_with(db, Config::default()).await
    }

    /// On `db` with `config`; a fresh Redis prefix unless `config` names
    /// one (a test's pipeline shares its prefix with its workers).
    pub async fn start_with(db: &TestDb, mut config: Config) -> QueryServer {
        config.database_url = db.secret_url();
        config.redis_url = SecretString::from(crate::redis::url());
        let owns_prefix = config.redis_prefix == SHARED_PREFIX;
        if owns_prefix {
            config.redis_prefix = crate::redis::unique_prefix();
        }
        let (grpc, addr, metrics, metrics_addr) = crate::grpc::listeners().await;
        let pool =
            crate::db::service_pool(&config.database_url, config.db_statement_timeout_ms, 10).await;
        let redis = crate::redis::connect().await;
        let prefix = config.redis_prefix.clone();
        let server_redis = redis.clone();
        let verifier = crate::auth::verifier();
        let server = Background::spawn(|stop| async move {
            if let Err(e) = server::serve(
                &config,
                pool,
                server_redis,
                verifier,
                grpc,
                Some(metrics),
                stop,
            )
            .await
            {
                panic!("query server failed: {e}");
            }
        });
        let channel = crate::grpc::connect(addr, "query server").await;
        QueryServer {
            addr,
            metrics_addr,
            prefix,
            redis,
            owns_prefix,
            server,
            channel,
        }
    }

    /// Course queries as an admin (who reads everything).
    pub fn courses(&self) -> CourseQueriesClient<Authed> {
        self.courses_as(Bearer::admin())
    }

    /// Student queries as an admin.
    pub fn students(&self) -> StudentQueriesClient<Authed> {
        self.students_as(Bearer::admin())
    }

    /// Billing queries as an admin.
    pub fn billing(&self) -> BillingQueriesClient<Authed> {
        self.billing_as(Bearer::admin())
    }

    pub fn courses_as(&self, bearer: Bearer) -> CourseQueriesClient<Authed> {
        CourseQueriesClient::with_interceptor(self.channel.clone(), bearer)
    }

    pub fn students_as(&self, bearer: Bearer) -> StudentQueriesClient<Authed> {
        StudentQueriesClient::with_interceptor(self.channel.clone(), bearer)
    }

    pub fn billing_as(&self, bearer: Bearer) -> BillingQueriesClient<Authed> {
        BillingQueriesClient::with_interceptor(self.channel.clone(), bearer)
    }

    /// The channel, for a client that brings its own token (or none).
    pub fn channel(&self) -> Channel {
        self.channel.clone()
    }

    /// Runs a Redis command with this server's key prefix put for `{p}`.
    pub async fn redis_cmd(&self, args: &[&str]) {
        let mut redis = self.redis.clone();
        let mut cmd = redis::cmd(args[0]);
        for arg in &args[1..] {
            cmd.arg(arg.replace("{p}", &self.prefix));
        }
        let _: redis::Value = cmd.query_async(&mut redis).await.expect("redis command");
    }

    /// Stops (waiting for in-flight queries) and deletes the prefix's keys
    /// when the prefix is its own.
    pub async fn stop(self) {
        self.server.stop("query server").await;
        if self.owns_prefix {
            crate::redis::clear(&self.redis, &self.prefix).await;
        }
    }
}
