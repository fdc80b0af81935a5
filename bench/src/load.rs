//! The sending half of a bench: C keep-alive HTTP/1.1 connections posting
//! signed events to ingest as fast as it answers (or at a fixed rate).

use std::{
    collections::BTreeMap,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::Context;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, client::conn::http1::SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use super::workload::Workload;

pub struct Target {
    pub host: String,
    pub authority: String,
    pub path: String,
    pub secret: String,
}

impl Target {
    pub fn parse(url: &str, secret: String) -> anyhow::Result<Self> {
        let rest = url.strip_prefix("http://").context(
            "bench speaks plain HTTP to a local ingest: the URL must start with http://",
        )?;
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        Ok(Self {
            host: authority.to_owned(),
            authority: authority.to_owned(),
            path: if path.is_empty() {
                "/".into()
            } else {
                path.into()
            },
            secret,
        })
    }
}

pub struct Pace {
    /// Events per second; `None` sends as fast as answers come back.
    pub rate: Option<f64>,
    pub deadline: Option<Instant>,
    /// Send an event again after a 5xx or no answer, as Stripe does.
    pub redeliver: bool,
}

/// Redeliveries of one event, 250 ms apart: long enough to ride out a
/// database restart.
const MAX_REDELIVERIES: u32 = 120;
const REDELIVERY_PAUSE: Duration = Duration::from_millis(250);

/// What the connections saw.
#[derive(Default)]
pub struct LoadResult {
    pub requests: u64,
    pub statuses: BTreeMap<u16, u64>,
    /// Requests that got no HTTP answer (refused, reset).
    pub transport_errors: u64,
    pub latencies_us: Vec<u32>,
    /// Event indexes answered 2xx at least once.
    pub acked: Vec<u64>,
    /// Every event index sent at least once.
    pub sent: Vec<u64>,
    pub elapsed: Duration,
}

impl LoadResult {
    fn merge(&mut self, other: LoadResult) {
        self.requests += other.requests;
        for (status, n) in other.statuses {
            *self.statuses.entry(status).or_default() += n;
        }
        self.transport_errors += other.transport_errors;
        self.latencies_us.extend(other.latencies_us);
        self.acked.extend(other.acked);
        self.sent.extend(other.sent);
    }

    /// Events 0..n, taken as sent and acknowledged by an earlier run.
    pub fn assumed(events: u64) -> Self {
        Self {
            acked: (0..events).collect(),
            sent: (0..events).collect(),
            ..Self::default()
        }
    }

    pub fn acks(&self) -> u64 {
        self.statuses
            .iter()
            .filter(|(s, _)| (200..300).contains(*s))
            .map(|(_, n)| n)
            .sum()
    }
}

/// Shared progress, read by the reporter while the run goes on.
#[derive(Default)]
pub struct Progress {
    pub next_position: AtomicU64,
    pub answered: AtomicU64,
    pub acked: AtomicU64,
}

pub async fn run(
    workload: Arc<Workload>,
    target: Arc<Target>,
    connections: usize,
    pace: Pace,
    progress: Arc<Progress>,
    stop: CancellationToken,
) -> anyhow::Result<LoadResult> {
    // Fail fast on a wrong address instead of reporting N transport errors.
    TcpStream::connect(&target.authority)
        .await
        .with_context(|| {
            format!(
                "cannot reach ingest at {} (is it running?)",
                target.authority
            )
        })?;
    let started = Instant::now();
    let pace = Arc::new(pace);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..connections {
        let connection = Connection {
            workload: workload.clone(),
            target: target.clone(),
            pace: pace.clone(),
            progress: progress.clone(),
            stop: stop.clone(),
            started,
            sender: None,
            result: LoadResult::default(),
            body: Vec::with_capacity(4096),
        };
        tasks.spawn(connection.run());
    }
    let mut total = LoadResult::default();
    while let Some(result) = tasks.join_next().await {
        total.merge(result?);
    }
    total.elapsed = started.elapsed();
    Ok(total)
}

struct Connection {
    workload: Arc<Workload>,
    target: Arc<Target>,
    pace: Arc<Pace>,
    progress: Arc<Progress>,
    stop: CancellationToken,
    started: Instant,
    sender: Option<SendRequest<Full<Bytes>>>,
    result: LoadResult,
    body: Vec<u8>,
}

impl Connection {
    async fn run(mut self) -> LoadResult {
        let total = self.workload.options().events;
        loop {
            if self.stop.is_cancelled() || self.pace.deadline.is_some_and(|d| Instant::now() >= d) {
                break;
            }
            let position = self.progress.next_position.fetch_add(1, Ordering::Relaxed);
            if position >= total {
                break;
            }
            if let Some(rate) = self.pace.rate {
                let due = self.started + Duration::from_secs_f64(position as f64 / rate);
                tokio::time::sleep_until(due.into()).await;
            }
            self.send(self.workload.event_at(position)).await;
            if let Some(again) = self.workload.duplicate_after(position) {
                self.send(again).await;
            }
        }
        self.result
    }

    async fn send(&mut self, index: u64) {
        for _ in 0..=MAX_REDELIVERIES {
            match self.deliver(index).await {
                Some(status) if status < 500 => return,
                _ if !self.pace.redeliver || self.stop.is_cancelled() => return,
                _ => tokio::time::sleep(REDELIVERY_PAUSE).await,
            }
        }
    }

    /// One delivery; the status, or `None` when no answer came.
    async fn deliver(&mut self, index: u64) -> Option<u16> {
        let spec = self.workload.spec(index);
        self.body.clear();
        self.workload.render(&spec, &mut self.body);
        let now = chrono::Utc::now().timestamp();
        let signature = tether_stripe::signature::sign(&self.target.secret, now, &self.body);
        self.result.requests += 1;
        self.result.sent.push(index);
        let began = Instant::now();
        match self.post(signature).await {
            Ok(status) => {
                let micros = began.elapsed().as_micros().min(u32::MAX as u128) as u32;
                self.result.latencies_us.push(micros);
                *self.result.statuses.entry(status).or_default() += 1;
                self.progress.answered.fetch_add(1, Ordering::Relaxed);
                if (200..300).contains(&status) {
                    self.result.acked.push(index);
                    self.progress.acked.fetch_add(1, Ordering::Relaxed);
                }
                Some(status)
            }
            Err(_) => {
                self.result.transport_errors += 1;
                self.sender = None;
                // Ingest is down or restarting: don't spin.
                tokio::time::sleep(Duration::from_millis(50)).await;
                None
            }
        }
    }

    async fn post(&mut self, signature: String) -> anyhow::Result<u16> {
        let sender = match &mut self.sender {
            Some(sender) if !sender.is_closed() => sender,
            _ => self.sender.insert(connect(&self.target.authority).await?),
        };
        sender.ready().await?;
        let request = Request::post(self.target.path.as_str())
            .header("host", self.target.host.as_str())
            .header("content-type", "application/json")
            .header("stripe-signature", signature)
            .body(Full::new(Bytes::copy_from_slice(&self.body)))?;
        let response = sender.send_request(request).await?;
        let status = response.status().as_u16();
        response.into_body().collect().await?;
        Ok(status)
    }
}

async fn connect(authority: &str) -> anyhow::Result<SendRequest<Full<Bytes>>> {
    let stream = TcpStream::connect(authority).await?;
    stream.set_nodelay(true)?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    Ok(sender)
}
