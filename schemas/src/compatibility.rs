//! BACKWARD_TRANSITIVE: a new version must read data written with every older
//! one. `Partial` (resolution may fail for some data) counts as incompatible,
//! as in the schema registry.

use apache_avro::schema_compatibility::{Compatibility, SchemaCompatibility};
use apache_avro::Schema;

/// Why `candidate` cannot be the next version: one line per older version it
/// cannot read (`older` is oldest first; its index + 1 is the version number).
pub fn check_backward_transitive(candidate: &Schema, older: &[Schema]) -> Result<(), Vec<String>> {
    let problems: Vec<String> = older
        .iter()
        .enumerate()
        .filter_map(
            |(i, writer)| match SchemaCompatibility::can_read(writer, candidate) {
                Ok(Compatibility::Full) => None,
                Ok(Compatibility::Partial) => Some(format!(
                    "v{}: only partially readable (some values would fail)",
                    i + 1
                )),
                Err(e) => Some(format!("v{}: {e}", i + 1)),
            },
        )
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}
