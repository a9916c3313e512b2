//! A full node's `eth_sendRawTransaction` (and its conditional form): forwarded to the
//! sequencer, whose answer (a hash, or an error with its code and message) is returned as the
//! sequencer gave it.

use super::error::{self, RpcResult};
use alloy_primitives::{B256, Bytes};
use alloy_rpc_types_eth::erc4337::TransactionConditional;
use jsonrpsee::core::client::{ClientT, Error};
use jsonrpsee::http_client::{HttpClient, HttpClientBuilder};
use jsonrpsee::rpc_params;
use std::time::Duration;

#[derive(Clone)]
pub struct Forward {
    client: HttpClient,
}

impl Forward {
    pub fn new(url: &str) -> Result<Self, String> {
        let client = HttpClientBuilder::default()
            .request_timeout(Duration::from_secs(30))
            .build(url)
            .map_err(|e| format!("SEQUENCER_URL {url}: {e}"))?;
        Ok(Self { client })
    }

    pub async fn send_raw_transaction(&self, raw: Bytes, conditions: Option<TransactionConditional>) -> RpcResult<B256> {
        let answer = match conditions {
            Some(conditions) => self.client.request("eth_sendRawTransactionConditional", rpc_params![raw, conditions]).await,
            None => self.client.request("eth_sendRawTransaction", rpc_params![raw]).await,
        };
        match answer {
            Ok(hash) => Ok(hash),
            Err(Error::Call(e)) => Err(e),
            Err(e) => Err(error::server(format!("the sequencer cannot be reached: {e}"))),
        }
    }
}
