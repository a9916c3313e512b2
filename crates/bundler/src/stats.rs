//! The bundler's counters, rendered in Prometheus' text format.

use alloy_primitives::U256;
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

#[derive(Debug, Default)]
pub struct Stats {
    accepted: AtomicU64,
    /// Refusals by error code (a bounded set: ERC-4337's codes).
    refused: Mutex<BTreeMap<i32, u64>>,
    bundles_sent: AtomicU64,
    bundles_mined: AtomicU64,
    bundles_failed: AtomicU64,
    bundles_dropped: AtomicU64,
    included: AtomicU64,
    mempool: AtomicUsize,
    /// Validation time, for the average: total microseconds and count.
    validation_micros: AtomicU64,
    validations: AtomicU64,
    balance_gwei: AtomicU64,
}

impl Stats {
    pub fn accepted(&self) {
        self.accepted.fetch_add(1, Ordering::Relaxed);
    }
    pub fn refused(&self, code: i32) {
        *self.refused.lock().entry(code).or_default() += 1;
    }
    pub fn bundle_sent(&self) {
        self.bundles_sent.fetch_add(1, Ordering::Relaxed);
    }
    pub fn bundle_mined(&self, success: bool) {
        let counter = if success { &self.bundles_mined } else { &self.bundles_failed };
        counter.fetch_add(1, Ordering::Relaxed);
    }
    pub fn bundle_dropped(&self) {
        self.bundles_dropped.fetch_add(1, Ordering::Relaxed);
    }
    pub fn included(&self, n: usize) {
        self.included.fetch_add(n as u64, Ordering::Relaxed);
    }
    pub fn set_mempool(&self, n: usize) {
        self.mempool.store(n, Ordering::Relaxed);
    }
    pub fn mempool_size(&self) -> usize {
        self.mempool.load(Ordering::Relaxed)
    }
    pub fn validated(&self, took: std::time::Duration) {
        self.validation_micros.fetch_add(took.as_micros() as u64, Ordering::Relaxed);
        self.validations.fetch_add(1, Ordering::Relaxed);
    }
    pub fn set_balance(&self, balance: Option<U256>) {
        if let Some(balance) = balance {
            let gwei = u64::try_from(balance / U256::from(1_000_000_000u64)).unwrap_or(u64::MAX);
            self.balance_gwei.store(gwei, Ordering::Relaxed);
        }
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        let counters = [
            ("ande_bundler_ops_accepted_total", "User operations accepted into the mempool.", &self.accepted),
            ("ande_bundler_bundles_sent_total", "Bundles sent.", &self.bundles_sent),
            ("ande_bundler_bundles_mined_total", "Bundles mined and successful.", &self.bundles_mined),
            ("ande_bundler_bundles_failed_total", "Bundles mined and reverted.", &self.bundles_failed),
            ("ande_bundler_bundles_dropped_total", "Bundles the sequencer dropped because their conditions stopped holding.", &self.bundles_dropped),
            ("ande_bundler_ops_included_total", "User operations seen included (UserOperationEvent).", &self.included),
        ];
        for (name, help, value) in counters {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}", value.load(Ordering::Relaxed));
        }
        let _ = writeln!(out, "# HELP ande_bundler_ops_refused_total User operations refused, by ERC-4337 error code.\n# TYPE ande_bundler_ops_refused_total counter");
        for (code, n) in self.refused.lock().iter() {
            let _ = writeln!(out, "ande_bundler_ops_refused_total{{code=\"{code}\"}} {n}");
        }
        let _ = writeln!(out, "# HELP ande_bundler_mempool_ops User operations waiting.\n# TYPE ande_bundler_mempool_ops gauge\nande_bundler_mempool_ops {}", self.mempool_size());
        let (micros, count) = (self.validation_micros.load(Ordering::Relaxed), self.validations.load(Ordering::Relaxed));
        let _ = writeln!(out, "# HELP ande_bundler_validation_seconds Time spent validating user operations.\n# TYPE ande_bundler_validation_seconds summary\nande_bundler_validation_seconds_sum {}\nande_bundler_validation_seconds_count {count}", micros as f64 / 1e6);
        let ether = self.balance_gwei.load(Ordering::Relaxed) as f64 / 1e9;
        let _ = writeln!(out, "# HELP ande_bundler_balance_ether The bundler account's balance.\n# TYPE ande_bundler_balance_ether gauge\nande_bundler_balance_ether {ether}");
        out
    }
}
