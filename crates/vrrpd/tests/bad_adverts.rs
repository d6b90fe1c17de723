//! Malformed adverts injected from a raw socket in a peer namespace (root): they are dropped,
//! counted and logged rate-limited, and the daemon keeps running (RFC 9568 §7.1).
//!
//! The peer namespace runs no daemon: the test itself is the other router, so it can send adverts
//! no real router would (here: a VRRPv3 IPv6 advert whose checksum is wrong, which the kernel
//! would discard silently if vrrpd let it verify IPv6 checksums).

mod common;

use std::net::{IpAddr, Ipv6Addr, SocketAddrV6};
use std::time::Duration;

use common::{Netns, TempDir, Vrrpd, require_root, veth, wait_for};
use lbcore::vrrp::packet::{Advert, AuthData, IpContext, MCAST_V6, V3Ipv4Checksum, Version};
use nix::sys::signal::Signal;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

/// The injecting peer's link-local source (added without DAD so it is usable at once).
const PEER_LL: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0x12);

fn v6_conf() -> String {
    "vrrp_instance VI_1 {\n    interface eth0\n    state BACKUP\n    priority 100\n    \
     virtual_router_id 52\n    version 3\n    advert_int 0.5\n    virtual_ipaddress {\n        \
     2001:db8::100\n    }\n}\n"
        .to_owned()
}

/// A raw VRRP socket in `ns`, sending from `PEER_LL` on its `eth0` to ff02::12 with hop limit
/// 255 and no kernel checksumming (the payload goes out byte for byte).
fn injector(ns: &Netns) -> (Socket, u32) {
    ns.run_inside(|| {
        let ifindex = nix::net::if_::if_nametoindex("eth0").expect("eth0 index");
        let sock = Socket::new(Domain::IPV6, Type::RAW, Some(Protocol::from(112))).expect("raw");
        sock.set_multicast_hops_v6(255).expect("hops");
        sock.set_multicast_if_v6(ifindex).expect("multicast if");
        sock.bind(&SockAddr::from(SocketAddrV6::new(PEER_LL, 0, 0, ifindex)))
            .expect("bind link-local source");
        (sock, ifindex)
    })
}

#[test]
fn ipv6_bad_checksum_is_dropped_counted_and_logged_rate_limited() {
    if !require_root("ipv6_bad_checksum_is_dropped_counted_and_logged_rate_limited") {
        return;
    }
    let dir = TempDir::new("bad6");
    let a = Netns::new("bad6-a");
    let peer = Netns::new("bad6-p");
    veth(&a, &["2001:db8::11/64"], &peer, &["2001:db8::12/64"]);
    peer.ip(&["addr", "add", "fe80::12/64", "dev", "eth0", "nodad"]);
    let conf = dir.write("a.conf", &v6_conf());
    let mut d = Vrrpd::start(&a, &dir, "a", &conf);
    // Alone on the link it becomes master after Master_Down_Interval.
    let mdi = common::master_down(Version::V3, 100, Duration::from_millis(500));
    assert!(
        d.wait_log(
            "(VI_1) Entering MASTER STATE",
            common::STARTUP + mdi + common::REACT
        ),
        "{}",
        d.log()
    );

    let (sock, ifindex) = injector(&peer);
    let to = SockAddr::from(SocketAddrV6::new(MCAST_V6, 0, 0, ifindex));
    let advert = Advert {
        version: Version::V3,
        vrid: 52,
        priority: 200,
        interval_cs: 50,
        addrs: vec!["2001:db8::100".parse().expect("vip")],
        auth: AuthData::None,
    };
    let good = advert
        .encode(
            &IpContext::new(IpAddr::V6(PEER_LL), IpAddr::V6(MCAST_V6)),
            V3Ipv4Checksum::WithPseudoHeader,
        )
        .expect("encode")
        .to_vec();
    let mut bad = good.clone();
    bad[6] ^= 0xff;

    // The injector works: a correct advert with priority 200 makes the master yield.
    sock.send_to(&good, &to).expect("send good advert");
    assert!(
        d.wait_log(
            "(VI_1) Master received advert from fe80::12 with higher priority 200, ours 100",
            Duration::from_secs(3)
        ),
        "{}",
        d.log()
    );

    // Five bad checksums: every one counted, one line per 10 s.
    for _ in 0..5 {
        sock.send_to(&bad, &to).expect("send bad advert");
        std::thread::sleep(Duration::from_millis(20));
    }
    let drops = |log: &str| -> Vec<String> {
        log.lines()
            .filter(|l| l.contains("advert dropped"))
            .map(str::to_owned)
            .collect()
    };
    assert!(
        wait_for(Duration::from_secs(3), || !drops(&d.log()).is_empty()),
        "bad-checksum advert never reached vrrpd:\n{}",
        d.log()
    );
    let first_seen = common::now();
    std::thread::sleep(Duration::from_millis(500));
    let lines = drops(&d.log());
    assert_eq!(
        lines.len(),
        1,
        "expected one rate-limited line:\n{lines:#?}"
    );
    let line = &lines[0];
    assert!(
        line.contains("kind=\"checksum\"") || line.contains("kind=checksum"),
        "{line}"
    );
    assert!(line.contains("count=1 "), "{line}");
    assert!(line.contains("from=fe80::12"), "{line}");

    // After the 10 s window the next one is logged, carrying the running count (all six) and
    // the number of lines suppressed in between (the other four).
    let window = Duration::from_secs(10) + Duration::from_millis(300);
    std::thread::sleep(window.saturating_sub(first_seen.elapsed()));
    sock.send_to(&bad, &to).expect("send bad advert");
    assert!(
        wait_for(Duration::from_secs(3), || drops(&d.log()).len() == 2),
        "{}",
        d.log()
    );
    let lines = drops(&d.log());
    assert!(lines[1].contains("count=6 "), "{}", lines[1]);
    assert!(lines[1].contains("suppressed=4 "), "{}", lines[1]);

    // Never a crash: still running, and a clean stop.
    assert!(d.wait_exit(Duration::ZERO).is_none(), "{}", d.log());
    d.signal(Signal::SIGTERM);
    let status = d
        .wait_exit(Duration::from_secs(3))
        .expect("vrrpd did not exit");
    assert!(status.success(), "{status:?}\n{}", d.log());
}
