//! Child processes: a workspace binary with nothing inherited from the
//! developer's `LMS_*` environment, killed when the test ends.

use std::ffi::OsStr;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// A command for a service binary (pass `env!("CARGO_BIN_EXE_<name>")`,
/// known only to the tests of the package that builds it): every inherited
/// `LMS_*` variable removed (a test sets what it means), logs at
/// `LMS_TEST_CHILD_LOG` (default `warn`).
pub fn service(path: impl AsRef<OsStr>) -> Command {
    let mut command = Command::new(path);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("LMS_") {
            command.env_remove(name);
        }
    }
    command.env(
        "LMS_LOG",
        std::env::var("LMS_TEST_CHILD_LOG").unwrap_or_else(|_| "warn".into()),
    );
    command
}

/// The children's stdout/stderr: shown with `LMS_TEST_CHILD_LOG`, else dropped.
pub fn child_output() -> Stdio {
    match std::env::var("LMS_TEST_CHILD_LOG") {
        Ok(_) => Stdio::inherit(),
        Err(_) => Stdio::null(),
    }
}

/// Sends `signal` (e.g. `-TERM`, `-KILL`, `-STOP`) to a child.
pub fn kill(child: &Child, signal: &str) {
    let status = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill {signal} {}", child.id());
}

/// Waits for a child to exit (blocking: call from a multi-thread runtime).
pub fn wait_exit(child: &mut Child, timeout: Duration) -> ExitStatus {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("child status") {
            return status;
        }
        assert!(Instant::now() < deadline, "did not exit in {timeout:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Children killed when the test ends, also when it fails.
#[derive(Default)]
pub struct Children(pub Vec<Child>);

impl Drop for Children {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A service process: killed when dropped (also when the test fails),
/// stopped with SIGTERM by [`Running::terminate`].
pub struct Running(Option<Child>);

impl Running {
    pub fn spawn(command: &mut Command) -> Running {
        Running(Some(command.spawn().expect("start the service")))
    }

    /// SIGTERM, then waits (off the async threads) up to `timeout` for the
    /// exit: its status.
    pub async fn terminate(mut self, timeout: Duration) -> ExitStatus {
        let mut child = self.0.take().expect("a running child");
        kill(&child, "-TERM");
        let (child, status) = tokio::task::spawn_blocking(move || {
            let status = wait_exit(&mut child, timeout);
            (child, status)
        })
        .await
        .expect("wait for the child");
        drop(Children(vec![child]));
        status
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(child) = self.0.take() {
            drop(Children(vec![child]));
        }
    }
}
