//! The full node's DA follower: reads the sequencer's batches from DA, height by height, and
//! re-executes every block, committing it only when its state root and hash come out as the
//! sequencer signed them. A blob in the namespace that is not a batch signed by the sequencer
//! is refused and logged (anyone may post there). A signed batch that does not re-execute to
//! the signed result stops the node: it never serves a state it could not verify.

use super::batch::{self, Batch, BatchBlock};
use super::DaConfig;
use crate::Shutdown;
use crate::chain::Chain;
use crate::error::StoreError;
use crate::pool::PoolTx;
use crate::producer::{self, TxSource};
use crate::storage::DA_CURSOR_KEY;
use alloy_consensus::TxEnvelope;
use alloy_consensus::transaction::{Recovered, SignerRecoverable};
use alloy_eips::eip2718::Decodable2718;
use alloy_primitives::{Address, B256};
use celestia_rpc::{Client, HeaderClient};
use celestia_types::nmt::Namespace;
use std::sync::Arc;
use std::time::{Duration, Instant};

const POLL: Duration = Duration::from_millis(250);
/// The read position is written durably at least every this many DA heights.
const CURSOR_EVERY: u64 = 64;

#[derive(Debug, thiserror::Error)]
pub enum FollowError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("block {number} from DA height {height} diverges: {what}")]
    Diverged { number: u64, height: u64, what: String },
    #[error("DA height {height} has blocks {first}..={last}, but this node's head is {head}: blocks are missing from DA")]
    Gap { height: u64, first: u64, last: u64, head: u64 },
}

pub struct Follower {
    chain: Arc<Chain>,
    client: Client,
    namespace: Namespace,
    sequencer: Address,
    cursor: u64,
}

impl Follower {
    pub fn new(chain: Arc<Chain>, client: Client, namespace: Namespace, sequencer: Address, config: &DaConfig) -> Result<Self, StoreError> {
        let cursor = chain.store.reader()?.meta_u64(DA_CURSOR_KEY)?.unwrap_or(config.start_height.max(1));
        {
            let mut status = chain.da_status.lock();
            status.role = "full";
            status.namespace = Some(super::namespace_hex(&namespace));
            status.sequencer = Some(sequencer);
            status.last_included_block = chain.head().header.number;
            status.da_cursor = Some(cursor);
        }
        Ok(Self { chain, client, namespace, sequencer, cursor })
    }

    /// Follows DA until `shutdown` fires; DA errors are retried, a divergence ends it.
    pub async fn run(mut self, mut shutdown: Shutdown) -> Result<(), FollowError> {
        tracing::info!(sequencer = %self.sequencer, from = self.cursor, "following the chain from DA");
        loop {
            match self.catch_up(&mut shutdown).await {
                Ok(()) => self.chain.da_status.lock().synced_at = Some(Instant::now()),
                Err(CatchUp::Da(message)) => {
                    tracing::warn!(error = %message, height = self.cursor, "reading DA failed; retrying");
                    self.chain.da_status.lock().last_error = Some(message);
                }
                Err(CatchUp::Fatal(e)) => return Err(e),
                Err(CatchUp::Stopping) => return Ok(()),
            }
            tokio::select! {
                _ = tokio::time::sleep(POLL) => {}
                _ = shutdown.changed() => return Ok(()),
            }
        }
    }

    /// Reads every DA height up to the DA head.
    async fn catch_up(&mut self, shutdown: &mut Shutdown) -> Result<(), CatchUp> {
        let head = self.client.header_network_head().await.map_err(|e| CatchUp::Da(e.to_string()))?.height();
        while self.cursor <= head {
            if *shutdown.borrow() {
                return Err(CatchUp::Stopping);
            }
            let height = self.cursor;
            let blobs = super::blobs_at(&self.client, height, self.namespace).await.map_err(CatchUp::Da)?;
            let mut applied = false;
            for blob in blobs {
                match self.accept(&blob.data, height).map_err(CatchUp::Fatal)? {
                    Some(batch) => {
                        tokio::task::block_in_place(|| self.apply(&batch, height)).map_err(CatchUp::Fatal)?;
                        self.chain.da_status.lock().accepted_batches += 1;
                        applied = true;
                    }
                    None => {
                        metrics::counter!("ande_da_rejected_blobs_total").increment(1);
                        self.chain.da_status.lock().rejected_blobs += 1;
                    }
                }
            }
            self.cursor = height + 1;
            // Durably where blocks were applied, and now and then: a restart reads again at most
            // CURSOR_EVERY heights, whose blocks it already holds.
            if applied || height.is_multiple_of(CURSOR_EVERY) || height == head {
                self.chain.store.set_da_mark(DA_CURSOR_KEY, Some(self.cursor)).map_err(|e| CatchUp::Fatal(e.into()))?;
            }
            self.chain.da_status.lock().da_cursor = Some(self.cursor);
            metrics::gauge!("ande_da_synced_height").set(height as f64);
        }
        Ok(())
    }

    /// Opens a blob as a batch of this chain signed by the sequencer; `None` (logged) for a
    /// blob that is not one. A batch the sequencer signed but that does not decode is fatal.
    fn accept(&self, data: &[u8], height: u64) -> Result<Option<Batch>, FollowError> {
        let refused = |reason: String| {
            tracing::warn!(height, %reason, "rejected a blob in the namespace");
            self.chain.da_status.lock().last_rejection = Some(format!("DA height {height}: {reason}"));
            Ok(None)
        };
        let envelope = match batch::open(data) {
            Ok(envelope) => envelope,
            Err(e) => return refused(e.to_string()),
        };
        if envelope.signer != self.sequencer {
            return refused(format!("bad signature: signed by {}, not the sequencer {}", envelope.signer, self.sequencer));
        }
        if envelope.chain_id != self.chain.spec.chain_id {
            return refused(format!("batch for chain {}, this is chain {}", envelope.chain_id, self.chain.spec.chain_id));
        }
        batch::decode(data, &envelope)
            .map(Some)
            .map_err(|e| FollowError::Diverged { number: envelope.first, height, what: format!("the sequencer's batch does not decode: {e}") })
    }

    /// Applies a signed batch: blocks already held must match; the next ones are re-executed.
    fn apply(&self, batch: &Batch, height: u64) -> Result<(), FollowError> {
        let last = batch.first + batch.blocks.len() as u64 - 1;
        let head = self.chain.head().header.number;
        if batch.first > head + 1 {
            return Err(FollowError::Gap { height, first: batch.first, last, head });
        }
        let reader = self.chain.reader()?;
        for (number, block) in (batch.first..).zip(&batch.blocks) {
            let diverged = |what: String| FollowError::Diverged { number, height, what };
            if number <= self.chain.head().header.number {
                // Posted twice (a retry that had landed): the same block, or a fork.
                let held = reader.block_hash(number)?;
                if held != Some(block.hash) {
                    return Err(diverged(format!("DA holds hash {}, this node {held:?}", block.hash)));
                }
                continue;
            }
            execute(&self.chain, block, height).map_err(|e| match e {
                Executed::Store(e) => FollowError::Store(e),
                Executed::Differs(what) => diverged(what),
            })?;
        }
        if last > head {
            let mut status = self.chain.da_status.lock();
            status.last_included_block = last;
            status.last_included_da_height = Some(height);
        }
        Ok(())
    }
}

enum CatchUp {
    Da(String),
    Fatal(FollowError),
    Stopping,
}

enum Executed {
    Store(StoreError),
    Differs(String),
}

impl From<StoreError> for Executed {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

/// Re-executes one block on the head and commits it, with the DA height it came from, if it
/// comes out as signed.
fn execute(chain: &Chain, block: &BatchBlock, height: u64) -> Result<(), Executed> {
    let mut txs = Vec::with_capacity(block.transactions.len());
    for (index, raw) in block.transactions.iter().enumerate() {
        let tx = TxEnvelope::decode_2718(&mut raw.as_ref()).map_err(|e| Executed::Differs(format!("transaction {index} does not decode: {e}")))?;
        let sender = tx.recover_signer().map_err(|_| Executed::Differs(format!("transaction {index} has no valid signature")))?;
        let hash = *tx.tx_hash();
        txs.push(Arc::new(PoolTx { hash, tx: Recovered::new_unchecked(tx, sender), encoded: raw.clone(), seq: index as u64, conditions: None }));
    }
    let mut source = BatchTxs { txs: txs.into_iter(), rejected: None };
    let mut prepared = producer::prepare_block(chain, block.timestamp, block.beneficiary, &mut source)?;
    if let Some((hash, reason)) = source.rejected {
        return Err(Executed::Differs(format!("transaction {hash} cannot be included: {reason}")));
    }
    let state_root = prepared.header().state_root;
    if state_root != block.state_root {
        return Err(Executed::Differs(format!("state root {state_root} re-executed, {} signed", block.state_root)));
    }
    if prepared.hash() != block.hash {
        return Err(Executed::Differs(format!("hash {} re-executed, {} signed", prepared.hash(), block.hash)));
    }
    prepared.set_da_height(height);
    let committed = producer::commit_prepared(chain, prepared)?;
    let built = producer::publish(chain, committed);
    tracing::info!(number = built.number, hash = %built.hash, txs = built.txs, "verified block from DA");
    Ok(())
}

/// A batch's transactions, all of which must go in the block.
struct BatchTxs {
    txs: std::vec::IntoIter<Arc<PoolTx>>,
    rejected: Option<(B256, String)>,
}

impl Iterator for BatchTxs {
    type Item = Arc<PoolTx>;
    fn next(&mut self) -> Option<Arc<PoolTx>> {
        if self.rejected.is_some() {
            return None;
        }
        self.txs.next()
    }
}

impl TxSource for BatchTxs {
    fn reject(&mut self, tx: &PoolTx, reason: &str) {
        self.rejected.get_or_insert_with(|| (tx.hash, reason.to_string()));
    }
}
