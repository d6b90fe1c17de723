//! proxyd in the seed's single-arm layout, in namespaces: bound to the floating IP before the box
//! holds it (IP_FREEBIND instead of the seed's `net.ipv4.ip_nonlocal_bind` sysctl), serving the
//! moment the address arrives and again after it leaves and comes back (a VRRP round trip), with
//! the Exchange RPC ports stuck to one CAS and the SMTP relay restricted by source.
//!
//! Box A runs proxyd; box B's namespace plays the server LAN with two CAS stand-ins at .21 and
//! .22; the client connects from 192.0.2.50 (allowed to relay) and 192.0.2.51 (not allowed).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use socket2::{Domain, Socket, Type};
use system_tests::daemon::proxyd_binary;
use system_tests::{Lab, Node, root_or_skip};

const VIP: &str = "192.0.2.100";
const ALLOWED: &str = "192.0.2.50";
const REFUSED: &str = "192.0.2.51";
const STEP: Duration = Duration::from_secs(3);
/// The liveness query of DESIGN §1 as vrrpd sends it (written out, not taken from lbcore, so
/// this test checks the contract rather than sharing its code).
const LIVENESS_REQUEST: &[u8] = b"serving?\n";

/// Connects from `src` to `VIP:port`; returns the stream or the connect error.
fn connect_from(src: &str, port: u16) -> Result<TcpStream> {
    let dst = SocketAddr::new(VIP.parse()?, port);
    let s = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    s.bind(&SocketAddr::new(src.parse::<IpAddr>()?, 0).into())?;
    s.connect_timeout(&dst.into(), STEP)
        .with_context(|| format!("connecting {src} -> {dst}"))?;
    let s: TcpStream = s.into();
    s.set_read_timeout(Some(STEP))?;
    Ok(s)
}

/// The first line a service sends (the stand-in's `NAME:PORT` or banner); empty when closed.
fn first_line(s: TcpStream) -> Result<String> {
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line)?;
    Ok(line.trim_end().to_owned())
}

/// Which CAS the RPC ports 135, 60000 and 60001 reach from `src`; fails unless all agree and
/// each landed on the port the client used (servers without a port).
fn rpc_cas(src: &str) -> Result<String> {
    let mut seen = Vec::new();
    for port in [135, 60000, 60001] {
        let line = first_line(connect_from(src, port)?)?;
        let (cas, p) = line
            .split_once(':')
            .with_context(|| format!("unexpected greeting {line:?} on {port}"))?;
        ensure!(p == port.to_string(), "port {port} relayed to {line}");
        seen.push(cas.to_owned());
    }
    ensure!(
        seen.iter().all(|c| *c == seen[0]),
        "RPC ports of one client split over CAS: {seen:?}"
    );
    Ok(seen.remove(0))
}

const CONFIG: &str = "global
    maxconn 1000
defaults
    mode tcp
    timeout connect 1s
    timeout client 30s
    timeout server 30s
    default-server inter 300ms fall 2 rise 1
backend st_src_cas
    stick-table type ip size 10k expire 2h
listen cas_rpc
    bind 192.0.2.100:135,192.0.2.100:60000,192.0.2.100:60001
    balance leastconn
    stick on src table st_src_cas
    server cas1 192.0.2.21 check port 135
    server cas2 192.0.2.22 check port 135
listen hub_smtp
    bind 192.0.2.100:25
    acl relay_ok src 192.0.2.50
    tcp-request connection reject unless relay_ok
    option smtpchk HELO lb.example.org
    server hub1 192.0.2.21:25 check
    server hub2 192.0.2.22:25 check
";

/// What vrrpd does on becoming master, minus the VRRP: box A adds the VIP, and the client's
/// failed neighbour entry from the probe before is cleared (vrrpd's gratuitous ARP does that;
/// the GARP itself is tested in garp.rs).
fn take_vip(lab: &Lab) -> Result<()> {
    lab.add_addr(Node::A, &format!("{VIP}/24"))?;
    system_tests::lab::ip(&["-n", &lab.ns(Node::Client), "neigh", "flush", "to", VIP]).map(drop)
}

#[test]
fn proxyd_serves_the_vip_through_a_vrrp_round_trip() -> Result<()> {
    if !root_or_skip("proxyd_serves_the_vip_through_a_vrrp_round_trip") {
        return Ok(());
    }
    let lab = Lab::new("proxyvip")?;
    lab.add_addr(Node::B, "192.0.2.21/24")?;
    lab.add_addr(Node::B, "192.0.2.22/24")?;
    lab.add_addr(Node::Client, &format!("{REFUSED}/24"))?;
    let standin = env!("CARGO_BIN_EXE_cas-standin").to_owned();
    let mut cas = Vec::new();
    for (name, addr) in [("cas1", "192.0.2.21"), ("cas2", "192.0.2.22")] {
        let argv = [&standin, "--name", name, "--addr", addr, "--ports"]
            .map(str::to_owned)
            .into_iter()
            .chain(["25,135,60000,60001".to_owned()])
            .collect::<Vec<_>>();
        let mut p = lab.spawn(Node::B, name, &argv)?;
        p.wait_output("ready", Duration::from_secs(5))?;
        cas.push(p);
    }

    let cfg = lab.dir().join("proxyd.cfg");
    std::fs::write(&cfg, CONFIG)?;
    let live = lab.dir().join("proxyd-live.sock");
    let argv: Vec<String> = vec![
        proxyd_binary()?.display().to_string(),
        "-db".into(),
        "-f".into(),
        cfg.display().to_string(),
        "-p".into(),
        lab.dir().join("proxyd.pid").display().to_string(),
        "--liveness-socket".into(),
        live.display().to_string(),
    ];
    // Box A does not hold the VIP: the bind must still succeed (IP_FREEBIND).
    let _proxyd = lab.spawn(Node::A, "proxyd", &argv)?;
    let answer = lab.poll("proxyd to serve", Duration::from_secs(10), || {
        let Ok(mut s) = std::os::unix::net::UnixStream::connect(&live) else {
            return Ok(None);
        };
        s.write_all(LIVENESS_REQUEST)?;
        let mut out = String::new();
        s.read_to_string(&mut out)?;
        Ok(out.starts_with("serving ").then_some(out))
    })?;
    eprintln!("liveness: {}", answer.value.trim_end());

    // Nobody holds the VIP yet: the client cannot reach it.
    let early = lab.in_ns(Node::Client, || Ok(connect_from(ALLOWED, 135).is_ok()))?;
    ensure!(
        !early,
        "a connection to the VIP succeeded before any box held it"
    );

    // VRRP would add the VIP now; the listener already bound to it starts receiving.
    take_vip(&lab)?;
    let first = lab.in_ns(Node::Client, || rpc_cas(ALLOWED))?;
    let other = lab.in_ns(Node::Client, || rpc_cas(REFUSED))?;
    eprintln!("RPC: {ALLOWED} on {first}, {REFUSED} on {other}");

    // SMTP relay restricted by source: the allowed client gets a hub's banner, the other is
    // closed before any server sees it.
    let banner = lab.in_ns(Node::Client, || first_line(connect_from(ALLOWED, 25)?))?;
    ensure!(
        banner.starts_with("220 cas"),
        "allowed client got {banner:?}"
    );
    let refused = lab.in_ns(Node::Client, || {
        let mut s = connect_from(REFUSED, 25)?;
        let mut buf = [0u8; 64];
        Ok(s.read(&mut buf)
            .map(|n| buf[..n].to_vec())
            .unwrap_or_default())
    })?;
    ensure!(
        refused.is_empty(),
        "refused client received {:?}",
        String::from_utf8_lossy(&refused)
    );

    // The VIP leaves (a VRRP backup transition) and returns: the same listeners serve again and
    // the stick table still sends each client to its CAS.
    lab.del_addr(Node::A, &format!("{VIP}/24"))?;
    let gone = lab.in_ns(Node::Client, || Ok(connect_from(ALLOWED, 135).is_ok()))?;
    ensure!(!gone, "the VIP answered after box A released it");
    take_vip(&lab)?;
    let again = lab.in_ns(Node::Client, || rpc_cas(ALLOWED))?;
    if again != first {
        bail!("{ALLOWED} moved from {first} to {again} across the VIP round trip");
    }
    Ok(())
}
