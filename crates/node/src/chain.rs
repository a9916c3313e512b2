//! The node's shared state: the chain spec, the store, the state trie, the pool and the head,
//! and the events other parts follow.

use crate::config::NodeArgs;
use crate::error::{PoolError, StoreError};
use crate::evm::{self, SPEC};
use crate::genesis;
use crate::pool::{Inserted, Pool};
use crate::storage::{StateAt, Store, StoreReader};
use crate::trie::StateTrie;
use alloy_consensus::{Header, Transaction, TxEnvelope, transaction::SignerRecoverable};
use alloy_eips::eip2718::Decodable2718;
use alloy_primitives::{B256, Bytes, Log};
use alloy_rpc_types_eth::erc4337::TransactionConditional;
use ande_chain::ChainSpec;
use parking_lot::Mutex;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::{broadcast, watch};

/// The latest committed block, as the rest of the node sees it.
#[derive(Debug, Clone)]
pub struct Head {
    pub header: Header,
    pub hash: B256,
    /// When the block was committed (for health: how old the head is).
    pub committed_at: Instant,
}

/// A committed block, for subscriptions and filters.
#[derive(Debug)]
pub struct BlockEvent {
    pub header: Header,
    pub hash: B256,
    /// Each transaction's hash with its logs.
    pub logs: Vec<(B256, Vec<Log>)>,
}

pub struct Chain {
    pub spec: Arc<ChainSpec>,
    pub args: NodeArgs,
    pub store: Store,
    pub trie: Mutex<StateTrie>,
    pub pool: Mutex<Pool>,
    head: watch::Sender<Head>,
    /// The snapshot RPC reads: the store as of the published head. A committed block becomes
    /// visible when this is replaced, on the block's due time.
    published: parking_lot::RwLock<Arc<StoreReader>>,
    pub blocks: broadcast::Sender<Arc<BlockEvent>>,
    pub pending_txs: broadcast::Sender<B256>,
    /// Where the chain stands in DA (posting or following).
    pub da_status: Mutex<crate::da::DaStatus>,
}

impl Chain {
    /// Opens the store, writing the genesis on first start, and rebuilds the state trie.
    pub fn open(spec: ChainSpec, args: NodeArgs) -> Result<Self, StoreError> {
        let store = Store::open(&args.datadir, args.db_cache_mb << 20, args.prune_keep_blocks)?;
        let (genesis_commit, genesis_hash) = genesis::genesis_block(&spec);
        store.check_genesis(genesis_hash)?;
        if store.reader()?.head()?.is_none() {
            store.commit_block(&genesis_commit)?;
            tracing::info!(hash = %genesis_hash, chain_id = spec.chain_id, "wrote genesis");
        }
        let reader = store.reader()?;
        let trie = rebuild_trie(&reader)?;
        let number = reader.head()?.unwrap_or(0);
        let (header, hash) = reader.sealed_header(number)?.ok_or_else(|| StoreError::Corrupt(format!("missing head header {number}")))?;
        tracing::info!(number, %hash, accounts = trie.account_count(), "opened chain");
        let (head, _) = watch::channel(Head { header, hash, committed_at: Instant::now() });
        Ok(Self {
            published: parking_lot::RwLock::new(Arc::new(reader)),
            pool: Mutex::new(Pool::new(args.pool_limits())),
            spec: Arc::new(spec),
            args,
            store,
            trie: Mutex::new(trie),
            head,
            blocks: broadcast::channel(256).0,
            pending_txs: broadcast::channel(4096).0,
            da_status: Mutex::new(crate::da::DaStatus { role: "off", ..Default::default() }),
        })
    }

    pub fn head(&self) -> Head {
        self.head.borrow().clone()
    }

    /// Makes a committed block the head: RPC reads see `snapshot` from now on.
    pub(crate) fn publish(&self, head: Head, snapshot: StoreReader) {
        *self.published.write() = Arc::new(snapshot);
        self.head.send_replace(head);
    }

    /// A consistent snapshot of the chain as of the published head.
    pub fn reader(&self) -> Result<Arc<StoreReader>, StoreError> {
        Ok(self.published.read().clone())
    }

    /// The base fee of the next block.
    pub fn next_base_fee(&self) -> u64 {
        next_base_fee(&self.spec, &self.head.borrow().header)
    }

    /// Validates a raw transaction and adds it to the pool.
    pub fn submit_raw(&self, raw: &[u8]) -> Result<B256, PoolError> {
        self.submit_raw_conditional(raw, None)
    }

    /// [`Self::submit_raw`] for a transaction that may be included only while `conditions` hold:
    /// checked now (all but storage roots, which the block checks) and again by the block.
    pub fn submit_raw_conditional(&self, raw: &[u8], conditions: Option<TransactionConditional>) -> Result<B256, PoolError> {
        if raw.len() > self.args.max_tx_bytes {
            return Err(PoolError::Oversized);
        }
        let mut slice = raw;
        let tx = TxEnvelope::decode_2718(&mut slice).map_err(|e| PoolError::Decode(e.to_string()))?;
        if !slice.is_empty() {
            return Err(PoolError::Decode("input contains more than one value".into()));
        }
        if tx.is_eip4844() {
            return Err(PoolError::TypeNotSupported);
        }
        match tx.chain_id() {
            Some(id) if id != self.spec.chain_id => return Err(PoolError::WrongChainId),
            None if !self.args.allow_unprotected_txs => return Err(PoolError::Unprotected),
            _ => {}
        }
        if let Some(auths) = tx.authorization_list()
            && auths.is_empty() {
                return Err(PoolError::EmptyAuthList);
            }
        let hash = *tx.tx_hash();
        if self.pool.lock().contains(&hash) {
            return Err(PoolError::AlreadyKnown);
        }
        let sender = tx.recover_signer().map_err(|_| PoolError::InvalidSender)?;
        let head = self.head();
        if tx.gas_limit() > head.header.gas_limit {
            return Err(PoolError::GasLimitExceeded);
        }
        if let Some(tip) = tx.max_priority_fee_per_gas()
            && tip > tx.max_fee_per_gas() {
                return Err(PoolError::TipAboveFeeCap);
            }
        if tx.kind().is_create() && tx.input().len() > self.spec.contract_size_limit * 2 {
            return Err(PoolError::InitcodeTooLarge);
        }
        let env = evm::tx_env(&tx, sender)?;
        let gas = revm::context_interface::cfg::gas::calculate_initial_tx_gas_for_tx(&env, SPEC, None);
        if tx.gas_limit() < gas.initial_regular_gas.max(gas.floor_gas) {
            return Err(PoolError::IntrinsicGasTooLow);
        }
        if tx.max_fee_per_gas() < u128::from(next_base_fee(&self.spec, &head.header)) {
            return Err(PoolError::FeeCapBelowBaseFee);
        }
        let reader = self.store.reader()?;
        if reader.transaction(&hash)?.is_some() {
            return Err(PoolError::AlreadyKnown);
        }
        if let Some(conditions) = &conditions {
            let next = head.header.number + 1;
            let timestamp = head.header.timestamp.max(crate::producer::unix_now().as_secs());
            let state = SubmitState(&reader);
            crate::conditional::check(conditions, next, timestamp, &state).map_err(PoolError::Conditions)?;
        }
        let account = reader.account(&sender, StateAt::Latest)?.unwrap_or_default();
        if tx.nonce() < account.nonce {
            return Err(PoolError::NonceTooLow);
        }
        let cost = crate::pool::max_cost(tx.gas_limit(), tx.max_fee_per_gas(), tx.value());
        if account.balance < cost {
            return Err(PoolError::InsufficientFunds);
        }
        let recovered = alloy_consensus::transaction::Recovered::new_unchecked(tx, sender);
        let inserted = self.pool.lock().insert_conditional(hash, recovered, Bytes::copy_from_slice(raw), account.nonce, conditions.map(Arc::new))?;
        if let Inserted::Replaced(old) = inserted {
            tracing::debug!(%old, new = %hash, "replaced pool transaction");
        }
        let _ = self.pending_txs.send(hash);
        Ok(hash)
    }
}

/// The latest state, as a submission's conditions read it; storage roots are left to the block.
struct SubmitState<'a>(&'a StoreReader);

impl crate::conditional::ConditionState for SubmitState<'_> {
    fn slot(&self, address: alloy_primitives::Address, slot: alloy_primitives::U256) -> Option<alloy_primitives::U256> {
        self.0.storage(&address, &slot, StateAt::Latest).ok()
    }
    fn storage_root(&self, _address: alloy_primitives::Address) -> crate::conditional::Root {
        crate::conditional::Root::Deferred
    }
}

pub fn next_base_fee(spec: &ChainSpec, parent: &Header) -> u64 {
    let base_fee = parent.base_fee_per_gas.unwrap_or(spec.initial_base_fee);
    alloy_eips::eip1559::calc_next_block_base_fee(parent.gas_used, parent.gas_limit, base_fee, spec.base_fee_params)
}

fn rebuild_trie(reader: &StoreReader) -> Result<StateTrie, StoreError> {
    let mut trie = StateTrie::default();
    reader.for_each_account(|address, account| trie.set_account(&address, Some(account)))?;
    reader.for_each_slot(|address, slot, value| trie.set_slot(&address, &slot, value))?;
    trie.root();
    Ok(trie)
}
