//! Rate limiting of error log lines (RFC 9568 §7.1 asks receive errors to be logged rate-limited).
//!
//! Owns: the decision "log this line now, and how many like it were suppressed since". Must not:
//! count errors for statistics (counters are kept apart and always incremented) or read the clock
//! (the caller passes `now`).

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// Default window: at most one line per key per 10 s.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(10);

/// Per-key "at most one line per window" limiter.
#[derive(Debug)]
pub struct RateLimiter<K> {
    window: Duration,
    entries: HashMap<K, Entry>,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    last: Instant,
    suppressed: u64,
}

impl<K: Eq + Hash> RateLimiter<K> {
    /// A limiter allowing one line per key per `window`.
    pub fn new(window: Duration) -> Self {
        Self {
            window,
            entries: HashMap::new(),
        }
    }

    /// `Some(n)` when a line for `key` may be logged at `now`, `n` being how many were suppressed
    /// since the last logged one; `None` when this one must be suppressed.
    pub fn allow(&mut self, key: K, now: Instant) -> Option<u64> {
        match self.entries.get_mut(&key) {
            Some(e) if now.saturating_duration_since(e.last) < self.window => {
                e.suppressed += 1;
                None
            }
            Some(e) => {
                let n = e.suppressed;
                *e = Entry {
                    last: now,
                    suppressed: 0,
                };
                Some(n)
            }
            None => {
                self.entries.insert(
                    key,
                    Entry {
                        last: now,
                        suppressed: 0,
                    },
                );
                Some(0)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_window_per_key_with_suppressed_count() {
        let t0 = crate::clock::now();
        let mut rl = RateLimiter::new(Duration::from_secs(10));
        assert_eq!(rl.allow("ttl", t0), Some(0));
        assert_eq!(rl.allow("ttl", t0 + Duration::from_secs(1)), None);
        assert_eq!(rl.allow("ttl", t0 + Duration::from_secs(9)), None);
        // another key is independent
        assert_eq!(rl.allow("auth", t0 + Duration::from_secs(9)), Some(0));
        assert_eq!(rl.allow("ttl", t0 + Duration::from_secs(10)), Some(2));
        assert_eq!(rl.allow("ttl", t0 + Duration::from_secs(11)), None);
        assert_eq!(rl.allow("ttl", t0 + Duration::from_secs(25)), Some(1));
    }
}
