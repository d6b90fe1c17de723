//! Loading the configuration for the daemon and for `-t`.
//!
//! Owns: calling lbcore's front end (keepalived.conf, or YAML for `.yaml`/`.yml`), the one list
//! of settings that are parsed but not acted on ([`not_acted_on`], printed by `-t` and logged at
//! startup), and the valid / invalid verdict. Must not: touch the network or require root; `-t` runs anywhere.

use std::path::Path;

use lbcore::config::vrrp::{DynamicInterfaces, OWNER_PRIORITY, OldUnicastChecksum, VrrpConfig};
use lbcore::diag::{Diagnostics, Span};

/// The outcome of loading a file.
#[derive(Debug)]
pub struct Loaded {
    /// The configuration, when it has no error.
    pub config: Option<VrrpConfig>,
    /// The front end's diagnostics.
    pub diagnostics: Diagnostics,
}

impl Loaded {
    /// True when the configuration can be run.
    pub fn is_valid(&self) -> bool {
        self.config.is_some() && !self.diagnostics.has_errors()
    }
}

/// Loads and validates `path` (the front end's diagnostics only; [`not_acted_on`] is separate
/// so that `-t` prints it and the daemon logs it once at startup, never twice).
pub fn load(path: &Path) -> Loaded {
    let (config, diagnostics) = lbcore::config::load_vrrp(path);
    let config = config.filter(|_| !diagnostics.has_errors());
    Loaded {
        config,
        diagnostics,
    }
}

/// A setting that vrrpd parses and validates but does not act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotActedOn {
    /// The keyword as written in keepalived.conf (`vrrp_script`, `notify_master`, ...).
    pub keyword: &'static str,
    /// What it belongs to or names (`chk_haproxy`, `instance VI_1`, `global_defs`).
    pub subject: String,
    /// Where it is written; `None` for global settings the model keeps without a position.
    pub span: Option<Span>,
    /// What vrrpd does instead.
    pub reason: &'static str,
}

impl std::fmt::Display for NotActedOn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({}) is parsed but not acted on: {}",
            self.keyword, self.subject, self.reason
        )
    }
}

/// Every setting of `c` that is parsed but not acted on, in file order as far as the model keeps
/// it (global settings first), with its position and what vrrpd does instead. The one list for
/// both `-t` ([`config_test`]) and the startup log ([`crate::daemon::run`]).
pub fn not_acted_on(c: &VrrpConfig) -> Vec<NotActedOn> {
    let mut out = Vec::new();
    let mut push = |keyword, subject: &str, span: Option<&Span>, reason| {
        out.push(NotActedOn {
            keyword,
            subject: subject.to_string(),
            span: span.cloned(),
            reason,
        });
    };
    let g = &c.global;
    const GLOBAL: &str = "global_defs";
    if let Some(name) = &g.instance_name {
        push(
            "instance",
            name,
            None,
            "pid files are the ones given by -p / -r, not named after the instance",
        );
    }
    if g.use_pid_dir {
        push(
            "use_pid_dir",
            GLOBAL,
            None,
            "pid files are the ones given by -p / -r",
        );
    }
    if g.delay_after_boot.is_some() {
        push(
            "vrrp_delay_after_boot",
            GLOBAL,
            None,
            "instances are not held back after boot (vrrp_startup_delay is honoured)",
        );
    }
    if g.data_use_instance {
        push(
            "data_use_instance",
            GLOBAL,
            None,
            "dump files keep their plain names (no instance or namespace in them)",
        );
    }
    if g.dynamic_interfaces != DynamicInterfaces::Off {
        push(
            "dynamic_interfaces",
            GLOBAL,
            None,
            "interfaces are not watched; a configured interface missing at startup is fatal",
        );
    }
    for key in g.extra.keys() {
        let keyword = match key.as_str() {
            "vrrp_garp_extra_if" => "vrrp_garp_extra_if",
            _ => "global_defs keyword",
        };
        push(
            keyword,
            key,
            None,
            "no extra announcements are sent on other interfaces",
        );
    }
    for i in &c.instances {
        let who = format!("instance {}", i.name);
        let at = Some(&i.span);
        if i.use_vmac.is_some() {
            push(
                "use_vmac",
                &who,
                at,
                "no VMAC interface is created; adverts and announcements use the interface MAC",
            );
        }
        if i.vmac_xmit_base {
            push("vmac_xmit_base", &who, at, "no VMAC interface is created");
        }
        if i.use_ipvlan.is_some() {
            push(
                "use_ipvlan",
                &who,
                at,
                "no ipvlan interface is created; the interface itself is used",
            );
        }
        if i.old_unicast_checksum == OldUnicastChecksum::Always {
            push(
                "old_unicast_checksum",
                &who,
                at,
                "adverts are sent with the current VRRPv3 unicast checksum",
            );
        }
        if !i.virtual_routes.is_empty() {
            push("virtual_routes", &who, at, "routes are not installed");
        }
        if !i.virtual_rules.is_empty() {
            push("virtual_rules", &who, at, "rules are not installed");
        }
        if !i.accept {
            push(
                "no_accept",
                &who,
                at,
                "no firewall rules are installed: a master that does not own its VIPs accepts traffic to them, as with accept",
            );
        }
        if i.priority == OWNER_PRIORITY && !i.owner_ignore_adverts {
            push(
                "owner_ignore_adverts",
                &who,
                at,
                "off is not honoured: vrrpd's address owner (priority 255) always ignores adverts, as with owner_ignore_adverts on; keepalived's would answer a lower-priority advert at once",
            );
        }
        if i.unicast_fault_no_peer {
            push(
                "unicast_fault_no_peer",
                &who,
                at,
                "an instance without a unicast peer is not put in FAULT",
            );
        }
        if i.track_src_ip {
            push(
                "track_src_ip",
                &who,
                at,
                "the source address is not tracked; its removal does not put the instance in FAULT",
            );
        }
        if i.promote_secondaries {
            push(
                "promote_secondaries",
                &who,
                at,
                "promote_secondaries is not set on the interface",
            );
        }
        if i.kernel_rx_buf_size.is_some() {
            push(
                "kernel_rx_buf_size",
                &who,
                at,
                "the VRRP socket keeps the kernel's default receive buffer",
            );
        }
        for v in i.vips.iter().chain(&i.excluded_vips) {
            for o in v
                .options
                .iter()
                .filter(|o| !crate::netlink::option_applied(o))
            {
                push(
                    "virtual_ipaddress option",
                    &format!("{} {o}", v.addr),
                    Some(&v.span),
                    "this address option is not applied",
                );
            }
        }
    }
    out
}

/// `-t`: the front end's diagnostics and one warning per [`not_acted_on`] entry (global ones at
/// `path:1:1`).
pub fn test_diagnostics(path: &Path) -> (bool, Diagnostics) {
    let mut loaded = load(path);
    if let Some(c) = &loaded.config {
        let file = Span::file_start(path);
        for n in not_acted_on(c) {
            loaded
                .diagnostics
                .warning(n.span.as_ref().unwrap_or(&file), n.to_string());
        }
    }
    (loaded.is_valid(), loaded.diagnostics)
}

/// `-t`: writes every diagnostic to `out` (stderr, or `-t=LOG_FILE`) and returns whether the
/// file is valid.
pub fn config_test(path: &Path, out: &mut dyn std::io::Write) -> std::io::Result<bool> {
    let (valid, diagnostics) = test_diagnostics(path);
    write!(out, "{diagnostics}")?;
    out.flush()?;
    Ok(valid)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> VrrpConfig {
        let (cfg, d) = lbcore::config::keepalived::parse_str(text, Path::new("t.conf"));
        assert!(!d.has_errors(), "{d}");
        cfg.unwrap_or_else(|| panic!("{d}"))
    }

    const EVERYTHING: &str = r#"global_defs {
    notify_fifo /run/k.fifo
    vrrp_notify_fifo /run/kv.fifo
    notify_fifo_script /bin/true
    script_user nobody
    enable_script_security
    vrrp_garp_extra_if 5
    instance lb1
    use_pid_dir
    vrrp_delay_after_boot 30
    dynamic_interfaces
    state_dump_file /tmp/state
    stats_dump_file /tmp/stats
    json_dump_file /tmp/json
    data_use_instance
}
track_file tf {
    file /run/tf
}
vrrp_script chk {
    script "/bin/true"
}
vrrp_track_process proc {
    process haproxy
}
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    priority 100
    virtual_ipaddress {
        192.0.2.100 use_vmac
    }
    virtual_routes {
        192.0.2.0/24 via 192.0.2.1
    }
    virtual_rules {
        from 192.0.2.100 table 100
    }
    track_script {
        chk
    }
    track_process {
        proc
    }
    track_interface {
        eth1
    }
    track_file {
        tf
    }
    use_ipvlan
    old_unicast_checksum
    dont_track_primary
    notify_master /bin/true
    notify_backup /bin/true
    notify_fault /bin/true
    notify_stop /bin/true
    notify /bin/true
    notify_master_rx_lower_pri /bin/true
    smtp_alert
    notify_priority_changes
    use_vmac
    no_accept
    unicast_fault_no_peer
    track_src_ip
    promote_secondaries
    kernel_rx_buf_size 65536
}
vrrp_sync_group G {
    group {
        VI_1
    }
    notify_master /bin/true
    notify_priority_changes
}
"#;

    #[test]
    fn every_unused_setting_is_listed_once_with_its_position() {
        let list = not_acted_on(&parse(EVERYTHING));
        let keywords: Vec<&str> = list.iter().map(|n| n.keyword).collect();
        for k in [
            "vrrp_garp_extra_if",
            "use_vmac",
            "virtual_routes",
            "virtual_rules",
            "no_accept",
            "unicast_fault_no_peer",
            "track_src_ip",
            "promote_secondaries",
            "kernel_rx_buf_size",
            "virtual_ipaddress option",
            "instance",
            "use_pid_dir",
            "vrrp_delay_after_boot",
            "dynamic_interfaces",
            "data_use_instance",
            "use_ipvlan",
            "old_unicast_checksum",
        ] {
            assert!(keywords.contains(&k), "{k} missing from {keywords:?}");
        }
        // Acted on since the tracking and notification work: not listed.
        for k in [
            "notify_fifo",
            "vrrp_notify_fifo",
            "notify_fifo_script",
            "script_user",
            "enable_script_security",
            "vrrp_script",
            "vrrp_track_process",
            "track_script",
            "track_process",
            "track_interface",
            "track_file",
            "dont_track_primary",
            "notify_master",
            "notify",
            "smtp_alert",
            "notify_master_rx_lower_pri",
            "notify_priority_changes",
            "vrrp_sync_group",
            "state_dump_file",
            "json_dump_file",
        ] {
            assert!(!keywords.contains(&k), "{k} listed: {keywords:?}");
        }
        // use_vmac once, not once per place that warns.
        assert_eq!(keywords.iter().filter(|k| **k == "use_vmac").count(), 1);
        let at = |k: &str| {
            list.iter()
                .find(|n| n.keyword == k)
                .and_then(|n| n.span.clone())
                .map(|s| (s.line, s.col))
        };
        assert_eq!(at("virtual_ipaddress option"), Some((31, 9)));
        assert_eq!(at("use_pid_dir"), None);
        let opt = list
            .iter()
            .find(|n| n.keyword == "virtual_ipaddress option")
            .expect("option");
        assert_eq!(opt.subject, "192.0.2.100 use_vmac");
    }

    #[test]
    fn an_owner_is_reported_unless_owner_ignore_adverts_is_on() {
        let owner = |extra: &str| {
            not_acted_on(&parse(&format!(
                "vrrp_instance VI_1 {{\n    interface eth0\n    virtual_router_id 51\n    priority 255\n{extra}    virtual_ipaddress {{\n        192.0.2.100\n    }}\n}}\n"
            )))
        };
        let list = owner("");
        assert_eq!(list.len(), 1, "{list:#?}");
        assert_eq!(list[0].keyword, "owner_ignore_adverts");
        assert!(owner("    owner_ignore_adverts\n").is_empty());
    }

    #[test]
    fn a_plain_instance_has_nothing_to_report() {
        let list = not_acted_on(&parse(
            "vrrp_instance VI_1 {\n    interface eth0\n    virtual_router_id 51\n    virtual_ipaddress {\n        192.0.2.100\n    }\n}\n",
        ));
        assert!(list.is_empty(), "{list:#?}");
    }

    #[test]
    fn config_test_prints_the_list_at_positions() {
        let path = std::env::temp_dir().join(format!("vrrpd-t-{}.conf", std::process::id()));
        std::fs::write(&path, EVERYTHING).expect("write");
        let (valid, d) = test_diagnostics(&path);
        let _ = std::fs::remove_file(&path);
        assert!(valid, "{d}");
        let text = d.to_string();
        assert!(
            text.contains(&format!(
                "{}:31:9: warning: virtual_ipaddress option (192.0.2.100 use_vmac) is parsed but not acted on",
                path.display()
            )),
            "{text}"
        );
        assert!(
            text.contains(&format!(
                "{}:1:1: warning: use_pid_dir (global_defs) is parsed but not acted on",
                path.display()
            )),
            "{text}"
        );
    }
}
