//! Packet capture on the lab's switch: tcpdump writing a pcap file, parsed after the fact.
//!
//! Owns the pcap reader and a minimal, independent decoder for what the system tests look at:
//! VRRP adverts (v2/v3, IPv4/IPv6), gratuitous ARPs and unsolicited neighbour advertisements.
//! It deliberately does not use `lbcore`'s codec: the tests must not trust the code under test.
//! Must not interpret timing; callers compare the wall-clock timestamps it returns.

use std::fs;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};

use crate::process::Proc;

/// An Ethernet MAC address.
pub type Mac = [u8; 6];

/// Formats a MAC the way iproute2 prints it (`02:00:00:00:00:11`).
pub fn format_mac(mac: &Mac) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// A VRRP advertisement as seen on the wire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Advert {
    /// IP source address (primary IPv4 address or IPv6 link-local of the sender).
    pub src: IpAddr,
    /// IP TTL / hop limit (RFC 3768 §7.1 / RFC 5798 §7.1: must be 255).
    pub ttl: u8,
    /// VRRP version (2 or 3).
    pub version: u8,
    /// Virtual router id.
    pub vrid: u8,
    /// Priority (0 = the master is stopping).
    pub priority: u8,
    /// Advertisement interval (v2: seconds field; v3: centiseconds field).
    pub interval: Duration,
    /// The addresses listed in the advert.
    pub addrs: Vec<IpAddr>,
}

/// What a captured frame carried.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Payload {
    /// A VRRP advertisement.
    Advert(Advert),
    /// A gratuitous ARP (sender IP == target IP) announcing `ip` at the frame's source MAC.
    Garp {
        /// The announced address.
        ip: Ipv4Addr,
        /// ARP operation (1 = request, keepalived's form; 2 = reply).
        op: u16,
        /// The sender hardware address inside the ARP payload.
        sender_mac: Mac,
        /// The target hardware address inside the ARP payload (keepalived: ff:ff:ff:ff:ff:ff).
        target_mac: Mac,
    },
    /// An ICMPv6 neighbour advertisement for `target`.
    NeighbourAdvert {
        /// The advertised target address.
        target: Ipv6Addr,
    },
    /// Anything else.
    Other,
}

/// One captured frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// Kernel capture timestamp (wall clock).
    pub wall: SystemTime,
    /// Ethernet destination address.
    pub dst_mac: Mac,
    /// Ethernet source address.
    pub src_mac: Mac,
    /// Decoded content.
    pub payload: Payload,
}

impl Frame {
    /// Seconds since the Unix epoch.
    pub fn epoch_secs(&self) -> f64 {
        self.wall
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64())
    }

    /// The advert carried by this frame, if any.
    pub fn advert(&self) -> Option<&Advert> {
        match &self.payload {
            Payload::Advert(a) => Some(a),
            _ => None,
        }
    }
}

/// A running tcpdump writing every frame it sees to a pcap file (`-U`: flushed per packet).
#[derive(Debug)]
pub struct Capture {
    proc: Proc,
    file: PathBuf,
}

/// The BPF filter the lab captures with.
pub const FILTER: &str = "ip proto 112 or ip6 proto 112 or arp or icmp6";

impl Capture {
    /// Wraps a started tcpdump process (see `Lab::capture`).
    pub(crate) fn new(proc: Proc, file: PathBuf) -> Self {
        Self { proc, file }
    }

    /// Path of the pcap file.
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// Parses what has been captured so far (the capture keeps running).
    pub fn frames(&self) -> Result<Vec<Frame>> {
        read_pcap(&self.file)
    }

    /// Stops tcpdump (SIGINT, so it flushes) and returns every frame.
    pub fn stop(mut self) -> Result<Vec<Frame>> {
        self.proc.signal(nix::sys::signal::Signal::SIGINT)?;
        self.proc.wait_exit(Duration::from_secs(3))?;
        read_pcap(&self.file)
    }
}

/// Reads a pcap file (classic format, µs or ns resolution, Ethernet link type). A truncated last
/// record (tcpdump still writing) is ignored.
pub fn read_pcap(path: &Path) -> Result<Vec<Frame>> {
    let data = fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    parse_pcap(&data).with_context(|| format!("parsing {}", path.display()))
}

/// Parses pcap bytes; see [`read_pcap`].
pub fn parse_pcap(data: &[u8]) -> Result<Vec<Frame>> {
    if data.len() < 24 {
        // tcpdump writes the header when it starts; an empty file means nothing yet.
        return Ok(Vec::new());
    }
    let magic_le = u32::from_le_bytes(data[0..4].try_into()?);
    let magic_be = u32::from_be_bytes(data[0..4].try_into()?);
    let (little, nanos) = match (magic_le, magic_be) {
        (0xa1b2_c3d4, _) => (true, false),
        (0xa1b2_3c4d, _) => (true, true),
        (_, 0xa1b2_c3d4) => (false, false),
        (_, 0xa1b2_3c4d) => (false, true),
        _ => bail!("not a pcap file (magic {magic_le:#010x})"),
    };
    let u32_at = |b: &[u8], at: usize| -> u32 {
        let raw: [u8; 4] = b[at..at + 4].try_into().unwrap_or([0; 4]);
        if little {
            u32::from_le_bytes(raw)
        } else {
            u32::from_be_bytes(raw)
        }
    };
    let link_type = u32_at(data, 20);
    if link_type != 1 {
        bail!("unsupported pcap link type {link_type} (want 1, Ethernet)");
    }
    let mut frames = Vec::new();
    let mut at = 24;
    while at + 16 <= data.len() {
        let secs = u32_at(data, at);
        let frac = u32_at(data, at + 4);
        let incl = u32_at(data, at + 8) as usize;
        let body_at = at + 16;
        if body_at + incl > data.len() {
            break;
        }
        let sub = if nanos {
            Duration::from_nanos(frac.into())
        } else {
            Duration::from_micros(frac.into())
        };
        let wall = UNIX_EPOCH + Duration::from_secs(secs.into()) + sub;
        if let Some(frame) = decode_ethernet(wall, &data[body_at..body_at + incl]) {
            frames.push(frame);
        }
        at = body_at + incl;
    }
    Ok(frames)
}

fn decode_ethernet(wall: SystemTime, b: &[u8]) -> Option<Frame> {
    if b.len() < 14 {
        return None;
    }
    let dst_mac: Mac = b[0..6].try_into().ok()?;
    let src_mac: Mac = b[6..12].try_into().ok()?;
    let ethertype = u16::from_be_bytes([b[12], b[13]]);
    let body = &b[14..];
    let payload = match ethertype {
        0x0800 => decode_ipv4(body),
        0x86dd => decode_ipv6(body),
        0x0806 => decode_arp(body),
        _ => None,
    }
    .unwrap_or(Payload::Other);
    Some(Frame {
        wall,
        dst_mac,
        src_mac,
        payload,
    })
}

fn decode_ipv4(b: &[u8]) -> Option<Payload> {
    if b.len() < 20 || b[0] >> 4 != 4 {
        return None;
    }
    let ihl = usize::from(b[0] & 0x0f) * 4;
    let ttl = b[8];
    let proto = b[9];
    let src = IpAddr::V4(Ipv4Addr::new(b[12], b[13], b[14], b[15]));
    if proto != 112 || b.len() < ihl {
        return None;
    }
    decode_vrrp(src, ttl, &b[ihl..], 4).map(Payload::Advert)
}

fn decode_ipv6(b: &[u8]) -> Option<Payload> {
    if b.len() < 40 || b[0] >> 4 != 6 {
        return None;
    }
    let next = b[6];
    let hop = b[7];
    let src_bytes: [u8; 16] = b[8..24].try_into().ok()?;
    let src = IpAddr::V6(Ipv6Addr::from(src_bytes));
    let body = &b[40..];
    match next {
        112 => decode_vrrp(src, hop, body, 16).map(Payload::Advert),
        // ICMPv6 type 136 = Neighbor Advertisement (RFC 4861 §4.4).
        58 if body.len() >= 24 && body[0] == 136 => {
            let target: [u8; 16] = body[8..24].try_into().ok()?;
            Some(Payload::NeighbourAdvert {
                target: Ipv6Addr::from(target),
            })
        }
        _ => None,
    }
}

fn decode_arp(b: &[u8]) -> Option<Payload> {
    // Ethernet/IPv4 ARP only: htype 1, ptype 0x0800, hlen 6, plen 4.
    if b.len() < 28 || b[0..6] != [0, 1, 8, 0, 6, 4] {
        return None;
    }
    let op = u16::from_be_bytes([b[6], b[7]]);
    let sender_mac: Mac = b[8..14].try_into().ok()?;
    let spa = Ipv4Addr::new(b[14], b[15], b[16], b[17]);
    let target_mac: Mac = b[18..24].try_into().ok()?;
    let tpa = Ipv4Addr::new(b[24], b[25], b[26], b[27]);
    (spa == tpa).then_some(Payload::Garp {
        ip: spa,
        op,
        sender_mac,
        target_mac,
    })
}

fn decode_vrrp(src: IpAddr, ttl: u8, b: &[u8], addr_len: usize) -> Option<Advert> {
    if b.len() < 8 {
        return None;
    }
    let version = b[0] >> 4;
    if b[0] & 0x0f != 1 {
        return None;
    }
    let count = usize::from(b[3]);
    let interval = match version {
        // RFC 3768 §5.3.7: Adver Int in seconds.
        2 => Duration::from_secs(b[5].into()),
        // RFC 5798 §5.2.7: 12-bit Max Adver Int in centiseconds.
        3 => Duration::from_millis(u64::from(u16::from_be_bytes([b[4] & 0x0f, b[5]])) * 10),
        _ => return None,
    };
    let addrs = b[8..]
        .chunks_exact(addr_len)
        .take(count)
        .filter_map(|chunk| match addr_len {
            4 => Some(IpAddr::V4(Ipv4Addr::new(
                chunk[0], chunk[1], chunk[2], chunk[3],
            ))),
            _ => <[u8; 16]>::try_from(chunk)
                .ok()
                .map(|a| IpAddr::V6(Ipv6Addr::from(a))),
        })
        .collect();
    Some(Advert {
        src,
        ttl,
        version,
        vrid: b[1],
        priority: b[2],
        interval,
        addrs,
    })
}

/// A gratuitous ARP seen on the wire: when, and what the frame said.
#[derive(Clone, Debug, PartialEq)]
pub struct GarpFrame {
    /// Epoch seconds of the capture timestamp.
    pub at: f64,
    /// Ethernet destination.
    pub dst_mac: Mac,
    /// ARP operation.
    pub op: u16,
    /// ARP sender hardware address.
    pub sender_mac: Mac,
    /// ARP target hardware address.
    pub target_mac: Mac,
}

impl GarpFrame {
    /// Whether this is keepalived's frame for a sender at `mac` (`vrrp_arp.c`): Ethernet
    /// broadcast, ARP request, sender hardware address `mac`, target hardware address broadcast
    /// (sender IP == target IP is implied by [`Payload::Garp`]).
    pub fn is_keepalived_form(&self, mac: &Mac) -> bool {
        self.dst_mac == [0xff; 6]
            && self.op == 1
            && &self.sender_mac == mac
            && self.target_mac == [0xff; 6]
    }
}

/// Gratuitous ARPs for `ip` sent from Ethernet source `mac`, in capture order.
pub fn garps_from(frames: &[Frame], mac: &Mac, ip: Ipv4Addr) -> Vec<GarpFrame> {
    frames
        .iter()
        .filter(|f| &f.src_mac == mac)
        .filter_map(|f| match f.payload {
            Payload::Garp {
                ip: announced,
                op,
                sender_mac,
                target_mac,
            } if announced == ip => Some(GarpFrame {
                at: f.epoch_secs(),
                dst_mac: f.dst_mac,
                op,
                sender_mac,
                target_mac,
            }),
            _ => None,
        })
        .collect()
}

/// Splits time-ordered frames into bursts: a frame less than `gap` after the previous one joins
/// its burst.
pub fn bursts(garps: &[GarpFrame], gap: Duration) -> Vec<Vec<GarpFrame>> {
    let mut out: Vec<Vec<GarpFrame>> = Vec::new();
    for g in garps {
        match out.last_mut() {
            Some(burst)
                if burst
                    .last()
                    .is_some_and(|prev| g.at - prev.at < gap.as_secs_f64()) =>
            {
                burst.push(g.clone());
            }
            _ => out.push(vec![g.clone()]),
        }
    }
    out
}

/// Adverts (with their frames) sent from `mac`, in capture order.
pub fn adverts_from<'a>(
    frames: &'a [Frame],
    mac: &Mac,
) -> impl Iterator<Item = (&'a Frame, &'a Advert)> {
    frames
        .iter()
        .filter(move |f| &f.src_mac == mac)
        .filter_map(|f| f.advert().map(|a| (f, a)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pcap_header() -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
        v.extend_from_slice(&2u16.to_le_bytes());
        v.extend_from_slice(&4u16.to_le_bytes());
        v.extend_from_slice(&[0; 8]);
        v.extend_from_slice(&262_144u32.to_le_bytes());
        v.extend_from_slice(&1u32.to_le_bytes());
        v
    }

    fn record(v: &mut Vec<u8>, secs: u32, usecs: u32, frame: &[u8]) {
        v.extend_from_slice(&secs.to_le_bytes());
        v.extend_from_slice(&usecs.to_le_bytes());
        v.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        v.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        v.extend_from_slice(frame);
    }

    /// The v2 advert keepalived 2.2.7 sent in the seed lab (VRID 51, prio 101, PASS "somepass").
    fn v2_advert_frame() -> Vec<u8> {
        let mut f = vec![
            0x01, 0x00, 0x5e, 0x00, 0x00, 0x12, 0x02, 0, 0, 0, 0, 0x11, 0x08, 0x00,
        ];
        f.extend_from_slice(&[
            0x45, 0xc0, 0x00, 0x28, 0x00, 0x01, 0x00, 0x00, 0xff, 0x70, 0x00, 0x00, 192, 0, 2, 11,
            224, 0, 0, 18,
        ]);
        f.extend_from_slice(&[0x21, 51, 101, 1, 1, 1, 0x00, 0x00, 192, 0, 2, 100]);
        f.extend_from_slice(b"somepass");
        f
    }

    fn garp_frame() -> Vec<u8> {
        let mut f = vec![0xff; 6];
        f.extend_from_slice(&[0x02, 0, 0, 0, 0, 0x12, 0x08, 0x06]);
        f.extend_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1]);
        f.extend_from_slice(&[0x02, 0, 0, 0, 0, 0x12, 192, 0, 2, 100]);
        f.extend_from_slice(&[0xff; 6]);
        f.extend_from_slice(&[192, 0, 2, 100]);
        f
    }

    fn v3_ipv6_advert_frame() -> Vec<u8> {
        let mut f = vec![
            0x33, 0x33, 0, 0, 0, 0x12, 0x02, 0, 0, 0, 0, 0x12, 0x86, 0xdd,
        ];
        let vrrp = {
            let mut v = vec![0x31, 51, 100, 1, 0x00, 5, 0, 0];
            v.extend_from_slice(&"2001:db8::100".parse::<Ipv6Addr>().expect("addr").octets());
            v
        };
        f.extend_from_slice(&[0x60, 0, 0, 0]);
        f.extend_from_slice(&(vrrp.len() as u16).to_be_bytes());
        f.extend_from_slice(&[112, 255]);
        f.extend_from_slice(&"fe80::12".parse::<Ipv6Addr>().expect("addr").octets());
        f.extend_from_slice(&"ff02::12".parse::<Ipv6Addr>().expect("addr").octets());
        f.extend_from_slice(&vrrp);
        f
    }

    #[test]
    fn decodes_adverts_garps_and_ignores_truncated_tail() {
        let mut pcap = pcap_header();
        record(&mut pcap, 1_700_000_000, 250_000, &v2_advert_frame());
        record(&mut pcap, 1_700_000_001, 5, &garp_frame());
        record(&mut pcap, 1_700_000_002, 0, &v3_ipv6_advert_frame());
        let full = pcap.len();
        record(&mut pcap, 1_700_000_003, 0, &v2_advert_frame());
        pcap.truncate(full + 20);

        let frames = parse_pcap(&pcap).expect("valid pcap");
        assert_eq!(frames.len(), 3);
        assert!((frames[0].epoch_secs() - 1_700_000_000.25).abs() < 1e-6);
        let a = frames[0].advert().expect("advert");
        assert_eq!(
            (a.version, a.vrid, a.priority, a.ttl, a.interval),
            (2, 51, 101, 255, Duration::from_secs(1))
        );
        assert_eq!(a.src, "192.0.2.11".parse::<IpAddr>().expect("addr"));
        assert_eq!(
            a.addrs,
            vec!["192.0.2.100".parse::<IpAddr>().expect("addr")]
        );
        assert_eq!(format_mac(&frames[0].src_mac), "02:00:00:00:00:11");
        assert_eq!(
            frames[1].payload,
            Payload::Garp {
                ip: Ipv4Addr::new(192, 0, 2, 100),
                op: 1,
                sender_mac: [2, 0, 0, 0, 0, 0x12],
                target_mac: [0xff; 6],
            }
        );
        assert_eq!(frames[1].dst_mac, [0xff; 6]);
        assert_eq!(frames[0].dst_mac, [0x01, 0x00, 0x5e, 0x00, 0x00, 0x12]);
        let v3 = frames[2].advert().expect("v3 advert");
        assert_eq!(
            (v3.version, v3.priority, v3.interval),
            (3, 100, Duration::from_millis(50))
        );
        assert_eq!(
            v3.addrs,
            vec!["2001:db8::100".parse::<IpAddr>().expect("addr")]
        );
        assert_eq!(adverts_from(&frames, &[2, 0, 0, 0, 0, 0x12]).count(), 1);
    }

    #[test]
    fn groups_garps_into_bursts() {
        let mut pcap = pcap_header();
        for (secs, usecs) in [(10, 0), (10, 300), (10, 900), (11, 5), (11, 400), (13, 0)] {
            record(&mut pcap, secs, usecs, &garp_frame());
        }
        record(&mut pcap, 12, 0, &v2_advert_frame());
        let frames = parse_pcap(&pcap).expect("valid pcap");
        let b_mac = [2, 0, 0, 0, 0, 0x12];
        let garps = garps_from(&frames, &b_mac, Ipv4Addr::new(192, 0, 2, 100));
        assert_eq!(garps.len(), 6);
        assert!(garps.iter().all(|g| g.is_keepalived_form(&b_mac)));
        assert!(!garps[0].is_keepalived_form(&[2, 0, 0, 0, 0, 0x11]));
        assert!(garps_from(&frames, &b_mac, Ipv4Addr::new(192, 0, 2, 101)).is_empty());
        let sizes: Vec<usize> = bursts(&garps, Duration::from_millis(100))
            .iter()
            .map(Vec::len)
            .collect();
        assert_eq!(sizes, vec![3, 2, 1]);
    }

    #[test]
    fn rejects_non_pcap_and_accepts_empty() {
        assert!(parse_pcap(b"").expect("empty is fine").is_empty());
        assert!(parse_pcap(&[0u8; 40]).is_err());
    }
}
