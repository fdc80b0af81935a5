//! The one cancellation path: SIGTERM or Ctrl-C cancels a single token that
//! every part of the process (HTTP server, committers, workers, metrics
//! listener) watches. Once they have all stopped, the command returns and
//! `main` sends the spans still buffered (`telemetry::Telemetry::shutdown`):
//! last, so the spans of the work finished during shutdown go too. A
//! background task that fails cancels the same token
//! ([`BackgroundTasks`]).

use std::sync::{Arc, Mutex};

use tokio_util::{sync::CancellationToken, task::TaskTracker};

pub fn on_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let cancel = token.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutdown requested; finishing work in flight");
        cancel.cancel();
    });
    token
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler installs");
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// The tasks that run beside a process's main work (retention, sign-ups,
/// metrics). None of them may die unseen: one that panics, or returns while
/// the process is not shutting down, is logged, cancels the shutdown token
/// so the whole process stops, and makes [`BackgroundTasks::finish`] an
/// error, so the process exits non-zero and its supervisor restarts it.
pub struct BackgroundTasks {
    tracker: TaskTracker,
    shutdown: CancellationToken,
    failure: Arc<Mutex<Option<String>>>,
}

impl BackgroundTasks {
    pub fn new(shutdown: &CancellationToken) -> Self {
        Self {
            tracker: TaskTracker::new(),
            shutdown: shutdown.clone(),
            failure: Arc::default(),
        }
    }

    /// Runs `task`, named `name` in the report if it fails.
    pub fn spawn<F>(&self, name: &'static str, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let shutdown = self.shutdown.clone();
        let failure = Arc::clone(&self.failure);
        let inner = tokio::spawn(task);
        self.tracker.spawn(async move {
            let why = match inner.await {
                Ok(()) if shutdown.is_cancelled() => return,
                Ok(()) => "stopped while the process was running".to_owned(),
                Err(error) => panic_message(error),
            };
            tracing::error!(task = name, why = %why, "background task failed; shutting down");
            failure
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .get_or_insert(format!("background task {name} failed: {why}"));
            shutdown.cancel();
        });
    }

    /// Waits for every task (they stop with the shutdown token); an error
    /// names the first that failed.
    pub async fn finish(self) -> anyhow::Result<()> {
        self.tracker.close();
        self.tracker.wait().await;
        let failure = self
            .failure
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
        match failure {
            Some(why) => Err(anyhow::anyhow!(why)),
            None => Ok(()),
        }
    }
}

fn panic_message(error: tokio::task::JoinError) -> String {
    match error.try_into_panic() {
        Ok(payload) => payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .map_or_else(|| "panicked".to_owned(), |m| format!("panicked: {m}")),
        Err(_) => "cancelled".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_panicking_task_stops_the_process_and_is_named() {
        let shutdown = CancellationToken::new();
        let tasks = BackgroundTasks::new(&shutdown);
        let watcher = shutdown.clone();
        tasks.spawn("waits", async move { watcher.cancelled().await });
        tasks.spawn("retention", async { panic!("cutoff out of range") });
        tokio::time::timeout(Duration::from_secs(5), shutdown.cancelled())
            .await
            .expect("the failure cancels the token");
        let error = tasks.finish().await.unwrap_err().to_string();
        assert_eq!(
            error,
            "background task retention failed: panicked: cutoff out of range"
        );
    }

    #[tokio::test]
    async fn a_task_that_returns_early_stops_the_process() {
        let shutdown = CancellationToken::new();
        let tasks = BackgroundTasks::new(&shutdown);
        tasks.spawn("sign-ups", async {});
        let error = tasks.finish().await.unwrap_err().to_string();
        assert!(shutdown.is_cancelled());
        assert_eq!(
            error,
            "background task sign-ups failed: stopped while the process was running"
        );
    }

    #[tokio::test]
    async fn tasks_that_stop_on_shutdown_are_no_failure() {
        let shutdown = CancellationToken::new();
        let tasks = BackgroundTasks::new(&shutdown);
        let watcher = shutdown.clone();
        tasks.spawn("metrics", async move { watcher.cancelled().await });
        shutdown.cancel();
        assert!(tasks.finish().await.is_ok());
    }
}
