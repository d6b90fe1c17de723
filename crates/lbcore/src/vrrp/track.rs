//! Tracker verdicts and the effective-priority arithmetic, as keepalived computes them
//! (reference keepalived-vrrp.md §2; keepalived `vrrp_track.c`, `vrrp_scheduler.c`).
//!
//! Owns: the tri-state of a tracker ([`Status`]), the rise/fall counter of a `vrrp_script`
//! ([`ScriptCounter`]), what a weighted tracker adds or whether it faults the instance
//! ([`effect`], [`file_effect`], [`process_status`]), and folding those into an effective
//! priority ([`combine`]). It must not run scripts, read files or watch processes: the vrrpd
//! shell does that and feeds verdicts here; the state machine receives the result through
//! `Instance::set_priority` / `Instance::set_fault`.

use crate::config::vrrp::Weight;

/// Highest priority a tracker can give a non-owner (255 is reserved for the address owner,
/// RFC 3768 §5.3.4).
pub const MAX_TRACKED_PRIORITY: u8 = 254;

/// A track-file total below this puts the instance in FAULT (keepalived `vrrp_track.c`).
pub const FILE_FAULT_BELOW: i64 = -253;

/// What a tracker currently says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// No verdict yet: contributes nothing and never faults (keepalived's initial state of a
    /// script without `init_fail`).
    Init,
    /// Healthy (script exit 0, link up, process quorum met, proxyd serving).
    Up,
    /// Failed.
    Down,
}

/// What one tracker does to its instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Adds this much to the base priority (may be negative or zero).
    Delta(i32),
    /// Puts the instance in FAULT.
    Fault,
}

/// keepalived's table (reference §2): with multiplier m = −1 for `reverse`, else +1, a positive
/// weight W adds m·W while the tracker is up, a negative one adds m·W while it is down; weight
/// 0 faults the instance while the tracker is down (while up, with `reverse`).
pub fn effect(weight: Weight, status: Status) -> Effect {
    let w = i32::from(weight.value);
    let m = if weight.reverse { -1 } else { 1 };
    match (status, w.signum()) {
        (Status::Init, _) => Effect::Delta(0),
        (Status::Down, 0) if !weight.reverse => Effect::Fault,
        (Status::Up, 0) if weight.reverse => Effect::Fault,
        (Status::Up, 1) | (Status::Down, -1) => Effect::Delta(m * w),
        _ => Effect::Delta(0),
    }
}

/// A `track_file`'s effect: the number read times the weight (negated with `reverse`). Weight
/// 0 faults on any non-zero value; a product below [`FILE_FAULT_BELOW`] faults too.
pub fn file_effect(value: i64, weight: Weight) -> Effect {
    let w = i64::from(weight.value);
    if w == 0 {
        return if value == 0 {
            Effect::Delta(0)
        } else {
            Effect::Fault
        };
    }
    let m = if weight.reverse { -1 } else { 1 };
    let product = value.saturating_mul(w).saturating_mul(m);
    if product < FILE_FAULT_BELOW {
        return Effect::Fault;
    }
    Effect::Delta(i32::try_from(product).unwrap_or(i32::MAX))
}

/// A `vrrp_track_process` verdict: up while `quorum ≤ count ≤ quorum_max`.
pub fn process_status(count: u32, quorum: u32, quorum_max: Option<u32>) -> Status {
    if count >= quorum && count <= quorum_max.unwrap_or(u32::MAX) {
        Status::Up
    } else {
        Status::Down
    }
}

/// The combined result of every tracker of an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Combined {
    /// Effective priority to advertise.
    pub priority: u8,
    /// Some tracker faults the instance.
    pub fault: bool,
}

/// Folds tracker effects into the effective priority: base plus every delta, clamped to
/// 1..=254; the owner's 255 is never changed and nothing raises a non-owner to 255
/// (reference §2, keepalived `vrrp_set_effective_priority`).
pub fn combine(base: u8, effects: impl IntoIterator<Item = Effect>) -> Combined {
    let mut total = i64::from(base);
    let mut fault = false;
    for e in effects {
        match e {
            Effect::Delta(d) => total += i64::from(d),
            Effect::Fault => fault = true,
        }
    }
    let priority = if base == u8::MAX {
        u8::MAX
    } else {
        u8::try_from(total.clamp(1, i64::from(MAX_TRACKED_PRIORITY))).unwrap_or(1)
    };
    Combined { priority, fault }
}

/// The rise/fall counter of a `vrrp_script`, exactly as keepalived keeps it
/// (`vrrp_scheduler.c`): `result` runs over `0..=rise+fall-1`; from below, `rise` consecutive
/// successes report "succeeded"; from fully up, `fall` consecutive failures report "failed".
/// Without `init_fail` the counter starts at `rise-1` in [`Status::Init`], so the first success
/// is enough and the first failure reports "failed".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptCounter {
    rise: u32,
    fall: u32,
    result: u32,
    status: Status,
}

impl ScriptCounter {
    /// A fresh counter (`rise`, `fall` ≥ 1; smaller values are treated as 1).
    pub fn new(rise: u32, fall: u32, init_fail: bool) -> Self {
        let (rise, fall) = (rise.max(1), fall.max(1));
        if init_fail {
            ScriptCounter {
                rise,
                fall,
                result: 0,
                status: Status::Down,
            }
        } else {
            ScriptCounter {
                rise,
                fall,
                result: rise - 1,
                status: Status::Init,
            }
        }
    }

    /// The current verdict.
    pub fn status(&self) -> Status {
        self.status
    }

    /// Records one run (`success`: exit status 0; a timeout or a signal is a failure) and
    /// returns the new status when it changed.
    pub fn record(&mut self, success: bool) -> Option<Status> {
        let top = self.rise + self.fall - 1;
        let before = self.status;
        if success {
            if self.result < self.rise - 1 {
                self.result += 1;
            } else if self.result != top || self.status != Status::Up {
                self.result = top;
                self.status = Status::Up;
            }
        } else if self.result > self.rise {
            self.result -= 1;
        } else {
            self.result = 0;
            self.status = Status::Down;
        }
        (self.status != before).then_some(self.status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(value: i16, reverse: bool) -> Weight {
        Weight { value, reverse }
    }

    #[test]
    fn weight_table_of_the_reference() {
        use Effect::*;
        use Status::*;
        // (weight, reverse, effect while up, effect while down)
        let rows = [
            (5, false, Delta(5), Delta(0)),
            (-5, false, Delta(0), Delta(-5)),
            (5, true, Delta(-5), Delta(0)),
            (-5, true, Delta(0), Delta(5)),
            (0, false, Delta(0), Fault),
            (0, true, Fault, Delta(0)),
        ];
        for (value, reverse, up, down) in rows {
            assert_eq!(effect(w(value, reverse), Up), up, "{value} {reverse} up");
            assert_eq!(
                effect(w(value, reverse), Down),
                down,
                "{value} {reverse} down"
            );
            assert_eq!(effect(w(value, reverse), Init), Delta(0));
        }
    }

    #[test]
    fn combine_clamps_and_leaves_the_owner_alone() {
        use Effect::*;
        assert_eq!(combine(100, [Delta(2)]).priority, 102);
        assert_eq!(combine(250, [Delta(10)]).priority, 254);
        assert_eq!(combine(10, [Delta(-50)]).priority, 1);
        assert_eq!(combine(255, [Delta(-50)]).priority, 255);
        let c = combine(101, [Delta(2), Fault]);
        assert!(c.fault);
        assert_eq!(c.priority, 103);
        assert!(!combine(101, []).fault);
    }

    #[test]
    fn the_seed_walk_through() {
        // Reference §2: A 101 and B 100, `chk_haproxy` weight 2.
        let chk = w(2, false);
        let a = |s| combine(101, [effect(chk, s)]).priority;
        let b = |s| combine(100, [effect(chk, s)]).priority;
        assert_eq!((a(Status::Init), b(Status::Init)), (101, 100));
        assert_eq!((a(Status::Up), b(Status::Up)), (103, 102));
        assert_eq!((a(Status::Down), b(Status::Up)), (101, 102));
        assert_eq!((a(Status::Down), b(Status::Down)), (101, 100));
    }

    #[test]
    fn track_file_products() {
        assert_eq!(file_effect(3, w(2, false)), Effect::Delta(6));
        assert_eq!(file_effect(3, w(2, true)), Effect::Delta(-6));
        assert_eq!(file_effect(-127, w(2, false)), Effect::Fault);
        assert_eq!(file_effect(-126, w(2, false)), Effect::Delta(-252));
        assert_eq!(file_effect(0, w(0, false)), Effect::Delta(0));
        assert_eq!(file_effect(7, w(0, false)), Effect::Fault);
        assert_eq!(
            file_effect(i64::MIN, w(-254, false)),
            Effect::Delta(i32::MAX)
        );
    }

    #[test]
    fn process_quorum() {
        assert_eq!(process_status(0, 1, None), Status::Down);
        assert_eq!(process_status(1, 1, None), Status::Up);
        assert_eq!(process_status(3, 2, Some(3)), Status::Up);
        assert_eq!(process_status(4, 2, Some(3)), Status::Down);
    }

    #[test]
    fn script_counter_starts_in_init_and_one_success_is_enough() {
        let mut c = ScriptCounter::new(3, 2, false);
        assert_eq!(c.status(), Status::Init);
        assert_eq!(c.record(true), Some(Status::Up));
        assert_eq!(c.record(true), None);
        // fall = 2 consecutive failures from fully up.
        assert_eq!(c.record(false), None);
        assert_eq!(c.record(false), Some(Status::Down));
        // rise = 3 consecutive successes from down.
        assert_eq!(c.record(true), None);
        assert_eq!(c.record(true), None);
        assert_eq!(c.record(true), Some(Status::Up));
        // A success in between resets the fall count.
        assert_eq!(c.record(false), None);
        assert_eq!(c.record(true), None);
        assert_eq!(c.record(false), None);
        assert_eq!(c.record(false), Some(Status::Down));
    }

    #[test]
    fn script_counter_first_failure_reports_and_init_fail_starts_down() {
        let mut c = ScriptCounter::new(2, 2, false);
        assert_eq!(c.record(false), Some(Status::Down));
        let mut f = ScriptCounter::new(1, 1, true);
        assert_eq!(f.status(), Status::Down);
        assert_eq!(f.record(false), None);
        assert_eq!(f.record(true), Some(Status::Up));
        assert_eq!(f.record(false), Some(Status::Down));
    }
}
