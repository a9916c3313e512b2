//! The sequencer's DA poster: sends the blocks not yet in DA as signed batches, one blob per
//! submission, in order, and records the DA height of each.
//!
//! A batch goes out when the oldest waiting block has waited `DA_BATCH_INTERVAL`, or when the
//! waiting blocks fill a blob. A "too big" answer halves the batch; other failures back off
//! (500 ms doubling to `DA_RETRY_MAX`) and raise the gas price by `DA_GAS_MULTIPLIER`. Block
//! production never waits for DA: while DA is down the backlog grows, and readiness fails once
//! it passes `DA_MAX_BACKLOG`.
//!
//! No gaps, no duplicates across crashes: before each submission the DA head is written down
//! as "in flight". A submission whose outcome was not recorded (the process died, or the call
//! failed without saying the blob was refused) may still land, so before sending anything else
//! the poster waits until DA is [`LANDING_BLOCKS`] past that head and looks there for its own
//! batch; what it finds is recorded instead of sent again.

use super::batch::{self, BatchBlock};
use super::{DaConfig, is_too_big};
use crate::Shutdown;
use crate::chain::Chain;
use crate::error::StoreError;
use crate::storage::{DA_IN_FLIGHT_KEY, DA_INCLUDED_KEY};
use alloy_signer_local::PrivateKeySigner;
use celestia_rpc::{BlobClient, Client, HeaderClient, TxConfig};
use celestia_types::Blob;
use celestia_types::nmt::Namespace;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// DA blocks within which a sent blob is expected to land.
const LANDING_BLOCKS: u64 = 3;
const FIRST_RETRY: Duration = Duration::from_millis(500);
/// DA heights after an unrecorded submission searched for it.
const LANDING_WINDOW: u64 = 20;
const TICK: Duration = Duration::from_millis(100);
const NOT_YET_RETRY: Duration = Duration::from_millis(500);

pub struct Poster {
    chain: Arc<Chain>,
    client: Client,
    namespace: Namespace,
    signer: PrivateKeySigner,
    config: DaConfig,
    /// Waiting blocks loaded for the next batches, from the first not in DA, in order.
    queue: VecDeque<(u64, BatchBlock)>,
    /// The highest block counted in `pending_bytes`, and the highest in `queue` (or in DA).
    sized_through: u64,
    loaded_through: u64,
    pending_bytes: u64,
    queued_bytes: u64,
    /// When the oldest waiting block was first seen.
    waiting_since: Option<Instant>,
    /// Most blocks the next batch may hold; halved by "too big".
    max_blocks: usize,
    retry_at: Option<Instant>,
    retry_delay: Duration,
    gas_price: Option<f64>,
}

#[derive(Debug, thiserror::Error)]
enum PostError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Da(String),
    /// DA refused the batch as too big; the next one is half its size, sent without waiting.
    #[error("too big")]
    TooBig,
    /// A submission's outcome cannot be known yet; look again shortly.
    #[error("not yet")]
    NotYet,
}

impl Poster {
    pub fn new(chain: Arc<Chain>, client: Client, namespace: Namespace, signer: PrivateKeySigner, config: DaConfig) -> Result<Self, StoreError> {
        let included = chain.store.reader()?.meta_u64(DA_INCLUDED_KEY)?.unwrap_or(0);
        {
            let mut status = chain.da_status.lock();
            status.role = "sequencer";
            status.namespace = Some(super::namespace_hex(&namespace));
            status.sequencer = Some(signer.address());
            status.last_included_block = included;
            status.last_submitted_block = included;
        }
        Ok(Self {
            gas_price: base_gas_price(&config),
            chain,
            client,
            namespace,
            signer,
            config,
            queue: VecDeque::new(),
            sized_through: included,
            loaded_through: included,
            pending_bytes: 0,
            queued_bytes: 0,
            waiting_since: None,
            max_blocks: usize::MAX,
            retry_at: None,
            retry_delay: FIRST_RETRY,
        })
    }

    fn included(&self) -> u64 {
        self.chain.da_status.lock().last_included_block
    }

    /// Posts until `shutdown` fires. Store errors end it (the node stops); DA errors never do.
    pub async fn run(mut self, mut shutdown: Shutdown) -> Result<(), StoreError> {
        tracing::info!(address = %self.signer.address(), namespace = %super::namespace_hex(&self.namespace), "posting blocks to DA");
        loop {
            tokio::select! {
                _ = tokio::time::sleep(TICK) => {}
                _ = shutdown.changed() => return Ok(()),
            }
            tokio::task::block_in_place(|| self.load_new_blocks())?;
            if self.retry_at.is_some_and(|at| Instant::now() < at) || !self.due() {
                continue;
            }
            let result = match self.in_flight()? {
                Some(sent_at) => self.find_landed(sent_at).await,
                None => self.post_next().await,
            };
            match result {
                Ok(()) => self.succeeded(),
                Err(PostError::Store(e)) => return Err(e),
                Err(PostError::TooBig) => {}
                Err(PostError::NotYet) => self.retry_at = Some(Instant::now() + NOT_YET_RETRY),
                Err(PostError::Da(message)) => self.failed(message),
            }
        }
    }

    fn in_flight(&self) -> Result<Option<u64>, StoreError> {
        self.chain.store.reader()?.meta_u64(DA_IN_FLIGHT_KEY)
    }

    /// Counts the bytes of blocks committed since the last look, and keeps the queue filled
    /// with the next blocks to post, up to a few blobs' worth (the rest waits in the store).
    fn load_new_blocks(&mut self) -> Result<(), StoreError> {
        let head = self.chain.head().header.number;
        let reader = self.chain.reader()?;
        let room = (self.config.max_blob_bytes as u64).saturating_mul(4);
        for number in self.sized_through + 1..=head {
            let block = load_block(&reader, number)?;
            self.pending_bytes += block.encoded_len() as u64;
            if self.loaded_through + 1 == number && self.queued_bytes < room {
                self.push(number, block);
            }
            self.sized_through = number;
            self.waiting_since.get_or_insert_with(Instant::now);
        }
        // Blocks counted earlier, when the queue had no room.
        while self.loaded_through < self.sized_through && self.queued_bytes < room {
            let number = self.loaded_through + 1;
            self.push(number, load_block(&reader, number)?);
        }
        self.publish_pending(head);
        Ok(())
    }

    fn push(&mut self, number: u64, block: BatchBlock) {
        self.queued_bytes += block.encoded_len() as u64;
        self.queue.push_back((number, block));
        self.loaded_through = number;
    }

    fn publish_pending(&self, head: u64) {
        let mut status = self.chain.da_status.lock();
        status.pending_blocks = status.backlog(head);
        status.pending_bytes = self.pending_bytes;
        metrics::gauge!("ande_da_pending_blocks").set(status.pending_blocks as f64);
        metrics::gauge!("ande_da_pending_bytes").set(self.pending_bytes as f64);
    }

    /// A batch is due when a blob's worth waits, or the oldest block has waited long enough.
    fn due(&self) -> bool {
        if self.queue.is_empty() {
            return false;
        }
        self.pending_bytes >= self.config.max_blob_bytes as u64
            || self.waiting_since.is_some_and(|since| since.elapsed() >= self.config.batch_interval)
    }

    /// Encodes as many queued blocks as fit one blob (halving until they do).
    fn next_batch(&self) -> Result<(u64, u64, Vec<u8>), PostError> {
        let (first, _) = self.queue[0];
        let mut take = self.queue.len().min(self.max_blocks);
        // Start from what the uncompressed size allows at a generous ratio, then halve.
        let mut raw = 0usize;
        for (i, (_, block)) in self.queue.iter().enumerate().take(take) {
            raw += block.encoded_len();
            if raw > self.config.max_blob_bytes.saturating_mul(4).min(batch::MAX_DECOMPRESSED) {
                take = i.max(1);
                break;
            }
        }
        loop {
            let blocks: Vec<BatchBlock> = self.queue.iter().take(take).map(|(_, b)| b.clone()).collect();
            let data = batch::encode(self.chain.spec.chain_id, first, &blocks, &self.signer);
            if data.len() <= self.config.max_blob_bytes {
                return Ok((first, first + take as u64 - 1, data));
            }
            if take == 1 {
                return Err(PostError::Da(format!("block {first} alone is {} bytes, over the {}-byte blob limit", data.len(), self.config.max_blob_bytes)));
            }
            take /= 2;
        }
    }

    async fn post_next(&mut self) -> Result<(), PostError> {
        let (first, last, data) = tokio::task::block_in_place(|| self.next_batch())?;
        let blob = Blob::new(self.namespace, data, None).map_err(|e| PostError::Da(format!("blob: {e}")))?;
        let size = blob.data.len();
        let da_head = self.client.header_network_head().await.map_err(|e| PostError::Da(e.to_string()))?.height();
        self.chain.store.set_da_mark(DA_IN_FLIGHT_KEY, Some(da_head))?;
        self.chain.da_status.lock().last_submitted_block = last;
        let config = TxConfig { gas_price: self.gas_price, max_gas_price: self.config.max_gas_price, ..Default::default() };
        let started = Instant::now();
        match self.client.blob_submit(&[blob], config).await {
            Ok(height) => {
                metrics::histogram!("ande_da_submit_seconds").record(started.elapsed().as_secs_f64());
                metrics::histogram!("ande_da_blob_bytes").record(size as f64);
                tracing::info!(first, last, height, bytes = size, "batch included in DA");
                self.record(first, last, height)
            }
            Err(e) if is_too_big(&e.to_string()) => {
                // Refused outright: it did not land.
                self.chain.store.set_da_mark(DA_IN_FLIGHT_KEY, None)?;
                self.chain.da_status.lock().last_submitted_block = first - 1;
                if first == last {
                    // Nothing left to halve: DA takes less than DA_MAX_BLOB_BYTES says.
                    return Err(PostError::Da(format!("DA refused block {first} alone ({size} bytes) as too big: {e}; lower DA_MAX_BLOB_BYTES to DA's limit")));
                }
                self.max_blocks = ((last - first + 1) as usize / 2).max(1);
                tracing::warn!(first, last, bytes = size, max_blocks = self.max_blocks, "DA refused the batch as too big; halving");
                Err(PostError::TooBig)
            }
            Err(e) => Err(PostError::Da(e.to_string())),
        }
    }

    /// After a submission whose outcome is unknown: waits until it would have landed, then
    /// looks for it in the DA heights after it was sent and records it if it is there.
    async fn find_landed(&mut self, sent_at: u64) -> Result<(), PostError> {
        let head = self.client.header_network_head().await.map_err(|e| PostError::Da(e.to_string()))?.height();
        if head < sent_at {
            // Not the DA the submission went to (reset, or another network): it cannot be there.
            tracing::warn!(sent_at, head, "the DA head is below where the last submission was sent; sending again");
            return self.forget_in_flight();
        }
        if head < sent_at + LANDING_BLOCKS {
            return Err(PostError::NotYet);
        }
        for height in sent_at + 1..=head.min(sent_at + LANDING_WINDOW) {
            for blob in super::blobs_at(&self.client, height, self.namespace).await.map_err(PostError::Da)? {
                if let Some((first, last)) = self.ours_and_next(&blob.data)? {
                    tracing::info!(first, last, height, "found a batch sent before; recording it");
                    return self.record(first, last, height);
                }
            }
        }
        self.forget_in_flight()
    }

    /// The block range of a blob that is this sequencer's batch of exactly the next blocks, as
    /// this node holds them.
    fn ours_and_next(&self, data: &[u8]) -> Result<Option<(u64, u64)>, StoreError> {
        let Ok(envelope) = batch::open(data) else { return Ok(None) };
        let next = self.included() + 1;
        if envelope.signer != self.signer.address() || envelope.chain_id != self.chain.spec.chain_id || envelope.first != next {
            return Ok(None);
        }
        let Ok(found) = batch::decode(data, &envelope) else { return Ok(None) };
        let reader = self.chain.store.reader()?;
        for (number, block) in (envelope.first..).zip(&found.blocks) {
            if reader.block_hash(number)? != Some(block.hash) {
                return Ok(None);
            }
        }
        Ok(Some((envelope.first, envelope.last)))
    }

    fn forget_in_flight(&mut self) -> Result<(), PostError> {
        self.chain.store.set_da_mark(DA_IN_FLIGHT_KEY, None)?;
        let included = self.included();
        self.chain.da_status.lock().last_submitted_block = included;
        Ok(())
    }

    fn record(&mut self, first: u64, last: u64, height: u64) -> Result<(), PostError> {
        self.chain.store.record_da_inclusion(first, last, height)?;
        while self.queue.front().is_some_and(|(n, _)| *n <= last) {
            let (_, block) = self.queue.pop_front().expect("checked");
            self.pending_bytes = self.pending_bytes.saturating_sub(block.encoded_len() as u64);
            self.queued_bytes = self.queued_bytes.saturating_sub(block.encoded_len() as u64);
        }
        {
            let mut status = self.chain.da_status.lock();
            status.last_included_block = last;
            status.last_included_da_height = Some(height);
            status.last_submitted_block = status.last_submitted_block.max(last);
        }
        metrics::gauge!("ande_da_included_block").set(last as f64);
        metrics::gauge!("ande_da_height").set(height as f64);
        self.waiting_since = (!self.queue.is_empty() || self.sized_through > last).then(Instant::now);
        self.publish_pending(self.chain.head().header.number);
        Ok(())
    }

    fn succeeded(&mut self) {
        // A limit learnt from "too big" relaxes again, slowly, as batches go through.
        self.max_blocks = self.max_blocks.saturating_add(self.max_blocks / 4 + 1);
        self.retry_at = None;
        self.retry_delay = FIRST_RETRY;
        self.gas_price = base_gas_price(&self.config);
    }

    fn failed(&mut self, message: String) {
        tracing::warn!(error = %message, retry_in_ms = self.retry_delay.as_millis() as u64, "DA submission failed");
        metrics::counter!("ande_da_submit_failures_total").increment(1);
        {
            let mut status = self.chain.da_status.lock();
            status.failures += 1;
            status.last_error = Some(message);
        }
        self.retry_at = Some(Instant::now() + self.retry_delay);
        self.retry_delay = (self.retry_delay * 2).min(self.config.retry_max);
        if let Some(price) = self.gas_price.as_mut() {
            *price *= self.config.gas_multiplier;
            if let Some(max) = self.config.max_gas_price {
                *price = price.min(max);
            }
        }
    }
}

/// The configured gas price, when one is (negative means "the node's minimum").
fn base_gas_price(config: &DaConfig) -> Option<f64> {
    config.gas_price.filter(|p| *p >= 0.0)
}

/// One stored block as the batch carries it.
pub(crate) fn load_block(reader: &crate::storage::StoreReader, number: u64) -> Result<BatchBlock, StoreError> {
    let (header, hash) = reader.sealed_header(number)?.ok_or_else(|| StoreError::Corrupt(format!("missing header {number}")))?;
    let mut transactions = Vec::new();
    for tx in reader.block_tx_hashes(number)? {
        let stored = reader.transaction(&tx)?.ok_or_else(|| StoreError::Corrupt(format!("missing transaction {tx}")))?;
        transactions.push(stored.encoded);
    }
    Ok(BatchBlock { timestamp: header.timestamp, beneficiary: header.beneficiary, hash, state_root: header.state_root, transactions })
}
