//! Loopback ports for child processes. In-process servers bind
//! `127.0.0.1:0` themselves instead: a port found free here may be taken
//! before the child binds it.

/// A port free right now.
pub fn free_port() -> u16 {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    probe.local_addr().expect("local address").port()
}

/// `127.0.0.1:<free port>`.
pub fn free_addr() -> String {
    format!("127.0.0.1:{}", free_port())
}
