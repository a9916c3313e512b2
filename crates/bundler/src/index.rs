//! The local index of included user operations: every `UserOperationEvent` the served
//! EntryPoints emit, read block by block as heads arrive (a cursor in the store, so nothing is
//! missed across restarts), so receipts never need a wide `eth_getLogs` scan. An operation in a
//! bundle in flight is looked up in its bundle's receipt, so its receipt answers as soon as the
//! node has the block, before the index has read it. The transaction receipts of recently
//! included bundles are kept in memory, fetched once as their block is indexed, so the receipts
//! of a bundle's operations cost no node call each (fetched with the block while following
//! heads; when catching up, on the first ask).

use crate::errors::RpcError;
use crate::mempool::PoolOp;
use alloy_primitives::{Address, B256, Bytes, U64, U256};
use alloy_sol_types::SolEvent;
use futures_util::StreamExt;
use ande_contracts::abi::IEntryPoint;
use ande_sender::NodeClient;
use jsonrpsee::rpc_params;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

/// Blocks read per `eth_getLogs`.
const RANGE: u64 = 500;
/// Transaction receipts kept in memory: many blocks' bundles at any realistic rate.
const CACHED_RECEIPTS: usize = 4096;
/// Receipts fetched at once when a block is indexed.
const RECEIPT_FETCHES: usize = 8;

/// The transaction receipts of recent bundles, by transaction hash, oldest evicted first. One
/// fetch per transaction however many ask at once: when a block lands, every operation of its
/// bundles is asked for at the same moment.
#[derive(Default)]
pub struct ReceiptCache {
    inner: parking_lot::Mutex<(HashMap<B256, Slot>, VecDeque<B256>)>,
}

type Slot = Arc<tokio::sync::OnceCell<Option<Arc<Value>>>>;

impl ReceiptCache {
    fn slot(&self, tx: B256) -> Slot {
        self.inner.lock().0.entry(tx).or_default().clone()
    }

    /// Keeps the mined receipt of `tx` in the order of eviction, dropping the oldest past
    /// CACHED_RECEIPTS: transactions not mined yet never push receipts out.
    fn kept(&self, tx: B256) {
        let mut inner = self.inner.lock();
        let (map, order) = &mut *inner;
        order.push_back(tx);
        while order.len() > CACHED_RECEIPTS {
            if let Some(old) = order.pop_front() {
                map.remove(&old);
            }
        }
    }

    /// The receipt of `tx`, from memory or the node; only a mined one is kept.
    pub async fn fetch(&self, node: &NodeClient, tx: B256) -> Result<Option<Arc<Value>>, RpcError> {
        let slot = self.slot(tx);
        let receipt = slot
            .get_or_try_init(|| async {
                let receipt: Option<Value> = node.request("eth_getTransactionReceipt", rpc_params![tx]).await?;
                let receipt = receipt.filter(|r| !r.is_null()).map(Arc::new);
                // Once per slot: only its initialiser runs this.
                if receipt.is_some() {
                    self.kept(tx);
                }
                Ok::<_, RpcError>(receipt)
            })
            .await?
            .clone();
        if receipt.is_none() {
            // Not mined yet: asked for again next time.
            let mut inner = self.inner.lock();
            if inner.0.get(&tx).is_some_and(|s| Arc::ptr_eq(s, &slot)) {
                inner.0.remove(&tx);
            }
        }
        Ok(receipt)
    }

    /// The receipts of the transactions the events came from, fetched side by side. Only a
    /// head start: one that fails is fetched when asked for.
    pub async fn prefetch(&self, node: &NodeClient, events: &[Included]) {
        let mut txs: Vec<B256> = events.iter().map(|e| e.transaction_hash).collect();
        txs.sort_unstable();
        txs.dedup();
        let fetched: Vec<Result<_, RpcError>> = futures_util::stream::iter(txs).map(|tx| self.fetch(node, tx)).buffer_unordered(RECEIPT_FETCHES).collect().await;
        if let Some(Err(e)) = fetched.into_iter().find(Result::is_err) {
            tracing::debug!(error = %e, "fetching the receipts of a block's bundles failed; they are fetched when asked for");
        }
    }
}

/// Where an operation was included, from its `UserOperationEvent`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Included {
    pub user_op_hash: B256,
    pub entry_point: Address,
    pub sender: Address,
    pub paymaster: Address,
    pub nonce: U256,
    pub success: bool,
    pub actual_gas_cost: U256,
    pub actual_gas_used: U256,
    pub transaction_hash: B256,
    pub block_number: u64,
    pub block_hash: B256,
    pub log_index: u64,
    /// The operation, when this bundler had it (otherwise it is read back from the bundle).
    #[serde(default)]
    pub op: Option<PoolOp>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RpcLog {
    address: Address,
    topics: Vec<B256>,
    data: Bytes,
    block_number: U64,
    block_hash: B256,
    transaction_hash: B256,
    log_index: U64,
}

/// The `UserOperationEvent`s of blocks `from..=to` of the given EntryPoints.
pub async fn events(node: &NodeClient, entry_points: &[Address], from: u64, to: u64) -> Result<Vec<Included>, RpcError> {
    let mut out = Vec::new();
    let mut start = from;
    while start <= to {
        let end = to.min(start + RANGE - 1);
        let filter = json!({
            "fromBlock": format!("{start:#x}"),
            "toBlock": format!("{end:#x}"),
            "address": entry_points,
            "topics": [[IEntryPoint::UserOperationEvent::SIGNATURE_HASH]],
        });
        let logs: Vec<RpcLog> = node.request("eth_getLogs", rpc_params![filter]).await?;
        out.extend(logs.into_iter().filter_map(decode));
        start = end + 1;
    }
    Ok(out)
}

/// The operation `hash` in a transaction receipt of `entry_point`'s, if it has its event.
pub fn in_receipt(receipt: &Value, entry_point: Address, hash: &B256) -> Option<Included> {
    let logs = Vec::<RpcLog>::deserialize(receipt.get("logs")?).ok()?;
    logs.into_iter().filter(|l| l.address == entry_point).filter_map(decode).find(|i| i.user_op_hash == *hash)
}

fn decode(log: RpcLog) -> Option<Included> {
    let event = IEntryPoint::UserOperationEvent::decode_raw_log(log.topics.iter().copied(), &log.data).ok()?;
    Some(Included {
        user_op_hash: event.userOpHash,
        entry_point: log.address,
        sender: event.sender,
        paymaster: event.paymaster,
        nonce: event.nonce,
        success: event.success,
        actual_gas_cost: event.actualGasCost,
        actual_gas_used: event.actualGasUsed,
        transaction_hash: log.transaction_hash,
        block_number: log.block_number.to(),
        block_hash: log.block_hash,
        log_index: log.log_index.to(),
        op: None,
    })
}

/// `eth_getUserOperationReceipt`: the event's fields, the logs the operation emitted (those of
/// its transaction between the previous operation's event and its own), and the transaction's
/// receipt.
pub async fn receipt(node: &NodeClient, cache: &ReceiptCache, included: &Included) -> Result<Value, RpcError> {
    let tx_receipt = cache.fetch(node, included.transaction_hash).await?.ok_or_else(|| RpcError::internal(format!("the node has no receipt for {}, which the index holds", included.transaction_hash)))?;
    let logs = tx_receipt.get("logs").and_then(Value::as_array).cloned().unwrap_or_default();
    let index = |l: &Value| l.get("logIndex").and_then(Value::as_str).and_then(|i| u64::from_str_radix(i.trim_start_matches("0x"), 16).ok());
    let topic0 = |l: &Value| l.get("topics").and_then(|t| t.get(0)).and_then(Value::as_str).map(str::to_lowercase);
    let event_topic = format!("{:#x}", IEntryPoint::UserOperationEvent::SIGNATURE_HASH);
    let before_execution = format!("{:#x}", IEntryPoint::BeforeExecution::SIGNATURE_HASH);
    let revert_topic = format!("{:#x}", IEntryPoint::UserOperationRevertReason::SIGNATURE_HASH);
    let entry_point = format!("{:#x}", included.entry_point);
    let is_entry_point = |l: &Value| l.get("address").and_then(Value::as_str).map(str::to_lowercase).as_deref() == Some(entry_point.as_str());
    // The operation's logs start after the previous operation's event (or BeforeExecution).
    let start = logs
        .iter()
        .filter(|l| is_entry_point(l) && index(l).is_some_and(|i| i < included.log_index))
        .filter(|l| matches!(topic0(l), Some(t) if t == event_topic || t == before_execution))
        .filter_map(index)
        .max()
        .map_or(0, |i| i + 1);
    let own: Vec<Value> = logs.iter().filter(|l| index(l).is_some_and(|i| i >= start && i < included.log_index)).cloned().collect();
    let reason = own.iter().find(|l| is_entry_point(l) && topic0(l).as_deref() == Some(revert_topic.as_str())).and_then(|l| {
        let topics: Vec<B256> = serde_json::from_value(l.get("topics")?.clone()).ok()?;
        let data: Bytes = serde_json::from_value(l.get("data")?.clone()).ok()?;
        IEntryPoint::UserOperationRevertReason::decode_raw_log(topics, &data).ok().map(|e| e.revertReason)
    });
    Ok(json!({
        "userOpHash": included.user_op_hash,
        "entryPoint": included.entry_point,
        "sender": included.sender,
        "nonce": included.nonce,
        "paymaster": included.paymaster,
        "actualGasCost": included.actual_gas_cost,
        "actualGasUsed": included.actual_gas_used,
        "success": included.success,
        "reason": reason,
        "logs": own,
        "receipt": tx_receipt.as_ref(),
    }))
}

/// The operation an included hash stands for, read back from the bundle's `handleOps` calldata
/// when this bundler did not have it.
pub async fn op_from_bundle(node: &NodeClient, included: &Included, chain_id: u64, version: ande_contracts::userop::Version) -> Result<Option<ande_contracts::userop::UserOperation>, RpcError> {
    use alloy_sol_types::SolCall;
    let tx: Option<Value> = node.request("eth_getTransactionByHash", rpc_params![included.transaction_hash]).await?;
    let Some(input) = tx.as_ref().and_then(|t| t.get("input")).and_then(|i| serde_json::from_value::<Bytes>(i.clone()).ok()) else { return Ok(None) };
    let Ok(call) = IEntryPoint::handleOpsCall::abi_decode(&input) else { return Ok(None) };
    Ok(call
        .ops
        .into_iter()
        .find(|op| ande_contracts::userop::hash_packed(op, version, included.entry_point, chain_id) == included.user_op_hash)
        .map(ande_contracts::userop::UserOperation::unpack))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_receipt_cache_keeps_the_newest() {
        let cache = ReceiptCache::default();
        let tx = |i: u64| B256::from(U256::from(i));
        let first = cache.slot(tx(0));
        assert!(Arc::ptr_eq(&first, &cache.slot(tx(0))), "one slot per transaction, shared by those who ask");
        cache.kept(tx(0));
        for i in 1..=CACHED_RECEIPTS as u64 {
            cache.slot(tx(i));
            cache.kept(tx(i));
        }
        let inner = cache.inner.lock();
        assert_eq!(inner.0.len(), CACHED_RECEIPTS);
        assert!(!inner.0.contains_key(&tx(0)), "the oldest left first");
        assert!(inner.0.contains_key(&tx(CACHED_RECEIPTS as u64)));
    }
}
