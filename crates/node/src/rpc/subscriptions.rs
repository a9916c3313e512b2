//! `eth_subscribe` over WebSocket: `newHeads`, `logs` and `newPendingTransactions`.

use super::convert::{LogMeta, rpc_header};
use crate::chain::Chain;
use alloy_rpc_types_eth::Filter;
use jsonrpsee::core::SubscriptionResult;
use jsonrpsee::{PendingSubscriptionSink, SubscriptionMessage};
use std::sync::Arc;
use tokio::sync::broadcast::error::RecvError;

fn json(value: &impl serde::Serialize) -> Result<SubscriptionMessage, serde_json::Error> {
    serde_json::value::to_raw_value(value).map(SubscriptionMessage::from)
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
            let mut blocks = chain.blocks.subscribe();
            loop {
                tokio::select! {
                    event = blocks.recv() => match event {
                        Ok(event) => {
                            let header = rpc_header(event.header.clone(), event.hash);
                            let msg = json(&header)?;
                            if sink.send(msg).await.is_err() { break; }
                        }
                        Err(RecvError::Lagged(_)) => continue,
                        Err(RecvError::Closed) => break,
                    },
                    _ = sink.closed() => break,
                }
            }
        }
        "logs" => {
            let filter: Filter = match params {
                None => Filter::default(),
                Some(value) => match serde_json::from_value(value) {
                    Ok(filter) => filter,
                    Err(e) => {
                        pending.reject(super::error::invalid_params(format!("invalid logs filter: {e}"))).await;
                        return Ok(());
                    }
                },
            };
            let sink = pending.accept().await?;
            let mut blocks = chain.blocks.subscribe();
            loop {
                tokio::select! {
                    event = blocks.recv() => match event {
                        Ok(event) => {
                            if !filter.matches_bloom(event.header.logs_bloom) { continue; }
                            let mut log_index = 0u64;
                            for (tx_index, (tx_hash, logs)) in event.logs.iter().enumerate() {
                                let meta = LogMeta { block_hash: event.hash, block_number: event.header.number, timestamp: event.header.timestamp, tx_hash: *tx_hash, tx_index: tx_index as u64 };
                                for log in logs {
                                    if filter.matches_address(log.address) && filter.matches_topics(log.topics()) {
                                        let msg = json(&meta.log(log.clone(), log_index))?;
                                        if sink.send(msg).await.is_err() { return Ok(()); }
                                    }
                                    log_index += 1;
                                }
                            }
                        }
                        Err(RecvError::Lagged(_)) => continue,
                        Err(RecvError::Closed) => break,
                    },
                    _ = sink.closed() => break,
                }
            }
        }
        "newPendingTransactions" => {
            let sink = pending.accept().await?;
            let mut txs = chain.pending_txs.subscribe();
            loop {
                tokio::select! {
                    hash = txs.recv() => match hash {
                        Ok(hash) => {
                            if sink.send(json(&hash)?).await.is_err() { break; }
                        }
                        Err(RecvError::Lagged(_)) => continue,
                        Err(RecvError::Closed) => break,
                    },
                    _ = sink.closed() => break,
                }
            }
        }
        other => {
            pending.reject(super::error::invalid_params(format!("unsupported subscription type: {other}"))).await;
        }
    }
    Ok(())
}
