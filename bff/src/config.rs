//! Settings of `lms-bff`: environment variables prefixed `LMS_`, with
//! defaults for the local setup (12-factor).

use lms_runtime::{LogFormat, SecretString, Settings};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct Config {
    /// HTTP listen address (the API under `/api`, `/openapi.json`, `/healthz`).
    pub http_addr: String,
    /// Prometheus `/metrics` listen address.
    pub metrics_addr: String,
    /// The gRPC endpoints behind the BFF.
    pub identity_endpoint: String,
    pub commands_endpoint: String,
    pub query_endpoint: String,
    /// Redis holding the sessions (the tokens never reach the browser).
    pub redis_url: SecretString,
    /// Key prefix: sessions live under `<prefix>:bff:session:<hash>`.
    pub redis_prefix: String,
    /// The tenant this BFF serves (one BFF per tenant's host name).
    pub tenant: String,
    /// Origins allowed to send state-changing requests, comma-separated
    /// (e.g. `https://lms.example.org`). Empty: the request's own host only.
    /// No CORS headers are ever sent: cross-origin reads stay closed.
    pub allowed_origins: String,
    /// Proxies in front of the BFF (the ingress controller's network,
    /// comma-separated) whose `X-Forwarded-For` names the client. Empty:
    /// the peer is the client. The BFF passes the client on to identity,
    /// whose login limit per address counts it.
    pub trusted_proxies: String,
    /// `Secure` on the session cookie; off only for plain-HTTP hosts other
    /// than localhost (browsers treat localhost as secure).
    pub cookie_secure: bool,
    /// Refresh the access token when it has fewer seconds left than this.
    pub refresh_margin_secs: u64,
    /// Deadline of each call to a backend service.
    pub upstream_timeout_ms: u64,
    /// The built web app (`npm run build` in `web/`), served at `/` with
    /// `index.html` for any other path the SPA routes. Missing: API only.
    pub web_dir: String,
    /// `text` or `json` logs.
    pub log_format: LogFormat,
    /// tracing filter, e.g. `info,lms_bff=debug`.
    pub log: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            http_addr: "127.0.0.1:8080".into(),
            metrics_addr: "127.0.0.1:9106".into(),
            identity_endpoint: "http://127.0.0.1:50053".into(),
            commands_endpoint: "http://127.0.0.1:50051".into(),
            query_endpoint: "http://127.0.0.1:50052".into(),
            redis_url: "redis://127.0.0.1:6379".into(),
            redis_prefix: "lms".into(),
            tenant: "default".into(),
            allowed_origins: String::new(),
            trusted_proxies: String::new(),
            cookie_secure: true,
            refresh_margin_secs: 30,
            upstream_timeout_ms: 10_000,
            web_dir: "web/dist".into(),
            log_format: LogFormat::Text,
            log: "info".into(),
        }
    }
}

impl Settings for Config {}

impl Config {
    /// The configured origins, trimmed, without empties.
    pub fn origins(&self) -> Vec<String> {
        self.allowed_origins
            .split(',')
            .map(|o| o.trim().trim_end_matches('/').to_string())
            .filter(|o| !o.is_empty())
            .collect()
    }
}
