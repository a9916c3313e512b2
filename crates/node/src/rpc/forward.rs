//! A full node's `eth_sendRawTransaction`: forwarded to the sequencer, whose answer (a hash, or
//! an error with its code and message) is returned as the sequencer gave it.

use super::error::{self, RpcResult};
use alloy_primitives::{B256, Bytes};
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

    pub async fn send_raw_transaction(&self, raw: Bytes) -> RpcResult<B256> {
        match self.client.request("eth_sendRawTransaction", rpc_params![raw]).await {
            Ok(hash) => Ok(hash),
            Err(Error::Call(e)) => Err(e),
            Err(e) => Err(error::server(format!("the sequencer cannot be reached: {e}"))),
        }
    }
}
