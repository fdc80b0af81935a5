//! Group commit: the path from a verified request to a durable event.
//!
//! Requests hand their event to a small number of committer tasks and wait
//! for the verdict. Each committer takes everything that is waiting, stores it
//! in ONE transaction (the events, plus one queue job naming the new ones)
//! and only then answers every request in the batch. A commit that fails
//! answers the whole batch with an error, so no request ever hears "stored"
//! for an event that is not.
//!
//! Why not one transaction per request: the job insert fires a NOTIFY, and a
//! transaction that NOTIFYs holds a database-wide lock until its commit is
//! flushed, so per-request commits serialise on that lock (BENCHMARKS.md has
//! the ceiling). Sharing commits keeps one flush (and one NOTIFY) per batch.
//! At rest a batch is one request, so this costs no latency when idle.
//!
//! Under load the committers take turns: while one commits, the next keeps
//! gathering until that commit finishes (or its batch is full), then commits
//! everything that arrived meanwhile. Without the wait, the second committer
//! would commit a batch of one or two the moment it found them, paying a
//! flush and the NOTIFY lock per tiny batch.

use std::{
    collections::HashSet,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::Duration,
};

use sqlx::PgPool;
use tether_queue::QueueError;
use tether_shared::telemetry::SPANS;
use tether_shared::{
    event_store::{self, NewEvent},
    telemetry::context,
};
use tether_stripe::envelope::EventEnvelope;
use tokio::sync::{Mutex, Notify, mpsc, oneshot};
use tokio_util::task::TaskTracker;
use tracing::Instrument;

/// Most requests one transaction carries.
const MAX_BATCH_EVENTS: usize = 512;
/// Most body bytes one transaction carries (bodies are up to 1 MiB each).
const MAX_BATCH_BYTES: usize = 16 * 1024 * 1024;

/// A verified event and its body, ready to be stored.
#[derive(Debug)]
pub struct IncomingEvent {
    pub envelope: EventEnvelope,
    /// The body exactly as received (already known to be JSON).
    pub body: String,
    /// The request's trace context, stored with the job; `None` when
    /// traces are not exported.
    pub traceparent: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Receipt {
    New,
    Duplicate,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum CommitError {
    /// Retryable: the database could not commit. Stripe will deliver again.
    #[error("the database could not store the event")]
    Unavailable,
    /// Permanent: PostgreSQL refuses this payload (e.g. `\u0000` in jsonb).
    #[error("the database rejects this event's payload: {0}")]
    Rejected(String),
    #[error("the event was not stored in time")]
    TimedOut,
    #[error("the receiver is shutting down")]
    ShuttingDown,
}

struct Submission {
    event: IncomingEvent,
    reply: oneshot::Sender<Result<Receipt, CommitError>>,
}

#[derive(Clone)]
pub struct Committer {
    sender: mpsc::Sender<Submission>,
    timeout: Duration,
}

impl Committer {
    /// Starts `tasks` committers on `tracker`. They run until every clone of
    /// the returned handle is dropped and what was submitted is answered.
    pub fn start(pool: PgPool, tasks: usize, timeout: Duration, tracker: &TaskTracker) -> Self {
        let (sender, receiver) = mpsc::channel(4 * MAX_BATCH_EVENTS);
        let receiver = Arc::new(Mutex::new(receiver));
        let turns = Arc::new(Turns::default());
        for _ in 0..tasks.max(1) {
            tracker.spawn(run_committer(pool.clone(), receiver.clone(), turns.clone()));
        }
        Self { sender, timeout }
    }

    /// Stores one event; returns only after its transaction committed or failed.
    pub async fn store(&self, event: IncomingEvent) -> Result<Receipt, CommitError> {
        let (reply, verdict) = oneshot::channel();
        let submit = async {
            self.sender
                .send(Submission { event, reply })
                .await
                .map_err(|_| CommitError::ShuttingDown)?;
            verdict.await.map_err(|_| CommitError::ShuttingDown)?
        };
        // On timeout the commit may still land; Stripe's retry then finds a
        // duplicate. What can never happen is a 2xx without a commit.
        tokio::time::timeout(self.timeout, submit)
            .await
            .map_err(|_| CommitError::TimedOut)?
    }
}

/// How committers know whether another one is committing right now.
#[derive(Default)]
struct Turns {
    committing: AtomicUsize,
    finished: Notify,
}

async fn run_committer(
    pool: PgPool,
    receiver: Arc<Mutex<mpsc::Receiver<Submission>>>,
    turns: Arc<Turns>,
) {
    loop {
        let Some(batch) = next_batch(&receiver, &turns).await else {
            return;
        };
        let turn = Turn {
            turns: &turns,
            over: AtomicBool::new(false),
        };
        commit_and_answer(&pool, batch, &turn).await;
    }
}

/// One committer's turn: from taking a batch until its commit returns (or
/// fails). Not earlier, when COMMIT is sent: the NOTIFY lock serialises the
/// commits anyway, so an overlap only makes the next batch smaller.
struct Turn<'a> {
    turns: &'a Turns,
    over: AtomicBool,
}

impl Turn<'_> {
    fn end(&self) {
        if !self.over.swap(true, Ordering::SeqCst) {
            self.turns.committing.fetch_sub(1, Ordering::SeqCst);
            self.turns.finished.notify_waiters();
        }
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        self.end();
    }
}

/// Waits for one submission, then gathers more while another committer is
/// busy committing. The receiver lock is held only while gathering, so the
/// next committer can gather while this one commits.
async fn next_batch(
    receiver: &Mutex<mpsc::Receiver<Submission>>,
    turns: &Turns,
) -> Option<Vec<Submission>> {
    let mut receiver = receiver.lock().await;
    let mut batch = Gathered::new(receiver.recv().await?);
    loop {
        while !batch.is_full() {
            match receiver.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let finished = turns.finished.notified();
        tokio::pin!(finished);
        // Registered before the check, so a commit ending in between still wakes us.
        finished.as_mut().enable();
        if batch.is_full() || turns.committing.load(Ordering::SeqCst) == 0 {
            break;
        }
        tokio::select! {
            biased;
            () = &mut finished => break,
            next = receiver.recv() => match next {
                Some(next) => batch.push(next),
                None => break,
            },
        }
    }
    turns.committing.fetch_add(1, Ordering::SeqCst);
    Some(batch.submissions)
}

struct Gathered {
    submissions: Vec<Submission>,
    bytes: usize,
}

impl Gathered {
    fn new(first: Submission) -> Self {
        Self {
            bytes: first.event.body.len(),
            submissions: vec![first],
        }
    }

    fn push(&mut self, next: Submission) {
        self.bytes += next.event.body.len();
        self.submissions.push(next);
    }

    fn is_full(&self) -> bool {
        self.submissions.len() >= MAX_BATCH_EVENTS || self.bytes >= MAX_BATCH_BYTES
    }
}

fn group_commit_span(events: &[&IncomingEvent]) -> tracing::Span {
    let mut traced = events
        .iter()
        .filter_map(|e| e.traceparent.as_deref())
        .peekable();
    if traced.peek().is_none() {
        return tracing::Span::none();
    }
    let span = tracing::info_span!(target: SPANS, "group_commit", batch_size = events.len());
    for traceparent in traced {
        context::add_link(&span, traceparent);
    }
    span
}

async fn commit_and_answer(pool: &PgPool, batch: Vec<Submission>, turn: &Turn<'_>) {
    let events: Vec<&IncomingEvent> = batch.iter().map(|s| &s.event).collect();
    // One transaction serves many traces: it links each traced request's
    // commit span, and exists only when one of them is traced.
    let span = group_commit_span(&events);
    let began = std::time::Instant::now();
    let stored = store_batch(pool, &events, turn).instrument(span).await;
    crate::metrics::batch_committed(events.len());
    tracing::debug!(
        events = events.len(),
        micros = began.elapsed().as_micros() as u64,
        "batch committed"
    );
    match stored {
        Ok(new_ids) => answer(batch, |event| {
            Ok(if new_ids.contains(event.envelope.id.as_str()) {
                Receipt::New
            } else {
                Receipt::Duplicate
            })
        }),
        // One unstorable payload must not fail its neighbours: store them one by one.
        Err(StoreError::Data(_)) if batch.len() > 1 => {
            for submission in batch {
                Box::pin(commit_and_answer(pool, vec![submission], turn)).await;
            }
        }
        Err(StoreError::Data(message)) => {
            tracing::warn!(error = %message, "event payload rejected by the database");
            answer(batch, |_| Err(CommitError::Rejected(message.clone())))
        }
        Err(StoreError::Unavailable(error)) => {
            tracing::error!(error = %error, events = batch.len(), "commit failed; answering 503");
            answer(batch, |_| Err(CommitError::Unavailable))
        }
    }
}

fn answer(
    batch: Vec<Submission>,
    verdict: impl Fn(&IncomingEvent) -> Result<Receipt, CommitError>,
) {
    // Within one batch, the first request for an id stores it; any repeat of
    // it in the same batch is a duplicate, like a repeat in a later batch.
    let mut answered_new = HashSet::new();
    for Submission { event, reply } in batch {
        let outcome = match verdict(&event) {
            Ok(Receipt::New) if !answered_new.insert(event.envelope.id.clone()) => {
                Ok(Receipt::Duplicate)
            }
            other => other,
        };
        // The requester may have timed out and gone; its event is stored anyway.
        let _ = reply.send(outcome);
    }
}

enum StoreError {
    /// SQLSTATE class 22 (data exception) or 54 (program limit, such as
    /// nesting too deep): this event's content can never be stored.
    Data(String),
    Unavailable(sqlx::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        match &error {
            sqlx::Error::Database(db)
                if db
                    .code()
                    .is_some_and(|c| c.starts_with("22") || c.starts_with("54")) =>
            {
                StoreError::Data(db.message().to_owned())
            }
            _ => StoreError::Unavailable(error),
        }
    }
}

impl From<event_store::StoreError> for StoreError {
    fn from(error: event_store::StoreError) -> Self {
        match error {
            event_store::StoreError::Database(e)
            | event_store::StoreError::Queue(QueueError(e)) => e.into(),
        }
    }
}

/// One transaction: the events and their job (`event_store::store`), then
/// the commit. Returns the ids that were new.
async fn store_batch(
    pool: &PgPool,
    events: &[&IncomingEvent],
    turn: &Turn<'_>,
) -> Result<HashSet<String>, StoreError> {
    let mut tx = pool.begin().await?;
    let events: Vec<NewEvent<'_>> = events
        .iter()
        .map(|e| NewEvent {
            envelope: &e.envelope,
            body: &e.body,
            traceparent: e.traceparent.as_deref(),
        })
        .collect();
    let new = event_store::store(&mut tx, &events).await?;
    tx.commit().await?;
    turn.end();
    Ok(new)
}
