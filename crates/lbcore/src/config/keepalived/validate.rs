//! Validation shared by both dialects: keyword-level [`RawConfig`] → [`VrrpConfig`].
//!
//! Owns: ranges, keepalived 2.2.7's defaults and its "clearing" rules (reference §1.2–1.7),
//! address syntax (§1.6), command splitting (§1.1 "Script strings"), and cross-references
//! (track_script / track_process names, sync group members, VRID reuse). Every problem is
//! reported with the span of the value at fault; nothing stops at the first error. Must not: read
//! files or know either dialect's syntax.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::time::Duration;

use crate::config::vrrp::*;
use crate::diag::{Diagnostics, Span, did_you_mean};
use crate::vrrp::fsm::AddrListPolicy;
use crate::vrrp::packet::{AuthData, V3Ipv4Checksum, Version, pass_auth};

use super::lexer::unescape;
use super::raw::*;

// Timer bounds, in seconds: keepalived 2.2.7's, measured with `keepalived -t` (a value outside
// them is "invalid - ignoring" there, an error here). Every timer keyword has one, so that no
// number written in a configuration can overflow a `Duration` or a deadline computed from it.

/// keepalived `TIMER_MAX_SEC`: the upper bound of `preempt_delay`.
pub(crate) const PREEMPT_DELAY_MAX_SECS: f64 = 1000.0;
/// `advert_int` as keepalived reads it, before the per-version rules (v2: 1..255 whole seconds,
/// RFC 3768 §5.3.7; v3: 0.01..40.95 s, RFC 5798 §5.2.7).
pub(crate) const ADVERT_INT_MAX_SECS: f64 = 255.0;
/// VRRPv3 Max Adver Int bounds (RFC 5798 §5.2.7: 12 bits of centiseconds).
const V3_ADVERT_MIN_CS: f64 = 1.0;
const V3_ADVERT_MAX_CS: f64 = 4095.0;
/// keepalived's whole-second timers (`UINT_MAX` microseconds): `garp_master_delay`,
/// `garp_lower_prio_delay`, script `interval` / `timeout`, `smtp_connect_timeout`.
pub(crate) const WHOLE_SECOND_TIMER_MAX_SECS: f64 = 4294.0;
/// keepalived's microsecond timers (`UINT_MAX` microseconds): `vrrp_garp_interval`,
/// `vrrp_gna_interval`, `vrrp_startup_delay`, `vrrp_delay_after_boot`.
pub(crate) const FINE_TIMER_MAX_SECS: f64 = 4294.967295;
/// `garp_master_refresh`: keepalived reads an unsigned 32-bit number of seconds.
pub(crate) const GARP_REFRESH_MAX_SECS: f64 = 4_294_967_295.0;
/// `vrrp_track_process` `delay`, `fork_delay`, `terminate_delay` (keepalived: 0.000001..3600).
pub(crate) const TRACK_PROCESS_DELAY_MAX_SECS: f64 = 3600.0;
/// The smallest script `interval` / `timeout` and `smtp_connect_timeout` (keepalived 2.2.7 takes
/// whole seconds; later versions milliseconds, which vrrpd accepts).
pub(crate) const MIN_POSITIVE_TIMER_SECS: f64 = 0.001;

/// Turns a keyword-level configuration into the domain model, reporting every problem.
pub(crate) fn validate(raw: RawConfig, d: &mut Diagnostics) -> VrrpConfig {
    let mut v = V { d };
    let global = v.global(&raw.global);
    let (scripts, removed_scripts) = v.scripts(&raw.scripts);
    let track_processes = v.track_processes(&raw.track_processes);
    let (track_files, removed_files) = v.track_files(&raw.track_files);
    let track_proxyds = v.track_proxyds(&raw.track_proxyds);
    let known = Names {
        proxyds: &track_proxyds,
        scripts: &scripts,
        removed_scripts: &removed_scripts,
        processes: &track_processes,
        files: &track_files,
        removed_files: &removed_files,
    };
    let mut instances = Vec::new();
    for (idx, ri) in raw.instances.iter().enumerate() {
        if let Some(prev) = raw.instances[..idx].iter().find(|p| p.name.v == ri.name.v) {
            v.d.error(
                &ri.name.span,
                format!(
                    "vrrp_instance '{}' is already defined at {}",
                    ri.name.v, prev.name.span
                ),
            );
            continue;
        }
        instances.push(v.instance(ri, &global, &known));
    }
    v.vrid_reuse(&raw.instances, &instances);
    // keepalived vrrp_complete_instance: notify_priority_changes is the instance's own keyword,
    // else its sync group's, else the global vrrp_notify_priority_changes.
    for inst in &mut instances {
        let own = raw
            .instances
            .iter()
            .find(|r| r.name.v == inst.name)
            .and_then(|r| r.notify_priority_changes.as_ref());
        let group = raw
            .sync_groups
            .iter()
            .find(|g| g.group.iter().any(|m| m.v == inst.name))
            .and_then(|g| g.notify_priority_changes.as_ref());
        if let (None, Some(b)) = (own, group) {
            inst.notify_priority_changes = b.v;
        }
    }
    let sync_groups = v.sync_groups(&raw.sync_groups, &instances, &known, &global);
    v.mail(&raw, &global, &instances, &sync_groups);
    VrrpConfig {
        global,
        scripts,
        track_processes,
        track_files,
        track_proxyds,
        instances,
        sync_groups,
    }
}

struct V<'d> {
    d: &'d mut Diagnostics,
}

/// Names that instances and sync groups may refer to.
struct Names<'a> {
    scripts: &'a BTreeMap<String, VrrpScript>,
    removed_scripts: &'a BTreeSet<String>,
    processes: &'a BTreeMap<String, TrackProcess>,
    files: &'a BTreeMap<String, TrackFile>,
    removed_files: &'a BTreeSet<String>,
    proxyds: &'a BTreeMap<String, TrackProxyd>,
}

/// The `track_*` references of an instance or sync group, as written.
struct RawRefs<'a> {
    script: &'a [RawTrackRef],
    iface: &'a [RawTrackRef],
    process: &'a [RawTrackRef],
    file: &'a [RawTrackRef],
    proxyd: &'a [RawTrackRef],
}

/// The `track_*` references of an instance or sync group, checked.
struct Refs {
    script: Vec<TrackRef>,
    interface: Vec<TrackRef>,
    process: Vec<TrackRef>,
    file: Vec<TrackRef>,
    proxyd: Vec<TrackRef>,
}

/// A number of seconds for a message: plain below 10^15, in exponent form beyond (`1e30`).
fn num(v: f64) -> String {
    if v.abs() >= 1e15 {
        format!("{v:e}")
    } else {
        format!("{v}")
    }
}

impl V<'_> {
    /// An integer within `lo..=hi`, or an error naming the keyword.
    fn range(&mut self, kw: &str, v: &Sp<i64>, lo: i64, hi: i64) -> Option<i64> {
        if (lo..=hi).contains(&v.v) {
            Some(v.v)
        } else {
            self.d.error(
                &v.span,
                format!("{kw} must be between {lo} and {hi}, not {}", v.v),
            );
            None
        }
    }

    fn opt_range(&mut self, kw: &str, v: &Option<Sp<i64>>, lo: i64, hi: i64) -> Option<i64> {
        v.as_ref().and_then(|v| self.range(kw, v, lo, hi))
    }

    fn u8_range(&mut self, kw: &str, v: &Option<Sp<i64>>, lo: u8, hi: u8) -> Option<u8> {
        self.opt_range(kw, v, i64::from(lo), i64::from(hi))
            .and_then(|x| u8::try_from(x).ok())
    }

    fn u32_range(&mut self, kw: &str, v: &Option<Sp<i64>>, lo: u32, hi: u32) -> Option<u32> {
        self.opt_range(kw, v, i64::from(lo), i64::from(hi))
            .and_then(|x| u32::try_from(x).ok())
    }

    /// A count within `1..=hi`; 0 is set to 1 with a warning, as keepalived does ("must be greater
    /// than 0, setting to 1").
    fn at_least_one(&mut self, kw: &str, v: &Option<Sp<i64>>, hi: u32) -> Option<u32> {
        let v = v.as_ref()?;
        if v.v == 0 {
            self.d.warning(
                &v.span,
                format!("{kw} must be greater than 0; setting it to 1, as keepalived does"),
            );
            return Some(1);
        }
        self.range(kw, v, 1, i64::from(hi))
            .and_then(|x| u32::try_from(x).ok())
    }

    /// A timer within `lo..=hi` seconds, or an error naming the keyword, the range and the value.
    /// The only float-to-`Duration` conversion of the configuration: checked, never panics.
    fn timer(&mut self, kw: &str, v: &Sp<f64>, lo: f64, hi: f64) -> Option<Duration> {
        if v.v >= lo
            && v.v <= hi
            && let Ok(d) = Duration::try_from_secs_f64(v.v)
        {
            return Some(d);
        }
        self.d.error(
            &v.span,
            format!(
                "{kw} must be between {} and {} seconds, not {}",
                num(lo),
                num(hi),
                num(v.v)
            ),
        );
        None
    }

    fn opt_timer(&mut self, kw: &str, v: &Option<Sp<f64>>, lo: f64, hi: f64) -> Option<Duration> {
        v.as_ref().and_then(|v| self.timer(kw, v, lo, hi))
    }

    /// A timer that must be positive, at most `hi` seconds. 0 is set to 1 s with a warning, as
    /// keepalived does ("must be greater than 0, setting to 1").
    fn positive(&mut self, kw: &str, v: &Option<Sp<f64>>, hi: f64) -> Option<Duration> {
        let v = v.as_ref()?;
        if v.v == 0.0 {
            self.d.warning(
                &v.span,
                format!("{kw} must be greater than 0; setting it to 1 second, as keepalived does"),
            );
            return Some(Duration::from_secs(1));
        }
        self.timer(kw, v, MIN_POSITIVE_TIMER_SECS, hi)
    }

    fn ip(&mut self, kw: &str, v: &Sp<String>) -> Option<IpAddr> {
        match v.v.parse::<IpAddr>() {
            Ok(a) => Some(a),
            Err(_) => {
                self.d
                    .error(&v.span, format!("{kw}: '{}' is not an IP address", v.v));
                None
            }
        }
    }

    fn user(u: &Option<RawUser>) -> Option<(String, Option<String>)> {
        u.as_ref()
            .map(|(u, g)| (u.v.clone(), g.as_ref().map(|g| g.v.clone())))
    }

    fn command(&mut self, kw: &str, c: &Option<RawCommand>) -> Option<Command> {
        let c = c.as_ref()?;
        let argv = match &c.cmd.v {
            RawCmdLine::Line(l) => split_command(l),
            RawCmdLine::Argv(a) => a.clone(),
        };
        if argv.first().is_none_or(|a| a.is_empty()) {
            self.d.error(&c.cmd.span, format!("{kw}: empty command"));
            return None;
        }
        Some(Command {
            argv,
            user: Self::user(&c.user),
            span: c.cmd.span.clone(),
        })
    }

    fn notify(&mut self, n: &RawNotify) -> Notify {
        Notify {
            master: self.command("notify_master", &n.master),
            backup: self.command("notify_backup", &n.backup),
            fault: self.command("notify_fault", &n.fault),
            stop: self.command("notify_stop", &n.stop),
            deleted: self.command("notify_deleted", &n.deleted),
            master_rx_lower_pri: self.command("notify_master_rx_lower_pri", &n.master_rx_lower_pri),
            generic: self.command("notify", &n.generic),
            send_deleted: n.deleted_flag,
        }
    }

    fn garp(&mut self, prefix: &str, base: &GarpConfig, g: &RawGarp) -> GarpConfig {
        let mut out = base.clone();
        if let Some(v) = self.opt_timer(
            &format!("{prefix}garp_master_delay"),
            &g.master_delay,
            0.0,
            WHOLE_SECOND_TIMER_MAX_SECS,
        ) {
            out.master_delay = v;
        }
        if let Some(v) = self.at_least_one(
            &format!("{prefix}garp_master_repeat"),
            &g.master_repeat,
            255,
        ) {
            out.master_repeat = v;
        }
        if let Some(v) = self.opt_timer(
            &format!("{prefix}garp_master_refresh"),
            &g.master_refresh,
            0.0,
            GARP_REFRESH_MAX_SECS,
        ) {
            out.master_refresh = v;
        }
        if let Some(v) = self.at_least_one(
            &format!("{prefix}garp_master_refresh_repeat"),
            &g.master_refresh_repeat,
            255,
        ) {
            out.master_refresh_repeat = v;
        }
        if let Some(v) = self.opt_timer(
            &format!("{prefix}garp_lower_prio_delay"),
            &g.lower_prio_delay,
            0.0,
            WHOLE_SECOND_TIMER_MAX_SECS,
        ) {
            out.lower_prio_delay = Some(v);
        }
        // keepalived accepts 0 here: no announcements on hearing a lower-priority advert.
        if let Some(v) = self.u32_range(
            &format!("{prefix}garp_lower_prio_repeat"),
            &g.lower_prio_repeat,
            0,
            255,
        ) {
            out.lower_prio_repeat = Some(v);
        }
        out
    }

    fn fifo(f: &Option<RawFifo>) -> Option<NotifyFifo> {
        f.as_ref().map(|f| NotifyFifo {
            path: PathBuf::from(&f.path.v),
            owner: Self::user(&f.owner),
        })
    }

    // ---- global_defs -------------------------------------------------------------------------

    fn global(&mut self, g: &RawGlobal) -> GlobalDefs {
        let mut out = GlobalDefs {
            router_id: g.router_id.as_ref().map(|s| s.v.clone()),
            notification_email: g.notification_email.iter().map(|s| s.v.clone()).collect(),
            notification_email_from: g.notification_email_from.as_ref().map(|s| s.v.clone()),
            ..GlobalDefs::default()
        };
        if let Some((host, port)) = &g.smtp_server {
            let port = match port {
                Some(p) => self
                    .range("smtp_server port", p, 1, 65535)
                    .and_then(|p| u16::try_from(p).ok()),
                None => Some(DEFAULT_SMTP_PORT),
            };
            if let Some(port) = port {
                out.smtp_server = Some((host.v.clone(), port));
            }
        }
        out.smtp_helo_name = g.smtp_helo_name.as_ref().map(|s| s.v.clone());
        if let Some(t) = self.positive(
            "smtp_connect_timeout",
            &g.smtp_connect_timeout,
            WHOLE_SECOND_TIMER_MAX_SECS,
        ) {
            out.smtp_connect_timeout = t;
        }
        // smtp_alert_vrrp is the VRRP-specific setting and wins over smtp_alert.
        out.smtp_alert = g
            .smtp_alert_vrrp
            .as_ref()
            .or(g.smtp_alert.as_ref())
            .map(|b| b.v);
        out.no_email_faults = g.no_email_faults.as_ref().is_some_and(|b| b.v);
        out.script_user = Self::user(&g.script_user);
        out.enable_script_security = g.enable_script_security.as_ref().is_some_and(|b| b.v);
        if let Some(v) = &g.vrrp_version {
            match v.v {
                2 => out.vrrp_version = Version::V2,
                3 => out.vrrp_version = Version::V3,
                _ => self
                    .d
                    .error(&v.span, format!("vrrp_version must be 2 or 3, not {}", v.v)),
            }
        }
        out.vrrp_strict = g.vrrp_strict.as_ref().is_some_and(|b| b.v);
        if let Some(m) = &g.mcast_group4 {
            match m.v.parse::<Ipv4Addr>() {
                Ok(a) if a.is_multicast() => out.mcast_group4 = a,
                _ => self.d.error(
                    &m.span,
                    format!(
                        "vrrp_mcast_group4: '{}' is not an IPv4 multicast address",
                        m.v
                    ),
                ),
            }
        }
        if let Some(m) = &g.mcast_group6 {
            match m.v.parse::<Ipv6Addr>() {
                Ok(a) if a.is_multicast() => out.mcast_group6 = a,
                _ => self.d.error(
                    &m.span,
                    format!(
                        "vrrp_mcast_group6: '{}' is not an IPv6 multicast address",
                        m.v
                    ),
                ),
            }
        }
        // man5 vrrp_min_garp: one GARP, no second burst; explicit vrrp_garp_* still override.
        let mut base = GarpConfig::default();
        if g.min_garp.as_ref().is_some_and(|b| b.v) {
            base.master_repeat = 1;
            base.master_delay = Duration::ZERO;
        }
        out.garp = self.garp("vrrp_", &base, &g.garp);
        out.garp_interval = self
            .opt_timer(
                "vrrp_garp_interval",
                &g.garp_interval,
                0.0,
                FINE_TIMER_MAX_SECS,
            )
            .unwrap_or(Duration::ZERO);
        out.gna_interval = self
            .opt_timer(
                "vrrp_gna_interval",
                &g.gna_interval,
                0.0,
                FINE_TIMER_MAX_SECS,
            )
            .unwrap_or(Duration::ZERO);
        if let Some(v) = self.u8_range("vrrp_down_timer_adverts", &g.down_timer_adverts, 1, 100) {
            out.down_timer_adverts = v;
        }
        // man5: vrrp_lower_prio_no_advert defaults to false unless strict mode is set.
        out.lower_prio_no_advert = g
            .lower_prio_no_advert
            .as_ref()
            .map_or(out.vrrp_strict, |b| b.v);
        // On unless written off: split-brain hygiene, a deliberate difference from keepalived
        // (see DEFAULT_HIGHER_PRIO_SEND_ADVERT).
        out.higher_prio_send_advert = g
            .higher_prio_send_advert
            .as_ref()
            .map_or(DEFAULT_HIGHER_PRIO_SEND_ADVERT, |b| b.v);
        if g.v3_checksum_as_v2.as_ref().is_some_and(|b| b.v) {
            // RFC 9568 §5.2.8: no IPv4 pseudo-header in the VRRPv3 checksum.
            out.v3_ipv4_checksum = V3Ipv4Checksum::WithoutPseudoHeader;
        }
        out.skip_check_adv_addr = g.skip_check_adv_addr.as_ref().is_some_and(|b| b.v);
        out.check_unicast_src = g.check_unicast_src.as_ref().is_some_and(|b| b.v);
        out.startup_delay = self
            .opt_timer(
                "vrrp_startup_delay",
                &g.startup_delay,
                0.0,
                FINE_TIMER_MAX_SECS,
            )
            .unwrap_or(Duration::ZERO);
        out.notify_fifo = Self::fifo(&g.notify_fifo);
        out.vrrp_notify_fifo = Self::fifo(&g.vrrp_notify_fifo);
        out.notify_fifo_script = self.command("notify_fifo_script", &g.notify_fifo_script);
        out.vrrp_notify_fifo_script =
            self.command("vrrp_notify_fifo_script", &g.vrrp_notify_fifo_script);
        out.notify_priority_changes = g.notify_priority_changes.as_ref().is_some_and(|b| b.v);
        if let Some(i) = &g.default_interface {
            out.default_interface = i.v.clone();
        }
        if let Some(ns) = &g.net_namespace {
            // keepalived enters the namespace itself; vrrpd never changes namespace, so running
            // it elsewhere would put the VIPs and adverts in the wrong place.
            self.d.warning(
                &ns.span,
                format!(
                    "net_namespace '{}' is not entered by vrrpd: it runs in the network namespace \
                     it is started in; start it there (ip netns exec {} vrrpd ...)",
                    ns.v, ns.v
                ),
            );
        }
        out.net_namespace = g.net_namespace.as_ref().map(|s| s.v.clone());
        out.instance_name = g.instance.as_ref().map(|s| s.v.clone());
        out.use_pid_dir = g.use_pid_dir.as_ref().is_some_and(|b| b.v);
        out.delay_after_boot = self.opt_timer(
            "vrrp_delay_after_boot",
            &g.delay_after_boot,
            0.0,
            FINE_TIMER_MAX_SECS,
        );
        if let Some(d) = &g.dynamic_interfaces {
            match d.v.as_deref() {
                None => out.dynamic_interfaces = DynamicInterfaces::On,
                Some("allow_if_changes") => {
                    out.dynamic_interfaces = DynamicInterfaces::AllowIfChanges;
                }
                Some(o) => self.d.error(
                    &d.span,
                    format!("dynamic_interfaces: unknown option '{o}' (allow_if_changes)"),
                ),
            }
        }
        let path = |p: &Option<Sp<String>>| p.as_ref().map(|p| PathBuf::from(&p.v));
        out.state_dump_file = path(&g.state_dump_file);
        out.stats_dump_file = path(&g.stats_dump_file);
        out.json_dump_file = path(&g.json_dump_file);
        out.data_use_instance = g.data_use_instance.as_ref().is_some_and(|b| b.v);
        for (k, args) in &g.extra {
            out.extra.insert(k.v.clone(), args.clone());
        }
        out
    }

    // ---- vrrp_script / vrrp_track_process ----------------------------------------------------

    fn scripts(&mut self, raw: &[RawScript]) -> (BTreeMap<String, VrrpScript>, BTreeSet<String>) {
        let mut out = BTreeMap::new();
        let mut removed = BTreeSet::new();
        for (idx, s) in raw.iter().enumerate() {
            if let Some(prev) = raw[..idx].iter().find(|p| p.name.v == s.name.v) {
                self.d.error(
                    &s.name.span,
                    format!(
                        "vrrp_script '{}' is already defined at {}",
                        s.name.v, prev.name.span
                    ),
                );
                continue;
            }
            let Some(command) = self.command("script", &s.script) else {
                if s.script.is_none() {
                    // keepalived: "No script set for vrrp_script X - removing".
                    self.d.warning(
                        &s.name.span,
                        format!("vrrp_script '{}' has no script; it is removed", s.name.v),
                    );
                }
                removed.insert(s.name.v.clone());
                continue;
            };
            let interval = self
                .positive("interval", &s.interval, WHOLE_SECOND_TIMER_MAX_SECS)
                .unwrap_or(DEFAULT_SCRIPT_INTERVAL);
            let timeout = self
                .positive("timeout", &s.timeout, WHOLE_SECOND_TIMER_MAX_SECS)
                .unwrap_or(interval);
            let weight = self.opt_range("weight", &s.weight, -253, 253).unwrap_or(0);
            let rise = self.at_least_one("rise", &s.rise, u32::MAX).unwrap_or(1);
            let fall = self.at_least_one("fall", &s.fall, u32::MAX).unwrap_or(1);
            out.insert(
                s.name.v.clone(),
                VrrpScript {
                    name: s.name.v.clone(),
                    command,
                    interval,
                    timeout,
                    weight: Weight {
                        value: i16::try_from(weight).unwrap_or(0),
                        reverse: s.reverse,
                    },
                    rise,
                    fall,
                    user: Self::user(&s.user),
                    init_fail: s.init_fail.as_ref().is_some_and(|b| b.v),
                    span: s.name.span.clone(),
                },
            );
        }
        (out, removed)
    }

    fn track_processes(&mut self, raw: &[RawTrackProcess]) -> BTreeMap<String, TrackProcess> {
        let mut out = BTreeMap::new();
        for (idx, t) in raw.iter().enumerate() {
            if let Some(prev) = raw[..idx].iter().find(|p| p.name.v == t.name.v) {
                self.d.error(
                    &t.name.span,
                    format!(
                        "vrrp_track_process '{}' is already defined at {}",
                        t.name.v, prev.name.span
                    ),
                );
                continue;
            }
            let Some(process) = t.process.as_ref().filter(|p| !p.v.is_empty()) else {
                self.d.error(
                    &t.name.span,
                    format!("vrrp_track_process '{}' has no process", t.name.v),
                );
                continue;
            };
            if let Some(m) = &t.param_match
                && m.v != "initial"
                && m.v != "partial"
            {
                self.d.error(
                    &m.span,
                    format!("param_match must be initial or partial, not '{}'", m.v),
                );
            }
            let weight = self.opt_range("weight", &t.weight, -254, 254).unwrap_or(0);
            let quorum = self.u32_range("quorum", &t.quorum, 1, 65535).unwrap_or(1);
            let quorum_max = self.u32_range("quorum_max", &t.quorum_max, 1, 65535);
            if let (Some(max), Some(span)) = (quorum_max, t.quorum_max.as_ref().map(|q| &q.span))
                && max < quorum
            {
                self.d.error(
                    span,
                    format!("quorum_max {max} is smaller than quorum {quorum}"),
                );
            }
            let max = TRACK_PROCESS_DELAY_MAX_SECS;
            let delay = self.opt_timer("delay", &t.delay, 0.0, max);
            let fork_delay = self.opt_timer("fork_delay", &t.fork_delay, 0.0, max);
            let terminate_delay = self.opt_timer("terminate_delay", &t.terminate_delay, 0.0, max);
            out.insert(
                t.name.v.clone(),
                TrackProcess {
                    name: t.name.v.clone(),
                    process: process.v.clone(),
                    param_match: t.param_match.as_ref().map(|m| m.v.clone()),
                    full_command: t.full_command.as_ref().is_some_and(|b| b.v),
                    weight: Weight {
                        value: i16::try_from(weight).unwrap_or(0),
                        reverse: t.reverse,
                    },
                    quorum,
                    quorum_max,
                    delay: delay.unwrap_or(Duration::ZERO),
                    fork_delay,
                    terminate_delay,
                    span: t.name.span.clone(),
                },
            );
        }
        out
    }

    fn track_files(
        &mut self,
        raw: &[RawTrackFile],
    ) -> (BTreeMap<String, TrackFile>, BTreeSet<String>) {
        let mut out = BTreeMap::new();
        let mut removed = BTreeSet::new();
        for (idx, t) in raw.iter().enumerate() {
            if let Some(prev) = raw[..idx].iter().find(|p| p.name.v == t.name.v) {
                self.d.error(
                    &t.name.span,
                    format!(
                        "track_file '{}' is already defined at {}",
                        t.name.v, prev.name.span
                    ),
                );
                continue;
            }
            let Some(file) = t.file.as_ref().filter(|f| !f.v.is_empty()) else {
                // keepalived: "No file set for track_file X - ignoring"; references to it are
                // then "not found, ignoring".
                self.d.warning(
                    &t.name.span,
                    format!("track_file '{}' has no file; it is removed", t.name.v),
                );
                removed.insert(t.name.v.clone());
                continue;
            };
            // keepalived 2.2.7 (VRRP process): -254..254, default 1.
            let weight = self.opt_range("weight", &t.weight, -254, 254).unwrap_or(1);
            let init_file = t.init_file.as_ref().map(|i| InitFile {
                value: i
                    .value
                    .as_ref()
                    .and_then(|v| {
                        self.range("init_file", v, i64::from(i32::MIN), i64::from(i32::MAX))
                    })
                    .and_then(|v| i32::try_from(v).ok())
                    .unwrap_or(0),
                overwrite: i.overwrite,
            });
            out.insert(
                t.name.v.clone(),
                TrackFile {
                    name: t.name.v.clone(),
                    file: PathBuf::from(&file.v),
                    weight: Weight {
                        value: i16::try_from(weight).unwrap_or(1),
                        reverse: t.reverse,
                    },
                    init_file,
                    span: t.name.span.clone(),
                },
            );
        }
        (out, removed)
    }

    fn track_proxyds(&mut self, raw: &[RawTrackProxyd]) -> BTreeMap<String, TrackProxyd> {
        let mut out = BTreeMap::new();
        for (idx, t) in raw.iter().enumerate() {
            if let Some(prev) = raw[..idx].iter().find(|p| p.name.v == t.name.v) {
                self.d.error(
                    &t.name.span,
                    format!(
                        "track_proxyd '{}' is already defined at {}",
                        t.name.v, prev.name.span
                    ),
                );
                continue;
            }
            let path = |v: &Option<Sp<String>>, default: &str| {
                PathBuf::from(v.as_ref().map_or(default, |s| s.v.as_str()))
            };
            for (kw, v) in [
                ("pid_file", &t.pid_file),
                ("liveness_socket", &t.liveness_socket),
            ] {
                if let Some(v) = v.as_ref().filter(|v| !v.v.starts_with('/')) {
                    self.d.error(
                        &v.span,
                        format!(
                            "track_proxyd {}: {kw} must be an absolute path, not '{}'",
                            t.name.v, v.v
                        ),
                    );
                }
            }
            let interval = self
                .positive("interval", &t.interval, WHOLE_SECOND_TIMER_MAX_SECS)
                .unwrap_or(DEFAULT_PROXYD_INTERVAL);
            let half = interval / 2;
            let timeout = match self.positive("timeout", &t.timeout, WHOLE_SECOND_TIMER_MAX_SECS) {
                Some(d) if d >= interval => {
                    // The query must end before the next check starts.
                    self.d.warning(
                        t.timeout.as_ref().map_or(&t.name.span, |s| &s.span),
                        format!(
                            "track_proxyd {}: timeout must be shorter than the interval ({}s); \
                             using {}s",
                            t.name.v,
                            num(interval.as_secs_f64()),
                            num(half.as_secs_f64())
                        ),
                    );
                    half
                }
                Some(d) => d,
                None => half,
            };
            if t.timeout.is_some() && !t.require_serving.as_ref().is_some_and(|b| b.v) {
                self.d.warning(
                    t.timeout.as_ref().map_or(&t.name.span, |s| &s.span),
                    format!(
                        "track_proxyd {}: timeout only applies to the liveness query; it has no \
                         effect without require_serving",
                        t.name.v
                    ),
                );
            }
            let weight = self.opt_range("weight", &t.weight, -254, 254).unwrap_or(0);
            out.insert(
                t.name.v.clone(),
                TrackProxyd {
                    name: t.name.v.clone(),
                    pid_file: path(&t.pid_file, crate::liveness::DEFAULT_PID_FILE),
                    liveness_socket: path(&t.liveness_socket, crate::liveness::DEFAULT_SOCKET),
                    require_serving: t.require_serving.as_ref().is_some_and(|b| b.v),
                    interval,
                    timeout,
                    weight: Weight {
                        value: i16::try_from(weight).unwrap_or(0),
                        reverse: t.reverse,
                    },
                    span: t.name.span.clone(),
                },
            );
        }
        out
    }

    // ---- tracking references -----------------------------------------------------------------

    fn refs(
        &mut self,
        owner: &str,
        kind: &str,
        refs: &[RawTrackRef],
        weight_max: i64,
        known: Option<(&[&str], &BTreeSet<String>, &str)>,
    ) -> Vec<TrackRef> {
        let mut out = Vec::new();
        for r in refs {
            if let Some((names, removed, what)) = known
                && !names.contains(&r.name.v.as_str())
            {
                if removed.contains(&r.name.v) {
                    // keepalived: "track script X not found, ignoring..."
                    self.d.warning(
                        &r.name.span,
                        format!("{owner}: {kind} '{}' was removed; ignoring it", r.name.v),
                    );
                } else {
                    let hint = did_you_mean(&r.name.v, names.iter().copied())
                        .map(|s| format!("; did you mean '{s}'?"))
                        .unwrap_or_default();
                    self.d.error(
                        &r.name.span,
                        format!("{owner}: {kind} names unknown {what} '{}'{hint}", r.name.v),
                    );
                }
                continue;
            }
            let weight = r
                .weight
                .as_ref()
                .and_then(|w| {
                    if w.v.abs() == weight_max + 1 && weight_max == 253 {
                        // keepalived: "weight for X cannot be +/-254. Setting to +/-253".
                        let clamped = w.v.signum() * 253;
                        self.d.warning(
                            &w.span,
                            format!(
                                "{owner}: {kind} weight {} for '{}' is out of range; setting it \
                                 to {clamped}, as keepalived does",
                                w.v, r.name.v
                            ),
                        );
                        return Some(clamped);
                    }
                    self.range("weight", w, -weight_max, weight_max)
                })
                .map(|w| Weight {
                    value: i16::try_from(w).unwrap_or(0),
                    reverse: r.reverse,
                });
            let weight = match (weight, r.weight.is_none() && r.reverse) {
                // `NAME reverse` without a weight keeps the tracker's weight, reversed.
                (None, true) => Some(Weight {
                    value: 0,
                    reverse: true,
                }),
                (w, _) => w,
            };
            out.push(TrackRef {
                name: r.name.v.clone(),
                weight,
                span: r.name.span.clone(),
            });
        }
        out
    }

    fn all_refs(&mut self, owner: &str, raw: RawRefs<'_>, known: &Names<'_>) -> Refs {
        let RawRefs {
            script,
            iface,
            process,
            file,
            proxyd,
        } = raw;
        let proxyd_names: Vec<&str> = known.proxyds.keys().map(String::as_str).collect();
        let script_names: Vec<&str> = known.scripts.keys().map(String::as_str).collect();
        let process_names: Vec<&str> = known.processes.keys().map(String::as_str).collect();
        let file_names: Vec<&str> = known.files.keys().map(String::as_str).collect();
        let none = BTreeSet::new();
        Refs {
            script: self.refs(
                owner,
                "track_script",
                script,
                253,
                Some((&script_names, known.removed_scripts, "vrrp_script")),
            ),
            interface: self.refs(owner, "track_interface", iface, 253, None),
            process: self.refs(
                owner,
                "track_process",
                process,
                254,
                Some((&process_names, &none, "vrrp_track_process")),
            ),
            // man5: track_file { NAME weight <-254..254> }.
            file: self.refs(
                owner,
                "track_file",
                file,
                254,
                Some((&file_names, known.removed_files, "track_file")),
            ),
            proxyd: self.refs(
                owner,
                "track_proxyd",
                proxyd,
                254,
                Some((&proxyd_names, &none, "track_proxyd")),
            ),
        }
    }

    // ---- vrrp_instance -----------------------------------------------------------------------

    fn instance(&mut self, r: &RawInstance, g: &GlobalDefs, known: &Names<'_>) -> VrrpInstance {
        let name = r.name.v.clone();
        let who = format!("vrrp_instance {name}");
        let vrid = match &r.vrid {
            Some(v) => self
                .range("virtual_router_id", v, 1, 255)
                .and_then(|v| u8::try_from(v).ok())
                .unwrap_or(1),
            None => {
                self.d
                    .error(&r.name.span, format!("{who} has no virtual_router_id"));
                1
            }
        };
        let strict = r.strict_mode.as_ref().map_or(g.vrrp_strict, |b| b.v);

        // §1.6 addresses; all VIPs of one instance are one family (RFC 5798 §5.2.9): the first
        // address decides and, as keepalived does ("address family must match VRRP instance -
        // ignoring"), an address of the other family is left out with a warning.
        let mut vips = self.addrs("virtual_ipaddress", &r.vips);
        let excluded_vips = self.addrs("virtual_ipaddress_excluded", &r.excluded_vips);
        let mut ipv6 = vips.first().map(|a| a.addr.is_ipv6());
        if let Some(f) = ipv6 {
            vips.retain(|a| {
                if a.addr.is_ipv6() == f {
                    return true;
                }
                self.d.warning(
                    &a.span,
                    format!(
                        "virtual_ipaddress: {} is {} but the first address of {who} is {} (all VIPs \
                         of an instance must be one family; use virtual_ipaddress_excluded to mix); \
                         ignoring it, as keepalived does",
                        a.addr,
                        fam(!f),
                        fam(f)
                    ),
                );
                false
            });
        }
        if vips.is_empty() && r.vips.is_empty() {
            self.d
                .warning(&r.name.span, format!("{who} has no virtual_ipaddress"));
        }
        let src_ip = r
            .src_ip
            .as_ref()
            .and_then(|s| self.ip("unicast_src_ip", s).map(|a| (a, s)));
        let peers: Vec<(UnicastPeer, Span)> = r
            .unicast_peers
            .iter()
            .filter_map(|p| self.peer(p))
            .collect();
        if ipv6.is_none() {
            ipv6 = src_ip
                .map(|(a, _)| a.is_ipv6())
                .or_else(|| peers.first().map(|(p, _)| p.addr.is_ipv6()));
        }
        if let Some(span) = &r.native_ipv6 {
            self.d.warning(
                span,
                "native_ipv6 is deprecated: the addresses decide the family",
            );
            if ipv6 == Some(false) {
                self.d.error(
                    span,
                    format!("native_ipv6 conflicts with the IPv4 addresses of {who}"),
                );
            }
            ipv6.get_or_insert(true);
        }
        let ipv6 = ipv6.unwrap_or(false);
        if let Some((a, s)) = src_ip
            && a.is_ipv6() != ipv6
        {
            self.d.error(
                &s.span,
                format!(
                    "unicast_src_ip {a} is {} but {who} is {}",
                    fam(a.is_ipv6()),
                    fam(ipv6)
                ),
            );
        }
        for (p, span) in &peers {
            if p.addr.is_ipv6() != ipv6 {
                self.d.error(
                    span,
                    format!(
                        "unicast_peer {} is {} but {who} is {}",
                        p.addr,
                        fam(p.addr.is_ipv6()),
                        fam(ipv6)
                    ),
                );
            }
        }
        if strict && let Some(span) = &r.unicast_peer_span {
            self.d.error(span, "unicast_peer cannot be used with vrrp_strict / strict_mode (strict mode is multicast only)");
        }

        // Version: instance, else global vrrp_version; IPv6 is always VRRPv3 (RFC 3768 is IPv4 only).
        let mut version = g.vrrp_version;
        if let Some(v) = &r.version {
            match v.v {
                2 if ipv6 => self.d.warning(
                    &v.span,
                    format!(
                        "{who} has IPv6 addresses, which need VRRP version 3; ignoring version 2"
                    ),
                ),
                2 => version = Version::V2,
                3 => version = Version::V3,
                _ => self
                    .d
                    .error(&v.span, format!("version must be 2 or 3, not {}", v.v)),
            }
        }
        if ipv6 {
            version = Version::V3;
        }
        // RFC 5798 §5.2.9: in VRRPv3 over IPv6 the first address MUST be the link-local virtual
        // address. keepalived (vrrp.c) checks it for multicast instances only, logs it otherwise
        // and makes it an error in strict mode; so do we.
        if let Some(first) = vips.first()
            && let IpAddr::V6(addr) = first.addr
            && r.unicast_peers.is_empty()
            && !addr.is_unicast_link_local()
        {
            let word = if strict { "must" } else { "should" };
            let message = format!(
                "{who}: the first IPv6 virtual_ipaddress {word} be link-local (RFC 5798 §5.2.9) but \
                 {addr} is not in fe80::/10; list a link-local virtual address (e.g. fe80::1) first, \
                 the same on every router of VRID {vrid}"
            );
            if strict {
                self.d.error(&first.span, message);
            } else {
                self.d.warning(&first.span, message);
            }
        }

        let mut state = r.state.as_ref().map(|s| match s.v {
            RawState::Master => InitialState::Master,
            RawState::Backup => InitialState::Backup,
        });

        // Authentication (RFC 2338 §5.3.6; v2 only).
        let mut auth = AuthData::None;
        if let Some(a) = &r.auth {
            if version == Version::V3 {
                self.d.warning(
                    &a.span,
                    "VRRP version 3 does not support authentication. Ignoring",
                );
            } else if strict {
                self.d.warning(
                    &a.span,
                    "strict mode does not support authentication. Ignoring",
                );
            } else {
                match &a.auth_type {
                    None => self
                        .d
                        .error(&a.span, "authentication needs auth_type PASS or AH"),
                    Some(t) if t.v == RawAuthType::Ah => {
                        auth = AuthData::Ah;
                        if state == Some(InitialState::Master) {
                            // keepalived: "Initial state master is incompatible with AH
                            // authentication - clearing".
                            self.d.warning(&t.span, format!("{who}: initial state MASTER is incompatible with AH authentication; clearing it"));
                            state = Some(InitialState::Backup);
                        }
                    }
                    Some(t) => match &a.auth_pass {
                        None => self.d.error(&t.span, "auth_type PASS needs an auth_pass"),
                        Some(p) => {
                            // The packet codec's helper: one definition of the PASS bytes.
                            let (data, truncated) = pass_auth(&p.v);
                            if truncated {
                                self.d
                                    .warning(&p.span, "truncating auth_pass to 8 characters");
                            }
                            auth = data;
                        }
                    },
                }
            }
        }

        // §1.5: no priority + state MASTER ⇒ 255; otherwise 100.
        let priority = match &r.priority {
            Some(p) => self
                .range("priority", p, 1, 255)
                .and_then(|p| u8::try_from(p).ok())
                .unwrap_or(DEFAULT_PRIORITY),
            None if state == Some(InitialState::Master) => OWNER_PRIORITY,
            None => DEFAULT_PRIORITY,
        };

        let advert_int = self.advert_int(&who, r.advert_int.as_ref(), version);

        let mut preempt = r.preempt.as_ref().is_none_or(|p| p.v);
        let mut preempt_delay = self
            .opt_timer(
                "preempt_delay",
                &r.preempt_delay,
                0.0,
                PREEMPT_DELAY_MAX_SECS,
            )
            .unwrap_or(Duration::ZERO);
        if state == Some(InitialState::Master) {
            // keepalived vrrp.c: "nopreempt will not work with initial state MASTER - clearing".
            if let Some(p) = r.preempt.as_ref().filter(|p| !p.v) {
                self.d.warning(
                    &p.span,
                    format!("{who}: nopreempt does not work with state MASTER; clearing it"),
                );
                preempt = true;
            }
            if let Some(d) = r
                .preempt_delay
                .as_ref()
                .filter(|_| !preempt_delay.is_zero())
            {
                self.d.warning(
                    &d.span,
                    format!("{who}: preempt_delay does not work with state MASTER; clearing it"),
                );
                preempt_delay = Duration::ZERO;
            }
        }

        let refs = self.all_refs(
            &who,
            RawRefs {
                script: &r.track_script,
                iface: &r.track_interface,
                process: &r.track_process,
                file: &r.track_file,
                proxyd: &r.track_proxyd,
            },
            known,
        );

        let garp = self.garp("", &g.garp, &r.garp);
        let down_timer_adverts = self
            .u8_range("down_timer_adverts", &r.down_timer_adverts, 1, 100)
            .unwrap_or(g.down_timer_adverts);
        let unicast_ttl = self.u8_range("unicast_ttl", &r.unicast_ttl, 0, 255);
        let kernel_rx_buf_size =
            self.u32_range("kernel_rx_buf_size", &r.kernel_rx_buf_size, 0, u32::MAX);
        let skip_check = r
            .skip_check_adv_addr
            .as_ref()
            .map_or(g.skip_check_adv_addr, |b| b.v);
        let v3_as_v2 = r.v3_checksum_as_v2.as_ref().map(|b| b.v);
        // keepalived vrrp.c: strict mode clears higher_prio_send_advert, the global default
        // silently and an explicit instance setting with a complaint.
        let higher_prio_send_advert = match &r.higher_prio_send_advert {
            Some(b) if b.v && strict => {
                self.d.warning(
                    &b.span,
                    format!("{who}: strict mode requires higher_prio_send_advert to be clear; clearing it"),
                );
                false
            }
            Some(b) => b.v,
            None => g.higher_prio_send_advert && !strict,
        };

        let old_unicast_checksum = match &r.old_unicast_checksum {
            None => OldUnicastChecksum::Detect,
            Some(Sp { v: None, .. }) => OldUnicastChecksum::Always,
            Some(Sp { v: Some(w), .. }) if w == "never" => OldUnicastChecksum::Never,
            Some(Sp { v: Some(w), span }) => {
                self.d.error(
                    span,
                    format!("old_unicast_checksum: unknown option '{w}' (never)"),
                );
                OldUnicastChecksum::Detect
            }
        };

        VrrpInstance {
            name,
            initial_state: state,
            interface: r
                .interface
                .as_ref()
                .map_or_else(|| g.default_interface.clone(), |i| i.v.clone()),
            vrid,
            priority,
            advert_int,
            version,
            ipv6,
            preempt,
            preempt_delay,
            auth,
            vips,
            excluded_vips,
            virtual_routes: r.virtual_routes.iter().map(|s| s.v.clone()).collect(),
            virtual_rules: r.virtual_rules.iter().map(|s| s.v.clone()).collect(),
            track_script: refs.script,
            track_interface: refs.interface,
            track_process: refs.process,
            track_file: refs.file,
            track_proxyd: refs.proxyd,
            dont_track_primary: r.dont_track_primary.as_ref().is_some_and(|b| b.v),
            src_ip: src_ip.map(|(a, _)| a),
            unicast_peers: peers.into_iter().map(|(p, _)| p).collect(),
            unicast_ttl,
            // man5: accept is the default unless strict mode is set.
            accept: r.accept.as_ref().map_or(!strict, |b| b.v),
            garp,
            lower_prio_no_advert: r
                .lower_prio_no_advert
                .as_ref()
                .map_or(g.lower_prio_no_advert || strict, |b| b.v),
            higher_prio_send_advert,
            down_timer_adverts,
            v3_ipv4_checksum: match v3_as_v2 {
                Some(true) => V3Ipv4Checksum::WithoutPseudoHeader,
                Some(false) => V3Ipv4Checksum::WithPseudoHeader,
                None => g.v3_ipv4_checksum,
            },
            addr_list_policy: if skip_check {
                AddrListPolicy::Log
            } else {
                AddrListPolicy::Drop
            },
            use_vmac: r.use_vmac.as_ref().map(|v| v.v.clone()),
            notify: self.notify(&r.notify),
            smtp_alert: r
                .smtp_alert
                .as_ref()
                .map(|b| b.v)
                .or(g.smtp_alert)
                .unwrap_or(false),
            notify_priority_changes: r
                .notify_priority_changes
                .as_ref()
                .map_or(g.notify_priority_changes, |b| b.v),
            strict,
            owner_ignore_adverts: r.owner_ignore_adverts.as_ref().map_or(strict, |b| b.v),
            check_unicast_src: r
                .check_unicast_src
                .as_ref()
                .map_or(g.check_unicast_src, |b| b.v)
                || r.unicast_peers
                    .iter()
                    .any(|p| p.min_ttl.is_some() || p.max_ttl.is_some()),
            unicast_fault_no_peer: r.unicast_fault_no_peer.as_ref().is_some_and(|b| b.v),
            track_src_ip: r.track_src_ip.as_ref().is_some_and(|b| b.v),
            promote_secondaries: r.promote_secondaries.as_ref().is_some_and(|b| b.v),
            kernel_rx_buf_size,
            vmac_xmit_base: r.vmac_xmit_base.as_ref().is_some_and(|b| b.v),
            use_ipvlan: r.use_ipvlan.as_ref().map(|v| v.v.clone()),
            old_unicast_checksum,
            span: r.name.span.clone(),
        }
    }

    /// `advert_int` per version (keepalived vrrp.c; RFC 3768 §5.3.7, RFC 5798 §5.2.7).
    fn advert_int(&mut self, who: &str, a: Option<&Sp<f64>>, version: Version) -> Duration {
        let Some(a) = a else {
            return DEFAULT_ADVERT_INT;
        };
        if a.v.is_nan() || a.v <= 0.0 {
            self.d.error(&a.span, "advert_int must be greater than 0");
            return DEFAULT_ADVERT_INT;
        }
        match version {
            Version::V2 => {
                // RFC 3768 §5.3.7: whole seconds, 8 bits.
                let rounded = a.v.round().max(1.0);
                if rounded > ADVERT_INT_MAX_SECS {
                    self.d.error(
                        &a.span,
                        format!(
                            "advert_int must be between 1 and 255 seconds for VRRP version 2, not {}",
                            num(a.v)
                        ),
                    );
                    return DEFAULT_ADVERT_INT;
                }
                if rounded != a.v {
                    self.d.warning(
                        &a.span,
                        format!("{who}: VRRPv2 advertisement interval {}s must be an integer; rounding to {rounded}s", a.v),
                    );
                }
                // 1..=255 after the check above.
                Duration::from_secs(rounded as u64)
            }
            Version::V3 => {
                // RFC 5798 §5.2.7: 12 bits of centiseconds.
                let cs = a.v * 100.0;
                let rounded = cs.round();
                if rounded > V3_ADVERT_MAX_CS && a.v <= ADVERT_INT_MAX_SECS {
                    // keepalived: "VRRPv3 advertisement interval 41.00s is out of range. Must be
                    // less than 40.96s. Setting to 40.95s".
                    self.d.warning(
                        &a.span,
                        format!(
                            "{who}: VRRPv3 advertisement interval {}s is out of range (at most \
                             40.95s); setting it to 40.95s, as keepalived does",
                            a.v
                        ),
                    );
                    return Duration::from_millis(40_950);
                }
                if !(V3_ADVERT_MIN_CS..=V3_ADVERT_MAX_CS).contains(&rounded) {
                    self.d.error(
                        &a.span,
                        format!(
                            "advert_int must be between 0.01 and 40.95 seconds for VRRP version 3, not {}",
                            num(a.v)
                        ),
                    );
                    return DEFAULT_ADVERT_INT;
                }
                if (rounded - cs).abs() > 1e-6 {
                    self.d.warning(
                        &a.span,
                        format!(
                            "{who}: VRRPv3 advertisement interval {}s must be in units of 10ms; rounding to {}s",
                            a.v,
                            rounded / 100.0
                        ),
                    );
                }
                // 1..=4095 after the check above.
                Duration::from_millis((rounded as u64) * 10)
            }
        }
    }

    fn peer(&mut self, p: &RawPeer) -> Option<(UnicastPeer, Span)> {
        let addr = self.ip("unicast_peer", &p.addr)?;
        let min_ttl = self.u8_range("min_ttl", &p.min_ttl, 0, 255);
        let max_ttl = self.u8_range("max_ttl", &p.max_ttl, 0, 255);
        if let (Some(lo), Some(hi), Some(m)) = (min_ttl, max_ttl, &p.max_ttl)
            && lo > hi
        {
            self.d.error(
                &m.span,
                format!("unicast_peer {addr}: max_ttl {hi} is smaller than min_ttl {lo}"),
            );
        }
        Some((
            UnicastPeer {
                addr,
                min_ttl,
                max_ttl,
            },
            p.addr.span.clone(),
        ))
    }

    fn addrs(&mut self, kw: &str, lines: &[Vec<Sp<String>>]) -> Vec<VirtualAddr> {
        lines.iter().filter_map(|l| self.addr(kw, l)).collect()
    }

    /// One line of §1.6 address syntax.
    fn addr(&mut self, kw: &str, words: &[Sp<String>]) -> Option<VirtualAddr> {
        let first = words.first()?;
        let (a, mask) = match first.v.split_once('/') {
            Some((a, m)) => (a, Some(m)),
            None => (first.v.as_str(), None),
        };
        let Ok(addr) = a.parse::<IpAddr>() else {
            self.d.error(
                &first.span,
                format!("{kw}: '{}' is not an IP address", first.v),
            );
            return None;
        };
        let max = if addr.is_ipv6() { 128 } else { 32 };
        let prefix_len = match mask {
            None => max,
            Some(m) => match m.parse::<u8>() {
                Ok(p) if p <= max => p,
                _ => {
                    self.d.error(
                        &first.span,
                        format!(
                            "{kw}: '/{m}' is not a prefix length (0..{max}) in '{}'",
                            first.v
                        ),
                    );
                    return None;
                }
            },
        };
        let mut out = VirtualAddr {
            addr,
            prefix_len,
            dev: None,
            broadcast: Broadcast::None,
            scope: Scope::Global,
            label: None,
            peer: None,
            no_track: false,
            preferred_forever: false,
            options: Vec::new(),
            span: first.span.clone(),
        };
        let mut it = words[1..].iter();
        let mut ok = true;
        while let Some(w) = it.next() {
            let mut value = |d: &mut Diagnostics| {
                let v = it.next();
                if v.is_none() {
                    d.error(&w.span, format!("{kw}: '{}' needs a value", w.v));
                }
                v
            };
            match w.v.as_str() {
                "dev" => out.dev = value(self.d).map(|v| v.v.clone()),
                "label" => out.label = value(self.d).map(|v| v.v.clone()),
                "brd" | "broadcast" => {
                    if let Some(v) = value(self.d) {
                        match v.v.as_str() {
                            "+" => out.broadcast = Broadcast::Auto,
                            "-" => out.options.push("brd -".into()),
                            s => match s.parse::<Ipv4Addr>() {
                                Ok(b) if addr.is_ipv4() => out.broadcast = Broadcast::Addr(b),
                                _ => {
                                    self.d.error(
                                        &v.span,
                                        format!("{kw}: brd '{s}' is not an IPv4 address, + or -"),
                                    );
                                    ok = false;
                                }
                            },
                        }
                    }
                }
                "scope" => {
                    if let Some(v) = value(self.d) {
                        out.scope = match v.v.as_str() {
                            "global" => Scope::Global,
                            "site" => Scope::Site,
                            "link" => Scope::Link,
                            "host" => Scope::Host,
                            "nowhere" => Scope::Nowhere,
                            s => {
                                self.d.error(&v.span, format!("{kw}: scope must be global, site, link, host or nowhere, not '{s}'"));
                                ok = false;
                                Scope::Global
                            }
                        };
                    }
                }
                "peer" => {
                    if let Some(v) = value(self.d) {
                        match v.v.split('/').next().unwrap_or_default().parse::<IpAddr>() {
                            Ok(p) => out.peer = Some(p),
                            Err(_) => {
                                self.d.error(
                                    &v.span,
                                    format!("{kw}: peer '{}' is not an IP address", v.v),
                                );
                                ok = false;
                            }
                        }
                    }
                }
                "no_track" => out.no_track = true,
                "preferred_lft" => {
                    if let Some(v) = value(self.d) {
                        if v.v == "forever" {
                            out.preferred_forever = true;
                        } else if v.v.parse::<u32>().is_ok() {
                            out.options.push(format!("preferred_lft {}", v.v));
                        } else {
                            self.d.error(&v.span, format!("{kw}: preferred_lft must be a number of seconds or forever, not '{}'", v.v));
                            ok = false;
                        }
                    }
                }
                "track_group" => {
                    if let Some(v) = value(self.d) {
                        out.options.push(format!("track_group {}", v.v));
                    }
                }
                "home" | "-nodad" | "nodad" | "mngtmpaddr" | "noprefixroute" | "autojoin"
                | "use_vmac" => {
                    out.options.push(w.v.clone());
                }
                other => {
                    const OPTS: &[&str] = &[
                        "dev",
                        "label",
                        "brd",
                        "scope",
                        "peer",
                        "no_track",
                        "preferred_lft",
                        "home",
                        "-nodad",
                        "mngtmpaddr",
                        "noprefixroute",
                        "autojoin",
                        "use_vmac",
                        "track_group",
                    ];
                    let hint = did_you_mean(other, OPTS.iter().copied())
                        .map(|s| format!("; did you mean '{s}'?"))
                        .unwrap_or_default();
                    self.d.error(
                        &w.span,
                        format!("{kw}: unknown address option '{other}'{hint}"),
                    );
                    ok = false;
                }
            }
        }
        ok.then_some(out)
    }

    /// keepalived: a VRID is unique per interface, family and (multicast group | peer set).
    fn vrid_reuse(&mut self, raw: &[RawInstance], insts: &[VrrpInstance]) {
        for (k, b) in insts.iter().enumerate() {
            for a in &insts[..k] {
                let peers_overlap = (a.unicast_peers.is_empty() && b.unicast_peers.is_empty())
                    || a.unicast_peers
                        .iter()
                        .any(|p| b.unicast_peers.iter().any(|q| q.addr == p.addr));
                if a.vrid == b.vrid
                    && a.interface == b.interface
                    && a.ipv6 == b.ipv6
                    && peers_overlap
                {
                    let span = raw
                        .iter()
                        .find(|r| r.name.v == b.name)
                        .and_then(|r| r.vrid.as_ref())
                        .map_or_else(|| b.span.clone(), |v| v.span.clone());
                    self.d.error(
                        &span,
                        format!(
                            "virtual_router_id {} is already used on {} ({}) by vrrp_instance {} at {}",
                            b.vrid,
                            b.interface,
                            fam(b.ipv6),
                            a.name,
                            a.span
                        ),
                    );
                    break;
                }
            }
        }
    }

    // ---- vrrp_sync_group ---------------------------------------------------------------------

    fn sync_groups(
        &mut self,
        raw: &[RawSyncGroup],
        insts: &[VrrpInstance],
        known: &Names<'_>,
        g: &GlobalDefs,
    ) -> Vec<SyncGroup> {
        let mut out: Vec<SyncGroup> = Vec::new();
        let mut member_of: HashMap<String, (String, Span)> = HashMap::new();
        let names: Vec<&str> = insts.iter().map(|i| i.name.as_str()).collect();
        for (idx, r) in raw.iter().enumerate() {
            if let Some(prev) = raw[..idx].iter().find(|p| p.name.v == r.name.v) {
                self.d.error(
                    &r.name.span,
                    format!(
                        "vrrp_sync_group '{}' is already defined at {}",
                        r.name.v, prev.name.span
                    ),
                );
                continue;
            }
            let who = format!("vrrp_sync_group {}", r.name.v);
            let mut members = Vec::new();
            for m in &r.group {
                if !names.contains(&m.v.as_str()) {
                    let hint = did_you_mean(&m.v, names.iter().copied())
                        .map(|s| format!("; did you mean '{s}'?"))
                        .unwrap_or_default();
                    self.d.error(
                        &m.span,
                        format!("{who}: unknown vrrp_instance '{}'{hint}", m.v),
                    );
                    continue;
                }
                if let Some((other, span)) = member_of.get(&m.v) {
                    self.d.error(
                        &m.span,
                        format!("{who}: vrrp_instance {} is already in vrrp_sync_group {other} at {span}", m.v),
                    );
                    continue;
                }
                member_of.insert(m.v.clone(), (r.name.v.clone(), m.span.clone()));
                members.push(m.v.clone());
            }
            if r.group.is_empty() {
                // keepalived: "Sync group X has no virtual router(s). removing".
                self.d.warning(
                    &r.name.span,
                    format!("{who} has no group {{ ... }} of instances; it is removed"),
                );
                continue;
            }
            if members.len() == 1 {
                self.d.warning(
                    &r.name.span,
                    format!("{who} has only 1 instance, which is probably not what you want"),
                );
            }
            let refs = self.all_refs(
                &who,
                RawRefs {
                    script: &r.track_script,
                    iface: &r.track_interface,
                    process: &r.track_process,
                    file: &r.track_file,
                    proxyd: &r.track_proxyd,
                },
                known,
            );
            out.push(SyncGroup {
                name: r.name.v.clone(),
                members,
                track_script: refs.script,
                track_interface: refs.interface,
                track_process: refs.process,
                track_file: refs.file,
                track_proxyd: refs.proxyd,
                notify: self.notify(&r.notify),
                smtp_alert: r
                    .smtp_alert
                    .as_ref()
                    .map(|b| b.v)
                    .or(g.smtp_alert)
                    .unwrap_or(false),
                tracking_weight: r.tracking_weight.as_ref().is_some_and(|b| b.v),
                notify_priority_changes: r
                    .notify_priority_changes
                    .as_ref()
                    .map_or(g.notify_priority_changes, |b| b.v),
                span: r.name.span.clone(),
            });
        }
        out
    }

    /// reference §1.2: without smtp_server (or recipients) no mail is ever sent.
    fn mail(
        &mut self,
        raw: &RawConfig,
        g: &GlobalDefs,
        insts: &[VrrpInstance],
        groups: &[SyncGroup],
    ) {
        let span = raw
            .instances
            .iter()
            .filter(|r| insts.iter().any(|i| i.name == r.name.v && i.smtp_alert))
            .map(|r| {
                r.smtp_alert
                    .as_ref()
                    .map_or_else(|| r.name.span.clone(), |s| s.span.clone())
            })
            .chain(
                raw.sync_groups
                    .iter()
                    .filter(|r| groups.iter().any(|s| s.name == r.name.v && s.smtp_alert))
                    .map(|r| {
                        r.smtp_alert
                            .as_ref()
                            .map_or_else(|| r.name.span.clone(), |s| s.span.clone())
                    }),
            )
            .next();
        let Some(span) = span else { return };
        if g.smtp_server.is_none() {
            self.d.warning(
                &span,
                "smtp_alert is set but global_defs has no smtp_server: no mail will be sent",
            );
        } else if g.notification_email.is_empty() {
            self.d.warning(
                &span,
                "smtp_alert is set but global_defs has no notification_email: no mail will be sent",
            );
        }
    }
}

fn fam(ipv6: bool) -> &'static str {
    if ipv6 { "IPv6" } else { "IPv4" }
}

/// Splits a command line the keepalived way (reference §1.1 "Script strings"): blanks separate
/// arguments, `'...'` (or `"..."`) groups one, and backslash escapes apply (`\x20`, `\\`, ...).
pub(crate) fn split_command(line: &str) -> Vec<String> {
    let chars: Vec<char> = line.chars().collect();
    let mut out = Vec::new();
    let mut cur: Option<String> = None;
    let mut quote: Option<char> = None;
    let mut j = 0;
    while j < chars.len() {
        let c = chars[j];
        match (quote, c) {
            (Some(q), c) if c == q => {
                quote = None;
                j += 1;
            }
            (_, '\\') if j + 1 < chars.len() => {
                j = unescape(&chars, j + 1, cur.get_or_insert_with(String::new));
            }
            (None, '\'' | '"') => {
                quote = Some(c);
                cur.get_or_insert_with(String::new);
                j += 1;
            }
            (None, c) if c.is_whitespace() => {
                if let Some(w) = cur.take() {
                    out.push(w);
                }
                j += 1;
            }
            (_, c) => {
                cur.get_or_insert_with(String::new).push(c);
                j += 1;
            }
        }
    }
    if let Some(w) = cur {
        out.push(w);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_commands_like_keepalived() {
        assert_eq!(
            split_command("killall -0 haproxy"),
            ["killall", "-0", "haproxy"]
        );
        assert_eq!(
            split_command("/bin/echo 'a b' c\\x41"),
            ["/bin/echo", "a b", "cA"]
        );
        assert_eq!(
            split_command("/n.sh ' spaces\\x20f\\x69le ' x"),
            ["/n.sh", " spaces file ", "x"]
        );
        assert_eq!(split_command("  "), Vec::<String>::new());
    }
}
