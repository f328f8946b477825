//! Reading a service's Prometheus `/metrics`.

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The `/metrics` page at `addr` (HTTP/1.0), or "" when nothing answers.
pub async fn scrape(addr: &str) -> String {
    let Ok(mut stream) = tokio::net::TcpStream::connect(addr).await else {
        return String::new();
    };
    let request = format!("GET /metrics HTTP/1.0\r\nHost: {addr}\r\n\r\n");
    if stream.write_all(request.as_bytes()).await.is_err() {
        return String::new();
    }
    let mut body = String::new();
    let _ = stream.read_to_string(&mut body).await;
    body
}

/// The value of the first line starting with `series`, labels included
/// (e.g. `lms_projection_assigned_partitions{projection="roster"}`).
pub fn metric(body: &str, series: &str) -> Option<f64> {
    body.lines()
        .find_map(|line| line.strip_prefix(series))
        .and_then(|rest| rest.trim().parse().ok())
}
