//! `eth_subscribe` over WebSocket: `newHeads`, `logs` and `newPendingTransactions`.

use super::convert::{LogMeta, rpc_header};
use crate::chain::{BlockEvent, Chain};
use alloy_rpc_types_eth::Filter;
use jsonrpsee::core::SubscriptionResult;
use jsonrpsee::{PendingSubscriptionSink, SubscriptionMessage, SubscriptionSink};
use std::sync::Arc;
use tokio::sync::broadcast;

fn json(value: &impl serde::Serialize) -> Result<SubscriptionMessage, serde_json::Error> {
    serde_json::value::to_raw_value(value).map(SubscriptionMessage::from)
}

/// Sends each event's messages until the client goes away. A subscriber that falls behind the
/// channel is closed rather than silently skipped, so it knows to catch up by polling.
async fn forward<T: Clone>(
    sink: SubscriptionSink,
    mut events: broadcast::Receiver<T>,
    mut messages: impl FnMut(T) -> Result<Vec<SubscriptionMessage>, serde_json::Error>,
) -> SubscriptionResult {
    loop {
        let event = tokio::select! {
            event = events.recv() => event,
            _ = sink.closed() => return Ok(()),
        };
        let Ok(event) = event else { return Ok(()) };
        for message in messages(event)? {
            if sink.send(message).await.is_err() {
                return Ok(());
            }
        }
    }
}

/// The logs of a block that match `filter`, with their positions in the block.
fn matching_logs(event: &BlockEvent, filter: &Filter) -> Result<Vec<SubscriptionMessage>, serde_json::Error> {
    let mut out = Vec::new();
    if !filter.matches_bloom(event.header.logs_bloom) {
        return Ok(out);
    }
    let mut log_index = 0u64;
    for (tx_index, (tx_hash, logs)) in event.logs.iter().enumerate() {
        let meta = LogMeta {
            block_hash: event.hash,
            block_number: event.header.number,
            timestamp: event.header.timestamp,
            tx_hash: *tx_hash,
            tx_index: tx_index as u64,
        };
        for log in logs {
            if filter.matches_address(log.address) && filter.matches_topics(log.topics()) {
                out.push(json(&meta.log(log.clone(), log_index))?);
            }
            log_index += 1;
        }
    }
    Ok(out)
}

pub async fn subscribe(
    chain: Arc<Chain>,
    pending: PendingSubscriptionSink,
    kind: String,
    params: Option<serde_json::Value>,
) -> SubscriptionResult {
    match kind.as_str() {
        "newHeads" => {
            let sink = pending.accept().await?;
            forward(sink, chain.blocks.subscribe(), |event| Ok(vec![json(&rpc_header(event.header.clone(), event.hash))?])).await
        }
        "logs" => {
            let filter: Filter = match params.map(serde_json::from_value).transpose() {
                Ok(filter) => filter.unwrap_or_default(),
                Err(e) => {
                    pending.reject(super::error::invalid_params(format!("invalid logs filter: {e}"))).await;
                    return Ok(());
                }
            };
            let sink = pending.accept().await?;
            forward(sink, chain.blocks.subscribe(), |event| matching_logs(&event, &filter)).await
        }
        "newPendingTransactions" => {
            let sink = pending.accept().await?;
            forward(sink, chain.pending_txs.subscribe(), |hash| Ok(vec![json(&hash)?])).await
        }
        other => {
            pending.reject(super::error::invalid_params(format!("unsupported subscription type: {other}"))).await;
            Ok(())
        }
    }
}
