//! `lms` (package lms-cli): a small client for the LMS command and query services, since
//! grpcurl is not at hand everywhere. `demo` runs the scripted walk-through
//! and reads its data back through the query service, `health` checks (or
//! waits for) a server, one subcommand per RPC explores the APIs, and
//! `events` reads back what lms-relay published to Kafka.

mod answers;
mod cli;
mod demo;
mod events;
mod health;
mod identity;
mod output;
mod query;
mod rpc;

use answers::Answer;
use anyhow::Context;
use clap::Parser;
use cli::{Cli, Cmd, GlobalArgs, QueryCmd, RpcCmd};
use identity::IdentityConnection;
use lms_proto::query::v1 as qpb;
use output::Output;
use query::{QueryConnection, QueryRequest};
use rpc::{CallContext, Connection, Failure, Identity};
use std::process::ExitCode;
use std::time::Duration;
use uuid::Uuid;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let out = Output::new(cli.global.json);
    let result = match cli.command {
        Cmd::Demo => run_demo(&cli.global, out).await,
        Cmd::Health(args) => {
            let wait = args.wait.map(Duration::from_secs);
            health::until_serving(&cli.global.endpoint, &args.service, wait)
                .await
                .map(|()| {
                    out.health(&args.service, "SERVING");
                    true
                })
        }
        Cmd::Events(args) => events::run(&args, cli.global.json).await,
        Cmd::Register {
            email,
            display_name,
        } => register(&cli.global, &email, &display_name, out).await,
        Cmd::Login { email } => login(&cli.global, &email, out).await,
        Cmd::Rpc(command) => run_rpc(&cli.global, command, out).await,
        Cmd::Query(query) => run_query(&cli.global, query, out).await,
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn call_context(correlation_id: Option<String>) -> CallContext {
    CallContext { correlation_id }
}

/// The caller `--token` / `LMS_ACCESS_TOKEN` names.
fn caller(global: &GlobalArgs) -> anyhow::Result<Identity> {
    let token = global.token.clone().context(
        "sign in first: export LMS_ACCESS_TOKEN=$(LMS_PASSWORD=... lms login --email <email>)",
    )?;
    Identity::from_token(token)
}

fn password() -> anyhow::Result<String> {
    std::env::var("LMS_PASSWORD").context("set LMS_PASSWORD to the password")
}

async fn register(
    global: &GlobalArgs,
    email: &str,
    display_name: &str,
    out: Output,
) -> anyhow::Result<bool> {
    let conn = IdentityConnection::connect(&global.identity_endpoint).await?;
    match conn.register(email, &password()?, display_name).await {
        Ok(user_id) => {
            out.note(&format!("registered {user_id}"));
            Ok(true)
        }
        Err(status) => {
            out.call_failure("Register", &Failure::from(&status));
            Ok(false)
        }
    }
}

async fn login(global: &GlobalArgs, email: &str, out: Output) -> anyhow::Result<bool> {
    let conn = IdentityConnection::connect(&global.identity_endpoint).await?;
    match conn.login(email, &password()?).await {
        Ok(session) => {
            out.session(&session);
            Ok(true)
        }
        Err(status) => {
            out.call_failure("Login", &Failure::from(&status));
            Ok(false)
        }
    }
}

/// One RPC; `Ok(false)` when the server refused it (already printed).
async fn run_rpc(global: &GlobalArgs, command: RpcCmd, out: Output) -> anyhow::Result<bool> {
    let who = caller(global)?;
    let command = command.into_command(who.actor);
    let context = call_context(global.correlation_id.clone());
    let conn = Connection::connect(&global.endpoint, context).await?;
    match conn.send(who, command.clone()).await {
        Ok(reply) => {
            out.reply(&command, who, &reply);
            Ok(true)
        }
        Err(status) => {
            out.failure(&command, who, &Failure::from(&status));
            Ok(false)
        }
    }
}

/// One query; `Ok(false)` when the server refused it (already printed).
async fn run_query(global: &GlobalArgs, query: QueryCmd, out: Output) -> anyhow::Result<bool> {
    let conn = QueryConnection::connect(global.query_endpoint(), caller(global)?).await?;
    match query {
        QueryCmd::GetCourse { course_id, at } => {
            let request = qpb::GetCourseRequest {
                course_id,
                min_position: at.position(),
            };
            ask(&conn, request, out).await
        }
        QueryCmd::ListCourses {
            status,
            instructor,
            title_contains,
            page_size,
            page_token,
            at,
        } => {
            let request = qpb::ListCoursesRequest {
                status: status.unwrap_or_default(),
                instructor_id: instructor.unwrap_or_default(),
                title_contains: title_contains.unwrap_or_default(),
                page_size,
                page_token: page_token.unwrap_or_default(),
                min_position: at.position(),
            };
            ask(&conn, request, out).await
        }
        QueryCmd::Roster { course_id, at } => {
            let request = qpb::GetRosterRequest {
                course_id,
                min_position: at.position(),
            };
            ask(&conn, request, out).await
        }
        QueryCmd::Dashboard { student_id, at } => {
            let request = qpb::GetStudentDashboardRequest {
                student_id,
                min_position: at.position(),
            };
            ask(&conn, request, out).await
        }
        QueryCmd::Subscription { student_id, at } => {
            let request = qpb::GetSubscriptionRequest {
                student_id,
                min_position: at.position(),
            };
            ask(&conn, request, out).await
        }
        QueryCmd::Invoices {
            student_id,
            page_size,
            page_token,
            at,
        } => {
            let request = qpb::ListInvoicesRequest {
                student_id,
                page_size,
                page_token: page_token.unwrap_or_default(),
                min_position: at.position(),
            };
            ask(&conn, request, out).await
        }
    }
}

async fn ask<R>(conn: &QueryConnection, request: R, out: Output) -> anyhow::Result<bool>
where
    R: QueryRequest,
    R::Response: Answer,
{
    match conn.ask(request).await {
        Ok(answer) => {
            out.answer(R::RPC, &answer);
            Ok(true)
        }
        Err(status) => {
            out.query_failure(R::RPC, &Failure::from(&status));
            Ok(false)
        }
    }
}

/// The demo under one correlation id, so its events can be found together;
/// then its data read back through the query service when one is reachable.
async fn run_demo(global: &GlobalArgs, out: Output) -> anyhow::Result<bool> {
    let correlation_id = global
        .correlation_id
        .clone()
        .unwrap_or_else(|| Uuid::now_v7().to_string());
    let context = call_context(Some(correlation_id.clone()));
    let conn = Connection::connect(&global.endpoint, context).await?;
    let identity = IdentityConnection::connect(&global.identity_endpoint).await?;
    let admin = demo::admin(&identity).await?;
    let queries = match &global.query_endpoint {
        // Asked for explicitly: it must answer.
        Some(endpoint) => Some(QueryConnection::connect(endpoint, admin).await?),
        None => match QueryConnection::connect(query::DEFAULT_ENDPOINT, admin).await {
            Ok(queries) => Some(queries),
            Err(e) => {
                out.note(&format!(
                    "no query service ({e:#}): the demo will not read its data back \
                     (start lms-query, or pass --query-endpoint)\n"
                ));
                None
            }
        },
    };
    out.note(&format!(
        "demo against {} (correlation id {correlation_id})\n",
        global.endpoint
    ));
    demo::run(&conn, &identity, admin, queries.as_ref(), out).await?;
    out.note("\ndemo passed");
    Ok(true)
}
