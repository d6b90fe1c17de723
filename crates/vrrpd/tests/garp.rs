//! Gratuitous ARP sending (root, in namespaces), checked by capturing the frames at the other end
//! of a veth pair: a full interface queue (`ENOBUFS`) is retried, then counted and logged, never
//! lost silently; spaced bursts (`vrrp_garp_interval`) queue behind each other.

mod common;

use std::io::Read;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use common::{Netns, TempDir, Vrrpd, require_root, seed_conf, veth};
use socket2::{Domain, Protocol, Socket, Type};
use vrrpd::garp::{Announcer, Target};

/// EtherType of ARP.
const ETH_P_ARP: u16 = 0x0806;
/// The announced address.
const VIP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 100);

/// A packet socket in `ns` receiving every ARP frame of its interfaces (the namespace has only
/// `lo`, which carries none, and `eth0`).
fn arp_capture(ns: &Netns) -> Socket {
    ns.run_inside(|| {
        let proto = Protocol::from(i32::from(ETH_P_ARP.to_be()));
        let sock = Socket::new(Domain::PACKET, Type::RAW, Some(proto)).expect("packet socket");
        sock.set_read_timeout(Some(Duration::from_millis(20)))
            .expect("read timeout");
        sock
    })
}

/// Gratuitous ARPs for `vip` (ARP request, sender = target = `vip`) read from `sock` until
/// `quiet` passes without one or `limit` passes in all; the receive time of each.
fn gratuitous_arps(
    sock: &Socket,
    vip: Ipv4Addr,
    quiet: Duration,
    limit: Duration,
) -> Vec<std::time::Instant> {
    let start = common::now();
    let mut last = start;
    let mut seen = Vec::new();
    let mut buf = [0u8; 1514];
    while common::now() - last < quiet && start.elapsed() < limit {
        let mut reader: &Socket = sock;
        let Ok(n) = reader.read(&mut buf) else {
            continue;
        };
        let frame = &buf[..n];
        // Ethernet (14) + ARP: op at 20..22, sender IP at 28..32, target IP at 38..42.
        if frame.len() >= 42
            && frame[20..22] == [0, 1]
            && frame[28..32] == vip.octets()
            && frame[38..42] == vip.octets()
        {
            last = common::now();
            seen.push(last);
        }
    }
    seen
}

#[test]
fn full_interface_queue_is_retried_counted_and_never_silent() {
    if !require_root("full_interface_queue_is_retried_counted_and_never_silent") {
        return;
    }
    let a = Netns::new("garpq-a");
    let b = Netns::new("garpq-b");
    veth(&a, &["192.0.2.11/24"], &b, &["192.0.2.12/24"]);
    // 1 kB/s after a 1600-byte bucket, and at most 300 bytes queued: a burst of 60-byte frames
    // soon meets a full queue, which the kernel reports as ENOBUFS.
    common::sh(&[
        "ip", "netns", "exec", &a.name, "tc", "qdisc", "add", "dev", "eth0", "root", "tbf", "rate",
        "8kbit", "burst", "1600", "limit", "300",
    ]);
    let capture = arp_capture(&b);
    const FRAMES: u32 = 80;
    let counters = a.run_inside(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let announcer = Announcer::open().expect("packet socket");
            let ifindex = nix::net::if_::if_nametoindex("eth0").expect("eth0");
            let target = Target {
                addr: IpAddr::V4(VIP),
                ifname: "eth0".into(),
                ifindex,
                mac: [0x02, 0, 0, 0, 0, 0x11],
                router: false,
            };
            let sent = announcer
                .burst(&[target], FRAMES, Duration::ZERO, Duration::ZERO)
                .await;
            let c = announcer.counters();
            assert_eq!(sent, c.sent);
            c
        })
    });
    eprintln!("{counters:?}");
    // Every frame is accounted for: sent or failed, none vanished.
    assert_eq!(
        counters.sent + counters.failed,
        u64::from(FRAMES),
        "{counters:?}"
    );
    assert!(counters.failed > 0, "the queue never filled: {counters:?}");
    assert!(
        counters.retried > 0,
        "ENOBUFS was not retried: {counters:?}"
    );
    // What was reported sent arrives (the 300-byte queue drains in 0.3 s at 1 kB/s).
    let seen = gratuitous_arps(
        &capture,
        VIP,
        Duration::from_millis(800),
        Duration::from_secs(5),
    );
    assert_eq!(seen.len() as u64, counters.sent, "{counters:?}");
}

#[test]
fn spaced_bursts_queue_instead_of_cutting_each_other_short() {
    if !require_root("spaced_bursts_queue_instead_of_cutting_each_other_short") {
        return;
    }
    let dir = TempDir::new("garpb");
    let a = Netns::new("garpb-a");
    let b = Netns::new("garpb-b");
    veth(&a, &["192.0.2.11/24"], &b, &["192.0.2.12/24"]);
    // 4 GARPs 0.4 s apart take 1.2 s; the second burst is due after 1 s, while the first is
    // still being sent. Owner (priority 255): master at once.
    const REPEAT: usize = 4;
    const INTERVAL: Duration = Duration::from_millis(400);
    let conf = dir.write(
        "a.conf",
        &format!(
            "global_defs {{\n    vrrp_garp_interval {}\n    vrrp_garp_master_repeat {REPEAT}\n    \
             vrrp_garp_master_delay 1\n}}\n{}",
            INTERVAL.as_secs_f64(),
            seed_conf("MASTER", 255, "")
                .split_once("}\n")
                .expect("global_defs")
                .1
        ),
    );
    let capture = arp_capture(&b);
    let d = Vrrpd::start(&a, &dir, "a", &conf);
    // Both bursts end within 2 x 4 frames x 0.4 s of the transition, which follows start-up at
    // once. Then nothing more comes (no refresh): 1.5 s of silence ends the capture.
    let seen = gratuitous_arps(
        &capture,
        VIP,
        Duration::from_millis(1500),
        common::STARTUP + INTERVAL * 8 + Duration::from_millis(1500) + common::REACT,
    );
    let log = d.log();
    assert!(log.contains("(VI_1) Entering MASTER STATE"), "{log}");
    assert_eq!(seen.len(), 2 * REPEAT, "frames at {seen:?}\n{log}");
    // vrrp_garp_interval holds between every two frames, across the two bursts too. The
    // frames are timed when this thread reads them; 100 ms covers its scheduling delays.
    for w in seen.windows(2) {
        let gap = w[1] - w[0];
        assert!(
            gap + Duration::from_millis(100) >= INTERVAL,
            "gap {gap:?} < {INTERVAL:?}"
        );
    }
}
