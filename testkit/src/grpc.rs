//! Loopback listeners for an in-process gRPC service and its metrics, and
//! a channel to it.

use std::net::SocketAddr;
use tokio::net::TcpListener;
use tonic::transport::Channel;

/// gRPC and metrics listeners on free loopback ports, with their addresses.
pub(crate) async fn listeners() -> (TcpListener, SocketAddr, TcpListener, SocketAddr) {
    let grpc = TcpListener::bind("127.0.0.1:0").await.expect("bind grpc");
    let metrics = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind metrics");
    let addr = grpc.local_addr().expect("grpc addr");
    let metrics_addr = metrics.local_addr().expect("metrics addr");
    (grpc, addr, metrics, metrics_addr)
}

/// A channel to a service started as a process, once it listens on `addr`
/// (within 30 s).
pub async fn when_listening(addr: &str, what: &str) -> Channel {
    let endpoint = Channel::from_shared(format!("http://{addr}")).expect("endpoint");
    crate::eventually(std::time::Duration::from_secs(30), || {
        let endpoint = endpoint.clone();
        async move { endpoint.connect().await.is_ok() }
    })
    .await
    .unwrap_or_else(|_| panic!("{what} does not listen on {addr}"));
    endpoint
        .connect()
        .await
        .unwrap_or_else(|e| panic!("connect to the {what}: {e}"))
}

/// A channel to the service at `addr`.
pub(crate) async fn connect(addr: SocketAddr, what: &str) -> Channel {
    Channel::from_shared(format!("http://{addr}"))
        .expect("endpoint")
        .connect()
        .await
        .unwrap_or_else(|e| panic!("connect to the {what}: {e}"))
}
