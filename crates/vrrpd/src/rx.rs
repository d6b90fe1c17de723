//! Receive loop of one VRRP socket: socket-level checks, decoding, and demultiplexing by VRID.
//!
//! Owns: the checks that need the IP header (RFC 3768 §7.1 / RFC 5798 §7.1: TTL / hop limit 255
//! in multicast mode, destination matching the socket's mode, and with `check_unicast_src` the
//! unicast source among the configured peers with their `min_ttl`/`max_ttl`), decoding with lbcore's codec, and routing the result to
//! the instance with that VRID (drops included, so they are counted on the right instance).
//! Must not: apply the instance's protocol checks (auth, interval, address list: the state machine
//! does) or block on a slow instance (its queue is bounded; overflow is counted).

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use lbcore::config::vrrp::UnicastPeer;
use lbcore::vrrp::packet::{Advert, DecodeError, IpContext, VRRP_TTL};

use crate::clock;
use crate::driver::RxEvent;
use crate::ratelimit::{DEFAULT_WINDOW, RateLimiter};
use crate::socket::{Mode, Packet, RECV_BUF_LEN, RecvError, VrrpSocket};
use crate::status::{Shared, SocketStats};

/// Queue length between the receive loop and one instance.
pub const INSTANCE_QUEUE: usize = 64;

/// The instances one socket serves, by VRID; a reload adds and removes entries while the
/// receive loop runs.
pub type Routes = Shared<HashMap<u8, Route>>;

/// Where adverts for one VRID go.
#[derive(Debug, Clone)]
pub struct Route {
    /// Instance name (logs).
    pub name: String,
    /// The instance's queue.
    pub tx: mpsc::Sender<RxEvent>,
    /// Unicast peers (empty in multicast mode).
    pub peers: Vec<UnicastPeer>,
    /// keepalived `check_unicast_src`: unicast adverts only from `peers`, within their
    /// `min_ttl` / `max_ttl`. Off (keepalived's default), any source is accepted.
    pub check_unicast_src: bool,
}

impl Route {
    /// The unicast source filter of this route.
    pub fn filter(&self) -> UnicastFilter<'_> {
        UnicastFilter {
            peers: &self.peers,
            check_src: self.check_unicast_src,
        }
    }
}

/// Who may send an instance unicast adverts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnicastFilter<'a> {
    /// The configured peers.
    pub peers: &'a [UnicastPeer],
    /// `check_unicast_src`: only from `peers`, with their TTL limits.
    pub check_src: bool,
}

/// What to do with one received packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Hand this event to the instance with this VRID.
    Instance(u8, RxEvent),
    /// Addressed to the other mode's socket (e.g. a unicast advert seen by the multicast socket).
    OtherDestination,
    /// No instance on this socket has this VRID.
    UnknownVrid(u8),
    /// Malformed and not attributable to an instance.
    Malformed(String),
}

/// Counter name for a decode error.
pub fn decode_kind(e: &DecodeError) -> &'static str {
    match e {
        DecodeError::TooShort { .. } | DecodeError::Length { .. } => "length",
        DecodeError::BadVersion(_) | DecodeError::FamilyMismatch { .. } => "version",
        DecodeError::BadType { .. } => "type",
        DecodeError::ZeroVrid => "vrid",
        DecodeError::AddressCount { .. } => "address_list",
        DecodeError::Checksum { .. } => "checksum",
        DecodeError::BadAuthType { .. } => "auth",
        DecodeError::ZeroInterval { .. } => "interval",
        DecodeError::MixedContext { .. }
        | DecodeError::NotIpv4(_)
        | DecodeError::Ipv4HeaderLength { .. }
        | DecodeError::Ipv4TotalLength { .. } => "ip_header",
    }
}

/// Applies the socket-level checks to `pkt` and decodes it. `filter_of(vrid)` gives the unicast
/// source filter of the instance with that VRID, `None` when there is no such instance.
pub fn classify<'r>(
    mode: Mode,
    pkt: &Packet<'_>,
    filter_of: impl Fn(u8) -> Option<UnicastFilter<'r>>,
) -> Verdict {
    let src = pkt.src;
    // The socket of the other mode on this interface gets it (keepalived: one socket per mode).
    if pkt.dst != mode.expected_dst() {
        return Verdict::OtherDestination;
    }
    let Some(&vrid) = pkt.payload.get(1) else {
        return Verdict::Malformed(format!("{} bytes from {src}", pkt.payload.len()));
    };
    let Some(filter) = filter_of(vrid) else {
        return Verdict::UnknownVrid(vrid);
    };
    let drop = |kind: &'static str, detail: String| {
        Verdict::Instance(vrid, RxEvent::Dropped { kind, src, detail })
    };
    match mode {
        Mode::Multicast(_) => {
            // RFC 3768 §7.1 / RFC 5798 §7.1: MUST verify that the IP TTL / Hop Limit is 255.
            if pkt.ttl != Some(VRRP_TTL) {
                return drop("ttl", format!("ttl {:?} is not 255", pkt.ttl));
            }
        }
        // keepalived vrrp_check_packet: in unicast mode the TTL 255 rule does not apply (adverts
        // may cross routers), and without check_unicast_src any source is accepted.
        Mode::Unicast(_) if !filter.check_src => {}
        Mode::Unicast(_) => {
            // check_unicast_src: only configured peers, within their own TTL limits.
            let Some(peer) = filter.peers.iter().find(|p| p.addr == src) else {
                return drop(
                    "unicast_source",
                    format!("{src} is not a configured unicast peer"),
                );
            };
            let ttl = pkt.ttl.unwrap_or(VRRP_TTL);
            if peer.min_ttl.is_some_and(|m| ttl < m) || peer.max_ttl.is_some_and(|m| ttl > m) {
                return drop(
                    "ttl",
                    format!("ttl {ttl} outside the peer's min_ttl/max_ttl"),
                );
            }
        }
    }
    match Advert::decode(pkt.payload, &IpContext::new(src, pkt.dst)) {
        Ok(d) => Verdict::Instance(
            vrid,
            RxEvent::Advert {
                advert: d.advert,
                src,
                checksum: d.v3_ipv4_checksum,
            },
        ),
        Err(e) => match e.vrid() {
            Some(v) if v == vrid => drop(decode_kind(&e), e.to_string()),
            _ => Verdict::Malformed(format!("from {src}: {e}")),
        },
    }
}

/// Receives on `sock` until `shutdown`, delivering to `routes` by VRID.
pub async fn rx_loop(
    sock: Arc<VrrpSocket>,
    routes: Routes,
    stats: Shared<SocketStats>,
    shutdown: CancellationToken,
) {
    let mut buf = vec![0u8; RECV_BUF_LEN];
    let mut limiter: RateLimiter<&'static str> = RateLimiter::new(DEFAULT_WINDOW);
    let ifname = sock.ifname().to_string();
    loop {
        let res = tokio::select! {
            () = shutdown.cancelled() => return,
            res = sock.recv(&mut buf) => res,
        };
        let pkt = match res {
            Ok(p) => p,
            Err(RecvError::Header(e)) => {
                stats.lock().malformed += 1;
                if let Some(suppressed) = limiter.allow("ip_header", clock::now()) {
                    tracing::debug!(interface = %ifname, error = %e, suppressed, "bad ip header");
                }
                continue;
            }
            Err(RecvError::Io(e)) => {
                if let Some(suppressed) = limiter.allow("io", clock::now()) {
                    tracing::warn!(interface = %ifname, error = %e, suppressed, "vrrp receive failed");
                }
                // A persistent error must not spin.
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        stats.lock().received += 1;
        // The table lock is held for one classification and one non-blocking send: a reload
        // swapping routes waits at most that long.
        let routes = routes.lock();
        let verdict = classify(sock.mode(), &pkt, |vrid| {
            routes.get(&vrid).map(Route::filter)
        });
        match verdict {
            Verdict::Instance(vrid, ev) => {
                let Some(route) = routes.get(&vrid) else {
                    continue;
                };
                if route.tx.try_send(ev).is_err() {
                    stats.lock().queue_full += 1;
                    if let Some(suppressed) = limiter.allow("queue_full", clock::now()) {
                        tracing::warn!(instance = %route.name, suppressed, "instance receive queue full, advert dropped");
                    }
                }
            }
            Verdict::OtherDestination => {
                stats.lock().other_destination += 1;
                tracing::trace!(interface = %ifname, src = %pkt.src, dst = %pkt.dst, "packet for the other mode");
            }
            Verdict::UnknownVrid(vrid) => {
                stats.lock().unknown_vrid += 1;
                if let Some(suppressed) = limiter.allow("unknown_vrid", clock::now()) {
                    tracing::debug!(interface = %ifname, vrid, src = %pkt.src, suppressed, "advert for unknown vrid");
                }
            }
            Verdict::Malformed(detail) => {
                stats.lock().malformed += 1;
                if let Some(suppressed) = limiter.allow("malformed", clock::now()) {
                    tracing::debug!(interface = %ifname, detail, suppressed, "malformed vrrp packet");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use lbcore::vrrp::packet::{AuthData, MCAST_V4, V3Ipv4Checksum, Version};

    use super::*;

    const A: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 11));
    const B: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 12));
    const GROUP: IpAddr = IpAddr::V4(MCAST_V4);

    fn advert(vrid: u8, version: Version) -> Advert {
        Advert {
            version,
            vrid,
            priority: 101,
            interval_cs: 100,
            addrs: vec![IpAddr::V4(Ipv4Addr::new(192, 0, 2, 100))],
            auth: if version == Version::V2 {
                AuthData::Pass(*b"somepass")
            } else {
                AuthData::None
            },
        }
    }

    fn wire(adv: &Advert, src: IpAddr, dst: IpAddr) -> Vec<u8> {
        adv.encode(&IpContext::new(src, dst), V3Ipv4Checksum::WithPseudoHeader)
            .expect("encode")
            .to_vec()
    }

    fn pkt(src: IpAddr, dst: IpAddr, ttl: u8, payload: &[u8]) -> Packet<'_> {
        Packet {
            src,
            dst,
            ttl: Some(ttl),
            payload,
        }
    }

    const ANY: UnicastFilter<'static> = UnicastFilter {
        peers: &[],
        check_src: false,
    };

    fn checked(peers: &[UnicastPeer]) -> UnicastFilter<'_> {
        UnicastFilter {
            peers,
            check_src: true,
        }
    }

    fn peer(addr: IpAddr, min_ttl: Option<u8>) -> UnicastPeer {
        UnicastPeer {
            addr,
            min_ttl,
            max_ttl: None,
        }
    }

    #[test]
    fn multicast_accepts_ttl_255_and_reports_the_checksum_form() {
        let adv = advert(51, Version::V3);
        let bytes = wire(&adv, A, GROUP);
        let v = classify(
            Mode::Multicast(GROUP),
            &pkt(A, GROUP, 255, &bytes),
            |vrid| (vrid == 51).then_some(ANY),
        );
        assert_eq!(
            v,
            Verdict::Instance(
                51,
                RxEvent::Advert {
                    advert: adv,
                    src: A,
                    checksum: Some(V3Ipv4Checksum::WithPseudoHeader)
                }
            )
        );
    }

    #[test]
    fn multicast_drops_ttl_other_than_255_on_the_instance() {
        let bytes = wire(&advert(51, Version::V2), A, GROUP);
        let v = classify(Mode::Multicast(GROUP), &pkt(A, GROUP, 254, &bytes), |_| {
            Some(ANY)
        });
        assert!(
            matches!(
                v,
                Verdict::Instance(
                    51,
                    RxEvent::Dropped {
                        kind: "ttl",
                        src: A,
                        ..
                    }
                )
            ),
            "{v:?}"
        );
    }

    #[test]
    fn destination_of_the_other_mode_and_unknown_vrid() {
        let bytes = wire(&advert(51, Version::V2), A, B);
        // A unicast advert reaching the multicast socket belongs to the unicast socket.
        assert_eq!(
            classify(Mode::Multicast(GROUP), &pkt(A, B, 255, &bytes), |_| Some(
                ANY
            )),
            Verdict::OtherDestination
        );
        let bytes = wire(&advert(52, Version::V2), A, GROUP);
        assert_eq!(
            classify(
                Mode::Multicast(GROUP),
                &pkt(A, GROUP, 255, &bytes),
                |vrid| (vrid == 51).then_some(ANY)
            ),
            Verdict::UnknownVrid(52)
        );
        assert!(matches!(
            classify(Mode::Multicast(GROUP), &pkt(A, GROUP, 255, &[]), |_| Some(
                ANY
            )),
            Verdict::Malformed(_)
        ));
    }

    #[test]
    fn unicast_accepts_configured_peers_only_without_the_ttl_255_rule() {
        let peers = [peer(A, Some(250))];
        let ok = wire(&advert(51, Version::V2), A, B);
        let v = classify(Mode::Unicast(B), &pkt(A, B, 252, &ok), |_| {
            Some(checked(&peers))
        });
        assert!(
            matches!(v, Verdict::Instance(51, RxEvent::Advert { .. })),
            "{v:?}"
        );
        let v = classify(Mode::Unicast(B), &pkt(A, B, 249, &ok), |_| {
            Some(checked(&peers))
        });
        assert!(
            matches!(
                v,
                Verdict::Instance(51, RxEvent::Dropped { kind: "ttl", .. })
            ),
            "{v:?}"
        );
        let stranger = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 99));
        let bytes = wire(&advert(51, Version::V2), stranger, B);
        let v = classify(Mode::Unicast(B), &pkt(stranger, B, 255, &bytes), |_| {
            Some(checked(&peers))
        });
        assert!(
            matches!(
                v,
                Verdict::Instance(
                    51,
                    RxEvent::Dropped {
                        kind: "unicast_source",
                        ..
                    }
                )
            ),
            "{v:?}"
        );
    }

    #[test]
    fn unicast_without_check_unicast_src_accepts_any_source_and_ttl() {
        // keepalived's default: the peer list says where to send, not whom to hear.
        let peers = [peer(A, Some(250))];
        let stranger = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 99));
        let bytes = wire(&advert(51, Version::V2), stranger, B);
        let open = UnicastFilter {
            peers: &peers,
            check_src: false,
        };
        let v = classify(Mode::Unicast(B), &pkt(stranger, B, 7, &bytes), |_| {
            Some(open)
        });
        assert!(
            matches!(v, Verdict::Instance(51, RxEvent::Advert { src, .. }) if src == stranger),
            "{v:?}"
        );
    }

    #[test]
    fn corrupt_advert_is_counted_on_its_instance() {
        let mut bytes = wire(&advert(51, Version::V2), A, GROUP);
        bytes[2] ^= 0x01; // priority changed, checksum now wrong
        let v = classify(Mode::Multicast(GROUP), &pkt(A, GROUP, 255, &bytes), |_| {
            Some(ANY)
        });
        assert!(
            matches!(
                v,
                Verdict::Instance(
                    51,
                    RxEvent::Dropped {
                        kind: "checksum",
                        ..
                    }
                )
            ),
            "{v:?}"
        );
        // Truncated: the VRID is readable but the address list is cut.
        let v = classify(
            Mode::Multicast(GROUP),
            &pkt(A, GROUP, 255, &bytes[..10]),
            |_| Some(ANY),
        );
        assert!(
            matches!(
                v,
                Verdict::Instance(51, RxEvent::Dropped { kind: "length", .. })
            ),
            "{v:?}"
        );
    }
}
