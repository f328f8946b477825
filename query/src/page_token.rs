//! Opaque page tokens for keyset pagination: the sort key of the last item
//! returned (timestamp in microseconds + id), tagged with the listing it
//! belongs to, hex-encoded. Not signed: a forged token only moves the cursor.

use crate::error::QueryError;
use uuid::Uuid;

/// Where the next page starts (exclusive): items sorting after this key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub micros: i64,
    pub id: Uuid,
}

pub const DEFAULT_PAGE_SIZE: u32 = 20;
pub const MAX_PAGE_SIZE: u32 = 100;

pub fn encode(listing: &str, cursor: Cursor) -> String {
    hex::encode(format!("{listing}|{}|{}", cursor.micros, cursor.id))
}

/// `None` for an empty token (first page).
pub fn decode(listing: &str, token: &str) -> Result<Option<Cursor>, QueryError> {
    if token.is_empty() {
        return Ok(None);
    }
    let invalid = || QueryError::invalid("page_token", "not a page token of this listing");
    let text = hex::decode(token)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(invalid)?;
    let mut parts = text.splitn(3, '|');
    let (Some(tag), Some(micros), Some(id)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(invalid());
    };
    if tag != listing {
        return Err(invalid());
    }
    let micros: i64 = micros.parse().map_err(|_| invalid())?;
    // Must be a representable timestamp (the SQL compares with timestamptz).
    chrono::DateTime::<chrono::Utc>::from_timestamp_micros(micros).ok_or_else(invalid)?;
    let id = Uuid::parse_str(id).map_err(|_| invalid())?;
    Ok(Some(Cursor { micros, id }))
}

/// `page_size` of a request: 0 means the default, above the maximum is invalid.
pub fn page_size(requested: u32) -> Result<u32, QueryError> {
    match requested {
        0 => Ok(DEFAULT_PAGE_SIZE),
        n if n <= MAX_PAGE_SIZE => Ok(n),
        _ => Err(QueryError::invalid(
            "page_size",
            format!("must be at most {MAX_PAGE_SIZE}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_other_listings() {
        let cursor = Cursor {
            micros: 1_764_000_000_000_123,
            id: Uuid::now_v7(),
        };
        let token = encode("courses", cursor);
        assert!(matches!(decode("courses", &token), Ok(Some(c)) if c == cursor));
        assert!(decode("invoices", &token).is_err());
        assert!(decode("courses", "zz").is_err());
        assert!(matches!(decode("courses", ""), Ok(None)));
    }
}
