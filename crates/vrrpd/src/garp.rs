//! Gratuitous ARP and unsolicited Neighbour Advertisement sender (RFC 3768 §6.4.2, RFC 5798
//! §6.4.2) over one `AF_PACKET` socket.
//!
//! Owns: the packet socket and sending lbcore's ready-made Ethernet frames on a given interface,
//! spaced by `vrrp_garp_interval` / `vrrp_gna_interval`. Must not: build frames (lbcore
//! `announce` does) or decide when to announce (the state machine does).

use std::io;
use std::net::IpAddr;
use std::time::Duration;

use socket2::{Domain, Socket, Type};

use lbcore::vrrp::announce;

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

/// A send-only `AF_PACKET` socket (protocol 0: it receives nothing).
#[derive(Debug)]
pub struct Announcer {
    sock: Socket,
}

impl Announcer {
    /// Opens the packet socket. Needs CAP_NET_RAW.
    pub fn open() -> io::Result<Self> {
        let sock = Socket::new(Domain::PACKET, Type::RAW, None)?;
        Ok(Self { sock })
    }

    /// Sends one announcement for `t`.
    pub fn send(&self, t: &Target) -> io::Result<()> {
        let frame = t.frame();
        let (proto, dst) = match t.addr {
            IpAddr::V4(_) => (ETH_P_ARP, announce::BROADCAST_MAC),
            IpAddr::V6(_) => (ETH_P_IPV6, announce::ALL_NODES_MAC),
        };
        let to = crate::sys::packet_sockaddr(t.ifindex, proto, dst)?;
        let sent = self.sock.send_to(&frame, &to)?;
        if sent == frame.len() {
            Ok(())
        } else {
            Err(io::Error::new(io::ErrorKind::WriteZero, "short send"))
        }
    }

    /// Sends `repeat` announcements for each target, `repeat` rounds over all targets, waiting
    /// `interval` between two frames on the same family (0 = back to back, keepalived's
    /// default). Returns the number of frames sent; failures are logged and skipped.
    pub async fn burst(
        &self,
        targets: &[Target],
        repeat: u32,
        garp_interval: Duration,
        gna_interval: Duration,
    ) -> u64 {
        let mut sent = 0;
        let mut first = true;
        for _ in 0..repeat {
            for t in targets {
                let gap = if t.addr.is_ipv6() {
                    gna_interval
                } else {
                    garp_interval
                };
                if !first && !gap.is_zero() {
                    tokio::time::sleep(gap).await;
                }
                first = false;
                match self.send(t) {
                    Ok(()) => {
                        sent += 1;
                        tracing::debug!(addr = %t.addr, interface = %t.ifname, "announcement sent");
                    }
                    Err(e) => {
                        tracing::warn!(addr = %t.addr, interface = %t.ifname, error = %e, "cannot send announcement");
                    }
                }
            }
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
