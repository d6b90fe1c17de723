//! Gratuitous ARP and unsolicited Neighbour Advertisement sender (RFC 3768 §6.4.2, RFC 5798
//! §6.4.2) over one `AF_PACKET` socket.
//!
//! Owns: the packet socket (non-blocking, driven by the tokio reactor) and sending lbcore's
//! ready-made Ethernet frames on a given interface, spaced per interface by `vrrp_garp_interval`
//! / `vrrp_gna_interval`; a frame the kernel refuses (`EAGAIN` after a wait, `ENOBUFS` after a
//! few retries, any other error) is counted and logged, never lost silently. Must not: build
//! frames (lbcore `announce` does) or decide when to announce (the state machine does).

use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use socket2::{Domain, Socket, Type};
use tokio::io::unix::AsyncFd;

use lbcore::vrrp::announce;

use crate::clock;

/// EtherType of ARP.
const ETH_P_ARP: u16 = 0x0806;
/// EtherType of IPv6.
const ETH_P_IPV6: u16 = 0x86dd;

/// One virtual address to announce and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The address.
    pub addr: IpAddr,
    /// Interface name (for logs).
    pub ifname: String,
    /// Interface index.
    pub ifindex: u32,
    /// MAC the address is announced at (the interface's; the VMAC once `use_vmac` exists).
    pub mac: [u8; 6],
    /// IPv6: set the NA Router flag (the interface forwards, keepalived `vrrp_ndisc.c`).
    pub router: bool,
}

impl Target {
    /// The Ethernet frame announcing this address.
    pub fn frame(&self) -> Vec<u8> {
        match self.addr {
            IpAddr::V4(a) => announce::gratuitous_arp(self.mac, a),
            IpAddr::V6(a) => announce::unsolicited_na(self.mac, a, self.router),
        }
    }
}

/// How many times a frame refused with `ENOBUFS` (the interface's queue is full) is retried.
pub const ENOBUFS_RETRIES: u32 = 3;
/// Pause before each of those retries, so the queue can drain.
pub const ENOBUFS_BACKOFF: Duration = Duration::from_millis(10);
/// Longest wait for the socket to accept a frame (`EAGAIN`: send buffer full) before the frame is
/// given up and counted as failed.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(1);

/// Running totals of an [`Announcer`], for logs and status.
#[derive(Debug, Default)]
pub struct Counters {
    /// Frames the kernel accepted.
    pub sent: AtomicU64,
    /// `ENOBUFS` retries (each retried frame counts once per retry).
    pub retried: AtomicU64,
    /// Frames given up (error, or still refused after the retries); each is logged.
    pub failed: AtomicU64,
}

/// A snapshot of [`Counters`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CounterValues {
    /// Frames the kernel accepted.
    pub sent: u64,
    /// `ENOBUFS` retries.
    pub retried: u64,
    /// Frames given up.
    pub failed: u64,
}

/// A send-only, non-blocking `AF_PACKET` socket (protocol 0: it receives nothing), registered
/// with the tokio reactor so a full send buffer waits instead of blocking a runtime thread.
#[derive(Debug)]
pub struct Announcer {
    sock: AsyncFd<Socket>,
    counters: Counters,
    /// Per (interface index, IPv6): the earliest time the next frame may leave, so that
    /// `vrrp_garp_interval` / `vrrp_gna_interval` hold per interface across bursts and instances.
    next_slot: Mutex<HashMap<(u32, bool), Instant>>,
}

impl Announcer {
    /// Opens the packet socket. Needs CAP_NET_RAW; must be called inside a tokio runtime.
    pub fn open() -> io::Result<Self> {
        let sock = Socket::new(Domain::PACKET, Type::RAW, None)?;
        sock.set_nonblocking(true)?;
        Ok(Self {
            sock: crate::sys::async_socket(sock)?,
            counters: Counters::default(),
            next_slot: Mutex::new(HashMap::new()),
        })
    }

    /// The running totals.
    pub fn counters(&self) -> CounterValues {
        CounterValues {
            sent: self.counters.sent.load(Ordering::Relaxed),
            retried: self.counters.retried.load(Ordering::Relaxed),
            failed: self.counters.failed.load(Ordering::Relaxed),
        }
    }

    /// Sends one announcement for `t`. A full send buffer (`EAGAIN`) is waited out (at most
    /// [`SEND_TIMEOUT`]); a full interface queue (`ENOBUFS`) is retried [`ENOBUFS_RETRIES`]
    /// times. The frame is counted as sent or failed, never dropped silently.
    pub async fn send(&self, t: &Target) -> io::Result<()> {
        let res = self.try_send(t).await;
        let counter = if res.is_ok() {
            &self.counters.sent
        } else {
            &self.counters.failed
        };
        counter.fetch_add(1, Ordering::Relaxed);
        res
    }

    async fn try_send(&self, t: &Target) -> io::Result<()> {
        let frame = t.frame();
        let (proto, dst) = match t.addr {
            IpAddr::V4(_) => (ETH_P_ARP, announce::BROADCAST_MAC),
            IpAddr::V6(_) => (ETH_P_IPV6, announce::ALL_NODES_MAC),
        };
        let to = crate::sys::packet_sockaddr(t.ifindex, proto, dst)?;
        let mut retries = 0;
        loop {
            let sent = tokio::time::timeout(SEND_TIMEOUT, async {
                loop {
                    let mut guard = self.sock.writable().await?;
                    // EAGAIN clears the readiness and waits for the next writable event.
                    if let Ok(res) = guard.try_io(|s| s.get_ref().send_to(&frame, &to)) {
                        return res;
                    }
                }
            })
            .await
            .unwrap_or_else(|_| {
                Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "packet socket not writable",
                ))
            });
            match sent {
                Ok(n) if n == frame.len() => return Ok(()),
                Ok(_) => return Err(io::Error::new(io::ErrorKind::WriteZero, "short send")),
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) && retries < ENOBUFS_RETRIES => {
                    retries += 1;
                    self.counters.retried.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(ENOBUFS_BACKOFF).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Reserves the next sending time on `t`'s interface and family, `gap` after the previous
    /// reservation (keepalived spaces GARPs / NAs per interface), and returns it.
    fn reserve(&self, t: &Target, gap: Duration) -> Instant {
        let now = clock::now();
        let mut slots = self
            .next_slot
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let slot = slots.entry((t.ifindex, t.addr.is_ipv6())).or_insert(now);
        let at = (*slot).max(now);
        *slot = at + gap;
        at
    }

    /// Sends `repeat` announcements for each target, `repeat` rounds over all targets, at least
    /// `garp_interval` (IPv4) / `gna_interval` (IPv6) apart on one interface, counting frames of
    /// earlier bursts too (0 = back to back, keepalived's default). Returns the number of frames
    /// sent; a frame that could not be sent is counted, logged at debug level, and summed up in
    /// one warning for the burst.
    pub async fn burst(
        &self,
        targets: &[Target],
        repeat: u32,
        garp_interval: Duration,
        gna_interval: Duration,
    ) -> u64 {
        let mut sent = 0;
        let mut failed = 0u64;
        let mut last_error = None;
        for _ in 0..repeat {
            for t in targets {
                let gap = if t.addr.is_ipv6() {
                    gna_interval
                } else {
                    garp_interval
                };
                if !gap.is_zero() {
                    tokio::time::sleep_until(clock::deadline(self.reserve(t, gap))).await;
                }
                match self.send(t).await {
                    Ok(()) => {
                        sent += 1;
                        tracing::debug!(addr = %t.addr, interface = %t.ifname, "announcement sent");
                    }
                    Err(e) => {
                        failed += 1;
                        tracing::debug!(addr = %t.addr, interface = %t.ifname, error = %e, "announcement not sent");
                        last_error = Some(e);
                    }
                }
            }
        }
        if let Some(error) = last_error {
            let total = self.counters();
            tracing::warn!(
                sent,
                failed,
                total_failed = total.failed,
                total_retried = total.retried,
                error = %error,
                "announcements not sent"
            );
        }
        sent
    }
}

/// Whether IPv6 forwarding is on for `ifname` (sets the NA Router flag).
pub fn ipv6_forwarding(ifname: &str) -> bool {
    std::fs::read_to_string(format!("/proc/sys/net/ipv6/conf/{ifname}/forwarding"))
        .map(|s| s.trim() == "1")
        .unwrap_or(false)
}
