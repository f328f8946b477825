//! gRPC clients of the services under test: commands sent as one instructor,
//! queries as one admin, each with an access token the bench signs.

use lms_proto::command::v1 as cmd;
use lms_proto::query::v1 as query;
use std::time::Duration;
use tonic::metadata::AsciiMetadataValue;
use tonic::transport::{Channel, Endpoint};
use tonic::{Request, Status};
use uuid::Uuid;

/// Signs the bench's access tokens (the services verify them with the JWKS
/// the bench wrote).
pub struct Tokens {
    issuer: lms_runtime::auth::TokenIssuer,
}

impl Tokens {
    pub fn new(keys: &lms_runtime::auth::KeyRing) -> Result<Self, lms_runtime::auth::KeyError> {
        let issuer = lms_runtime::auth::TokenIssuer::new(
            keys,
            "lms-identity",
            "lms",
            Duration::from_secs(24 * 3600),
        )?;
        Ok(Self { issuer })
    }

    /// `Bearer <token>` for `user` with `role`.
    fn bearer(&self, user: &str, role: &str) -> Result<AsciiMetadataValue, ClientError> {
        let user = user
            .parse()
            .map_err(|_| Status::internal("a bench user id is a UUID"))?;
        let now = chrono::Utc::now().timestamp();
        let claims = self
            .issuer
            .claims(user, "default", &[role.to_string()], now);
        let token = self
            .issuer
            .sign(&claims)
            .map_err(|e| Status::internal(format!("signing a bench token: {e}")))?;
        format!("Bearer {}", secrecy::ExposeSecret::expose_secret(&token))
            .parse()
            .map_err(|_| ClientError::Status(Status::internal("a token is ascii")))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("connecting to {0}: {1}")]
    Connect(String, tonic::transport::Error),
    #[error("{0}")]
    Status(#[from] Status),
}

async fn channel(addr: &str) -> Result<Channel, ClientError> {
    let url = format!("http://{addr}");
    Endpoint::from_shared(url.clone())
        .map_err(|e| ClientError::Connect(url.clone(), e))?
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(30))
        .tcp_nodelay(true)
        .connect()
        .await
        .map_err(|e| ClientError::Connect(url, e))
}

/// A course made by [`CommandClient::published_course`].
#[derive(Debug, Clone)]
pub struct PublishedCourse {
    pub course_id: String,
    pub module_id: String,
    pub lesson_id: String,
    pub sequence: u64,
}

#[derive(Clone)]
pub struct CommandClient {
    channel: Channel,
    bearer: AsciiMetadataValue,
    actor_id: String,
}

impl CommandClient {
    pub async fn connect(addr: &str, tokens: &Tokens) -> Result<Self, ClientError> {
        let actor_id = Uuid::now_v7().to_string();
        Ok(CommandClient {
            channel: channel(addr).await?,
            bearer: tokens.bearer(&actor_id, "instructor")?,
            actor_id,
        })
    }

    fn request<T>(&self, message: T) -> Request<T> {
        let mut request = Request::new(message);
        request
            .metadata_mut()
            .insert("authorization", self.bearer.clone());
        request
    }

    fn courses(&self) -> cmd::course_commands_client::CourseCommandsClient<Channel> {
        cmd::course_commands_client::CourseCommandsClient::new(self.channel.clone())
    }

    /// One `CreateCourse`: one event (`CourseCreated`) on a new stream.
    pub async fn create_course(&self, title: String) -> Result<cmd::CommandReply, ClientError> {
        let request = cmd::CreateCourseRequest {
            command_id: Uuid::now_v7().to_string(),
            course_id: String::new(),
            title,
            description: "A course made by lms-bench".into(),
            instructor_ids: vec![self.actor_id.clone()],
            capacity: 100,
            access: None,
        };
        Ok(self
            .courses()
            .create_course(self.request(request))
            .await?
            .into_inner())
    }

    pub async fn update_details(
        &self,
        course_id: &str,
        title: String,
    ) -> Result<cmd::CommandReply, ClientError> {
        let request = cmd::UpdateCourseDetailsRequest {
            command_id: Uuid::now_v7().to_string(),
            course_id: course_id.into(),
            title,
            description: "Updated by lms-bench".into(),
            access: None,
        };
        Ok(self
            .courses()
            .update_course_details(self.request(request))
            .await?
            .into_inner())
    }

    /// CreateCourse, AddModule, AddLesson, PublishCourse: four events.
    pub async fn published_course(&self, title: String) -> Result<PublishedCourse, ClientError> {
        let created = self.create_course(title).await?;
        let course_id = created.aggregate_id;
        let module_id = self
            .courses()
            .add_module(self.request(cmd::AddModuleRequest {
                command_id: Uuid::now_v7().to_string(),
                course_id: course_id.clone(),
                module_id: String::new(),
                title: "Basics".into(),
            }))
            .await?
            .into_inner()
            .created_id;
        let lesson_id = self
            .courses()
            .add_lesson(self.request(cmd::AddLessonRequest {
                command_id: Uuid::now_v7().to_string(),
                course_id: course_id.clone(),
                module_id: module_id.clone(),
                lesson_id: String::new(),
                title: "First steps".into(),
            }))
            .await?
            .into_inner()
            .created_id;
        let published = self
            .courses()
            .publish_course(self.request(cmd::PublishCourseRequest {
                command_id: Uuid::now_v7().to_string(),
                course_id: course_id.clone(),
            }))
            .await?
            .into_inner();
        Ok(PublishedCourse {
            course_id,
            module_id,
            lesson_id,
            sequence: published.sequence,
        })
    }
}

#[derive(Clone)]
pub struct QueryClient {
    channel: Channel,
    bearer: AsciiMetadataValue,
}

impl QueryClient {
    pub async fn connect(addr: &str, tokens: &Tokens) -> Result<Self, ClientError> {
        Ok(QueryClient {
            channel: channel(addr).await?,
            bearer: tokens.bearer(&Uuid::now_v7().to_string(), "admin")?,
        })
    }

    fn request<T>(&self, message: T) -> Request<T> {
        let mut request = Request::new(message);
        request
            .metadata_mut()
            .insert("authorization", self.bearer.clone());
        request
    }

    fn courses(&self) -> query::course_queries_client::CourseQueriesClient<Channel> {
        query::course_queries_client::CourseQueriesClient::new(self.channel.clone())
    }

    pub async fn get_course(&self, course_id: &str) -> Result<query::Course, ClientError> {
        let reply = self
            .courses()
            .get_course(self.request(query::GetCourseRequest {
                course_id: course_id.into(),
                min_position: None,
            }))
            .await?
            .into_inner();
        reply
            .course
            .ok_or_else(|| ClientError::Status(Status::internal("GetCourse without a course")))
    }

    /// The first page of published courses.
    pub async fn list_published(&self, page_size: u32) -> Result<usize, ClientError> {
        let reply = self
            .courses()
            .list_courses(self.request(query::ListCoursesRequest {
                status: "published".into(),
                instructor_id: String::new(),
                title_contains: String::new(),
                page_size,
                page_token: String::new(),
                min_position: None,
            }))
            .await?
            .into_inner();
        Ok(reply.courses.len())
    }
}
