//! What a gRPC status says: its reason and the fields it names.

use tonic::{Code, Status};
use tonic_types::StatusExt;

/// The `ErrorInfo.reason` of a status, if any.
pub fn reason(status: &Status) -> Option<String> {
    status.get_details_error_info().map(|info| info.reason)
}

/// The `BadRequest` field names of a status.
pub fn violated_fields(status: &Status) -> Vec<String> {
    status
        .get_details_bad_request()
        .map(|br| br.field_violations.into_iter().map(|v| v.field).collect())
        .unwrap_or_default()
}

pub fn assert_refused(status: &Status, code: Code, expected_reason: &str) {
    assert_eq!(status.code(), code, "unexpected status: {status:?}");
    assert_eq!(
        reason(status).as_deref(),
        Some(expected_reason),
        "status: {status:?}"
    );
}
