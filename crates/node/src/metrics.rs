//! Prometheus metrics of the node, served on their own port at GET /metrics.

use crate::producer::Built;
use metrics::{counter, gauge, histogram};
use metrics_exporter_prometheus::PrometheusBuilder;
use std::net::SocketAddr;
use std::time::Duration;

/// Starts the exporter. Fails when the port is taken.
pub fn install(addr: SocketAddr) -> Result<(), String> {
    PrometheusBuilder::new()
        .with_http_listener(addr)
        .set_buckets(&[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5])
        .map_err(|e| e.to_string())?
        .install()
        .map_err(|e| format!("metrics exporter on {addr}: {e}"))
}

/// `late`: how long after its due time the block was committed and visible.
pub fn record_block(built: &Built, late: Duration) {
    gauge!("ande_head_block").set(built.number as f64);
    histogram!("ande_block_build_seconds").record(built.build_time.as_secs_f64());
    histogram!("ande_block_commit_seconds").record(built.commit_time.as_secs_f64());
    histogram!("ande_block_lateness_seconds").record(late.as_secs_f64());
    histogram!("ande_block_transactions").record(built.txs as f64);
    histogram!("ande_block_gas_used").record(built.gas_used as f64);
    counter!("ande_transactions_included_total").increment(built.txs as u64);
}

pub fn record_pool(pending: usize, queued: usize) {
    gauge!("ande_txpool_pending").set(pending as f64);
    gauge!("ande_txpool_queued").set(queued as f64);
}

pub fn record_db_size(bytes: u64) {
    gauge!("ande_db_size_bytes").set(bytes as f64);
}

/// Heavy requests of a class running or waiting for their turn.
pub fn record_budget(class: &'static str, admitted: usize) {
    gauge!("ande_rpc_budget_admitted", "class" => class).set(admitted as f64);
}

pub fn record_budget_refused(class: &'static str) {
    counter!("ande_rpc_budget_refused_total", "class" => class).increment(1);
}

pub fn record_rpc(method: &str, elapsed: Duration, ok: bool) {
    let method = method.to_owned();
    histogram!("ande_rpc_request_seconds", "method" => method.clone()).record(elapsed.as_secs_f64());
    counter!("ande_rpc_requests_total", "method" => method, "result" => if ok { "ok" } else { "error" }).increment(1);
}
