//! Reusable two-box scenarios: start a pair, inject a failure on the master, measure the takeover.
//!
//! Owns [`Pair`] (box A = the seed's MASTER, box B = its BACKUP, a capture on the switch) and
//! [`Failover`] (what was measured around one event). Shared by the system tests, which assert the
//! RFC bounds, and by the failover benchmark, which reports medians. Must not assert: it returns
//! measurements and fails only when the scenario could not be carried out.

use std::fmt;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::capture::{Capture, Frame, adverts_from};
use crate::config::Instance;
use crate::daemon::{Daemon, Impl};
use crate::lab::{Lab, Node};
use crate::poll::{Seen, Stamp};

/// Tolerance between a capture timestamp on the switch and the instant a box's socket saw the same
/// frame (both kernel clocks; the bridge adds microseconds).
pub const CAPTURE_SKEW: Duration = Duration::from_millis(2);

/// A failure injected on the master.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Event {
    /// Graceful stop (priority-0 advert expected).
    Sigterm,
    /// Crash of the whole daemon (no goodbye).
    Sigkill,
    /// Cable pulled (switch port down).
    LinkDown,
}

impl Event {
    /// Every event, in benchmark order.
    pub const ALL: [Event; 3] = [Event::Sigterm, Event::Sigkill, Event::LinkDown];

    /// Short label.
    pub fn label(self) -> &'static str {
        match self {
            Event::Sigterm => "SIGTERM",
            Event::Sigkill => "SIGKILL",
            Event::LinkDown => "link down",
        }
    }
}

/// Measurements around one failover from A to B.
#[derive(Clone, Debug)]
pub struct Failover {
    /// What was injected.
    pub event: Event,
    /// When it was injected.
    pub at: Stamp,
    /// When the VIP was first seen on B.
    pub takeover: Seen<()>,
    /// Epoch seconds of A's last advert with priority > 0 before B's first advert.
    pub last_a_advert: Option<f64>,
    /// Epoch seconds of A's first priority-0 advert after the event.
    pub a_priority_zero: Option<f64>,
    /// Epoch seconds of B's first advert after the event (its takeover advert).
    pub b_first_advert: Option<f64>,
    /// Epoch seconds of B's first gratuitous ARP / unsolicited NA for the VIP after the event.
    pub b_first_announce: Option<f64>,
}

impl Failover {
    /// From the event to the VIP being seen on B (what a user of the VIP experiences).
    pub fn takeover_time(&self) -> Duration {
        self.takeover.stamp.since(self.at)
    }

    /// On the wire: from A's last advert to B's first (the backup's Master_Down_Interval at work).
    pub fn silence(&self) -> Option<Duration> {
        let (a, b) = (self.last_a_advert?, self.b_first_advert?);
        Some(Duration::from_secs_f64((b - a).max(0.0)))
    }

    /// On the wire: from A's priority-0 advert to B's first advert (Skew_Time at work).
    pub fn after_priority_zero(&self) -> Option<Duration> {
        let (a, b) = (self.a_priority_zero?, self.b_first_advert?);
        Some(Duration::from_secs_f64((b - a).max(0.0)))
    }

    /// Epoch seconds of the last thing B heard from A that starts B's protocol timer: the
    /// priority-0 advert after a SIGTERM (Skew_Time), A's last advert otherwise
    /// (Master_Down_Interval).
    pub fn anchor(&self) -> Option<f64> {
        match self.event {
            Event::Sigterm => self.a_priority_zero,
            Event::Sigkill | Event::LinkDown => self.last_a_advert,
        }
    }

    /// On the wire: from the [`Failover::anchor`] to B's first advert (B's protocol timer).
    pub fn wire_gap(&self) -> Option<Duration> {
        match self.event {
            Event::Sigterm => self.after_priority_zero(),
            Event::Sigkill | Event::LinkDown => self.silence(),
        }
    }

    /// From the [`Failover::anchor`] on the wire to the VIP first seen on B. Unlike
    /// [`Failover::takeover_time`] it does not depend on where in A's advert cycle a silent
    /// failure fell: it is B's timer plus B's VIP add (plus the poll lag, under 10 ms).
    pub fn anchor_to_vip(&self) -> Option<Duration> {
        let anchor = self.anchor()?;
        Some(Duration::from_secs_f64(
            (self.takeover.stamp.epoch_secs() - anchor).max(0.0),
        ))
    }

    /// On the wire: from B's first advert to its first gratuitous ARP / unsolicited NA (B's VIP
    /// add and announcement path).
    pub fn advert_to_announce(&self) -> Option<Duration> {
        let (a, b) = (self.b_first_advert?, self.b_first_announce?);
        Some(Duration::from_secs_f64((b - a).max(0.0)))
    }

    /// For a silent failure: from A's last advert on the wire to the event (where in A's advert
    /// cycle the failure fell, between 0 and one interval; random in real life).
    pub fn phase(&self) -> Option<Duration> {
        let last = self.last_a_advert?;
        Some(Duration::from_secs_f64(
            (self.at.epoch_secs() - last).max(0.0),
        ))
    }
}

impl fmt::Display for Failover {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = |d: Option<Duration>| {
            d.map_or("n/a".to_owned(), |d| {
                format!("{:.1} ms", d.as_secs_f64() * 1e3)
            })
        };
        write!(
            f,
            "{}: VIP on B {} after the event; last A advert -> first B advert {}; \
             priority-0 advert -> first B advert {}",
            self.event.label(),
            ms(Some(self.takeover_time())),
            ms(self.silence()),
            ms(self.after_priority_zero()),
        )
    }
}

/// Two boxes running VRRP in a lab, with a capture on the switch.
#[derive(Debug)]
pub struct Pair {
    /// A's daemon (the latest one started).
    pub a: Daemon,
    /// B's daemon.
    pub b: Daemon,
    /// A's daemon was stopped or killed on purpose (until [`Pair::restore`]).
    pub a_down: bool,
    /// The capture running since before the daemons started.
    pub capture: Capture,
    /// Implementation on A.
    pub imp_a: Impl,
    /// Implementation on B.
    pub imp_b: Impl,
    /// A's configuration.
    pub conf_a: Instance,
    /// B's configuration.
    pub conf_b: Instance,
    /// The lab (declared last: torn down after the daemons).
    pub lab: Lab,
}

impl Pair {
    /// Builds a lab, starts the capture, then A and B.
    pub fn start(
        test: &str,
        imp_a: Impl,
        conf_a: Instance,
        imp_b: Impl,
        conf_b: Instance,
    ) -> Result<Self> {
        let lab = Lab::new(test)?;
        let capture = lab.capture()?;
        let a = lab.start(Node::A, imp_a, &conf_a)?;
        let b = lab.start(Node::B, imp_b, &conf_b)?;
        Ok(Self {
            a,
            b,
            a_down: false,
            capture,
            imp_a,
            imp_b,
            conf_a,
            conf_b,
            lab,
        })
    }

    /// Like [`Pair::start`], but starts B only once A holds the VIP (for `nopreempt` cases, where
    /// whichever box wins first keeps the VIP).
    pub fn start_a_first(
        test: &str,
        imp_a: Impl,
        conf_a: Instance,
        imp_b: Impl,
        conf_b: Instance,
    ) -> Result<Self> {
        let lab = Lab::new(test)?;
        let capture = lab.capture()?;
        let mut a = lab.start(Node::A, imp_a, &conf_a)?;
        let bound = conf_a.master_down_interval() + Duration::from_secs(3);
        lab.wait_holds(Node::A, conf_a.vip(), bound)
            .with_context(|| a.output())?;
        a.ensure_running()?;
        let b = lab.start(Node::B, imp_b, &conf_b)?;
        Ok(Self {
            a,
            b,
            a_down: false,
            capture,
            imp_a,
            imp_b,
            conf_a,
            conf_b,
            lab,
        })
    }

    /// The VIP of this pair's configuration.
    pub fn vip(&self) -> &'static str {
        self.conf_a.vip()
    }

    /// A bound for an election from cold start: the RFC value is one Master_Down_Interval (a backup
    /// waits that long before it claims mastership; keepalived does so even with `state
    /// MASTER`), and the 3 s margin covers starting the daemons (keepalived forks its VRRP child;
    /// the tests run a debug vrrpd) on the loaded 2-core machine. Start-up takes well under 0.5 s,
    /// so this is a liveness margin, not a timing claim: elections are timed nowhere else.
    pub fn election_bound(&self) -> Duration {
        self.conf_a
            .master_down_interval()
            .max(self.conf_b.master_down_interval())
            + Duration::from_secs(3)
    }

    /// Waits for `node` to be the only holder of the VIP (both daemons must keep running).
    pub fn wait_master(&mut self, node: Node, timeout: Duration) -> Result<Seen<()>> {
        let vip = self.vip();
        let seen = self.lab.wait_sole_holder(node, vip, timeout);
        self.check_running()?;
        seen.with_context(|| self.outputs())
    }

    /// Fails (with logs) if a daemon that should run has exited.
    pub fn check_running(&mut self) -> Result<()> {
        if !self.a_down {
            self.a.ensure_running()?;
        }
        self.b.ensure_running()
    }

    /// Both daemons' output, for error context.
    pub fn outputs(&self) -> String {
        format!("{}\n{}", self.a.output(), self.b.output())
    }

    /// Injects `event` on A.
    pub fn inject(&mut self, event: Event) -> Result<Stamp> {
        match event {
            Event::Sigterm => {
                self.a_down = true;
                self.a.sigterm()
            }
            Event::Sigkill => {
                self.a_down = true;
                self.a.sigkill()
            }
            Event::LinkDown => self.lab.link_down(Node::A),
        }
    }

    /// Injects `event` on A (the master) and measures B's takeover. Waits at most B's
    /// Master_Down_Interval + `slack` for the VIP to appear on B.
    pub fn failover(&mut self, event: Event, slack: Duration) -> Result<Failover> {
        let vip = self.vip();
        let at = self.inject(event)?;
        let bound = self.conf_b.master_down_interval() + slack;
        let takeover = self
            .lab
            .wait_holds(Node::B, vip, bound)
            .with_context(|| self.outputs())?;
        // B's takeover advert and announcements may follow the VIP by a few milliseconds: give the
        // capture up to a second to show both (a missing one is reported as `None`).
        let frames = self
            .lab
            .poll(
                "B's takeover advert and announcement in the capture",
                Duration::from_secs(1),
                || {
                    let frames = self.capture.frames()?;
                    let m = measure(event, at, takeover.clone(), &frames);
                    Ok((m.b_first_advert.is_some() && m.b_first_announce.is_some())
                        .then_some(frames))
                },
            )
            .map(|seen| seen.value)
            .or_else(|_| self.capture.frames())?;
        Ok(measure(event, at, takeover, &frames))
    }

    /// Brings A back after `event` (restart its daemon, or plug its cable back in).
    pub fn restore(&mut self, event: Event) -> Result<Stamp> {
        match event {
            Event::LinkDown => self.lab.link_up(Node::A),
            Event::Sigterm | Event::Sigkill => {
                // A SIGTERMed daemon exits on its own; a SIGKILLed one is already gone.
                self.a.wait_exit(Duration::from_secs(5))?;
                let stamp = Stamp::now();
                self.a = self.lab.start(Node::A, self.imp_a, &self.conf_a)?;
                self.a_down = false;
                Ok(stamp)
            }
        }
    }

    /// The capture so far.
    pub fn frames(&self) -> Result<Vec<Frame>> {
        self.capture.frames()
    }
}

/// Extracts the wire-level timings of a failover from the capture.
pub fn measure(event: Event, at: Stamp, takeover: Seen<()>, frames: &[Frame]) -> Failover {
    let t_event = at.epoch_secs();
    let b_first_advert = adverts_from(frames, &Node::B.mac())
        .find(|(f, a)| f.epoch_secs() > t_event && a.priority > 0)
        .map(|(f, _)| f.epoch_secs());
    let horizon = b_first_advert.unwrap_or(f64::INFINITY);
    let last_a_advert = adverts_from(frames, &Node::A.mac())
        .filter(|(f, a)| a.priority > 0 && f.epoch_secs() < horizon)
        .map(|(f, _)| f.epoch_secs())
        .last();
    let a_priority_zero = adverts_from(frames, &Node::A.mac())
        .find(|(f, a)| a.priority == 0 && f.epoch_secs() >= t_event)
        .map(|(f, _)| f.epoch_secs());
    let b_first_announce = frames
        .iter()
        .filter(|f| f.src_mac == Node::B.mac() && f.epoch_secs() > t_event)
        .find(|f| {
            matches!(
                f.payload,
                crate::capture::Payload::Garp { .. }
                    | crate::capture::Payload::NeighbourAdvert { .. }
            )
        })
        .map(Frame::epoch_secs);
    Failover {
        event,
        at,
        takeover,
        last_a_advert,
        a_priority_zero,
        b_first_advert,
        b_first_announce,
    }
}

/// The `q`-quantile (0..=1) of a non-empty set of durations, linearly interpolated between the
/// closest ranks.
pub fn quantile(values: &[Duration], q: f64) -> Result<Duration> {
    if values.is_empty() {
        bail!("quantile of nothing");
    }
    let mut v = values.to_vec();
    v.sort();
    let pos = q.clamp(0.0, 1.0) * (v.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    let frac = pos - lo as f64;
    Ok(v[lo] + (v[hi].saturating_sub(v[lo])).mul_f64(frac))
}

/// Two-sided p-value of the Mann-Whitney U test (normal approximation with tie and continuity
/// corrections) that samples `x` and `y` come from the same distribution. Rough below ~8
/// samples per side; `None` when either side is empty or every value is tied.
pub fn mann_whitney_p(x: &[Duration], y: &[Duration]) -> Option<f64> {
    let (n1, n2) = (x.len() as f64, y.len() as f64);
    if x.is_empty() || y.is_empty() {
        return None;
    }
    let mut u = 0.0;
    for a in x {
        for b in y {
            u += match a.cmp(b) {
                std::cmp::Ordering::Less => 1.0,
                std::cmp::Ordering::Equal => 0.5,
                std::cmp::Ordering::Greater => 0.0,
            };
        }
    }
    let mut all: Vec<Duration> = x.iter().chain(y).copied().collect();
    all.sort();
    let n = n1 + n2;
    let ties: f64 = all
        .chunk_by(|a, b| a == b)
        .map(|g| {
            let t = g.len() as f64;
            t * t * t - t
        })
        .sum();
    let var = n1 * n2 / 12.0 * ((n + 1.0) - ties / (n * (n - 1.0)));
    if var <= 0.0 {
        return None;
    }
    let mean = n1 * n2 / 2.0;
    let z = ((u - mean).abs() - 0.5).max(0.0) / var.sqrt();
    Some(erfc(z / std::f64::consts::SQRT_2).clamp(0.0, 1.0))
}

/// Complementary error function for `x >= 0` (Abramowitz & Stegun 7.1.26, |error| < 1.5e-7).
fn erfc(x: f64) -> f64 {
    let t = 1.0 / (1.0 + 0.327_591_1 * x);
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    poly * (-x * x).exp()
}

/// Median of a non-empty set of durations.
pub fn median(values: &[Duration]) -> Result<Duration> {
    if values.is_empty() {
        bail!("median of nothing");
    }
    let mut v = values.to_vec();
    v.sort();
    let mid = v.len() / 2;
    Ok(if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_sets() {
        let ms = Duration::from_millis;
        assert_eq!(median(&[ms(5), ms(1), ms(3)]).expect("non-empty"), ms(3));
        assert_eq!(
            median(&[ms(4), ms(1), ms(3), ms(2)]).expect("non-empty"),
            Duration::from_micros(2500)
        );
        assert!(median(&[]).is_err());
    }

    #[test]
    fn quantiles_interpolate() {
        let ms = Duration::from_millis;
        let v = [ms(40), ms(10), ms(30), ms(20), ms(50)];
        assert_eq!(quantile(&v, 0.0).expect("non-empty"), ms(10));
        assert_eq!(quantile(&v, 0.25).expect("non-empty"), ms(20));
        assert_eq!(quantile(&v, 0.5).expect("non-empty"), ms(30));
        assert_eq!(quantile(&v, 1.0).expect("non-empty"), ms(50));
        assert_eq!(quantile(&[ms(10), ms(20)], 0.5).expect("non-empty"), ms(15));
    }

    #[test]
    fn mann_whitney_separates_shifted_samples_only() {
        let ms = Duration::from_millis;
        let low: Vec<_> = (0..15).map(|i| ms(100 + i)).collect();
        let high: Vec<_> = (0..15).map(|i| ms(130 + i)).collect();
        let p = mann_whitney_p(&low, &high).expect("defined");
        // Complete separation of 15 vs 15: exact two-sided p is 2/C(30,15) ≈ 1.3e-8; the normal
        // approximation gives ~6e-7.
        assert!(p < 1e-5, "{p}");
        let interleaved: Vec<_> = (0..15)
            .map(|i| ms(100 + i) + Duration::from_micros(500))
            .collect();
        let p = mann_whitney_p(&low, &interleaved).expect("defined");
        assert!(p > 0.5, "{p}");
        assert!(mann_whitney_p(&[ms(1)], &[ms(1)]).is_none());
        assert!(mann_whitney_p(&[], &low).is_none());
        // erfc(0) = 1, erfc(1) = 0.157299...
        assert!((erfc(0.0) - 1.0).abs() < 1e-6);
        assert!((erfc(1.0) - 0.157_299_2).abs() < 1e-6);
    }
}
