//! `stick-table type ip size N expire T` with `stick on src` lookup and learn (reference §2.6).
//!
//! Owns the entries (source address → server id) and their expiry and recency; it must not pick
//! servers or decide whether a stuck server is still usable (the caller checks that: HAProxy does
//! not honour an entry pointing to a DOWN server unless `option persist`). Time is passed in.
//! Each write gets an update sequence number, the hook for `peers`-style replication later.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// One stick-table entry as `show table` prints it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StickEntry {
    /// The server `id` (`server_id` in HAProxy, stored automatically).
    pub server_id: u32,
    /// When the entry expires; `None` when the table has no `expire`.
    pub expires: Option<Instant>,
    /// Update sequence number of the last write (learn) of this entry: replication sends entries
    /// with a sequence above the peer's last acknowledged one.
    pub update: u64,
    recency: u64,
}

impl StickEntry {
    /// Time left before expiry at `now` (`exp=` of `show table`); `None` without `expire`.
    pub fn expires_in(&self, now: Instant) -> Option<Duration> {
        self.expires.map(|e| e.saturating_duration_since(now))
    }
}

/// A bounded `type ip` stick table. IPv4 and IPv6 keys are both accepted; an IPv4-mapped IPv6
/// address is stored as its IPv4 address, so one client is one key whichever socket family saw it.
#[derive(Debug, Clone)]
pub struct StickTable {
    size: usize,
    expire: Option<Duration>,
    entries: BTreeMap<IpAddr, StickEntry>,
    /// Recency tick → key; the first element is the least recently used entry.
    lru: BTreeMap<u64, IpAddr>,
    tick: u64,
    update: u64,
}

impl StickTable {
    /// A table holding at most `size` entries (at least 1), each living `expire` after its last use.
    pub fn new(size: usize, expire: Option<Duration>) -> Self {
        StickTable {
            size: size.max(1),
            expire,
            entries: BTreeMap::new(),
            lru: BTreeMap::new(),
            tick: 0,
            update: 0,
        }
    }

    /// Configured `size`.
    pub fn capacity(&self) -> usize {
        self.size
    }

    /// Number of live entries (entries past expiry are counted until the next purge or lookup).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when the table holds no entry.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The last update sequence number handed out (0 before any write).
    pub fn update_seq(&self) -> u64 {
        self.update
    }

    fn touch(&mut self, key: IpAddr, now: Instant) {
        self.tick += 1;
        let expires = self.expire.map(|d| now + d);
        if let Some(e) = self.entries.get_mut(&key) {
            self.lru.remove(&e.recency);
            e.recency = self.tick;
            e.expires = expires;
            self.lru.insert(self.tick, key);
        }
    }

    fn remove_entry(&mut self, key: &IpAddr) -> Option<StickEntry> {
        let e = self.entries.remove(key)?;
        self.lru.remove(&e.recency);
        Some(e)
    }

    /// `stick match`: the server id stuck to `key`, refreshing its expiry and recency (HAProxy
    /// restarts `expire` on a match). An expired entry is removed and not returned.
    pub fn lookup(&mut self, key: IpAddr, now: Instant) -> Option<u32> {
        let key = key.to_canonical();
        let e = *self.entries.get(&key)?;
        if e.expires.is_some_and(|t| t <= now) {
            self.remove_entry(&key);
            return None;
        }
        self.touch(key, now);
        Some(e.server_id)
    }

    /// Reads an entry without refreshing it (for `show table` and tests).
    pub fn peek(&self, key: IpAddr) -> Option<&StickEntry> {
        self.entries.get(&key.to_canonical())
    }

    /// `stick store-request`: record that `key` went to `server_id` (insert, or overwrite with the
    /// server actually used, as HAProxy does). Expired entries are purged first; if the table is
    /// still full, the least recently used entry is evicted (HAProxy purges its oldest entries).
    /// Returns the entry's new update sequence number.
    pub fn learn(&mut self, key: IpAddr, server_id: u32, now: Instant) -> u64 {
        let key = key.to_canonical();
        if !self.entries.contains_key(&key) {
            if self.entries.len() >= self.size {
                self.purge_expired(now);
            }
            while self.entries.len() >= self.size {
                let Some((_, oldest)) = self.lru.pop_first() else {
                    break;
                };
                self.entries.remove(&oldest);
            }
            self.entries.insert(
                key,
                StickEntry {
                    server_id,
                    expires: None,
                    update: 0,
                    recency: 0,
                },
            );
        }
        self.update += 1;
        let update = self.update;
        if let Some(e) = self.entries.get_mut(&key) {
            e.server_id = server_id;
            e.update = update;
        }
        self.touch(key, now);
        update
    }

    /// Removes `key` (`clear table … key`); returns the entry it had.
    pub fn remove(&mut self, key: IpAddr) -> Option<StickEntry> {
        self.remove_entry(&key.to_canonical())
    }

    /// Removes every entry that has expired at `now`; returns how many. Since each use moves an
    /// entry to the recent end and sets its expiry to `now + expire`, recency order is expiry order.
    pub fn purge_expired(&mut self, now: Instant) -> usize {
        let mut purged = 0;
        while let Some((_, key)) = self.lru.first_key_value().map(|(t, k)| (*t, *k)) {
            match self.entries.get(&key) {
                Some(e) if e.expires.is_some_and(|t| t <= now) => {
                    self.remove_entry(&key);
                    purged += 1;
                }
                _ => break,
            }
        }
        purged
    }

    /// All entries in key order, for `show table`.
    pub fn iter(&self) -> impl Iterator<Item = (&IpAddr, &StickEntry)> + '_ {
        self.entries.iter()
    }

    /// Entries written after update sequence `seq` (replication hook), in key order.
    pub fn updated_since(&self, seq: u64) -> impl Iterator<Item = (&IpAddr, &StickEntry)> + '_ {
        self.entries.iter().filter(move |(_, e)| e.update > seq)
    }
}
