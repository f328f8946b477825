//! `history <aggregate-type> <id>`: every event of one aggregate, in sequence
//! order, with who (actor), when (occurred / recorded), why (correlation,
//! causation, command). A table for people (one per page of `--batch-size`
//! events, each with its header), or JSON Lines (`--json`): one document per
//! event, the stored row verbatim, the same shape as `export --format jsonl`.

use crate::output::Output;
use crate::store::{self, AggregateCursor, EventRow, Until};
use crate::{AggregateType, ReplayError};
use comfy_table::{presets, Table};
use sqlx::PgConnection;
use std::io::Write;

#[derive(Debug, Clone, clap::Args)]
pub struct HistoryArgs {
    /// Course, Enrollment or Subscription.
    #[arg(value_enum, ignore_case = true)]
    pub aggregate_type: AggregateType,
    /// The aggregate id (the `aggregate_id` column).
    pub aggregate_id: String,
    /// JSON Lines: one JSON document per event (the stored row) instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Add the payload (compact JSON) as the table's last column.
    #[arg(long, conflicts_with = "json")]
    pub payload: bool,
}

const HEADER: [&str; 10] = [
    "seq",
    "event",
    "recorded_at",
    "occurred_at",
    "actor",
    "correlation_id",
    "causation_id",
    "command",
    "position",
    "event_id",
];

pub async fn run(
    connection: &mut PgConnection,
    args: &HistoryArgs,
    batch_size: u32,
    out: &mut Output,
) -> Result<(), ReplayError> {
    let mut snapshot = store::snapshot(connection).await?;
    let mut cursor = AggregateCursor::new(
        args.aggregate_type.as_str(),
        &args.aggregate_id,
        Until::End,
        batch_size,
    );
    let mut count = 0usize;
    loop {
        let page = cursor.next_page(&mut snapshot).await?;
        if page.is_empty() {
            break;
        }
        count += page.len();
        if args.json {
            for row in &page {
                serde_json::to_writer(&mut *out, &row.to_document())
                    .map_err(|e| out.error(e.into()))?;
                writeln!(out).map_err(|e| out.error(e))?;
            }
        } else {
            writeln!(out, "{}", table(&page, args.payload)).map_err(|e| out.error(e))?;
        }
    }
    if count == 0 {
        return Err(ReplayError::NotFound(format!(
            "no {} with id {} in the event store",
            args.aggregate_type, args.aggregate_id
        )));
    }
    if !args.json {
        writeln!(
            out,
            "{count} event(s) of {} {}",
            args.aggregate_type, args.aggregate_id
        )
        .map_err(|e| out.error(e))?;
    }
    snapshot
        .commit()
        .await
        .map_err(|e| ReplayError::database("closing the snapshot", e))
}

fn table(rows: &[EventRow], with_payload: bool) -> Table {
    let mut table = Table::new();
    table.load_preset(presets::ASCII_MARKDOWN);
    let mut header: Vec<&str> = HEADER.to_vec();
    if with_payload {
        header.push("payload");
    }
    table.set_header(header);
    for row in rows {
        let meta = |key: &str| row.meta(key).unwrap_or("-").to_string();
        let mut cells = vec![
            row.sequence.to_string(),
            format!("{} v{}", row.event_type, row.event_version),
            store::timestamp(&row.recorded_at),
            meta("occurred_at"),
            format!("{} {}", meta("actor_role"), meta("actor_id")),
            meta("correlation_id"),
            meta("causation_id"),
            format!("{} {}", meta("command_type"), meta("command_id")),
            row.position.to_string(),
            row.event_id.to_string(),
        ];
        if with_payload {
            cells.push(row.payload.to_string());
        }
        table.add_row(cells);
    }
    table
}
