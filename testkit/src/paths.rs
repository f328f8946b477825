//! Where the checkout's tools are.

use std::path::PathBuf;

/// The workspace root (testkit sits one level below it).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .expect("testkit has a parent folder")
}

/// The Python with the project's test packages (`LMS_PYTHON`, else the
/// venv `scripts/infra.sh up` makes).
pub fn python() -> PathBuf {
    let python = std::env::var_os("LMS_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".lms/venv/bin/python"));
    assert!(
        python.exists(),
        "{} is missing: run scripts/infra.sh up (it makes the venv) or set LMS_PYTHON",
        python.display()
    );
    python
}

/// A fresh folder under the system's temp dir, removed on drop unless the
/// test failed (then its path is printed).
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("lms-{tag}-{}", uuid::Uuid::now_v7().simple()));
        std::fs::create_dir_all(&dir).expect("create a temp dir");
        TempDir(dir)
    }

    pub fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("kept {}", self.0.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}
