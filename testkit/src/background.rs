//! A service a test runs in-process on a task of its own: cancelled when
//! dropped (also when the test fails), or stopped and awaited.

use lms_runtime::Shutdown;
use std::future::Future;
use tokio::task::JoinHandle;

pub struct Background<T: Send + 'static> {
    shutdown: Shutdown,
    task: Option<JoinHandle<T>>,
}

impl<T: Send + 'static> Background<T> {
    /// Spawns `run` with the shutdown token it must stop on.
    pub fn spawn<F, Fut>(run: F) -> Self
    where
        F: FnOnce(Shutdown) -> Fut,
        Fut: Future<Output = T> + Send + 'static,
    {
        let shutdown = Shutdown::new();
        let task = tokio::spawn(run(shutdown.clone()));
        Self {
            shutdown,
            task: Some(task),
        }
    }

    /// Cancels the task and waits for what it returns; a panic in it
    /// fails the test, naming `what`.
    pub async fn stop(mut self, what: &str) -> T {
        self.shutdown.cancel();
        let task = self.task.take().expect("a task is stopped once");
        task.await.unwrap_or_else(|e| panic!("{what} task: {e}"))
    }
}

impl<T: Send + 'static> Drop for Background<T> {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}
