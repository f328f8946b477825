//! The result table: one row per figure, our number beside the raw baseline
//! measured in the same run, the ratio, the target and whether it is met.

use comfy_table::{presets, Cell, CellAlignment, Table};
use serde::Serialize;

/// How a figure is printed.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    PerSecond,
    Millis,
}

impl Unit {
    fn format(self, value: f64) -> String {
        match self {
            Unit::PerSecond => format!("{} /s", thousands(value)),
            Unit::Millis if value < 10.0 => format!("{value:.2} ms"),
            Unit::Millis => format!("{value:.1} ms"),
        }
    }
}

/// What a figure is measured against.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "value")]
pub enum Target {
    /// ours / raw at least this.
    RatioAtLeast(f64),
    /// ours below this (in the row's unit).
    Below(f64),
    /// ours at least this (in the row's unit).
    AtLeast(f64),
}

#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub workload: &'static str,
    pub metric: String,
    pub unit: Unit,
    pub ours: f64,
    pub raw: Option<f64>,
    /// What the raw baseline is (shown in the notes).
    pub raw_label: Option<String>,
    pub target: Option<Target>,
}

impl Row {
    pub fn new(workload: &'static str, metric: impl Into<String>, unit: Unit, ours: f64) -> Self {
        Row {
            workload,
            metric: metric.into(),
            unit,
            ours,
            raw: None,
            raw_label: None,
            target: None,
        }
    }

    pub fn raw(mut self, raw: f64, label: impl Into<String>) -> Self {
        self.raw = Some(raw);
        self.raw_label = Some(label.into());
        self
    }

    pub fn target(mut self, target: Target) -> Self {
        self.target = Some(target);
        self
    }

    pub fn ratio(&self) -> Option<f64> {
        self.raw.filter(|raw| *raw > 0.0).map(|raw| self.ours / raw)
    }

    pub fn met(&self) -> Option<bool> {
        match self.target? {
            Target::RatioAtLeast(min) => self.ratio().map(|r| r >= min),
            Target::Below(max) => Some(self.ours < max),
            Target::AtLeast(min) => Some(self.ours >= min),
        }
    }

    fn target_text(&self) -> String {
        match self.target {
            None => "—".into(),
            Some(Target::RatioAtLeast(min)) => format!("≥ {:.0}% of raw", min * 100.0),
            Some(Target::Below(max)) => format!("< {}", self.unit.format(max)),
            Some(Target::AtLeast(min)) => format!("≥ {}", self.unit.format(min)),
        }
    }
}

/// Everything a run found: rows, notes (sizes, errors, what each baseline is).
#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub rows: Vec<Row>,
    pub notes: Vec<String>,
}

impl Report {
    pub fn push(&mut self, row: Row) {
        self.rows.push(row);
    }

    pub fn note(&mut self, note: impl Into<String>) {
        self.notes.push(note.into());
    }

    /// The table as Markdown (pastes into docs/benchmarks.md as it is).
    pub fn table(&self) -> String {
        let mut table = Table::new();
        table.load_preset(presets::ASCII_MARKDOWN);
        table.set_header(vec![
            "workload",
            "metric",
            "ours",
            "raw baseline",
            "ratio",
            "target",
            "met?",
        ]);
        for row in &self.rows {
            let raw = row
                .raw
                .map(|raw| row.unit.format(raw))
                .unwrap_or_else(|| "—".into());
            let ratio = row
                .ratio()
                .map(|r| format!("{:.0}%", r * 100.0))
                .unwrap_or_else(|| "—".into());
            let met = match row.met() {
                Some(true) => "yes",
                Some(false) => "NO",
                None => "—",
            };
            table.add_row(vec![
                Cell::new(row.workload),
                Cell::new(&row.metric),
                Cell::new(row.unit.format(row.ours)).set_alignment(CellAlignment::Right),
                Cell::new(raw).set_alignment(CellAlignment::Right),
                Cell::new(ratio).set_alignment(CellAlignment::Right),
                Cell::new(row.target_text()),
                Cell::new(met),
            ]);
        }
        table.to_string()
    }
}

/// 12345.6 → "12,346".
pub fn thousands(value: f64) -> String {
    if !value.is_finite() {
        return value.to_string();
    }
    let digits = format!("{:.0}", value.abs());
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if value < 0.0 && digits != "0" {
        out.insert(0, '-');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(0.4), "0");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(thousands(1234.6), "1,235");
        assert_eq!(thousands(1_000_000.0), "1,000,000");
    }

    #[test]
    fn targets_decide_met() {
        let row = Row::new("commands", "throughput", Unit::PerSecond, 40.0)
            .raw(100.0, "raw")
            .target(Target::RatioAtLeast(0.5));
        assert_eq!(row.met(), Some(false));
        let row = Row::new("e2e", "lag p99", Unit::Millis, 80.0).target(Target::Below(100.0));
        assert_eq!(row.met(), Some(true));
        assert_eq!(Row::new("x", "y", Unit::Millis, 1.0).met(), None);
    }
}
