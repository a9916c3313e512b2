//! What the explorer reads from the node: blocks with their transactions, receipts
//! (`eth_getBlockReceipts`), internal calls (`debug_traceBlockByNumber` with `callTracer`),
//! token metadata (`eth_call`), balances and code, and new heads over WebSocket.

use crate::model::{Block, InternalTx, Log, Tx};
use alloy_primitives::{Address, U256};
use jsonrpsee::core::client::ClientT;
use jsonrpsee::http_client::{HttpClient, HttpClientBuilder};
use jsonrpsee::rpc_params;
use serde_json::{Value, json};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
#[error("node: {0}")]
pub struct NodeError(pub String);

impl From<jsonrpsee::core::ClientError> for NodeError {
    fn from(e: jsonrpsee::core::ClientError) -> Self {
        Self(e.to_string())
    }
}

#[derive(Clone)]
pub struct Node {
    http: HttpClient,
}

impl Node {
    pub fn new(url: &str) -> Result<Self, NodeError> {
        let http = HttpClientBuilder::default()
            .request_timeout(Duration::from_secs(30))
            .max_response_size(256 << 20)
            .build(url)
            .map_err(|e| NodeError(format!("{url}: {e}")))?;
        Ok(Self { http })
    }

    pub async fn chain_id(&self) -> Result<u64, NodeError> {
        quantity(&self.http.request::<Value, _>("eth_chainId", rpc_params![]).await?)
    }

    /// The native currency's symbol (`ande_nativeCurrency`), when the node says.
    pub async fn native_symbol(&self) -> Option<String> {
        let currency: Value = self.http.request("ande_nativeCurrency", rpc_params![]).await.ok()?;
        currency["symbol"].as_str().map(str::to_string)
    }

    pub async fn head(&self) -> Result<u64, NodeError> {
        quantity(&self.http.request::<Value, _>("eth_blockNumber", rpc_params![]).await?)
    }

    pub async fn block_hash(&self, number: u64) -> Result<Option<String>, NodeError> {
        let block: Value = self.http.request("eth_getBlockByNumber", rpc_params![format!("{number:#x}"), false]).await?;
        Ok(block["hash"].as_str().map(str::to_lowercase))
    }

    /// Block `number` with everything the explorer stores about it.
    pub async fn block(&self, number: u64) -> Result<Block, NodeError> {
        let block: Value = self.http.request("eth_getBlockByNumber", rpc_params![format!("{number:#x}"), true]).await?;
        if block.is_null() {
            return Err(NodeError(format!("block {number} is not there")));
        }
        // By hash, so a chain that changes between the calls cannot mix two blocks.
        let hash = required(&block["hash"], "block hash")?;
        let (receipts, traces) = tokio::try_join!(
            self.http.request::<Value, _>("eth_getBlockReceipts", rpc_params![hash.clone()]),
            self.http.request::<Value, _>("debug_traceBlockByHash", rpc_params![hash.clone(), json!({ "tracer": "callTracer" })]),
        )?;
        parse_block(&block, &receipts, &traces)
    }

    pub async fn balance(&self, address: Address) -> Result<U256, NodeError> {
        Ok(self.http.request("eth_getBalance", rpc_params![address, "latest"]).await?)
    }

    pub async fn code_size(&self, address: Address) -> Result<usize, NodeError> {
        let code: alloy_primitives::Bytes = self.http.request("eth_getCode", rpc_params![address, "latest"]).await?;
        Ok(code.len())
    }

    /// `eth_call` of a view without arguments; `None` when it reverts or does not exist.
    pub async fn call(&self, to: &str, selector: [u8; 4]) -> Option<Vec<u8>> {
        let data = alloy_primitives::hex::encode_prefixed(selector);
        let out: alloy_primitives::Bytes = self.http.request("eth_call", rpc_params![json!({ "to": to, "data": data }), "latest"]).await.ok()?;
        Some(out.to_vec())
    }

    /// New heads over WebSocket: returns when the subscription ends or fails; `notify` hears
    /// each new block number.
    pub async fn follow_heads(ws_url: &str, notify: &tokio::sync::watch::Sender<u64>) -> Result<(), NodeError> {
        ande_sender::heads::subscribe(ws_url, notify).await.map_err(NodeError)
    }
}

pub fn quantity(value: &Value) -> Result<u64, NodeError> {
    let text = value.as_str().ok_or_else(|| NodeError(format!("expected a quantity, got {value}")))?;
    u64::from_str_radix(text.trim_start_matches("0x"), 16).map_err(|_| NodeError(format!("bad quantity {text}")))
}

fn big(value: &Value) -> Result<String, NodeError> {
    let text = value.as_str().unwrap_or("0x0");
    U256::from_str_radix(text.trim_start_matches("0x"), 16).map(|v| v.to_string()).map_err(|_| NodeError(format!("bad quantity {text}")))
}

fn text(value: &Value) -> Option<String> {
    value.as_str().map(str::to_lowercase)
}

fn required(value: &Value, what: &str) -> Result<String, NodeError> {
    text(value).ok_or_else(|| NodeError(format!("missing {what}")))
}

fn parse_block(block: &Value, receipts: &Value, traces: &Value) -> Result<Block, NodeError> {
    let number = quantity(&block["number"])?;
    let txs = block["transactions"].as_array().cloned().unwrap_or_default();
    let receipts = receipts.as_array().cloned().unwrap_or_default();
    let traces = traces.as_array().cloned().unwrap_or_default();
    if receipts.len() != txs.len() {
        return Err(NodeError(format!("block {number}: {} transactions, {} receipts", txs.len(), receipts.len())));
    }
    let mut out = Block {
        number,
        hash: required(&block["hash"], "block hash")?,
        parent_hash: required(&block["parentHash"], "parent hash")?,
        timestamp: quantity(&block["timestamp"])?,
        miner: required(&block["miner"], "miner")?,
        gas_used: quantity(&block["gasUsed"])?,
        gas_limit: quantity(&block["gasLimit"])?,
        base_fee: block.get("baseFeePerGas").map(big).transpose()?,
        txs: Vec::with_capacity(txs.len()),
        logs: Vec::new(),
        internal: Vec::new(),
    };
    for (index, (tx, receipt)) in txs.iter().zip(&receipts).enumerate() {
        let hash = required(&tx["hash"], "transaction hash")?;
        if text(&receipt["transactionHash"]).as_deref() != Some(hash.as_str()) {
            return Err(NodeError(format!("block {number}: receipt {index} is not for transaction {hash}")));
        }
        out.txs.push(Tx {
            hash: hash.clone(),
            block_number: number,
            index: index as u64,
            from: required(&tx["from"], "sender")?,
            to: text(&tx["to"]),
            value: big(&tx["value"])?,
            nonce: quantity(&tx["nonce"])?,
            tx_type: quantity(&tx["type"]).unwrap_or(0),
            gas_limit: quantity(&tx["gas"])?,
            gas_used: quantity(&receipt["gasUsed"])?,
            gas_price: big(&receipt["effectiveGasPrice"])?,
            status: quantity(&receipt["status"])?,
            contract_address: text(&receipt["contractAddress"]),
            input: text(&tx["input"]).unwrap_or_else(|| "0x".into()),
        });
        for log in receipt["logs"].as_array().into_iter().flatten() {
            let topics: Vec<String> = log["topics"].as_array().into_iter().flatten().filter_map(text).collect();
            out.logs.push(Log {
                block_number: number,
                log_index: quantity(&log["logIndex"])?,
                tx_hash: hash.clone(),
                address: required(&log["address"], "log address")?,
                topics,
                data: text(&log["data"]).unwrap_or_else(|| "0x".into()),
            });
        }
        if let Some(trace) = traces.get(index) {
            // geth wraps each trace as {txHash, result}; older shapes give the frame itself.
            let frame = trace.get("result").unwrap_or(trace);
            let mut idx = 0;
            for call in frame["calls"].as_array().into_iter().flatten() {
                flatten(call, &hash, number, &mut idx, &mut out.internal)?;
            }
        }
    }
    Ok(out)
}

/// The frames below the top-level call, depth first, as internal transactions.
fn flatten(frame: &Value, tx_hash: &str, block: u64, idx: &mut u64, out: &mut Vec<InternalTx>) -> Result<(), NodeError> {
    out.push(InternalTx {
        tx_hash: tx_hash.to_string(),
        index: *idx,
        block_number: block,
        call_type: frame["type"].as_str().unwrap_or("CALL").to_uppercase(),
        from: required(&frame["from"], "call sender")?,
        to: text(&frame["to"]),
        value: big(&frame["value"])?,
        gas_used: quantity(&frame["gasUsed"]).unwrap_or(0),
        error: frame["error"].as_str().map(str::to_string),
    });
    *idx += 1;
    for call in frame["calls"].as_array().into_iter().flatten() {
        flatten(call, tx_hash, block, idx, out)?;
    }
    Ok(())
}
