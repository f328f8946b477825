//! `export --format jsonl|avro`: events in position order, filtered by
//! aggregate type and `recorded_at` window, to stdout or `--output FILE`.
//!
//! - `jsonl`: one JSON document per line, the stored row verbatim (every
//!   column; payload and metadata as stored, in their stored version).
//! - `avro`: an Avro object container file; see [`avro`] for its one schema.
//!
//! Reads page by page from one snapshot and writes as it goes; a progress bar
//! on stderr (only on a terminal, never with `--quiet`) shows positions
//! scanned, rate and ETA.

pub mod avro;

use crate::output::Output;
use crate::store::{self, EventFilter, PositionCursor};
use crate::{AggregateType, ReplayError};
use chrono::{DateTime, Utc};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// JSON Lines: one JSON object per event (the stored row).
    Jsonl,
    /// Avro object container file (one schema: see docs/replay.md).
    Avro,
}

#[derive(Debug, Clone, clap::Args)]
pub struct ExportArgs {
    #[arg(long, value_enum)]
    pub format: Format,
    /// Only this aggregate type (repeatable); default: all.
    #[arg(long = "type", value_enum, ignore_case = true)]
    pub types: Vec<AggregateType>,
    /// Only events recorded at or after this RFC 3339 time.
    #[arg(long, value_parser = parse_time)]
    pub from: Option<DateTime<Utc>>,
    /// Only events recorded before this RFC 3339 time.
    #[arg(long, value_parser = parse_time)]
    pub to: Option<DateTime<Utc>>,
    /// Write here (created as FILE.partial, renamed when complete); default: stdout.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    /// No progress bar and no summary on stderr.
    #[arg(long, short)]
    pub quiet: bool,
}

fn parse_time(s: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("expected an RFC 3339 time (2026-01-31T12:00:00Z), got '{s}': {e}"))
}

/// What an export wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    pub events: u64,
    pub scanned_to: i64,
}

pub async fn run(
    connection: &mut sqlx::PgConnection,
    args: &ExportArgs,
    batch_size: u32,
) -> Result<Summary, ReplayError> {
    if let (Some(from), Some(to)) = (args.from, args.to) {
        if from >= to {
            return Err(ReplayError::Usage(format!(
                "--from {} is not before --to {}",
                store::timestamp(&from),
                store::timestamp(&to)
            )));
        }
    }
    // Catalog order, each once, however they were given.
    let types: Vec<AggregateType> = AggregateType::ALL
        .into_iter()
        .filter(|t| args.types.contains(t))
        .collect();
    let filter = EventFilter {
        aggregate_types: types.iter().map(|t| t.as_str().to_string()).collect(),
        from: args.from,
        to: args.to,
    };
    // The Avro schema is checked before anything is read or written.
    let schema = match args.format {
        Format::Avro => Some(avro::ExportSchema::for_types(&types)?),
        Format::Jsonl => None,
    };
    let mut out = Output::create(args.output.as_deref())?;
    let mut snapshot = store::snapshot(connection).await?;
    let last_position = store::max_position(&mut snapshot).await?;
    let progress = progress_bar(args.quiet, last_position);
    let mut cursor = PositionCursor::new(filter, batch_size);
    let mut events = 0u64;

    match &schema {
        Some(schema) => {
            let header = serde_json::json!({
                "types": types.iter().map(|t| t.as_str()).collect::<Vec<_>>(),
                "from": args.from.as_ref().map(store::timestamp),
                "to": args.to.as_ref().map(store::timestamp),
                "last_position": last_position,
            });
            let mut writer = avro::EventWriter::new(schema, &mut out, &header)?;
            loop {
                let page = cursor.next_page(&mut snapshot).await?;
                if page.is_empty() {
                    break;
                }
                for row in &page {
                    writer.append(row)?;
                }
                events += page.len() as u64;
                show(&progress, &cursor, events);
            }
            writer.finish()?;
        }
        None => loop {
            let page = cursor.next_page(&mut snapshot).await?;
            if page.is_empty() {
                break;
            }
            for row in &page {
                serde_json::to_writer(&mut out, &row.to_document())
                    .map_err(|e| out.error(e.into()))?;
                out.write_all(b"\n").map_err(|e| out.error(e))?;
            }
            events += page.len() as u64;
            show(&progress, &cursor, events);
        },
    }
    snapshot
        .commit()
        .await
        .map_err(|e| ReplayError::database("closing the snapshot", e))?;
    let label = out.label().to_string();
    out.finish()?;
    progress.finish_and_clear();
    if !args.quiet {
        eprintln!(
            "exported {events} event(s) to {label} ({} up to position {last_position})",
            match args.format {
                Format::Jsonl => "jsonl",
                Format::Avro => "avro",
            }
        );
    }
    Ok(Summary {
        events,
        scanned_to: cursor.scanned_to(),
    })
}

fn progress_bar(quiet: bool, last_position: i64) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(
        Some(u64::try_from(last_position).unwrap_or(0)),
        ProgressDrawTarget::stderr(),
    );
    bar.set_message("0 events written");
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] [{bar:30}] {percent:>3}% of positions · {msg} · ETA {eta}",
    ) {
        bar.set_style(style);
    }
    bar
}

fn show(bar: &ProgressBar, cursor: &PositionCursor, events: u64) {
    if bar.is_hidden() {
        return;
    }
    bar.set_position(u64::try_from(cursor.scanned_to()).unwrap_or(0));
    let seconds = bar.elapsed().as_secs_f64().max(0.001);
    bar.set_message(format!(
        "{events} events written, {:.0} events/s",
        events as f64 / seconds
    ));
}
