//! The faucet's counters, rendered in Prometheus' text format.

use alloy_primitives::U256;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Default)]
pub struct Stats {
    claims: AtomicU64,
    sent: AtomicU64,
    confirmed: AtomicU64,
    failures: AtomicU64,
    captcha_refused: AtomicU64,
}

impl Stats {
    pub fn record_claim(&self) {
        self.claims.fetch_add(1, Ordering::Relaxed);
    }
    pub fn record_sent(&self) {
        self.sent.fetch_add(1, Ordering::Relaxed);
    }
    pub fn record_confirmed(&self) {
        self.confirmed.fetch_add(1, Ordering::Relaxed);
    }
    pub fn record_failure(&self) {
        self.failures.fetch_add(1, Ordering::Relaxed);
    }

    pub fn record_captcha_refused(&self) {
        self.captcha_refused.fetch_add(1, Ordering::Relaxed);
    }

    pub fn render(&self, queue_depth: u64, balance: Option<U256>) -> String {
        let mut out = String::new();
        let counters = [
            ("ande_faucet_claims_total", "Claim requests received.", &self.claims),
            ("ande_faucet_payouts_sent_total", "Payout transactions sent.", &self.sent),
            ("ande_faucet_payouts_confirmed_total", "Payouts confirmed in a block.", &self.confirmed),
            ("ande_faucet_failures_total", "Failed payouts and payout rounds.", &self.failures),
            ("ande_faucet_captcha_refused_total", "Claims refused for an unsolved captcha.", &self.captcha_refused),
        ];
        for (name, help, value) in counters {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}", value.load(Ordering::Relaxed));
        }
        let _ = writeln!(out, "# HELP ande_faucet_queue_depth Claims waiting to be paid.\n# TYPE ande_faucet_queue_depth gauge\nande_faucet_queue_depth {queue_depth}");
        if let Some(balance) = balance {
            // In ether: a gauge is a float, and wei overflow its precision.
            let gwei = u128::try_from(balance / U256::from(1_000_000_000u64)).unwrap_or(u128::MAX);
            let ether = gwei as f64 / 1e9;
            let _ = writeln!(out, "# HELP ande_faucet_balance_ether The faucet account's balance.\n# TYPE ande_faucet_balance_ether gauge\nande_faucet_balance_ether {ether}");
        }
        out
    }
}
