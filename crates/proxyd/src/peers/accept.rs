//! The local peer's listener: hellos judged by [`lbcore::peers::check_hello`] (a refused one is
//! answered, counted, logged and closed), then the received entries applied to the table of the
//! same name, last writer winning; heartbeats are sent back so the pusher sees a dead box.
//! Must not push anything (the other direction is [`super::push`]'s connection).

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

use lbcore::peers::{
    self, DEAD_AFTER, HEARTBEAT, HelloReply, HelloStatus, Local, Message, Updates,
};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::BufReader;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

use super::{Applied, Ctx, HELLO_TIMEOUT, PeersError, PeersStats, wire};

/// Listens on the local peer's address (`SO_REUSEADDR`, so a restarted proxyd binds again while
/// the old connections linger in TIME_WAIT).
pub(super) fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let s = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    s.set_reuse_address(true)?;
    s.set_nonblocking(true)?;
    s.bind(&addr.into())?;
    s.listen(64)?;
    TcpListener::from_std(s.into())
}

/// Accepts peer connections of section `si` until `stop`; each is served in its own task,
/// dropped (closed) with this one.
pub(super) async fn serve(ctx: Arc<Ctx>, si: usize, l: TcpListener) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            () = ctx.stop.cancelled() => return,
            r = l.accept() => match r {
                Ok((s, from)) => {
                    conns.spawn(conn(ctx.clone(), si, s, from));
                }
                Err(e) => {
                    // EMFILE and the like: let connections end before accepting more.
                    tracing::warn!(section = %ctx.section(si).name, error = %e, "peer accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

async fn conn(ctx: Arc<Ctx>, si: usize, s: TcpStream, from: SocketAddr) {
    let section = &ctx.section(si).name;
    match session(&ctx, si, s, from).await {
        Ok(None) => {}
        Ok(Some(peer)) => {
            tracing::info!(section = %section, peer = %peer, %from, "peer disconnected");
        }
        Err(e) => {
            tracing::info!(section = %section, %from, error = %e, "peer connection ended");
        }
    }
}

/// Decrements a gauge when dropped.
struct Up<'a>(&'a std::sync::atomic::AtomicUsize);

impl Drop for Up<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// One incoming connection: `Ok(None)` when its hello was refused, `Ok(Some(peer))` when it
/// ended normally (stop, or the peer closed it).
async fn session(
    ctx: &Ctx,
    si: usize,
    s: TcpStream,
    from: SocketAddr,
) -> Result<Option<String>, PeersError> {
    s.set_nodelay(true)?;
    let (rd, mut wr) = s.into_split();
    let mut rd = BufReader::new(rd);
    let mut buf = Vec::new();
    let section = ctx.section(si);
    let refused = |why: &str| {
        ctx.stats.refused.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(section = %section.name, %from, reason = why, "peer hello refused");
    };
    let hello =
        match wire::read_within(&mut rd, &mut buf, HELLO_TIMEOUT, "waiting for the hello").await {
            Ok(Message::Hello(h)) => h,
            Ok(_) => {
                refused("first message is not a hello");
                return Ok(None);
            }
            Err(e) => {
                refused(&e.to_string());
                return Ok(None);
            }
        };
    let status = peers::check_hello(&hello, &[section], &ctx.local, from.ip());
    let reply = Message::HelloReply(HelloReply {
        status,
        major: peers::VERSION_MAJOR,
        minor: peers::VERSION_MINOR,
    });
    wire::write(&mut wr, &reply).await?;
    if status != HelloStatus::Ok {
        ctx.stats.refused.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(section = %section.name, %from, peer = %hello.from, reason = status.as_str(), "peer hello refused");
        return Ok(None);
    }
    ctx.stats.sessions_in.fetch_add(1, Ordering::Relaxed);
    ctx.stats.connected_in.fetch_add(1, Ordering::Relaxed);
    let _up = Up(&ctx.stats.connected_in);
    tracing::info!(section = %section.name, peer = %hello.from, %from, "peer connected in");
    // Heartbeats back, so the pusher learns that this box is gone even without a RST.
    let mut beats = JoinSet::new();
    beats.spawn(async move {
        loop {
            tokio::time::sleep(HEARTBEAT).await;
            if wire::write(&mut wr, &Message::Heartbeat).await.is_err() {
                return;
            }
        }
    });
    // Ties of last-writer-wins go to the peer whose name sorts first, on both ends.
    let tie_to_remote = hello.from < ctx.local;
    loop {
        let msg = tokio::select! {
            () = ctx.stop.cancelled() => return Ok(Some(hello.from)),
            r = wire::read_within(&mut rd, &mut buf, DEAD_AFTER, "waiting for the peer") => match r {
                Ok(m) => m,
                Err(PeersError::Closed) => return Ok(Some(hello.from)),
                Err(e) => return Err(e),
            },
        };
        match msg {
            Message::Updates(u) => apply(ctx, si, &u, tie_to_remote),
            Message::ResyncEnd => {
                ctx.stats.resyncs_received.fetch_add(1, Ordering::Relaxed);
                tracing::info!(section = %section.name, peer = %hello.from, "peer resync received");
            }
            Message::Heartbeat | Message::Unknown(_) => {}
            Message::Hello(_) | Message::HelloReply(_) => {
                return Err(PeersError::Protocol("a hello after the hello"));
            }
        }
    }
}

/// Writes the received entries that win over the local ones into the table `u.table` replicated
/// over section `si`, and remembers those writes so they are not pushed back.
fn apply(ctx: &Ctx, si: usize, u: &Updates, tie_to_remote: bool) {
    PeersStats::add(&ctx.stats.entries_received, u.entries.len());
    let Some(t) = ctx.table(si, &u.table) else {
        tracing::debug!(section = %ctx.section(si).name, table = %u.table, "peer update for a table not replicated here");
        return;
    };
    let now = crate::state::now();
    let Ok(mut table) = t.table.lock() else {
        return;
    };
    let mut written = Vec::new();
    for e in &u.entries {
        let local = table
            .peek(e.key)
            .filter(|l| l.expires_in(now).is_none_or(|d| !d.is_zero()))
            .map(|l| Local {
                server_id: l.server_id,
                expire: l.expires_in(now),
            });
        if peers::remote_wins(local, e, tie_to_remote) {
            let at = peers::learned_at(now, t.expire, e.expire);
            let seq = table.learn(e.key, e.server_id, at);
            written.push((e.key.to_canonical(), seq));
        }
    }
    if written.is_empty() {
        return;
    }
    PeersStats::add(&ctx.stats.entries_applied, written.len());
    // Lock order: table, then `applied` (as the pushers).
    let Ok(mut applied) = ctx.applied.lock() else {
        return;
    };
    let a = applied.entry(u.table.clone()).or_insert_with(|| Applied {
        table: Weak::new(),
        writes: HashMap::new(),
    });
    if !std::ptr::eq(a.table.as_ptr(), Arc::as_ptr(&t.table)) {
        // A reload replaced the table: sequences of the old one mean nothing.
        a.table = Arc::downgrade(&t.table);
        a.writes.clear();
    }
    a.writes.extend(written);
    if a.writes.len() > 2 * table.capacity() {
        a.writes
            .retain(|k, seq| table.peek(*k).is_some_and(|e| e.update == *seq));
    }
}
