//! The whole pipeline for projection tests: a fresh database (event store
//! and read models), the command server, the schema registry and the relay
//! in-process on the shared broker under a topic prefix of the test's own,
//! and a Redis prefix of its own; workers started on demand.

use crate::background::Background;
use crate::commands::{Caller, CommandServer};
use crate::db::TestDb;
use crate::registry::Registry;
use crate::relay::{relay_config, Relay};
use crate::wait::eventually;
use crate::{new_id, shared_brokers};
use lms_projections::{run_projection, Config, Projection, Services, WorkerError};
use lms_proto::command::v1::*;
use lms_relay::RelayConfig;
use lms_runtime::SecretString;
use rdkafka::message::OwnedHeaders;
use std::ffi::OsStr;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

// Fields drop in order: everything that uses the database goes before it.
pub struct Harness {
    pub server: CommandServer,
    relay: Option<Relay>,
    pub registry: Registry,
    pub config: Config,
    pub relay_config: RelayConfig,
    pub services: Services,
    pub db: TestDb,
}

/// A projection worker running in-process.
pub struct Worker(Background<Result<(), WorkerError>>);

impl Worker {
    /// Stops it and expects a clean end.
    pub async fn stop(self) {
        self.0.stop("worker").await.expect("worker ends cleanly");
    }
}

impl Harness {
    pub async fn start() -> Harness {
        Self::start_on(&crate::db::admin_url(), crate::redis::url()).await
    }

    /// [`Self::start`] with the workers on the Redis at `redis_url`.
    pub async fn start_with_redis(redis_url: String) -> Harness {
        Self::start_on(&crate::db::admin_url(), redis_url).await
    }

    /// [`Self::start`] with the database on the Postgres server of
    /// `postgres_admin_url` and the workers on the Redis at `redis_url`.
    pub async fn start_on(postgres_admin_url: &str, redis_url: String) -> Harness {
        let db = TestDb::event_store_on(postgres_admin_url).await;
        lms_readmodels::migrate(&db.pool)
            .await
            .expect("read-model migrations");
        let registry = Registry::start(&db.pool).await;
        let server = CommandServer::start(&db).await;
        let relay_config = relay_config(&db, &shared_brokers(), &registry.url);
        let config = Config {
            database_url: db.secret_url(),
            redis_url: SecretString::from(redis_url),
            redis_prefix: crate::redis::unique_prefix(),
            kafka_brokers: relay_config.kafka_brokers.clone(),
            schema_registry_url: registry.url.clone(),
            topic_prefix: relay_config.topic_prefix.clone(),
            max_handler_retries: 2,
            ..Default::default()
        };
        let relay = Relay::start(&relay_config, &db.pool);
        let services = Services::connect(&config, db.pool.clone())
            .await
            .expect("services");
        Harness {
            server,
            relay: Some(relay),
            registry,
            config,
            relay_config,
            services,
            db,
        }
    }

    pub fn start_worker<P: Projection>(&self, projection: Arc<P>) -> Worker {
        let services = self.services.clone();
        Worker(Background::spawn(|stop| {
            run_projection(projection, services, stop)
        }))
    }

    pub fn topic(&self, base: &str) -> String {
        self.config.topic(base)
    }

    /// Stops the relay and the server, deletes the Redis prefix's keys and
    /// drops the database.
    pub async fn stop(mut self) {
        if let Some(relay) = self.relay.take() {
            let _ = relay.stop().await;
        }
        crate::redis::clear(&self.services.redis, &self.config.redis_prefix).await;
        let Harness { server, db, .. } = self;
        server.stop().await;
        db.drop_database().await;
    }

    /// Last sequence `projection` applied for an aggregate (0 if none).
    pub async fn applied(&self, schema: &str, projection: &str, aggregate_id: &str) -> i64 {
        sqlx::query_scalar::<_, i64>(&format!(
            "SELECT last_sequence FROM {schema}.applied WHERE projection = $1 AND aggregate_id = $2"
        ))
        .bind(projection)
        .bind(aggregate_id)
        .fetch_optional(&self.db.pool)
        .await
        .expect("applied")
        .unwrap_or(0)
    }

    pub async fn wait_applied(
        &self,
        schema: &str,
        projection: &str,
        aggregate_id: &str,
        sequence: i64,
    ) {
        eventually(Duration::from_secs(60), || async {
            self.applied(schema, projection, aggregate_id).await >= sequence
        })
        .await
        .unwrap_or_else(|_| panic!("{aggregate_id} not applied up to {sequence}"));
    }

    pub async fn redis(&self) -> redis::aio::ConnectionManager {
        self.services.redis.clone()
    }

    /// Creates a course with one module and one lesson; returns (id, last sequence).
    pub async fn course(&self, caller: Caller, title: &str, publish: bool) -> (String, i64) {
        self.course_in(crate::auth::TENANT, caller, title, publish)
            .await
    }

    /// [`Self::course`] in `tenant`.
    pub async fn course_in(
        &self,
        tenant: &str,
        caller: Caller,
        title: &str,
        publish: bool,
    ) -> (String, i64) {
        let mut courses = self.server.courses();
        let reply = courses
            .create_course(caller.req_in(
                tenant,
                CreateCourseRequest {
                    command_id: new_id(),
                    course_id: String::new(),
                    title: title.into(),
                    description: "about it".into(),
                    instructor_ids: vec![caller.id.to_string()],
                    capacity: 10,
                    access: None,
                },
            ))
            .await
            .expect("create course")
            .into_inner();
        let course_id = reply.aggregate_id;
        if !publish {
            return (course_id, reply.sequence as i64);
        }
        let module_id = courses
            .add_module(caller.req_in(
                tenant,
                AddModuleRequest {
                    command_id: new_id(),
                    course_id: course_id.clone(),
                    module_id: String::new(),
                    title: "Basics".into(),
                },
            ))
            .await
            .expect("add module")
            .into_inner()
            .created_id;
        courses
            .add_lesson(caller.req_in(
                tenant,
                AddLessonRequest {
                    command_id: new_id(),
                    course_id: course_id.clone(),
                    module_id,
                    lesson_id: String::new(),
                    title: "First steps".into(),
                },
            ))
            .await
            .expect("add lesson");
        let reply = courses
            .publish_course(caller.req_in(
                tenant,
                PublishCourseRequest {
                    command_id: new_id(),
                    course_id: course_id.clone(),
                },
            ))
            .await
            .expect("publish")
            .into_inner();
        (course_id, reply.sequence as i64)
    }

    /// Sets a course's capacity; returns the command's sequence.
    pub async fn change_capacity(&self, caller: Caller, course_id: &str, capacity: u32) -> i64 {
        self.server
            .courses()
            .change_capacity(caller.req(ChangeCapacityRequest {
                command_id: new_id(),
                course_id: course_id.to_string(),
                capacity,
            }))
            .await
            .expect("change capacity")
            .into_inner()
            .sequence as i64
    }

    /// Produces raw bytes to a topic of this harness's broker.
    pub async fn produce_raw(&self, topic: &str, key: &str, value: &[u8], headers: OwnedHeaders) {
        crate::kafka::produce_raw(&self.config.kafka_brokers, topic, key, value, headers).await;
    }

    /// A service binary (`env!("CARGO_BIN_EXE_…")`) with this harness's
    /// settings and metrics on `metrics_addr`.
    pub fn binary(&self, path: impl AsRef<OsStr>, metrics_addr: &str) -> Command {
        let mut command = crate::process::service(path);
        command
            .env("LMS_DATABASE_URL", &self.db.url)
            .env("LMS_REDIS_URL", crate::redis::url())
            .env("LMS_REDIS_PREFIX", &self.config.redis_prefix)
            .env("LMS_KAFKA_BROKERS", &self.config.kafka_brokers)
            .env("LMS_SCHEMA_REGISTRY_URL", &self.config.schema_registry_url)
            .env("LMS_TOPIC_PREFIX", &self.config.topic_prefix)
            .env("LMS_METRICS_ADDR", metrics_addr);
        command
    }
}

/// What projection tests use, in one import.
pub mod prelude {
    pub use super::{Harness, Worker};
    pub use crate::commands::Caller;
    pub use crate::kafka::{header, read_all};
    pub use crate::metrics::{metric, scrape};
    pub use crate::ports::free_addr;
    pub use crate::process::{child_output, kill, wait_exit, Children};
    pub use crate::{eventually, new_id};
}
