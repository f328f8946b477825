//! `lms-replay`: the replay CLI over the event store (docs/replay.md).
//! Parses arguments, connects, runs one subcommand, maps errors to exit codes.

use clap::{Parser, Subcommand};
use lms_replay::export::{self, ExportArgs};
use lms_replay::history::{self, HistoryArgs};
use lms_replay::output::Output;
use lms_replay::rebuild::{self, RebuildArgs, VerifyArgs, REBUILD_BATCH_SIZE};
use lms_replay::state::{self, StateArgs};
use lms_replay::store::{self, DEFAULT_BATCH_SIZE};
use lms_replay::{exit, Config, ReplayError};
use lms_runtime::Settings;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "lms-replay",
    version,
    about = "Reads the LMS event store: an aggregate's history, its state at a point in time, exports; rebuilds and verifies read models",
    after_help = "Exit codes: 0 ok, 1 unexpected error, 2 usage, 3 not found, \
                  4 database unreachable or not an event store, 5 a stored event this build \
                  cannot read, 6 output not writable, 7 verify found differences, 130 interrupted. See docs/replay.md."
)]
struct Cli {
    /// Print the environment variables read, one per line, and exit.
    #[arg(long)]
    print_settings: bool,
    /// Postgres URL of the event store [env: LMS_DATABASE_URL; default: the local `lms` database].
    #[arg(long, global = true)]
    database_url: Option<String>,
    /// Rows read per query (keyset pages on position / sequence) [default: 1000;
    /// for rebuild and verify 5000, also events per shadow transaction].
    #[arg(long, global = true, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    batch_size: Option<u32>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Every event of one aggregate, in order, with who, when and why.
    History(HistoryArgs),
    /// The aggregate's state at a time or sequence, folded by the domain code.
    State(StateArgs),
    /// Events in position order as JSON Lines or an Avro container file.
    Export(ExportArgs),
    /// Rebuild a read model from the event store into a shadow copy and swap it in.
    Rebuild(RebuildArgs),
    /// Compare a live read model with a fresh rebuild; exit 7 when they differ.
    Verify(VerifyArgs),
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.print_settings {
        Config::print_names();
        return ExitCode::SUCCESS;
    }
    let Some(command) = cli.command.as_ref() else {
        eprintln!(
            "lms-replay: a command is needed: history | state | export | rebuild | verify (see --help)"
        );
        return ExitCode::from(exit::USAGE);
    };
    let outcome = tokio::select! {
        outcome = run(&cli, command) => outcome,
        signal = lms_runtime::shutdown::signal() => {
            // `run` is dropped here, and with it a half-written --output file.
            eprintln!("lms-replay: stopped by {signal}");
            return ExitCode::from(exit::INTERRUPTED);
        }
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // A reader that stopped early (`| head`) is not worth a message,
            // as with tools that die of SIGPIPE; the exit code still says it.
            if !e.is_broken_pipe() {
                eprintln!("lms-replay: {e}");
            }
            ExitCode::from(e.exit_code())
        }
    }
}

async fn run(cli: &Cli, command: &Command) -> Result<(), ReplayError> {
    let mut config = Config::read()?;
    if let Some(url) = &cli.database_url {
        config.database_url = url.clone().into();
    }
    match command {
        Command::Rebuild(args) => {
            return rebuild::run_rebuild(
                &config,
                args,
                cli.batch_size.unwrap_or(REBUILD_BATCH_SIZE),
            )
            .await
        }
        Command::Verify(args) => {
            let batch_size = cli.batch_size.unwrap_or(REBUILD_BATCH_SIZE);
            return match rebuild::run_verify(&config, args, batch_size).await? {
                true => Ok(()),
                false => Err(ReplayError::Differences(args.projection.clone())),
            };
        }
        _ => {}
    }
    let batch_size = cli.batch_size.unwrap_or(DEFAULT_BATCH_SIZE);
    let mut connection = store::connect(&config.database_url).await?;
    match command {
        Command::History(args) => {
            let mut out = Output::stdout();
            history::run(&mut connection, args, batch_size, &mut out).await?;
            out.finish()
        }
        Command::State(args) => {
            let mut out = Output::stdout();
            state::run(&mut connection, args, batch_size, &mut out).await?;
            out.finish()
        }
        Command::Export(args) => export::run(&mut connection, args, batch_size)
            .await
            .map(|_| ()),
        Command::Rebuild(_) | Command::Verify(_) => Ok(()),
    }
}
