//! A PostgreSQL server of this test's own (a fresh cluster in a temp dir,
//! from the installed PostgreSQL 15 binaries), so the test can stop and
//! start it without disturbing others.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const BIN: &str = "/usr/lib/postgresql/15/bin";

pub struct PrivatePostgres {
    pub port: u16,
    dir: PathBuf,
}

/// Runs a PostgreSQL tool as the `postgres` user when we are root (the
/// server refuses to run as root), else as ourselves.
fn tool(name: &str) -> Command {
    let program = Path::new(BIN).join(name);
    // `id -u`: our uid without an unsafe call.
    let root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false);
    if root {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    } else {
        Command::new(program)
    }
}

fn run(mut command: Command, what: &str) {
    let output = command
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        output.status.success(),
        "{what}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

impl PrivatePostgres {
    pub async fn start() -> PrivatePostgres {
        let dir = std::env::temp_dir().join(format!("lms-pg-{}", uuid::Uuid::now_v7().simple()));
        std::fs::create_dir_all(&dir).expect("postgres dir");
        // The cluster's owner must own the directory.
        let _ = Command::new("chown")
            .arg("postgres:postgres")
            .arg(&dir)
            .status();
        let port = crate::ports::free_port();
        let data = dir.join("data");
        let mut initdb = tool("initdb");
        initdb.arg("-D").arg(&data).args([
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        ]);
        run(initdb, "initdb");
        let conf = format!(
            "port = {port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{}'\n\
             max_connections = 200\nshared_buffers = 32MB\nfsync = on\n",
            dir.display()
        );
        let mut settings = std::fs::OpenOptions::new()
            .append(true)
            .open(data.join("postgresql.conf"))
            .expect("postgresql.conf");
        std::io::Write::write_all(&mut settings, conf.as_bytes()).expect("settings");
        start_server(&dir);
        PrivatePostgres { port, dir }
    }

    /// Where tests create their databases on it.
    pub fn admin_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Stops the server (`fast`: sessions ended with 57P01, a clean
    /// shutdown; `immediate`: as a crash, recovered from the WAL at the next
    /// start), waits `down_for`, and starts it again.
    pub async fn restart(&self, mode: &str, down_for: std::time::Duration) {
        let (dir, mode) = (self.dir.clone(), mode.to_string());
        tokio::task::spawn_blocking(move || stop_server(&dir, &mode))
            .await
            .expect("stop");
        tokio::time::sleep(down_for).await;
        let dir = self.dir.clone();
        tokio::task::spawn_blocking(move || start_server(&dir))
            .await
            .expect("start");
    }
}

fn start_server(dir: &Path) {
    let mut start = tool("pg_ctl");
    start
        .arg("-D")
        .arg(dir.join("data"))
        .arg("-l")
        .arg(dir.join("server.log"))
        .args(["-w", "-t", "60", "start"]);
    run(start, "pg_ctl start");
}

fn stop_server(dir: &Path, mode: &str) {
    let mut stop = tool("pg_ctl");
    stop.arg("-D")
        .arg(dir.join("data"))
        .args(["-w", "-t", "60", "-m", mode, "stop"]);
    run(stop, "pg_ctl stop");
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let mut stop = tool("pg_ctl");
        stop.arg("-D")
            .arg(self.dir.join("data"))
            .args(["-w", "-m", "immediate", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let _ = stop.status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
