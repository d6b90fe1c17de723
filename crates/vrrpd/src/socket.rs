//! Raw VRRP sockets (IP protocol 112), one per (interface, family, multicast | unicast source).
//!
//! Owns: opening and configuring the socket as keepalived does (reference §4.8), sending one
//! advert from a given source to a given destination, and receiving one packet with what the
//! checks need (source, destination, TTL / hop limit). Must not: decode adverts or decide whether a
//! packet is acceptable (the receive loop in [`crate::daemon`] does, with lbcore's codec).
//!
//! IPv4: `SOCK_RAW` proto 112 without `IP_HDRINCL`; the kernel builds the header with TTL 255
//! (`IP_TTL`, `IP_MULTICAST_TTL`), TOS 0xC0 and no DF, and the source is pinned per packet with an
//! `IP_PKTINFO` control message so the VRRPv3 pseudo-header checksum covers the address that is
//! really sent. Received packets start with the IPv4 header (parsed with lbcore `parse_ipv4`).
//! IPv6: hop limit 255, `IPV6_PKTINFO` for the link-local source on send, `IPV6_RECVHOPLIMIT` /
//! `IPV6_RECVPKTINFO` on receive. `IPV6_CHECKSUM` is explicitly off, unlike keepalived: with it
//! the kernel would also verify on receive and silently discard a bad checksum, which then could
//! be neither counted nor logged (RFC 9568 §7.1 asks for both). lbcore's encoder writes the
//! checksum over the pseudo-header of the source pinned by `IPV6_PKTINFO` and destination
//! actually used, and its decoder verifies it on receive like the IPv4 one.

use std::io::{self, IoSlice, IoSliceMut};
use std::net::{IpAddr, Ipv6Addr, SocketAddrV4, SocketAddrV6};
use std::num::NonZeroU32;
use std::os::fd::{AsFd, AsRawFd};

use nix::sys::socket::{
    ControlMessage, ControlMessageOwned, MsgFlags, SockaddrIn, SockaddrIn6, SockaddrStorage,
    recvmsg, sendmsg, setsockopt, sockopt,
};
use socket2::{Domain, InterfaceIndexOrAddress, Protocol, Socket, Type};
use tokio::io::unix::AsyncFd;

use lbcore::vrrp::packet::{DecodeError, IPPROTO_VRRP, VRRP_TTL, parse_ipv4};

/// DSCP CS6 / precedence "internetwork control", as keepalived sets on adverts.
pub const TOS_CS6: u32 = 0xc0;
/// `IPV6_CHECKSUM` value that turns kernel checksumming off (the Linux default for raw sockets
/// of protocols other than ICMPv6; set anyway so the choice is explicit).
pub const IPV6_CHECKSUM_OFF: i32 = -1;
/// Receive buffer: the largest advert is 8 + 255 × 16 bytes plus an IPv4 header.
pub const RECV_BUF_LEN: usize = 8192;

/// Whether a socket listens to the VRRP multicast group or to unicast peers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Joined to this group (224.0.0.18 / ff02::12 unless configured otherwise).
    Multicast(IpAddr),
    /// Unicast adverts addressed to this local address.
    Unicast(IpAddr),
}

impl Mode {
    /// The destination address a received packet must carry in this mode.
    pub fn expected_dst(&self) -> IpAddr {
        match *self {
            Mode::Multicast(a) | Mode::Unicast(a) => a,
        }
    }
}

/// A received packet, borrowed from the caller's buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet<'a> {
    /// IP source.
    pub src: IpAddr,
    /// IP destination.
    pub dst: IpAddr,
    /// TTL (IPv4) or hop limit (IPv6); `None` when the kernel did not report it.
    pub ttl: Option<u8>,
    /// The VRRP message (after the IP header).
    pub payload: &'a [u8],
}

/// A receive failure.
#[derive(Debug, thiserror::Error)]
pub enum RecvError {
    /// The socket failed.
    #[error("receive failed: {0}")]
    Io(#[from] io::Error),
    /// The IPv4 header was unusable.
    #[error("bad IPv4 header: {0}")]
    Header(DecodeError),
}

/// One raw VRRP socket bound to one interface.
#[derive(Debug)]
pub struct VrrpSocket {
    fd: AsyncFd<Socket>,
    ifname: String,
    ifindex: u32,
    mode: Mode,
}

fn errno(e: nix::errno::Errno) -> io::Error {
    io::Error::from(e)
}

impl VrrpSocket {
    /// Opens and configures a socket on interface `ifname` (index `ifindex`). The family follows
    /// `mode`'s address. Needs CAP_NET_RAW; must be called inside a tokio runtime.
    pub fn open(ifname: &str, ifindex: u32, mode: Mode) -> io::Result<Self> {
        let ipv6 = mode.expected_dst().is_ipv6();
        let domain = if ipv6 { Domain::IPV6 } else { Domain::IPV4 };
        let sock = Socket::new(
            domain,
            Type::RAW,
            Some(Protocol::from(i32::from(IPPROTO_VRRP))),
        )?;
        sock.bind_device(Some(ifname.as_bytes()))?;
        let index =
            NonZeroU32::new(ifindex).ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
        if ipv6 {
            Self::configure_v6(&sock, index, mode)?;
        } else {
            Self::configure_v4(&sock, index, mode)?;
        }
        sock.set_nonblocking(true)?;
        Ok(Self {
            fd: crate::sys::async_socket(sock)?,
            ifname: ifname.to_string(),
            ifindex,
            mode,
        })
    }

    fn configure_v4(sock: &Socket, index: NonZeroU32, mode: Mode) -> io::Result<()> {
        // RFC 3768 §5.2.3: TTL MUST be 255.
        sock.set_ttl_v4(u32::from(VRRP_TTL))?;
        sock.set_multicast_ttl_v4(u32::from(VRRP_TTL))?;
        sock.set_multicast_loop_v4(false)?;
        sock.set_multicast_all_v4(false)?;
        sock.set_tos_v4(TOS_CS6)?;
        crate::sys::set_no_df_v4(sock.as_fd())?;
        crate::sys::set_multicast_if_index_v4(sock.as_fd(), index.get())?;
        if let Mode::Multicast(IpAddr::V4(group)) = mode {
            sock.join_multicast_v4_n(&group, &InterfaceIndexOrAddress::Index(index.get()))?;
        }
        Ok(())
    }

    fn configure_v6(sock: &Socket, index: NonZeroU32, mode: Mode) -> io::Result<()> {
        // RFC 5798 §5.2.8: the checksum covers the IPv6 pseudo-header. The codec computes it on
        // send and verifies it on receive, so a bad one reaches the receive loop and is counted
        // (RFC 9568 §7.1) instead of vanishing in the kernel.
        crate::sys::set_ipv6_checksum(sock.as_fd(), IPV6_CHECKSUM_OFF)?;
        // RFC 5798 §5.1.2.3: Hop Limit MUST be 255.
        sock.set_multicast_hops_v6(u32::from(VRRP_TTL))?;
        sock.set_unicast_hops_v6(u32::from(VRRP_TTL))?;
        sock.set_multicast_loop_v6(false)?;
        sock.set_multicast_all_v6(false)?;
        sock.set_multicast_if_v6(index.get())?;
        sock.set_tclass_v6(TOS_CS6)?;
        setsockopt(&sock, sockopt::Ipv6RecvHopLimit, &true).map_err(errno)?;
        setsockopt(&sock, sockopt::Ipv6RecvPacketInfo, &true).map_err(errno)?;
        if let Mode::Multicast(IpAddr::V6(group)) = mode {
            sock.join_multicast_v6(&group, index.get())?;
        }
        Ok(())
    }

    /// The interface name.
    pub fn ifname(&self) -> &str {
        &self.ifname
    }

    /// The interface index.
    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// Multicast group or unicast local address.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Sends one VRRP message from `src` to `dst` (same family as the socket). `ttl` overrides
    /// the TTL / hop limit of 255 for this packet (keepalived `unicast_ttl`).
    pub async fn send(
        &self,
        src: IpAddr,
        dst: IpAddr,
        payload: &[u8],
        ttl: Option<u8>,
    ) -> io::Result<()> {
        loop {
            let mut guard = self.fd.writable().await?;
            match guard.try_io(|fd| self.send_now(fd.get_ref(), src, dst, payload, ttl)) {
                Ok(res) => return res,
                Err(_would_block) => continue,
            }
        }
    }

    fn send_now(
        &self,
        sock: &Socket,
        src: IpAddr,
        dst: IpAddr,
        payload: &[u8],
        ttl: Option<u8>,
    ) -> io::Result<()> {
        let iov = [IoSlice::new(payload)];
        let fd = sock.as_raw_fd();
        let ttl = ttl.map(libc::c_int::from);
        let sent = match (src, dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                let info = libc::in_pktinfo {
                    ipi_ifindex: i32::try_from(self.ifindex).unwrap_or(0),
                    ipi_spec_dst: libc::in_addr {
                        s_addr: u32::from(s).to_be(),
                    },
                    ipi_addr: libc::in_addr { s_addr: 0 },
                };
                let to = SockaddrIn::from(SocketAddrV4::new(d, 0));
                let mut cmsgs = vec![ControlMessage::Ipv4PacketInfo(&info)];
                if let Some(t) = &ttl {
                    cmsgs.push(ControlMessage::Ipv4Ttl(t));
                }
                sendmsg(fd, &iov, &cmsgs, MsgFlags::empty(), Some(&to))
            }
            (IpAddr::V6(s), IpAddr::V6(d)) => {
                let info = libc::in6_pktinfo {
                    ipi6_addr: libc::in6_addr {
                        s6_addr: s.octets(),
                    },
                    ipi6_ifindex: self.ifindex,
                };
                let scope = if is_link_scope(&d) { self.ifindex } else { 0 };
                let to = SockaddrIn6::from(SocketAddrV6::new(d, 0, 0, scope));
                let mut cmsgs = vec![ControlMessage::Ipv6PacketInfo(&info)];
                if let Some(t) = &ttl {
                    cmsgs.push(ControlMessage::Ipv6HopLimit(t));
                }
                sendmsg(fd, &iov, &cmsgs, MsgFlags::empty(), Some(&to))
            }
            _ => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "source and destination families differ",
                ));
            }
        }
        .map_err(errno)?;
        if sent == payload.len() {
            Ok(())
        } else {
            Err(io::Error::new(io::ErrorKind::WriteZero, "short send"))
        }
    }

    /// Receives one packet into `buf`.
    pub async fn recv<'b>(&self, buf: &'b mut [u8]) -> Result<Packet<'b>, RecvError> {
        if self.mode.expected_dst().is_ipv6() {
            self.recv_v6(buf).await
        } else {
            self.recv_v4(buf).await
        }
    }

    async fn recv_v4<'b>(&self, buf: &'b mut [u8]) -> Result<Packet<'b>, RecvError> {
        let len = loop {
            let mut guard = self.fd.readable().await?;
            match guard.try_io(|fd| {
                nix::sys::socket::recv(fd.as_raw_fd(), buf, MsgFlags::empty()).map_err(errno)
            }) {
                Ok(res) => break res?,
                Err(_would_block) => continue,
            }
        };
        let info = parse_ipv4(&buf[..len]).map_err(RecvError::Header)?;
        if info.protocol != IPPROTO_VRRP {
            return Err(RecvError::Io(io::Error::new(
                io::ErrorKind::InvalidData,
                "not VRRP",
            )));
        }
        Ok(Packet {
            src: IpAddr::V4(info.src),
            dst: IpAddr::V4(info.dst),
            ttl: Some(info.ttl),
            payload: info.payload,
        })
    }

    async fn recv_v6<'b>(&self, buf: &'b mut [u8]) -> Result<Packet<'b>, RecvError> {
        let (len, src, dst, ttl) = loop {
            let mut guard = self.fd.readable().await?;
            match guard.try_io(|fd| recv_v6_now(fd.as_raw_fd(), buf)) {
                Ok(res) => break res?,
                Err(_would_block) => continue,
            }
        };
        Ok(Packet {
            src: IpAddr::V6(src),
            dst: IpAddr::V6(dst),
            ttl,
            payload: &buf[..len],
        })
    }
}

fn is_link_scope(a: &Ipv6Addr) -> bool {
    (a.segments()[0] & 0xffc0) == 0xfe80 || (a.is_multicast() && (a.segments()[0] & 0x000f) <= 2)
}

fn recv_v6_now(fd: i32, buf: &mut [u8]) -> io::Result<(usize, Ipv6Addr, Ipv6Addr, Option<u8>)> {
    let mut cmsg = nix::cmsg_space!(libc::c_int, libc::in6_pktinfo);
    let mut iov = [IoSliceMut::new(buf)];
    let msg = recvmsg::<SockaddrStorage>(fd, &mut iov, Some(&mut cmsg), MsgFlags::empty())
        .map_err(errno)?;
    let src = msg
        .address
        .as_ref()
        .and_then(|a| a.as_sockaddr_in6())
        .map(|a| a.ip())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no IPv6 source address"))?;
    let mut dst = Ipv6Addr::UNSPECIFIED;
    let mut hop = None;
    for c in msg.cmsgs().map_err(errno)? {
        match c {
            ControlMessageOwned::Ipv6PacketInfo(info) => {
                dst = Ipv6Addr::from(info.ipi6_addr.s6_addr)
            }
            ControlMessageOwned::Ipv6HopLimit(h) => hop = u8::try_from(h).ok(),
            _ => {}
        }
    }
    Ok((msg.bytes, src, dst, hop))
}
