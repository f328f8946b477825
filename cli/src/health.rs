//! `grpc.health.v1.Health/Check`, once or polled until SERVING.

use crate::rpc::{self, code_name};
use anyhow::{bail, Context};
use std::time::{Duration, Instant};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

const POLL_EVERY: Duration = Duration::from_millis(500);

/// One check: the serving status, or why it could not be had.
pub async fn check(endpoint: &str, service: &str) -> anyhow::Result<ServingStatus> {
    let channel = rpc::channel(endpoint, Duration::from_secs(2)).await?;
    let reply = HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: service.to_string(),
        })
        .await
        .map_err(|status| {
            anyhow::anyhow!(
                "health check failed: {}: {}",
                code_name(status.code()),
                status.message()
            )
        })?;
    Ok(reply.into_inner().status())
}

/// Checks until SERVING; `wait` bounds the polling (none: check once).
pub async fn until_serving(
    endpoint: &str,
    service: &str,
    wait: Option<Duration>,
) -> anyhow::Result<()> {
    let deadline = wait.map(|w| Instant::now() + w);
    loop {
        let outcome = check(endpoint, service).await.and_then(|status| {
            if status == ServingStatus::Serving {
                Ok(())
            } else {
                bail!("service {service:?} is {}", status.as_str_name())
            }
        });
        match (outcome, deadline) {
            (Ok(()), _) => return Ok(()),
            // Not up yet: try again shortly.
            (Err(_), Some(deadline)) if Instant::now() + POLL_EVERY < deadline => {
                tokio::time::sleep(POLL_EVERY).await;
            }
            (Err(e), Some(_)) => {
                return Err(e).with_context(|| {
                    format!(
                        "{endpoint} not serving after {}s",
                        wait.map(|w| w.as_secs()).unwrap_or_default()
                    )
                })
            }
            (Err(e), None) => return Err(e),
        }
    }
}
