//! Prints docs/events.md (the event catalog) from the schema files; with
//! `--write`, writes it into the workspace's docs/ instead.

use lms_schemas::event_catalog::{render, CATALOG_PATH};
use std::path::Path;
use std::process::ExitCode;

fn run() -> Result<(), String> {
    let markdown = render().map_err(|e| e.to_string())?;
    match std::env::args().nth(1).as_deref() {
        None => {
            print!("{markdown}");
            Ok(())
        }
        Some("--write") => {
            let path = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("..")
                .join(CATALOG_PATH);
            std::fs::write(&path, markdown).map_err(|e| format!("{}: {e}", path.display()))?;
            eprintln!("wrote {}", path.display());
            Ok(())
        }
        Some(other) => Err(format!(
            "unknown argument {other}; usage: event-catalog [--write]"
        )),
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("event-catalog: {e}");
            ExitCode::FAILURE
        }
    }
}
