//! `ande-sender`: the one sender of transactions of the stack, shared by the faucet, the bundler,
//! the bridge relayer and the contract deployer.
//!
//! Every transaction is signed for an idempotency key chosen by the caller (a claim id, a bundle
//! id, a message id) and written to a durable journal before it is sent, so a crash at any point
//! sends the same transaction again instead of signing a second one. Nonces come from the
//! journal and the node together; a transaction left unmined is re-sent with fees raised past the
//! pool's replacement bump; one whose nonce was taken by a transaction this key did not sign is
//! signed again at a fresh nonce (none of its versions can be mined any more); a conditional one
//! the sequencer dropped finishes as dropped. A nonce left unused in the middle of a run is filled
//! with an empty transfer to self, so later transactions are never stuck behind it.

pub mod heads;
mod journal;
pub mod node;

pub use journal::{EmbeddedJournal, Journal, JournalError, RedisJournal, adopt_legacy_file, adopt_legacy_keys};
pub use node::{FeeQuote, NativeCurrency, NodeClient, NodeError, Receipt, Refusal, wait_for_node};

use alloy_consensus::{SignableTransaction, TxEip1559, TxEnvelope};
use alloy_eips::eip2718::Encodable2718;
use alloy_primitives::{Address, B256, Bytes, TxKind, U256, map::HashMap};
use alloy_rpc_types_eth::erc4337::TransactionConditional;
use alloy_signer::SignerSync;
use alloy_signer_local::PrivateKeySigner;
use ande_chain::parse_duration;
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long a signing lease lasts without renewal.
const LEASE: Duration = Duration::from_secs(5);
/// Gas of a plain transfer, the filler of an unused nonce.
const TRANSFER_GAS: u64 = 21_000;

pub fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// The sender's settings, shared by every service that sends transactions.
#[derive(Debug, Clone, clap::Args)]
pub struct SenderArgs {
    /// Blocks a transaction may stay unmined before it is re-sent with a higher fee.
    #[arg(long = "resend-after-blocks", env = "RESEND_AFTER_BLOCKS", default_value_t = 5)]
    pub resend_after_blocks: u64,
    /// The lowest tip offered, in wei per gas.
    #[arg(long = "min-tip", env = "MIN_TIP_WEI", default_value_t = 1_000_000_000)]
    pub min_tip: u128,
    /// The highest fee per gas a re-send may reach, in wei.
    #[arg(long = "max-fee-cap", env = "MAX_FEE_CAP_WEI", default_value_t = 10_000_000_000_000)]
    pub max_fee_cap: u128,
    /// How long the journal keeps finished transactions.
    #[arg(long = "journal-retention", env = "JOURNAL_RETENTION", default_value = "168h", value_parser = parse_duration)]
    pub journal_retention: Duration,
}

/// What to send. The same request under the same key is signed once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxRequest {
    /// None creates a contract.
    pub to: Option<Address>,
    #[serde(default)]
    pub value: U256,
    #[serde(default)]
    pub input: Bytes,
    pub gas_limit: u64,
    /// Sent with `eth_sendRawTransactionConditional`: included only while these hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<TransactionConditional>,
}

/// One signed version of a transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signed {
    pub hash: B256,
    pub raw: Bytes,
    pub max_fee: u128,
    pub tip: u128,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum State {
    Pending,
    Mined { hash: B256, block: u64, success: bool },
    /// The node refused it for good; its nonce went to another transaction.
    Refused { reason: String },
    /// Its conditions stopped holding and the sequencer dropped it; never mined.
    Dropped,
}

impl State {
    pub fn is_final(&self) -> bool {
        !matches!(self, State::Pending)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub key: String,
    pub request: TxRequest,
    pub nonce: u64,
    /// The version sent last.
    pub signed: Signed,
    /// Versions it replaced at the same nonce (fee bumps): any of them may be the one mined.
    #[serde(default)]
    pub replaced: Vec<B256>,
    pub sent_at_block: u64,
    pub state: State,
    /// The head at which a conditional transaction was first missing from the node.
    #[serde(default)]
    pub missing_since: Option<u64>,
    pub created_at: u64,
}

impl Record {
    /// Every hash this record was sent under, newest first.
    pub fn hashes(&self) -> impl Iterator<Item = B256> + '_ {
        std::iter::once(self.signed.hash).chain(self.replaced.iter().rev().copied())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error(transparent)]
    Node(#[from] NodeError),
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error("signing: {0}")]
    Sign(String),
    /// The journal saw a transaction mined that this chain does not have: it is the journal of
    /// another chain under the same id (one started again), and trusting it would lose or
    /// repeat payments.
    #[error("the journal records {address}'s transaction at nonce {nonce} as mined, but this chain's nonce for {address} is {chain_nonce}: the journal is of another chain (one started again under the same id?); move it away to start a new one")]
    ForeignJournal { address: Address, nonce: u64, chain_nonce: u64 },
}

#[derive(Default)]
struct Inner {
    /// The nonce the next new transaction takes; None until resumed (and after any doubt).
    next_nonce: Option<u64>,
    /// The journal's pending records, by key, while this process leads.
    pending: HashMap<String, Record>,
    followed_head: Option<u64>,
    pruned_at: Option<Instant>,
}

pub struct Sender {
    node: NodeClient,
    signer: PrivateKeySigner,
    chain_id: u64,
    journal: Journal,
    args: SenderArgs,
    /// This process's lease holder id.
    me: String,
    inner: tokio::sync::Mutex<Inner>,
}

impl Sender {
    pub fn new(node: NodeClient, signer: PrivateKeySigner, chain_id: u64, journal: Journal, args: SenderArgs) -> Self {
        use std::hash::{BuildHasher, RandomState};
        let me = format!("{:016x}{:016x}", RandomState::new().hash_one(0u8), RandomState::new().hash_one(1u8));
        Self { node, signer, chain_id, journal, args, me, inner: Default::default() }
    }

    pub fn address(&self) -> Address {
        self.signer.address()
    }

    pub fn node(&self) -> &NodeClient {
        &self.node
    }

    /// Takes or renews the signing lease; false while another process holds it.
    pub async fn lead(&self) -> Result<bool, SendError> {
        let held = self.journal.lead(&self.me, LEASE).await?;
        if !held {
            *self.inner.lock().await = Inner::default();
        }
        Ok(held)
    }

    /// The record of `key`, if it was ever submitted (and not yet forgotten by retention).
    pub async fn get(&self, key: &str) -> Result<Option<Record>, SendError> {
        if let Some(record) = self.inner.lock().await.pending.get(key) {
            return Ok(Some(record.clone()));
        }
        Ok(self.journal.get(key).await?)
    }

    /// Signs, records and sends each request not seen before under its key; returns the record
    /// of every key, in order. After an error nothing is lost: submitting the same keys again
    /// returns the transactions already signed for them.
    pub async fn submit(&self, batch: Vec<(String, TxRequest)>) -> Result<Vec<Record>, SendError> {
        let mut inner = self.inner.lock().await;
        let mut next = self.resume(&mut inner).await?;
        let mut keys = Vec::with_capacity(batch.len());
        let mut known: HashMap<String, Record> = HashMap::default();
        let mut fresh = Vec::new();
        let mut context: Option<(FeeQuote, u64)> = None;
        for (key, request) in batch {
            keys.push(key.clone());
            if known.contains_key(&key) || fresh.iter().any(|r: &Record| r.key == key) {
                continue;
            }
            if let Some(record) = inner.pending.get(&key) {
                known.insert(key, record.clone());
                continue;
            }
            if let Some(record) = self.journal.get(&key).await? {
                known.insert(key, record);
                continue;
            }
            let (quote, head) = match context {
                Some(c) => c,
                None => *context.insert((self.node.fee_quote(self.args.min_tip).await?, self.node.block_number().await?)),
            };
            let signed = self.sign(&request, next, quote)?;
            fresh.push(Record {
                key,
                request,
                nonce: next,
                signed,
                replaced: Vec::new(),
                sent_at_block: head,
                state: State::Pending,
                missing_since: None,
                created_at: now_secs(),
            });
            next += 1;
        }
        if !fresh.is_empty() {
            if let Err(e) = self.journal.put(&fresh).await {
                inner.next_nonce = None;
                return Err(e.into());
            }
            inner.next_nonce = Some(next);
            for record in &fresh {
                inner.pending.insert(record.key.clone(), record.clone());
            }
            for record in fresh {
                let key = record.key.clone();
                let settled = self.send_new(&mut inner, record).await?;
                known.insert(key, settled);
            }
        }
        Ok(keys.iter().filter_map(|k| known.get(k).cloned()).collect())
    }

    /// Settles pending transactions against the node, once per new head: mined ones finish;
    /// one whose nonce a foreign transaction took is signed again at a fresh nonce; a
    /// conditional one the node no longer knows finishes as dropped; one left waiting is
    /// re-sent with higher fees. Returns the records that finished.
    pub async fn follow(&self) -> Result<Vec<Record>, SendError> {
        let mut inner = self.inner.lock().await;
        self.resume(&mut inner).await?;
        let head = self.node.block_number().await?;
        if inner.followed_head == Some(head) {
            return Ok(Vec::new());
        }
        // Read before the receipts: what this count says was mined has its receipt visible.
        let mined_nonce = self.node.nonce(self.address(), "latest").await?;
        let mut records: Vec<Record> = inner.pending.values().cloned().collect();
        records.sort_by_key(|r| r.nonce);
        let (mut finished, mut changed, mut to_send) = (Vec::new(), Vec::new(), Vec::new());
        let mut quote = None;
        for mut record in records {
            if record.nonce < mined_nonce {
                if let Some(receipt) = self.find_receipt(&record).await? {
                    record.state = State::Mined { hash: receipt.transaction_hash, block: receipt.block_number.to(), success: receipt.status.to::<u64>() == 1 };
                    finished.push(record);
                } else {
                    let nonce = inner.next_nonce.map_or(mined_nonce, |n| n.max(mined_nonce));
                    tracing::warn!(key = %record.key, old_nonce = record.nonce, nonce, "a transaction this key did not sign took the nonce; signing again");
                    let fees = self.quote(&mut quote).await?;
                    record.signed = self.sign(&record.request, nonce, fees)?;
                    record.nonce = nonce;
                    record.replaced.clear();
                    record.sent_at_block = head;
                    inner.next_nonce = Some(nonce + 1);
                    to_send.push(record.key.clone());
                    changed.push(record);
                }
                continue;
            }
            if record.request.conditions.is_some() {
                if self.node_knows(&record).await? {
                    record.missing_since = None;
                } else if record.missing_since.is_some_and(|since| head > since) {
                    record.state = State::Dropped;
                    finished.push(record);
                    continue;
                } else {
                    if record.missing_since.is_none() {
                        record.missing_since = Some(head);
                        changed.push(record);
                    }
                    continue;
                }
            }
            if head.saturating_sub(record.sent_at_block) >= self.args.resend_after_blocks {
                let fees = self.quote(&mut quote).await?;
                if let Some(bumped) = self.bumped(&record, fees) {
                    let old = record.signed.hash;
                    record.signed = self.sign(&record.request, record.nonce, bumped)?;
                    record.replaced.push(old);
                    record.sent_at_block = head;
                    tracing::info!(key = %record.key, nonce = record.nonce, old = %old, new = %record.signed.hash, max_fee = bumped.max_fee, "re-sending with a higher fee");
                    to_send.push(record.key.clone());
                    changed.push(record);
                }
            }
        }
        let mut writes = finished.clone();
        writes.extend(changed.iter().cloned());
        if !writes.is_empty() {
            self.journal.put(&writes).await?;
        }
        for record in &finished {
            inner.pending.remove(&record.key);
        }
        for record in changed {
            inner.pending.insert(record.key.clone(), record);
        }
        for key in to_send {
            let Some(record) = inner.pending.get(&key).cloned() else { continue };
            if let Err(e) = self.transmit(&record).await {
                match e.refusal() {
                    Some(Refusal::Other(reason)) => tracing::warn!(key = %record.key, %reason, "re-send refused"),
                    Some(_) => {}
                    None => return Err(e.into()),
                }
            }
        }
        for record in finished.iter().filter(|r| r.state == State::Dropped) {
            tracing::info!(key = %record.key, nonce = record.nonce, "conditional transaction dropped by the node");
            self.reuse_nonce(&mut inner, record.nonce).await?;
        }
        inner.followed_head = Some(head);
        self.prune(&mut inner).await;
        Ok(finished)
    }

    /// Refuses a journal that saw mined a nonce this chain has not reached: services check it
    /// at start, so a foreign journal stops them there instead of failing every send.
    pub async fn check_chain(&self) -> Result<(), SendError> {
        let chain_nonce = self.node.nonce(self.address(), "latest").await?;
        if let Some(nonce) = self.journal.mined_nonce().await?.filter(|n| *n >= chain_nonce) {
            return Err(SendError::ForeignJournal { address: self.address(), nonce, chain_nonce });
        }
        Ok(())
    }

    /// On first use (and after any doubt): refuses a journal of another chain, loads the
    /// journal's pending records, re-sends them in nonce order before anything new (the node
    /// may have lost them), and takes the next nonce past both the node's and the journal's.
    async fn resume(&self, inner: &mut Inner) -> Result<u64, SendError> {
        if let Some(next) = inner.next_nonce {
            return Ok(next);
        }
        self.check_chain().await?;
        let mut pending = self.journal.pending().await?;
        pending.sort_by_key(|r| r.nonce);
        let node_next = self.node.nonce(self.address(), "pending").await?;
        let journal_next = pending.last().map_or(0, |r| r.nonce + 1);
        inner.pending = pending.iter().map(|r| (r.key.clone(), r.clone())).collect();
        for record in &pending {
            if let Err(e) = self.transmit(record).await {
                match e.refusal() {
                    None => return Err(e.into()),
                    // Settled by the next follow: mined, taken, or bumped when due.
                    Some(_) => tracing::debug!(key = %record.key, error = %e, "re-send on resume refused"),
                }
            }
        }
        if !pending.is_empty() {
            tracing::info!(pending = pending.len(), "resumed the journal's pending transactions");
        }
        let next = node_next.max(journal_next);
        inner.next_nonce = Some(next);
        Ok(next)
    }

    /// Sends a newly signed transaction and settles what its refusal means.
    async fn send_new(&self, inner: &mut Inner, mut record: Record) -> Result<Record, SendError> {
        match self.transmit(&record).await {
            Ok(()) => {}
            Err(e) => match e.refusal() {
                // Taken, known, or cheaper than something at its nonce: the next follow settles it.
                Some(Refusal::AlreadyKnown | Refusal::NonceTooLow) => {}
                Some(Refusal::Underpriced) => {
                    record.sent_at_block = 0;
                    inner.pending.insert(record.key.clone(), record.clone());
                }
                Some(Refusal::Other(reason)) => {
                    tracing::warn!(key = %record.key, nonce = record.nonce, %reason, "transaction refused");
                    record.state = State::Refused { reason };
                    self.journal.put(std::slice::from_ref(&record)).await?;
                    inner.pending.remove(&record.key);
                    self.reuse_nonce(inner, record.nonce).await?;
                }
                None => {
                    // The journal holds it; the next call re-sends everything pending.
                    inner.next_nonce = None;
                    return Err(e.into());
                }
            },
        }
        Ok(record)
    }

    /// A nonce that will not be mined: the next transaction takes it, or, when later ones are
    /// already out, an empty transfer to self fills it so they are not stuck behind it.
    async fn reuse_nonce(&self, inner: &mut Inner, nonce: u64) -> Result<(), SendError> {
        if !inner.pending.values().any(|r| r.nonce > nonce) {
            inner.next_nonce = Some(inner.next_nonce.map_or(nonce, |n| n.min(nonce)));
            return Ok(());
        }
        let request = TxRequest { to: Some(self.address()), value: U256::ZERO, input: Bytes::new(), gas_limit: TRANSFER_GAS, conditions: None };
        let fees = self.node.fee_quote(self.args.min_tip).await?;
        let record = Record {
            key: format!("filler:{nonce}:{}", now_secs()),
            signed: self.sign(&request, nonce, fees)?,
            request,
            nonce,
            replaced: Vec::new(),
            sent_at_block: self.node.block_number().await?,
            state: State::Pending,
            missing_since: None,
            created_at: now_secs(),
        };
        self.journal.put(std::slice::from_ref(&record)).await?;
        inner.pending.insert(record.key.clone(), record.clone());
        tracing::info!(nonce, "filling an unused nonce with an empty transfer");
        if let Err(e) = self.transmit(&record).await {
            tracing::warn!(nonce, error = %e, "the filler was refused; retried when due");
        }
        Ok(())
    }

    async fn transmit(&self, record: &Record) -> Result<(), NodeError> {
        match &record.request.conditions {
            Some(conditions) => self.node.send_raw_conditional(&record.signed.raw, conditions).await.map(drop),
            None => self.node.send_raw(&record.signed.raw).await.map(drop),
        }
    }

    async fn find_receipt(&self, record: &Record) -> Result<Option<Receipt>, NodeError> {
        for hash in record.hashes() {
            if let Some(receipt) = self.node.receipt(hash).await? {
                return Ok(Some(receipt));
            }
        }
        Ok(None)
    }

    async fn node_knows(&self, record: &Record) -> Result<bool, NodeError> {
        for hash in record.hashes() {
            if self.node.knows_transaction(hash).await? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    async fn quote(&self, cached: &mut Option<FeeQuote>) -> Result<FeeQuote, NodeError> {
        if let Some(q) = cached {
            return Ok(*q);
        }
        Ok(*cached.insert(self.node.fee_quote(self.args.min_tip).await?))
    }

    /// Fees for a re-send: both raised by an eighth (past the pool's 10 % replacement bump), or
    /// to the current quote if higher; None at the cap.
    fn bumped(&self, record: &Record, quote: FeeQuote) -> Option<FeeQuote> {
        let raise = |old: u128| old.saturating_add(old / 8 + 1);
        let cap = self.args.max_fee_cap;
        if record.signed.max_fee >= cap {
            tracing::warn!(key = %record.key, cap, "fee cap reached; waiting without raising it further");
            return None;
        }
        let max_fee = raise(record.signed.max_fee).max(quote.max_fee).min(cap);
        let tip = raise(record.signed.tip).max(quote.tip).min(max_fee);
        Some(FeeQuote { max_fee, tip })
    }

    fn sign(&self, request: &TxRequest, nonce: u64, fees: FeeQuote) -> Result<Signed, SendError> {
        let tx = TxEip1559 {
            chain_id: self.chain_id,
            nonce,
            gas_limit: request.gas_limit,
            max_fee_per_gas: fees.max_fee,
            max_priority_fee_per_gas: fees.tip.min(fees.max_fee),
            to: request.to.map_or(TxKind::Create, TxKind::Call),
            value: request.value,
            input: request.input.clone(),
            access_list: Default::default(),
        };
        let signature = self.signer.sign_hash_sync(&tx.signature_hash()).map_err(|e| SendError::Sign(e.to_string()))?;
        let envelope = TxEnvelope::from(tx.into_signed(signature));
        Ok(Signed { hash: *envelope.tx_hash(), raw: envelope.encoded_2718().into(), max_fee: fees.max_fee, tip: fees.tip })
    }

    async fn prune(&self, inner: &mut Inner) {
        if inner.pruned_at.is_some_and(|at| at.elapsed() < Duration::from_secs(3600)) {
            return;
        }
        inner.pruned_at = Some(Instant::now());
        match self.journal.prune(self.args.journal_retention).await {
            Ok(0) => {}
            Ok(removed) => tracing::info!(removed, "journal: forgot finished transactions past retention"),
            Err(e) => tracing::warn!(error = %e, "journal: pruning failed"),
        }
    }
}

/// A signing key from a settings pair (`NAME_FILE` first, then `NAME`): absent, unreadable or
/// malformed, the error names the setting, never the key's text.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("no {what} key: set {var}_FILE (or {var})")]
    Missing { what: &'static str, var: &'static str },
    #[error(transparent)]
    File(#[from] ande_chain::SecretFileError),
    #[error("the {what} key is not a valid secp256k1 private key (64 hex digits)")]
    Invalid { what: &'static str },
}

/// The key from a secret file or a value (the file wins); None when neither is set or the
/// secret is empty (an empty Docker secret stands for "none").
pub fn optional_signer(file: Option<&std::path::Path>, value: Option<&str>, what: &'static str) -> Result<Option<PrivateKeySigner>, KeyError> {
    let Some(text) = ande_chain::read_secret(file, value)?.filter(|t| !t.is_empty()) else { return Ok(None) };
    text.parse::<PrivateKeySigner>().map(Some).map_err(|_| KeyError::Invalid { what })
}

/// The key from a secret file or a value, required; `var` names the setting in the error.
pub fn signer(file: Option<&std::path::Path>, value: Option<&str>, what: &'static str, var: &'static str) -> Result<PrivateKeySigner, KeyError> {
    optional_signer(file, value, what)?.ok_or(KeyError::Missing { what, var })
}
