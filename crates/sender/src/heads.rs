//! Following a node's head: `newHeads` over WebSocket, the stack's services' common way to
//! hear of blocks as they land.

use alloy_primitives::U64;
use jsonrpsee::core::client::SubscriptionClientT;
use jsonrpsee::rpc_params;
use jsonrpsee::ws_client::WsClientBuilder;
use serde_json::Value;

/// Sends each new head's number into `heads` until the subscription ends or fails (the caller
/// reconnects, and polls meanwhile).
pub async fn subscribe(ws_url: &str, heads: &tokio::sync::watch::Sender<u64>) -> Result<(), String> {
    let client = WsClientBuilder::default().build(ws_url).await.map_err(|e| format!("{ws_url}: {e}"))?;
    let mut subscription = client
        .subscribe::<Value, _>("eth_subscribe", rpc_params!["newHeads"], "eth_unsubscribe")
        .await
        .map_err(|e| format!("newHeads: {e}"))?;
    while let Some(head) = subscription.next().await {
        let head = head.map_err(|e| e.to_string())?;
        let number: U64 = serde_json::from_value(head["number"].clone()).map_err(|e| format!("a head without a number: {e}"))?;
        heads.send_replace(number.to());
    }
    Err("the newHeads subscription ended".into())
}
