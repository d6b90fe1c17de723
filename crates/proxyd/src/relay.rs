//! Bidirectional byte relay between a client and a server socket.
//!
//! Owns moving bytes (a 16 KiB buffer copy for small messages, splice(2) through a pipe for bulk
//! transfers on Linux, chosen per read as HAProxy's `splice-auto`), half-close (EOF on one side becomes `shutdown(SHUT_WR)` on the other while the
//! opposite direction keeps flowing) and the client and server inactivity timeouts. It must not
//! choose servers or log.
//!
//! # Timeouts (HAProxy 2.6, TCP mode, no `option independent-streams`)
//!
//! HAProxy arms four timers per session: a read and a write timer on each side. The client side
//! uses `timeout client`, the server side `timeout server`. Implemented here the same way, with
//! one simplification (write timers):
//!
//! - **Read timer of a side**: armed while its direction waits for input from that side; it is
//!   pushed back by every read from that side *and by every write to that side*. The second rule
//!   is HAProxy's "to prevent the client from expiring read timeouts during writes, we refresh
//!   it" (`stream_interface.c`/`stconn.c`, skipped only with `option independent-streams`).
//!   When it fires, HAProxy shuts that side's read (`sc_shutr`) and the shutdown propagates as a
//!   FIN to the other side, exactly like an EOF: the other direction keeps running until it ends
//!   by itself or by its own timer. The session is logged `cD` (client read timer) or `sD`
//!   (server read timer), CFG §8.5.
//! - **Write timer of a side**: armed while bytes wait to be written to that side and the socket
//!   accepts none; pushed back by each partial write. When it fires, this relay aborts the whole
//!   session (HAProxy shuts that side's write without lingering and lets the rest wind down),
//!   logged `cD` (writing to the client) or `sD` (writing to the server).
//! - The first timer or error that fires decides the termination code (HAProxy sets
//!   `SF_ERR_*` once). I/O errors abort the session: `CD` for the client side, `SD` for the
//!   server side.
//!
//! Consequences:
//!
//! - **Both directions idle**: the side with the shorter timeout expires first and names the
//!   code; its peer gets a FIN. The session ends when the peer closes in turn, or when the
//!   other side's own timer expires (HAProxy's `timeout client-fin`/`server-fin` do not exist
//!   here). With the usual equal timeouts, both fire together and the code is `cD` (the
//!   request direction is checked first, as in `process_stream`).
//! - **One direction streams, the other is idle** (Exchange RPC: `RPC_OUT_DATA` pushes to the
//!   client for minutes while the client says nothing): writes to the silent side refresh its
//!   read timer, so the session lives as long as bytes flow either way, whatever the two
//!   timeouts. Once everything stops, each side's timer runs from its own last read or write
//!   and the earlier deadline names the code. Exchange's own keep-alives (client 720 s, server 900 s, reference §1.3) therefore
//!   keep an idle RPC session open when both timeouts exceed 15 minutes.
//! - `option independent-streams`, `timeout tunnel`, `timeout client-fin`/`server-fin` are not
//!   configuration this runtime receives, so they are not applied.
//!
//! # Memory of idle connections
//!
//! A direction owns no pipe and no buffer while it waits for input: the pipe (or the 16 KiB
//! copy buffer, HAProxy's `tune.bufsize`) is taken on the first readable event and given back as
//! soon as a read would block again after everything read was written. Empty pipes go to a small
//! process-wide pool (as HAProxy's `get_pipe`/`put_pipe`), so busy connections do not create
//! and close pipes per message. An idle connection costs its two sockets and its task.

use std::io;
use std::net::Shutdown;
use std::os::fd::OwnedFd;
use std::pin::Pin;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use nix::fcntl::{OFlag, SpliceFFlags, splice};
use tokio::io::Interest;
use tokio::net::TcpStream;
use tokio::time::Sleep;

/// Bytes moved per splice(2) call (HAProxy's default pipe size).
const CHUNK: usize = 64 * 1024;

/// Copy buffer when splice is not used (HAProxy's default `tune.bufsize`).
const BUF: usize = 16 * 1024;

/// Empty pipes kept for reuse.
const POOLED_PIPES: usize = 256;

/// Copy buffers kept for reuse per worker thread (4 MiB each at most).
const POOLED_BUFS: usize = 256;

/// Bytes relayed in each direction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    /// Client to server.
    pub to_server: u64,
    /// Server to client (HAProxy's `%B`).
    pub to_client: u64,
}

/// The inactivity timeouts of a relay (`None`: never expires).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Timeouts {
    /// `timeout client`.
    pub client: Option<Duration>,
    /// `timeout server`.
    pub server: Option<Duration>,
}

/// How a relay ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// Both sides closed their write half.
    Closed,
    /// The client side timed out first (`timeout client`): `cD`.
    ClientTimeout,
    /// The server side timed out first (`timeout server`): `sD`.
    ServerTimeout,
    /// An I/O error on the client socket: `CD`.
    ClientError,
    /// An I/O error on the server socket: `SD`.
    ServerError,
    /// Stopped from outside (the server was marked DOWN with `on-marked-down shutdown-sessions`).
    Killed,
}

impl End {
    /// HAProxy's two-character termination state for a session that reached the data phase.
    pub fn termination(self) -> &'static str {
        match self {
            End::Closed => "--",
            End::ClientTimeout => "cD",
            End::ServerTimeout => "sD",
            End::ClientError => "CD",
            End::ServerError => "SD",
            // HAProxy's `D`: killed because the server went DOWN (`SF_ERR_DOWN`).
            End::Killed => "DD",
        }
    }
}

static PIPES: Mutex<Vec<(OwnedFd, OwnedFd)>> = Mutex::new(Vec::new());

thread_local! {
    /// Copy buffers of messages relayed on this worker thread, reused instead of allocating
    /// and zeroing 16 KiB per message (HAProxy's buffer pool).
    static BUFS: std::cell::RefCell<Vec<Box<[u8]>>> = const { std::cell::RefCell::new(Vec::new()) };
}

static SPLICED: AtomicU64 = AtomicU64::new(0);

/// Bytes this process has relayed through splice(2) pipes (the rest were copied).
pub fn spliced_bytes() -> u64 {
    SPLICED.load(Ordering::Relaxed)
}

enum Mover {
    Pipe(OwnedFd, OwnedFd),
    Buf(Box<[u8]>),
}

impl Mover {
    fn get(use_splice: bool) -> Self {
        if use_splice {
            let pooled = PIPES.lock().ok().and_then(|mut p| p.pop());
            if let Some((r, w)) = pooled {
                return Mover::Pipe(r, w);
            }
            if let Ok((r, w)) = nix::unistd::pipe2(OFlag::O_NONBLOCK | OFlag::O_CLOEXEC) {
                return Mover::Pipe(r, w);
            }
        }
        let pooled = BUFS.with_borrow_mut(Vec::pop);
        Mover::Buf(pooled.unwrap_or_else(|| vec![0; BUF].into_boxed_slice()))
    }

    /// Gives back a mover holding no data (a pipe to the process pool, a buffer to this
    /// thread's pool; beyond the pools' caps they are closed or freed).
    fn put(self) {
        match self {
            Mover::Pipe(r, w) => {
                if let Ok(mut pool) = PIPES.lock()
                    && pool.len() < POOLED_PIPES
                {
                    pool.push((r, w));
                }
            }
            Mover::Buf(b) => BUFS.with_borrow_mut(|pool| {
                if pool.len() < POOLED_BUFS {
                    pool.push(b);
                }
            }),
        }
    }
}

/// One side's read timer: last activity (read from it or write to it) and its timeout.
struct Side {
    start: Instant,
    last_ms: AtomicU64,
    timeout: Option<Duration>,
}

impl Side {
    fn new(start: Instant, timeout: Option<Duration>) -> Self {
        Side {
            start,
            last_ms: AtomicU64::new(0),
            timeout,
        }
    }
    /// Milliseconds since the relay started (one clock read).
    fn now_ms(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
    /// Records activity at `ms` (from [`Side::now_ms`] of either side: they share `start`).
    fn touch_at(&self, ms: u64) {
        self.last_ms.fetch_max(ms, Ordering::Relaxed);
    }
    fn deadline(&self) -> Option<tokio::time::Instant> {
        let t = self.timeout?;
        let last = self.start + Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
        Some(tokio::time::Instant::from_std(last + t))
    }
}

/// Awaits `fut` unless `deadline()` passes first (`None`); the deadline is re-read whenever the
/// timer fires, so activity elsewhere pushes it back.
async fn bounded<T>(
    deadline: impl Fn() -> Option<tokio::time::Instant>,
    fut: impl Future<Output = io::Result<T>>,
) -> Option<io::Result<T>> {
    tokio::pin!(fut);
    loop {
        let Some(d) = deadline() else {
            return Some(fut.await);
        };
        tokio::select! {
            r = &mut fut => return Some(r),
            () = tokio::time::sleep_until(d) => {
                if deadline().is_some_and(|d| tokio::time::Instant::now() >= d) {
                    return None;
                }
            }
        }
    }
}

fn to_io(e: nix::errno::Errno) -> io::Error {
    io::Error::from_raw_os_error(e as i32)
}

/// How one direction ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Eof,
    ReadTimeout,
    WriteTimeout,
    ReadError,
    WriteError,
}

/// Waits for `fut` while `deadline()` (which only ever moves later) has not passed. The timer
/// is created once per direction and re-armed only when it fires early, so a busy connection
/// touches the timer wheel once per timeout period, not once per message.
async fn ready_before(
    timer: &mut Option<Pin<Box<Sleep>>>,
    deadline: impl Fn() -> Option<tokio::time::Instant>,
    fut: impl Future<Output = io::Result<()>>,
) -> Option<io::Result<()>> {
    let Some(timer) = timer.as_mut() else {
        return Some(fut.await);
    };
    tokio::pin!(fut);
    loop {
        tokio::select! {
            r = &mut fut => return Some(r),
            () = timer.as_mut() => match deadline() {
                Some(d) if tokio::time::Instant::now() < d => timer.as_mut().reset(d),
                _ => return None,
            },
        }
    }
}

/// Reads from `src` into `m`. A copy read shorter than the buffer shows the socket is drained
/// (tokio's own `poll_read` rule for epoll), so readiness is cleared at once and the next read
/// waits for an event instead of paying a syscall to learn `EAGAIN`. A splice can be short
/// while data remains (the pipe has only 16 slots), so it never clears readiness that way.
fn read_into(src: &TcpStream, m: &mut Mover) -> io::Result<usize> {
    let flags = SpliceFFlags::SPLICE_F_NONBLOCK | SpliceFFlags::SPLICE_F_MOVE;
    match m {
        Mover::Pipe(_, w) => src.try_io(Interest::READABLE, || {
            splice(src, None, &*w, None, CHUNK, flags).map_err(to_io)
        }),
        Mover::Buf(buf) => {
            let mut short = None;
            let r = src.try_io(Interest::READABLE, || {
                let n = nix::unistd::read(src, buf).map_err(to_io)?;
                if n > 0 && n < buf.len() {
                    short = Some(n);
                    return Err(io::ErrorKind::WouldBlock.into());
                }
                Ok(n)
            });
            match short {
                Some(n) => Ok(n),
                None => r,
            }
        }
    }
}

/// One direction: read `src` until EOF, write everything to `dst`. Does not shut `dst`.
///
/// Copy or splice is chosen per read, as HAProxy's `splice-auto` does: a direction starts with
/// the 16 KiB copy buffer (small messages cost one read and one write); a read that fills the
/// buffer marks a bulk transfer and the next reads splice through a pipe; a splice that moves
/// less than one buffer's worth goes back to copying.
async fn pump(
    src: &TcpStream,
    dst: &TcpStream,
    src_side: &Side,
    dst_side: &Side,
    use_splice: bool,
    count: &AtomicU64,
    meter: &(dyn Fn(u64) + Sync),
) -> Outcome {
    let flags = SpliceFFlags::SPLICE_F_NONBLOCK | SpliceFFlags::SPLICE_F_MOVE;
    let mut mover: Option<Mover> = None;
    let mut bulk = false;
    let mut read_timer = src_side
        .deadline()
        .map(|d| Box::pin(tokio::time::sleep_until(d)));
    loop {
        let (n, m) = loop {
            let mut m = match mover.take() {
                Some(m) => m,
                None => {
                    match ready_before(&mut read_timer, || src_side.deadline(), src.readable())
                        .await
                    {
                        None => return Outcome::ReadTimeout,
                        Some(Err(_)) => return Outcome::ReadError,
                        Some(Ok(())) => {}
                    }
                    Mover::get(use_splice && bulk)
                }
            };
            match read_into(src, &mut m) {
                Ok(n) => break (n, m),
                // Nothing to read: the direction is idle, give its pipe or buffer back.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => m.put(),
                Err(_) => return Outcome::ReadError,
            }
        };
        if n == 0 {
            m.put();
            return Outcome::Eof;
        }
        // One clock read per message: the write that follows at once counts as the same instant.
        let mut at = src_side.now_ms();
        src_side.touch_at(at);
        let was_pipe = matches!(m, Mover::Pipe(..));
        bulk = n >= BUF;
        let mut off = 0;
        while off < n {
            let r = match &m {
                Mover::Pipe(r, _) => dst.try_io(Interest::WRITABLE, || {
                    splice(r, None, dst, None, n - off, flags).map_err(to_io)
                }),
                Mover::Buf(buf) => dst.try_write(&buf[off..n]),
            };
            match r {
                Ok(0) => return Outcome::WriteError,
                Ok(w) => {
                    off += w;
                    count.fetch_add(w as u64, Ordering::Relaxed);
                    meter(w as u64);
                    if was_pipe {
                        SPLICED.fetch_add(w as u64, Ordering::Relaxed);
                    }
                    // Writing to a side refreshes that side's read timer (HAProxy, non-
                    // independent streams).
                    dst_side.touch_at(at);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    // The write timer runs from the last progress (`at`).
                    let since = Duration::from_millis(at);
                    let write_deadline = || {
                        dst_side
                            .timeout
                            .map(|t| tokio::time::Instant::from_std(dst_side.start + since + t))
                    };
                    match bounded(write_deadline, dst.writable()).await {
                        None => return Outcome::WriteTimeout,
                        Some(Err(_)) => return Outcome::WriteError,
                        Some(Ok(())) => at = src_side.now_ms(),
                    }
                }
                Err(_) => return Outcome::WriteError,
            }
        }
        // Keep the mover while it suits the traffic; switching gives the old one back (empty).
        let want_pipe = use_splice && bulk;
        mover = if want_pipe == was_pipe {
            Some(m)
        } else {
            m.put();
            None
        };
    }
}

/// Relays both directions until both are closed, an error, or the timeouts (see the module
/// documentation for the rules).
pub async fn relay(
    client: &TcpStream,
    server: &TcpStream,
    timeouts: Timeouts,
    use_splice: bool,
) -> (Totals, End) {
    relay_until(
        client,
        server,
        timeouts,
        use_splice,
        std::future::pending(),
        &Meter::default(),
    )
    .await
}

/// Where relayed bytes are counted as they move (the stats' `bin` / `bout`), besides the
/// session's own totals: the frontend's, backend's and server's counters.
#[derive(Debug, Default)]
pub struct Meter<'a> {
    /// Counters that see every byte.
    pub counters: Vec<&'a crate::state::Counters>,
}

fn shut_write(s: &TcpStream) {
    let _ = socket2::SockRef::from(s).shutdown(Shutdown::Write);
}

/// [`relay`], also ending with [`End::Killed`] as soon as `stop` completes; the bytes moved so
/// far are still counted.
pub async fn relay_until(
    client: &TcpStream,
    server: &TcpStream,
    timeouts: Timeouts,
    use_splice: bool,
    stop: impl Future<Output = ()>,
    meter: &Meter<'_>,
) -> (Totals, End) {
    let start = tokio::time::Instant::now().into_std();
    let cside = Side::new(start, timeouts.client);
    let sside = Side::new(start, timeouts.server);
    let up = AtomicU64::new(0);
    let down = AtomicU64::new(0);
    let bin = |n: u64| meter.counters.iter().for_each(|c| c.bytes(n, 0));
    let bout = |n: u64| meter.counters.iter().for_each(|c| c.bytes(0, n));
    let a = pump(client, server, &cside, &sside, use_splice, &up, &bin);
    let b = pump(server, client, &sside, &cside, use_splice, &down, &bout);
    tokio::pin!(a, b);
    let both = async {
        let mut first: Option<End> = None;
        let (mut a_done, mut b_done) = (false, false);
        while !(a_done && b_done) {
            tokio::select! {
                // The request direction first, as `process_stream` checks `req` before `res`.
                biased;
                oa = &mut a, if !a_done => {
                    a_done = true;
                    match oa {
                        // Once both directions are done the sockets are closed at once, and
                        // close(2) sends the FIN: no separate shutdown(2) (as HAProxy).
                        Outcome::Eof if b_done => {}
                        Outcome::Eof => shut_write(server),
                        // The client read timer: shut the client's read, FIN to the server.
                        Outcome::ReadTimeout => {
                            shut_write(server);
                            first.get_or_insert(End::ClientTimeout);
                        }
                        Outcome::WriteTimeout => return *first.get_or_insert(End::ServerTimeout),
                        Outcome::ReadError => return *first.get_or_insert(End::ClientError),
                        Outcome::WriteError => return *first.get_or_insert(End::ServerError),
                    }
                }
                ob = &mut b, if !b_done => {
                    b_done = true;
                    match ob {
                        Outcome::Eof if a_done => {}
                        Outcome::Eof => shut_write(client),
                        Outcome::ReadTimeout => {
                            shut_write(client);
                            first.get_or_insert(End::ServerTimeout);
                        }
                        Outcome::WriteTimeout => return *first.get_or_insert(End::ClientTimeout),
                        Outcome::ReadError => return *first.get_or_insert(End::ServerError),
                        Outcome::WriteError => return *first.get_or_insert(End::ClientError),
                    }
                }
            }
        }
        first.unwrap_or(End::Closed)
    };
    let end = tokio::select! {
        end = both => end,
        () = stop => End::Killed,
    };
    let totals = Totals {
        to_server: up.load(Ordering::Relaxed),
        to_client: down.load(Ordering::Relaxed),
    };
    (totals, end)
}
