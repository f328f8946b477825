//! `state <aggregate-type> <id> [--at <RFC 3339 time | sequence>]`: the
//! aggregate as it was then, folded by the domain's own `Aggregate::apply`
//! from its stored events, each first brought to the current event version by
//! lms-schemas' upcasters (as the command service loads them).
//!
//! `--at <time>` folds the events recorded at or before that time
//! (`recorded_at`, the store's clock); `--at <n>` folds sequences 1..=n.

use crate::output::Output;
use crate::store::{self, AggregateCursor, EventRow, StreamBounds, Until};
use crate::{AggregateType, ReplayError};
use chrono::{DateTime, Utc};
use cqrs_es::persist::{EventUpcaster, SerializedEvent};
use cqrs_es::{Aggregate, DomainEvent};
use lms_domain::course::Course;
use lms_domain::enrollment::Enrollment;
use lms_domain::subscription::Subscription;
use serde::Serialize;
use serde_json::{json, Value as Json};
use sqlx::PgConnection;
use std::fmt;
use std::io::Write;
use std::str::FromStr;

#[derive(Debug, Clone, clap::Args)]
pub struct StateArgs {
    /// Course, Enrollment or Subscription.
    #[arg(value_enum, ignore_case = true)]
    pub aggregate_type: AggregateType,
    /// The aggregate id (the `aggregate_id` column).
    pub aggregate_id: String,
    /// An RFC 3339 time (events recorded at or before it) or a sequence
    /// number (events 1..=n); default: every event.
    #[arg(long)]
    pub at: Option<At>,
    /// One line of JSON instead of an indented document.
    #[arg(long)]
    pub compact: bool,
}

/// The point in an aggregate's life to fold to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum At {
    Sequence(i64),
    Time(DateTime<Utc>),
}

impl FromStr for At {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
            return match s.parse::<i64>() {
                Ok(n) if n >= 1 => Ok(At::Sequence(n)),
                _ => Err(format!(
                    "sequence numbers start at 1 and fit in 63 bits, got {s}"
                )),
            };
        }
        DateTime::parse_from_rfc3339(s)
            .map(|t| At::Time(t.with_timezone(&Utc)))
            .map_err(|e| {
                format!(
                    "expected an RFC 3339 time (2026-01-31T12:00:00Z) or a sequence number, got '{s}': {e}"
                )
            })
    }
}

impl fmt::Display for At {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            At::Sequence(n) => write!(f, "sequence {n}"),
            At::Time(t) => write!(f, "{}", store::timestamp(t)),
        }
    }
}

/// The last event folded in.
struct Folded<A> {
    state: A,
    events: usize,
    last: Option<EventRow>,
}

pub async fn run(
    connection: &mut PgConnection,
    args: &StateArgs,
    batch_size: u32,
    out: &mut Output,
) -> Result<(), ReplayError> {
    let mut snapshot = store::snapshot(connection).await?;
    let (kind, id) = (args.aggregate_type, args.aggregate_id.as_str());
    let bounds = store::stream_bounds(&mut snapshot, kind.as_str(), id)
        .await?
        .ok_or_else(|| {
            ReplayError::NotFound(format!("no {kind} with id {id} in the event store"))
        })?;
    let until = match args.at {
        None => Until::End,
        Some(At::Sequence(n)) if n > bounds.last_sequence => {
            return Err(ReplayError::NotFound(format!(
                "{kind} {id} has no sequence {n}: its stream ends at {}",
                bounds.last_sequence
            )))
        }
        Some(At::Sequence(n)) => Until::Sequence(n),
        Some(At::Time(t)) if t < bounds.first_recorded_at => {
            return Err(ReplayError::NotFound(format!(
                "{kind} {id} did not exist yet at {}: its first event was recorded at {}",
                store::timestamp(&t),
                store::timestamp(&bounds.first_recorded_at)
            )))
        }
        Some(At::Time(t)) => Until::RecordedAt(t),
    };
    let mut cursor = AggregateCursor::new(kind.as_str(), id, until, batch_size);
    let document = match kind {
        AggregateType::Course => document(
            fold::<Course>(&mut cursor, &mut snapshot).await?,
            args,
            &bounds,
        )?,
        AggregateType::Enrollment => document(
            fold::<Enrollment>(&mut cursor, &mut snapshot).await?,
            args,
            &bounds,
        )?,
        AggregateType::Subscription => document(
            fold::<Subscription>(&mut cursor, &mut snapshot).await?,
            args,
            &bounds,
        )?,
    };
    snapshot
        .commit()
        .await
        .map_err(|e| ReplayError::database("closing the snapshot", e))?;
    let text = if args.compact {
        serde_json::to_string(&document)
    } else {
        serde_json::to_string_pretty(&document)
    }
    .map_err(|e| ReplayError::Internal(format!("serializing the state: {e}")))?;
    writeln!(out, "{text}").map_err(|e| out.error(e))
}

async fn fold<A: Aggregate>(
    cursor: &mut AggregateCursor,
    connection: &mut PgConnection,
) -> Result<Folded<A>, ReplayError> {
    let upcasters = lms_schemas::upcasters();
    let mut folded = Folded {
        state: A::default(),
        events: 0,
        last: None,
    };
    loop {
        let page = cursor.next_page(&mut *connection).await?;
        let Some(last) = page.last().cloned() else {
            break;
        };
        for row in &page {
            let event = decode::<A>(row, &upcasters)?;
            folded.state.apply(event);
        }
        folded.events += page.len();
        folded.last = Some(last);
    }
    Ok(folded)
}

/// A stored event → the domain event of the current version.
pub fn decode<A: Aggregate>(
    row: &EventRow,
    upcasters: &[Box<dyn EventUpcaster>],
) -> Result<A::Event, ReplayError> {
    let sequence =
        usize::try_from(row.sequence).map_err(|_| row.bad("negative sequence number"))?;
    let current = lms_schemas::upcast::upcast(
        SerializedEvent::new(
            row.aggregate_id.clone(),
            sequence,
            row.aggregate_type.clone(),
            row.event_type.clone(),
            row.event_version.clone(),
            row.payload.clone(),
            row.metadata.clone(),
        ),
        upcasters,
    );
    let event: A::Event = serde_json::from_value(current.payload)
        .map_err(|e| row.bad(format!("payload does not decode: {e}")))?;
    if event.event_type() != row.event_type {
        return Err(row.bad(format!(
            "payload is a {}, the row says {}",
            event.event_type(),
            row.event_type
        )));
    }
    // An event written by a newer build: folding it as if it were ours could
    // silently drop what the newer version added.
    if event.event_version() != current.event_version {
        return Err(row.bad(format!(
            "version {} (after upcasting) is not the version {} this build writes",
            current.event_version,
            event.event_version()
        )));
    }
    Ok(event)
}

fn document<A: Serialize>(
    folded: Folded<A>,
    args: &StateArgs,
    bounds: &StreamBounds,
) -> Result<Json, ReplayError> {
    let Some(last) = folded.last else {
        return Err(ReplayError::NotFound(format!(
            "{} {} has no event at {}",
            args.aggregate_type,
            args.aggregate_id,
            args.at
                .map_or_else(|| "the end".to_string(), |a| a.to_string())
        )));
    };
    let state = serde_json::to_value(&folded.state)
        .map_err(|e| ReplayError::Internal(format!("serializing the state: {e}")))?;
    let at = match args.at {
        None => Json::Null,
        Some(At::Sequence(n)) => json!(n),
        Some(At::Time(t)) => json!(store::timestamp(&t)),
    };
    Ok(json!({
        "aggregate_type": args.aggregate_type.as_str(),
        "aggregate_id": args.aggregate_id,
        "at": at,
        "sequence": last.sequence,
        "position": last.position,
        "recorded_at": store::timestamp(&last.recorded_at),
        "event_type": last.event_type,
        "events_applied": folded.events,
        "latest_sequence": bounds.last_sequence,
        "state": state,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_is_a_sequence_or_an_rfc3339_time() {
        assert_eq!("7".parse::<At>(), Ok(At::Sequence(7)));
        let t = "2026-01-31T12:00:00.5+01:00".parse::<At>();
        assert_eq!(
            t.map(|a| a.to_string()),
            Ok("2026-01-31T11:00:00.500000Z".to_string())
        );
        assert!("0".parse::<At>().is_err());
        assert!("yesterday".parse::<At>().is_err());
        assert!("2026-01-31".parse::<At>().is_err());
    }
}
