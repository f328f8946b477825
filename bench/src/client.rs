//! gRPC clients of the services under test: commands sent as one instructor,
//! queries as one admin, both signed in at lms-identity.

use crate::services::Services;
use lms_proto::command::v1 as cmd;
use lms_proto::identity::v1 as id;
use lms_proto::identity::v1::identity_client::IdentityClient;
use lms_proto::query::v1 as query;
use std::time::Duration;
use tonic::metadata::AsciiMetadataValue;
use tonic::transport::{Channel, Endpoint};
use tonic::{Request, Status};
use uuid::Uuid;

/// The bench's callers, signed in at lms-identity like any user: an admin
/// (bootstrapped, reads everything) and an instructor (granted by it).
pub struct Tokens {
    instructor: AsciiMetadataValue,
    instructor_id: String,
    reader: AsciiMetadataValue,
}

fn bearer(token: &str) -> Result<AsciiMetadataValue, ClientError> {
    format!("Bearer {token}")
        .parse()
        .map_err(|_| ClientError::Status(Status::internal("a token is ascii")))
}

fn with_bearer<T>(message: T, bearer: &AsciiMetadataValue) -> Request<T> {
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", bearer.clone());
    request
}

impl Tokens {
    /// Bootstraps the admin, signs up the instructor, grants the role,
    /// signs both in.
    pub async fn sign_in(services: &Services) -> Result<Self, ClientError> {
        let password = format!("bench-{}", Uuid::now_v7().simple());
        let admin_email = format!("admin-{}@bench.local", Uuid::now_v7().simple());
        services.bootstrap_admin(&admin_email, &password).await?;
        let mut identity = IdentityClient::new(channel(&services.addrs.identity).await?);
        let login = |email: String| id::LoginRequest {
            tenant_id: String::new(),
            email,
            password: password.clone(),
        };
        let admin = identity.login(login(admin_email)).await?.into_inner();
        let instructor_email = format!("instructor-{}@bench.local", Uuid::now_v7().simple());
        let instructor_id = identity
            .register(id::RegisterRequest {
                command_id: Uuid::now_v7().to_string(),
                tenant_id: String::new(),
                email: instructor_email.clone(),
                password: password.clone(),
                display_name: "Bench instructor".into(),
            })
            .await?
            .into_inner()
            .created_id;
        let reader = bearer(&admin.access_token)?;
        identity
            .grant_role(with_bearer(
                id::RoleRequest {
                    command_id: Uuid::now_v7().to_string(),
                    user_id: instructor_id.clone(),
                    role: "instructor".into(),
                },
                &reader,
            ))
            .await?;
        let instructor = identity.login(login(instructor_email)).await?.into_inner();
        Ok(Self {
            instructor: bearer(&instructor.access_token)?,
            instructor_id,
            reader,
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(transparent)]
    Service(#[from] crate::services::ServiceError),
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
        Ok(CommandClient {
            channel: channel(addr).await?,
            bearer: tokens.instructor.clone(),
            actor_id: tokens.instructor_id.clone(),
        })
    }

    fn request<T>(&self, message: T) -> Request<T> {
        with_bearer(message, &self.bearer)
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
            bearer: tokens.reader.clone(),
        })
    }

    fn request<T>(&self, message: T) -> Request<T> {
        with_bearer(message, &self.bearer)
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
