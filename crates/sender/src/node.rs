//! The JSON-RPC calls the stack's services make to a node, with the node's refusals typed once
//! here instead of matched on their text everywhere.

use alloy_primitives::{Address, B256, Bytes, U64, U256};
use alloy_rpc_types_eth::erc4337::TransactionConditional;
use jsonrpsee::core::client::ClientT;
use jsonrpsee::http_client::{HttpClient, HttpClientBuilder};
use jsonrpsee::rpc_params;
use serde::Deserialize;
use std::time::Duration;

/// Why a node refused a transaction, from geth's wording (which every client matches on).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    AlreadyKnown,
    NonceTooLow,
    /// A transaction with the same nonce and a higher fee is in the pool, or the fee is below
    /// what the pool takes: a higher fee may go through.
    Underpriced,
    /// Anything else: this transaction will not go through as it is.
    Other(String),
}

impl Refusal {
    pub fn classify(message: &str) -> Self {
        let m = message.to_ascii_lowercase();
        if m.contains("already known") || m.contains("known transaction") {
            Refusal::AlreadyKnown
        } else if m.contains("nonce too low") {
            Refusal::NonceTooLow
        } else if m.contains("underpriced") || m.contains("less than block base fee") {
            Refusal::Underpriced
        } else {
            Refusal::Other(message.to_string())
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The node answered with a JSON-RPC error; `data` is its data as bytes, when it was a hex
    /// string (a revert's output).
    #[error("{message}")]
    Refused { code: i32, message: String, data: Option<Bytes> },
    /// The node could not be reached or answered nonsense.
    #[error("node unreachable: {0}")]
    Unreachable(String),
}

impl NodeError {
    /// The refusal of a sent transaction, typed; None when the node was not reached.
    pub fn refusal(&self) -> Option<Refusal> {
        match self {
            NodeError::Refused { message, .. } => Some(Refusal::classify(message)),
            NodeError::Unreachable(_) => None,
        }
    }
}

impl From<jsonrpsee::core::ClientError> for NodeError {
    fn from(e: jsonrpsee::core::ClientError) -> Self {
        match e {
            jsonrpsee::core::ClientError::Call(err) => {
                let data = err.data().and_then(|raw| serde_json::from_str::<Bytes>(raw.get()).ok());
                NodeError::Refused { code: err.code(), message: err.message().to_string(), data }
            }
            other => NodeError::Unreachable(other.to_string()),
        }
    }
}

#[derive(Clone)]
pub struct NodeClient {
    client: HttpClient,
    url: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Receipt {
    pub transaction_hash: B256,
    pub block_number: U64,
    pub status: U64,
    pub gas_used: U64,
}

#[derive(Debug, Clone, Deserialize, serde::Serialize)]
pub struct NativeCurrency {
    pub name: String,
    pub symbol: String,
    pub decimals: u8,
}

/// Fees for a new transaction, in wei per gas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeeQuote {
    pub max_fee: u128,
    pub tip: u128,
}

/// A U256 fee as u128; fees that do not fit saturate instead of panicking.
pub fn saturating_u128(value: U256) -> u128 {
    u128::try_from(value).unwrap_or(u128::MAX)
}

impl NodeClient {
    pub fn new(url: &str) -> Result<Self, NodeError> {
        let client = HttpClientBuilder::default()
            .request_timeout(Duration::from_secs(10))
            .build(url)
            .map_err(|e| NodeError::Unreachable(e.to_string()))?;
        Ok(Self { client, url: url.to_string() })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub async fn request<T: serde::de::DeserializeOwned>(&self, method: &str, params: jsonrpsee::core::params::ArrayParams) -> Result<T, NodeError> {
        Ok(self.client.request(method, params).await?)
    }

    pub async fn chain_id(&self) -> Result<u64, NodeError> {
        Ok(self.client.request::<U64, _>("eth_chainId", rpc_params![]).await?.to())
    }

    /// The chain's currency as the node's genesis names it (`ande_nativeCurrency`).
    pub async fn native_currency(&self) -> Result<NativeCurrency, NodeError> {
        Ok(self.client.request("ande_nativeCurrency", rpc_params![]).await?)
    }

    /// `<chain id>-<genesis hash, 8 hex digits>`: names what is stored per chain (journals, the
    /// bundler's mempool), so a chain started again under the same id, from a new genesis,
    /// starts empty instead of trusting records of transactions it never had.
    pub async fn chain_tag(&self, chain_id: u64) -> Result<String, NodeError> {
        #[derive(serde::Deserialize)]
        struct Genesis {
            hash: B256,
        }
        let genesis: Option<Genesis> = self.client.request("eth_getBlockByNumber", rpc_params!["0x0", false]).await?;
        let genesis = genesis.ok_or_else(|| NodeError::Unreachable("the node has no genesis block".into()))?;
        Ok(format!("{chain_id}-{}", &alloy_primitives::hex::encode(genesis.hash)[..8]))
    }

    pub async fn block_number(&self) -> Result<u64, NodeError> {
        Ok(self.client.request::<U64, _>("eth_blockNumber", rpc_params![]).await?.to())
    }

    pub async fn balance(&self, address: Address) -> Result<U256, NodeError> {
        Ok(self.client.request("eth_getBalance", rpc_params![address, "latest"]).await?)
    }

    pub async fn code(&self, address: Address) -> Result<Bytes, NodeError> {
        Ok(self.client.request("eth_getCode", rpc_params![address, "latest"]).await?)
    }

    /// The account's nonce at `tag` ("latest": mined; "pending": counting the pool).
    pub async fn nonce(&self, address: Address, tag: &str) -> Result<u64, NodeError> {
        Ok(self.client.request::<U64, _>("eth_getTransactionCount", rpc_params![address, tag]).await?.to())
    }

    /// Fees for a transaction to go in the next blocks: twice the current price, so a rising
    /// base fee does not strand it, and a tip of at least `min_tip`.
    pub async fn fee_quote(&self, min_tip: u128) -> Result<FeeQuote, NodeError> {
        let price = saturating_u128(self.client.request::<U256, _>("eth_gasPrice", rpc_params![]).await?);
        let tip = saturating_u128(self.client.request::<U256, _>("eth_maxPriorityFeePerGas", rpc_params![]).await?).max(min_tip);
        Ok(FeeQuote { max_fee: price.saturating_mul(2).saturating_add(tip), tip })
    }

    /// `eth_call` of `data` on `to` at the latest block; a revert is a refusal with code 3.
    pub async fn call(&self, to: Address, data: &[u8]) -> Result<Bytes, NodeError> {
        let call = serde_json::json!({ "to": to, "data": Bytes::copy_from_slice(data) });
        Ok(self.client.request("eth_call", rpc_params![call, "latest"]).await?)
    }

    pub async fn estimate_gas(&self, request: &serde_json::Value) -> Result<u64, NodeError> {
        Ok(self.client.request::<U64, _>("eth_estimateGas", rpc_params![request]).await?.to())
    }

    pub async fn send_raw(&self, raw: &Bytes) -> Result<B256, NodeError> {
        Ok(self.client.request("eth_sendRawTransaction", rpc_params![raw]).await?)
    }

    /// `eth_sendRawTransactionConditional`: included only while `conditions` hold.
    pub async fn send_raw_conditional(&self, raw: &Bytes, conditions: &TransactionConditional) -> Result<B256, NodeError> {
        Ok(self.client.request("eth_sendRawTransactionConditional", rpc_params![raw, conditions]).await?)
    }

    pub async fn receipt(&self, hash: B256) -> Result<Option<Receipt>, NodeError> {
        Ok(self.client.request("eth_getTransactionReceipt", rpc_params![hash]).await?)
    }

    /// Whether the node knows the transaction (in its pool or mined).
    pub async fn knows_transaction(&self, hash: B256) -> Result<bool, NodeError> {
        let tx: Option<serde_json::Value> = self.client.request("eth_getTransactionByHash", rpc_params![hash]).await?;
        Ok(tx.is_some())
    }
}

/// Waits for the node with backoff; its chain id once it answers, None if `shutdown` fired.
pub async fn wait_for_node(node: &NodeClient, shutdown: &mut tokio::sync::watch::Receiver<bool>) -> Option<u64> {
    let mut delay = Duration::from_millis(250);
    loop {
        match node.chain_id().await {
            Ok(id) => return Some(id),
            Err(e) => tracing::warn!(url = %node.url(), error = %e, retry_in_ms = delay.as_millis() as u64, "waiting for the node"),
        }
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = shutdown.changed() => return None,
        }
        delay = (delay * 2).min(Duration::from_secs(10));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_typed_from_geth_wording() {
        assert_eq!(Refusal::classify("already known"), Refusal::AlreadyKnown);
        assert_eq!(Refusal::classify("nonce too low"), Refusal::NonceTooLow);
        assert_eq!(Refusal::classify("replacement transaction underpriced"), Refusal::Underpriced);
        assert_eq!(Refusal::classify("max fee per gas less than block base fee"), Refusal::Underpriced);
        assert_eq!(Refusal::classify("insufficient funds for gas * price + value"), Refusal::Other("insufficient funds for gas * price + value".into()));
        assert_eq!(saturating_u128(U256::MAX), u128::MAX);
    }
}
