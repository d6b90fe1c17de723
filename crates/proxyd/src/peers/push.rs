//! The connection to one remote peer: hello, full resync, then the entries learned here as the
//! table's `changed` watch announces them, with heartbeats; reconnect with bounded backoff after
//! any failure. Must not apply received entries (that is [`super::accept`]'s side).

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::Poll;

use lbcore::config::proxy::Peer;
use lbcore::peers::{
    self, DEAD_AFTER, HEARTBEAT, Hello, HelloStatus, MAX_BATCH, Message, Update, Updates,
};
use tokio::io::BufReader;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::{CONNECT_TIMEOUT, Ctx, HELLO_TIMEOUT, PeersError, PeersStats, TableRef};
use super::{PUSH_GAP_FACTOR, PUSH_GAP_MAX};
use super::{tables, wire};

/// Keeps a connection to `remote` of section `si` until `stop`.
pub(super) async fn run(ctx: Arc<Ctx>, si: usize, remote: Peer) {
    let section = ctx.section(si).name.clone();
    let mut failures = 0u32;
    loop {
        let mut up = false;
        let r = session(&ctx, si, &remote, &mut up).await;
        if ctx.stop.is_cancelled() {
            return;
        }
        match r {
            Ok(()) => return,
            Err(e) if up => {
                failures = 0;
                tracing::warn!(section = %section, peer = %remote.name, error = %e, "peer connection lost");
            }
            Err(e @ PeersError::Refused(_)) => {
                tracing::warn!(section = %section, peer = %remote.name, error = %e, "peer refused the hello");
            }
            Err(e) if failures == 0 => {
                tracing::warn!(section = %section, peer = %remote.name, addr = %remote.addr, error = %e, "peer unreachable");
            }
            Err(e) => {
                tracing::debug!(section = %section, peer = %remote.name, error = %e, "peer still unreachable");
            }
        }
        let delay = peers::backoff(failures);
        failures = failures.saturating_add(1);
        tokio::select! {
            () = ctx.stop.cancelled() => return,
            () = tokio::time::sleep(delay) => {}
        }
    }
}

/// Connects from the local peer's address (so the remote's address check sees it).
async fn connect(from: IpAddr, to: SocketAddr) -> Result<TcpStream, PeersError> {
    let sock = if to.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    if !from.is_unspecified() && from.is_ipv4() == to.is_ipv4() {
        sock.bind(SocketAddr::new(from, 0))?;
    }
    let s = tokio::time::timeout(CONNECT_TIMEOUT, sock.connect(to))
        .await
        .map_err(|_| PeersError::Timeout("connecting"))??;
    s.set_nodelay(true)?;
    Ok(s)
}

/// A replicated table as this connection follows it.
struct Tracked {
    r: TableRef,
    rx: watch::Receiver<u64>,
    /// Update sequence up to which changes were sent.
    last: u64,
}

/// The tables replicated over section `si` in `shared`, keeping the progress of `old` for the
/// ones that are still the same table.
fn track(ctx: &Ctx, si: usize, shared: &crate::Shared, old: Vec<Tracked>) -> Vec<Tracked> {
    tables(shared, &ctx.section(si).name)
        .into_iter()
        .map(|r| {
            let last = old
                .iter()
                .find(|o| o.r.name == r.name && Arc::ptr_eq(&o.r.table, &r.table))
                .map_or(0, |o| o.last);
            let mut rx = r.changed.subscribe();
            rx.borrow_and_update();
            Tracked { r, rx, last }
        })
        .collect()
}

/// Resolves when any table's sequence changed; `Err(i)` when table `i`'s watch is gone.
async fn any_changed(tracked: &mut [Tracked]) -> Result<(), usize> {
    if tracked.is_empty() {
        return std::future::pending().await;
    }
    type Changed<'a> =
        Pin<Box<dyn Future<Output = Result<(), watch::error::RecvError>> + Send + 'a>>;
    let mut futs: Vec<Changed<'_>> = tracked
        .iter_mut()
        .map(|t| Box::pin(t.rx.changed()) as Changed<'_>)
        .collect();
    std::future::poll_fn(|cx| {
        for (i, f) in futs.iter_mut().enumerate() {
            if let Poll::Ready(r) = f.as_mut().poll(cx) {
                return Poll::Ready(r.map_err(|_| i));
            }
        }
        Poll::Pending
    })
    .await
}

/// The entries of `t` written after `t.last` (all of them for a resync: `everything`), minus
/// the writes that applied a received entry unless `everything`. Advances `t.last`.
fn collect(ctx: &Ctx, t: &mut Tracked, everything: bool) -> Vec<Update> {
    let Ok(table) = t.r.table.lock() else {
        return Vec::new();
    };
    let seq = table.update_seq();
    let since = if everything { 0 } else { t.last };
    if seq == since {
        return Vec::new();
    }
    let now = crate::state::now();
    // Lock order: table, then `applied` (as the receivers).
    let applied = if everything {
        None
    } else {
        ctx.applied.lock().ok()
    };
    let skip = applied
        .as_ref()
        .and_then(|m| m.get(&t.r.name))
        .filter(|a| std::ptr::eq(a.table.as_ptr(), Arc::as_ptr(&t.r.table)));
    let out = table
        .updated_since(since)
        .filter(|(k, e)| skip.is_none_or(|a| a.writes.get(*k) != Some(&e.update)))
        .filter(|(_, e)| e.expires_in(now).is_none_or(|d| !d.is_zero()))
        .map(|(k, e)| Update {
            key: *k,
            server_id: e.server_id,
            expire: e.expires_in(now),
        })
        .collect();
    t.last = seq;
    out
}

/// Sends `entries` of table `name` in frames of at most [`MAX_BATCH`] entries.
async fn send(
    ctx: &Ctx,
    wr: &mut OwnedWriteHalf,
    name: &str,
    entries: Vec<Update>,
) -> Result<(), PeersError> {
    let mut out = Vec::new();
    for chunk in entries.chunks(MAX_BATCH) {
        out.clear();
        let msg = Message::Updates(Updates {
            table: name.to_owned(),
            entries: chunk.to_vec(),
        });
        peers::encode(&msg, &mut out)?;
        wire::write_bytes(wr, &out).await?;
        PeersStats::add(&ctx.stats.entries_sent, chunk.len());
    }
    Ok(())
}

/// Decrements a gauge when dropped.
struct Up<'a>(&'a std::sync::atomic::AtomicUsize);

impl Drop for Up<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// One connection, until `stop` (`Ok`) or a failure. `up` is set once the hello passed.
async fn session(ctx: &Ctx, si: usize, remote: &Peer, up: &mut bool) -> Result<(), PeersError> {
    let section = ctx.section(si);
    let from = section
        .local(&ctx.local)
        .map_or(IpAddr::from([0, 0, 0, 0]), |p| p.addr.ip());
    let s = tokio::select! {
        () = ctx.stop.cancelled() => return Ok(()),
        s = connect(from, remote.addr) => s?,
    };
    let (rd, mut wr) = s.into_split();
    let mut rd = BufReader::new(rd);
    let hello = Message::Hello(Hello {
        major: peers::VERSION_MAJOR,
        minor: peers::VERSION_MINOR,
        from: ctx.local.clone(),
        to: remote.name.clone(),
        section: section.name.clone(),
    });
    wire::write(&mut wr, &hello).await?;
    let mut buf = Vec::new();
    match wire::read_within(
        &mut rd,
        &mut buf,
        HELLO_TIMEOUT,
        "waiting for the hello reply",
    )
    .await?
    {
        Message::HelloReply(r) if r.status == HelloStatus::Ok => {}
        Message::HelloReply(r) => return Err(PeersError::Refused(r.status)),
        _ => return Err(PeersError::Protocol("expected a hello reply")),
    }
    *up = true;
    ctx.stats.sessions_out.fetch_add(1, Ordering::Relaxed);
    ctx.stats.connected_out.fetch_add(1, Ordering::Relaxed);
    let _up = Up(&ctx.stats.connected_out);
    tracing::info!(section = %section.name, peer = %remote.name, addr = %remote.addr, "peer connected");
    // The peer only sends heartbeats: reading them tells a dead box from an idle one.
    let mut reader = JoinSet::new();
    reader.spawn(async move {
        loop {
            match wire::read_within(&mut rd, &mut buf, DEAD_AFTER, "waiting for the peer").await? {
                Message::Heartbeat | Message::Unknown(_) => {}
                _ => return Err::<(), _>(PeersError::Protocol("data on the push connection")),
            }
        }
    });
    let mut current = ctx.current.clone();
    let shared = current.borrow_and_update().clone();
    let mut tracked = track(ctx, si, &shared, Vec::new());
    drop(shared);
    // Full resync: every entry, whoever learned it (a peer back from a restart is empty).
    let mut sent = 0;
    for t in &mut tracked {
        let entries = collect(ctx, t, true);
        sent += entries.len();
        send(ctx, &mut wr, &t.r.name, entries).await?;
    }
    wire::write(&mut wr, &Message::ResyncEnd).await?;
    ctx.stats.resyncs_sent.fetch_add(1, Ordering::Relaxed);
    tracing::info!(section = %section.name, peer = %remote.name, entries = sent, "peer resync sent");
    let mut beat = tokio::time::interval(HEARTBEAT);
    beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    beat.tick().await;
    let mut generations = true;
    let mut next_scan = tokio::time::Instant::now();
    loop {
        tokio::select! {
            () = ctx.stop.cancelled() => return Ok(()),
            r = reader.join_next() => {
                return Err(match r {
                    Some(Ok(Err(e))) => e,
                    _ => PeersError::Closed,
                });
            }
            r = current.changed(), if generations => {
                if r.is_err() {
                    // The proxy is gone; its tables stay as they are.
                    generations = false;
                    continue;
                }
                let shared = current.borrow_and_update().clone();
                tracked = track(ctx, si, &shared, tracked);
            }
            r = any_changed(&mut tracked) => {
                if let Err(i) = r {
                    tracked.remove(i);
                    continue;
                }
                // Coalesce a burst (see PUSH_GAP_FACTOR). A timer only when needed: even an
                // elapsed one waits for the next tick of tokio's 1 ms wheel.
                if next_scan > tokio::time::Instant::now() {
                    tokio::time::sleep_until(next_scan).await;
                }
            }
            _ = beat.tick() => {
                wire::write(&mut wr, &Message::Heartbeat).await?;
                continue;
            }
        }
        for t in &mut tracked {
            let started = tokio::time::Instant::now();
            let entries = collect(ctx, t, false);
            let scan = started.elapsed();
            next_scan = started + (scan * PUSH_GAP_FACTOR).min(PUSH_GAP_MAX);
            if !entries.is_empty() {
                send(ctx, &mut wr, &t.r.name, entries).await?;
            }
        }
    }
}
