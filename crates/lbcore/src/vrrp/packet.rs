//! VRRP advertisement wire format (RFC 3768 §5, RFC 5798 §5, RFC 9568 §5) and its checksums.
//!
//! Owns: [`Advert`] encode/decode, the v2/v3 checksum rules, the PASS authentication helper
//! ([`pass_auth`]) and parsing of the IPv4 header that a raw IPv4 socket delivers in front of the
//! advert ([`parse_ipv4`]). Must not: touch sockets, check TTL / Hop Limit, or validate an advert
//! against an instance's configuration (VRID known, password, interval, address list: that is
//! [`super::fsm`]'s and the driver's job). Decoding never panics, whatever the input.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use bytes::{BufMut, Bytes, BytesMut};
use pnet_packet::ip::IpNextHeaderProtocols;
use pnet_packet::ipv4::Ipv4Packet;
use pnet_packet::util;

/// IP protocol number of VRRP (RFC 3768 §5.2.4).
pub const IPPROTO_VRRP: u8 = 112;
/// IPv4 multicast group of VRRP (RFC 3768 §5.2.2).
pub const MCAST_V4: std::net::Ipv4Addr = std::net::Ipv4Addr::new(224, 0, 0, 18);
/// IPv6 multicast group of VRRP (RFC 5798 §5.1.2.2).
pub const MCAST_V6: std::net::Ipv6Addr = std::net::Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12);
/// TTL / Hop Limit sent, and required on multicast receive (RFC 3768 §5.2.3, RFC 5798 §5.1.1.3).
pub const VRRP_TTL: u8 = 255;

/// Length of the fixed VRRP header (both versions), in bytes.
pub const HEADER_LEN: usize = 8;
/// Length of the VRRPv2 Authentication Data trailer, in bytes (RFC 3768 §5.3.10).
pub const AUTH_DATA_LEN: usize = 8;
/// Type field value of an ADVERTISEMENT, the only type defined (RFC 3768 §5.3.2).
pub const TYPE_ADVERTISEMENT: u8 = 1;
/// Largest VRRPv3 Max Adver Int, in centiseconds: the field is 12 bits (RFC 5798 §5.2.7).
pub const V3_MAX_INTERVAL_CS: u16 = 0x0fff;
/// Largest VRRPv2 Adver Int, in centiseconds: the field is 8 bits of seconds (RFC 3768 §5.3.7).
pub const V2_MAX_INTERVAL_CS: u16 = 255 * 100;
/// Length of an IPv4 header without options, in bytes.
pub const IPV4_MIN_HEADER_LEN: usize = 20;

/// Protocol version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    /// VRRPv2, RFC 3768: IPv4 only, whole-second intervals, optional PASS auth.
    V2,
    /// VRRPv3, RFC 5798 / RFC 9568: IPv4 and IPv6, centisecond intervals, no auth.
    V3,
}

impl Version {
    /// The value of the 4-bit Version field.
    pub fn number(self) -> u8 {
        match self {
            Version::V2 => 2,
            Version::V3 => 3,
        }
    }
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

impl AuthData {
    /// The value of the Auth Type field.
    pub fn auth_type(&self) -> u8 {
        match self {
            AuthData::None => 0,
            AuthData::Pass(_) => 1,
            AuthData::Ah => 2,
        }
    }
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
///
/// VRRPv2 (RFC 3768 §5.1), carried over IPv4 only:
///
/// ```text
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |Version| Type  | Virtual Rtr ID|   Priority    | Count IP Addrs|
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |   Auth Type   |   Adver Int   |          Checksum             |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                         IP Address (1)                        |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                            .                                  |
/// |                            .                                  |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                         IP Address (n)                        |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                     Authentication Data (1)                   |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                     Authentication Data (2)                   |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
///
/// VRRPv3 (RFC 5798 §5.1 / RFC 9568 §5.1), over IPv4 or IPv6 (addresses of 4 or 16 bytes):
///
/// ```text
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |Version| Type  | Virtual Rtr ID|   Priority    |Count IPvX Addr|
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |(rsvd) |     Max Adver Int     |          Checksum             |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                                                               |
/// +                                                               +
/// |                       IPvX Address(es)                        |
/// +                                                               +
/// +                                                               +
/// +                                                               +
/// +                                                               +
/// |                                                               |
/// +                                                               +
/// |                                                               |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
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

/// Source and destination of the IP packet that carries (or will carry) an advert: the checksums
/// of VRRPv3 cover a pseudo-header built from them, and their family selects the address size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IpContext {
    /// Source address of the IP packet.
    pub src: IpAddr,
    /// Destination address of the IP packet (the multicast group, or the unicast peer).
    pub dst: IpAddr,
}

impl IpContext {
    /// Builds a context from the carrying packet's source and destination.
    pub fn new(src: IpAddr, dst: IpAddr) -> Self {
        IpContext { src, dst }
    }

    /// `Some(true)` for IPv6, `Some(false)` for IPv4, `None` when src and dst differ in family.
    fn is_ipv6(&self) -> Option<bool> {
        match (self.src, self.dst) {
            (IpAddr::V4(_), IpAddr::V4(_)) => Some(false),
            (IpAddr::V6(_), IpAddr::V6(_)) => Some(true),
            _ => None,
        }
    }
}

/// The result of [`Advert::decode`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    /// The advertisement.
    pub advert: Advert,
    /// For VRRPv3 over IPv4: which checksum form verified (the pseudo-header form is tried
    /// first). `None` for v2 and for IPv6, where only one form exists.
    pub v3_ipv4_checksum: Option<V3Ipv4Checksum>,
    /// Length of the VRRP message as given by its Count field; bytes of the buffer past it were
    /// padding and were ignored.
    pub len: usize,
}

/// Why a buffer is not a valid VRRP advertisement (or its IPv4 header is unusable).
///
/// Variants found after the VRID byte was read carry it, so that the daemon counts the error on
/// the right instance ([`DecodeError::vrid`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Fewer bytes than a fixed header needs (8 for VRRP, 20 for IPv4).
    #[error("packet too short: {len} bytes, need at least {need}")]
    TooShort {
        /// Bytes available.
        len: usize,
        /// Bytes needed.
        need: usize,
    },
    /// The Version field is neither 2 nor 3.
    #[error("unsupported VRRP version {0}")]
    BadVersion(u8),
    /// The Type field is not 1 (ADVERTISEMENT).
    #[error("VRID {vrid}: unknown VRRP packet type {t}")]
    BadType {
        /// VRID of the packet.
        vrid: u8,
        /// The Type field.
        t: u8,
    },
    /// VRID 0 is not a valid virtual router (RFC 3768 §5.3.3: 1-255).
    #[error("VRID 0 is invalid")]
    ZeroVrid,
    /// A VRRPv2 advert arrived over IPv6 (RFC 3768 is IPv4 only).
    #[error("VRID {vrid}: VRRPv2 advertisement carried over IPv6")]
    FamilyMismatch {
        /// VRID of the packet.
        vrid: u8,
    },
    /// The IP context mixes an IPv4 and an IPv6 address (a caller bug).
    #[error("IP source {src} and destination {dst} are of different families")]
    MixedContext {
        /// Source given.
        src: IpAddr,
        /// Destination given.
        dst: IpAddr,
    },
    /// The buffer ends before the addresses (and v2 authentication data) that Count announces.
    #[error("VRID {vrid}: {count} addresses need {need} bytes, packet has {len}")]
    Length {
        /// VRID of the packet.
        vrid: u8,
        /// The Count IP Addrs field.
        count: u8,
        /// Bytes available.
        len: usize,
        /// Bytes the Count field implies.
        need: usize,
    },
    /// Count IP Addrs is 0 in a VRRPv3 advert (RFC 5798 §5.2.5: the minimum value is 1).
    #[error("VRID {vrid}: advertisement has no address")]
    AddressCount {
        /// VRID of the packet.
        vrid: u8,
    },
    /// The checksum does not verify.
    #[error(
        "VRID {vrid}: bad checksum {got:#06x}, expected {expected:#06x}{}",
        alt_note(*without_pseudo_header)
    )]
    Checksum {
        /// VRID of the packet.
        vrid: u8,
        /// Checksum field received.
        got: u16,
        /// Checksum computed (for v3: with the pseudo-header).
        expected: u16,
        /// For VRRPv3 over IPv4: the checksum computed without the pseudo-header (RFC 9568).
        without_pseudo_header: Option<u16>,
    },
    /// A VRRPv2 Auth Type other than 0, 1 or 2.
    #[error("VRID {vrid}: unknown authentication type {t}")]
    BadAuthType {
        /// VRID of the packet.
        vrid: u8,
        /// The Auth Type field.
        t: u8,
    },
    /// Adver Int (v2) or Max Adver Int (v3) is 0.
    #[error("VRID {vrid}: advertisement interval is 0")]
    ZeroInterval {
        /// VRID of the packet.
        vrid: u8,
    },
    /// The IPv4 header's Version field is not 4.
    #[error("not an IPv4 packet: version {0}")]
    NotIpv4(u8),
    /// The IPv4 header's IHL is below 5 or points past the buffer.
    #[error("bad IPv4 header length {header_len} bytes (packet has {len})")]
    Ipv4HeaderLength {
        /// IHL × 4.
        header_len: usize,
        /// Bytes available.
        len: usize,
    },
    /// The IPv4 Total Length is shorter than the header or longer than the buffer.
    #[error("bad IPv4 total length {total_len} (header {header_len} bytes, packet has {len})")]
    Ipv4TotalLength {
        /// The Total Length field.
        total_len: usize,
        /// IHL × 4.
        header_len: usize,
        /// Bytes available.
        len: usize,
    },
}

fn alt_note(alt: Option<u16>) -> String {
    alt.map(|c| format!(" with IPv4 pseudo-header or {c:#06x} without"))
        .unwrap_or_default()
}

impl DecodeError {
    /// The VRID of the offending packet, when it was readable and nonzero.
    pub fn vrid(&self) -> Option<u8> {
        match *self {
            DecodeError::BadType { vrid, .. }
            | DecodeError::FamilyMismatch { vrid }
            | DecodeError::Length { vrid, .. }
            | DecodeError::AddressCount { vrid }
            | DecodeError::Checksum { vrid, .. }
            | DecodeError::BadAuthType { vrid, .. }
            | DecodeError::ZeroInterval { vrid } => Some(vrid),
            DecodeError::TooShort { .. }
            | DecodeError::BadVersion(_)
            | DecodeError::ZeroVrid
            | DecodeError::MixedContext { .. }
            | DecodeError::NotIpv4(_)
            | DecodeError::Ipv4HeaderLength { .. }
            | DecodeError::Ipv4TotalLength { .. } => None,
        }
    }
}

/// Why an [`Advert`] cannot be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// VRID 0 is not a valid virtual router (RFC 3768 §5.3.3).
    #[error("VRID 0 is invalid")]
    ZeroVrid,
    /// The IP context mixes an IPv4 and an IPv6 address.
    #[error("IP source {src} and destination {dst} are of different families")]
    MixedContext {
        /// Source given.
        src: IpAddr,
        /// Destination given.
        dst: IpAddr,
    },
    /// VRRPv2 cannot be sent over IPv6 (RFC 3768 is IPv4 only).
    #[error("VRID {vrid}: VRRPv2 cannot be carried over IPv6")]
    V2OverIpv6 {
        /// VRID of the advert.
        vrid: u8,
    },
    /// An address is not of the carrying packet's family.
    #[error("VRID {vrid}: address {addr} is not of the carrying packet's family")]
    AddressFamily {
        /// VRID of the advert.
        vrid: u8,
        /// The offending address.
        addr: IpAddr,
    },
    /// More addresses than the 8-bit Count field holds.
    #[error("VRID {vrid}: {count} addresses, at most 255 fit in an advertisement")]
    TooManyAddresses {
        /// VRID of the advert.
        vrid: u8,
        /// Addresses given.
        count: usize,
    },
    /// No address in a VRRPv3 advert (RFC 5798 §5.2.5: the minimum Count is 1).
    #[error("VRID {vrid}: a VRRPv3 advertisement needs at least one address")]
    NoAddress {
        /// VRID of the advert.
        vrid: u8,
    },
    /// The interval does not fit the version's field: v2 whole seconds 1..=255, v3 1..=4095 cs.
    #[error("VRID {vrid}: interval {interval_cs} cs cannot be sent in VRRP{version:?}")]
    Interval {
        /// VRID of the advert.
        vrid: u8,
        /// Version of the advert.
        version: Version,
        /// The interval given, in centiseconds.
        interval_cs: u16,
    },
    /// VRRPv3 has no authentication (RFC 5798 §9.2).
    #[error("VRID {vrid}: VRRPv3 carries no authentication data")]
    V3Auth {
        /// VRID of the advert.
        vrid: u8,
    },
}

/// Sum of the VRRP message over the selected checksum form, complemented: 0 when `msg` (checksum
/// field included) verifies; with the checksum field skipped, the value to write into it.
fn checksum(msg: &[u8], ctx: &IpContext, pseudo_header: bool, skip_field: bool) -> u16 {
    // Word 3 is the Checksum field (bytes 6-7); a word index past the end skips nothing.
    let skip = if skip_field { 3 } else { usize::MAX };
    match (ctx.src, ctx.dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) if pseudo_header => {
            util::ipv4_checksum(msg, skip, &[], &s, &d, IpNextHeaderProtocols::Vrrp)
        }
        (IpAddr::V6(s), IpAddr::V6(d)) if pseudo_header => {
            util::ipv6_checksum(msg, skip, &[], &s, &d, IpNextHeaderProtocols::Vrrp)
        }
        _ => util::checksum(msg, skip),
    }
}

impl Advert {
    /// Decodes the VRRP message at the start of `buf` (the IP payload), carried by a packet with
    /// the addresses in `ctx`. Bytes after the message (Ethernet padding) are ignored: the length
    /// comes from the Count field. Never panics.
    pub fn decode(buf: &[u8], ctx: &IpContext) -> Result<Decoded, DecodeError> {
        if buf.len() < HEADER_LEN {
            return Err(DecodeError::TooShort {
                len: buf.len(),
                need: HEADER_LEN,
            });
        }
        // RFC 3768 §5.3.1 / RFC 5798 §5.2.1: Version, then §5.3.2 / §5.2.2: Type.
        let version = match buf[0] >> 4 {
            2 => Version::V2,
            3 => Version::V3,
            v => return Err(DecodeError::BadVersion(v)),
        };
        let vrid = buf[1];
        let t = buf[0] & 0x0f;
        if t != TYPE_ADVERTISEMENT {
            return Err(DecodeError::BadType { vrid, t });
        }
        if vrid == 0 {
            return Err(DecodeError::ZeroVrid);
        }
        let ipv6 = ctx.is_ipv6().ok_or(DecodeError::MixedContext {
            src: ctx.src,
            dst: ctx.dst,
        })?;
        if ipv6 && version == Version::V2 {
            // RFC 3768 §5.1: VRRPv2 is defined for IPv4 only.
            return Err(DecodeError::FamilyMismatch { vrid });
        }
        let priority = buf[2];
        let count = buf[3];
        if version == Version::V3 && count == 0 {
            // RFC 5798 §5.2.5: "The minimum value is 1."
            return Err(DecodeError::AddressCount { vrid });
        }
        let addr_len = if ipv6 { 16 } else { 4 };
        let auth_len = if version == Version::V2 {
            AUTH_DATA_LEN
        } else {
            0
        };
        let need = HEADER_LEN + usize::from(count) * addr_len + auth_len;
        if buf.len() < need {
            return Err(DecodeError::Length {
                vrid,
                count,
                len: buf.len(),
                need,
            });
        }
        let msg = &buf[..need];

        // Checksum (RFC 3768 §5.3.8, RFC 5798 §5.2.8, RFC 9568 §5.2.8).
        let got = u16::from_be_bytes([msg[6], msg[7]]);
        let v3_ipv4_checksum = match (version, ipv6) {
            // RFC 3768 §5.3.8: the VRRP message only, no pseudo-header.
            (Version::V2, _) => {
                if checksum(msg, ctx, false, false) != 0 {
                    return Err(DecodeError::Checksum {
                        vrid,
                        got,
                        expected: checksum(msg, ctx, false, true),
                        without_pseudo_header: None,
                    });
                }
                None
            }
            // RFC 5798 §5.2.8 with RFC 8200 §8.1: IPv6 pseudo-header, next header 112.
            (Version::V3, true) => {
                if checksum(msg, ctx, true, false) != 0 {
                    return Err(DecodeError::Checksum {
                        vrid,
                        got,
                        expected: checksum(msg, ctx, true, true),
                        without_pseudo_header: None,
                    });
                }
                None
            }
            // keepalived ≤ 2.2.7 includes the IPv4 pseudo-header; RFC 9568 §5.2.8 says not to.
            // Accept both, trying keepalived's form first.
            (Version::V3, false) => {
                if checksum(msg, ctx, true, false) == 0 {
                    Some(V3Ipv4Checksum::WithPseudoHeader)
                } else if checksum(msg, ctx, false, false) == 0 {
                    Some(V3Ipv4Checksum::WithoutPseudoHeader)
                } else {
                    return Err(DecodeError::Checksum {
                        vrid,
                        got,
                        expected: checksum(msg, ctx, true, true),
                        without_pseudo_header: Some(checksum(msg, ctx, false, true)),
                    });
                }
            }
        };

        let (interval_cs, auth) = match version {
            Version::V2 => {
                // RFC 3768 §5.3.7: Adver Int in seconds.
                let secs = msg[5];
                if secs == 0 {
                    return Err(DecodeError::ZeroInterval { vrid });
                }
                // RFC 2338 §5.3.6 auth types; RFC 3768 §5.3.6 keeps the field, keepalived uses it.
                let auth = match msg[4] {
                    0 => AuthData::None,
                    1 => {
                        let mut pass = [0u8; AUTH_DATA_LEN];
                        pass.copy_from_slice(&msg[need - AUTH_DATA_LEN..]);
                        AuthData::Pass(pass)
                    }
                    2 => AuthData::Ah,
                    t => return Err(DecodeError::BadAuthType { vrid, t }),
                };
                (u16::from(secs) * 100, auth)
            }
            Version::V3 => {
                // RFC 5798 §5.2.6: the 4 reserved bits are ignored on reception; §5.2.7: the
                // 12-bit Max Adver Int in centiseconds.
                let cs = u16::from_be_bytes([msg[4], msg[5]]) & V3_MAX_INTERVAL_CS;
                if cs == 0 {
                    return Err(DecodeError::ZeroInterval { vrid });
                }
                (cs, AuthData::None)
            }
        };

        let addrs = msg[HEADER_LEN..HEADER_LEN + usize::from(count) * addr_len]
            .chunks_exact(addr_len)
            .map(|c| match <[u8; 16]>::try_from(c) {
                Ok(a) => IpAddr::V6(Ipv6Addr::from(a)),
                Err(_) => IpAddr::V4(Ipv4Addr::new(c[0], c[1], c[2], c[3])),
            })
            .collect();

        Ok(Decoded {
            advert: Advert {
                version,
                vrid,
                priority,
                interval_cs,
                addrs,
                auth,
            },
            v3_ipv4_checksum,
            len: need,
        })
    }

    /// Encodes the advert for a packet carried with the addresses in `ctx`, checksum included.
    /// `v3_ipv4` selects the checksum form of VRRPv3 over IPv4 and is ignored otherwise.
    pub fn encode(&self, ctx: &IpContext, v3_ipv4: V3Ipv4Checksum) -> Result<Bytes, EncodeError> {
        let vrid = self.vrid;
        if vrid == 0 {
            return Err(EncodeError::ZeroVrid);
        }
        let ipv6 = ctx.is_ipv6().ok_or(EncodeError::MixedContext {
            src: ctx.src,
            dst: ctx.dst,
        })?;
        if ipv6 && self.version == Version::V2 {
            return Err(EncodeError::V2OverIpv6 { vrid });
        }
        if let Some(&addr) = self.addrs.iter().find(|a| a.is_ipv6() != ipv6) {
            return Err(EncodeError::AddressFamily { vrid, addr });
        }
        let count = u8::try_from(self.addrs.len()).map_err(|_| EncodeError::TooManyAddresses {
            vrid,
            count: self.addrs.len(),
        })?;
        let interval_err = EncodeError::Interval {
            vrid,
            version: self.version,
            interval_cs: self.interval_cs,
        };
        let (byte4, byte5) = match self.version {
            Version::V2 => {
                // RFC 3768 §5.3.7: whole seconds, 8 bits.
                if self.interval_cs % 100 != 0
                    || !(100..=V2_MAX_INTERVAL_CS).contains(&self.interval_cs)
                {
                    return Err(interval_err);
                }
                (self.auth.auth_type(), (self.interval_cs / 100) as u8)
            }
            Version::V3 => {
                if !(1..=V3_MAX_INTERVAL_CS).contains(&self.interval_cs) {
                    return Err(interval_err);
                }
                if self.auth != AuthData::None {
                    return Err(EncodeError::V3Auth { vrid });
                }
                if count == 0 {
                    return Err(EncodeError::NoAddress { vrid });
                }
                // RFC 5798 §5.2.6: reserved bits sent as zero.
                let [hi, lo] = self.interval_cs.to_be_bytes();
                (hi, lo)
            }
        };

        let addr_len = if ipv6 { 16 } else { 4 };
        let auth_len = if self.version == Version::V2 {
            AUTH_DATA_LEN
        } else {
            0
        };
        let mut buf = BytesMut::with_capacity(HEADER_LEN + self.addrs.len() * addr_len + auth_len);
        buf.put_u8(self.version.number() << 4 | TYPE_ADVERTISEMENT);
        buf.put_u8(vrid);
        buf.put_u8(self.priority);
        buf.put_u8(count);
        buf.put_u8(byte4);
        buf.put_u8(byte5);
        buf.put_u16(0);
        for addr in &self.addrs {
            match addr {
                IpAddr::V4(a) => buf.put_slice(&a.octets()),
                IpAddr::V6(a) => buf.put_slice(&a.octets()),
            }
        }
        if self.version == Version::V2 {
            // RFC 3768 §5.3.10: zero unless PASS (RFC 2338 §5.3.10: password, zero-padded).
            match self.auth {
                AuthData::Pass(p) => buf.put_slice(&p),
                AuthData::None | AuthData::Ah => buf.put_bytes(0, AUTH_DATA_LEN),
            }
        }
        let pseudo_header = match (self.version, ipv6) {
            (Version::V2, _) => false,
            (Version::V3, true) => true,
            (Version::V3, false) => v3_ipv4 == V3Ipv4Checksum::WithPseudoHeader,
        };
        let sum = checksum(&buf, ctx, pseudo_header, true);
        buf[6..8].copy_from_slice(&sum.to_be_bytes());
        Ok(buf.freeze())
    }
}

/// The Authentication Data of a keepalived `auth_pass`: the first 8 bytes of `password`,
/// zero-padded (RFC 2338 §5.3.10). The flag is true when the password was longer and got cut,
/// as keepalived does ("Truncating auth_pass to 8 characters"); the caller warns.
pub fn pass_auth(password: &str) -> (AuthData, bool) {
    let bytes = password.as_bytes();
    let mut data = [0u8; AUTH_DATA_LEN];
    let n = bytes.len().min(AUTH_DATA_LEN);
    data[..n].copy_from_slice(&bytes[..n]);
    (AuthData::Pass(data), bytes.len() > AUTH_DATA_LEN)
}

/// The IPv4 header fields a VRRP receiver needs, and the payload they frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Info<'a> {
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// Time To Live (RFC 3768 §7.1: must be 255 for multicast adverts; checked by the caller).
    pub ttl: u8,
    /// Protocol field (112 for VRRP, 51 for AH).
    pub protocol: u8,
    /// The bytes between the header (IHL) and Total Length; trailing bytes are dropped.
    pub payload: &'a [u8],
}

impl Ipv4Info<'_> {
    /// The [`IpContext`] for decoding the payload.
    pub fn context(&self) -> IpContext {
        IpContext::new(IpAddr::V4(self.src), IpAddr::V4(self.dst))
    }
}

/// Parses the IPv4 header at the start of `buf` (what a raw `AF_INET` socket delivers). Honours
/// IHL (options are skipped) and Total Length (bytes past it are ignored). The header checksum is
/// not verified: the kernel drops bad headers before raw sockets see them. Never panics.
pub fn parse_ipv4(buf: &[u8]) -> Result<Ipv4Info<'_>, DecodeError> {
    let len = buf.len();
    let pkt = Ipv4Packet::new(buf).ok_or(DecodeError::TooShort {
        len,
        need: IPV4_MIN_HEADER_LEN,
    })?;
    let version = pkt.get_version();
    if version != 4 {
        return Err(DecodeError::NotIpv4(version));
    }
    let header_len = usize::from(pkt.get_header_length()) * 4;
    if header_len < IPV4_MIN_HEADER_LEN || header_len > len {
        return Err(DecodeError::Ipv4HeaderLength { header_len, len });
    }
    let total_len = usize::from(pkt.get_total_length());
    if total_len < header_len || total_len > len {
        return Err(DecodeError::Ipv4TotalLength {
            total_len,
            header_len,
            len,
        });
    }
    Ok(Ipv4Info {
        src: pkt.get_source(),
        dst: pkt.get_destination(),
        ttl: pkt.get_ttl(),
        protocol: pkt.get_next_level_protocol().0,
        payload: &buf[header_len..total_len],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4ctx() -> IpContext {
        IpContext::new("192.0.2.1".parse().unwrap(), IpAddr::V4(MCAST_V4))
    }

    #[test]
    fn checksum_of_encoded_message_verifies_and_any_bit_flip_breaks_it() {
        let advert = Advert {
            version: Version::V2,
            vrid: 7,
            priority: 100,
            interval_cs: 100,
            addrs: vec!["192.0.2.7".parse().unwrap()],
            auth: AuthData::None,
        };
        let bytes = advert.encode(&v4ctx(), V3Ipv4Checksum::default()).unwrap();
        assert_eq!(checksum(&bytes, &v4ctx(), false, false), 0);
        for bit in 0..bytes.len() * 8 {
            let mut b = bytes.to_vec();
            b[bit / 8] ^= 1 << (bit % 8);
            assert_ne!(checksum(&b, &v4ctx(), false, false), 0, "bit {bit}");
        }
    }

    #[test]
    fn pseudo_header_changes_the_v3_ipv4_checksum() {
        let msg = [0x31, 1, 100, 1, 0, 100, 0, 0, 192, 0, 2, 9];
        let with = checksum(&msg, &v4ctx(), true, true);
        let without = checksum(&msg, &v4ctx(), false, true);
        assert_ne!(with, without);
    }

    #[test]
    fn pass_auth_pads_and_truncates() {
        assert_eq!(pass_auth("1111"), (AuthData::Pass(*b"1111\0\0\0\0"), false));
        assert_eq!(pass_auth("12345678"), (AuthData::Pass(*b"12345678"), false));
        assert_eq!(
            pass_auth("somepassword"),
            (AuthData::Pass(*b"somepass"), true)
        );
        assert_eq!(pass_auth(""), (AuthData::Pass([0; 8]), false));
    }

    #[test]
    fn decode_error_vrid_is_reported_only_when_known() {
        assert_eq!(DecodeError::ZeroInterval { vrid: 9 }.vrid(), Some(9));
        assert_eq!(DecodeError::BadVersion(4).vrid(), None);
        assert_eq!(DecodeError::TooShort { len: 3, need: 8 }.vrid(), None);
    }

    #[test]
    fn checksum_error_message_names_both_forms_for_v3_ipv4() {
        let e = DecodeError::Checksum {
            vrid: 52,
            got: 0x1234,
            expected: 0x4263,
            without_pseudo_header: Some(0xabcd),
        };
        assert_eq!(
            e.to_string(),
            "VRID 52: bad checksum 0x1234, expected 0x4263 with IPv4 pseudo-header or 0xabcd without"
        );
    }
}
