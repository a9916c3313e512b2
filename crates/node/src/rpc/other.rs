//! The small namespaces: `web3`, `net`, `txpool` and `debug`'s raw getters.

use super::error::{self, RpcResult};
use super::eth::EthRpc;
use crate::chain::Chain;
use crate::pool::PoolTx;
use alloy_consensus::Transaction as _;
use alloy_eips::eip2718::Encodable2718;
use alloy_primitives::{Address, B256, Bytes, U64, keccak256};
use alloy_rpc_types_eth::{BlockId, Transaction};
use jsonrpsee::proc_macros::rpc;
use std::collections::BTreeMap;
use std::sync::Arc;

#[rpc(server, namespace = "web3")]
pub trait Web3Api {
    #[method(name = "clientVersion")]
    fn client_version(&self) -> RpcResult<String>;
    #[method(name = "sha3")]
    fn sha3(&self, data: Bytes) -> RpcResult<B256>;
}

#[rpc(server, namespace = "net")]
pub trait NetApi {
    #[method(name = "version")]
    fn version(&self) -> RpcResult<String>;
    #[method(name = "listening")]
    fn listening(&self) -> RpcResult<bool>;
    #[method(name = "peerCount")]
    fn peer_count(&self) -> RpcResult<U64>;
}

type ByNonce<T> = BTreeMap<Address, BTreeMap<String, T>>;

#[derive(Clone, serde::Serialize)]
pub struct PoolContent<T> {
    pending: ByNonce<T>,
    queued: ByNonce<T>,
}

#[derive(Clone, serde::Serialize)]
pub struct PoolStatus {
    pending: U64,
    queued: U64,
}

#[rpc(server, namespace = "txpool")]
pub trait TxpoolApi {
    #[method(name = "content")]
    fn content(&self) -> RpcResult<PoolContent<Transaction>>;
    #[method(name = "status")]
    fn status(&self) -> RpcResult<PoolStatus>;
    #[method(name = "inspect")]
    fn inspect(&self) -> RpcResult<PoolContent<String>>;
}

/// AndeChain's own methods: what other services need to know about the chain.
#[rpc(server, namespace = "ande")]
pub trait AndeApi {
    /// The native currency, as the genesis names it (for wallets' `wallet_addEthereumChain`).
    #[method(name = "nativeCurrency")]
    fn native_currency(&self) -> RpcResult<ande_chain::NativeCurrency>;
    /// Where the chain stands in DA: posted, included, pending.
    #[method(name = "daStatus")]
    fn da_status(&self) -> RpcResult<crate::da::DaStatus>;
    /// The DA height that includes a block; null until it is known.
    #[method(name = "getBlockDaHeight")]
    fn block_da_height(&self, number: U64) -> RpcResult<Option<U64>>;
}

#[rpc(server, namespace = "debug")]
pub trait DebugRawApi {
    #[method(name = "getRawTransaction")]
    fn raw_transaction(&self, hash: B256) -> RpcResult<Option<Bytes>>;
    #[method(name = "getRawHeader")]
    fn raw_header(&self, block: BlockId) -> RpcResult<Bytes>;
    #[method(name = "getRawBlock")]
    fn raw_block(&self, block: BlockId) -> RpcResult<Bytes>;
    #[method(name = "getRawReceipts")]
    fn raw_receipts(&self, block: BlockId) -> RpcResult<Vec<Bytes>>;
}

pub struct Misc {
    pub chain: Arc<Chain>,
}

impl Web3ApiServer for Misc {
    fn client_version(&self) -> RpcResult<String> {
        Ok(format!("ande/v{}/linux-{}", env!("CARGO_PKG_VERSION"), std::env::consts::ARCH))
    }
    fn sha3(&self, data: Bytes) -> RpcResult<B256> {
        Ok(keccak256(&data))
    }
}

impl NetApiServer for Misc {
    fn version(&self) -> RpcResult<String> {
        Ok(self.chain.spec.chain_id.to_string())
    }
    fn listening(&self) -> RpcResult<bool> {
        Ok(true)
    }
    fn peer_count(&self) -> RpcResult<U64> {
        Ok(U64::ZERO)
    }
}

fn group<T>(txs: Vec<Arc<PoolTx>>, f: impl Fn(&PoolTx) -> T) -> ByNonce<T> {
    let mut out: ByNonce<T> = BTreeMap::new();
    for tx in txs {
        out.entry(tx.sender()).or_default().insert(tx.nonce().to_string(), f(&tx));
    }
    out
}

impl AndeApiServer for Misc {
    fn native_currency(&self) -> RpcResult<ande_chain::NativeCurrency> {
        Ok(self.chain.spec.currency.clone())
    }
    fn da_status(&self) -> RpcResult<crate::da::DaStatus> {
        // The backlog from the head now, as readiness counts it.
        let mut status = self.chain.da_status.lock().clone();
        status.pending_blocks = status.backlog(self.chain.head().header.number);
        Ok(status)
    }
    fn block_da_height(&self, number: U64) -> RpcResult<Option<U64>> {
        // The store as of now: a block's DA height is recorded after the block is published.
        Ok(self.chain.store.reader()?.da_height(number.to())?.map(U64::from))
    }
}

impl TxpoolApiServer for Misc {
    fn content(&self) -> RpcResult<PoolContent<Transaction>> {
        let (pending, queued) = self.chain.pool.lock().content();
        let rpc = |tx: &PoolTx| super::convert::rpc_tx(tx.tx.inner().clone(), tx.sender(), None);
        Ok(PoolContent { pending: group(pending, rpc), queued: group(queued, rpc) })
    }
    fn status(&self) -> RpcResult<PoolStatus> {
        let (pending, queued) = self.chain.pool.lock().counts();
        Ok(PoolStatus { pending: U64::from(pending), queued: U64::from(queued) })
    }
    fn inspect(&self) -> RpcResult<PoolContent<String>> {
        let (pending, queued) = self.chain.pool.lock().content();
        let summary = |tx: &PoolTx| {
            let to = tx.tx.to().map_or("contract creation".to_string(), |a| a.to_string());
            format!("{to}: {} wei + {} gas × {} wei", tx.tx.value(), tx.tx.gas_limit(), tx.max_fee())
        };
        Ok(PoolContent { pending: group(pending, summary), queued: group(queued, summary) })
    }
}

impl Misc {
    fn header(&self, block: BlockId) -> RpcResult<(Arc<crate::storage::StoreReader>, alloy_consensus::Header)> {
        let reader = self.chain.reader()?;
        let number = match block {
            BlockId::Hash(h) => reader.number_by_hash(&h.block_hash)?,
            BlockId::Number(tag) => EthRpc::number_of(&reader, tag)?,
        };
        let header = number.map(|n| reader.header(n)).transpose()?.flatten().ok_or_else(|| error::not_found("block not found"))?;
        Ok((reader, header))
    }
}

impl DebugRawApiServer for Misc {
    fn raw_transaction(&self, hash: B256) -> RpcResult<Option<Bytes>> {
        if let Some(stored) = self.chain.reader()?.transaction(&hash)? {
            return Ok(Some(stored.encoded));
        }
        Ok(self.chain.pool.lock().get(&hash).map(|tx| tx.encoded.clone()))
    }
    fn raw_header(&self, block: BlockId) -> RpcResult<Bytes> {
        let (_, header) = self.header(block)?;
        Ok(alloy_rlp::encode(&header).into())
    }
    fn raw_block(&self, block: BlockId) -> RpcResult<Bytes> {
        let (reader, header) = self.header(block)?;
        let mut txs = Vec::new();
        for hash in reader.block_tx_hashes(header.number)? {
            let stored = reader.transaction(&hash)?.ok_or_else(|| error::internal("missing transaction"))?;
            txs.push(super::convert::decode_tx(&stored)?);
        }
        let block = alloy_consensus::Block {
            header,
            body: alloy_consensus::BlockBody { transactions: txs, ommers: Vec::new(), withdrawals: Some(Default::default()) },
        };
        Ok(alloy_rlp::encode(&block).into())
    }
    fn raw_receipts(&self, block: BlockId) -> RpcResult<Vec<Bytes>> {
        let (reader, header) = self.header(block)?;
        Ok(reader.receipts(header.number)?.iter().map(|r| r.encoded_2718().into()).collect())
    }
}
