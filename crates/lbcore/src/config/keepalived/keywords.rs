//! Keyword tables of keepalived.conf, per block: the keywords vrrpd reads, and the keywords
//! keepalived 2.2.7 accepts there that vrrpd does not implement (warned about and skipped).
//!
//! Owns: the lists used for "unknown keyword" decisions and did-you-mean hints. The "ignored" lists
//! were measured, not guessed: every word of the keepalived 2.2.7 binary's strings and of its
//! keepalived.conf(5) page was put in each block and kept when `keepalived -t` did not answer
//! "Unknown keyword" (plus a few upstream-only keywords from reference §1.2/§1.5). Must not: hold
//! parsing logic.

/// One block's keyword table.
#[derive(Debug)]
pub(crate) struct Table {
    /// How the block is named in messages.
    pub name: &'static str,
    /// Keywords vrrpd reads.
    pub known: &'static [&'static str],
    /// Valid keepalived keywords that vrrpd warns about and ignores.
    pub ignored: &'static [&'static str],
}

/// Top level.
pub(crate) const TOP: Table = Table {
    name: "the top level",
    known: &[
        "global_defs",
        "vrrp_script",
        "vrrp_track_process",
        "vrrp_instance",
        "vrrp_sync_group",
        "track_file",
        "vrrp_track_file",
        "track_proxyd",
        "net_namespace",
        "instance",
        "use_pid_dir",
    ],
    ignored: &[
        "SSL",
        "bfd_instance",
        "child_wait_time",
        "garp_group",
        "interface_up_down_delays",
        "linkbeat_interfaces",
        "linkbeat_use_polling",
        "namespace_with_ipsets",
        "net_namespace_ipvs",
        "static_ipaddress",
        "static_routes",
        "static_rules",
        "track_group",
        "virtual_server",
        "virtual_server_group",
    ],
};

/// `global_defs`.
pub(crate) const GLOBAL: Table = Table {
    name: "global_defs",
    known: &[
        "router_id",
        "notification_email",
        "notification_email_from",
        "smtp_server",
        "smtp_helo_name",
        "smtp_connect_timeout",
        "smtp_alert",
        "smtp_alert_vrrp",
        "no_email_faults",
        "script_user",
        "enable_script_security",
        "vrrp_version",
        "vrrp_strict",
        "vrrp_mcast_group4",
        "vrrp_mcast_group6",
        "vrrp_garp_master_delay",
        "vrrp_garp_master_repeat",
        "vrrp_garp_master_refresh",
        "vrrp_garp_master_refresh_repeat",
        "vrrp_garp_lower_prio_delay",
        "vrrp_garp_lower_prio_repeat",
        "vrrp_garp_interval",
        "vrrp_gna_interval",
        "vrrp_min_garp",
        "vrrp_garp_extra_if",
        "vrrp_down_timer_adverts",
        "vrrp_lower_prio_no_advert",
        "vrrp_higher_prio_send_advert",
        "v3_checksum_as_v2",
        "vrrp_skip_check_adv_addr",
        "vrrp_check_unicast_src",
        "vrrp_startup_delay",
        "notify_fifo",
        "notify_fifo_script",
        "vrrp_notify_fifo",
        "vrrp_notify_fifo_script",
        "vrrp_notify_priority_changes",
        "default_interface",
        "include_check",
        "net_namespace",
        "instance",
        "use_pid_dir",
        "vrrp_delay_after_boot",
        "dynamic_interfaces",
        "state_dump_file",
        "stats_dump_file",
        "json_dump_file",
        "data_use_instance",
        // Scheduling knobs: read, and warned about as having no effect (see `SCHEDULING`).
        "max_auto_priority",
        "min_auto_priority_delay",
        "vrrp_rt_priority",
        "vrrp_priority",
        "vrrp_no_swap",
        "vrrp_cpu_affinity",
        "vrrp_rlimit_rtime",
        "vrrp_rlimit_rttime",
    ],
    ignored: GLOBAL_IGNORED,
};

/// The `global_defs` keywords that tune the scheduling of keepalived's VRRP process.
pub(crate) const SCHEDULING: &[&str] = &[
    "max_auto_priority",
    "min_auto_priority_delay",
    "vrrp_rt_priority",
    "vrrp_priority",
    "vrrp_no_swap",
    "vrrp_cpu_affinity",
    "vrrp_rlimit_rtime",
    "vrrp_rlimit_rttime",
];

/// `track_file NAME` / `vrrp_track_file NAME`.
pub(crate) const TRACK_FILE: Table = Table {
    name: "track_file",
    known: &["file", "weight", "init_file"],
    ignored: &[],
};

/// `track_proxyd NAME` (vrrpd's own block, DESIGN §1).
pub(crate) const TRACK_PROXYD: Table = Table {
    name: "track_proxyd",
    known: &[
        "pid_file",
        "liveness_socket",
        "require_serving",
        "interval",
        "timeout",
        "weight",
    ],
    ignored: &[],
};

/// `vrrp_script NAME`.
pub(crate) const SCRIPT: Table = Table {
    name: "vrrp_script",
    known: &[
        "script",
        "interval",
        "timeout",
        "weight",
        "rise",
        "fall",
        "user",
        "init_fail",
    ],
    ignored: SCRIPT_IGNORED,
};

/// `vrrp_track_process NAME`.
pub(crate) const TRACK_PROCESS: Table = Table {
    name: "vrrp_track_process",
    known: &[
        "process",
        "param_match",
        "full_command",
        "weight",
        "quorum",
        "quorum_max",
        "delay",
        "fork_delay",
        "terminate_delay",
    ],
    ignored: TRACK_PROCESS_IGNORED,
};

/// `vrrp_instance NAME`.
pub(crate) const INSTANCE: Table = Table {
    name: "vrrp_instance",
    known: &[
        "state",
        "interface",
        "virtual_router_id",
        "priority",
        "advert_int",
        "version",
        "native_ipv6",
        "nopreempt",
        "preempt",
        "preempt_delay",
        "authentication",
        "virtual_ipaddress",
        "virtual_ipaddress_excluded",
        "virtual_routes",
        "virtual_rules",
        "track_script",
        "track_interface",
        "track_process",
        "track_file",
        "track_proxyd",
        "dont_track_primary",
        "mcast_src_ip",
        "unicast_src_ip",
        "track_src_ip",
        "unicast_peer",
        "unicast_ttl",
        "unicast_fault_no_peer",
        "check_unicast_src",
        "accept",
        "no_accept",
        "garp_master_delay",
        "garp_master_repeat",
        "garp_master_refresh",
        "garp_master_refresh_repeat",
        "garp_lower_prio_delay",
        "garp_lower_prio_repeat",
        "lower_prio_no_advert",
        "higher_prio_send_advert",
        "down_timer_adverts",
        "v3_checksum_as_v2",
        "skip_check_adv_addr",
        "strict_mode",
        "owner_ignore_adverts",
        "promote_secondaries",
        "kernel_rx_buf_size",
        "use_vmac",
        "vmac_xmit_base",
        "use_ipvlan",
        "old_unicast_checksum",
        "notify_master",
        "notify_backup",
        "notify_fault",
        "notify_stop",
        "notify_deleted",
        "notify_master_rx_lower_pri",
        "notify",
        "smtp_alert",
        "notify_priority_changes",
    ],
    ignored: INSTANCE_IGNORED,
};

/// `authentication` inside an instance.
pub(crate) const AUTH: Table = Table {
    name: "authentication",
    known: &["auth_type", "auth_pass"],
    ignored: &[],
};

/// `vrrp_sync_group NAME`.
pub(crate) const SYNC_GROUP: Table = Table {
    name: "vrrp_sync_group",
    known: &[
        "group",
        "track_script",
        "track_interface",
        "track_process",
        "track_file",
        "track_proxyd",
        "notify_master",
        "notify_backup",
        "notify_fault",
        "notify_stop",
        "notify_deleted",
        "notify",
        "smtp_alert",
        "sync_group_tracking_weight",
        "global_tracking",
        "notify_priority_changes",
    ],
    ignored: SYNC_GROUP_IGNORED,
};

const GLOBAL_IGNORED: &[&str] = &[
    "bfd_cpu_affinity",
    "bfd_no_swap",
    "bfd_priority",
    "bfd_process_name",
    "bfd_rlimit_rtime",
    "bfd_rlimit_rttime",
    "bfd_rt_priority",
    "checker_cpu_affinity",
    "checker_log_all_failures",
    "checker_no_swap",
    "checker_priority",
    "checker_process_name",
    "checker_rlimit_rtime",
    "checker_rlimit_rttime",
    "checker_rt_priority",
    "child_wait_time",
    "config_save_dir",
    "dbus_service_name",
    "disable_local_igmp",
    "enable_dbus",
    "enable_snmp_checker",
    "enable_snmp_keepalived",
    "enable_snmp_rfc",
    "enable_snmp_rfcv2",
    "enable_snmp_rfcv3",
    "enable_snmp_vrrp",
    "enable_traps",
    "fifo_write_vrrp_states_on_reload",
    "linkbeat_use_polling",
    "log_unknown_vrids",
    "lvs_flush",
    "lvs_flush_on_stop",
    "lvs_flush_onstop",
    "lvs_netlink_cmd_rcv_bufs",
    "lvs_netlink_cmd_rcv_bufs_force",
    "lvs_netlink_monitor_rcv_bufs",
    "lvs_netlink_monitor_rcv_bufs_force",
    "lvs_notify_fifo",
    "lvs_notify_fifo_script",
    "lvs_process_name",
    "lvs_sync_daemon",
    "lvs_timeouts",
    "namespace_with_ipsets",
    "net_namespace_ipvs",
    "nftables",
    "nftables_counters",
    "nftables_ifindex",
    "nftables_ipvs",
    "nftables_ipvs_priority",
    "nftables_ipvs_start_fwmark",
    "nftables_priority",
    "no_checker_emails",
    "process_monitor_rcv_bufs",
    "process_monitor_rcv_bufs_force",
    "process_name",
    "process_names",
    "random_seed",
    "reload_check_config",
    "reload_file",
    "reload_repeat",
    "reload_time_file",
    "rs_init_notifies",
    "shutdown_script",
    "shutdown_script_timeout",
    "smtp_alert_checker",
    "snmp_socket",
    "startup_script",
    "startup_script_timeout",
    "tmp_config_directory",
    "umask",
    "vmac_addr_prefix",
    "vmac_prefix",
    "vrrp_iptables",
    "vrrp_netlink_cmd_rcv_bufs",
    "vrrp_netlink_cmd_rcv_bufs_force",
    "vrrp_netlink_monitor_rcv_bufs",
    "vrrp_netlink_monitor_rcv_bufs_force",
    "vrrp_process_name",
    "vrrp_rx_bufs_multiplier",
    "vrrp_rx_bufs_policy",
    "vrrp_vmac_garp_intvl",
];
const SCRIPT_IGNORED: &[&str] = &[];
const TRACK_PROCESS_IGNORED: &[&str] = &[];
const INSTANCE_IGNORED: &[&str] = &[
    "auth_hmac",
    "debug",
    "garp_extra_if",
    "linkbeat_use_polling",
    "lvs_sync_daemon_interface",
    "mcast_dst_ip",
    "track_bfd",
    "use_vmac_addr",
    "vrf",
];
const SYNC_GROUP_IGNORED: &[&str] = &["track_bfd"];

/// The feature family of an ignored keyword, for the warning ("LVS", "BFD", ...).
pub(crate) fn category(word: &str) -> Option<&'static str> {
    let w = word.to_ascii_lowercase();
    if w.starts_with("lvs_")
        || w.starts_with("checker_")
        || w.contains("virtual_server")
        || w.starts_with("real_server")
        || w.contains("ipvs")
        || w == "ssl"
        || w == "rs_init_notifies"
        || w == "no_checker_emails"
        || w == "smtp_alert_checker"
    {
        Some("LVS / checkers")
    } else if w.contains("bfd") {
        Some("BFD")
    } else if w.contains("snmp") || w == "enable_traps" {
        Some("SNMP")
    } else if w.contains("dbus") {
        Some("DBus")
    } else if w.contains("namespace") {
        Some("network namespaces")
    } else if w.starts_with("nftables") || w.contains("iptables") || w.contains("ipset") {
        Some("firewall")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Puts `kw 1` in the block a table describes.
    fn in_block(t: &Table, kw: &str) -> String {
        let line = format!("{kw} 1\n");
        match t.name {
            "the top level" => line,
            "global_defs" => format!("global_defs {{\n{line}}}\n"),
            "vrrp_script" => format!("vrrp_script s {{\n{line}}}\n"),
            "vrrp_track_process" => format!("vrrp_track_process p {{\n{line}}}\n"),
            "vrrp_instance" => format!("vrrp_instance i {{\n{line}}}\n"),
            "authentication" => format!("vrrp_instance i {{\nauthentication {{\n{line}}}\n}}\n"),
            "vrrp_sync_group" => format!("vrrp_sync_group g {{\n{line}}}\n"),
            "track_file" => format!("track_file f {{\n{line}}}\n"),
            "track_proxyd" => format!("track_proxyd p {{\n{line}}}\n"),
            other => panic!("no block for {other}"),
        }
    }

    #[test]
    fn every_table_keyword_is_handled_and_every_ignored_one_warns() {
        for t in [
            &TOP,
            &GLOBAL,
            &SCRIPT,
            &TRACK_PROCESS,
            &INSTANCE,
            &AUTH,
            &SYNC_GROUP,
            &TRACK_FILE,
            &TRACK_PROXYD,
        ] {
            for kw in t.known {
                let text = in_block(t, kw);
                let (_, d) = super::super::parse_str(&text, std::path::Path::new("t.conf"));
                assert!(
                    !d.to_string().contains("unknown keyword")
                        && !d.to_string().contains("not supported"),
                    "{kw} in {}: {d}",
                    t.name
                );
            }
            for kw in t.ignored {
                let text = in_block(t, kw);
                let (_, d) = super::super::parse_str(&text, std::path::Path::new("t.conf"));
                let want = format!("keepalived keyword '{kw}'");
                assert!(d.to_string().contains(&want), "{kw} in {}: {d}", t.name);
            }
        }
    }

    #[test]
    fn tables_do_not_overlap() {
        for t in [
            &TOP,
            &GLOBAL,
            &SCRIPT,
            &TRACK_PROCESS,
            &INSTANCE,
            &AUTH,
            &SYNC_GROUP,
            &TRACK_FILE,
            &TRACK_PROXYD,
        ] {
            for k in t.known {
                assert!(
                    !t.ignored.contains(k),
                    "{k} is both known and ignored in {}",
                    t.name
                );
            }
        }
    }
}
