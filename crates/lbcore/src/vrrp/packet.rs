//! VRRP advertisement wire format (RFC 3768 §5, RFC 5798 §5, RFC 9568 §5) and its checksums.
//!
//! Owns: [`Advert`] encode/decode, the v2/v3 checksum rules, and parsing of the IPv4 header that a
//! raw IPv4 socket delivers in front of the advert. Must not: touch sockets, validate against an
//! instance's configuration (that is [`super::fsm`]'s job).
//!
//! SKELETON: implementation in progress.

use std::net::IpAddr;

/// IP protocol number of VRRP (RFC 3768 §5.2.4).
pub const IPPROTO_VRRP: u8 = 112;
/// IPv4 multicast group of VRRP (RFC 3768 §5.2.2).
pub const MCAST_V4: std::net::Ipv4Addr = std::net::Ipv4Addr::new(224, 0, 0, 18);
/// IPv6 multicast group of VRRP (RFC 5798 §5.1.2.2).
pub const MCAST_V6: std::net::Ipv6Addr = std::net::Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12);
/// TTL / Hop Limit sent, and required on multicast receive (RFC 3768 §5.2.3, RFC 5798 §5.1.1.3).
pub const VRRP_TTL: u8 = 255;

/// Protocol version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    /// VRRPv2, RFC 3768: IPv4 only, whole-second intervals, optional PASS auth.
    V2,
    /// VRRPv3, RFC 5798 / RFC 9568: IPv4 and IPv6, centisecond intervals, no auth.
    V3,
}

/// VRRPv2 authentication (RFC 2338 §5.3.6; "reserved" in RFC 3768 but still used by keepalived).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthData {
    /// Auth Type 0.
    None,
    /// Auth Type 1, simple text password: 8 bytes, zero-padded.
    Pass([u8; 8]),
    /// Auth Type 2, IP Authentication Header (carried by AH, not in the advert).
    Ah,
}

/// How a VRRPv3 over IPv4 checksum covers the packet (RFC 5798 §5.2.8 was ambiguous; RFC 9568
/// §5.2.8 says no pseudo-header; keepalived ≤ 2.2.7 always includes one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum V3Ipv4Checksum {
    /// IPv4 pseudo-header included: what keepalived 2.2.7 sends and requires.
    #[default]
    WithPseudoHeader,
    /// No pseudo-header, as RFC 9568 and most routers do (keepalived `v3_checksum_as_v2`).
    WithoutPseudoHeader,
}

/// A decoded (or to-be-encoded) VRRP advertisement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advert {
    /// Protocol version.
    pub version: Version,
    /// Virtual Router ID, 1..=255.
    pub vrid: u8,
    /// Priority: 0 = master stopping, 255 = address owner.
    pub priority: u8,
    /// Advertisement interval in centiseconds. v2 carries whole seconds on the wire (so this is a
    /// multiple of 100); v3 carries the 12-bit Max Adver Int in centiseconds.
    pub interval_cs: u16,
    /// Addresses, all of one family.
    pub addrs: Vec<IpAddr>,
    /// v2 authentication; always [`AuthData::None`] for v3.
    pub auth: AuthData,
}
