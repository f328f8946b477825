//! A service's log, captured to a file, and the check that no secret is in it.

use crate::paths::TempDir;
use std::path::PathBuf;
use std::process::Stdio;

/// A file a child's stdout and stderr both write to.
pub struct CapturedLog {
    pub path: PathBuf,
}

impl CapturedLog {
    pub fn new(dir: &TempDir, name: &str) -> CapturedLog {
        CapturedLog {
            path: dir.path().join(format!("{name}.log")),
        }
    }

    /// (stdout, stderr) for `Command::stdout` / `stderr`.
    pub fn stdio(&self) -> (Stdio, Stdio) {
        let file = std::fs::File::create(&self.path).expect("create the log file");
        let copy = file.try_clone().expect("clone the log file");
        (Stdio::from(file), Stdio::from(copy))
    }

    pub fn text(&self) -> String {
        std::fs::read_to_string(&self.path).expect("read the log")
    }

    /// Panics naming `what` when the log holds any of `secrets` (or the
    /// last 24 characters of one: a token's signature alone is as bad).
    pub fn assert_holds_none(&self, secrets: &[(&str, &str)]) {
        let text = self.text();
        for (what, secret) in secrets {
            let tail = &secret[secret.len().saturating_sub(24)..];
            assert!(!tail.is_empty(), "{what}: an empty secret proves nothing");
            assert!(
                !text.contains(tail),
                "{what} is in the log {}",
                self.path.display()
            );
        }
    }
}
