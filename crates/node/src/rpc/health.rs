//! `GET /` and `GET /health` on the RPC ports: 200 with {chain_id, head, head_age_ms} while the
//! node is ready, 503 with a reason otherwise: a sequencer whose head is older than three block
//! times or whose DA backlog passed `DA_MAX_BACKLOG`; a full node that has not read DA up to its
//! head lately, or that refused every blob it saw and holds only the genesis. WebSocket upgrades
//! pass through.

use crate::chain::Chain;
use crate::config::Mode;
use ande_http::{Intercept, is_plain_get, json_response};
use hyper::{HeaderMap, Method, StatusCode, Uri};
use jsonrpsee::server::HttpResponse;
use std::sync::Arc;
use std::time::Duration;

/// Answers `GET /` and `GET /health` with the health report.
pub struct HealthCheck {
    chain: Arc<Chain>,
}

impl HealthCheck {
    pub fn new(chain: Arc<Chain>) -> Self {
        Self { chain }
    }
}

impl Intercept for HealthCheck {
    fn intercept(&self, method: &Method, uri: &Uri, headers: &HeaderMap) -> Option<HttpResponse> {
        if !is_plain_get(method, uri, headers, &["/", "/health"]) {
            return None;
        }
        let (healthy, body) = report(&self.chain);
        Some(json_response(if healthy { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE }, &body))
    }
}

/// A full node is ready while it has read DA up to the DA head this recently.
const FULL_NODE_SYNC_AGE: Duration = Duration::from_secs(30);

/// The health report: whether the node is ready, and the JSON body.
pub fn report(chain: &Chain) -> (bool, serde_json::Value) {
    let head = chain.head();
    let age = head.committed_at.elapsed();
    let problem = match chain.args.mode {
        Mode::Sequencer => {
            let interval = if chain.args.lazy { chain.args.lazy_max_idle } else { chain.args.block_time };
            // From the head now: the poster may be waiting on DA and not counting.
            let backlog = chain.da_status.lock().backlog(head.header.number);
            if age >= interval * 3 + Duration::from_millis(500) {
                Some(("stale", format!("no block for {} ms", age.as_millis())))
            } else if backlog > chain.args.da.max_backlog {
                Some(("degraded", format!("{backlog} blocks wait for DA, over DA_MAX_BACKLOG ({})", chain.args.da.max_backlog)))
            } else {
                None
            }
        }
        Mode::Full => {
            let status = chain.da_status.lock();
            match status.synced_at {
                // Only blobs it refused and no block yet: most likely the wrong sequencer address.
                _ if head.header.number == 0 && status.accepted_batches == 0 && status.rejected_blobs > 0 => Some((
                    "degraded",
                    format!(
                        "{} blobs in the namespace refused and none accepted (last: {}); is {} the address that signs this chain's batches (the sequencer's ande_daStatus \"sequencer\")?",
                        status.rejected_blobs,
                        status.last_rejection.as_deref().unwrap_or("unknown"),
                        status.sequencer.map_or_else(|| "SEQUENCER_ADDRESS".to_string(), |a| a.to_string()),
                    ),
                )),
                Some(at) if at.elapsed() < FULL_NODE_SYNC_AGE => None,
                _ => Some(("syncing", "not caught up with DA".to_string())),
            }
        }
    };
    let mut body = serde_json::json!({
        "status": problem.as_ref().map_or("ok", |(status, _)| *status),
        "chain_id": chain.spec.chain_id,
        "head": head.header.number,
        "head_hash": head.hash,
        "head_age_ms": age.as_millis() as u64,
    });
    if let Some((_, reason)) = problem.as_ref() {
        body["reason"] = reason.clone().into();
    }
    (problem.is_none(), body)
}
