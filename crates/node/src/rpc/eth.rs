//! The `eth` namespace.

use super::call::{self, CallSite};
use super::convert::{self, LogMeta};
use super::error::{self, RpcResult};
use super::filters::Filters;
use super::proof;
use crate::chain::Chain;
use crate::storage::{StateAt, StoreReader};
use alloy_consensus::Header;
use alloy_eips::eip2930::AccessListResult;
use alloy_primitives::{Address, B256, Bytes, U64, U256};
use alloy_rpc_types_eth::{
    Block, BlockId, BlockNumberOrTag, EIP1186AccountProofResponse, FeeHistory, Filter, FilterChanges, Index, Log,
    Transaction, TransactionReceipt, TransactionRequest, state::StateOverride,
};
use alloy_rpc_types_eth::erc4337::TransactionConditional;
use alloy_serde::JsonStorageKey;
use jsonrpsee::core::SubscriptionResult;
use jsonrpsee::proc_macros::rpc;
use jsonrpsee::PendingSubscriptionSink;
use std::sync::Arc;

#[rpc(server, namespace = "eth")]
pub trait EthApi {
    #[method(name = "chainId")]
    fn chain_id(&self) -> RpcResult<U64>;
    #[method(name = "syncing")]
    fn syncing(&self) -> RpcResult<bool>;
    #[method(name = "blockNumber")]
    fn block_number(&self) -> RpcResult<U64>;
    #[method(name = "accounts")]
    fn accounts(&self) -> RpcResult<Vec<Address>>;
    #[method(name = "getBalance")]
    fn balance(&self, address: Address, block: Option<BlockId>) -> RpcResult<U256>;
    #[method(name = "getCode")]
    fn code(&self, address: Address, block: Option<BlockId>) -> RpcResult<Bytes>;
    #[method(name = "getStorageAt")]
    fn storage_at(&self, address: Address, slot: JsonStorageKey, block: Option<BlockId>) -> RpcResult<B256>;
    #[method(name = "getTransactionCount")]
    fn transaction_count(&self, address: Address, block: Option<BlockId>) -> RpcResult<U256>;
    #[method(name = "getProof", blocking)]
    fn proof(&self, address: Address, keys: Vec<JsonStorageKey>, block: Option<BlockId>) -> RpcResult<EIP1186AccountProofResponse>;
    #[method(name = "call", blocking)]
    fn call(&self, request: TransactionRequest, block: Option<BlockId>, overrides: Option<StateOverride>) -> RpcResult<Bytes>;
    #[method(name = "estimateGas", blocking)]
    fn estimate_gas(&self, request: TransactionRequest, block: Option<BlockId>, overrides: Option<StateOverride>) -> RpcResult<U64>;
    #[method(name = "createAccessList", blocking)]
    fn create_access_list(&self, request: TransactionRequest, block: Option<BlockId>) -> RpcResult<AccessListResult>;
    #[method(name = "gasPrice")]
    fn gas_price(&self) -> RpcResult<U256>;
    #[method(name = "maxPriorityFeePerGas")]
    fn max_priority_fee(&self) -> RpcResult<U256>;
    #[method(name = "blobBaseFee")]
    fn blob_base_fee(&self) -> RpcResult<U256>;
    #[method(name = "feeHistory", blocking)]
    fn fee_history(&self, count: U64, newest: BlockNumberOrTag, percentiles: Option<Vec<f64>>) -> RpcResult<FeeHistory>;
    #[method(name = "sendRawTransaction")]
    async fn send_raw_transaction(&self, raw: Bytes) -> RpcResult<B256>;
    /// Included only while `conditions` hold (checked on submission and by the block).
    #[method(name = "sendRawTransactionConditional")]
    async fn send_raw_transaction_conditional(&self, raw: Bytes, conditions: TransactionConditional) -> RpcResult<B256>;
    #[method(name = "getTransactionByHash")]
    fn transaction_by_hash(&self, hash: B256) -> RpcResult<Option<Transaction>>;
    #[method(name = "getTransactionByBlockHashAndIndex")]
    fn transaction_by_block_hash_and_index(&self, hash: B256, index: Index) -> RpcResult<Option<Transaction>>;
    #[method(name = "getTransactionByBlockNumberAndIndex")]
    fn transaction_by_block_number_and_index(&self, number: BlockNumberOrTag, index: Index) -> RpcResult<Option<Transaction>>;
    #[method(name = "getTransactionReceipt")]
    fn transaction_receipt(&self, hash: B256) -> RpcResult<Option<TransactionReceipt>>;
    #[method(name = "getBlockReceipts")]
    fn block_receipts(&self, block: BlockId) -> RpcResult<Option<Vec<TransactionReceipt>>>;
    #[method(name = "getBlockByNumber")]
    fn block_by_number(&self, number: BlockNumberOrTag, full: bool) -> RpcResult<Option<Block>>;
    #[method(name = "getBlockByHash")]
    fn block_by_hash(&self, hash: B256, full: bool) -> RpcResult<Option<Block>>;
    #[method(name = "getBlockTransactionCountByNumber")]
    fn block_tx_count_by_number(&self, number: BlockNumberOrTag) -> RpcResult<Option<U64>>;
    #[method(name = "getBlockTransactionCountByHash")]
    fn block_tx_count_by_hash(&self, hash: B256) -> RpcResult<Option<U64>>;
    #[method(name = "getUncleCountByBlockNumber")]
    fn uncle_count_by_number(&self, number: BlockNumberOrTag) -> RpcResult<Option<U64>>;
    #[method(name = "getUncleCountByBlockHash")]
    fn uncle_count_by_hash(&self, hash: B256) -> RpcResult<Option<U64>>;
    #[method(name = "getUncleByBlockNumberAndIndex")]
    fn uncle_by_number(&self, number: BlockNumberOrTag, index: Index) -> RpcResult<Option<Block>>;
    #[method(name = "getUncleByBlockHashAndIndex")]
    fn uncle_by_hash(&self, hash: B256, index: Index) -> RpcResult<Option<Block>>;
    #[method(name = "getLogs", blocking)]
    fn logs(&self, filter: Filter) -> RpcResult<Vec<Log>>;
    #[method(name = "newFilter")]
    fn new_filter(&self, filter: Filter) -> RpcResult<U256>;
    #[method(name = "newBlockFilter")]
    fn new_block_filter(&self) -> RpcResult<U256>;
    #[method(name = "newPendingTransactionFilter")]
    fn new_pending_transaction_filter(&self) -> RpcResult<U256>;
    #[method(name = "getFilterChanges", blocking)]
    fn filter_changes(&self, id: U256) -> RpcResult<FilterChanges>;
    #[method(name = "getFilterLogs", blocking)]
    fn filter_logs(&self, id: U256) -> RpcResult<Vec<Log>>;
    #[method(name = "uninstallFilter")]
    fn uninstall_filter(&self, id: U256) -> RpcResult<bool>;
    #[subscription(name = "subscribe" => "subscription", unsubscribe = "unsubscribe", item = serde_json::Value)]
    async fn subscribe(&self, kind: String, params: Option<serde_json::Value>) -> SubscriptionResult;
}

pub struct EthRpc {
    pub chain: Arc<Chain>,
    pub filters: Arc<Filters>,
    /// The suggested tip and the head it was computed at: wallets ask for it often, and it
    /// changes only with a new block.
    pub tip: parking_lot::Mutex<Option<(B256, u128)>>,
    /// A full node's route to the sequencer for transactions.
    pub forward: Option<super::Forward>,
}

impl EthRpc {
    fn reader(&self) -> RpcResult<Arc<StoreReader>> {
        Ok(self.chain.reader()?)
    }

    /// A block number from a tag, as of the reader's snapshot; `None` past the head.
    pub fn number_of(reader: &StoreReader, tag: BlockNumberOrTag) -> RpcResult<Option<u64>> {
        let head = reader.head()?.unwrap_or_default();
        Ok(match tag {
            BlockNumberOrTag::Earliest => Some(0),
            BlockNumberOrTag::Number(n) => (n <= head).then_some(n),
            _ => Some(head),
        })
    }

    fn header_of(reader: &StoreReader, id: BlockId) -> RpcResult<Option<(Header, B256)>> {
        let number = match id {
            BlockId::Hash(h) => reader.number_by_hash(&h.block_hash)?,
            BlockId::Number(tag) => Self::number_of(reader, tag)?,
        };
        let Some(number) = number else { return Ok(None) };
        Ok(reader.sealed_header(number)?)
    }

    /// The state a read at `block` sees; "header not found" for unknown blocks, as geth says.
    fn state_at(reader: &StoreReader, block: Option<BlockId>) -> RpcResult<StateAt> {
        match block.unwrap_or_default() {
            BlockId::Number(BlockNumberOrTag::Number(n)) => match Self::number_of(reader, BlockNumberOrTag::Number(n))? {
                Some(n) => Ok(StateAt::Block(n)),
                None => Err(error::server("header not found")),
            },
            BlockId::Number(BlockNumberOrTag::Earliest) => Ok(StateAt::Block(0)),
            BlockId::Number(_) => Ok(StateAt::Latest),
            BlockId::Hash(h) => match reader.number_by_hash(&h.block_hash)? {
                Some(n) => Ok(StateAt::Block(n)),
                None => Err(error::server("header not found")),
            },
        }
    }

    /// Into the pool (a sequencer) or on to the sequencer (a full node that has one).
    async fn submit(&self, raw: Bytes, conditions: Option<TransactionConditional>) -> RpcResult<B256> {
        match (&self.forward, self.chain.args.mode) {
            (Some(forward), _) => forward.send_raw_transaction(raw, conditions).await,
            (None, crate::Mode::Sequencer) => Ok(self.chain.submit_raw_conditional(&raw, conditions)?),
            (None, crate::Mode::Full) => Err(error::server("this full node takes no transactions: send them to the sequencer, or set SEQUENCER_URL")),
        }
    }

    fn call_site(&self, block: Option<BlockId>) -> RpcResult<CallSite> {
        Self::call_site_for(&self.chain, block)
    }

    /// The state and header a call at `block` runs against.
    pub fn call_site_for(chain: &Chain, block: Option<BlockId>) -> RpcResult<CallSite> {
        let reader = chain.reader()?;
        let at = Self::state_at(&reader, block)?;
        let id = match at {
            StateAt::Latest => BlockId::latest(),
            StateAt::Block(n) => BlockId::number(n),
        };
        let (header, _) = Self::header_of(&reader, id)?.ok_or_else(|| error::server("header not found"))?;
        Ok(CallSite { reader, at, header })
    }

    fn tx_in_block(&self, reader: &StoreReader, header: Header, hash: B256, index: Index) -> RpcResult<Option<Transaction>> {
        let hashes = reader.block_tx_hashes(header.number)?;
        let Some(tx_hash) = hashes.get(usize::from(index)) else { return Ok(None) };
        let Some(stored) = reader.transaction(tx_hash)? else { return Ok(None) };
        let tx = convert::decode_tx(&stored)?;
        Ok(Some(convert::rpc_tx(tx, stored.sender, Some((&header, hash, u64::from(stored.index))))))
    }

    fn suggested_tip(&self) -> RpcResult<u128> {
        let head = self.chain.head().hash;
        if let Some((at, tip)) = *self.tip.lock()
            && at == head {
                return Ok(tip);
            }
        let tip = self.median_recent_tip()?;
        *self.tip.lock() = Some((head, tip));
        Ok(tip)
    }

    /// The median effective tip of the last blocks' transactions, at least 1 wei.
    fn median_recent_tip(&self) -> RpcResult<u128> {
        let reader = self.reader()?;
        let head = reader.head()?.unwrap_or_default();
        let mut tips = Vec::new();
        for number in head.saturating_sub(19)..=head {
            let Some(header) = reader.header(number)? else { continue };
            let base_fee = header.base_fee_per_gas.unwrap_or_default();
            for tx_hash in reader.block_tx_hashes(number)?.into_iter().take(100) {
                if let Some(stored) = reader.transaction(&tx_hash)? {
                    let tx = convert::decode_tx(&stored)?;
                    if let Some(tip) = alloy_consensus::Transaction::effective_tip_per_gas(&tx, base_fee) {
                        tips.push(tip);
                    }
                }
            }
        }
        tips.sort_unstable();
        Ok(tips.get(tips.len() / 2).copied().unwrap_or(0).max(1))
    }

    /// Logs of one block that match `filter`, in RPC form.
    pub fn block_logs(reader: &StoreReader, number: u64, filter: &Filter, out: &mut Vec<Log>, max: usize) -> RpcResult<()> {
        let Some((header, hash)) = reader.sealed_header(number)? else { return Ok(()) };
        if !filter.matches_bloom(header.logs_bloom) {
            return Ok(());
        }
        let receipts = reader.receipts(number)?;
        let tx_hashes = reader.block_tx_hashes(number)?;
        let mut log_index = 0u64;
        for (tx_index, (receipt, tx_hash)) in receipts.into_iter().zip(tx_hashes).enumerate() {
            let meta = LogMeta::of(&header, hash, tx_hash, tx_index as u64);
            for log in receipt.logs() {
                if filter.matches_address(log.address) && filter.matches_topics(log.topics()) {
                    if out.len() >= max {
                        return Err(error::limit(format!("query returned more than {max} results; narrow the block range")));
                    }
                    out.push(meta.log(log.clone(), log_index));
                }
                log_index += 1;
            }
        }
        Ok(())
    }

    /// `eth_getLogs` for a filter, within the range and result limits.
    pub fn filter_logs_now(chain: &Chain, reader: &StoreReader, filter: &Filter) -> RpcResult<Vec<Log>> {
        let max = chain.args.logs_max_results;
        let mut out = Vec::new();
        if let Some(hash) = filter.get_block_hash() {
            let number = reader.number_by_hash(&hash)?.ok_or_else(|| error::not_found("unknown block"))?;
            Self::block_logs(reader, number, filter, &mut out, max)?;
            return Ok(out);
        }
        let head = reader.head()?.unwrap_or_default();
        let resolve = |tag: Option<BlockNumberOrTag>| match tag {
            None | Some(BlockNumberOrTag::Latest | BlockNumberOrTag::Pending | BlockNumberOrTag::Safe | BlockNumberOrTag::Finalized) => head,
            Some(BlockNumberOrTag::Earliest) => 0,
            Some(BlockNumberOrTag::Number(n)) => n,
        };
        let from = resolve(filter.block_option.get_from_block().copied());
        let to = resolve(filter.block_option.get_to_block().copied()).min(head);
        if from > to {
            if from > head {
                return Ok(out);
            }
            return Err(error::invalid_params("invalid block range params"));
        }
        if to - from >= chain.args.logs_max_range {
            return Err(error::limit(format!("block range greater than {} is not allowed", chain.args.logs_max_range)));
        }
        for number in from..=to {
            Self::block_logs(reader, number, filter, &mut out, max)?;
        }
        Ok(out)
    }
}

#[jsonrpsee::core::async_trait]
impl EthApiServer for EthRpc {
    fn chain_id(&self) -> RpcResult<U64> {
        Ok(U64::from(self.chain.spec.chain_id))
    }

    fn syncing(&self) -> RpcResult<bool> {
        Ok(false)
    }

    fn block_number(&self) -> RpcResult<U64> {
        Ok(U64::from(self.chain.head().header.number))
    }

    fn accounts(&self) -> RpcResult<Vec<Address>> {
        Ok(Vec::new())
    }

    fn balance(&self, address: Address, block: Option<BlockId>) -> RpcResult<U256> {
        let reader = self.reader()?;
        let at = Self::state_at(&reader, block)?;
        Ok(reader.account(&address, at)?.map(|a| a.balance).unwrap_or_default())
    }

    fn code(&self, address: Address, block: Option<BlockId>) -> RpcResult<Bytes> {
        let reader = self.reader()?;
        let at = Self::state_at(&reader, block)?;
        let Some(account) = reader.account(&address, at)? else { return Ok(Bytes::new()) };
        if account.code_hash == alloy_primitives::KECCAK256_EMPTY {
            return Ok(Bytes::new());
        }
        Ok(reader.code(&account.code_hash)?.unwrap_or_default())
    }

    fn storage_at(&self, address: Address, slot: JsonStorageKey, block: Option<BlockId>) -> RpcResult<B256> {
        let reader = self.reader()?;
        let at = Self::state_at(&reader, block)?;
        let value = reader.storage(&address, &U256::from_be_bytes(slot.as_b256().0), at)?;
        Ok(B256::from(value.to_be_bytes::<32>()))
    }

    fn transaction_count(&self, address: Address, block: Option<BlockId>) -> RpcResult<U256> {
        let reader = self.reader()?;
        let at = Self::state_at(&reader, block)?;
        let nonce = reader.account(&address, at)?.map(|a| a.nonce).unwrap_or_default();
        if matches!(block, Some(BlockId::Number(BlockNumberOrTag::Pending))) {
            let pooled = self.chain.pool.lock().next_nonce(&address).unwrap_or(0);
            return Ok(U256::from(nonce.max(pooled)));
        }
        Ok(U256::from(nonce))
    }

    fn proof(&self, address: Address, keys: Vec<JsonStorageKey>, block: Option<BlockId>) -> RpcResult<EIP1186AccountProofResponse> {
        proof::account_proof(&self.chain, address, keys, block)
    }

    // Runs on the RPC worker: a hop to the blocking pool costs more than most calls take. Block
    // production runs on its own thread, so heavy calls cannot delay blocks.
    fn call(&self, request: TransactionRequest, block: Option<BlockId>, overrides: Option<StateOverride>) -> RpcResult<Bytes> {
        let site = self.call_site(block)?;
        call::call(&self.chain, &site, &request, overrides.as_ref())
    }

    fn estimate_gas(&self, request: TransactionRequest, block: Option<BlockId>, overrides: Option<StateOverride>) -> RpcResult<U64> {
        let site = self.call_site(block.or(Some(BlockId::latest())))?;
        call::estimate_gas(&self.chain, &site, &request, overrides.as_ref()).map(U64::from)
    }

    fn create_access_list(&self, request: TransactionRequest, block: Option<BlockId>) -> RpcResult<AccessListResult> {
        let site = self.call_site(block)?;
        call::create_access_list(&self.chain, &site, &request)
    }

    fn gas_price(&self) -> RpcResult<U256> {
        Ok(U256::from(u128::from(self.chain.next_base_fee()) + self.suggested_tip()?))
    }

    fn max_priority_fee(&self) -> RpcResult<U256> {
        Ok(U256::from(self.suggested_tip()?))
    }

    fn blob_base_fee(&self) -> RpcResult<U256> {
        Ok(U256::from(1))
    }

    fn fee_history(&self, count: U64, newest: BlockNumberOrTag, percentiles: Option<Vec<f64>>) -> RpcResult<FeeHistory> {
        super::fees::fee_history(&self.chain, &*self.reader()?, count.to(), newest, percentiles)
    }

    async fn send_raw_transaction(&self, raw: Bytes) -> RpcResult<B256> {
        self.submit(raw, None).await
    }

    async fn send_raw_transaction_conditional(&self, raw: Bytes, conditions: TransactionConditional) -> RpcResult<B256> {
        self.submit(raw, Some(conditions)).await
    }

    fn transaction_by_hash(&self, hash: B256) -> RpcResult<Option<Transaction>> {
        let reader = self.reader()?;
        if let Some(stored) = reader.transaction(&hash)? {
            let (header, block_hash) = reader.sealed_header(stored.block)?.ok_or_else(|| error::internal("missing header"))?;
            let tx = convert::decode_tx(&stored)?;
            return Ok(Some(convert::rpc_tx(tx, stored.sender, Some((&header, block_hash, u64::from(stored.index))))));
        }
        Ok(self.chain.pool.lock().get(&hash).map(|p| convert::rpc_tx(p.tx.inner().clone(), p.sender(), None)))
    }

    fn transaction_by_block_hash_and_index(&self, hash: B256, index: Index) -> RpcResult<Option<Transaction>> {
        let reader = self.reader()?;
        let Some((header, hash)) = Self::header_of(&reader, BlockId::hash(hash))? else { return Ok(None) };
        self.tx_in_block(&reader, header, hash, index)
    }

    fn transaction_by_block_number_and_index(&self, number: BlockNumberOrTag, index: Index) -> RpcResult<Option<Transaction>> {
        let reader = self.reader()?;
        let Some((header, hash)) = Self::header_of(&reader, BlockId::Number(number))? else { return Ok(None) };
        self.tx_in_block(&reader, header, hash, index)
    }

    fn transaction_receipt(&self, hash: B256) -> RpcResult<Option<TransactionReceipt>> {
        let reader = self.reader()?;
        let Some(stored) = reader.transaction(&hash)? else { return Ok(None) };
        let (header, block_hash) = reader.sealed_header(stored.block)?.ok_or_else(|| error::internal("missing header"))?;
        Ok(convert::rpc_receipt_of(&reader, &header, block_hash, hash, &stored)?)
    }

    fn block_receipts(&self, block: BlockId) -> RpcResult<Option<Vec<TransactionReceipt>>> {
        let reader = self.reader()?;
        let Some((header, hash)) = Self::header_of(&reader, block)? else { return Ok(None) };
        Ok(Some(convert::rpc_receipts(&reader, &header, hash)?))
    }

    fn block_by_number(&self, number: BlockNumberOrTag, full: bool) -> RpcResult<Option<Block>> {
        let reader = self.reader()?;
        let Some((header, hash)) = Self::header_of(&reader, BlockId::Number(number))? else { return Ok(None) };
        Ok(Some(convert::rpc_block(&reader, header, hash, full)?))
    }

    fn block_by_hash(&self, hash: B256, full: bool) -> RpcResult<Option<Block>> {
        let reader = self.reader()?;
        let Some((header, hash)) = Self::header_of(&reader, BlockId::hash(hash))? else { return Ok(None) };
        Ok(Some(convert::rpc_block(&reader, header, hash, full)?))
    }

    fn block_tx_count_by_number(&self, number: BlockNumberOrTag) -> RpcResult<Option<U64>> {
        let reader = self.reader()?;
        let Some((header, _)) = Self::header_of(&reader, BlockId::Number(number))? else { return Ok(None) };
        Ok(Some(U64::from(reader.block_tx_hashes(header.number)?.len())))
    }

    fn block_tx_count_by_hash(&self, hash: B256) -> RpcResult<Option<U64>> {
        let reader = self.reader()?;
        let Some((header, _)) = Self::header_of(&reader, BlockId::hash(hash))? else { return Ok(None) };
        Ok(Some(U64::from(reader.block_tx_hashes(header.number)?.len())))
    }

    fn uncle_count_by_number(&self, number: BlockNumberOrTag) -> RpcResult<Option<U64>> {
        let reader = self.reader()?;
        Ok(Self::header_of(&reader, BlockId::Number(number))?.map(|_| U64::ZERO))
    }

    fn uncle_count_by_hash(&self, hash: B256) -> RpcResult<Option<U64>> {
        let reader = self.reader()?;
        Ok(Self::header_of(&reader, BlockId::hash(hash))?.map(|_| U64::ZERO))
    }

    fn uncle_by_number(&self, _number: BlockNumberOrTag, _index: Index) -> RpcResult<Option<Block>> {
        Ok(None)
    }

    fn uncle_by_hash(&self, _hash: B256, _index: Index) -> RpcResult<Option<Block>> {
        Ok(None)
    }

    fn logs(&self, filter: Filter) -> RpcResult<Vec<Log>> {
        let reader = self.reader()?;
        Self::filter_logs_now(&self.chain, &reader, &filter)
    }

    fn new_filter(&self, filter: Filter) -> RpcResult<U256> {
        Ok(self.filters.install_logs(filter, self.chain.head().header.number))
    }

    fn new_block_filter(&self) -> RpcResult<U256> {
        Ok(self.filters.install_blocks(self.chain.head().header.number))
    }

    fn new_pending_transaction_filter(&self) -> RpcResult<U256> {
        Ok(self.filters.install_pending(&self.chain))
    }

    fn filter_changes(&self, id: U256) -> RpcResult<FilterChanges> {
        self.filters.changes(&self.chain, id)
    }

    fn filter_logs(&self, id: U256) -> RpcResult<Vec<Log>> {
        let filter = self.filters.log_filter(id)?;
        let reader = self.reader()?;
        Self::filter_logs_now(&self.chain, &reader, &filter)
    }

    fn uninstall_filter(&self, id: U256) -> RpcResult<bool> {
        Ok(self.filters.uninstall(id))
    }

    async fn subscribe(&self, pending: PendingSubscriptionSink, kind: String, params: Option<serde_json::Value>) -> SubscriptionResult {
        super::subscriptions::subscribe(self.chain.clone(), pending, kind, params).await
    }
}
