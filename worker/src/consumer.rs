//! The worker process's loop: claim jobs when woken (LISTEN/NOTIFY, where
//! the connection can LISTEN) or on a poll tick (retries whose time has
//! come carry no NOTIFY), run up to `concurrency` claims at once (each
//! claim's jobs in one transaction), and keep a heartbeat that also brings
//! back jobs stranded by dead workers. No database error ends the loop: it
//! is logged, and the loop backs off and resumes.

use std::{collections::HashSet, sync::Arc, time::Duration};

use sqlx::{PgPool, postgres::PgListener};
use tether_queue::{ClaimedJob, NOTIFY_CHANNEL, QueueError, workers};
use tether_shared::{config::WorkerConfig, shutdown::BackgroundTasks};
use tokio::sync::{Mutex, Notify, Semaphore};
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use crate::run::run_claim;

/// Jobs this process holds. Claims and heartbeats take the lock, so a job
/// is never released as "lost" between being claimed and being tracked.
type InFlight = Arc<Mutex<HashSet<String>>>;

pub(crate) struct Consumer {
    pool: PgPool,
    config: WorkerConfig,
    name: String,
    in_flight: InFlight,
}

impl Consumer {
    pub fn new(pool: PgPool, config: WorkerConfig, name: String) -> Self {
        Self {
            pool,
            config,
            name,
            in_flight: InFlight::default(),
        }
    }

    /// A failed heartbeat or listener task cancels `shutdown` (a worker
    /// without a heartbeat would have its jobs taken as orphans while it
    /// still runs them) and is returned once the loop has wound down.
    pub async fn run(
        self,
        listen_to: Option<PgPool>,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        // Claims name this worker in `lock_by`, a foreign key to
        // `apalis.workers`; if the database is down now, the heartbeat
        // registers it later and claims wait until then.
        if let Err(error) = workers::register(&self.pool, &self.name).await {
            tracing::warn!(error = %error, "cannot register the worker yet; retrying with the heartbeat");
        }
        let this = Arc::new(self);
        let wake = Arc::new(Notify::new());
        let background = BackgroundTasks::new(&shutdown);
        let stop_background = CancellationToken::new();
        match listen_to {
            Some(listen_to) => background.spawn(
                "NOTIFY listener",
                listen(listen_to, wake.clone(), stop_background.clone()),
            ),
            // Behind a transaction-mode pooler a LISTEN would stay on a
            // server session nobody holds: the poll tick alone wakes it.
            None => tracing::info!(
                poll_ms = this.config.poll_ms,
                "no LISTEN connection: polling for new jobs"
            ),
        }
        background.spawn(
            "heartbeat",
            this.clone().heartbeat_loop(stop_background.clone()),
        );
        this.clone().fetch_loop(&wake, &shutdown).await;
        stop_background.cancel();
        let stopped = background.finish().await;
        match workers::release_all(&this.pool, &this.name).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(released = n, "claimed jobs put back on the queue"),
            Err(e) => {
                tracing::warn!(error = %e, "could not release claimed jobs; they return after the orphan timeout")
            }
        }
        stopped
    }

    async fn fetch_loop(self: Arc<Self>, wake: &Notify, shutdown: &CancellationToken) {
        let slots = Arc::new(Semaphore::new(self.config.concurrency as usize));
        let running = TaskTracker::new();
        let mut backoff = Backoff::default();
        while !shutdown.is_cancelled() {
            if slots.available_permits() == 0 {
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    permit = slots.acquire() => { drop(permit); continue; }
                }
            }
            match self.claim(self.config.fetch_size as i64).await {
                Ok(claimed) if !claimed.is_empty() => {
                    backoff.reset();
                    let backlog = claimed.len() >= self.config.fetch_size as usize;
                    let pause = gather_after(&self.config, &claimed);
                    // One slot per claim: its jobs are applied together.
                    let permit = slots.clone().acquire_owned().await.expect("never closed");
                    let this = self.clone();
                    running.spawn(async move {
                        let ids: Vec<String> = claimed.iter().map(|j| j.id.clone()).collect();
                        run_claim(&this.pool, &this.config, claimed).await;
                        let mut in_flight = this.in_flight.lock().await;
                        for id in &ids {
                            in_flight.remove(id);
                        }
                        drop(permit);
                    });
                    if !backlog {
                        self.gather(pause, shutdown).await;
                    }
                }
                Ok(_) => {
                    wait_for_work(wake, self.config.poll_interval(), shutdown).await;
                    self.gather(self.config.gather_after_idle(), shutdown).await;
                }
                Err(error) => {
                    let pause = backoff.next();
                    tracing::error!(error = %error, retry_in_ms = pause.as_millis() as u64, "cannot fetch jobs");
                    tokio::select! { _ = shutdown.cancelled() => {}, _ = tokio::time::sleep(pause) => {} }
                }
            }
        }
        // Stop fetching, finish what is in flight: each job is one
        // transaction, so this is bounded by the slowest one.
        running.close();
        running.wait().await;
    }

    /// Below a backlog, a short wait lets more jobs arrive, so the next
    /// claim applies them in one transaction: one commit, one set of locks
    /// and fixed statements, instead of one per job.
    async fn gather(&self, pause: Duration, shutdown: &CancellationToken) {
        if !pause.is_zero() {
            tokio::select! { _ = shutdown.cancelled() => {}, _ = tokio::time::sleep(pause) => {} }
        }
    }

    async fn claim(&self, limit: i64) -> Result<Vec<ClaimedJob>, QueueError> {
        let mut in_flight = self.in_flight.lock().await;
        let claimed = tether_queue::claim(&self.pool, &self.name, limit).await?;
        in_flight.extend(claimed.iter().map(|j| j.id.clone()));
        Ok(claimed)
    }

    async fn heartbeat_loop(self: Arc<Self>, stop: CancellationToken) {
        let mut tick = tokio::time::interval(self.config.heartbeat_interval());
        loop {
            tokio::select! { _ = stop.cancelled() => return, _ = tick.tick() => {} }
            let in_flight = self.in_flight.lock().await;
            let ids: Vec<String> = in_flight.iter().cloned().collect();
            match workers::heartbeat(&self.pool, &self.name, &ids, self.config.orphan_after()).await
            {
                Ok(0) => {}
                Ok(n) => tracing::info!(released = n, "stranded jobs put back on the queue"),
                Err(e) => tracing::warn!(error = %e, "heartbeat failed; retrying next beat"),
            }
        }
    }
}

/// How long to gather after `claimed`, a claim below a backlog. Ingest
/// commits the deliveries that reach it together as one job, so jobs of
/// several events mean deliveries overlap.
fn gather_after(config: &WorkerConfig, claimed: &[ClaimedJob]) -> Duration {
    let events: usize = claimed.iter().map(ClaimedJob::event_count).sum();
    if events > claimed.len() {
        config.gather_when_overlapping()
    } else {
        config.gather()
    }
}

async fn wait_for_work(wake: &Notify, poll: Duration, shutdown: &CancellationToken) {
    tokio::select! {
        _ = shutdown.cancelled() => {},
        _ = wake.notified() => {},
        _ = tokio::time::sleep(poll) => {},
    }
}

/// Turns NOTIFYs into wake-ups. A lost connection is re-established after a
/// pause; meanwhile polling keeps the worker going.
async fn listen(pool: PgPool, wake: Arc<Notify>, stop: CancellationToken) {
    let mut backoff = Backoff::default();
    while !stop.is_cancelled() {
        let listener = async {
            let mut listener = PgListener::connect_with(&pool).await?;
            listener.listen(NOTIFY_CHANNEL).await?;
            loop {
                listener.recv().await?;
                wake.notify_one();
            }
            #[allow(unreachable_code)]
            Ok::<(), sqlx::Error>(())
        };
        let result = tokio::select! { _ = stop.cancelled() => return, r = listener => r };
        if let Err(error) = result {
            let pause = backoff.next();
            tracing::warn!(error = %error, retry_in_ms = pause.as_millis() as u64, "LISTEN connection lost; polling meanwhile");
            tokio::select! { _ = stop.cancelled() => return, _ = tokio::time::sleep(pause) => {} }
        }
    }
}

/// Pauses after database errors: 100 ms doubling to 5 s.
#[derive(Default)]
struct Backoff(u32);

impl Backoff {
    fn next(&mut self) -> Duration {
        self.0 = (self.0 + 1).min(6);
        Duration::from_millis(100 * 2u64.pow(self.0 - 1)).min(Duration::from_secs(5))
    }

    fn reset(&mut self) {
        self.0 = 0;
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn job(events: usize) -> ClaimedJob {
        ClaimedJob {
            id: format!("job_{events}"),
            events: Ok((0..events).map(|i| format!("evt_{i}")).collect()),
            bytes: 0,
            attempt: 1,
            traceparents: BTreeMap::new(),
        }
    }

    #[test]
    fn deliveries_one_at_a_time_gather_the_plain_wait() {
        let config = WorkerConfig::default();
        assert_eq!(config.gather(), Duration::from_millis(10));
        assert_eq!(gather_after(&config, &[job(1)]), config.gather());
        assert_eq!(
            gather_after(&config, &[job(1), job(1), job(1)]),
            config.gather()
        );
    }

    #[test]
    fn overlapping_deliveries_gather_three_times_as_long() {
        let config = WorkerConfig::default();
        let longer = Duration::from_millis(30);
        assert_eq!(gather_after(&config, &[job(2)]), longer);
        assert_eq!(gather_after(&config, &[job(1), job(8)]), longer);
        let off = WorkerConfig {
            gather_ms: 0,
            ..WorkerConfig::default()
        };
        assert_eq!(gather_after(&off, &[job(8)]), Duration::ZERO);
    }
}
