//! The read side's wire: one channel to `lms-query`, and every
//! `lms.query.v1` RPC as a request type that knows its client call and takes
//! a read-your-writes `MinPosition`.

use crate::rpc::{self, Identity};
use lms_proto::command::v1::CommandReply;
use lms_proto::query::v1 as pb;
use pb::billing_queries_client::BillingQueriesClient;
use pb::course_queries_client::CourseQueriesClient;
use pb::student_queries_client::StudentQueriesClient;
use std::future::Future;
use std::time::Duration;
use tonic::transport::Channel;
use tonic::Status;

/// Where `lms-query` listens unless `--query-endpoint` / `LMS_QUERY_ENDPOINT` say otherwise.
pub const DEFAULT_ENDPOINT: &str = "http://127.0.0.1:50052";

/// The read-your-writes token of a command reply.
pub fn position_of(reply: &CommandReply) -> pb::MinPosition {
    pb::MinPosition {
        aggregate_id: reply.aggregate_id.clone(),
        sequence: reply.sequence,
    }
}

/// One `lms.query.v1` request: its RPC name, its `min_position` field and
/// the client call that sends it.
pub trait QueryRequest: Clone {
    type Response;
    /// The RPC's name in the proto.
    const RPC: &'static str;
    /// The same request, answered only once `position` is applied.
    fn at(self, position: Option<pb::MinPosition>) -> Self;
    fn call(
        self,
        channel: Channel,
        who: Identity,
    ) -> impl Future<Output = Result<Self::Response, Status>>;
}

macro_rules! query_requests {
    ($($rpc:ident($request:ident) => $response:ident, $client:ident.$method:ident;)*) => {
        $(
            impl QueryRequest for pb::$request {
                type Response = pb::$response;
                const RPC: &'static str = stringify!($rpc);

                fn at(mut self, position: Option<pb::MinPosition>) -> Self {
                    self.min_position = position;
                    self
                }

                async fn call(self, channel: Channel, who: Identity) -> Result<pb::$response, Status> {
                    let mut request = tonic::Request::new(self);
                    if let Some(bearer) = who.bearer() {
                        request.metadata_mut().insert(rpc::AUTHORIZATION, bearer);
                    }
                    $client::new(channel)
                        .$method(request)
                        .await
                        .map(tonic::Response::into_inner)
                }
            }
        )*
    };
}

query_requests! {
    GetCourse(GetCourseRequest) => GetCourseResponse, CourseQueriesClient.get_course;
    ListCourses(ListCoursesRequest) => ListCoursesResponse, CourseQueriesClient.list_courses;
    GetRoster(GetRosterRequest) => GetRosterResponse, CourseQueriesClient.get_roster;
    GetStudentDashboard(GetStudentDashboardRequest) => GetStudentDashboardResponse,
        StudentQueriesClient.get_student_dashboard;
    GetSubscription(GetSubscriptionRequest) => GetSubscriptionResponse,
        BillingQueriesClient.get_subscription;
    ListInvoices(ListInvoicesRequest) => ListInvoicesResponse, BillingQueriesClient.list_invoices;
}

/// A channel to the query service, and who reads through it.
#[derive(Debug, Clone)]
pub struct QueryConnection {
    channel: Channel,
    endpoint: String,
    reader: Identity,
}

impl QueryConnection {
    pub async fn connect(endpoint: &str, reader: Identity) -> anyhow::Result<Self> {
        let channel = rpc::channel(endpoint, Duration::from_secs(5)).await?;
        Ok(Self {
            channel,
            endpoint: endpoint.to_string(),
            reader,
        })
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Sends `request` as the connection's reader; the answer, or the
    /// refusal as a `Status`.
    pub async fn ask<R: QueryRequest>(&self, request: R) -> Result<R::Response, Status> {
        request.call(self.channel.clone(), self.reader).await
    }

    /// Sends `request` as `who`.
    pub async fn ask_as<R: QueryRequest>(
        &self,
        who: Identity,
        request: R,
    ) -> Result<R::Response, Status> {
        request.call(self.channel.clone(), who).await
    }
}
