//! Accepting connections, with the bounds the open internet needs: at most
//! `max_connections` at once (one more is answered 503 and closed), and a
//! connection that sends no complete request header within the header
//! timeout, idle keep-alive connections included, is closed. On shutdown it
//! stops accepting, lets each connection finish its request in flight, and
//! closes it.

use std::{sync::Arc, time::Duration};

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::{
    rt::{TokioIo, TokioTimer},
    service::TowerToHyperService,
};
use tokio::{
    io::AsyncWriteExt,
    net::{TcpListener, TcpStream},
    sync::Semaphore,
};
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use crate::refusals::REFUSALS;

pub struct Limits {
    pub max_connections: usize,
    pub header_timeout: Duration,
}

/// Largest read buffer of one connection.
const READ_BUFFER_BYTES: usize = 16 * 1024;

/// The answer to a connection over the limit, written before closing it.
const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
content-length: 32\r\nconnection: close\r\n\r\n{\"error\":\"too many connections\"}";

pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: CancellationToken,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let connections = TaskTracker::new();
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(error) => {
                // Out of file descriptors, say: pause rather than spin.
                if REFUSALS.record().is_some() {
                    tracing::warn!(error = %error, "cannot accept a connection");
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            if let Some(unlogged) = REFUSALS.record() {
                tracing::warn!(
                    unlogged,
                    limit = limits.max_connections,
                    "connection refused: too many open"
                );
            }
            crate::metrics::connection_refused();
            connections.spawn(refuse(stream));
            continue;
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(router.clone());
        let header_timeout = limits.header_timeout;
        let shutdown = shutdown.clone();
        connections.spawn(async move {
            let mut builder = http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout)
                // hyper's read buffer grows to 400 KiB by default, per
                // connection; bodies are buffered (and budgeted) by us.
                .max_buf_size(READ_BUFFER_BYTES)
                .keep_alive(true);
            let connection = builder.serve_connection(TokioIo::new(stream), service);
            tokio::pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => {}
                _ = shutdown.cancelled() => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
            drop(slot);
        });
    }
    connections.close();
    connections.wait().await;
}

async fn refuse(mut stream: TcpStream) {
    let _ = tokio::time::timeout(Duration::from_secs(1), stream.write_all(BUSY)).await;
}
