//! keepalived.conf generation for the seed pair, and the RFC timer arithmetic the tests assert.
//!
//! Owns the template (the seed's `vrrp_instance VI_1`: VRID 51, priorities 101/100, PASS
//! "somepassword", advert_int 1, VIP 192.0.2.100/32 on eth0) and its v3 / IPv6 / nopreempt /
//! `garp_master_*` variants, with keepalived's documented GARP defaults. The timer formulas are written here from the RFCs, independently of `lbcore`, so the
//! tests do not trust the code under test.

use std::fmt::Write as _;
use std::time::Duration;

/// The interface name of each box's LAN port inside its namespace.
pub const IFACE: &str = "eth0";
/// The seed's virtual router id.
pub const VRID: u8 = 51;
/// The seed's PASS password (keepalived truncates it to 8 octets on the wire).
pub const AUTH_PASS: &str = "somepassword";
/// IPv4 virtual address.
pub const VIP4: &str = "192.0.2.100";
/// IPv6 virtual address (v3-IPv6 cases).
pub const VIP6: &str = "2001:db8::100";

/// keepalived's default `garp_master_repeat`: announcements per VIP on becoming master
/// (keepalived.conf(5): `vrrp_garp_master_repeat`, default 5).
pub const DEFAULT_GARP_MASTER_REPEAT: u32 = 5;
/// keepalived's default `garp_master_delay`: the second burst after becoming master
/// (keepalived.conf(5): `vrrp_garp_master_delay`, default 5 s).
pub const DEFAULT_GARP_MASTER_DELAY: Duration = Duration::from_secs(5);
/// keepalived's default `garp_master_refresh_repeat` (keepalived.conf(5): default 1); refresh
/// itself is off by default.
pub const DEFAULT_GARP_MASTER_REFRESH_REPEAT: u32 = 1;

/// Per-instance gratuitous-ARP settings (`garp_master_*`); `None` leaves the keyword out, so the
/// daemon's default applies.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Garp {
    /// `garp_master_repeat`.
    pub master_repeat: Option<u32>,
    /// `garp_master_delay` (whole seconds).
    pub master_delay: Option<Duration>,
    /// `garp_master_refresh` (whole seconds).
    pub master_refresh: Option<Duration>,
    /// `garp_master_refresh_repeat`.
    pub master_refresh_repeat: Option<u32>,
}

impl Garp {
    /// Announcements per VIP in the burst on becoming master and in the delayed second burst.
    pub fn repeat(&self) -> u32 {
        self.master_repeat.unwrap_or(DEFAULT_GARP_MASTER_REPEAT)
    }

    /// Delay of the second burst after becoming master (zero: none).
    pub fn delay(&self) -> Duration {
        self.master_delay.unwrap_or(DEFAULT_GARP_MASTER_DELAY)
    }

    /// Period of the refresh announcements while master (zero: off, keepalived's default).
    pub fn refresh(&self) -> Duration {
        self.master_refresh.unwrap_or(Duration::ZERO)
    }

    /// Announcements per VIP per refresh.
    pub fn refresh_repeat(&self) -> u32 {
        self.master_refresh_repeat
            .unwrap_or(DEFAULT_GARP_MASTER_REFRESH_REPEAT)
    }

    fn render(&self, s: &mut String) {
        if let Some(n) = self.master_repeat {
            let _ = writeln!(s, "    garp_master_repeat {n}");
        }
        if let Some(d) = self.master_delay {
            let _ = writeln!(s, "    garp_master_delay {}", d.as_secs());
        }
        if let Some(d) = self.master_refresh {
            let _ = writeln!(s, "    garp_master_refresh {}", d.as_secs());
        }
        if let Some(n) = self.master_refresh_repeat {
            let _ = writeln!(s, "    garp_master_refresh_repeat {n}");
        }
    }
}

/// Address family of the instance's virtual addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// IPv4 VIP 192.0.2.100/32.
    V4,
    /// IPv6 VIP 2001:db8::100/128 (VRRPv3 only).
    V6,
}

/// One `vrrp_instance VI_1` block.
#[derive(Clone, Debug, PartialEq)]
pub struct Instance {
    /// `state MASTER` or `state BACKUP`.
    pub master: bool,
    /// `priority`.
    pub priority: u8,
    /// `version` (2 or 3).
    pub version: u8,
    /// `advert_int`, in seconds (fractions only with v3).
    pub advert_int: Duration,
    /// `nopreempt`.
    pub nopreempt: bool,
    /// Address family of the VIP.
    pub family: Family,
    /// Gratuitous-ARP settings.
    pub garp: Garp,
}

impl Instance {
    /// The seed's box A (`state MASTER`, priority 101) or box B (`state BACKUP`, priority 100).
    pub fn seed(master: bool) -> Self {
        Self {
            master,
            priority: if master { 101 } else { 100 },
            version: 2,
            advert_int: Duration::from_secs(1),
            nopreempt: false,
            family: Family::V4,
            garp: Garp::default(),
        }
    }

    /// VRRPv3 with the given advertisement interval.
    pub fn v3(mut self, advert_int: Duration) -> Self {
        self.version = 3;
        self.advert_int = advert_int;
        self
    }

    /// IPv6 VIP (implies VRRPv3).
    pub fn ipv6(mut self) -> Self {
        self.version = 3;
        self.family = Family::V6;
        self
    }

    /// `state BACKUP` + `nopreempt` (keepalived only honours nopreempt with state BACKUP).
    pub fn nopreempt(mut self) -> Self {
        self.master = false;
        self.nopreempt = true;
        self
    }

    /// With these `garp_master_*` settings.
    pub fn garp(mut self, garp: Garp) -> Self {
        self.garp = garp;
        self
    }

    /// The virtual address, without prefix length.
    pub fn vip(&self) -> &'static str {
        match self.family {
            Family::V4 => VIP4,
            Family::V6 => VIP6,
        }
    }

    /// The keepalived.conf text.
    pub fn render(&self) -> String {
        let mut s = String::from("# generated by system-tests\nvrrp_instance VI_1 {\n");
        let _ = writeln!(s, "    interface {IFACE}");
        let _ = writeln!(
            s,
            "    state {}",
            if self.master { "MASTER" } else { "BACKUP" }
        );
        let _ = writeln!(s, "    priority {}", self.priority);
        let _ = writeln!(s, "    virtual_router_id {VRID}");
        let _ = writeln!(s, "    advert_int {}", format_secs(self.advert_int));
        if self.version == 3 {
            let _ = writeln!(s, "    version 3");
        }
        if self.nopreempt {
            let _ = writeln!(s, "    nopreempt");
        }
        self.garp.render(&mut s);
        if self.version == 2 {
            let _ = writeln!(
                s,
                "    authentication {{\n        auth_type PASS\n        auth_pass {AUTH_PASS}\n    }}"
            );
        }
        let vip = match self.family {
            Family::V4 => format!("{VIP4}/32"),
            Family::V6 => format!("{VIP6}/128"),
        };
        let _ = writeln!(
            s,
            "    virtual_ipaddress {{\n        {vip} dev {IFACE}\n    }}"
        );
        s.push_str("}\n");
        s
    }

    /// Skew_Time of this router (RFC 3768 §6.1 for v2, RFC 5798 §6.1 for v3).
    pub fn skew_time(&self) -> Duration {
        skew_time(self.version, self.priority, self.advert_int)
    }

    /// Master_Down_Interval of this router (3 × interval + Skew_Time).
    pub fn master_down_interval(&self) -> Duration {
        master_down_interval(self.version, self.priority, self.advert_int)
    }
}

/// Skew_Time: RFC 3768 §6.1 `(256 - Priority) / 256` s; RFC 5798 §6.1
/// `((256 - Priority) * Master_Adver_Interval) / 256`.
pub fn skew_time(version: u8, priority: u8, interval: Duration) -> Duration {
    let factor = f64::from(256 - u16::from(priority)) / 256.0;
    match version {
        2 => Duration::from_secs_f64(factor),
        _ => interval.mul_f64(factor),
    }
}

/// Master_Down_Interval: `3 * interval + Skew_Time` (RFC 3768 §6.1, RFC 5798 §6.1).
pub fn master_down_interval(version: u8, priority: u8, interval: Duration) -> Duration {
    interval * 3 + skew_time(version, priority, interval)
}

/// Formats a duration as keepalived's `advert_int` (`1`, `0.05`).
fn format_secs(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        d.as_secs().to_string()
    } else {
        let s = format!("{:.3}", d.as_secs_f64());
        s.trim_end_matches('0').to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_timers_match_reference_values() {
        // RFC 3768 §6.1 with priority 100: skew 156/256 = 0.609375 s.
        assert_eq!(
            skew_time(2, 100, Duration::from_secs(1)),
            Duration::from_micros(609_375)
        );
        assert_eq!(
            master_down_interval(2, 100, Duration::from_secs(1)),
            Duration::from_micros(3_609_375)
        );
        let v3 = master_down_interval(3, 100, Duration::from_millis(50));
        assert!((v3.as_secs_f64() - 0.180_468_75).abs() < 1e-9, "{v3:?}");
    }

    #[test]
    fn renders_the_seed_instance() {
        let text = Instance::seed(true).render();
        for needle in [
            "state MASTER",
            "priority 101",
            "virtual_router_id 51",
            "advert_int 1\n",
            "auth_type PASS",
            "auth_pass somepassword",
            "192.0.2.100/32 dev eth0",
        ] {
            assert!(text.contains(needle), "{needle:?} missing from\n{text}");
        }
        assert!(!text.contains("version 3"));
        assert!(
            !text.contains("garp_"),
            "defaults leave garp keywords out:\n{text}"
        );
        let garp = Garp {
            master_repeat: Some(3),
            master_delay: Some(Duration::from_secs(1)),
            master_refresh: Some(Duration::from_secs(2)),
            master_refresh_repeat: Some(2),
        };
        let text = Instance::seed(true).garp(garp).render();
        for needle in [
            "garp_master_repeat 3\n",
            "garp_master_delay 1\n",
            "garp_master_refresh 2\n",
            "garp_master_refresh_repeat 2\n",
        ] {
            assert!(text.contains(needle), "{needle:?} missing from\n{text}");
        }
        let default = Garp::default();
        assert_eq!(
            (
                default.repeat(),
                default.delay(),
                default.refresh(),
                default.refresh_repeat()
            ),
            (5, Duration::from_secs(5), Duration::ZERO, 1)
        );
        let v3 = Instance::seed(false)
            .v3(Duration::from_millis(50))
            .ipv6()
            .nopreempt()
            .render();
        for needle in [
            "state BACKUP",
            "advert_int 0.05\n",
            "version 3",
            "nopreempt",
            "2001:db8::100/128",
        ] {
            assert!(v3.contains(needle), "{needle:?} missing from\n{v3}");
        }
        assert!(!v3.contains("auth_type"), "v3 has no authentication:\n{v3}");
    }
}
