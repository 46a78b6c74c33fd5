//! The HTTP/1.1 server loop, with the limits a public endpoint needs against slow or idle
//! clients (what `axum::serve` leaves open):
//!
//! - a header read timeout: headers sent at 1 byte/s are cut off (hyper's own timer);
//! - an idle keep-alive timeout: a connection with no request in flight is closed; the
//!   deadline is read afresh when it comes, so a request that started meanwhile is never cut;
//! - a connection cap, kept below the process's file-descriptor limit so `accept` never fails
//!   with "too many open files", and a cap per client address. At a cap, a new connection
//!   evicts the connection idle longest (no request in flight: idle, or still sending its
//!   headers); else the one whose request body has been arriving longest (a slow client: its
//!   connection is dropped at once, since a webhook's body arrives in milliseconds); only
//!   when every connection is working on a request whose body has arrived is the new one
//!   refused. So neither a thousand idle sockets nor hundreds of bodies sent at a trickle can
//!   keep a webhook or `/healthz` out: the slots they hold are kept for new connections. (A
//!   body had to be slow for 500 ms before it could be evicted, at first: 600 clients that
//!   reconnect as they are dropped then churned the slots faster than that, and refused 14
//!   of 80 probes.)
//!
//! The body timeout and the up-front 413 are the webhook handler's (`read_body`), since they
//! concern one request, not the connection.

use axum::Router;
use hyper::body::Body as _;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::collections::HashMap;
use std::net::IpAddr;
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
    /// Connections open at once from one client address.
    pub max_per_address: usize,
}

impl ConnectionLimits {
    /// The limits `[server]` sets, each timeout between 1 s and a week whatever was
    /// configured (`u64::MAX` seconds once made every connection panic).
    pub fn from_config(server: &crate::config::ServerConfig) -> Self {
        let seconds = |s: u64| Duration::from_secs(s.clamp(1, crate::config::MAX_DURATION_SECONDS));
        Self {
            header_timeout: seconds(server.header_timeout_seconds),
            idle_timeout: seconds(server.idle_timeout_seconds),
            max_connections: server.max_connections.max(1),
            max_per_address: server.max_connections_per_address.max(1),
        }
    }

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
    /// The client's address.
    peer: IpAddr,
    /// Requests in flight on the connection.
    busy: usize,
    /// Requests in flight whose body has not all arrived.
    receiving: usize,
    /// Since when a body has been arriving (while `receiving` > 0).
    receiving_since: Option<Instant>,
    /// When it last finished a request (or was accepted).
    idle_since: Instant,
    /// Requests it has finished: none while its first request's headers are still coming.
    served: usize,
    /// Told to close.
    evicted: bool,
    /// Evicted as a slow client: dropped at once rather than let finish its request.
    cut: bool,
    close: Arc<Notify>,
}

/// The open connections.
#[derive(Debug, Default)]
struct Registry {
    next: u64,
    slots: HashMap<u64, Slot>,
}

impl Registry {
    fn open(&mut self, peer: IpAddr) -> (u64, Arc<Notify>) {
        let id = self.next;
        self.next += 1;
        let close = Arc::new(Notify::new());
        self.slots.insert(
            id,
            Slot {
                peer,
                busy: 0,
                receiving: 0,
                receiving_since: None,
                idle_since: Instant::now(),
                served: 0,
                evicted: false,
                cut: false,
                close: Arc::clone(&close),
            },
        );
        (id, close)
    }

    /// Connections that are not already closing (of `peer` when given).
    fn live(&self, peer: Option<IpAddr>) -> usize {
        self.slots
            .values()
            .filter(|s| !s.evicted && peer.is_none_or(|p| s.peer == p))
            .count()
    }

    /// Makes room for a connection from `peer` under the caps; false when there is none to
    /// make (every connection in the way is working on a whole request).
    fn admit(&mut self, peer: IpAddr, cap: usize, per_address: usize) -> bool {
        if self.live(Some(peer)) >= per_address && !self.evict_one(Some(peer)) {
            return false;
        }
        self.live(None) < cap || self.evict_one(None)
    }

    /// Tells one connection (of `peer` when given) to close, the first found of: the one idle
    /// longest between requests; the one whose body has been arriving longest (dropped at
    /// once); the one whose first request's headers have been coming longest. False when
    /// every one is working on a request whose body has arrived.
    ///
    /// A connection just accepted has sent nothing yet: were it idle like the rest, a crowd
    /// of new connections would evict each other, and the health check among them, before
    /// any of them is read.
    fn evict_one(&mut self, peer: Option<IpAddr>) -> bool {
        let candidates = || {
            self.slots
                .iter()
                .filter(move |(_, s)| !s.evicted && peer.is_none_or(|p| s.peer == p))
        };
        let idlest = || {
            candidates()
                .filter(|(_, s)| s.busy == 0 && s.served > 0)
                .min_by_key(|(_, s)| s.idle_since)
                .map(|(id, _)| (*id, false))
        };
        let slowest = || {
            candidates()
                .filter_map(|(id, s)| Some((*id, s.receiving_since?)))
                .min_by_key(|(_, since)| *since)
                .map(|(id, _)| (id, true))
        };
        let oldest_new = || {
            candidates()
                .filter(|(_, s)| s.busy == 0 && s.served == 0)
                .min_by_key(|(_, s)| s.idle_since)
                .map(|(id, _)| (*id, false))
        };
        match idlest().or_else(slowest).or_else(oldest_new) {
            Some((id, cut)) => {
                if let Some(slot) = self.slots.get_mut(&id) {
                    slot.evicted = true;
                    slot.cut = cut;
                    slot.close.notify_one();
                }
                true
            }
            None => false,
        }
    }

    /// When connection `id` has been idle long enough to close, as of now: `None` while a
    /// request is in flight.
    fn idle_deadline(&self, id: u64, idle_timeout: Duration) -> Option<Instant> {
        self.slots
            .get(&id)
            .filter(|s| s.busy == 0)
            .map(|s| s.idle_since.checked_add(idle_timeout).unwrap_or_else(far_future))
    }
}

/// An instant no timer reaches.
fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(7 * 86_400)
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
            slot.served += 1;
            slot.idle_since = Instant::now();
        }
    }
}

/// Marks a request's body as still arriving; dropped once it has all arrived (or the
/// request is dropped).
struct Receiving {
    registry: Arc<Mutex<Registry>>,
    id: u64,
}

impl Receiving {
    fn start(registry: &Arc<Mutex<Registry>>, id: u64) -> Self {
        if let Some(slot) = lock(registry).slots.get_mut(&id) {
            slot.receiving += 1;
            slot.receiving_since.get_or_insert_with(Instant::now);
        }
        Self {
            registry: Arc::clone(registry),
            id,
        }
    }
}

impl Drop for Receiving {
    fn drop(&mut self) {
        if let Some(slot) = lock(&self.registry).slots.get_mut(&self.id) {
            slot.receiving = slot.receiving.saturating_sub(1);
            if slot.receiving == 0 {
                slot.receiving_since = None;
            }
        }
    }
}

/// A request body that says when it has all arrived.
struct TrackedBody {
    inner: Incoming,
    receiving: Option<Receiving>,
}

impl hyper::body::Body for TrackedBody {
    type Data = hyper::body::Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        let polled = std::pin::Pin::new(&mut self.inner).poll_frame(cx);
        if matches!(polled, std::task::Poll::Ready(None | Some(Err(_)))) || self.inner.is_end_stream() {
            self.receiving = None;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
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
    let per_address = limits.max_per_address.clamp(1, cap);
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
            if !registry.admit(peer.ip(), cap, per_address) {
                debug!(
                    cap,
                    per_address, "connection refused: every connection is working on a request"
                );
                continue;
            }
            registry.open(peer.ip())
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
        hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
            let in_flight = InFlight::start(&registry, id);
            let (mut parts, body) = request.into_parts();
            // The client's address, for the admin API's rate limit.
            parts.extensions.insert(axum::extract::ConnectInfo(peer));
            let receiving = (!body.is_end_stream()).then(|| Receiving::start(&registry, id));
            let request = hyper::Request::from_parts(
                parts,
                TrackedBody {
                    inner: body,
                    receiving,
                },
            );
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
        let idle_deadline = lock(&registry).idle_deadline(id, limits.idle_timeout);
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
                if lock(&registry).slots.get(&id).is_some_and(|s| s.cut) {
                    debug!("slow client dropped at the connection cap");
                    break;
                }
                debug!("idle connection evicted at the connection cap");
                conn.as_mut().graceful_shutdown();
                closing_since = Some(Instant::now());
            }
            () = shutdown.cancelled(), if closing_since.is_none() => {
                conn.as_mut().graceful_shutdown();
                closing_since = Some(Instant::now());
            }
            () = tokio::time::sleep_until(wake_at) => {
                if closing_since.is_some() {
                    break;
                }
                // Read afresh: a request may have started since the deadline was computed,
                // and a connection in a request is not idle.
                let idle_deadline = lock(&registry).idle_deadline(id, limits.idle_timeout);
                if idle_deadline.is_some_and(|d| d <= Instant::now()) {
                    conn.as_mut().graceful_shutdown();
                    closing_since = Some(Instant::now());
                }
            }
        }
    }
    lock(&registry).slots.remove(&id);
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 2));

    #[test]
    fn the_idlest_connection_is_evicted_and_busy_ones_never() {
        let mut registry = Registry::default();
        let (a, _) = registry.open(A);
        let (b, _) = registry.open(A);
        registry.slots.get_mut(&a).unwrap().idle_since -= Duration::from_secs(5);
        registry.slots.get_mut(&a).unwrap().served = 1;
        registry.slots.get_mut(&b).unwrap().busy = 1;
        assert!(registry.evict_one(None));
        assert!(registry.slots[&a].evicted && !registry.slots[&a].cut);
        assert_eq!(registry.live(None), 1);
        assert!(
            !registry.evict_one(None),
            "b is in a request whose body has arrived"
        );
    }

    /// The request whose body has been arriving longest is a slow client's: its connection
    /// goes, at once, when there is no idle one; then the next slowest.
    #[test]
    fn the_slowest_body_is_evicted_when_no_connection_is_idle() {
        let mut registry = Registry::default();
        let now = Instant::now();
        let (slow, _) = registry.open(A);
        let (fresh, _) = registry.open(A);
        let (done, _) = registry.open(A);
        for (id, since) in [
            (slow, Some(now - Duration::from_secs(3))),
            (fresh, Some(now)),
            (done, None),
        ] {
            let slot = registry.slots.get_mut(&id).unwrap();
            slot.busy = 1;
            slot.receiving = usize::from(since.is_some());
            slot.receiving_since = since;
        }
        assert!(registry.evict_one(None));
        assert!(registry.slots[&slow].evicted && registry.slots[&slow].cut);
        assert!(registry.evict_one(None));
        assert!(registry.slots[&fresh].evicted);
        assert!(
            !registry.evict_one(None),
            "a request whose body has arrived is never evicted"
        );
    }

    /// Idle connections between requests go first, then slow bodies, and connections that
    /// have sent nothing yet last.
    #[test]
    fn a_connection_that_has_sent_nothing_yet_goes_last() {
        let mut registry = Registry::default();
        let (new, _) = registry.open(A);
        let (receiving, _) = registry.open(A);
        let (idle, _) = registry.open(A);
        registry.slots.get_mut(&new).unwrap().idle_since -= Duration::from_secs(60);
        let slot = registry.slots.get_mut(&receiving).unwrap();
        (slot.busy, slot.receiving, slot.receiving_since) = (1, 1, Some(Instant::now()));
        registry.slots.get_mut(&idle).unwrap().served = 3;
        for expected in [idle, receiving, new] {
            assert!(registry.evict_one(None));
            assert!(registry.slots[&expected].evicted, "{expected} next");
        }
    }

    /// Past the cap per address, a new connection makes room among its own address's.
    #[test]
    fn one_address_cannot_take_every_slot() {
        let mut registry = Registry::default();
        for _ in 0..3 {
            assert!(registry.admit(A, 10, 3));
            registry.open(A);
        }
        let (b, _) = registry.open(B);
        for slot in registry.slots.values_mut() {
            slot.busy = 1;
        }
        assert!(
            !registry.admit(A, 10, 3),
            "A's three are all working on a request"
        );
        assert!(registry.admit(B, 10, 3), "B is under its cap");
        registry.slots.get_mut(&b).unwrap().busy = 0;
        assert!(
            registry.admit(A, 4, 4),
            "at the global cap, B's idle connection makes room"
        );
        assert!(registry.slots[&b].evicted);
    }

    /// A request that starts after the idle deadline was read is not cut by it.
    #[test]
    fn a_connection_in_a_request_has_no_idle_deadline() {
        let mut registry = Registry::default();
        let (id, _) = registry.open(A);
        assert!(registry.idle_deadline(id, Duration::from_secs(5)).is_some());
        registry.slots.get_mut(&id).unwrap().busy = 1;
        assert!(registry.idle_deadline(id, Duration::from_secs(5)).is_none());
        registry.slots.get_mut(&id).unwrap().busy = 0;
        assert!(registry.idle_deadline(id, Duration::MAX).is_some(), "no overflow");
    }

    /// L7: whatever timeouts were configured, the server's stay within a week.
    #[test]
    fn the_limits_stay_within_a_week() {
        let server = crate::config::ServerConfig {
            idle_timeout_seconds: u64::MAX,
            header_timeout_seconds: u64::MAX,
            ..crate::config::ServerConfig::default()
        };
        let limits = ConnectionLimits::from_config(&server);
        let week = Duration::from_secs(crate::config::MAX_DURATION_SECONDS);
        assert!(limits.idle_timeout <= week && limits.header_timeout <= week);
    }

    #[test]
    fn the_cap_stays_under_the_descriptor_limit() {
        let limits = ConnectionLimits {
            header_timeout: Duration::from_secs(1),
            idle_timeout: Duration::from_secs(1),
            max_connections: usize::MAX,
            max_per_address: usize::MAX,
        };
        if let Some(limit) = open_files_limit() {
            assert!(limits.effective_max_connections() <= limit - RESERVED_DESCRIPTORS);
        }
    }
}
