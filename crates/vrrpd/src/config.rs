//! Loading the configuration for the daemon and for `-t`.
//!
//! Owns: calling lbcore's front end (keepalived.conf, or YAML for `.yaml`/`.yml`), adding the
//! daemon's own warnings about what is parsed but not acted on yet, and the valid / invalid
//! verdict. Must not: touch the network or require root; `-t` runs anywhere.

use std::path::Path;

use lbcore::config::vrrp::VrrpConfig;
use lbcore::diag::Diagnostics;

/// The outcome of loading a file.
#[derive(Debug)]
pub struct Loaded {
    /// The configuration, when it has no error.
    pub config: Option<VrrpConfig>,
    /// Every diagnostic: the front end's, then the daemon's.
    pub diagnostics: Diagnostics,
}

impl Loaded {
    /// True when the configuration can be run.
    pub fn is_valid(&self) -> bool {
        self.config.is_some() && !self.diagnostics.has_errors()
    }
}

/// Loads and validates `path`.
pub fn load(path: &Path) -> Loaded {
    let (config, mut diagnostics) = lbcore::config::load_vrrp(path);
    if let Some(c) = &config {
        diagnostics.extend(daemon_warnings(c));
    }
    let config = config.filter(|_| !diagnostics.has_errors());
    Loaded {
        config,
        diagnostics,
    }
}

/// Warnings for configuration this daemon parses but does not act on yet.
pub fn daemon_warnings(c: &VrrpConfig) -> Diagnostics {
    let mut d = Diagnostics::new();
    const TRACKING: &str = "is parsed but not yet acted on by vrrpd (issue: vrrpd tracking/reload)";
    for s in c.scripts.values() {
        d.warning(&s.span, format!("vrrp_script {} {TRACKING}", s.name));
    }
    for p in c.track_processes.values() {
        d.warning(&p.span, format!("vrrp_track_process {} {TRACKING}", p.name));
    }
    for g in &c.sync_groups {
        d.warning(&g.span, format!("vrrp_sync_group {} {TRACKING}", g.name));
    }
    for i in &c.instances {
        for t in i
            .track_script
            .iter()
            .chain(&i.track_interface)
            .chain(&i.track_process)
        {
            d.warning(
                &t.span,
                format!("instance {}: tracker {} {TRACKING}", i.name, t.name),
            );
        }
        if i.use_vmac.is_some() {
            d.warning(
                &i.span,
                format!(
                    "instance {}: use_vmac is not supported yet; the interface MAC is used",
                    i.name
                ),
            );
        }
        if !i.virtual_routes.is_empty() || !i.virtual_rules.is_empty() {
            d.warning(
                &i.span,
                format!(
                    "instance {}: virtual_routes / virtual_rules are not applied yet",
                    i.name
                ),
            );
        }
        let n = &i.notify;
        let scripts = [
            &n.master,
            &n.backup,
            &n.fault,
            &n.stop,
            &n.deleted,
            &n.master_rx_lower_pri,
            &n.generic,
        ];
        if scripts.iter().any(|s| s.is_some()) || i.smtp_alert {
            d.warning(
                &i.span,
                format!(
                    "instance {}: notify scripts and smtp_alert are not run yet",
                    i.name
                ),
            );
        }
    }
    d
}

/// Whether any tracker is configured (one info line at startup says they are not acted on).
pub fn has_trackers(c: &VrrpConfig) -> bool {
    !c.scripts.is_empty()
        || !c.track_processes.is_empty()
        || c.instances.iter().any(|i| {
            !i.track_script.is_empty()
                || !i.track_interface.is_empty()
                || !i.track_process.is_empty()
        })
        || c.sync_groups.iter().any(|g| {
            !g.track_script.is_empty()
                || !g.track_interface.is_empty()
                || !g.track_process.is_empty()
        })
}

/// `-t`: prints every diagnostic to stderr and returns whether the file is valid.
pub fn config_test(path: &Path) -> bool {
    let loaded = load(path);
    eprint!("{}", loaded.diagnostics);
    loaded.is_valid()
}
