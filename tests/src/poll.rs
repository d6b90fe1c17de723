//! Timestamps and bounded polling.
//!
//! Owns [`Stamp`] (a monotonic instant paired with the wall clock, so poll results can be compared
//! with tcpdump's `-tt` packet timestamps) and [`poll_until`]. Must not sleep unboundedly: every loop
//! here is bounded both in iterations and in elapsed time.

use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Result, bail};

/// Default polling period: fine enough to time a 50 ms VRRPv3 failover.
pub const POLL_EVERY: Duration = Duration::from_millis(5);

/// One moment, read from both the monotonic and the wall clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamp {
    /// Monotonic instant (for durations between our own events).
    pub at: Instant,
    /// Wall-clock time (for comparisons with packet capture timestamps).
    pub wall: SystemTime,
}

/// The monotonic clock. The harness measures real daemons, so it reads the clock (the workspace
/// ban on `Instant::now` protects `lbcore`); every read in this crate goes through here or
/// [`Stamp::now`].
#[expect(
    clippy::disallowed_methods,
    reason = "the harness times real processes"
)]
pub fn now() -> Instant {
    Instant::now()
}

impl Stamp {
    /// Reads both clocks now.
    #[expect(
        clippy::disallowed_methods,
        reason = "the harness times real processes"
    )]
    pub fn now() -> Self {
        let wall = SystemTime::now();
        let at = Instant::now();
        Self { at, wall }
    }

    /// Seconds since the Unix epoch, as tcpdump `-tt` prints them.
    pub fn epoch_secs(&self) -> f64 {
        self.wall
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64())
    }

    /// Time elapsed from `earlier` to `self` (zero if `earlier` is later).
    pub fn since(&self, earlier: Stamp) -> Duration {
        self.at.saturating_duration_since(earlier.at)
    }
}

/// The result of a successful poll: what was seen and when.
#[derive(Clone, Debug)]
pub struct Seen<T> {
    /// The value the probe returned.
    pub value: T,
    /// Taken right after the first probe that saw the condition: the event happened before this.
    pub stamp: Stamp,
    /// Taken right before the last probe that did not see it: the event happened after this.
    /// `None` when the very first probe already saw it.
    pub not_before: Option<Stamp>,
}

/// Calls `probe` every `every` until it returns `Some`, for at most `timeout`.
///
/// Bounded twice: by elapsed time and by an iteration count derived from `timeout / every`.
/// Returns the value with the instant it was first seen; fails (naming `what`) on timeout or when
/// the probe fails.
pub fn poll_until<T>(
    what: &str,
    timeout: Duration,
    every: Duration,
    mut probe: impl FnMut() -> Result<Option<T>>,
) -> Result<Seen<T>> {
    let start = now();
    let every = every.max(Duration::from_millis(1));
    let max_iterations = timeout.as_millis() / every.as_millis() + 2;
    let mut not_before = None;
    for _ in 0..max_iterations {
        let before = Stamp::now();
        if let Some(value) = probe()? {
            return Ok(Seen {
                value,
                stamp: Stamp::now(),
                not_before,
            });
        }
        not_before = Some(before);
        if start.elapsed() >= timeout {
            break;
        }
        thread::sleep(every);
    }
    bail!(
        "timed out after {:.3} s waiting for {what}",
        start.elapsed().as_secs_f64()
    )
}

/// Checks `probe` every `every` for the whole of `window` and fails as soon as it returns an error
/// or `Some` (a condition that must *not* happen). Returns how many probes ran.
pub fn hold_for<T: std::fmt::Debug>(
    what: &str,
    window: Duration,
    every: Duration,
    mut probe: impl FnMut() -> Result<Option<T>>,
) -> Result<u64> {
    let start = now();
    let every = every.max(Duration::from_millis(1));
    let max_iterations = window.as_millis() / every.as_millis() + 2;
    let mut probes = 0;
    for _ in 0..max_iterations {
        probes += 1;
        if let Some(bad) = probe()? {
            bail!(
                "{what}: violated after {:.3} s: {bad:?}",
                start.elapsed().as_secs_f64()
            );
        }
        if start.elapsed() >= window {
            break;
        }
        thread::sleep(every);
    }
    Ok(probes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poll_reports_first_sighting_between_bounds() {
        let start = now();
        let seen = poll_until("20 ms elapsed", Duration::from_secs(1), POLL_EVERY, || {
            Ok((start.elapsed() >= Duration::from_millis(20)).then_some(()))
        })
        .expect("condition becomes true");
        let first = seen.stamp.at.duration_since(start);
        assert!(
            first >= Duration::from_millis(20),
            "seen too early: {first:?}"
        );
        assert!(
            first < Duration::from_millis(200),
            "seen too late: {first:?}"
        );
        let not_before = seen.not_before.expect("first probe was negative");
        assert!(not_before.at <= seen.stamp.at);
    }

    #[test]
    fn poll_times_out_within_bound() {
        let start = now();
        let err = poll_until("never", Duration::from_millis(50), POLL_EVERY, || {
            Ok(None::<()>)
        })
        .expect_err("must time out");
        assert!(err.to_string().contains("never"), "{err}");
        assert!(start.elapsed() < Duration::from_secs(1));
    }

    #[test]
    fn hold_for_fails_on_violation() {
        let mut n = 0;
        let err = hold_for(
            "counter stays small",
            Duration::from_secs(1),
            POLL_EVERY,
            || {
                n += 1;
                Ok((n > 3).then_some(n))
            },
        )
        .expect_err("violation must be reported");
        assert!(err.to_string().contains("counter stays small"), "{err}");
        let probes = hold_for("nothing", Duration::from_millis(30), POLL_EVERY, || {
            Ok(None::<()>)
        })
        .expect("nothing happens");
        assert!(probes >= 2);
    }
}
