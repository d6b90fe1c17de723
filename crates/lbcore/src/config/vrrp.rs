//! The validated domain model of vrrpd's configuration, whichever dialect it came from.
//!
//! Owns: the types the daemon consumes (durations, enums, checked ranges, defaults applied). Both
//! front ends ([`super::keepalived`], [`super::vrrp_yaml`]) produce a [`VrrpConfig`]; nothing here
//! parses text. Defaults are keepalived 2.2.7's (reference §1.2–1.7) and named as consts, with one
//! deliberate exception: [`DEFAULT_HIGHER_PRIO_SEND_ADVERT`] (split-brain hygiene, on).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::diag::Span;
use crate::vrrp::fsm::AddrListPolicy;
use crate::vrrp::packet::{AuthData, V3Ipv4Checksum, Version};

/// Default priority when none is configured and the state is not MASTER (`VRRP_PRIO_DFL`).
pub const DEFAULT_PRIORITY: u8 = 100;
/// Priority of the address owner.
pub const OWNER_PRIORITY: u8 = 255;
/// Default advertisement interval (`advert_int`).
pub const DEFAULT_ADVERT_INT: Duration = Duration::from_secs(1);
/// Default GARPs per VIP on becoming master (`vrrp_garp_master_repeat`).
pub const DEFAULT_GARP_MASTER_REPEAT: u32 = 5;
/// Default delay of the second GARP burst (`vrrp_garp_master_delay`).
pub const DEFAULT_GARP_MASTER_DELAY: Duration = Duration::from_secs(5);
/// Default GARPs per refresh (`vrrp_garp_master_refresh_repeat`).
pub const DEFAULT_GARP_REFRESH_REPEAT: u32 = 1;
/// Default `smtp_connect_timeout`.
pub const DEFAULT_SMTP_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// Default SMTP port.
pub const DEFAULT_SMTP_PORT: u16 = 25;
/// Default script interval (`vrrp_script interval`).
pub const DEFAULT_SCRIPT_INTERVAL: Duration = Duration::from_secs(1);
/// Default `down_timer_adverts`.
pub const DEFAULT_DOWN_TIMER_ADVERTS: u8 = 3;
/// Default of `vrrp_higher_prio_send_advert`: **on**, a deliberate difference from keepalived
/// (whose default is off). After a split brain heals, the lower-priority master yields silently
/// and the higher one never learns that it must re-announce, so clients keep a stale ARP entry
/// for the VIP (keepalived issues #14, #20, #160). With this on, the yielding master first sends
/// one advert at its own priority; the surviving master hears a lower-priority advert and answers
/// with gratuitous ARPs / unsolicited NAs (`garp_lower_prio_*`; RFC 9568 §6.4.3 re-advertise).
/// `vrrp_higher_prio_send_advert false` restores keepalived's behaviour; strict mode clears it.
pub const DEFAULT_HIGHER_PRIO_SEND_ADVERT: bool = true;
/// Default instance interface when none is given (`default_interface`).
pub const DEFAULT_INTERFACE: &str = "eth0";

/// The whole vrrpd configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct VrrpConfig {
    /// `global_defs`.
    pub global: GlobalDefs,
    /// `vrrp_script` blocks by name.
    pub scripts: BTreeMap<String, VrrpScript>,
    /// `vrrp_track_process` blocks by name.
    pub track_processes: BTreeMap<String, TrackProcess>,
    /// `track_file` / `vrrp_track_file` blocks by name.
    pub track_files: BTreeMap<String, TrackFile>,
    /// `track_proxyd` blocks by name (vrrpd's own keyword, DESIGN §1).
    pub track_proxyds: BTreeMap<String, TrackProxyd>,
    /// `vrrp_instance` blocks, in file order.
    pub instances: Vec<VrrpInstance>,
    /// `vrrp_sync_group` blocks, in file order.
    pub sync_groups: Vec<SyncGroup>,
}

/// `global_defs` (VRRP-relevant part).
#[derive(Debug, Clone, PartialEq)]
pub struct GlobalDefs {
    /// `router_id` (mail subject tag); `None` = local host name.
    pub router_id: Option<String>,
    /// `notification_email` recipients.
    pub notification_email: Vec<String>,
    /// `notification_email_from`; `None` = `keepalived@<host name>`.
    pub notification_email_from: Option<String>,
    /// `smtp_server` host or address and port.
    pub smtp_server: Option<(String, u16)>,
    /// `smtp_helo_name`; `None` = local host name.
    pub smtp_helo_name: Option<String>,
    /// `smtp_connect_timeout`.
    pub smtp_connect_timeout: Duration,
    /// `smtp_alert` / `smtp_alert_vrrp` default for instances.
    pub smtp_alert: Option<bool>,
    /// `no_email_faults`.
    pub no_email_faults: bool,
    /// `script_user USER [GROUP]`.
    pub script_user: Option<(String, Option<String>)>,
    /// `enable_script_security`.
    pub enable_script_security: bool,
    /// `vrrp_version` default for instances.
    pub vrrp_version: Version,
    /// `vrrp_strict`.
    pub vrrp_strict: bool,
    /// `vrrp_mcast_group4`.
    pub mcast_group4: std::net::Ipv4Addr,
    /// `vrrp_mcast_group6`.
    pub mcast_group6: std::net::Ipv6Addr,
    /// Global GARP defaults (`vrrp_garp_*`), inherited by instances.
    pub garp: GarpConfig,
    /// `vrrp_garp_interval`: spacing between GARPs on one interface.
    pub garp_interval: Duration,
    /// `vrrp_gna_interval`: spacing between unsolicited NAs on one interface.
    pub gna_interval: Duration,
    /// `vrrp_down_timer_adverts`.
    pub down_timer_adverts: u8,
    /// `vrrp_lower_prio_no_advert`.
    pub lower_prio_no_advert: bool,
    /// `vrrp_higher_prio_send_advert` (default [`DEFAULT_HIGHER_PRIO_SEND_ADVERT`], on).
    pub higher_prio_send_advert: bool,
    /// `v3_checksum_as_v2` (and our default sending form for VRRPv3 over IPv4).
    pub v3_ipv4_checksum: V3Ipv4Checksum,
    /// `vrrp_skip_check_adv_addr`.
    pub skip_check_adv_addr: bool,
    /// `vrrp_check_unicast_src`.
    pub check_unicast_src: bool,
    /// `vrrp_startup_delay`.
    pub startup_delay: Duration,
    /// `notify_fifo`: every notify event.
    pub notify_fifo: Option<NotifyFifo>,
    /// `vrrp_notify_fifo`: VRRP notify events (written in addition to `notify_fifo`).
    pub vrrp_notify_fifo: Option<NotifyFifo>,
    /// `notify_fifo_script`: run with the FIFO name appended, to read `notify_fifo`.
    pub notify_fifo_script: Option<Command>,
    /// `vrrp_notify_fifo_script`: run with the FIFO name appended, to read `vrrp_notify_fifo`.
    pub vrrp_notify_fifo_script: Option<Command>,
    /// `vrrp_notify_priority_changes`: default of the instances' `notify_priority_changes`.
    pub notify_priority_changes: bool,
    /// `default_interface`.
    pub default_interface: String,
    /// `net_namespace NAME` (kept; vrrpd runs in the namespace it is started in and warns).
    pub net_namespace: Option<String>,
    /// `instance NAME`: keepalived's instance name (pid and data file names), kept.
    pub instance_name: Option<String>,
    /// `use_pid_dir`: pid files under `/run/keepalived/`, kept.
    pub use_pid_dir: bool,
    /// `vrrp_delay_after_boot`: hold instances back until the system has been up this long, kept.
    pub delay_after_boot: Option<Duration>,
    /// `dynamic_interfaces [allow_if_changes]`, kept.
    pub dynamic_interfaces: DynamicInterfaces,
    /// `state_dump_file` (SIGUSR1 dump), kept.
    pub state_dump_file: Option<PathBuf>,
    /// `stats_dump_file` (SIGUSR2 dump), kept.
    pub stats_dump_file: Option<PathBuf>,
    /// `json_dump_file` (SIGJSON dump), kept.
    pub json_dump_file: Option<PathBuf>,
    /// `data_use_instance`: instance and namespace names in the dump file names, kept.
    pub data_use_instance: bool,
    /// `vrrp_garp_extra_if`, kept for a later issue.
    pub extra: BTreeMap<String, Vec<String>>,
}

/// `dynamic_interfaces` (interfaces may come and go while running).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DynamicInterfaces {
    /// Not set: interfaces are expected to exist at startup.
    #[default]
    Off,
    /// `dynamic_interfaces`.
    On,
    /// `dynamic_interfaces allow_if_changes`: an interface may also change identity.
    AllowIfChanges,
}

/// `old_unicast_checksum` (VRRPv3 unicast checksums of keepalived before 1.3.6, which put the
/// multicast group in the pseudo-header).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OldUnicastChecksum {
    /// Not set: keepalived switches to the old form when a peer sends it.
    #[default]
    Detect,
    /// `old_unicast_checksum`: send the old form.
    Always,
    /// `old_unicast_checksum never`: never use it.
    Never,
}

/// GARP / unsolicited NA settings (global or per instance).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GarpConfig {
    /// `garp_master_delay`.
    pub master_delay: Duration,
    /// `garp_master_repeat`.
    pub master_repeat: u32,
    /// `garp_master_refresh` (zero = off).
    pub master_refresh: Duration,
    /// `garp_master_refresh_repeat`.
    pub master_refresh_repeat: u32,
    /// `garp_lower_prio_delay` (`None` = same as master_delay).
    pub lower_prio_delay: Option<Duration>,
    /// `garp_lower_prio_repeat` (`None` = same as master_repeat).
    pub lower_prio_repeat: Option<u32>,
}

impl Default for GarpConfig {
    fn default() -> Self {
        Self {
            master_delay: DEFAULT_GARP_MASTER_DELAY,
            master_repeat: DEFAULT_GARP_MASTER_REPEAT,
            master_refresh: Duration::ZERO,
            master_refresh_repeat: DEFAULT_GARP_REFRESH_REPEAT,
            lower_prio_delay: None,
            lower_prio_repeat: None,
        }
    }
}

/// A notify FIFO and the user owning it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyFifo {
    /// FIFO path.
    pub path: PathBuf,
    /// Optional `user [group]`.
    pub owner: Option<(String, Option<String>)>,
}

/// A command line as keepalived splits it (first token = program, no shell), plus its user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// argv; `argv[0]` may be a bare name to be resolved on PATH.
    pub argv: Vec<String>,
    /// `username [groupname]` following the command.
    pub user: Option<(String, Option<String>)>,
    /// Where it was written (for runtime messages).
    pub span: Span,
}

/// Tracker weight with keepalived's sign and `reverse` semantics (reference §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Weight {
    /// −254..=254; 0 = the tracker failing puts the instance in FAULT.
    pub value: i16,
    /// `reverse`.
    pub reverse: bool,
}

/// `vrrp_script NAME { ... }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VrrpScript {
    /// Block name.
    pub name: String,
    /// `script`.
    pub command: Command,
    /// `interval` (default 1 s).
    pub interval: Duration,
    /// `timeout` (default = interval).
    pub timeout: Duration,
    /// `weight` (default 0).
    pub weight: Weight,
    /// `rise` (default 1).
    pub rise: u32,
    /// `fall` (default 1).
    pub fall: u32,
    /// `user USER [GROUP]`.
    pub user: Option<(String, Option<String>)>,
    /// `init_fail`.
    pub init_fail: bool,
    /// Where the block starts.
    pub span: Span,
}

/// `vrrp_track_process NAME { ... }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackProcess {
    /// Block name.
    pub name: String,
    /// `process NAME [args...]`.
    pub process: Vec<String>,
    /// `param_match initial|partial` (None = exact).
    pub param_match: Option<String>,
    /// `full_command`.
    pub full_command: bool,
    /// `weight`.
    pub weight: Weight,
    /// `quorum` (default 1).
    pub quorum: u32,
    /// `quorum_max`.
    pub quorum_max: Option<u32>,
    /// `delay` (applies to both fork and terminate when those are unset).
    pub delay: Duration,
    /// `fork_delay`.
    pub fork_delay: Option<Duration>,
    /// `terminate_delay`.
    pub terminate_delay: Option<Duration>,
    /// Where the block starts.
    pub span: Span,
}

/// `init_file [VALUE] [overwrite]` of a track file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InitFile {
    /// Value written (default 0).
    pub value: i32,
    /// Write it even if the file exists.
    pub overwrite: bool,
}

/// `track_file NAME { ... }` (`vrrp_track_file` is keepalived's deprecated synonym): a file
/// holding a number, multiplied by the weight and added to the priority (reference §2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackFile {
    /// Block name.
    pub name: String,
    /// `file`.
    pub file: PathBuf,
    /// `weight N [reverse]`: −254..=254, default 1; 0 = a non-zero value means FAULT.
    pub weight: Weight,
    /// `init_file`.
    pub init_file: Option<InitFile>,
    /// Where the block starts.
    pub span: Span,
}

/// Default `interval` of a `track_proxyd` block: each check is a `kill(pid, 0)` and, with
/// `require_serving`, one Unix-socket round trip, so once a second costs nothing.
pub const DEFAULT_PROXYD_INTERVAL: Duration = Duration::from_secs(1);

/// `track_proxyd NAME { ... }`: proxyd's liveness (DESIGN §1, docs/proxyd.md). vrrpd's own
/// keyword, not keepalived's. The pid in `pid_file` is checked with signal 0 every `interval`
/// and watched with a pidfd (its exit is seen at once); with `require_serving` proxyd must also
/// answer `serving` on `liveness_socket` within `timeout`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackProxyd {
    /// Block name.
    pub name: String,
    /// `pid_file` (default `lbcore::liveness::DEFAULT_PID_FILE`).
    pub pid_file: PathBuf,
    /// `liveness_socket` (default `lbcore::liveness::DEFAULT_SOCKET`).
    pub liveness_socket: PathBuf,
    /// `require_serving`: proxyd alive but not answering `serving` counts as down.
    pub require_serving: bool,
    /// `interval` (default [`DEFAULT_PROXYD_INTERVAL`]).
    pub interval: Duration,
    /// `timeout` of the liveness query (default half the interval; always below the interval).
    pub timeout: Duration,
    /// `weight N [reverse]`, −254..=254, default **0**: proxyd down puts the instance in FAULT,
    /// which sends a priority-0 advert so the peer takes over after Skew_Time (RFC 3768 §6.4.2).
    pub weight: Weight,
    /// Where the block starts.
    pub span: Span,
}

/// A reference from an instance or group to a tracker, with an optional weight override.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackRef {
    /// Name of the tracker (script, process, file) or interface.
    pub name: String,
    /// `weight N [reverse|noreverse]` override.
    pub weight: Option<Weight>,
    /// Where it is written.
    pub span: Span,
}

/// Address scope (`scope`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Scope {
    /// `global` (default).
    #[default]
    Global,
    /// `site`.
    Site,
    /// `link`.
    Link,
    /// `host`.
    Host,
    /// `nowhere`.
    Nowhere,
}

/// Broadcast setting (`brd`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Broadcast {
    /// No broadcast address (default, as keepalived).
    #[default]
    None,
    /// `brd +`: computed from the prefix.
    Auto,
    /// `brd ADDR`.
    Addr(std::net::Ipv4Addr),
}

/// One line of `virtual_ipaddress` / `virtual_ipaddress_excluded` (reference §1.6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualAddr {
    /// The address.
    pub addr: IpAddr,
    /// Prefix length (default 32 / 128).
    pub prefix_len: u8,
    /// `dev` (None = instance interface).
    pub dev: Option<String>,
    /// `brd`.
    pub broadcast: Broadcast,
    /// `scope`.
    pub scope: Scope,
    /// `label`.
    pub label: Option<String>,
    /// `peer`.
    pub peer: Option<IpAddr>,
    /// `no_track`.
    pub no_track: bool,
    /// `preferred_lft forever` (IPv6 /128 VIPs otherwise get preferred_lft 0).
    pub preferred_forever: bool,
    /// Other options kept verbatim (`home`, `-nodad`, `noprefixroute`, `use_vmac`, ...).
    pub options: Vec<String>,
    /// Where it is written.
    pub span: Span,
}

/// `unicast_peer` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnicastPeer {
    /// Peer address.
    pub addr: IpAddr,
    /// `min_ttl`.
    pub min_ttl: Option<u8>,
    /// `max_ttl`.
    pub max_ttl: Option<u8>,
}

/// Initial wanted state (`state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InitialState {
    /// `state MASTER`.
    Master,
    /// `state BACKUP`.
    Backup,
}

/// Notification commands of an instance or sync group.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Notify {
    /// `notify_master`.
    pub master: Option<Command>,
    /// `notify_backup`.
    pub backup: Option<Command>,
    /// `notify_fault`.
    pub fault: Option<Command>,
    /// `notify_stop`.
    pub stop: Option<Command>,
    /// `notify_deleted`.
    pub deleted: Option<Command>,
    /// `notify_master_rx_lower_pri`.
    pub master_rx_lower_pri: Option<Command>,
    /// `notify` (generic; gets 4 appended arguments).
    pub generic: Option<Command>,
    /// `notify_deleted` was given (with or without a command): report DELETED rather than FAULT
    /// when a reload removes the instance.
    pub send_deleted: bool,
}

/// `vrrp_instance NAME { ... }`.
#[derive(Debug, Clone, PartialEq)]
pub struct VrrpInstance {
    /// Instance name.
    pub name: String,
    /// `state`; `None` when absent.
    pub initial_state: Option<InitialState>,
    /// `interface` (default `default_interface`).
    pub interface: String,
    /// `virtual_router_id`.
    pub vrid: u8,
    /// `priority` with keepalived's defaults applied (255 for `state MASTER` without priority).
    pub priority: u8,
    /// `advert_int`.
    pub advert_int: Duration,
    /// `version` (or global `vrrp_version`; IPv6 forces 3).
    pub version: Version,
    /// Address family of the VIPs.
    pub ipv6: bool,
    /// preempt (default true; `nopreempt` clears).
    pub preempt: bool,
    /// `preempt_delay`.
    pub preempt_delay: Duration,
    /// `authentication` (v2 only).
    pub auth: AuthData,
    /// `virtual_ipaddress`.
    pub vips: Vec<VirtualAddr>,
    /// `virtual_ipaddress_excluded`.
    pub excluded_vips: Vec<VirtualAddr>,
    /// `virtual_routes` lines, kept verbatim for a later issue.
    pub virtual_routes: Vec<String>,
    /// `virtual_rules` lines, kept verbatim for a later issue.
    pub virtual_rules: Vec<String>,
    /// `track_script`.
    pub track_script: Vec<TrackRef>,
    /// `track_interface`.
    pub track_interface: Vec<TrackRef>,
    /// `track_process`.
    pub track_process: Vec<TrackRef>,
    /// `track_file`.
    pub track_file: Vec<TrackRef>,
    /// `track_proxyd`.
    pub track_proxyd: Vec<TrackRef>,
    /// `dont_track_primary`.
    pub dont_track_primary: bool,
    /// `mcast_src_ip` / `unicast_src_ip`.
    pub src_ip: Option<IpAddr>,
    /// `unicast_peer` (empty = multicast).
    pub unicast_peers: Vec<UnicastPeer>,
    /// `unicast_ttl`.
    pub unicast_ttl: Option<u8>,
    /// `accept` / `no_accept` (v3 Accept_Mode).
    pub accept: bool,
    /// GARP settings (global defaults overridden).
    pub garp: GarpConfig,
    /// `lower_prio_no_advert`.
    pub lower_prio_no_advert: bool,
    /// `higher_prio_send_advert`.
    pub higher_prio_send_advert: bool,
    /// `down_timer_adverts`.
    pub down_timer_adverts: u8,
    /// VRRPv3 over IPv4 checksum form sent.
    pub v3_ipv4_checksum: V3Ipv4Checksum,
    /// Address list mismatch policy (`skip_check_adv_addr` relaxes it).
    pub addr_list_policy: AddrListPolicy,
    /// `use_vmac` (parsed, not yet acted on).
    pub use_vmac: Option<Vec<String>>,
    /// Notifications.
    pub notify: Notify,
    /// `smtp_alert`.
    pub smtp_alert: bool,
    /// `notify_priority_changes`.
    pub notify_priority_changes: bool,
    /// `strict_mode` (default: global `vrrp_strict`).
    pub strict: bool,
    /// `owner_ignore_adverts` (default: strict mode): an address owner ignores adverts.
    pub owner_ignore_adverts: bool,
    /// `check_unicast_src` (or `vrrp_check_unicast_src`, or any peer with `min_ttl`/`max_ttl`).
    pub check_unicast_src: bool,
    /// `unicast_fault_no_peer`.
    pub unicast_fault_no_peer: bool,
    /// `track_src_ip`: FAULT when the configured source address disappears.
    pub track_src_ip: bool,
    /// `promote_secondaries`.
    pub promote_secondaries: bool,
    /// `kernel_rx_buf_size`.
    pub kernel_rx_buf_size: Option<u32>,
    /// `vmac_xmit_base` (parsed, not yet acted on).
    pub vmac_xmit_base: bool,
    /// `use_ipvlan [IF] [ADDR] [bridge|private|vepa]`, kept verbatim (not yet acted on).
    pub use_ipvlan: Option<Vec<String>>,
    /// `old_unicast_checksum [never]` (kept; vrrpd sends the current form).
    pub old_unicast_checksum: OldUnicastChecksum,
    /// Where the block starts.
    pub span: Span,
}

/// `vrrp_sync_group NAME { ... }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncGroup {
    /// Group name.
    pub name: String,
    /// `group { VI_1 VI_2 }`.
    pub members: Vec<String>,
    /// Group-level `track_script`.
    pub track_script: Vec<TrackRef>,
    /// Group-level `track_interface`.
    pub track_interface: Vec<TrackRef>,
    /// Group-level `track_process`.
    pub track_process: Vec<TrackRef>,
    /// Group-level `track_file`.
    pub track_file: Vec<TrackRef>,
    /// Group-level `track_proxyd`.
    pub track_proxyd: Vec<TrackRef>,
    /// Notifications.
    pub notify: Notify,
    /// `smtp_alert`.
    pub smtp_alert: bool,
    /// `sync_group_tracking_weight`.
    pub tracking_weight: bool,
    /// `notify_priority_changes`.
    pub notify_priority_changes: bool,
    /// Where the block starts.
    pub span: Span,
}

impl Default for GlobalDefs {
    /// keepalived 2.2.7's defaults (reference §1.2), except `higher_prio_send_advert`
    /// ([`DEFAULT_HIGHER_PRIO_SEND_ADVERT`]).
    fn default() -> Self {
        Self {
            router_id: None,
            notification_email: Vec::new(),
            notification_email_from: None,
            smtp_server: None,
            smtp_helo_name: None,
            smtp_connect_timeout: DEFAULT_SMTP_CONNECT_TIMEOUT,
            smtp_alert: None,
            no_email_faults: false,
            script_user: None,
            enable_script_security: false,
            vrrp_version: Version::V2,
            vrrp_strict: false,
            mcast_group4: crate::vrrp::packet::MCAST_V4,
            mcast_group6: crate::vrrp::packet::MCAST_V6,
            garp: GarpConfig::default(),
            garp_interval: Duration::ZERO,
            gna_interval: Duration::ZERO,
            down_timer_adverts: DEFAULT_DOWN_TIMER_ADVERTS,
            lower_prio_no_advert: false,
            higher_prio_send_advert: DEFAULT_HIGHER_PRIO_SEND_ADVERT,
            v3_ipv4_checksum: V3Ipv4Checksum::default(),
            skip_check_adv_addr: false,
            check_unicast_src: false,
            startup_delay: Duration::ZERO,
            notify_fifo: None,
            vrrp_notify_fifo: None,
            notify_fifo_script: None,
            vrrp_notify_fifo_script: None,
            notify_priority_changes: false,
            default_interface: DEFAULT_INTERFACE.to_string(),
            net_namespace: None,
            instance_name: None,
            use_pid_dir: false,
            delay_after_boot: None,
            dynamic_interfaces: DynamicInterfaces::Off,
            state_dump_file: None,
            stats_dump_file: None,
            json_dump_file: None,
            data_use_instance: false,
            extra: BTreeMap::new(),
        }
    }
}

impl Default for VrrpConfig {
    /// An empty configuration with keepalived's global defaults.
    fn default() -> Self {
        Self {
            global: GlobalDefs::default(),
            scripts: BTreeMap::new(),
            track_processes: BTreeMap::new(),
            track_files: BTreeMap::new(),
            track_proxyds: BTreeMap::new(),
            instances: Vec::new(),
            sync_groups: Vec::new(),
        }
    }
}

impl VrrpConfig {
    /// A copy with every [`Span`] replaced by `<none>:1:1`, so that two configurations can be
    /// compared for meaning only: the same settings written in keepalived.conf and in YAML, or a
    /// reload that only moved lines around.
    pub fn without_spans(&self) -> VrrpConfig {
        let none = Span::file_start("<none>");
        let mut c = self.clone();
        let cmd = |c: &mut Option<Command>| {
            if let Some(c) = c {
                c.span = none.clone();
            }
        };
        let notify = |n: &mut Notify| {
            for c in [
                &mut n.master,
                &mut n.backup,
                &mut n.fault,
                &mut n.stop,
                &mut n.deleted,
                &mut n.master_rx_lower_pri,
                &mut n.generic,
            ] {
                cmd(c);
            }
        };
        let refs = |r: &mut Vec<TrackRef>| r.iter_mut().for_each(|t| t.span = none.clone());
        cmd(&mut c.global.notify_fifo_script);
        cmd(&mut c.global.vrrp_notify_fifo_script);
        for s in c.scripts.values_mut() {
            s.span = none.clone();
            s.command.span = none.clone();
        }
        for t in c.track_processes.values_mut() {
            t.span = none.clone();
        }
        for t in c.track_files.values_mut() {
            t.span = none.clone();
        }
        for t in c.track_proxyds.values_mut() {
            t.span = none.clone();
        }
        for i in &mut c.instances {
            i.span = none.clone();
            i.vips
                .iter_mut()
                .chain(i.excluded_vips.iter_mut())
                .for_each(|a| a.span = none.clone());
            refs(&mut i.track_script);
            refs(&mut i.track_interface);
            refs(&mut i.track_process);
            refs(&mut i.track_file);
            refs(&mut i.track_proxyd);
            notify(&mut i.notify);
        }
        for g in &mut c.sync_groups {
            g.span = none.clone();
            refs(&mut g.track_script);
            refs(&mut g.track_interface);
            refs(&mut g.track_process);
            refs(&mut g.track_file);
            refs(&mut g.track_proxyd);
            notify(&mut g.notify);
        }
        c
    }
}
