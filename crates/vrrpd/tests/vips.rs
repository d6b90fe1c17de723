//! VIP life cycle over netlink, in a namespace (root): stale VIPs of our instances removed at
//! startup, keepalived's address defaults when becoming master (/32, /128 nodad + deprecated,
//! label), an administrator's address of another prefix never touched, everything released on
//! SIGTERM, pid files locked while running and removed on exit; address options (`-nodad`,
//! `home`, `noprefixroute`, `preferred_lft`) as the kernel reports them (`ip -j addr`).

mod common;

use std::time::Duration;

use common::{Netns, REACT, STARTUP, TempDir, Vrrpd, master_down, require_root, seed_conf};
use lbcore::vrrp::packet::Version;
use nix::sys::signal::Signal;
use vrrpd::daemon::STOP_TIMEOUT;

#[test]
fn vips_cleanup_at_start_add_on_master_and_release_on_sigterm() {
    if !require_root("vips_cleanup_at_start_add_on_master_and_release_on_sigterm") {
        return;
    }
    let dir = TempDir::new("vips");
    let ns = Netns::new("vips");
    // A silent peer namespace at the other end of the link.
    let peer = Netns::new("vips-peer");
    // The administrator's own 192.0.2.101/24: same IP as a VIP, another prefix.
    common::veth(
        &ns,
        &["192.0.2.11/24", "192.0.2.101/24"],
        &peer,
        &["192.0.2.12/24"],
    );
    // Left behind by a crashed daemon.
    ns.ip(&["addr", "add", "192.0.2.100/32", "dev", "eth0"]);
    ns.ip(&[
        "-6",
        "addr",
        "add",
        "2001:db8::100/128",
        "dev",
        "eth0",
        "nodad",
    ]);

    // use_vmac is parsed but not acted on: said once at startup (it used to be said twice).
    let extra = "    use_vmac\n    virtual_ipaddress_excluded {\n        192.0.2.101\n        192.0.2.102/32 label eth0:vip\n        2001:db8::100\n    }\n";
    let conf = dir.write("a.conf", &seed_conf("BACKUP", 100, extra));
    // Priority 100, VRRPv2, advert_int 1 (the seed's backup).
    let mdi = master_down(Version::V2, 100, Duration::from_secs(1));
    let started = common::now();
    let mut d = Vrrpd::start(&ns, &dir, "a", &conf);

    assert!(d.wait_log("Startup complete", STARTUP), "{}", d.log());
    let log = d.log();
    let unused: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("setting parsed but not acted on"))
        .collect();
    assert_eq!(unused.len(), 1, "{log}");
    assert!(unused[0].contains("keyword=\"use_vmac\""), "{}", unused[0]);
    let cleanup = log
        .find("(VI_1) removing VIPs.")
        .unwrap_or_else(|| panic!("no cleanup line:\n{log}"));
    assert!(
        cleanup < log.find("Entering BACKUP STATE (init)").expect("init line"),
        "{log}"
    );
    // Before Master_Down_Interval: still backup, stale VIPs gone, admin address kept. The
    // instance started after the process, so time since the spawn over-counts; the three `ip`
    // runs below take about 10 ms each, CHECKS leaves them room on a loaded machine.
    const CHECKS: Duration = Duration::from_millis(300);
    assert!(
        started.elapsed() + CHECKS < mdi,
        "startup too slow for this check"
    );
    assert!(
        !ns.has_addr("eth0", "192.0.2.100/32"),
        "{}",
        ns.addrs("eth0")
    );
    assert!(
        !ns.has_addr("eth0", "2001:db8::100/128"),
        "{}",
        ns.addrs("eth0")
    );
    assert!(
        ns.has_addr("eth0", "192.0.2.101/24"),
        "{}",
        ns.addrs("eth0")
    );

    // Pid files hold our pid and are locked: a second vrrpd with them refuses to start.
    let pid = d.pid().to_string();
    assert_eq!(
        std::fs::read_to_string(&d.pid_file)
            .expect("pid file")
            .trim(),
        pid
    );
    assert_eq!(
        std::fs::read_to_string(&d.vrrp_pid_file)
            .expect("vrrp pid file")
            .trim(),
        pid
    );
    let second = std::process::Command::new(common::VRRPD)
        .args(["-n", "-l", "-f"])
        .arg(&conf)
        .arg("-p")
        .arg(&d.pid_file)
        .arg("-r")
        .arg(dir.path("other_vrrp.pid"))
        .output()
        .expect("second vrrpd");
    assert_eq!(second.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&second.stderr).contains("already running"),
        "{second:?}"
    );

    // Alone on the link it becomes master after Master_Down_Interval and adds every VIP.
    assert!(
        d.wait_log("(VI_1) Entering MASTER STATE", STARTUP + mdi + REACT),
        "{}",
        d.log()
    );
    assert!(
        common::wait_for(REACT, || ns.has_addr("eth0", "192.0.2.102/32")),
        "{}",
        ns.addrs("eth0")
    );
    let v4 = ns.ip(&["-o", "-4", "addr", "show", "dev", "eth0"]);
    let line = |a: &str| {
        v4.lines()
            .find(|l| l.contains(a))
            .map(str::to_string)
            .unwrap_or_default()
    };
    assert!(line("192.0.2.100/32").contains("scope global"), "{v4}");
    assert!(
        !line("192.0.2.100/32").contains("brd"),
        "keepalived adds no broadcast by default: {v4}"
    );
    assert!(line("192.0.2.101/32").contains("scope global"), "{v4}");
    assert!(line("192.0.2.102/32").contains("eth0:vip"), "{v4}");
    assert!(ns.has_addr("eth0", "192.0.2.101/24"), "{v4}");
    let v6 = ns.ip(&["-o", "-6", "addr", "show", "dev", "eth0"]);
    let l6 = v6
        .lines()
        .find(|l| l.contains("2001:db8::100/128"))
        .unwrap_or_else(|| panic!("{v6}"));
    assert!(l6.contains("nodad") && l6.contains("deprecated"), "{l6}");
    assert!(
        d.log()
            .contains("(VI_1) Sending/queueing gratuitous ARPs on eth0 for 192.0.2.100"),
        "{}",
        d.log()
    );
    assert!(
        d.log().contains(
            "(VI_1) Sending/queueing Unsolicited Neighbour Adverts on eth0 for 2001:db8::100"
        ),
        "{}",
        d.log()
    );

    // SIGTERM: priority 0 sent, every VIP removed, the admin's /24 kept, exit 0 quickly.
    let t = common::now();
    d.signal(Signal::SIGTERM);
    let status = d
        .wait_exit(STOP_TIMEOUT + REACT)
        .expect("vrrpd did not exit on SIGTERM");
    let took = t.elapsed();
    assert!(status.success(), "{status:?}\n{}", d.log());
    eprintln!("SIGTERM to exit: {took:?}");
    // Stopping is a send and a few netlink deletes, done at once: well inside REACT, which is
    // itself below STOP_TIMEOUT, so a driver that hangs until it is abandoned fails here.
    assert!(REACT < STOP_TIMEOUT);
    assert!(took < REACT, "stop took {took:?}");
    let log = d.log();
    for l in [
        "Stopping",
        "(VI_1) sent 0 priority",
        "(VI_1) removing VIPs.",
    ] {
        assert!(log.contains(l), "missing {l:?}:\n{log}");
    }
    let after = ns.addrs("eth0");
    for a in [
        "192.0.2.100/32",
        "192.0.2.101/32",
        "192.0.2.102/32",
        "2001:db8::100/128",
    ] {
        assert!(
            !after.split_whitespace().any(|w| w == a),
            "{a} left behind:\n{after}"
        );
    }
    assert!(ns.has_addr("eth0", "192.0.2.101/24"), "{after}");
    assert!(ns.has_addr("eth0", "192.0.2.11/24"), "{after}");
    assert!(
        !d.pid_file.exists() && !d.vrrp_pid_file.exists(),
        "pid files not removed"
    );
}

#[test]
fn address_options_reach_the_kernel() {
    if !require_root("address_options_reach_the_kernel") {
        return;
    }
    let dir = TempDir::new("vipopt");
    let ns = Netns::new("vipopt");
    let peer = Netns::new("vipopt-peer");
    common::veth(
        &ns,
        &["192.0.2.11/24", "2001:db8::11/64"],
        &peer,
        &["192.0.2.12/24", "2001:db8::12/64"],
    );
    // Two address owners (priority 255): master at once, VIPs added with their options.
    let conf = dir.write(
        "a.conf",
        "vrrp_instance VI_4 {\n    interface eth0\n    state MASTER\n    priority 255\n    \
         virtual_router_id 51\n    virtual_ipaddress {\n        192.0.2.150/24 noprefixroute\n    }\n}\n\
         vrrp_instance VI_6 {\n    interface eth0\n    state MASTER\n    priority 255\n    \
         virtual_router_id 52\n    version 3\n    virtual_ipaddress {\n        \
         2001:db8::200/64 -nodad home noprefixroute preferred_lft 100\n        \
         2001:db8::201\n        2001:db8::202/128 preferred_lft forever\n    }\n}\n",
    );
    let d = Vrrpd::start(&ns, &dir, "a", &conf);
    // VI_6 waits for the link-local address (DAD, about 1 s) before it can send.
    for vi in ["VI_4", "VI_6"] {
        assert!(
            d.wait_log(&format!("({vi}) Entering MASTER STATE"), STARTUP + REACT),
            "{}",
            d.log()
        );
    }
    let mut json = String::new();
    assert!(
        common::wait_for(REACT, || {
            json = ns.ip(&["-j", "addr", "show", "dev", "eth0"]);
            [
                "192.0.2.150",
                "2001:db8::200",
                "2001:db8::201",
                "2001:db8::202",
            ]
            .iter()
            .all(|a| common::addr_info(&json, a).is_some())
        }),
        "{json}"
    );
    let info = |a: &str| common::addr_info(&json, a).unwrap_or_default();
    let flag = |a: &str, f: &str| info(a).contains(&format!("\"{f}\":true"));
    let preferred = |a: &str| common::json_number(&info(a), "preferred_life_time");

    assert!(
        flag("192.0.2.150", "noprefixroute"),
        "{}",
        info("192.0.2.150")
    );
    // -nodad: DAD runs (no nodad flag); home and noprefixroute set; preferred 100 s, counting.
    let a = "2001:db8::200";
    assert!(!flag(a, "nodad"), "{}", info(a));
    assert!(flag(a, "home") && flag(a, "noprefixroute"), "{}", info(a));
    assert!(
        preferred(a).is_some_and(|p| (90..=100).contains(&p)),
        "{}",
        info(a)
    );
    assert_eq!(
        common::json_number(&info(a), "valid_life_time"),
        Some(u64::from(u32::MAX))
    );
    // keepalived's defaults for a /128: nodad and deprecated (preferred 0).
    let a = "2001:db8::201";
    assert!(flag(a, "nodad") && flag(a, "deprecated"), "{}", info(a));
    assert_eq!(preferred(a), Some(0), "{}", info(a));
    // preferred_lft forever: not deprecated.
    let a = "2001:db8::202";
    assert!(flag(a, "nodad") && !flag(a, "deprecated"), "{}", info(a));
    assert_eq!(preferred(a), Some(u64::from(u32::MAX)), "{}", info(a));
    // No option is left unapplied, so none is reported.
    assert!(!d.log().contains("virtual_ipaddress option"), "{}", d.log());
}
