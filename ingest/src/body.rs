//! Reading a request body within bounds: a size limit checked against
//! `Content-Length` before any byte is read, a deadline for the whole body,
//! and a budget of bytes held in memory across all requests, so that many
//! slow or half-sent bodies cannot exhaust the process.

use std::{sync::Arc, time::Duration};

use axum::{
    body::{Body, Bytes},
    http::{HeaderMap, header},
};
use http_body_util::BodyExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::IngestError;

fn announced_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
}

/// The budget is counted in KiB: semaphore permits are `u32`.
const UNIT: usize = 1024;

pub struct BodyLimits {
    pub max_bytes: usize,
    pub timeout: Duration,
    budget: Arc<Semaphore>,
}

/// A body read in full, and its share of the budget, given back when
/// `held` is dropped.
pub struct BufferedBody {
    pub bytes: Bytes,
    pub held: Option<OwnedSemaphorePermit>,
}

impl BodyLimits {
    pub fn new(max_bytes: usize, timeout: Duration, max_buffered_bytes: usize) -> Self {
        let units = (max_buffered_bytes / UNIT).clamp(1, Semaphore::MAX_PERMITS);
        Self {
            max_bytes,
            timeout,
            budget: Arc::new(Semaphore::new(units)),
        }
    }

    /// Refuses a body announced larger than the limit, before reading it.
    pub fn check_announced(&self, headers: &HeaderMap) -> Result<(), IngestError> {
        match announced_length(headers) {
            Some(length) if length > self.max_bytes as u64 => Err(IngestError::TooLarge),
            _ => Ok(()),
        }
    }

    /// Reads the body, taking budget for each chunk as it arrives. A body
    /// that would pass the budget is answered 503 at once (Stripe retries),
    /// rather than waiting for memory that slow senders may hold.
    pub async fn read(&self, headers: &HeaderMap, body: Body) -> Result<BufferedBody, IngestError> {
        // Sized once from the announced length, so the buffer never doubles.
        let capacity =
            announced_length(headers).map_or(0, |n| n.min(self.max_bytes as u64) as usize);
        tokio::time::timeout(self.timeout, self.read_within_budget(body, capacity))
            .await
            .map_err(|_| IngestError::BodyTimeout)?
    }

    async fn read_within_budget(
        &self,
        mut body: Body,
        capacity: usize,
    ) -> Result<BufferedBody, IngestError> {
        let mut bytes = Vec::with_capacity(capacity);
        let mut held: Option<OwnedSemaphorePermit> = None;
        let mut held_units = 0usize;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|_| IngestError::UnreadableBody)?;
            let Ok(chunk) = frame.into_data() else {
                continue;
            };
            if bytes.len() + chunk.len() > self.max_bytes {
                return Err(IngestError::TooLarge);
            }
            let needed = (bytes.len() + chunk.len()).div_ceil(UNIT);
            if needed > held_units {
                let more = u32::try_from(needed - held_units).map_err(|_| IngestError::TooLarge)?;
                let permit = self
                    .budget
                    .clone()
                    .try_acquire_many_owned(more)
                    .map_err(|_| IngestError::Busy)?;
                match &mut held {
                    Some(all) => all.merge(permit),
                    None => held = Some(permit),
                }
                held_units = needed;
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(BufferedBody {
            bytes: Bytes::from(bytes),
            held,
        })
    }
}
