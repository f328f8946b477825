//! Redis connection managers with the start-up retry policy, and the rule
//! for which Redis errors mean "not reachable right now".

use crate::retry;
use redis::aio::ConnectionManager;
use redis::{ErrorKind, RedisError, ServerErrorKind};
use secrecy::{ExposeSecret, SecretString};

/// A connection manager on `url` (it reconnects by itself after a drop),
/// retried while Redis is unavailable.
pub async fn connect(url: &SecretString) -> Result<ConnectionManager, RedisError> {
    let client = redis::Client::open(url.expose_secret())?;
    retry::at_startup("Redis", is_unavailable, || client.get_connection_manager()).await
}

/// Redis cannot serve us right now: the network failed or timed out, or the
/// server is loading its data set, read-only (a replica during failover),
/// or its cluster is reconfiguring.
pub fn is_unavailable(error: &RedisError) -> bool {
    error.is_io_error()
        || error.is_connection_dropped()
        || error.is_connection_refusal()
        || error.is_timeout()
        || matches!(
            error.kind(),
            ErrorKind::Server(
                ServerErrorKind::BusyLoading
                    | ServerErrorKind::ReadOnly
                    | ServerErrorKind::TryAgain
                    | ServerErrorKind::ClusterDown
                    | ServerErrorKind::MasterDown
            )
        )
}
