//! VRRP timer arithmetic: Skew_Time and Master_Down_Interval (RFC 3768 §6.1, RFC 5798 / RFC 9568
//! §6.1), plus the centisecond conversions the wire format uses.
//!
//! Owns: exact integer formulas (nanoseconds, no floating point). Must not: read a clock or keep
//! state; the state machine in [`super::fsm`] decides when these intervals start.

use std::time::Duration;

use super::packet::Version;

/// Nanoseconds in 1/256 s: (256 − Priority)/256 s is an exact number of nanoseconds.
const NANOS_PER_256TH_SEC: u64 = 1_000_000_000 / 256;

/// Skew_Time for a router of `priority` (keepalived uses the *effective* priority).
///
/// - v2 (RFC 3768 §6.1): `(256 − Priority) / 256` seconds; `master_adver_interval` is not used.
/// - v3 (RFC 5798 / RFC 9568 §6.1): `((256 − Priority) × Master_Adver_Interval) / 256`.
///
/// Computed in integer nanoseconds. The v2 value is always exact; the v3 value is exact whenever
/// `(256 − Priority) × interval` is a whole number of 256ths of a nanosecond, which holds for every
/// interval that is a multiple of 20 ms and, for even `256 − Priority`, of 10 ms. Otherwise it is
/// rounded down to the nanosecond (keepalived rounds down to the microsecond).
pub fn skew_time(version: Version, priority: u8, master_adver_interval: Duration) -> Duration {
    let weight = 256 - u64::from(priority); // 1..=256
    match version {
        // RFC 3768 §6.1: Skew_Time = (256 - Priority) / 256 seconds.
        Version::V2 => Duration::from_nanos(weight * NANOS_PER_256TH_SEC),
        // RFC 5798 §6.1: Skew_Time = ((256 - priority) * Master_Adver_Interval) / 256.
        Version::V3 => {
            let nanos = master_adver_interval.as_nanos() * u128::from(weight) / 256;
            Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
        }
    }
}

/// Master_Down_Interval = `down_timer_adverts` × `interval` + Skew_Time.
///
/// The RFCs fix `down_timer_adverts` at 3 (RFC 3768 §6.1, RFC 5798 §6.1); keepalived makes it
/// configurable (`down_timer_adverts`, 1..=100). `interval` is Advertisement_Interval for v2 and
/// the (learned) Master_Adver_Interval for v3. Saturates instead of overflowing.
pub fn master_down_interval(
    version: Version,
    priority: u8,
    interval: Duration,
    down_timer_adverts: u8,
) -> Duration {
    interval
        .saturating_mul(u32::from(down_timer_adverts))
        .saturating_add(skew_time(version, priority, interval))
}

/// An interval in centiseconds, as carried in a v3 advert (and, ×100, for v2 whole seconds).
///
/// Rounds down to the centisecond and saturates at `u16::MAX`.
pub fn to_centis(interval: Duration) -> u16 {
    u16::try_from(interval.as_millis() / 10).unwrap_or(u16::MAX)
}

/// The duration of `centis` centiseconds.
pub fn from_centis(centis: u16) -> Duration {
    Duration::from_millis(u64::from(centis) * 10)
}

#[cfg(test)]
mod tests {
    use super::*;

    const fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    const fn ns(n: u64) -> Duration {
        Duration::from_nanos(n)
    }

    #[test]
    fn v2_skew_matches_reference_figures() {
        // Reference §4.4: prio 100 => 0.609 s, 102 => 0.602, 254 => 0.008.
        assert_eq!(skew_time(Version::V2, 100, ms(1000)), ns(609_375_000));
        assert_eq!(skew_time(Version::V2, 101, ms(1000)), ns(605_468_750));
        assert_eq!(skew_time(Version::V2, 102, ms(1000)), ns(601_562_500));
        assert_eq!(skew_time(Version::V2, 103, ms(1000)), ns(597_656_250));
        assert_eq!(skew_time(Version::V2, 254, ms(1000)), ns(7_812_500));
        assert_eq!(skew_time(Version::V2, 255, ms(1000)), ns(3_906_250));
        assert_eq!(skew_time(Version::V2, 1, ms(1000)), ns(996_093_750));
    }

    #[test]
    fn v2_skew_ignores_the_interval() {
        // RFC 3768 §6.1 defines v2 Skew_Time in seconds, independent of Advertisement_Interval.
        assert_eq!(skew_time(Version::V2, 100, ms(5000)), ns(609_375_000));
        assert_eq!(skew_time(Version::V2, 100, Duration::ZERO), ns(609_375_000));
    }

    #[test]
    fn v2_master_down_interval() {
        assert_eq!(
            master_down_interval(Version::V2, 100, ms(1000), 3),
            ns(3_609_375_000)
        );
        assert_eq!(
            master_down_interval(Version::V2, 102, ms(1000), 3),
            ns(3_601_562_500)
        );
        assert_eq!(
            master_down_interval(Version::V2, 254, ms(1000), 3),
            ns(3_007_812_500)
        );
        assert_eq!(
            master_down_interval(Version::V2, 100, ms(2000), 3),
            ns(6_609_375_000)
        );
        // keepalived down_timer_adverts.
        assert_eq!(
            master_down_interval(Version::V2, 100, ms(1000), 5),
            ns(5_609_375_000)
        );
        assert_eq!(
            master_down_interval(Version::V2, 100, ms(1000), 1),
            ns(1_609_375_000)
        );
    }

    #[test]
    fn v3_skew_scales_with_master_adver_interval() {
        // Reference §4.4: v3 @0.1 s prio 100 => 0.061 s, MDI 0.361 s.
        assert_eq!(skew_time(Version::V3, 100, ms(100)), ns(60_937_500));
        assert_eq!(
            master_down_interval(Version::V3, 100, ms(100), 3),
            ns(360_937_500)
        );
        // At 1 s v3 equals v2.
        assert_eq!(
            skew_time(Version::V3, 100, ms(1000)),
            skew_time(Version::V2, 100, ms(1000))
        );
        assert_eq!(skew_time(Version::V3, 254, ms(20)), ns(156_250));
        assert_eq!(
            master_down_interval(Version::V3, 254, ms(20), 3),
            ns(60_156_250)
        );
        // Maximum interval 40.95 s.
        assert_eq!(skew_time(Version::V3, 100, ms(40_950)), ns(24_953_906_250));
    }

    #[test]
    fn v3_skew_rounds_down_below_a_nanosecond() {
        // 10 ms / 256 = 39 062.5 ns.
        assert_eq!(skew_time(Version::V3, 255, ms(10)), ns(39_062));
        // Reference §4.4: v3 minimum 10 ms => MDI about 30-40 ms.
        let mdi = master_down_interval(Version::V3, 1, ms(10), 3);
        assert_eq!(mdi, ns(39_960_937));
    }

    #[test]
    fn centisecond_conversions() {
        assert_eq!(to_centis(ms(1000)), 100);
        assert_eq!(to_centis(ms(10)), 1);
        assert_eq!(to_centis(ms(40_950)), 4095);
        assert_eq!(to_centis(ms(19)), 1);
        assert_eq!(to_centis(Duration::from_secs(1_000_000)), u16::MAX);
        assert_eq!(from_centis(4095), ms(40_950));
        assert_eq!(from_centis(0), Duration::ZERO);
    }
}
