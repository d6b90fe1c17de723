//! `vrrpd status` over the control socket and keepalived's dump files, on two real vrrpd
//! processes in network namespaces (root): after an election the master and the backup report
//! the right states, priorities and master; malformed requests are refused and counted; SIGUSR1,
//! SIGUSR2 and SIGRTMIN+2 write files that mehdy/keepalived-exporter's parsers accept (the parse
//! rules below are ported from its `internal/collector/parser.go` and checked first against
//! files keepalived 2.2.7 itself wrote); the socket file is gone after exit.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{Netns, TempDir, VRRPD, now, require_root, veth, wait_for};
use serde::Deserialize;
use vrrpd::control::{Request, query};

// ---- mehdy/keepalived-exporter's parsers, ported (internal/collector/parser.go) ----

const VRRP_STATES: [&str; 4] = ["INIT", "BACKUP", "MASTER", "FAULT"];

/// `VRRPData` as the exporter fills it from keepalived.data.
#[derive(Debug, Default, Clone, PartialEq)]
struct ExpData {
    state: i64,
    want_state: i64,
    intf: String,
    garp_delay: i64,
    vrid: i64,
    vips: Vec<String>,
}

/// `ParseVRRPData`: fails where the exporter fails (unknown state, non-integer VRID / delay).
fn parse_vrrp_data(text: &str) -> Result<BTreeMap<String, ExpData>, String> {
    let mut data: BTreeMap<String, ExpData> = BTreeMap::new();
    let mut instance = String::new();
    let mut key = String::new();
    for l in text.lines() {
        if l.starts_with(" VRRP Instance") && l.contains('=') {
            let parts: Vec<&str> = l.trim().split('=').collect();
            instance = parts[1].trim().to_string();
            data.insert(instance.clone(), ExpData::default());
        } else if l.starts_with("   ") && !instance.is_empty() {
            let val;
            if l.starts_with("     ") {
                val = l.trim().to_string();
            } else {
                let parts: Vec<&str> = if l.contains('=') {
                    l.trim().split('=').collect()
                } else if l.contains(':') {
                    l.trim().split(':').collect()
                } else {
                    continue;
                };
                key = parts[0].trim().to_string();
                if key == "Virtual IP" {
                    continue;
                }
                val = parts[1].trim().to_string();
            }
            let d = data.get_mut(&instance).expect("instance");
            if (key.starts_with("Virtual IP (") || key == "Virtual IP") && !val.is_empty() {
                d.vips.push(val.clone());
            }
            let state = |v: &str| {
                VRRP_STATES
                    .iter()
                    .position(|s| *s == v)
                    .map(|i| i as i64)
                    .ok_or_else(|| format!("unknown state {v:?}"))
            };
            let int = |v: &str| v.parse::<i64>().map_err(|e| format!("{v:?}: {e}"));
            match key.as_str() {
                "State" => d.state = state(&val)?,
                "Wantstate" => d.want_state = state(&val)?,
                "Interface" | "Listening device" => d.intf = val,
                "Gratuitous ARP delay" => d.garp_delay = int(&val)?,
                "Virtual Router ID" => d.vrid = int(&val)?,
                _ => {}
            }
        } else if l.starts_with(" VRRP Version") || l.starts_with(" VRRP Script") {
            continue;
        } else {
            instance.clear();
        }
    }
    Ok(data)
}

/// `ParseVRRPScript`: (name, status, state).
fn parse_vrrp_scripts(text: &str) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    let mut cur: Option<(String, String, String)> = None;
    for l in text.lines() {
        if l.starts_with(" VRRP Script") && l.contains('=') {
            out.extend(cur.take());
            let parts: Vec<&str> = l.trim().split('=').collect();
            cur = Some((parts[1].trim().to_string(), String::new(), String::new()));
        } else if l.starts_with("   ") && cur.is_some() {
            if !l.contains('=') {
                continue;
            }
            let parts: Vec<&str> = l.trim().split('=').collect();
            let c = cur.as_mut().expect("script");
            match parts[0].trim() {
                "Status" => c.1 = parts[1].trim().to_string(),
                "State" => c.2 = parts[1].trim().to_string(),
                _ => {}
            }
        } else if !l.starts_with("    ") {
            out.extend(cur.take());
        }
    }
    out.extend(cur);
    out
}

/// `ParseStats`: per instance, (section, key) → value; any non-integer value is an error.
fn parse_stats(text: &str) -> Result<BTreeMap<String, BTreeMap<String, i64>>, String> {
    let mut stats: BTreeMap<String, BTreeMap<String, i64>> = BTreeMap::new();
    let mut instance = String::new();
    let mut section = String::new();
    for l in text.lines() {
        if l.starts_with("VRRP Instance") && l.contains(':') {
            let parts: Vec<&str> = l.trim().split(':').collect();
            instance = parts[1].trim().to_string();
            stats.insert(instance.clone(), BTreeMap::new());
        } else if l.starts_with("  ") && l.ends_with(':') {
            section = l.trim().split(':').next().unwrap_or("").trim().to_string();
        } else if l.starts_with("    ") && !section.is_empty() {
            let parts: Vec<&str> = l.trim().split(':').collect();
            let v: i64 = parts[1].trim().parse().map_err(|e| format!("{l:?}: {e}"))?;
            stats
                .get_mut(&instance)
                .ok_or("value before any instance")?
                .insert(format!("{section}/{}", parts[0].trim()), v);
        } else if l.starts_with("  ") && !l.ends_with(':') && !l.starts_with("    ") {
            let parts: Vec<&str> = l.trim().split(':').collect();
            section.clear();
            let v: i64 = parts[1].trim().parse().map_err(|e| format!("{l:?}: {e}"))?;
            stats
                .get_mut(&instance)
                .ok_or("value before any instance")?
                .insert(parts[0].trim().to_string(), v);
        }
    }
    Ok(stats)
}

/// `ParseVIP`: address and interface of a VIP line.
fn parse_vip(vip: &str) -> Option<(String, String)> {
    let args: Vec<&str> = vip.split(' ').collect();
    (args.len() >= 3).then(|| (args[0].to_string(), args[2].to_string()))
}

/// The exporter's `VRRP` JSON types: integer fields must be JSON integers (Go's decoder
/// refuses `5.0` for an `int`), as serde does for `i64`.
#[derive(Debug, Deserialize)]
struct JVrrp {
    data: JData,
    stats: JStats,
}

#[derive(Debug, Deserialize)]
struct JData {
    iname: String,
    state: i64,
    wantstate: i64,
    ifp_ifname: String,
    garp_delay: i64,
    vrid: i64,
    #[serde(default)]
    vips: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct JStats {
    advert_rcvd: i64,
    advert_sent: i64,
    become_master: i64,
    release_master: i64,
    packet_len_err: i64,
    advert_interval_err: i64,
    ip_ttl_err: i64,
    invalid_type_rcvd: i64,
    addr_list_err: i64,
    invalid_authtype: i64,
    authtype_mismatch: i64,
    auth_failure: i64,
    pri_zero_rcvd: i64,
    pri_zero_sent: i64,
}

// ---- what keepalived 2.2.7 (Debian) wrote for one MASTER instance (excerpts) ----

const KA_DATA: &str = "------< Global definitions >------
 Router ID = vm
 Gratuitous ARP delay = 5
------< VRRP Topology >------
 VRRP Instance = VI_1
   VRRP Version = 2
   State = MASTER
   Flags: none
   Wantstate = MASTER
   Number of config faults = 0
   Last transition = 1795497831.034879 (Tue Nov 24 05:23:51.034879 2026)
   Interface = va
   Using src_ip = 192.0.2.11
   Multicast address 224.0.0.18
   Gratuitous ARP delay = 5
   Virtual Router ID = 51
   Priority = 101
   Effective priority = 103
   Authentication type = SIMPLE_PASSWORD
   Password = secret
   Virtual IP (2):
     192.0.2.100 dev va scope global set
     192.0.2.101/24 dev va scope global set
   fd_in 13, fd_out 14
   Tracked scripts :
     chk_haproxy weight 2
   Using smtp notification = no
------< VRRP Sockpool >------
 fd_in 13 fd_out = 14
   Interface = va
------< VRRP Scripts >------
 VRRP Script = chk_haproxy
   Command = '/usr/bin/true'
   Interval = 2 sec
   Weight = 2
   Status = GOOD
   Script uid:gid = 0:0
   VRRP instances :
   Tracking instances :
     VI_1, weight 2
   State = idle
";

const KA_STATS: &str = "VRRP Instance: VI_1
  Advertisements:
    Received: 0
    Sent: 3
  Became master: 1
  Released master: 0
  Packet Errors:
    Length: 0
    TTL: 0
    Invalid Type: 0
    Advertisement Interval: 0
    Address List: 0
  Authentication Errors:
    Invalid Type: 0
    Type Mismatch: 0
    Failure: 0
  Priority Zero:
    Received: 0
    Sent: 0
";

const KA_JSON: &str = r#"[{"data":{"iname":"VI_1","dont_track_primary":0,"skip_check_adv_addr":0,"strict_mode":0,"vmac_ifname":"","ifp_ifname":"va","master_priority":0,"last_transition":1795497831.034879,"garp_delay":5,"garp_refresh":0,"garp_rep":5,"garp_refresh_rep":1,"garp_lower_prio_delay":5,"garp_lower_prio_rep":5,"lower_prio_no_advert":0,"higher_prio_send_advert":0,"vrid":51,"base_priority":101,"effective_priority":103,"vipset":true,"promote_secondaries":false,"adver_int":1,"master_adver_int":1,"accept":1,"nopreempt":false,"preempt_delay":0,"state":2,"wantstate":2,"version":2,"smtp_alert":false,"notify_deleted":false,"vips":["192.0.2.100 dev va scope global set","192.0.2.101\/24 dev va scope global set"],"track_script":["'\/usr\/bin\/true'"],"auth_type":1,"auth_data":"secret"},"stats":{"advert_rcvd":0,"advert_sent":3,"become_master":1,"release_master":0,"packet_len_err":0,"advert_interval_err":0,"ip_ttl_err":0,"invalid_type_rcvd":0,"addr_list_err":0,"invalid_authtype":0,"authtype_mismatch":0,"auth_failure":0,"pri_zero_rcvd":0,"pri_zero_sent":0}}]"#;

#[test]
fn ported_exporter_parsers_read_keepalived_2_2_7_files() {
    let d = parse_vrrp_data(KA_DATA).expect("data");
    let v = &d["VI_1"];
    assert_eq!((v.state, v.want_state, v.vrid, v.garp_delay), (2, 2, 51, 5));
    assert_eq!(v.intf, "va");
    assert_eq!(v.vips.len(), 2);
    assert_eq!(
        parse_vip(&v.vips[1]),
        Some(("192.0.2.101/24".to_string(), "va".to_string()))
    );
    assert_eq!(
        parse_vrrp_scripts(KA_DATA),
        vec![("chk_haproxy".into(), "GOOD".into(), "idle".into())]
    );
    let s = parse_stats(KA_STATS).expect("stats");
    assert_eq!(s["VI_1"]["Advertisements/Sent"], 3);
    assert_eq!(s["VI_1"]["Became master"], 1);
    assert_eq!(s["VI_1"]["Authentication Errors/Failure"], 0);
    assert_eq!(s["VI_1"].len(), 14);
    let j: Vec<JVrrp> = serde_json::from_str(KA_JSON).expect("json");
    assert_eq!((j[0].data.state, j[0].stats.advert_sent), (2, 3));
    // The parsers do refuse what the exporter refuses.
    assert!(parse_vrrp_data(&KA_DATA.replace("State = MASTER", "State = master")).is_err());
    assert!(parse_stats(&KA_STATS.replace("Sent: 3", "Sent: three")).is_err());
    assert!(
        serde_json::from_str::<Vec<JVrrp>>(
            &KA_JSON.replace("\"garp_delay\":5", "\"garp_delay\":5.0")
        )
        .is_err()
    );
}

// ---- the daemon ----

struct Daemon {
    child: Child,
    log: PathBuf,
    socket: PathBuf,
}

impl Daemon {
    fn start(ns: &Netns, dir: &TempDir, tag: &str, conf: &Path, tmp: &Path) -> Self {
        let log = dir.path(&format!("{tag}.log"));
        let socket = dir.path(&format!("{tag}.sock"));
        let child = Command::new("ip")
            .args(["netns", "exec", &ns.name, VRRPD, "-n", "-l", "-D", "-f"])
            .arg(conf)
            .arg("-p")
            .arg(dir.path(&format!("{tag}.pid")))
            .arg("-r")
            .arg(dir.path(&format!("{tag}_vrrp.pid")))
            .arg("--control-socket")
            .arg(&socket)
            .env("KA_TMP_DIR", tmp)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log"))
            .spawn()
            .expect("spawn vrrpd");
        Self { child, log, socket }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn pid(&self) -> String {
        self.child.id().to_string()
    }

    fn status(&self) -> Option<serde_json::Value> {
        let text = query(&self.socket, Request::StatusJson).ok()?;
        serde_json::from_str(&text).ok()
    }

    fn kill(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{sig}"), &self.pid()])
            .status()
            .expect("kill")
            .success();
        assert!(ok, "kill -{sig}");
    }

    /// Sends `sig` and measures how long `file` takes to appear (it must not exist before).
    fn dump(&self, sig: &str, file: &Path) -> (String, Duration) {
        let _ = std::fs::remove_file(file);
        let t0 = now();
        self.kill(sig);
        assert!(
            wait_for(Duration::from_secs(3), || file.exists()),
            "{} not written after SIG{sig}:\n{}",
            file.display(),
            self.log()
        );
        let took = now() - t0;
        (std::fs::read_to_string(file).expect("dump"), took)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const SCRIPT: &str =
    "vrrp_script chk_true {\n    script \"/bin/true\"\n    interval 1\n    weight 2\n}\n";

fn conf(state: &str, priority: u8) -> String {
    format!(
        "{SCRIPT}vrrp_instance VI_1 {{\n    interface eth0\n    state {state}\n    priority {priority}\n    virtual_router_id 51\n    advert_int 1\n    authentication {{\n        auth_type PASS\n        auth_pass secret\n    }}\n    virtual_ipaddress {{\n        192.0.2.100\n    }}\n    track_script {{\n        chk_true\n    }}\n}}\n"
    )
}

/// The effective priority must be the base plus the trackers' deltas (none faults here).
fn check_priorities(i: &serde_json::Value, base: u64) {
    assert_eq!(i["base_priority"], base, "{i:#}");
    let delta: i64 = i["trackers"]
        .as_array()
        .expect("trackers")
        .iter()
        .map(|t| t["delta"].as_i64().expect("delta"))
        .sum();
    let eff = i["effective_priority"].as_i64().expect("eff");
    assert_eq!(eff, i64::try_from(base).expect("base") + delta, "{i:#}");
    let script = i["trackers"]
        .as_array()
        .expect("trackers")
        .iter()
        .find(|t| t["name"] == "chk_true");
    assert!(script.is_some_and(|t| t["kind"] == "script"), "{i:#}");
}

#[test]
fn status_and_dumps_after_an_election() {
    if !require_root("status_and_dumps_after_an_election") {
        return;
    }
    let dir = TempDir::new("status");
    let a_tmp = dir.path("a-tmp");
    let b_tmp = dir.path("b-tmp");
    std::fs::create_dir_all(&a_tmp).expect("mkdir");
    std::fs::create_dir_all(&b_tmp).expect("mkdir");
    let na = Netns::new("st-a");
    let nb = Netns::new("st-b");
    veth(&na, &["192.0.2.11/24"], &nb, &["192.0.2.12/24"]);
    let ca = dir.write("a.conf", &conf("MASTER", 101));
    let cb = dir.write("b.conf", &conf("BACKUP", 100));
    let mut a = Daemon::start(&na, &dir, "a", &ca, &a_tmp);
    let mut b = Daemon::start(&nb, &dir, "b", &cb, &b_tmp);

    // The election settles: A master, B backup hearing A.
    let settled = wait_for(Duration::from_secs(10), || {
        let (Some(sa), Some(sb)) = (a.status(), b.status()) else {
            return false;
        };
        sa["instances"][0]["state"] == "MASTER"
            && sb["instances"][0]["state"] == "BACKUP"
            && sb["instances"][0]["master"]["address"] == "192.0.2.11"
            && sb["instances"][0]["counters"]["adverts_received"].as_u64() > Some(0)
    });
    assert!(settled, "no election:\nA:\n{}\nB:\n{}", a.log(), b.log());
    let sa = a.status().expect("a status");
    let sb = b.status().expect("b status");
    let ia = &sa["instances"][0];
    let ib = &sb["instances"][0];
    check_priorities(ia, 101);
    check_priorities(ib, 100);
    assert_eq!(ia["master"]["is_self"], true);
    assert_eq!(ia["master"]["priority"], ia["effective_priority"]);
    // The backup's view of the master's priority comes from the driver (status.master_priority);
    // when filled it must be A's effective priority.
    let mp = &ib["master"]["priority"];
    assert!(mp.is_null() || *mp == ia["effective_priority"], "{ib:#}");
    assert_eq!(
        (ia["vrid"].as_u64(), ia["interface"].as_str()),
        (Some(51), Some("eth0"))
    );
    assert_eq!(ia["counters"]["became_master"], 1);
    assert!(ia["counters"]["adverts_sent"].as_u64() > Some(0));
    let lt = &ia["last_transition"];
    assert_eq!(
        (lt["to"].as_str(), lt["from"].as_str()),
        (Some("MASTER"), Some("BACKUP")),
        "{ia:#}"
    );
    assert!(lt["at"].as_str().is_some_and(|s| s.ends_with('Z')), "{lt}");
    #[allow(clippy::disallowed_methods)] // The wall clock the daemon's report is compared with.
    let age = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs_f64()
        - lt["at_unix"].as_f64().expect("at_unix");
    assert!((0.0..30.0).contains(&age), "last transition {age} s ago?");

    // The human table.
    let text = query(&a.socket, Request::Status).expect("text");
    let row = text.lines().nth(1).expect("row");
    for part in ["VI_1", "51", "eth0", "MASTER", "self"] {
        assert!(row.contains(part), "{part} not in {row:?}\n{text}");
    }
    assert!(text.contains("tracker chk_true (script)"), "{text}");

    // Malformed requests: refused with one line, counted.
    let junk = |bytes: &[u8]| {
        use std::io::{Read, Write};
        let mut s = std::os::unix::net::UnixStream::connect(&a.socket).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(3)))
            .expect("timeout");
        let _ = s.write_all(bytes);
        let mut answer = String::new();
        let _ = s.read_to_string(&mut answer);
        answer
    };
    assert!(junk(b"reboot\n").starts_with("error: unknown request"));
    assert!(junk(&[b'x'; 4096]).starts_with("error: request longer than"));
    assert!(matches!(
        query(&a.socket, Request::Status),
        Ok(t) if t.contains("2 malformed")
    ));

    // Dumps, in KA_TMP_DIR, parsed as the exporter parses them.
    let (data, t_data) = a.dump("USR1", &a_tmp.join("keepalived.data"));
    let (stats, t_stats) = a.dump("USR2", &a_tmp.join("keepalived.stats"));
    let json_sig = (libc::SIGRTMIN() + 2).to_string();
    let (json, t_json) = a.dump(&json_sig, &a_tmp.join("keepalived.json"));
    eprintln!(
        "dump latency (signal to file, incl. kill(1) fork): data {t_data:?}, stats {t_stats:?}, json {t_json:?}"
    );
    let d = parse_vrrp_data(&data).unwrap_or_else(|e| panic!("{e}\n{data}"));
    let v = &d["VI_1"];
    assert_eq!(
        (v.state, v.want_state, v.vrid, v.garp_delay),
        (2, 2, 51, 5),
        "{data}"
    );
    assert_eq!(v.intf, "eth0");
    assert_eq!(
        v.vips.iter().map(|s| parse_vip(s)).collect::<Vec<_>>(),
        vec![Some(("192.0.2.100".to_string(), "eth0".to_string()))],
        "{data}"
    );
    let scripts = parse_vrrp_scripts(&data);
    assert_eq!(scripts.len(), 1, "{data}");
    assert_eq!(
        (scripts[0].0.as_str(), scripts[0].2.as_str()),
        ("chk_true", "idle")
    );
    let s = parse_stats(&stats).unwrap_or_else(|e| panic!("{e}\n{stats}"));
    assert_eq!(s["VI_1"].len(), 14, "{stats}");
    assert_eq!(s["VI_1"]["Became master"], 1);
    assert!(s["VI_1"]["Advertisements/Sent"] > 0);
    let j: Vec<JVrrp> = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}\n{json}"));
    assert_eq!(j.len(), 1);
    let jd = &j[0].data;
    assert_eq!(
        (
            jd.iname.as_str(),
            jd.state,
            jd.wantstate,
            jd.vrid,
            jd.ifp_ifname.as_str(),
            jd.garp_delay
        ),
        ("VI_1", 2, 2, 51, "eth0", 5)
    );
    assert_eq!(
        jd.vips,
        vec!["192.0.2.100 dev eth0 scope global set".to_string()]
    );
    let js = &j[0].stats;
    assert_eq!(js.become_master, 1);
    assert!(js.advert_sent > 0);
    assert_eq!(
        js.release_master
            + js.packet_len_err
            + js.advert_interval_err
            + js.ip_ttl_err
            + js.invalid_type_rcvd
            + js.addr_list_err
            + js.invalid_authtype
            + js.authtype_mismatch
            + js.auth_failure
            + js.pri_zero_rcvd
            + js.pri_zero_sent,
        0,
        "{json}"
    );
    assert!(js.advert_rcvd >= 0);

    // The backup's files say BACKUP and name its master.
    let (data_b, _) = b.dump("USR1", &b_tmp.join("keepalived.data"));
    assert_eq!(
        parse_vrrp_data(&data_b).expect("b data")["VI_1"].state,
        1,
        "{data_b}"
    );
    assert!(
        data_b.contains("   Master router = 192.0.2.11\n"),
        "{data_b}"
    );
    let (json_b, _) = b.dump(&json_sig, &b_tmp.join("keepalived.json"));
    let jb: Vec<JVrrp> = serde_json::from_str(&json_b).expect("b json");
    assert_eq!(jb[0].data.state, 1);
    assert!(jb[0].stats.advert_rcvd > 0);
    assert!(
        jb[0].data.vips.iter().all(|v| !v.ends_with(" set")),
        "{json_b}"
    );

    // Exit: the socket file goes away.
    for d in [&mut a, &mut b] {
        d.kill("TERM");
        assert!(
            wait_for(Duration::from_secs(5), || d
                .child
                .try_wait()
                .ok()
                .flatten()
                .is_some()),
            "no exit:\n{}",
            d.log()
        );
        assert!(!d.socket.exists(), "{} left behind", d.socket.display());
        let e = query(&d.socket, Request::Status).expect_err("no daemon");
        assert!(
            e.to_string().contains(&d.socket.display().to_string()),
            "{e}"
        );
    }
}
