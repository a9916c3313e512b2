//! ERC-7562's reputation table: per entity, how many valid operations were seen and how many
//! were included; an entity whose inclusion rate falls too low is throttled, then banned. The
//! counters decay by 1/24 every hour.

use alloy_primitives::Address;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const MIN_INCLUSION_RATE_DENOMINATOR: u64 = 10;
pub const THROTTLING_SLACK: u64 = 10;
pub const BAN_SLACK: u64 = 50;
pub const BAN_OPS_SEEN_PENALTY: u64 = 10_000;
pub const THROTTLED_ENTITY_MEMPOOL_COUNT: usize = 4;
pub const THROTTLED_ENTITY_BUNDLE_COUNT: usize = 4;
pub const SAME_UNSTAKED_ENTITY_MEMPOOL_COUNT: u64 = 10;
pub const MAX_OPS_ALLOWED_UNSTAKED_ENTITY: u64 = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Throttled,
    Banned,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    pub ops_seen: u64,
    pub ops_included: u64,
}

impl Entry {
    pub fn status(&self) -> Status {
        let max_seen = self.ops_seen / MIN_INCLUSION_RATE_DENOMINATOR;
        if max_seen > self.ops_included + BAN_SLACK {
            Status::Banned
        } else if max_seen > self.ops_included + THROTTLING_SLACK {
            Status::Throttled
        } else {
            Status::Ok
        }
    }

    /// [UREP-020]: operations an unstaked paymaster or factory may have in the mempool.
    pub fn unstaked_allowance(&self) -> u64 {
        let rate = if self.ops_seen == 0 { 0.0 } else { self.ops_included as f64 / self.ops_seen as f64 };
        SAME_UNSTAKED_ENTITY_MEMPOOL_COUNT + (rate * self.ops_included.min(MAX_OPS_ALLOWED_UNSTAKED_ENTITY) as f64) as u64
    }
}

/// The table, with its hourly decay.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reputation {
    pub entries: BTreeMap<Address, Entry>,
    /// The hour (unix seconds / 3600) the counters last decayed in.
    pub decayed_hour: u64,
}

impl Reputation {
    pub fn entry(&self, address: &Address) -> Entry {
        self.entries.get(address).copied().unwrap_or_default()
    }

    pub fn status(&self, address: &Address) -> Status {
        self.entry(address).status()
    }

    pub fn seen(&mut self, address: Address) {
        let entry = self.entries.entry(address).or_default();
        entry.ops_seen = entry.ops_seen.saturating_add(1);
    }

    pub fn unseen(&mut self, address: Address) {
        if let Some(entry) = self.entries.get_mut(&address) {
            entry.ops_seen = entry.ops_seen.saturating_sub(1);
        }
    }

    pub fn included(&mut self, address: Address) {
        let entry = self.entries.entry(address).or_default();
        entry.ops_included = entry.ops_included.saturating_add(1);
    }

    /// [GREP-040]: an entity that made a bundle fail after passing its second validation.
    pub fn ban(&mut self, address: Address) {
        self.entries.insert(address, Entry { ops_seen: BAN_OPS_SEEN_PENALTY, ops_included: 0 });
    }

    pub fn set(&mut self, address: Address, entry: Entry) {
        self.entries.insert(address, entry);
    }

    /// Applies the hourly decay (value × 23 / 24) once per hour passed since the last; forgets
    /// entries that reached zero. True when anything changed.
    pub fn decay(&mut self, now_secs: u64) -> bool {
        let hour = now_secs / 3600;
        if self.decayed_hour == 0 {
            self.decayed_hour = hour;
            return false;
        }
        let hours = hour.saturating_sub(self.decayed_hour).min(24 * 30);
        if hours == 0 {
            return false;
        }
        for _ in 0..hours {
            for entry in self.entries.values_mut() {
                entry.ops_seen = entry.ops_seen * 23 / 24;
                entry.ops_included = entry.ops_included * 23 / 24;
            }
        }
        self.entries.retain(|_, e| e.ops_seen > 0 || e.ops_included > 0);
        self.decayed_hour = hour;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttled_then_banned_as_inclusion_falls() {
        let e = |seen, included| Entry { ops_seen: seen, ops_included: included }.status();
        assert_eq!(e(0, 0), Status::Ok);
        assert_eq!(e(109, 0), Status::Ok, "max_seen 10 is not above 0 + THROTTLING_SLACK");
        assert_eq!(e(110, 0), Status::Throttled);
        assert_eq!(e(509, 0), Status::Throttled);
        assert_eq!(e(510, 0), Status::Banned, "max_seen 51 is above 0 + BAN_SLACK");
        assert_eq!(e(610, 20), Status::Throttled);
    }

    #[test]
    fn counters_decay_hourly() {
        let mut r = Reputation::default();
        r.set(Address::ZERO, Entry { ops_seen: 240, ops_included: 24 });
        assert!(!r.decay(3600 * 100), "the first call only starts the clock");
        assert!(r.decay(3600 * 101));
        assert_eq!(r.entry(&Address::ZERO), Entry { ops_seen: 230, ops_included: 23 });
        assert!(!r.decay(3600 * 101 + 10));
        r.set(Address::repeat_byte(1), Entry { ops_seen: 1, ops_included: 0 });
        r.decay(3600 * 102);
        assert_eq!(r.entries.get(&Address::repeat_byte(1)), None, "a counter at zero is forgotten");
    }

    #[test]
    fn unstaked_allowance_grows_with_inclusion() {
        assert_eq!(Entry::default().unstaked_allowance(), 10);
        assert_eq!(Entry { ops_seen: 100, ops_included: 100 }.unstaked_allowance(), 110);
    }
}
