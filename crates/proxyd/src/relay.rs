//! Bidirectional byte relay between a client and a server socket.
//!
//! Owns moving bytes (splice(2) through a pipe on Linux, a buffer copy otherwise or when a pipe
//! cannot be made), half-close (EOF on one side becomes `shutdown(SHUT_WR)` on the other while the
//! opposite direction keeps flowing) and the idle timeout. It must not choose servers or log.

use std::io;
use std::net::Shutdown;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use nix::fcntl::{OFlag, SpliceFFlags, splice};
use tokio::io::Interest;
use tokio::net::TcpStream;

/// Bytes moved per splice(2) call (HAProxy's default pipe size).
const CHUNK: usize = 64 * 1024;

/// Bytes relayed in each direction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    /// Client to server.
    pub to_server: u64,
    /// Server to client (HAProxy's `%B`).
    pub to_client: u64,
}

/// How a relay ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// Both sides closed their write half.
    Closed,
    /// No byte moved in either direction for the idle timeout.
    Idle,
    /// An I/O error on one side.
    Error,
    /// Stopped from outside (the server was marked DOWN with `on-marked-down shutdown-sessions`).
    Killed,
}

enum Mover {
    Pipe(OwnedFd, OwnedFd),
    Buf(Vec<u8>),
}

impl Mover {
    fn new(use_splice: bool) -> Self {
        if use_splice && let Ok((r, w)) = nix::unistd::pipe2(OFlag::O_NONBLOCK | OFlag::O_CLOEXEC) {
            return Mover::Pipe(r, w);
        }
        Mover::Buf(vec![0; CHUNK])
    }
}

struct Activity {
    start: Instant,
    last_ms: AtomicU64,
}

impl Activity {
    fn touch(&self) {
        let ms = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Ordering::Relaxed);
    }
    fn deadline(&self, idle: Duration) -> tokio::time::Instant {
        let last = self.start + Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
        tokio::time::Instant::from_std(last + idle)
    }
}

/// Waits for `fut` or the idle deadline, re-arming while the other direction is active.
async fn idle_wait<T>(
    act: &Activity,
    idle: Option<Duration>,
    fut: impl Future<Output = io::Result<T>>,
) -> Result<T, End> {
    let Some(idle) = idle else {
        return fut.await.map_err(|_| End::Error);
    };
    tokio::pin!(fut);
    loop {
        tokio::select! {
            r = &mut fut => return r.map_err(|_| End::Error),
            () = tokio::time::sleep_until(act.deadline(idle)) => {
                if tokio::time::Instant::now() >= act.deadline(idle) {
                    return Err(End::Idle);
                }
            }
        }
    }
}

fn to_io(e: nix::errno::Errno) -> io::Error {
    io::Error::from_raw_os_error(e as i32)
}

/// One direction: read `src` until EOF, write everything to `dst`, then shut `dst`'s write half.
async fn pump(
    src: &TcpStream,
    dst: &TcpStream,
    mut mover: Mover,
    act: &Activity,
    idle: Option<Duration>,
    count: &AtomicU64,
) -> End {
    let flags = SpliceFFlags::SPLICE_F_NONBLOCK | SpliceFFlags::SPLICE_F_MOVE;
    loop {
        let n = match idle_wait(act, idle, async {
            loop {
                src.readable().await?;
                let r = match &mut mover {
                    Mover::Pipe(_, w) => src.try_io(Interest::READABLE, || {
                        splice(src, None, &*w, None, CHUNK, flags).map_err(to_io)
                    }),
                    Mover::Buf(buf) => src.try_read(buf),
                };
                match r {
                    Ok(n) => return Ok(n),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                    Err(e) => return Err(e),
                }
            }
        })
        .await
        {
            Ok(n) => n,
            Err(end) => return end,
        };
        if n == 0 {
            // Half-close: the reader saw FIN; pass it on and let the other direction run.
            let _ = socket2::SockRef::from(dst).shutdown(Shutdown::Write);
            return End::Closed;
        }
        act.touch();
        let mut off = 0;
        while off < n {
            let w = idle_wait(act, idle, async {
                loop {
                    dst.writable().await?;
                    let r = match &mover {
                        Mover::Pipe(r, _) => dst.try_io(Interest::WRITABLE, || {
                            splice(r, None, dst, None, n - off, flags).map_err(to_io)
                        }),
                        Mover::Buf(buf) => dst.try_write(&buf[off..n]),
                    };
                    match r {
                        Ok(w) => return Ok(w),
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                        Err(e) => return Err(e),
                    }
                }
            })
            .await;
            match w {
                Ok(0) => return End::Error,
                Ok(w) => {
                    off += w;
                    count.fetch_add(w as u64, Ordering::Relaxed);
                    act.touch();
                }
                Err(end) => return end,
            }
        }
    }
}

/// Relays both directions until both are closed, an error, or `idle` passes with no byte moved
/// either way (HAProxy's `timeout client`/`timeout server`, here the smaller of the two).
pub async fn relay(
    client: &TcpStream,
    server: &TcpStream,
    idle: Option<Duration>,
    use_splice: bool,
) -> (Totals, End) {
    relay_until(client, server, idle, use_splice, std::future::pending()).await
}

/// [`relay`], also ending with [`End::Killed`] as soon as `stop` completes; the bytes moved so
/// far are still counted.
pub async fn relay_until(
    client: &TcpStream,
    server: &TcpStream,
    idle: Option<Duration>,
    use_splice: bool,
    stop: impl Future<Output = ()>,
) -> (Totals, End) {
    let act = Activity {
        start: tokio::time::Instant::now().into_std(),
        last_ms: AtomicU64::new(0),
    };
    let up = AtomicU64::new(0);
    let down = AtomicU64::new(0);
    let a = pump(client, server, Mover::new(use_splice), &act, idle, &up);
    let b = pump(server, client, Mover::new(use_splice), &act, idle, &down);
    tokio::pin!(a, b);
    // When one direction fails or idles out, the whole session ends (HAProxy closes both sides).
    let both = async {
        tokio::select! {
            ea = &mut a => if ea == End::Closed { b.await } else { ea },
            eb = &mut b => if eb == End::Closed { a.await } else { eb },
        }
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
