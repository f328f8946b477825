//! `xtask`: a small client for the LMS command service, since grpcurl is not
//! at hand everywhere. `demo` runs the scripted walk-through, `health` checks
//! (or waits for) the server, one subcommand per RPC explores the API, and
//! `events` reads back what lms-relay published to Kafka.

mod cli;
mod demo;
mod events;
mod health;
mod output;
mod rpc;

use clap::Parser;
use cli::{Cli, Cmd, GlobalArgs, RpcCmd};
use output::Output;
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
        Cmd::Rpc(command) => run_rpc(&cli.global, command, out).await,
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

fn call_context(global: &GlobalArgs, correlation_id: Option<String>) -> CallContext {
    CallContext {
        tenant: global.tenant.clone(),
        correlation_id,
    }
}

/// One RPC; `Ok(false)` when the server refused it (already printed).
async fn run_rpc(global: &GlobalArgs, command: RpcCmd, out: Output) -> anyhow::Result<bool> {
    let who = Identity::new(global.actor.unwrap_or_else(Uuid::now_v7), global.role);
    let command = command.into_command(who.actor);
    let context = call_context(global, global.correlation_id.clone());
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

/// The demo under one correlation id, so its events can be found together.
async fn run_demo(global: &GlobalArgs, out: Output) -> anyhow::Result<bool> {
    let correlation_id = global
        .correlation_id
        .clone()
        .unwrap_or_else(|| Uuid::now_v7().to_string());
    let context = call_context(global, Some(correlation_id.clone()));
    let conn = Connection::connect(&global.endpoint, context).await?;
    out.note(&format!(
        "demo against {} (correlation id {correlation_id})\n",
        global.endpoint
    ));
    demo::run(&conn, out).await?;
    out.note("\ndemo passed");
    Ok(true)
}
