//! Postgres pools: one connect with the start-up retry policy, and one rule
//! for which errors mean "the database is not reachable right now" (retry
//! later; the data is not at fault) as opposed to "this statement is wrong".

use crate::retry;
use secrecy::{ExposeSecret, SecretString};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;
use std::str::FromStr;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum DatabaseError {
    /// The URL does not parse (the message never repeats the URL).
    #[error("LMS_DATABASE_URL is not a valid Postgres URL")]
    InvalidUrl(#[source] sqlx::Error),
    #[error("connecting to Postgres at {at}")]
    Connect {
        at: String,
        #[source]
        source: sqlx::Error,
    },
}

/// How long a caller waits for a pooled connection before the pool answers
/// `PoolTimedOut` (an unavailable error, retried by callers that retry).
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// The connect options of `url`.
pub fn options(url: &SecretString) -> Result<PgConnectOptions, DatabaseError> {
    PgConnectOptions::from_str(url.expose_secret()).map_err(DatabaseError::InvalidUrl)
}

/// The options of a service's pool: `url` with a `statement_timeout` of
/// `statement_timeout_ms` on every connection (`LMS_DB_STATEMENT_TIMEOUT_MS`;
/// zero: none). A statement that runs longer is cancelled (SQLSTATE 57014)
/// and its connection returns to the pool.
pub fn service_options(
    url: &SecretString,
    statement_timeout_ms: u64,
) -> Result<PgConnectOptions, DatabaseError> {
    let options = options(url)?;
    if statement_timeout_ms == 0 {
        return Ok(options);
    }
    Ok(options.options([("statement_timeout", statement_timeout_ms.to_string())]))
}

/// A pool of `max_connections` on `url`, retried while Postgres is
/// unavailable (see [`is_unavailable`]); a wrong password fails at once.
pub async fn connect(url: &SecretString, max_connections: u32) -> Result<PgPool, DatabaseError> {
    connect_with(options(url)?, max_connections).await
}

/// [`connect`] with options the caller tuned (e.g. session settings).
pub async fn connect_with(
    options: PgConnectOptions,
    max_connections: u32,
) -> Result<PgPool, DatabaseError> {
    let at = describe(&options);
    retry::at_startup("Postgres", is_unavailable, || {
        PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options.clone())
    })
    .await
    .map_err(|source| DatabaseError::Connect { at, source })
}

/// Runs `migrator` on a connection of its own, closed afterwards so that
/// nothing set on it leaks into the pool: without the service's statement
/// timeout (a migration may take longer than any request) and, with
/// `schema`, in that schema (created if missing), where the migrator keeps
/// its bookkeeping table apart from other crates' `_sqlx_migrations`.
pub async fn run_migrations(
    pool: &PgPool,
    migrator: &sqlx::migrate::Migrator,
    schema: Option<&str>,
) -> Result<(), sqlx::migrate::MigrateError> {
    let mut conn = pool.acquire().await?.detach();
    if let Some(schema) = schema {
        sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
            .execute(&mut conn)
            .await?;
        sqlx::query(&format!("SET search_path TO {schema}"))
            .execute(&mut conn)
            .await?;
    }
    sqlx::query("SET statement_timeout = 0")
        .execute(&mut conn)
        .await?;
    let outcome = migrator.run(&mut conn).await;
    let _ = sqlx::Connection::close(conn).await;
    outcome
}

/// `user@host:port/database`: where a connection goes, for messages (never
/// the password).
pub fn describe(options: &PgConnectOptions) -> String {
    format!(
        "{}@{}:{}/{}",
        options.get_username(),
        options.get_host(),
        options.get_port(),
        options.get_database().unwrap_or_default()
    )
}

/// The database cannot serve us right now, whatever we send: the network
/// or pool failed, or the server says so (SQLSTATE class 08 connection
/// exceptions; 53 insufficient resources; 57P01–57P03 shutting down,
/// crashed, starting; 25006 read-only, a replica during failover; 40001 and
/// 40P01 serialization failure and deadlock, which succeed when retried;
/// 55P03 lock not available). Everything else is about the statement or
/// the data, and retrying it gives the same answer.
pub fn is_unavailable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(e) => e.code().is_some_and(|code| sqlstate_is_transient(&code)),
        _ => false,
    }
}

fn sqlstate_is_transient(code: &str) -> bool {
    code.starts_with("08")
        || code.starts_with("53")
        || matches!(
            code,
            "57P01" | "57P02" | "57P03" | "25006" | "40001" | "40P01" | "55P03"
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlstates_of_a_restart_failover_or_conflict_are_transient() {
        for code in [
            "08006", "08001", "53300", "57P01", "57P03", "25006", "40001", "40P01",
        ] {
            assert!(sqlstate_is_transient(code), "{code}");
        }
    }

    #[test]
    fn sqlstates_about_the_statement_or_data_are_not() {
        for code in ["23505", "23503", "42P01", "42601", "22001", "57014"] {
            assert!(!sqlstate_is_transient(code), "{code}");
        }
    }

    #[test]
    fn pool_and_network_failures_are_unavailable_and_row_not_found_is_not() {
        assert!(is_unavailable(&sqlx::Error::PoolTimedOut));
        assert!(is_unavailable(&sqlx::Error::Io(std::io::Error::from(
            std::io::ErrorKind::ConnectionReset
        ))));
        assert!(!is_unavailable(&sqlx::Error::RowNotFound));
    }

    #[test]
    fn a_connection_is_described_without_its_password() {
        let url = SecretString::from("postgres://app:hunter2@db:5433/lms");
        let described = options(&url).map(|o| describe(&o));
        assert_eq!(described.ok().as_deref(), Some("app@db:5433/lms"));
    }

    #[test]
    fn a_bad_url_is_refused_without_repeating_it() {
        let url = SecretString::from("postgres://app:hunter2@db:notaport/lms");
        let Err(error) = options(&url) else {
            panic!("a URL with a bad port parses");
        };
        assert!(!format!("{error} {error:?}").contains("hunter2"));
    }
}
