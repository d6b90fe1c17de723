//! The RFC timing assertions shared by the system tests, as functions returning `Result` so a test
//! reports every violation with its measurements.
//!
//! Owns the bounds: graceful stop (RFC 3768 §6.4.3 priority-0 advert, §6.4.2 Skew_Time) and silent
//! failure (§6.4.2 Master_Down_Timer), with the caller's margin. Must not drive the lab: it only
//! judges a [`Failover`] measured by [`crate::scenario`].

use std::time::Duration;

use anyhow::{Context, Result, ensure};

use crate::scenario::{CAPTURE_SKEW, Failover, Pair};

/// A graceful stop of A: B must hold the VIP within its Skew_Time + `margin` of the SIGTERM, A must
/// have sent a priority-0 advert, and B must not have claimed mastership earlier than Skew_Time
/// after it.
pub fn priority_zero_handover(pair: &Pair, f: &Failover, margin: Duration) -> Result<()> {
    eprintln!("{} -> {}: {f}", pair.imp_a.label(), pair.imp_b.label());
    let skew = pair.conf_b.skew_time();
    ensure!(
        f.takeover_time() <= skew + margin,
        "takeover {:?} after SIGTERM, bound Skew_Time {skew:?} + {margin:?}",
        f.takeover_time()
    );
    // RFC 3768 §6.4.3 / RFC 5798 §6.4.3: a master that is shut down sends priority 0 ...
    let after_zero = f
        .after_priority_zero()
        .context("no priority-0 advert from A on the wire")?;
    // ... and §6.4.2: on priority 0 the backup sets Master_Down_Timer to Skew_Time.
    ensure!(
        after_zero + CAPTURE_SKEW >= skew,
        "B advertised {after_zero:?} after A's priority-0 advert, earlier than Skew_Time {skew:?}"
    );
    Ok(())
}

/// A silent failure of A (crash, cable): B must hold the VIP within its Master_Down_Interval +
/// `margin` of the event, never earlier than Master_Down_Interval after A's last advert on the
/// wire, and A must not have said goodbye (no priority-0 advert).
pub fn silent_failover(pair: &Pair, f: &Failover, margin: Duration) -> Result<()> {
    eprintln!("{} -> {}: {f}", pair.imp_a.label(), pair.imp_b.label());
    let mdi = pair.conf_b.master_down_interval();
    ensure!(
        f.takeover_time() <= mdi + margin,
        "takeover {:?} after {}, bound Master_Down_Interval {mdi:?} + {margin:?}",
        f.takeover_time(),
        f.event.label()
    );
    let silence = f
        .silence()
        .context("no A advert / B takeover advert in the capture")?;
    // RFC 3768 §6.4.2 / RFC 5798 §6.4.2: B becomes master only when its Master_Down_Timer fires,
    // a full Master_Down_Interval after the last advert it received.
    ensure!(
        silence + CAPTURE_SKEW >= mdi,
        "B took over {silence:?} after A's last advert: earlier than Master_Down_Interval {mdi:?}"
    );
    ensure!(
        f.a_priority_zero.is_none(),
        "a silent failure must not produce a priority-0 advert"
    );
    Ok(())
}
