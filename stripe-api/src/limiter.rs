//! Spacing requests to a rate: each request takes the next free slot,
//! `1 / rate` after the previous one, and sleeps until it comes.

use std::time::Duration;

use tokio::{sync::Mutex, time::Instant};

pub struct Limiter {
    interval: Duration,
    next: Mutex<Instant>,
}

impl Limiter {
    pub fn new(per_second: f64) -> Self {
        Self {
            interval: Duration::from_secs_f64(1.0 / per_second.max(0.001)),
            next: Mutex::new(Instant::now()),
        }
    }

    pub async fn wait(&self) {
        let slot = {
            let mut next = self.next.lock().await;
            let now = Instant::now();
            let slot = (*next).max(now);
            *next = slot + self.interval;
            slot
        };
        tokio::time::sleep_until(slot).await;
    }
}
