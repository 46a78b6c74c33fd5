//! The HTTP/1.1 server loop, with the limits a public endpoint needs against slow or idle
//! clients (what `axum::serve` leaves open):
//!
//! - a header read timeout: headers sent at 1 byte/s are cut off (hyper's own timer);
//! - an idle keep-alive timeout: a connection with no request in flight is closed;
//! - a connection cap, kept below the process's file-descriptor limit so `accept` never fails
//!   with "too many open files". At the cap, a new connection evicts the connection that has
//!   been idle longest (no request in flight: idle, or still sending its headers); only when
//!   every connection is in a request is the new one refused. So a client holding a thousand
//!   idle sockets cannot keep a webhook or `/healthz` out.
//!
//! The body timeout and the up-front 413 are the webhook handler's (`read_body`), since they
//! concern one request, not the connection.

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;
use tracing::{debug, warn};

/// File descriptors kept free for the store, the index and outgoing requests.
pub const RESERVED_DESCRIPTORS: usize = 128;

/// How long an evicted or shut-down connection may take to close before it is dropped.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// The connection limits.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// Time a client has to send a request's headers.
    pub header_timeout: Duration,
    /// Time a connection may stay open with no request in flight.
    pub idle_timeout: Duration,
    /// Connections open at once.
    pub max_connections: usize,
}

impl ConnectionLimits {
    /// The cap actually applied: `max_connections`, lowered to stay [`RESERVED_DESCRIPTORS`]
    /// under the process's open-file limit when that is known.
    pub fn effective_max_connections(&self) -> usize {
        match open_files_limit() {
            Some(limit) => self
                .max_connections
                .min(limit.saturating_sub(RESERVED_DESCRIPTORS))
                .max(1),
            None => self.max_connections.max(1),
        }
    }
}

/// The soft limit on open files (`/proc/self/limits`), where the system says.
pub fn open_files_limit() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

#[derive(Debug)]
struct Slot {
    /// Requests in flight on the connection.
    busy: usize,
    /// When it last finished a request (or was accepted).
    idle_since: Instant,
    /// Told to close.
    evicted: bool,
    close: Arc<Notify>,
}

/// The open connections.
#[derive(Debug, Default)]
struct Registry {
    next: u64,
    slots: HashMap<u64, Slot>,
}

impl Registry {
    fn open(&mut self) -> (u64, Arc<Notify>) {
        let id = self.next;
        self.next += 1;
        let close = Arc::new(Notify::new());
        self.slots.insert(
            id,
            Slot {
                busy: 0,
                idle_since: Instant::now(),
                evicted: false,
                close: Arc::clone(&close),
            },
        );
        (id, close)
    }

    /// Connections that are not already closing.
    fn live(&self) -> usize {
        self.slots.values().filter(|s| !s.evicted).count()
    }

    /// Tells the connection idle longest to close; false when every one is in a request.
    fn evict_idlest(&mut self) -> bool {
        let victim = self
            .slots
            .values_mut()
            .filter(|s| s.busy == 0 && !s.evicted)
            .min_by_key(|s| s.idle_since);
        match victim {
            Some(slot) => {
                slot.evicted = true;
                slot.close.notify_one();
                true
            }
            None => false,
        }
    }
}

/// Marks a connection busy while a request is in flight; idle again when dropped.
struct InFlight {
    registry: Arc<Mutex<Registry>>,
    id: u64,
}

impl InFlight {
    fn start(registry: &Arc<Mutex<Registry>>, id: u64) -> Self {
        if let Some(slot) = lock(registry).slots.get_mut(&id) {
            slot.busy += 1;
        }
        Self {
            registry: Arc::clone(registry),
            id,
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Some(slot) = lock(&self.registry).slots.get_mut(&self.id) {
            slot.busy = slot.busy.saturating_sub(1);
            slot.idle_since = Instant::now();
        }
    }
}

fn lock(registry: &Mutex<Registry>) -> std::sync::MutexGuard<'_, Registry> {
    // The registry holds plain counters: a panic elsewhere leaves it usable.
    registry.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Serves `router` on `listener` until `shutdown` fires, then lets open connections finish
/// their requests.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: CancellationToken,
) {
    let registry = Arc::new(Mutex::new(Registry::default()));
    let cap = limits.effective_max_connections();
    // A JoinSet, so that aborting the server (a simulated crash) aborts its connections too.
    let mut connections = tokio::task::JoinSet::new();
    loop {
        while connections.try_join_next().is_some() {}
        let accepted = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of descriptors despite the cap (another part of the process), or a
                // connection reset before it was accepted: wait a little, never spin.
                warn!(%error, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let (id, close) = {
            let mut registry = lock(&registry);
            if registry.live() >= cap && !registry.evict_idlest() {
                debug!(cap, "connection refused: every connection is in a request");
                continue;
            }
            registry.open()
        };
        let _ = stream.set_nodelay(true);
        connections.spawn(connection(
            stream,
            peer,
            router.clone(),
            limits,
            Arc::clone(&registry),
            id,
            close,
            shutdown.clone(),
        ));
    }
    while connections.join_next().await.is_some() {}
}

#[allow(clippy::too_many_arguments)]
async fn connection(
    stream: tokio::net::TcpStream,
    peer: std::net::SocketAddr,
    router: Router,
    limits: ConnectionLimits,
    registry: Arc<Mutex<Registry>>,
    id: u64,
    close: Arc<Notify>,
    shutdown: CancellationToken,
) {
    let service = {
        let registry = Arc::clone(&registry);
        hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            // The client's address, for the admin API's rate limit.
            request.extensions_mut().insert(axum::extract::ConnectInfo(peer));
            let in_flight = InFlight::start(&registry, id);
            let router = router.clone();
            async move {
                let response = router.oneshot(request).await;
                drop(in_flight);
                response
            }
        })
    };
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true);
    let conn = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    let mut closing_since: Option<Instant> = None;
    loop {
        let idle_deadline = {
            let registry = lock(&registry);
            registry
                .slots
                .get(&id)
                .filter(|s| s.busy == 0)
                .map(|s| s.idle_since + limits.idle_timeout)
        };
        let wake_at = match closing_since {
            Some(since) => since + CLOSE_GRACE,
            // Look again every second while busy: a request may end and start the idle clock.
            None => idle_deadline.unwrap_or_else(|| Instant::now() + Duration::from_secs(1)),
        };
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(error) = result {
                    debug!(%error, "connection ended with an error");
                }
                break;
            }
            () = close.notified(), if closing_since.is_none() => {
                debug!("idle connection evicted at the connection cap");
                conn.as_mut().graceful_shutdown();
                closing_since = Some(Instant::now());
            }
            () = shutdown.cancelled(), if closing_since.is_none() => {
                conn.as_mut().graceful_shutdown();
                closing_since = Some(Instant::now());
            }
            () = tokio::time::sleep_until(wake_at) => {
                match closing_since {
                    Some(_) => break,
                    None if idle_deadline.is_some_and(|d| d <= Instant::now()) => {
                        conn.as_mut().graceful_shutdown();
                        closing_since = Some(Instant::now());
                    }
                    None => {}
                }
            }
        }
    }
    lock(&registry).slots.remove(&id);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_idlest_connection_is_evicted_and_busy_ones_never() {
        let mut registry = Registry::default();
        let (a, _) = registry.open();
        let (b, _) = registry.open();
        registry.slots.get_mut(&a).unwrap().idle_since -= Duration::from_secs(5);
        registry.slots.get_mut(&b).unwrap().busy = 1;
        assert!(registry.evict_idlest());
        assert!(registry.slots[&a].evicted);
        assert_eq!(registry.live(), 1);
        assert!(!registry.evict_idlest(), "b is in a request");
    }

    #[test]
    fn the_cap_stays_under_the_descriptor_limit() {
        let limits = ConnectionLimits {
            header_timeout: Duration::from_secs(1),
            idle_timeout: Duration::from_secs(1),
            max_connections: usize::MAX,
        };
        if let Some(limit) = open_files_limit() {
            assert!(limits.effective_max_connections() <= limit - RESERVED_DESCRIPTORS);
        }
    }
}
