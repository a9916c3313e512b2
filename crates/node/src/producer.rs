//! The block producer: builds a block from the pool on a drift-free schedule, executes it,
//! commits it, and announces it.

use crate::chain::{BlockEvent, Chain, Head, next_base_fee};
use crate::error::StoreError;
use crate::evm::{self, BlockContext, StateDb, StoredState};
use crate::storage::{BlockCommit, CommitTx, StateAt, StoredAccount};
use alloy_consensus::{
    Eip658Value, Header, Receipt, ReceiptEnvelope, ReceiptWithBloom, Transaction, TxEnvelope,
    TxType, proofs,
};
use alloy_primitives::{Address, B64, B256, Bloom, U256};
use crate::pool::PoolTx;
use revm::context::result::EVMError;
use revm::{Context, ExecuteCommitEvm, MainBuilder, MainContext};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// What one built block held, for logs and metrics.
#[derive(Debug, Clone, Copy)]
pub struct Built {
    pub number: u64,
    pub hash: B256,
    pub txs: usize,
    pub gas_used: u64,
    /// Executing and hashing the block.
    pub build_time: Duration,
    /// Writing it durably.
    pub commit_time: Duration,
}

/// A block executed and hashed but not yet committed. It holds the state trie, already updated,
/// until it is committed, so proofs never see the trie ahead of the head.
pub struct Prepared<'a> {
    commit: BlockCommit,
    trie: parking_lot::MutexGuard<'a, crate::trie::StateTrie>,
    invalid: Vec<B256>,
    logs: Vec<(B256, Vec<alloy_primitives::Log>)>,
    built: Built,
}

impl Prepared<'_> {
    pub fn header(&self) -> &Header {
        &self.commit.header
    }

    pub fn hash(&self) -> B256 {
        self.commit.hash
    }

    /// Marks the block as read from DA at `height`, recorded with the block itself.
    pub fn set_da_height(&mut self, height: u64) {
        self.commit.da_height = Some(height);
    }
}

/// Where a block's transactions come from: the pool (sequencer) or a DA batch (full node).
pub trait TxSource: Iterator<Item = Arc<PoolTx>> {
    /// `tx` cannot go in the block (it does not fit, or cannot execute).
    fn reject(&mut self, tx: &PoolTx, reason: &str);
}

impl TxSource for crate::pool::BestTransactions {
    /// Its sender's later transactions cannot go in either; the rest of the pool still can.
    fn reject(&mut self, tx: &PoolTx, _reason: &str) {
        self.skip_sender(&tx.sender());
    }
}

/// Builds the sequencer's next block with the given timestamp from the pool.
pub fn prepare_from_pool(chain: &Chain, timestamp: u64) -> Result<Prepared<'_>, StoreError> {
    let mut best = chain.pool.lock().best(chain.next_base_fee());
    let beneficiary = chain.args.coinbase.unwrap_or(chain.spec.genesis.coinbase);
    prepare_block(chain, timestamp, beneficiary, &mut best)
}

/// Builds the next block on the latest state from the transactions `source` yields, in order.
pub fn prepare_block<'a>(chain: &'a Chain, timestamp: u64, beneficiary: Address, source: &mut dyn TxSource) -> Result<Prepared<'a>, StoreError> {
    let started = Instant::now();
    let parent = chain.head();
    let number = parent.header.number + 1;
    let base_fee = next_base_fee(&chain.spec, &parent.header);
    let gas_limit = parent.header.gas_limit;
    let ctx = BlockContext { number, timestamp, beneficiary, base_fee, gas_limit, prevrandao: parent.hash };
    let sink = chain.spec.base_fee_sink_at(number);

    let db = StateDb::new(StoredState::new(chain.reader()?, StateAt::Latest));
    let mut evm = Context::mainnet()
        .with_db(db)
        .with_cfg(evm::cfg_env(&chain.spec, false))
        .with_block(evm::block_env(&ctx))
        .build_mainnet();

    let mut txs: Vec<(Arc<PoolTx>, ReceiptEnvelope)> = Vec::new();
    let mut invalid = Vec::new();
    let mut cumulative_gas = 0u64;
    while let Some(tx) = source.next() {
        if cumulative_gas + tx.tx.gas_limit() > gas_limit {
            source.reject(&tx, "exceeds the gas left in the block");
            // Smaller ones may still fit. Stop once the block is nearly full.
            if gas_limit - cumulative_gas < 21_000 {
                break;
            }
            continue;
        }
        if let Some(conditions) = &tx.conditions {
            let state = BlockState { db: &evm.ctx.journaled_state.database, trie: &chain.trie };
            if let Err(e) = crate::conditional::check(conditions, number, timestamp, &state) {
                tracing::debug!(hash = %tx.hash, error = %e, "dropping conditional transaction");
                source.reject(&tx, &e.to_string());
                invalid.push(tx.hash);
                continue;
            }
        }
        let env = match evm::tx_env(tx.tx.inner(), tx.sender()) {
            Ok(env) => env,
            Err(e) => {
                source.reject(&tx, &e.to_string());
                invalid.push(tx.hash);
                continue;
            }
        };
        let result = match evm.transact_commit(env) {
            Ok(result) => result,
            Err(EVMError::Database(e)) => return Err(e),
            Err(e) => {
                tracing::debug!(hash = %tx.hash, error = %e, "dropping transaction that cannot execute");
                source.reject(&tx, &e.to_string());
                invalid.push(tx.hash);
                continue;
            }
        };
        let gas_used = result.tx_gas_used();
        cumulative_gas += gas_used;
        evm.ctx.journaled_state.database.credit_base_fee(sink, gas_used, base_fee)?;
        let receipt = Receipt {
            status: Eip658Value::Eip658(result.is_success()),
            cumulative_gas_used: cumulative_gas,
            logs: result.into_logs(),
        };
        let envelope = receipt_envelope(tx.tx.inner().tx_type(), ReceiptWithBloom::from(receipt));
        txs.push((tx, envelope));
    }
    let db = evm.ctx.journaled_state.database;

    let mut commit = BlockCommit::default();
    let mut trie = chain.trie.lock();
    {
        for (address, info) in &db.accounts {
            let stored = info.as_ref().map(|i| StoredAccount { nonce: i.nonce, balance: i.balance, code_hash: i.code_hash });
            trie.set_account(address, stored);
            commit.accounts.push((*address, stored));
        }
        for (address, slots) in &db.storage {
            if matches!(db.accounts.get(address), Some(None)) {
                continue;
            }
            for (slot, value) in slots {
                trie.set_slot(address, slot, *value);
                commit.storage.push((*address, *slot, *value));
            }
        }
        commit.header.state_root = trie.root();
    }
    commit.codes = db.codes.iter().map(|(hash, code)| (*hash, code.original_bytes())).collect();

    let envelopes: Vec<&TxEnvelope> = txs.iter().map(|(tx, _)| tx.tx.inner()).collect();
    let receipts: Vec<ReceiptEnvelope> = txs.iter().map(|(_, r)| r.clone()).collect();
    let mut logs_bloom = Bloom::ZERO;
    for receipt in &receipts {
        logs_bloom.accrue_bloom(receipt.logs_bloom());
    }
    let header = crate::header::prague(Header {
        parent_hash: parent.hash,
        beneficiary,
        state_root: commit.header.state_root,
        transactions_root: proofs::calculate_transaction_root(&envelopes),
        receipts_root: proofs::calculate_receipt_root(&receipts),
        logs_bloom,
        difficulty: U256::ZERO,
        number,
        gas_limit,
        gas_used: cumulative_gas,
        timestamp,
        extra_data: Default::default(),
        mix_hash: ctx.prevrandao,
        nonce: B64::ZERO,
        base_fee_per_gas: Some(base_fee),
        ..Default::default()
    });
    let hash = header.hash_slow();
    commit.txs = txs.iter().map(|(tx, _)| CommitTx { hash: tx.hash, sender: tx.sender(), encoded: tx.encoded.clone() }).collect();
    commit.receipts = receipts;
    commit.header = header;
    commit.hash = hash;
    let logs = txs.iter().map(|(tx, receipt)| (tx.hash, receipt.logs().to_vec())).collect();
    let built = Built { number, hash, txs: txs.len(), gas_used: cumulative_gas, build_time: started.elapsed(), commit_time: Duration::ZERO };
    Ok(Prepared { commit, trie, invalid, logs, built })
}

/// The state a block under construction has reached, as conditional transactions read it: the
/// writes of the block's earlier transactions over the head's state.
struct BlockState<'a> {
    db: &'a StateDb,
    trie: &'a parking_lot::Mutex<crate::trie::StateTrie>,
}

impl crate::conditional::ConditionState for BlockState<'_> {
    fn slot(&self, address: Address, slot: U256) -> Option<U256> {
        revm::DatabaseRef::storage_ref(self.db, address, slot).ok()
    }

    fn storage_root(&self, address: Address) -> crate::conditional::Root {
        if self.db.storage_touched(&address) {
            return crate::conditional::Root::Changed;
        }
        // The trie is at the head's state while a block is being built.
        crate::conditional::Root::Is(self.trie.lock().storage_root(&address))
    }
}

/// A block written durably but not yet visible to RPC.
pub struct Committed<'a> {
    prepared: Prepared<'a>,
    snapshot: crate::storage::StoreReader,
}

/// Commits a prepared block durably.
pub fn commit_prepared<'a>(chain: &Chain, mut prepared: Prepared<'a>) -> Result<Committed<'a>, StoreError> {
    let started = Instant::now();
    chain.store.commit_block(&prepared.commit)?;
    let snapshot = chain.store.reader()?;
    prepared.built.commit_time = started.elapsed();
    Ok(Committed { prepared, snapshot })
}

/// Makes a committed block the head: RPC sees it, the pool drops what it mined, subscribers
/// hear of it.
pub fn publish(chain: &Chain, committed: Committed<'_>) -> Built {
    let Committed { prepared: Prepared { commit, trie, invalid, logs, built }, snapshot } = committed;
    let nonces: Vec<_> = commit.accounts.iter().map(|(a, acc)| (*a, acc.map_or(0, |acc| acc.nonce))).collect();
    {
        let mut pool = chain.pool.lock();
        for hash in &invalid {
            pool.remove_invalid(hash);
        }
        pool.on_block(nonces);
    }
    chain.publish(Head { header: commit.header.clone(), hash: commit.hash, committed_at: Instant::now() }, snapshot);
    drop(trie);
    let _ = chain.blocks.send(Arc::new(BlockEvent { header: commit.header, hash: commit.hash, logs }));
    built
}

fn receipt_envelope(ty: TxType, receipt: ReceiptWithBloom<Receipt>) -> ReceiptEnvelope {
    match ty {
        TxType::Legacy => ReceiptEnvelope::Legacy(receipt),
        TxType::Eip2930 => ReceiptEnvelope::Eip2930(receipt),
        TxType::Eip1559 => ReceiptEnvelope::Eip1559(receipt),
        TxType::Eip4844 => ReceiptEnvelope::Eip4844(receipt),
        TxType::Eip7702 => ReceiptEnvelope::Eip7702(receipt),
    }
}

pub(crate) fn unix_now() -> Duration {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default()
}

/// Produces blocks until `stop` fires, on the calling thread (a dedicated one: RPC load on the
/// async workers cannot delay a block). Block `n` of this run is due at `anchor + n × block_time`,
/// with the anchor on a wall-clock multiple of the block time, so lateness never accumulates and
/// timestamps fall on the schedule. Building and the durable commit start early by about what
/// recent ones took, and the block is published (made visible to RPC) when due, so neither a
/// block's size nor the disk moves when it lands.
pub fn run(chain: &Chain, stop: &std::sync::mpsc::Receiver<()>) -> Result<(), StoreError> {
    use std::sync::mpsc::RecvTimeoutError;
    // Waits until `at`; false when the node is stopping.
    let wait_until = |at: Instant| match stop.recv_timeout(at.saturating_duration_since(Instant::now())) {
        Err(RecvTimeoutError::Timeout) => true,
        Ok(()) | Err(RecvTimeoutError::Disconnected) => false,
    };
    let block_time = chain.args.block_time;
    let period = block_time.as_nanos().max(1);
    let now = unix_now();
    let anchor = Duration::from_nanos(((now.as_nanos() / period + 1) * period) as u64);
    let anchor_instant = Instant::now() + (anchor - now);
    let mut slot: u32 = 0;
    let mut last_block = Instant::now();
    let mut lead = Duration::ZERO;
    loop {
        let due = anchor_instant + block_time * slot;
        if !wait_until(due.checked_sub(lead).unwrap_or(due)) {
            return Ok(());
        }
        let due_unix = anchor + block_time * slot;
        slot += 1;
        // A slot missed by more than a whole period is skipped, not produced late.
        let late = Instant::now().saturating_duration_since(due);
        if late > block_time {
            let skip = (late.as_nanos() / period) as u32;
            tracing::warn!(late_ms = late.as_millis() as u64, skipped = skip, "block production fell behind");
            slot += skip;
            continue;
        }
        if chain.args.lazy && chain.pool.lock().counts().0 == 0 && last_block.elapsed() < chain.args.lazy_max_idle {
            continue;
        }
        let parent_ts = chain.head().header.timestamp;
        let min_step = u64::from(block_time >= Duration::from_secs(1));
        let timestamp = due_unix.as_secs().max(parent_ts + min_step);
        let committed = commit_prepared(chain, prepare_from_pool(chain, timestamp)?)?;
        let work = committed.prepared.built.build_time + committed.prepared.built.commit_time;
        if !wait_until(due) {
            return Ok(());
        }
        let built = publish(chain, committed);
        last_block = Instant::now();
        // Start the next block early by a margin over this one's work, forgetting slowly.
        lead = (lead * 7 / 8).max(work * 5 / 4 + Duration::from_millis(2)).min(block_time / 2);
        crate::metrics::record_block(&built, last_block.saturating_duration_since(due));
        tracing::info!(
            number = built.number,
            hash = %built.hash,
            txs = built.txs,
            gas = built.gas_used,
            build_ms = millis(built.build_time),
            commit_ms = millis(built.commit_time),
            "produced block"
        );
    }
}

/// Milliseconds to the microsecond, for logs.
fn millis(duration: Duration) -> f64 {
    duration.as_micros() as f64 / 1000.0
}
