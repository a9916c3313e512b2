//! The few JSON-RPC calls the faucet makes to the node.

use alloy_primitives::{Address, B256, Bytes, U64, U256};
use jsonrpsee::core::client::ClientT;
use jsonrpsee::http_client::{HttpClient, HttpClientBuilder};
use jsonrpsee::rpc_params;
use serde::Deserialize;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The node answered with a JSON-RPC error (a refusal: its message says why).
    #[error("{0}")]
    Refused(String),
    /// The node could not be reached or answered nonsense.
    #[error("node unreachable: {0}")]
    Unreachable(String),
}

impl From<jsonrpsee::core::ClientError> for NodeError {
    fn from(e: jsonrpsee::core::ClientError) -> Self {
        match e {
            jsonrpsee::core::ClientError::Call(err) => NodeError::Refused(err.message().to_string()),
            other => NodeError::Unreachable(other.to_string()),
        }
    }
}

#[derive(Clone)]
pub struct NodeClient {
    client: HttpClient,
}

#[derive(Debug, Deserialize)]
pub struct Receipt {
    #[serde(rename = "blockNumber")]
    pub block_number: U64,
    pub status: U64,
}

#[derive(Debug, Clone, Deserialize, serde::Serialize)]
pub struct NativeCurrency {
    pub name: String,
    pub symbol: String,
    pub decimals: u8,
}

impl NodeClient {
    pub fn new(url: &str) -> Result<Self, NodeError> {
        let client = HttpClientBuilder::default()
            .request_timeout(Duration::from_secs(10))
            .build(url)
            .map_err(|e| NodeError::Unreachable(e.to_string()))?;
        Ok(Self { client })
    }

    pub async fn chain_id(&self) -> Result<u64, NodeError> {
        Ok(self.client.request::<U64, _>("eth_chainId", rpc_params![]).await?.to())
    }

    /// The chain's currency as the node's genesis names it (`ande_nativeCurrency`).
    pub async fn native_currency(&self) -> Result<NativeCurrency, NodeError> {
        Ok(self.client.request("ande_nativeCurrency", rpc_params![]).await?)
    }

    pub async fn block_number(&self) -> Result<u64, NodeError> {
        Ok(self.client.request::<U64, _>("eth_blockNumber", rpc_params![]).await?.to())
    }

    pub async fn balance(&self, address: Address) -> Result<U256, NodeError> {
        Ok(self.client.request("eth_getBalance", rpc_params![address, "latest"]).await?)
    }

    pub async fn pending_nonce(&self, address: Address) -> Result<u64, NodeError> {
        Ok(self.client.request::<U64, _>("eth_getTransactionCount", rpc_params![address, "pending"]).await?.to())
    }

    pub async fn gas_price(&self) -> Result<u128, NodeError> {
        Ok(self.client.request::<U256, _>("eth_gasPrice", rpc_params![]).await?.to())
    }

    pub async fn send_raw(&self, raw: &Bytes) -> Result<B256, NodeError> {
        Ok(self.client.request("eth_sendRawTransaction", rpc_params![raw]).await?)
    }

    pub async fn receipt(&self, hash: B256) -> Result<Option<Receipt>, NodeError> {
        Ok(self.client.request("eth_getTransactionReceipt", rpc_params![hash]).await?)
    }
}
