//! keepalived-compatible dump files for existing tooling (keepalived-vrrp.md §3.2, §3.5):
//! SIGUSR1 writes `keepalived.data`, SIGUSR2 `keepalived.stats`, SIGRTMIN+2 `keepalived.json`,
//! in keepalived 2.2.7's layouts (`vrrp_data.c` dump, `vrrp_print.c vrrp_print_stats`,
//! `vrrp_json.c`), in `$KA_TMP_DIR` (default `/tmp`) unless `state_dump_file` /
//! `stats_dump_file` / `json_dump_file` name another file.
//!
//! Owns the three formats and writing them atomically (temporary file, then rename, mode 0600).
//! It must not change any state: exporters such as mehdy/keepalived-exporter read these files
//! 10 ms after the signal, so rendering reads the snapshots once and never waits.

use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::Serialize;

use lbcore::config::vrrp::{Scope, VirtualAddr, VrrpConfig, VrrpInstance};
use lbcore::vrrp::fsm::State;
use lbcore::vrrp::packet::{AuthData, Version};
use lbcore::vrrp::track::Status;

use crate::clock;
use crate::status::{InstanceStatus, Shared, Utc};
use crate::track::Kind;

/// Which dump a signal asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dump {
    /// SIGUSR1: configuration and state (`keepalived.data`).
    Data,
    /// SIGUSR2: counters (`keepalived.stats`).
    Stats,
    /// SIGRTMIN+2: JSON (`keepalived.json`).
    Json,
}

impl Dump {
    /// keepalived's file name in its temporary directory.
    pub fn file_name(self) -> &'static str {
        match self {
            Dump::Data => "keepalived.data",
            Dump::Stats => "keepalived.stats",
            Dump::Json => "keepalived.json",
        }
    }
}

/// The signal number keepalived uses for the JSON dump (SIGRTMIN+2).
pub fn json_signal() -> i32 {
    libc::SIGRTMIN() + 2
}

/// keepalived's `STATS_CLEAR` signal (SIGRTMAX-1).
pub fn stats_clear_signal() -> i32 {
    libc::SIGRTMAX() - 1
}

/// keepalived's temporary directory: `$KA_TMP_DIR`, else `/tmp` (`configure --with-tmp-dir`).
pub fn tmp_dir() -> PathBuf {
    std::env::var_os("KA_TMP_DIR")
        .filter(|v| !v.is_empty())
        .map_or_else(|| PathBuf::from("/tmp"), PathBuf::from)
}

/// Where `kind` is written: the configured `*_dump_file`, else `tmp_dir()/keepalived.*`.
pub fn path_for(kind: Dump, config: &VrrpConfig) -> PathBuf {
    let configured = match kind {
        Dump::Data => &config.global.state_dump_file,
        Dump::Stats => &config.global.stats_dump_file,
        Dump::Json => &config.global.json_dump_file,
    };
    configured
        .clone()
        .unwrap_or_else(|| tmp_dir().join(kind.file_name()))
}

/// Handles a dump signal: renders the file and writes it atomically.
pub fn on_signal(kind: Dump, config: &VrrpConfig, statuses: &[Shared<InstanceStatus>]) {
    let started = clock::now();
    let snapshots: Vec<InstanceStatus> = statuses.iter().map(|s| s.lock().clone()).collect();
    let text = render(kind, config, &snapshots);
    let path = path_for(kind, config);
    match write_atomic(&path, text.as_bytes()) {
        Ok(()) => tracing::info!(
            path = %path.display(),
            micros = u64::try_from(clock::now().saturating_duration_since(started).as_micros()).unwrap_or(u64::MAX),
            "state dump written"
        ),
        Err(e) => {
            tracing::error!(path = %path.display(), error = %e, "cannot write the state dump")
        }
    }
}

/// Renders one dump.
pub fn render(kind: Dump, config: &VrrpConfig, snapshots: &[InstanceStatus]) -> String {
    match kind {
        Dump::Data => render_data(config, snapshots),
        Dump::Stats => render_stats(snapshots),
        Dump::Json => render_json(config, snapshots),
    }
}

/// Writes `data` to `path` through a temporary file in the same directory (created
/// exclusively, mode 0600, never through a symlink) renamed over it, so a reader sees the old
/// file or the whole new one.
pub fn write_atomic(path: &Path, data: &[u8]) -> io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no file name"))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".{}.tmp", std::process::id()));
    let tmp = dir.join(tmp_name);
    let open = || {
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&tmp)
    };
    let mut f = match open() {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            // Left by an earlier run of this pid that was killed mid-write.
            std::fs::remove_file(&tmp)?;
            open()?
        }
        Err(e) => return Err(e),
    };
    let written = f.write_all(data).and_then(|()| f.flush());
    drop(f);
    if let Err(e) = written.and_then(|()| std::fs::rename(&tmp, path)) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    Ok(())
}

fn find<'a>(snapshots: &'a [InstanceStatus], inst: &VrrpInstance) -> Option<&'a InstanceStatus> {
    snapshots.iter().find(|s| s.name == inst.name)
}

/// keepalived's state names (`get_state_str`).
fn state_str(s: State) -> &'static str {
    match s {
        State::Initialize => "INIT",
        State::Backup => "BACKUP",
        State::Master => "MASTER",
        State::Fault => "FAULT",
    }
}

/// keepalived's numeric states in JSON (`VRRP_STATE_INIT` 0 ... `VRRP_STATE_FAULT` 3).
fn state_num(s: State) -> u8 {
    match s {
        State::Initialize => 0,
        State::Backup => 1,
        State::Master => 2,
        State::Fault => 3,
    }
}

fn version_num(v: Version) -> u8 {
    match v {
        Version::V2 => 2,
        Version::V3 => 3,
    }
}

fn scope_str(s: Scope) -> &'static str {
    match s {
        Scope::Global => "global",
        Scope::Site => "site",
        Scope::Link => "link",
        Scope::Host => "host",
        Scope::Nowhere => "nowhere",
    }
}

/// keepalived's `format_ipaddress`: the mask only when not a host route, ` dev`, the IPv4
/// scope, the label, and ` set` while the address is installed.
pub fn format_vip(v: &VirtualAddr, default_dev: &str, set: bool) -> String {
    use lbcore::config::vrrp::Broadcast;
    let host = if v.addr.is_ipv4() { 32 } else { 128 };
    let mut s = v.addr.to_string();
    if v.prefix_len != host {
        s.push_str(&format!("/{}", v.prefix_len));
    }
    match v.broadcast {
        Broadcast::Addr(b) => s.push_str(&format!(" brd {b}")),
        Broadcast::Auto | Broadcast::None => {}
    }
    s.push_str(" dev ");
    s.push_str(v.dev.as_deref().unwrap_or(default_dev));
    if v.addr.is_ipv4() {
        s.push_str(" scope ");
        s.push_str(scope_str(v.scope));
    }
    if let Some(l) = &v.label {
        s.push_str(" label ");
        s.push_str(l);
    }
    if set {
        s.push_str(" set");
    }
    s
}

fn secs(d: std::time::Duration) -> u64 {
    d.as_secs()
}

fn transition_time(s: &InstanceStatus) -> Utc {
    match s.last_transition() {
        Some(t) => Utc::from_system(t.wall),
        None => Utc::from_system(SystemTime::UNIX_EPOCH),
    }
}

fn password(auth: &AuthData) -> Option<String> {
    match auth {
        AuthData::Pass(bytes) => {
            let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
            Some(String::from_utf8_lossy(&bytes[..end]).into_owned())
        }
        AuthData::None | AuthData::Ah => None,
    }
}

fn script_status(snapshots: &[InstanceStatus], name: &str) -> &'static str {
    let status = snapshots
        .iter()
        .flat_map(|s| &s.track)
        .find(|sh| sh.kind == Kind::Script && sh.name == name)
        .map(|sh| sh.status);
    match status {
        Some(Status::Up) => "GOOD",
        Some(Status::Down) => "BAD",
        Some(Status::Init) | None => "INIT",
    }
}

fn command_str(argv: &[String]) -> String {
    argv.iter()
        .map(|a| format!("'{a}'"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// `keepalived.data` (SIGUSR1): keepalived 2.2.7's layout: section headers
/// `------< ... >------`, one-space-indented block names, three-space-indented `Key = value`
/// properties, five-space-indented list items.
pub fn render_data(config: &VrrpConfig, snapshots: &[InstanceStatus]) -> String {
    use std::fmt::Write as _;
    let g = &config.global;
    let mut o = String::new();
    o.push_str("------< Global definitions >------\n");
    let router_id = g.router_id.clone().unwrap_or_else(|| {
        nix::unistd::gethostname()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_default()
    });
    let _ = writeln!(o, " Router ID = {router_id}");
    let _ = writeln!(o, " Default interface = {}", g.default_interface);
    let _ = writeln!(o, " Gratuitous ARP delay = {}", secs(g.garp.master_delay));
    let _ = writeln!(o, " Gratuitous ARP repeat = {}", g.garp.master_repeat);
    let _ = writeln!(
        o,
        " Gratuitous ARP refresh timer = {}",
        secs(g.garp.master_refresh)
    );
    let _ = writeln!(
        o,
        " Gratuitous ARP refresh repeat = {}",
        g.garp.master_refresh_repeat
    );
    let _ = writeln!(o, " Num adverts before down = {}", g.down_timer_adverts);
    let _ = writeln!(
        o,
        " VRRP default protocol version = {}",
        version_num(g.vrrp_version)
    );
    let _ = writeln!(o, " VRRP strict mode = {}", g.vrrp_strict);
    o.push_str("------< VRRP Topology >------\n");
    for inst in &config.instances {
        let Some(s) = find(snapshots, inst) else {
            continue;
        };
        let _ = writeln!(o, " VRRP Instance = {}", inst.name);
        let _ = writeln!(o, "   VRRP Version = {}", version_num(inst.version));
        if let Some(group) = config
            .sync_groups
            .iter()
            .find(|sg| sg.members.contains(&inst.name))
        {
            let _ = writeln!(o, "   Sync group = {}", group.name);
        }
        if inst.vips.first().is_some_and(|v| v.addr.is_ipv6()) {
            o.push_str("   Using Native IPv6\n");
        }
        let _ = writeln!(o, "   State = {}", state_str(s.state));
        if s.state == State::Backup {
            let master = s
                .master_addr
                .map_or_else(|| "(none)".to_string(), |a| a.to_string());
            let _ = writeln!(o, "   Master router = {master}");
            let _ = writeln!(o, "   Master priority = {}", s.master_priority.unwrap_or(0));
        }
        let _ = writeln!(o, "   Wantstate = {}", state_str(s.state));
        let faults = s
            .track
            .iter()
            .filter(|sh| sh.effect == lbcore::vrrp::track::Effect::Fault)
            .count();
        let inits = s
            .track
            .iter()
            .filter(|sh| sh.kind == Kind::Script && sh.status == Status::Init)
            .count();
        let _ = writeln!(
            o,
            "   Number of interface and track script faults = {faults}"
        );
        let _ = writeln!(o, "   Number of track scripts init = {inits}");
        let t = transition_time(s);
        let _ = writeln!(
            o,
            "   Last transition = {} ({})",
            t.epoch_micros(),
            t.ctime_micros()
        );
        let _ = writeln!(o, "   Interface = {}", s.interface);
        if let Some(src) = inst.src_ip {
            let _ = writeln!(o, "   Using src_ip = {src}");
        }
        if inst.unicast_peers.is_empty() {
            let group = if inst.vips.first().is_some_and(|v| v.addr.is_ipv6()) {
                "ff02::12"
            } else {
                "224.0.0.18"
            };
            let _ = writeln!(o, "   Multicast address {group}");
        } else {
            o.push_str("   Unicast Peer(s):\n");
            for p in &inst.unicast_peers {
                let _ = writeln!(o, "     {}", p.addr);
            }
        }
        let garp = &inst.garp;
        let _ = writeln!(o, "   Gratuitous ARP delay = {}", secs(garp.master_delay));
        let _ = writeln!(o, "   Gratuitous ARP repeat = {}", garp.master_repeat);
        let _ = writeln!(
            o,
            "   Gratuitous ARP refresh = {}",
            secs(garp.master_refresh)
        );
        let _ = writeln!(
            o,
            "   Gratuitous ARP refresh repeat = {}",
            garp.master_refresh_repeat
        );
        let _ = writeln!(
            o,
            "   Gratuitous ARP lower priority delay = {}",
            garp.lower_prio_delay.map_or(secs(garp.master_delay), secs)
        );
        let _ = writeln!(
            o,
            "   Gratuitous ARP lower priority repeat = {}",
            garp.lower_prio_repeat.unwrap_or(garp.master_repeat)
        );
        let _ = writeln!(o, "   Down timer adverts = {}", inst.down_timer_adverts);
        let _ = writeln!(
            o,
            "   Send advert after receive lower priority advert = {}",
            !inst.lower_prio_no_advert
        );
        let _ = writeln!(
            o,
            "   Send advert after receive higher priority advert = {}",
            inst.higher_prio_send_advert
        );
        let _ = writeln!(o, "   Virtual Router ID = {}", inst.vrid);
        let _ = writeln!(o, "   Priority = {}", s.base_priority);
        let _ = writeln!(o, "   Effective priority = {}", s.effective_priority);
        let _ = writeln!(o, "   Total priority = {}", s.effective_priority);
        match inst.version {
            Version::V2 => {
                let _ = writeln!(o, "   Advert interval = {} sec", secs(inst.advert_int));
            }
            Version::V3 => {
                let _ = writeln!(
                    o,
                    "   Advert interval = {} milli-sec",
                    inst.advert_int.as_millis()
                );
            }
        }
        let on_off = |b: bool| if b { "enabled" } else { "disabled" };
        let _ = writeln!(o, "   Accept = {}", on_off(inst.accept));
        let _ = writeln!(o, "   Preempt = {}", on_off(inst.preempt));
        if !inst.preempt_delay.is_zero() {
            let _ = writeln!(o, "   Preempt delay = {} secs", secs(inst.preempt_delay));
        }
        let _ = writeln!(
            o,
            "   Promote_secondaries = {}",
            on_off(inst.promote_secondaries)
        );
        if inst.version == Version::V2 {
            match &inst.auth {
                AuthData::None => o.push_str("   Authentication type = none\n"),
                AuthData::Ah => o.push_str("   Authentication type = IPSEC_AH\n"),
                AuthData::Pass(_) => {
                    o.push_str("   Authentication type = SIMPLE_PASSWORD\n");
                    let _ = writeln!(
                        o,
                        "   Password = {}",
                        password(&inst.auth).unwrap_or_default()
                    );
                }
            }
        }
        let set = s.state == State::Master;
        for (title, list) in [
            ("Virtual IP", &inst.vips),
            ("Virtual IP Excluded", &inst.excluded_vips),
        ] {
            if !list.is_empty() {
                let _ = writeln!(o, "   {title} ({}):", list.len());
                for v in list {
                    let _ = writeln!(o, "     {}", format_vip(v, &s.interface, set));
                }
            }
        }
        if !inst.track_script.is_empty() {
            o.push_str("   Tracked scripts :\n");
            for r in &inst.track_script {
                let weight = r
                    .weight
                    .or_else(|| config.scripts.get(&r.name).map(|sc| sc.weight))
                    .map_or(0, |w| i32::from(w.value) * if w.reverse { -1 } else { 1 });
                let _ = writeln!(o, "     {} weight {weight}", r.name);
            }
        }
        let others: Vec<&crate::track::Share> = s
            .track
            .iter()
            .filter(|sh| sh.kind != Kind::Script)
            .collect();
        if !others.is_empty() {
            o.push_str("   Tracked (vrrpd) :\n");
            for sh in others {
                let _ = writeln!(o, "     {} {} {:?}", sh.kind.as_str(), sh.name, sh.status);
            }
        }
        let yes_no = |b: bool| if b { "yes" } else { "no" };
        let _ = writeln!(
            o,
            "   Using smtp notification = {}",
            yes_no(inst.smtp_alert)
        );
        let _ = writeln!(
            o,
            "   Notify priority changes = {}",
            inst.notify_priority_changes
        );
    }
    if !config.sync_groups.is_empty() {
        o.push_str("------< VRRP Sync groups >------\n");
        for sg in &config.sync_groups {
            let state = sg
                .members
                .iter()
                .filter_map(|m| snapshots.iter().find(|s| s.name == *m))
                .map(|s| s.state)
                .next()
                .unwrap_or(State::Initialize);
            let _ = writeln!(o, " VRRP Sync Group = {}, {}", sg.name, state_str(state));
            o.push_str("   VRRP member instances :\n");
            for m in &sg.members {
                let _ = writeln!(o, "     {m}");
            }
        }
    }
    if !config.scripts.is_empty() {
        o.push_str("------< VRRP Scripts >------\n");
        for (name, sc) in &config.scripts {
            let _ = writeln!(o, " VRRP Script = {name}");
            let _ = writeln!(o, "   Command = {}", command_str(&sc.command.argv));
            let _ = writeln!(o, "   Interval = {} sec", secs(sc.interval));
            let _ = writeln!(o, "   Timeout = {} sec", secs(sc.timeout));
            let w = i32::from(sc.weight.value);
            let _ = writeln!(
                o,
                "   Weight = {w}{}",
                if sc.weight.reverse { " reverse" } else { "" }
            );
            let _ = writeln!(o, "   Rise = {}", sc.rise);
            let _ = writeln!(o, "   Fall = {}", sc.fall);
            let _ = writeln!(o, "   Status = {}", script_status(snapshots, name));
            o.push_str("   Tracking instances :\n");
            for inst in config
                .instances
                .iter()
                .filter(|i| i.track_script.iter().any(|r| r.name == *name))
            {
                let _ = writeln!(o, "     {}", inst.name);
            }
            o.push_str("   State = idle\n");
        }
    }
    o
}

/// keepalived's stats counters of one instance, from the state machine's stats and the
/// drops counted before it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct KaStats {
    /// Adverts received.
    pub advert_rcvd: u64,
    /// Adverts sent.
    pub advert_sent: u64,
    /// Became master.
    pub become_master: u64,
    /// Released master.
    pub release_master: u64,
    /// Length errors (short packets, bad lengths, bad IP headers).
    pub packet_len_err: u64,
    /// Advert interval mismatches.
    pub advert_interval_err: u64,
    /// TTL / hop limit not 255.
    pub ip_ttl_err: u64,
    /// Not an advertisement.
    pub invalid_type_rcvd: u64,
    /// Address list mismatches.
    pub addr_list_err: u64,
    /// Unknown authentication type.
    pub invalid_authtype: u64,
    /// Authentication type differs from ours (vrrpd counts it as a failure).
    pub authtype_mismatch: u64,
    /// Authentication failures.
    pub auth_failure: u64,
    /// Priority-0 adverts received.
    pub pri_zero_rcvd: u64,
    /// Priority-0 adverts sent.
    pub pri_zero_sent: u64,
}

impl KaStats {
    /// From one snapshot.
    pub fn of(s: &InstanceStatus) -> Self {
        let d = |k: &str| s.drops.get(k).copied().unwrap_or(0);
        let st = &s.stats;
        Self {
            advert_rcvd: st.adverts_rx,
            advert_sent: st.adverts_tx,
            become_master: st.became_master,
            release_master: st.released_master,
            packet_len_err: d("length") + d("ip_header"),
            advert_interval_err: st.interval_errors + d("interval"),
            ip_ttl_err: d("ttl"),
            invalid_type_rcvd: d("type"),
            addr_list_err: st.addr_list_errors + d("address_list"),
            invalid_authtype: d("auth"),
            authtype_mismatch: 0,
            auth_failure: st.auth_errors,
            pri_zero_rcvd: st.priority_zero_rx,
            pri_zero_sent: st.priority_zero_tx,
        }
    }
}

/// `keepalived.stats` (SIGUSR2): exactly `vrrp_print_stats`'s layout.
pub fn render_stats(snapshots: &[InstanceStatus]) -> String {
    use std::fmt::Write as _;
    let mut o = String::new();
    for s in snapshots {
        let k = KaStats::of(s);
        let _ = writeln!(o, "VRRP Instance: {}", s.name);
        o.push_str("  Advertisements:\n");
        let _ = writeln!(o, "    Received: {}", k.advert_rcvd);
        let _ = writeln!(o, "    Sent: {}", k.advert_sent);
        let _ = writeln!(o, "  Became master: {}", k.become_master);
        let _ = writeln!(o, "  Released master: {}", k.release_master);
        o.push_str("  Packet Errors:\n");
        let _ = writeln!(o, "    Length: {}", k.packet_len_err);
        let _ = writeln!(o, "    TTL: {}", k.ip_ttl_err);
        let _ = writeln!(o, "    Invalid Type: {}", k.invalid_type_rcvd);
        let _ = writeln!(o, "    Advertisement Interval: {}", k.advert_interval_err);
        let _ = writeln!(o, "    Address List: {}", k.addr_list_err);
        o.push_str("  Authentication Errors:\n");
        let _ = writeln!(o, "    Invalid Type: {}", k.invalid_authtype);
        let _ = writeln!(o, "    Type Mismatch: {}", k.authtype_mismatch);
        let _ = writeln!(o, "    Failure: {}", k.auth_failure);
        o.push_str("  Priority Zero:\n");
        let _ = writeln!(o, "    Received: {}", k.pri_zero_rcvd);
        let _ = writeln!(o, "    Sent: {}", k.pri_zero_sent);
    }
    o
}

/// A JSON number printed as keepalived's `%g` does: integral values without a fraction.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(untagged)]
enum Num {
    Int(u64),
    Float(f64),
}

fn num(d: std::time::Duration) -> Num {
    if d.subsec_nanos() == 0 {
        Num::Int(d.as_secs())
    } else {
        Num::Float(d.as_secs_f64())
    }
}

#[derive(Debug, Serialize)]
struct JsonData {
    iname: String,
    dont_track_primary: u8,
    skip_check_adv_addr: u8,
    strict_mode: u8,
    ifp_ifname: String,
    master_priority: u8,
    last_transition: f64,
    garp_delay: Num,
    garp_refresh: u64,
    garp_rep: u32,
    garp_refresh_rep: u32,
    garp_lower_prio_delay: u64,
    garp_lower_prio_rep: u32,
    lower_prio_no_advert: u8,
    higher_prio_send_advert: u8,
    vrid: u8,
    base_priority: u8,
    effective_priority: u8,
    vipset: bool,
    promote_secondaries: bool,
    adver_int: Num,
    master_adver_int: Num,
    accept: u8,
    nopreempt: bool,
    preempt_delay: u64,
    state: u8,
    wantstate: u8,
    version: u8,
    smtp_alert: bool,
    notify_deleted: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    vips: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    evips: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    track_ifp: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    track_script: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    track_process: Vec<String>,
    auth_type: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    auth_data: Option<String>,
}

#[derive(Debug, Serialize)]
struct JsonEntry {
    data: JsonData,
    stats: KaStats,
}

/// `keepalived.json` (SIGRTMIN+2): `vrrp_json.c`'s version-1 document, an array of
/// `{"data": {...}, "stats": {...}}`, `state` numeric (0 INIT, 1 BACKUP, 2 MASTER, 3 FAULT).
pub fn render_json(config: &VrrpConfig, snapshots: &[InstanceStatus]) -> String {
    let entries: Vec<JsonEntry> = config
        .instances
        .iter()
        .filter_map(|inst| find(snapshots, inst).map(|s| (inst, s)))
        .map(|(inst, s)| {
            let t = transition_time(s);
            let set = s.state == State::Master;
            let garp = &inst.garp;
            let script_cmd = |name: &String| {
                config
                    .scripts
                    .get(name)
                    .map_or_else(|| name.clone(), |sc| command_str(&sc.command.argv))
            };
            JsonEntry {
                data: JsonData {
                    iname: inst.name.clone(),
                    dont_track_primary: u8::from(inst.dont_track_primary),
                    skip_check_adv_addr: u8::from(
                        inst.addr_list_policy != lbcore::vrrp::fsm::AddrListPolicy::default(),
                    ),
                    strict_mode: u8::from(inst.strict),
                    ifp_ifname: s.interface.clone(),
                    master_priority: if s.state == State::Backup {
                        s.master_priority.unwrap_or(0)
                    } else {
                        0
                    },
                    last_transition: t.secs as f64 + f64::from(t.micros) / 1e6,
                    garp_delay: num(garp.master_delay),
                    garp_refresh: secs(garp.master_refresh),
                    garp_rep: garp.master_repeat,
                    garp_refresh_rep: garp.master_refresh_repeat,
                    garp_lower_prio_delay: garp
                        .lower_prio_delay
                        .map_or(secs(garp.master_delay), secs),
                    garp_lower_prio_rep: garp.lower_prio_repeat.unwrap_or(garp.master_repeat),
                    lower_prio_no_advert: u8::from(inst.lower_prio_no_advert),
                    higher_prio_send_advert: u8::from(inst.higher_prio_send_advert),
                    vrid: inst.vrid,
                    base_priority: s.base_priority,
                    effective_priority: s.effective_priority,
                    vipset: set,
                    promote_secondaries: inst.promote_secondaries,
                    adver_int: num(inst.advert_int),
                    master_adver_int: num(inst.advert_int),
                    accept: u8::from(inst.accept),
                    nopreempt: !inst.preempt,
                    preempt_delay: secs(inst.preempt_delay),
                    state: state_num(s.state),
                    wantstate: state_num(s.state),
                    version: version_num(inst.version),
                    smtp_alert: inst.smtp_alert,
                    notify_deleted: inst.notify.send_deleted,
                    vips: inst
                        .vips
                        .iter()
                        .map(|v| format_vip(v, &s.interface, set))
                        .collect(),
                    evips: inst
                        .excluded_vips
                        .iter()
                        .map(|v| format_vip(v, &s.interface, set))
                        .collect(),
                    track_ifp: inst
                        .track_interface
                        .iter()
                        .map(|r| r.name.clone())
                        .collect(),
                    track_script: inst
                        .track_script
                        .iter()
                        .map(|r| script_cmd(&r.name))
                        .collect(),
                    track_process: inst.track_process.iter().map(|r| r.name.clone()).collect(),
                    auth_type: inst.auth.auth_type(),
                    auth_data: password(&inst.auth),
                },
                stats: KaStats::of(s),
            }
        })
        .collect();
    serde_json::to_string(&entries).unwrap_or_else(|_| "[]".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_the_file_with_mode_0600_and_leaves_no_temporary() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("vrrpd-dump-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("mkdir");
        let path = dir.join("keepalived.stats");
        std::fs::write(&path, "old").expect("old");
        write_atomic(&path, b"new").expect("write");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "new");
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let left: Vec<_> = std::fs::read_dir(&dir).expect("ls").collect();
        assert_eq!(left.len(), 1, "temporary file left behind");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn vips_print_like_format_ipaddress() {
        let text = "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n priority 100\n virtual_ipaddress {\n  192.0.2.100\n  192.0.2.101/24 dev eth1 label eth1:1\n }\n}\n";
        let dir = std::env::temp_dir().join(format!("vrrpd-dump-vip-{}.conf", std::process::id()));
        std::fs::write(&dir, text).expect("write");
        let loaded = crate::config::load(&dir);
        let _ = std::fs::remove_file(&dir);
        let cfg = loaded.config.expect("config");
        let v = &cfg.instances[0].vips;
        assert_eq!(
            format_vip(&v[0], "eth0", true),
            "192.0.2.100 dev eth0 scope global set"
        );
        assert_eq!(
            format_vip(&v[1], "eth0", false),
            "192.0.2.101/24 dev eth1 scope global label eth1:1"
        );
    }
}
