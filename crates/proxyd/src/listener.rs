//! Listening sockets and accept loops.
//!
//! Owns socket options of listeners (`IP_FREEBIND` so the VIP binds before this box holds it,
//! `SO_REUSEADDR`, backlog) and the backpressure on accept: a connection is accepted only once a
//! global and a frontend `maxconn` slot are held. It must not route or relay (that is
//! [`crate::session`]).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::{Shared, Shutdown, session};

/// The listen backlog for a frontend: its `maxconn` (HAProxy's default for `backlog`), so a
/// burst of connections waits in the kernel instead of losing SYNs to a retransmit one second
/// later; the kernel caps it at `net.core.somaxconn`.
pub fn backlog(maxconn: u32) -> i32 {
    i32::try_from(maxconn).unwrap_or(i32::MAX)
}

/// One bound listening socket of a frontend.
#[derive(Debug)]
pub struct Listener {
    /// Index of the frontend in the configuration.
    pub frontend: usize,
    /// What it was bound for: the configured address and `transparent` (a reload keeps the
    /// socket of a bind that is still configured).
    pub key: (SocketAddr, bool),
    /// The socket.
    pub socket: TcpListener,
    /// The local address every accepted connection has, when the bind names one address and
    /// is not `transparent` (HAProxy's rule); `None` means asking each socket (getsockname).
    pub local: Option<SocketAddr>,
}

impl Listener {
    /// Wraps a socket bound for `bind` of frontend `frontend`.
    pub fn new(frontend: usize, socket: TcpListener, bind: &lbcore::config::proxy::Bind) -> Self {
        let local = (!bind.transparent && !bind.addr.ip().is_unspecified())
            .then(|| socket.local_addr().ok())
            .flatten();
        Listener {
            frontend,
            key: (bind.addr, bind.transparent),
            socket,
            local,
        }
    }
}

/// Binds `addr` with `IP_FREEBIND` (`IPV6_FREEBIND` for IPv6), `SO_REUSEADDR` and, when
/// `transparent`, `IP_TRANSPARENT` (needs CAP_NET_ADMIN; a failure is logged, not fatal).
pub fn bind(addr: SocketAddr, transparent: bool, backlog: i32) -> std::io::Result<TcpListener> {
    let sock = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    sock.set_reuse_address(true)?;
    if addr.is_ipv6() {
        sock.set_only_v6(true)?;
        sock.set_freebind_v6(true)?;
    } else {
        sock.set_freebind_v4(true)?;
    }
    if transparent {
        let r = if addr.is_ipv6() {
            sock.set_ip_transparent_v6(true)
        } else {
            sock.set_ip_transparent_v4(true)
        };
        if let Err(e) = r {
            tracing::warn!(%addr, error = %e, "cannot set ip_transparent on listener");
        }
    }
    sock.set_nonblocking(true)?;
    sock.bind(&addr.into())?;
    sock.listen(backlog)?;
    TcpListener::from_std(sock.into())
}

/// How long a listener pauses after a failed accept (EMFILE, ENFILE, ENOBUFS...).
pub const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// Accept failures are logged at most once per this interval, with the count suppressed.
pub const ACCEPT_ERROR_LOG_EVERY: Duration = Duration::from_secs(10);

/// Counts a connection in `Shared::active` and its frontend's count while it lives.
struct Active<'a> {
    shared: &'a Shared,
    fe: usize,
}

impl<'a> Active<'a> {
    fn enter(shared: &'a Shared, fe: usize) -> Self {
        shared.active.fetch_add(1, Ordering::Relaxed);
        shared.frontend_active[fe].fetch_add(1, Ordering::Relaxed);
        Active { shared, fe }
    }
}

impl Drop for Active<'_> {
    fn drop(&mut self) {
        self.shared.active.fetch_sub(1, Ordering::Relaxed);
        self.shared.frontend_active[self.fe].fetch_sub(1, Ordering::Relaxed);
    }
}

/// Rate-limited reporting of failed accepts: the first one at once, then one line per
/// [`ACCEPT_ERROR_LOG_EVERY`] with how many were not logged.
#[derive(Debug, Default)]
struct AcceptErrors {
    last: Option<tokio::time::Instant>,
    suppressed: u64,
    total: u64,
}

impl AcceptErrors {
    fn record(&mut self, e: &std::io::Error, frontend: &str) {
        self.total += 1;
        let now = tokio::time::Instant::now();
        if self
            .last
            .is_some_and(|t| now.duration_since(t) < ACCEPT_ERROR_LOG_EVERY)
        {
            self.suppressed += 1;
            return;
        }
        tracing::warn!(frontend, error = %e, total = self.total, suppressed = self.suppressed, "accept failed");
        self.last = Some(now);
        self.suppressed = 0;
    }
}

/// Accepts connections on `l` until `shutdown`, one session task each (tracked by `tracker`).
pub async fn accept_loop(
    l: Listener,
    shared: Arc<Shared>,
    shutdown: Shutdown,
    tracker: TaskTracker,
) {
    accept_until(l, shared, shutdown, tracker, CancellationToken::new()).await;
}

/// [`accept_loop`] that also ends when `handover` is cancelled (a reload), giving the listener
/// back. Accepting is cancel-safe: a connection not accepted yet stays in the kernel backlog for
/// the next accept loop, so a reload refuses nothing.
pub async fn accept_until(
    l: Listener,
    shared: Arc<Shared>,
    shutdown: Shutdown,
    tracker: TaskTracker,
    handover: CancellationToken,
) -> Listener {
    let (fe, local) = (l.frontend, l.local);
    let mut errors = AcceptErrors::default();
    loop {
        // Backpressure: hold a global then a frontend slot before accepting, so a full proxy
        // leaves new connections in the kernel backlog (HAProxy stops polling the listener).
        let permits = tokio::select! {
            () = handover.cancelled() => break,
            () = shutdown.graceful.cancelled() => break,
            () = shutdown.hard.cancelled() => break,
            p = async {
                let g = shared.global_slots.clone().acquire_owned().await;
                let f = shared.frontend_slots[fe].clone().acquire_owned().await;
                (g, f)
            } => p,
        };
        let (Ok(g), Ok(f)) = permits else { break };
        let accepted = tokio::select! {
            () = handover.cancelled() => break,
            () = shutdown.graceful.cancelled() => break,
            () = shutdown.hard.cancelled() => break,
            a = l.socket.accept() => a,
        };
        match accepted {
            Ok((stream, peer)) => {
                let shared = shared.clone();
                let hard = shutdown.hard.clone();
                tracker.spawn(async move {
                    let _permits = (g, f);
                    let _active = Active::enter(&shared, fe);
                    tokio::select! {
                        () = session::handle(shared.clone(), fe, stream, peer, local) => {}
                        () = hard.cancelled() => {}
                    }
                });
            }
            Err(e) => {
                errors.record(&e, &shared.config.frontends[fe].name);
                // Out of descriptors or memory: the connection stays in the kernel backlog;
                // pause this listener briefly instead of spinning (HAProxy pauses it too).
                tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
            }
        }
    }
    tracing::debug!(frontend = %shared.config.frontends[fe].name, "listener stopped");
    l
}
