//! What the validator and the relayer both need of a node and of the deployments files.

use ande_chain::{Deployments, DeploymentsError};
use ande_contracts::bridge as names;
use jsonrpsee::core::params::ArrayParams;
use std::path::Path;
use std::time::Duration;
use tokio::sync::watch;

/// Blocks per eth_getLogs request (the node caps a range at 10 000).
pub const LOG_CHUNK: u64 = 2_000;

/// A JSON array as positional parameters.
pub fn params(value: serde_json::Value) -> ArrayParams {
    let mut params = ArrayParams::new();
    if let serde_json::Value::Array(items) = value {
        for item in items {
            params.insert(item).expect("a JSON value serializes");
        }
    }
    params
}

/// The deployments file once it names the bridge's contracts (the deploy writes it beside
/// these services' start); None when stopped while waiting.
pub async fn wait_for_deployments(file: &Path, shutdown: &mut watch::Receiver<bool>) -> Result<Option<Deployments>, DeploymentsError> {
    let mut waited = 0u64;
    loop {
        if let Some(d) = Deployments::load(file)?.filter(|d| d.contracts.contains_key(names::MAILBOX) && d.contracts.contains_key(names::MERKLE_TREE_HOOK)) {
            return Ok(Some(d));
        }
        if waited.is_multiple_of(60) {
            tracing::info!(file = %file.display(), "waiting for the deployments file to name the bridge's contracts");
        }
        waited += 1;
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            _ = shutdown.changed() => return Ok(None),
        }
    }
}
