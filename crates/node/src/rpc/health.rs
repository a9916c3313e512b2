//! `GET /` and `GET /health` on the RPC ports: 200 with {chain_id, head, head_age_ms} while the
//! head is younger than three block times, 503 otherwise. WebSocket upgrades pass through.

use crate::chain::Chain;
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

/// The health report: whether the head is fresh, and the JSON body.
pub fn report(chain: &Chain) -> (bool, serde_json::Value) {
    let head = chain.head();
    let age = head.committed_at.elapsed();
    let interval = if chain.args.lazy { chain.args.lazy_max_idle } else { chain.args.block_time };
    let healthy = age < interval * 3 + Duration::from_millis(500);
    let body = serde_json::json!({
        "status": if healthy { "ok" } else { "stale" },
        "chain_id": chain.spec.chain_id,
        "head": head.header.number,
        "head_hash": head.hash,
        "head_age_ms": age.as_millis() as u64,
    });
    (healthy, body)
}
