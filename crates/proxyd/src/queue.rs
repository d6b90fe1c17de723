//! Per-server and per-backend wait queues for connections that found their server, or every
//! eligible server, at `maxconn` (HAProxy's pendconn queues, `src/queue.c`).
//!
//! Owns FIFO order, `maxqueue`, handing a freed slot to the oldest waiter and the connection slot
//! itself ([`Slot`]). It must not pick servers (that is `lbcore::balance`) nor do socket I/O.
//!
//! # Model (HAProxy 2.6 `assign_server_and_queue`, `process_srv_queue`)
//!
//! - A connection with an *assigned* server S (a stick-table hit, or the hashed server of
//!   `balance source`) takes a slot on S if S has one and nobody waits in S's queue; otherwise it
//!   waits in S's queue. When S's queue already holds `maxqueue` waiters it is not queued: a
//!   stick-table hit with `option redispatch` is redispatched (persistence broken, the algorithm
//!   picks again, and may land in the backend queue); without `option redispatch`, or when S came
//!   from the hash, the connection fails with `sQ` (HAProxy's `srv_redispatch_connect`, which
//!   redispatches only `SF_DIRECT` streams with `PR_O_REDISP`; the manual's "redispatched" is
//!   that case).
//! - A connection without an assigned server takes the first candidate of the algorithm with a
//!   free slot and an empty queue; when there is none, it waits in the backend queue.
//! - When a slot on S frees, it goes straight to the oldest waiter of S's queue and the backend
//!   queue together (the backend queue only if S is eligible for load balancing, as
//!   `px_ok` in `process_srv_queue`); a backend-queue waiter then gets S. The slot never returns
//!   to the pool in between, so a new arrival cannot overtake a waiter.
//! - A waiter leaves its queue when it gives up (`timeout queue`, client error, the session being
//!   dropped at hard shutdown). If a slot was handed to it at that very moment, the slot is
//!   released again, which passes it to the next waiter: no slot is leaked nor lost.
//!
//! One mutex per backend guards all of that backend's queues (the backend queue and every server
//! queue), so "the oldest of two queues" is decided under a single lock. The hot path (free slot,
//! nobody queued) takes no queue lock and allocates nothing here: it reads two atomic queue
//! lengths and does one compare-and-swap on the server's connection count. The release path takes
//! the lock only when a queue it serves is non-empty. A release decrements the count and then
//! reads the queue lengths, while a waiter publishes its queue length before re-checking the count
//! under the lock: one of the two always sees the other, so a slot never frees unseen.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::oneshot;

use crate::Shared;

/// A held connection slot on one server; released on drop, which hands it to the oldest waiter
/// of that server's queue or of the backend queue if there is one.
#[derive(Debug)]
pub struct Slot {
    shared: Arc<Shared>,
    backend: usize,
    server: usize,
    armed: bool,
}

impl Slot {
    /// A slot already taken on server `si` of backend `bi` (its `conns` counted by the caller).
    fn held(shared: &Arc<Shared>, bi: usize, si: usize) -> Self {
        Slot {
            shared: shared.clone(),
            backend: bi,
            server: si,
            armed: true,
        }
    }

    /// Index of the server (in `Backend::servers`) this slot is on.
    pub fn server(&self) -> usize {
        self.server
    }

    /// Index of the backend.
    pub fn backend(&self) -> usize {
        self.backend
    }

    /// Gives the slot back without serving the queues (the caller holds the queue lock and
    /// serves them itself).
    fn release_quietly(mut self) {
        self.armed = false;
        self.shared.backends[self.backend].servers[self.server]
            .conns
            .fetch_sub(1, Ordering::SeqCst);
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let bs = &self.shared.backends[self.backend];
        let st = &bs.servers[self.server];
        let waiting =
            || st.queued.load(Ordering::SeqCst) > 0 || bs.queued.load(Ordering::SeqCst) > 0;
        if waiting() {
            // Hand this very slot to the oldest waiter: it never becomes free in between, so a
            // newcomer cannot take it first (HAProxy dequeues synchronously on release).
            let px_ok = eligible_for_backend_queue(&self.shared, self.backend, self.server);
            let mut q = bs.queues.lock();
            q.serve(&self.shared, self.backend, self.server, px_ok, true);
            return;
        }
        st.conns.fetch_sub(1, Ordering::SeqCst);
        // Pairs with `acquire`, where a waiter bumps a queue length before re-checking `conns`
        // under the lock: either it sees this release, or this sees its queue length.
        if waiting() {
            let px_ok = eligible_for_backend_queue(&self.shared, self.backend, self.server);
            let mut q = bs.queues.lock();
            q.serve(&self.shared, self.backend, self.server, px_ok, false);
        }
    }
}

/// HAProxy's `px_ok`: may server `si` take connections from the backend queue? Only if the
/// algorithm could pick it now (usable, not a backup unless backups are in use).
fn eligible_for_backend_queue(shared: &Shared, bi: usize, si: usize) -> bool {
    let be = &shared.config.backends[bi];
    let st = &shared.backends[bi];
    let views = st.views(be);
    let allbackups = be.allbackups;
    lbcore::balance::eligible(&views, allbackups).contains(&si)
}

/// What a waiter receives: the slot and its position as HAProxy logs it (`%sq`/`%bq`).
#[derive(Debug)]
struct Grant {
    slot: Slot,
    pos: u64,
}

/// What wakes a waiter.
#[derive(Debug)]
enum Wake {
    /// A slot.
    Slot(Grant),
    /// Its server went DOWN with `option redispatch`: choose again (`pendconn_redistribute`).
    Redispatch(u64),
}

#[derive(Debug)]
struct Waiter {
    seq: u64,
    /// The queue's dequeue index when this waiter joined (HAProxy's `queue_idx` is this minus
    /// one, so that the first in line logs position 1).
    idx: u64,
    tx: oneshot::Sender<Wake>,
}

#[derive(Debug, Default)]
struct Fifo {
    waiters: VecDeque<Waiter>,
    /// Waiters dequeued (served or given up) so far: HAProxy's `queue.idx`.
    idx: u64,
}

impl Fifo {
    fn remove(&mut self, seq: u64) -> Option<Waiter> {
        let at = self.waiters.iter().position(|w| w.seq == seq)?;
        self.waiters.remove(at)
    }
}

/// All wait queues of one backend, behind one lock.
#[derive(Debug)]
pub struct Queues {
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    seq: u64,
    backend: Fifo,
    servers: Vec<Fifo>,
}

/// Which queue a waiter is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Which {
    Backend,
    Server(usize),
}

impl Queues {
    /// Empty queues for a backend of `servers` servers.
    pub fn new(servers: usize) -> Self {
        Queues {
            inner: Mutex::new(Inner {
                seq: 0,
                backend: Fifo::default(),
                servers: (0..servers).map(|_| Fifo::default()).collect(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves consistent data (every step is one push/pop).
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Inner {
    fn fifo(&mut self, w: Which) -> &mut Fifo {
        match w {
            Which::Backend => &mut self.backend,
            Which::Server(i) => &mut self.servers[i],
        }
    }

    /// HAProxy's `process_srv_queue`: while server `si` has a free slot, hand it to the oldest
    /// waiter of its queue and (if `px_ok`) of the backend queue. `held`: the caller gives up a
    /// slot it holds on `si`, handed over first (and released if nobody takes it).
    fn serve(&mut self, shared: &Arc<Shared>, bi: usize, si: usize, px_ok: bool, held: bool) {
        let mut held = held;
        let bs = &shared.backends[bi];
        let st = &bs.servers[si];
        let maxconn = shared.config.backends[bi].servers[si].maxconn;
        loop {
            let srv_head = self.servers[si].waiters.front().map(|w| w.seq);
            let be_head = px_ok
                .then(|| self.backend.waiters.front().map(|w| w.seq))
                .flatten();
            let from = match (srv_head, be_head) {
                (None, None) => {
                    if held {
                        st.conns.fetch_sub(1, Ordering::SeqCst);
                    }
                    return;
                }
                (Some(_), None) => Which::Server(si),
                (None, Some(_)) => Which::Backend,
                (Some(s), Some(b)) => {
                    if s <= b {
                        Which::Server(si)
                    } else {
                        Which::Backend
                    }
                }
            };
            if held {
                held = false;
            } else if !st.try_take(maxconn) {
                return;
            }
            let fifo = self.fifo(from);
            let Some(w) = fifo.waiters.pop_front() else {
                // Unreachable: `from` names a non-empty queue.
                st.conns.fetch_sub(1, Ordering::SeqCst);
                return;
            };
            let pos = fifo.idx + 1 - w.idx;
            fifo.idx += 1;
            match from {
                Which::Backend => bs.queued.fetch_sub(1, Ordering::SeqCst),
                Which::Server(_) => st.queued.fetch_sub(1, Ordering::SeqCst),
            };
            let slot = Slot::held(shared, bi, si);
            if let Err(Wake::Slot(g)) = w.tx.send(Wake::Slot(Grant { slot, pos })) {
                // The waiter is gone (it removes itself before dropping its receiver, so this
                // is belt and braces): give the slot back and try the next one.
                g.slot.release_quietly();
            }
        }
    }

    /// Serves every server of the backend that has a free slot (new arrivals on the slow path
    /// call this first, so a slot freed without a release, e.g. a server coming back, goes to
    /// the oldest waiters before the newcomer).
    fn serve_all(&mut self, shared: &Arc<Shared>, bi: usize) {
        let be = &shared.config.backends[bi];
        let st = &shared.backends[bi];
        let has_backend = !self.backend.waiters.is_empty();
        let elig = if has_backend {
            lbcore::balance::eligible(&st.views(be), be.allbackups)
        } else {
            Vec::new()
        };
        for si in 0..be.servers.len() {
            let px_ok = elig.contains(&si);
            if px_ok || !self.servers[si].waiters.is_empty() {
                self.serve(shared, bi, si, px_ok, false);
            }
        }
    }
}

/// How [`acquire`] failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No server can take the connection at all (none usable): HAProxy's `SC`-class failure.
    NoServer,
    /// The assigned server's queue is at `maxqueue` and the connection cannot be redispatched.
    QueueFull,
    /// Waited `timeout queue` in a queue without getting a slot (`sQ`).
    Timeout,
    /// The client aborted (reset) while queued (`CQ`).
    ClientAbort,
}

/// Where the slot came from, for the access log.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Positions {
    /// `%sq`: 0 if the connection did not wait in a server queue, else 1 + the number of
    /// waiters that left that queue before it did.
    pub srv: u64,
    /// `%bq`: the same for the backend queue.
    pub backend: u64,
    /// Whether the connection waited in a queue at all.
    pub queued: bool,
}

/// The server choice for one connection attempt, as [`acquire`] needs it.
#[derive(Debug, Clone)]
pub enum Choice {
    /// A server assigned before load balancing (stick-table hit = `direct`, or the hashed server
    /// of `balance source`): take a slot there or wait in its queue.
    Assigned {
        /// Server index.
        server: usize,
        /// A persistence hit (HAProxy's `SF_DIRECT`): may be redispatched when the queue is full.
        direct: bool,
    },
    /// Load balancing: the algorithm's candidates in order; the first with a free slot wins,
    /// else the backend queue.
    Any(Vec<usize>),
}

fn try_server(shared: &Arc<Shared>, bi: usize, si: usize) -> Option<Slot> {
    let st = &shared.backends[bi].servers[si];
    let maxconn = shared.config.backends[bi].servers[si].maxconn;
    // A server with waiters is full for newcomers (HAProxy: `srv->queue.length || served >= max`).
    if st.queued.load(Ordering::SeqCst) == 0 && st.try_take(maxconn) {
        Some(Slot::held(shared, bi, si))
    } else {
        None
    }
}

/// Takes a slot for `choice` without waiting, or returns `None`. Never locks a queue; fails
/// (so the caller goes to [`acquire`]) as soon as the backend queue has waiters.
pub fn try_fast(shared: &Arc<Shared>, bi: usize, choice: &Choice) -> Option<Slot> {
    match choice {
        Choice::Assigned { server, .. } => try_server(shared, bi, *server),
        Choice::Any(candidates) => {
            if shared.backends[bi].queued.load(Ordering::SeqCst) > 0 {
                return None;
            }
            candidates.iter().find_map(|&i| try_server(shared, bi, i))
        }
    }
}

/// A queued waiter; leaves its queue when dropped (hard shutdown drops the session future).
struct Pending<'a> {
    shared: &'a Arc<Shared>,
    bi: usize,
    which: Which,
    seq: u64,
    rx: oneshot::Receiver<Wake>,
}

impl Pending<'_> {
    /// Leaves the queue. `Some(position)` if this waiter was still in it (no slot was handed
    /// over); HAProxy counts an abandon in the queue index like a dequeue.
    fn leave(&mut self) -> Option<u64> {
        let bs = &self.shared.backends[self.bi];
        let mut q = bs.queues.lock();
        let fifo = q.fifo(self.which);
        let w = fifo.remove(self.seq)?;
        let pos = fifo.idx + 1 - w.idx;
        fifo.idx += 1;
        match self.which {
            Which::Backend => bs.queued.fetch_sub(1, Ordering::SeqCst),
            Which::Server(i) => bs.servers[i].queued.fetch_sub(1, Ordering::SeqCst),
        };
        Some(pos)
    }
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        // Leave under the lock; a grant already sent stays in `rx` and is released (and passed
        // on to the next waiter) when `rx` drops right after, outside the lock.
        self.leave();
    }
}

/// Joins the right queue (or takes a slot that freed meanwhile) and waits for a slot until
/// `deadline` ([`Refusal::Timeout`]); `stop` completing (the client reset the connection)
/// abandons the wait ([`Refusal::ClientAbort`]). `redispatch` gives the load-balanced choice
/// used when a persistence hit finds its server's queue at `maxqueue` with `option redispatch`.
pub async fn acquire(
    shared: &Arc<Shared>,
    bi: usize,
    choice: Choice,
    redispatch: impl Fn() -> Choice,
    deadline: tokio::time::Instant,
    stop: impl Future<Output = ()>,
) -> Result<(Slot, Positions), (Refusal, Positions)> {
    let be = &shared.config.backends[bi];
    let bs = &shared.backends[bi];
    let mut choice = choice;
    // Positions in queues left for a redispatch still count (HAProxy adds them up).
    let mut acc = Positions::default();
    tokio::pin!(stop);
    loop {
        let (which, seq, rx) = loop {
            let mut q = bs.queues.lock();
            q.serve_all(shared, bi);
            match &choice {
                Choice::Assigned { server, direct } => {
                    let si = *server;
                    let st = &bs.servers[si];
                    st.queued.fetch_add(1, Ordering::SeqCst);
                    if q.servers[si].waiters.is_empty() && st.try_take(be.servers[si].maxconn) {
                        st.queued.fetch_sub(1, Ordering::SeqCst);
                        let slot = Slot::held(shared, bi, si);
                        return Ok((slot, acc));
                    }
                    let maxqueue = be.servers[si].maxqueue;
                    if maxqueue > 0 && q.servers[si].waiters.len() >= maxqueue as usize {
                        st.queued.fetch_sub(1, Ordering::SeqCst);
                        drop(q);
                        if *direct && be.redispatch {
                            tracing::debug!(backend = %be.name, server = %be.servers[si].name, "maxqueue reached, redispatching");
                            choice = redispatch();
                            if let Some(s) = try_fast(shared, bi, &choice) {
                                return Ok((s, acc));
                            }
                            continue;
                        }
                        return Err((Refusal::QueueFull, acc));
                    }
                    let (tx, rx) = oneshot::channel();
                    q.seq += 1;
                    let seq = q.seq;
                    let fifo = &mut q.servers[si];
                    fifo.waiters.push_back(Waiter {
                        seq,
                        idx: fifo.idx,
                        tx,
                    });
                    break (Which::Server(si), seq, rx);
                }
                Choice::Any(candidates) => {
                    if candidates.is_empty() {
                        return Err((Refusal::NoServer, acc));
                    }
                    bs.queued.fetch_add(1, Ordering::SeqCst);
                    if q.backend.waiters.is_empty() {
                        for &si in candidates {
                            let st = &bs.servers[si];
                            if q.servers[si].waiters.is_empty()
                                && st.try_take(be.servers[si].maxconn)
                            {
                                bs.queued.fetch_sub(1, Ordering::SeqCst);
                                let slot = Slot::held(shared, bi, si);
                                return Ok((slot, acc));
                            }
                        }
                    }
                    let (tx, rx) = oneshot::channel();
                    q.seq += 1;
                    let seq = q.seq;
                    let fifo = &mut q.backend;
                    fifo.waiters.push_back(Waiter {
                        seq,
                        idx: fifo.idx,
                        tx,
                    });
                    break (Which::Backend, seq, rx);
                }
            }
        };
        let mut pending = Pending {
            shared,
            bi,
            which,
            seq,
            rx,
        };
        let positions = |pos: u64| Positions {
            srv: acc.srv + if which == Which::Backend { 0 } else { pos },
            backend: acc.backend + if which == Which::Backend { pos } else { 0 },
            queued: true,
        };
        tokio::select! {
            w = &mut pending.rx => match w {
                Ok(Wake::Slot(g)) => return Ok((g.slot, positions(g.pos))),
                Ok(Wake::Redispatch(pos)) => {
                    acc = positions(pos);
                    choice = redispatch();
                }
                Err(_) => return Err((Refusal::Timeout, positions(0))),
            },
            () = tokio::time::sleep_until(deadline) => {
                // Gave up: leave the queue unless a slot was handed over at this very moment, in
                // which case take it (it is ours; refusing it would only pass it on).
                return match pending.leave() {
                    Some(pos) => Err((Refusal::Timeout, positions(pos))),
                    None => match pending.rx.try_recv() {
                        Ok(Wake::Slot(g)) => Ok((g.slot, positions(g.pos))),
                        Ok(Wake::Redispatch(pos)) => Err((Refusal::Timeout, positions(pos))),
                        Err(_) => Err((Refusal::Timeout, positions(0))),
                    },
                };
            }
            () = &mut stop => {
                // A grant that raced with the abort is released when `pending` drops: the slot
                // goes to the next waiter.
                let pos = pending.leave().unwrap_or(0);
                return Err((Refusal::ClientAbort, positions(pos)));
            }
        }
    }
}

/// HAProxy's queue reaction to a health transition of server `si`, for the health checker to
/// call after it changed `ServerState::usable`:
///
/// - `up`: backend-queue waiters take the server's free slots (`pendconn_grab_from_px`).
/// - down, with `option redispatch`: the waiters of the server's own queue go back to load
///   balancing, persistence broken (`pendconn_redistribute`); without it they keep waiting for
///   the server until `timeout queue`, as in HAProxy.
///
/// A no-op when nobody waits.
pub fn server_changed(shared: &Arc<Shared>, bi: usize, si: usize, up: bool) {
    let bs = &shared.backends[bi];
    if up {
        if bs.queued.load(Ordering::SeqCst) > 0 {
            bs.queues.lock().serve_all(shared, bi);
        }
        return;
    }
    if !shared.config.backends[bi].redispatch || bs.servers[si].queued.load(Ordering::SeqCst) == 0 {
        return;
    }
    let mut q = bs.queues.lock();
    let fifo = &mut q.servers[si];
    while let Some(w) = fifo.waiters.pop_front() {
        let pos = fifo.idx + 1 - w.idx;
        fifo.idx += 1;
        bs.servers[si].queued.fetch_sub(1, Ordering::SeqCst);
        // A waiter already gone needs nothing more.
        let _ = w.tx.send(Wake::Redispatch(pos));
    }
}
