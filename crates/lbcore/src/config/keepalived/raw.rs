//! The keyword-level form of a vrrpd configuration: what was written, keyword by keyword, each value
//! with the [`Span`] it was written at, before any default, range check or cross-reference.
//!
//! Owns: the structures both front ends fill (the keepalived.conf interpreter in
//! [`super::parser`] and the YAML front end in [`crate::config::vrrp_yaml`], whose keys mirror the
//! keepalived keywords) and that [`super::validate`] turns into a [`crate::config::vrrp::VrrpConfig`].
//! Must not: check ranges, apply defaults or resolve names (that is validation's job, done once
//! for both dialects).

use crate::diag::Span;

/// A value and where it was written.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Sp<T> {
    /// The value.
    pub v: T,
    /// Where it was written.
    pub span: Span,
}

impl<T> Sp<T> {
    /// Wraps `v` written at `span`.
    pub(crate) fn new(v: T, span: Span) -> Self {
        Self { v, span }
    }
}

/// `username [groupname]` after a command, or in `script_user` / `user`.
pub(crate) type RawUser = (Sp<String>, Option<Sp<String>>);

/// A command as written: one command line to split the keepalived way, or an argv list (YAML).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum RawCmdLine {
    /// A command line, split on unquoted blanks (`'...'` groups, shell-like escapes).
    Line(String),
    /// Already split.
    Argv(Vec<String>),
}

/// A command with its optional user.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RawCommand {
    /// The command.
    pub cmd: Sp<RawCmdLine>,
    /// The user (and group) to run it as.
    pub user: Option<RawUser>,
}

/// The `notify*` keywords of an instance or sync group.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct RawNotify {
    pub master: Option<RawCommand>,
    pub backup: Option<RawCommand>,
    pub fault: Option<RawCommand>,
    pub stop: Option<RawCommand>,
    pub deleted: Option<RawCommand>,
    /// `notify_deleted` was given (with or without a command).
    pub deleted_flag: bool,
    pub master_rx_lower_pri: Option<RawCommand>,
    pub generic: Option<RawCommand>,
}

/// `NAME [weight N [reverse|noreverse]]` in a `track_*` block.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RawTrackRef {
    pub name: Sp<String>,
    pub weight: Option<Sp<i64>>,
    pub reverse: bool,
}

/// The `garp_*` settings (global `vrrp_garp_*` or per instance).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct RawGarp {
    pub master_delay: Option<Sp<f64>>,
    pub master_repeat: Option<Sp<i64>>,
    pub master_refresh: Option<Sp<f64>>,
    pub master_refresh_repeat: Option<Sp<i64>>,
    pub lower_prio_delay: Option<Sp<f64>>,
    pub lower_prio_repeat: Option<Sp<i64>>,
}

/// A FIFO path and its optional owner.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RawFifo {
    pub path: Sp<String>,
    pub owner: Option<RawUser>,
}

/// `global_defs`.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct RawGlobal {
    pub router_id: Option<Sp<String>>,
    pub notification_email: Vec<Sp<String>>,
    pub notification_email_from: Option<Sp<String>>,
    /// Host and optional port.
    pub smtp_server: Option<(Sp<String>, Option<Sp<i64>>)>,
    pub smtp_helo_name: Option<Sp<String>>,
    pub smtp_connect_timeout: Option<Sp<f64>>,
    pub smtp_alert: Option<Sp<bool>>,
    pub smtp_alert_vrrp: Option<Sp<bool>>,
    pub no_email_faults: Option<Sp<bool>>,
    pub script_user: Option<RawUser>,
    pub enable_script_security: Option<Sp<bool>>,
    pub vrrp_version: Option<Sp<i64>>,
    pub vrrp_strict: Option<Sp<bool>>,
    pub mcast_group4: Option<Sp<String>>,
    pub mcast_group6: Option<Sp<String>>,
    pub garp: RawGarp,
    pub min_garp: Option<Sp<bool>>,
    pub garp_interval: Option<Sp<f64>>,
    pub gna_interval: Option<Sp<f64>>,
    pub down_timer_adverts: Option<Sp<i64>>,
    pub lower_prio_no_advert: Option<Sp<bool>>,
    pub higher_prio_send_advert: Option<Sp<bool>>,
    pub v3_checksum_as_v2: Option<Sp<bool>>,
    pub skip_check_adv_addr: Option<Sp<bool>>,
    pub check_unicast_src: Option<Sp<bool>>,
    pub startup_delay: Option<Sp<f64>>,
    pub notify_fifo: Option<RawFifo>,
    pub notify_fifo_script: Option<RawCommand>,
    pub vrrp_notify_fifo: Option<RawFifo>,
    pub vrrp_notify_fifo_script: Option<RawCommand>,
    pub notify_priority_changes: Option<Sp<bool>>,
    pub default_interface: Option<Sp<String>>,
    /// `net_namespace NAME` (top level or `global_defs`).
    pub net_namespace: Option<Sp<String>>,
    /// `instance NAME` (top level or `global_defs`).
    pub instance: Option<Sp<String>>,
    /// `use_pid_dir` (top level or `global_defs`).
    pub use_pid_dir: Option<Sp<bool>>,
    pub delay_after_boot: Option<Sp<f64>>,
    /// `dynamic_interfaces [OPTION]` (the option word, if any; validation checks it).
    pub dynamic_interfaces: Option<Sp<Option<String>>>,
    pub state_dump_file: Option<Sp<String>>,
    pub stats_dump_file: Option<Sp<String>>,
    pub json_dump_file: Option<Sp<String>>,
    pub data_use_instance: Option<Sp<bool>>,
    /// Keywords kept verbatim for a later issue (`vrrp_garp_extra_if`).
    pub extra: Vec<(Sp<String>, Vec<String>)>,
}

/// `vrrp_script NAME { ... }`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RawScript {
    pub name: Sp<String>,
    pub script: Option<RawCommand>,
    pub interval: Option<Sp<f64>>,
    pub timeout: Option<Sp<f64>>,
    pub weight: Option<Sp<i64>>,
    pub reverse: bool,
    pub rise: Option<Sp<i64>>,
    pub fall: Option<Sp<i64>>,
    pub user: Option<RawUser>,
    pub init_fail: Option<Sp<bool>>,
}

/// `vrrp_track_process NAME { ... }`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RawTrackProcess {
    pub name: Sp<String>,
    pub process: Option<Sp<Vec<String>>>,
    pub param_match: Option<Sp<String>>,
    pub full_command: Option<Sp<bool>>,
    pub weight: Option<Sp<i64>>,
    pub reverse: bool,
    pub quorum: Option<Sp<i64>>,
    pub quorum_max: Option<Sp<i64>>,
    pub delay: Option<Sp<f64>>,
    pub fork_delay: Option<Sp<f64>>,
    pub terminate_delay: Option<Sp<f64>>,
}

/// `init_file [VALUE] [overwrite]` of a track file.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RawInitFile {
    /// The `init_file` keyword.
    pub span: Span,
    pub value: Option<Sp<i64>>,
    pub overwrite: bool,
}

/// `track_file NAME { ... }` / `vrrp_track_file NAME { ... }`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RawTrackFile {
    pub name: Sp<String>,
    pub file: Option<Sp<String>>,
    pub weight: Option<Sp<i64>>,
    pub reverse: bool,
    pub init_file: Option<RawInitFile>,
}

/// `track_proxyd NAME { ... }` (vrrpd's own block).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RawTrackProxyd {
    pub name: Sp<String>,
    pub pid_file: Option<Sp<String>>,
    pub liveness_socket: Option<Sp<String>>,
    pub require_serving: Option<Sp<bool>>,
    pub interval: Option<Sp<f64>>,
    pub timeout: Option<Sp<f64>>,
    pub weight: Option<Sp<i64>>,
    pub reverse: bool,
}

impl RawTrackProxyd {
    /// A block with nothing set but its name.
    pub(crate) fn new(name: Sp<String>) -> Self {
        Self {
            name,
            pid_file: None,
            liveness_socket: None,
            require_serving: None,
            interval: None,
            timeout: None,
            weight: None,
            reverse: false,
        }
    }
}

/// `unicast_peer` entry.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RawPeer {
    pub addr: Sp<String>,
    pub min_ttl: Option<Sp<i64>>,
    pub max_ttl: Option<Sp<i64>>,
}

/// `state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RawState {
    Master,
    Backup,
}

/// `auth_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RawAuthType {
    Pass,
    Ah,
}

/// `authentication { ... }`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RawAuth {
    /// The `authentication` keyword.
    pub span: Span,
    pub auth_type: Option<Sp<RawAuthType>>,
    pub auth_pass: Option<Sp<String>>,
}

/// `vrrp_instance NAME { ... }`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RawInstance {
    pub name: Sp<String>,
    pub state: Option<Sp<RawState>>,
    pub interface: Option<Sp<String>>,
    pub vrid: Option<Sp<i64>>,
    pub priority: Option<Sp<i64>>,
    pub advert_int: Option<Sp<f64>>,
    pub version: Option<Sp<i64>>,
    pub native_ipv6: Option<Span>,
    /// `preempt` (true) / `nopreempt` (false), the last one written.
    pub preempt: Option<Sp<bool>>,
    pub preempt_delay: Option<Sp<f64>>,
    pub auth: Option<RawAuth>,
    /// One entry per address line, split into words.
    pub vips: Vec<Vec<Sp<String>>>,
    pub excluded_vips: Vec<Vec<Sp<String>>>,
    pub virtual_routes: Vec<Sp<String>>,
    pub virtual_rules: Vec<Sp<String>>,
    pub track_script: Vec<RawTrackRef>,
    pub track_interface: Vec<RawTrackRef>,
    pub track_process: Vec<RawTrackRef>,
    pub track_file: Vec<RawTrackRef>,
    pub track_proxyd: Vec<RawTrackRef>,
    pub dont_track_primary: Option<Sp<bool>>,
    pub src_ip: Option<Sp<String>>,
    pub track_src_ip: Option<Sp<bool>>,
    /// The `unicast_peer` keyword (present even when the block is empty).
    pub unicast_peer_span: Option<Span>,
    pub unicast_peers: Vec<RawPeer>,
    pub unicast_ttl: Option<Sp<i64>>,
    pub unicast_fault_no_peer: Option<Sp<bool>>,
    pub check_unicast_src: Option<Sp<bool>>,
    pub accept: Option<Sp<bool>>,
    pub garp: RawGarp,
    pub lower_prio_no_advert: Option<Sp<bool>>,
    pub higher_prio_send_advert: Option<Sp<bool>>,
    pub down_timer_adverts: Option<Sp<i64>>,
    pub v3_checksum_as_v2: Option<Sp<bool>>,
    pub skip_check_adv_addr: Option<Sp<bool>>,
    pub strict_mode: Option<Sp<bool>>,
    pub owner_ignore_adverts: Option<Sp<bool>>,
    pub promote_secondaries: Option<Sp<bool>>,
    pub kernel_rx_buf_size: Option<Sp<i64>>,
    pub use_vmac: Option<Sp<Vec<String>>>,
    pub vmac_xmit_base: Option<Sp<bool>>,
    pub use_ipvlan: Option<Sp<Vec<String>>>,
    /// `old_unicast_checksum [OPTION]` (the option word, if any; validation checks it).
    pub old_unicast_checksum: Option<Sp<Option<String>>>,
    pub notify: RawNotify,
    pub smtp_alert: Option<Sp<bool>>,
    pub notify_priority_changes: Option<Sp<bool>>,
}

impl RawInstance {
    /// An instance with nothing set but its name.
    pub(crate) fn new(name: Sp<String>) -> Self {
        Self {
            name,
            state: None,
            interface: None,
            vrid: None,
            priority: None,
            advert_int: None,
            version: None,
            native_ipv6: None,
            preempt: None,
            preempt_delay: None,
            auth: None,
            vips: Vec::new(),
            excluded_vips: Vec::new(),
            virtual_routes: Vec::new(),
            virtual_rules: Vec::new(),
            track_script: Vec::new(),
            track_interface: Vec::new(),
            track_process: Vec::new(),
            track_file: Vec::new(),
            track_proxyd: Vec::new(),
            dont_track_primary: None,
            src_ip: None,
            track_src_ip: None,
            unicast_peer_span: None,
            unicast_peers: Vec::new(),
            unicast_ttl: None,
            unicast_fault_no_peer: None,
            check_unicast_src: None,
            accept: None,
            garp: RawGarp::default(),
            lower_prio_no_advert: None,
            higher_prio_send_advert: None,
            down_timer_adverts: None,
            v3_checksum_as_v2: None,
            skip_check_adv_addr: None,
            strict_mode: None,
            owner_ignore_adverts: None,
            promote_secondaries: None,
            kernel_rx_buf_size: None,
            use_vmac: None,
            vmac_xmit_base: None,
            use_ipvlan: None,
            old_unicast_checksum: None,
            notify: RawNotify::default(),
            smtp_alert: None,
            notify_priority_changes: None,
        }
    }
}

/// `vrrp_sync_group NAME { ... }`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RawSyncGroup {
    pub name: Sp<String>,
    pub group: Vec<Sp<String>>,
    pub track_script: Vec<RawTrackRef>,
    pub track_interface: Vec<RawTrackRef>,
    pub track_process: Vec<RawTrackRef>,
    pub track_file: Vec<RawTrackRef>,
    pub track_proxyd: Vec<RawTrackRef>,
    pub notify: RawNotify,
    pub smtp_alert: Option<Sp<bool>>,
    pub tracking_weight: Option<Sp<bool>>,
    pub notify_priority_changes: Option<Sp<bool>>,
}

/// A whole configuration, keyword by keyword.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RawConfig {
    /// Where whole-file problems are reported (1:1 of the main file).
    pub file: Span,
    pub global: RawGlobal,
    pub scripts: Vec<RawScript>,
    pub track_processes: Vec<RawTrackProcess>,
    pub track_files: Vec<RawTrackFile>,
    pub track_proxyds: Vec<RawTrackProxyd>,
    pub instances: Vec<RawInstance>,
    pub sync_groups: Vec<RawSyncGroup>,
}

impl RawConfig {
    /// An empty configuration read from the file `file` points into.
    pub(crate) fn new(file: Span) -> Self {
        Self {
            file,
            global: RawGlobal::default(),
            scripts: Vec::new(),
            track_processes: Vec::new(),
            track_files: Vec::new(),
            track_proxyds: Vec::new(),
            instances: Vec::new(),
            sync_groups: Vec::new(),
        }
    }
}
