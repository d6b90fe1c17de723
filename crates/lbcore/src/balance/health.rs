//! HAProxy's health-check hysteresis: the rise/fall counter of `src/check.c`
//! (`set_server_check_status`) and the next check interval (`srv_getinter`), reference §3.6.
//!
//! Owns the counter only; it must not run checks, read clocks or log: the caller feeds each check
//! result and arms its own timer with [`Health::next_interval`].

use std::fmt;
use std::time::Duration;

/// HAProxy's default `inter`: 2 s.
pub const DEFAULT_INTER: Duration = Duration::from_millis(2000);
/// HAProxy's default `rise`.
pub const DEFAULT_RISE: u32 = 2;
/// HAProxy's default `fall`.
pub const DEFAULT_FALL: u32 = 3;

/// A change of the server's operational state caused by one check result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// The server just went UP (`rise` consecutive successes).
    Up,
    /// The server just went DOWN (`fall` consecutive failures).
    Down,
}

/// The state as the stats page shows it: `UP`, `UP 2/3` (going down: health points left of
/// `fall`), `DOWN`, `DOWN 1/2` (going up: successes of `rise`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealthState {
    /// Fully UP.
    Up,
    /// UP but failing: `remaining` more failures of `fall` take it DOWN.
    GoingDown {
        /// Failures still needed to go DOWN.
        remaining: u32,
        /// The configured `fall`.
        fall: u32,
    },
    /// Fully DOWN.
    Down,
    /// DOWN but passing: `successes` of `rise` seen.
    GoingUp {
        /// Consecutive successes so far.
        successes: u32,
        /// The configured `rise`.
        rise: u32,
    },
}

impl fmt::Display for HealthState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HealthState::Up => f.write_str("UP"),
            HealthState::GoingDown { remaining, fall } => write!(f, "UP {remaining}/{fall}"),
            HealthState::Down => f.write_str("DOWN"),
            HealthState::GoingUp { successes, rise } => write!(f, "DOWN {successes}/{rise}"),
        }
    }
}

/// One server's check counter: `health ∈ [0, rise + fall − 1]`, UP iff `health ≥ rise`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Health {
    rise: u32,
    fall: u32,
    health: u32,
    inter: Duration,
    fastinter: Option<Duration>,
    downinter: Option<Duration>,
}

impl Health {
    /// A counter as HAProxy starts it: `health = rise`, i.e. UP "but will fall down at first
    /// failure" (`src/server.c`). `rise` and `fall` are at least 1. `fastinter` and `downinter`
    /// default to `inter` when `None`.
    pub fn new(
        rise: u32,
        fall: u32,
        inter: Duration,
        fastinter: Option<Duration>,
        downinter: Option<Duration>,
    ) -> Self {
        let rise = rise.max(1);
        Health {
            rise,
            fall: fall.max(1),
            health: rise,
            inter,
            fastinter,
            downinter,
        }
    }

    /// The same counter starting fully DOWN (`health = 0`): needs `rise` successes.
    pub fn new_down(
        rise: u32,
        fall: u32,
        inter: Duration,
        fastinter: Option<Duration>,
        downinter: Option<Duration>,
    ) -> Self {
        Health {
            health: 0,
            ..Self::new(rise, fall, inter, fastinter, downinter)
        }
    }

    fn full(&self) -> u32 {
        self.rise + self.fall - 1
    }

    /// True when the server counts as UP.
    pub fn is_up(&self) -> bool {
        self.health >= self.rise
    }

    /// The raw counter (for `show servers state`).
    pub fn health(&self) -> u32 {
        self.health
    }

    /// Feeds one check result; returns the transition it caused, if any.
    pub fn record(&mut self, passed: bool) -> Option<Transition> {
        let was_up = self.is_up();
        if passed {
            // check.c: if health < rise+fall-1, health++; once ≥ rise, jump to full ("OK now").
            if self.health < self.full() {
                self.health += 1;
                if self.health >= self.rise {
                    self.health = self.full();
                }
            }
        } else if self.health > 0 {
            // check.c: health--; below rise means DOWN, and the counter restarts from 0.
            self.health -= 1;
            if self.health < self.rise {
                self.health = 0;
            }
        }
        match (was_up, self.is_up()) {
            (false, true) => Some(Transition::Up),
            (true, false) => Some(Transition::Down),
            _ => None,
        }
    }

    /// The state as HAProxy's stats show it.
    pub fn state(&self) -> HealthState {
        if self.is_up() {
            if self.health == self.full() {
                HealthState::Up
            } else {
                HealthState::GoingDown {
                    remaining: self.health - self.rise + 1,
                    fall: self.fall,
                }
            }
        } else if self.health == 0 {
            HealthState::Down
        } else {
            HealthState::GoingUp {
                successes: self.health,
                rise: self.rise,
            }
        }
    }

    /// Delay before the next check (`srv_getinter`): `inter` when fully UP, `downinter` (else
    /// `inter`) when fully DOWN, `fastinter` (else `inter`) in any transitional state.
    pub fn next_interval(&self) -> Duration {
        if self.health == self.full() {
            self.inter
        } else if self.health == 0 {
            self.downinter.unwrap_or(self.inter)
        } else {
            self.fastinter.unwrap_or(self.inter)
        }
    }
}
