//! `ande relayer`: delivers every message between AndeChain and the other chain, once. For each
//! chain it indexes the Mailbox's `Dispatch` events from a cursor kept in its store (it backfills
//! whatever was sent while it was down), gathers the validators' signatures the destination's ISM
//! asks for, builds the ISM's metadata, checks `delivered(id)`, dry-runs `process`, sends it
//! through the stack's sender (nonces, fee bumps, durable records written before sending) and
//! waits for its receipt and confirmations. A message that cannot be delivered yet (too few
//! signatures, a handler that reverts) is kept with its reason and retried with backoff; one that
//! another relayer delivered is recognised by the Mailbox's `delivered(id)`.

mod api;
mod record;
mod signatures;
mod store;

use crate::message::Message;
use alloy_primitives::{Address, B256, Bytes, U64};
use alloy_sol_types::{SolCall, SolEvent};
use ande_chain::{ensure_chain_id, parse_duration};
use ande_contracts::abi::{IMailbox, IMerkleTreeHook, IMultisigIsm, IValidatorAnnounce};
use ande_contracts::bridge as names;
use ande_sender::{Journal, NodeClient, Sender, SenderArgs, State, TxRequest, wait_for_node};
use crate::rpc::{LOG_CHUNK, params, wait_for_deployments};
use parking_lot::RwLock;
use record::{MessageRecord, MessageState};
use serde_json::json;
use signatures::{Expected, Fetcher};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use store::{Store, StoreError};
use tokio::sync::watch;

#[derive(Clone, clap::Args)]
pub struct RelayerArgs {
    /// AndeChain's JSON-RPC URL.
    #[arg(long = "rpc-url", env = "WEB3_PROVIDER", default_value = "http://127.0.0.1:8545")]
    pub rpc_url: String,
    /// AndeChain's expected chain id.
    #[arg(long = "chain-id", env = "CHAIN_ID")]
    pub chain_id: Option<u64>,
    /// AndeChain's deployments file (its bridge contracts), waited for.
    #[arg(long = "deployments", env = "DEPLOYMENTS_FILE", default_value = "deployments/local.json")]
    pub deployments: PathBuf,
    /// The other chain's JSON-RPC URL.
    #[arg(long = "remote-rpc-url", env = "BRIDGE_REMOTE_RPC_URL")]
    pub remote_rpc_url: String,
    /// The other chain's expected chain id.
    #[arg(long = "remote-chain-id", env = "BRIDGE_REMOTE_CHAIN_ID")]
    pub remote_chain_id: Option<u64>,
    /// The other chain's deployments file, waited for.
    #[arg(long = "remote-deployments", env = "BRIDGE_REMOTE_DEPLOYMENTS_FILE", default_value = "deployments/l1-local.json")]
    pub remote_deployments: PathBuf,
    /// The relayer's key (funded on both chains: it pays for `process`), hex. Prefer RELAYER_KEY_FILE.
    #[arg(long = "private-key", env = "RELAYER_KEY", hide_env_values = true)]
    pub private_key: Option<String>,
    /// A file holding the relayer's key (a Docker secret).
    #[arg(long = "private-key-file", env = "RELAYER_KEY_FILE")]
    pub private_key_file: Option<PathBuf>,
    /// AndeChain's blocks below the head left unindexed (its messages are signed once on DA anyway).
    #[arg(long = "confirmations", env = "RELAYER_CONFIRMATIONS", default_value_t = 0)]
    pub confirmations: u64,
    /// The other chain's blocks below the head left unindexed: at least its validators' depth,
    /// so a reorg there cannot hide a message behind the cursor.
    #[arg(long = "remote-confirmations", env = "BRIDGE_REMOTE_CONFIRMATIONS", default_value_t = 0)]
    pub remote_confirmations: u64,
    /// Blocks on top of a delivery before it counts as delivered.
    #[arg(long = "delivery-confirmations", env = "RELAYER_DELIVERY_CONFIRMATIONS", default_value_t = 1)]
    pub delivery_confirmations: u64,
    /// How often it indexes and moves messages on.
    #[arg(long = "interval", env = "RELAYER_INTERVAL", default_value = "500ms", value_parser = parse_duration)]
    pub interval: Duration,
    /// The longest wait between two attempts at a failing message (the wait doubles from 1 s).
    #[arg(long = "max-backoff", env = "RELAYER_MAX_BACKOFF", default_value = "5m", value_parser = parse_duration)]
    pub max_backoff: Duration,
    #[arg(long = "addr", env = "RELAYER_ADDR", default_value = "127.0.0.1")]
    pub addr: IpAddr,
    /// The status API (/messages), /health and /metrics.
    #[arg(long = "port", env = "RELAYER_PORT", default_value_t = 9450)]
    pub port: u16,
    /// Its database and its senders' journals.
    #[arg(long = "data-dir", env = "RELAYER_DATA_DIR", default_value = "data/relayer")]
    pub data_dir: PathBuf,
    #[command(flatten)]
    pub sender: SenderArgs,
}

impl std::fmt::Debug for RelayerArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelayerArgs")
            .field("rpc_url", &self.rpc_url)
            .field("remote_rpc_url", &self.remote_rpc_url)
            .field("private_key", &self.private_key.as_ref().map(|_| "<redacted>"))
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RelayerError {
    #[error(transparent)]
    Key(#[from] ande_sender::KeyError),
    #[error(transparent)]
    ChainId(#[from] ande_chain::ChainIdMismatch),
    #[error(transparent)]
    Node(#[from] ande_sender::NodeError),
    #[error(transparent)]
    Journal(#[from] ande_sender::JournalError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Deployments(#[from] ande_chain::DeploymentsError),
    #[error("{file} is chain {file_chain}'s deployments, and the node is chain {node_chain}")]
    WrongDeployments { file: String, file_chain: u64, node_chain: u64 },
    #[error("chain id {0} does not fit a Hyperlane domain (32 bits)")]
    Domain(u64),
    #[error("both RPC URLs are chain {0}: a bridge joins two chains")]
    SameChain(u64),
    #[error("cannot listen on {addr}: {source}")]
    Listen { addr: SocketAddr, source: std::io::Error },
}

/// One of the two chains, as origin and as destination.
struct Chain {
    domain: u32,
    node: NodeClient,
    mailbox: Address,
    hook: Address,
    announce: Address,
    /// Blocks below the head left unindexed.
    confirmations: u64,
    sender: Sender,
}

#[derive(Default)]
struct Stats {
    delivered: AtomicU64,
    failed_attempts: AtomicU64,
}

/// What /health and /metrics report, refreshed each round.
#[derive(Default, Clone)]
struct Status {
    /// domain -> (head, cursor).
    chains: HashMap<u32, (Option<u64>, Option<u64>)>,
    /// (origin, destination) -> pending messages.
    pending: HashMap<(u32, u32), usize>,
    waiting_for_signatures: usize,
    oldest_pending_ms: Option<u64>,
    last_error: Option<String>,
    last_success_ms: Option<u64>,
}

struct App {
    args: RelayerArgs,
    chains: [Chain; 2],
    store: Store,
    fetcher: Fetcher,
    stats: Stats,
    status: RwLock<Status>,
}

pub async fn run(args: RelayerArgs, mut shutdown: watch::Receiver<bool>) -> Result<(), RelayerError> {
    let key = ande_sender::signer(args.private_key_file.as_deref(), args.private_key.as_deref(), "relayer", "RELAYER_KEY")?;
    let mut chains = Vec::with_capacity(2);
    for (url, expected, file, confirmations) in [
        (&args.rpc_url, args.chain_id, &args.deployments, args.confirmations),
        (&args.remote_rpc_url, args.remote_chain_id, &args.remote_deployments, args.remote_confirmations),
    ] {
        let node = NodeClient::new(url)?;
        let Some(chain_id) = wait_for_node(&node, &mut shutdown).await else { return Ok(()) };
        ensure_chain_id(expected, chain_id, format!("the node at {url}"))?;
        let domain = u32::try_from(chain_id).map_err(|_| RelayerError::Domain(chain_id))?;
        let Some(d) = wait_for_deployments(file, &mut shutdown).await? else { return Ok(()) };
        if d.chain_id != chain_id {
            return Err(RelayerError::WrongDeployments { file: file.display().to_string(), file_chain: d.chain_id, node_chain: chain_id });
        }
        let journal = Journal::embedded(&args.data_dir, &node.chain_tag(chain_id).await?)?;
        let sender = Sender::new(node.clone(), key.clone(), chain_id, journal, args.sender.clone());
        chains.push(Chain {
            domain,
            mailbox: d.address(names::MAILBOX, file)?,
            hook: d.address(names::MERKLE_TREE_HOOK, file)?,
            announce: d.address(names::VALIDATOR_ANNOUNCE, file)?,
            node,
            confirmations,
            sender,
        });
    }
    let chains: [Chain; 2] = chains.try_into().unwrap_or_else(|_| unreachable!("two chains were pushed"));
    if chains[0].domain == chains[1].domain {
        return Err(RelayerError::SameChain(chains[0].domain.into()));
    }
    let store = Store::open(&args.data_dir)?;
    for chain in &chains {
        let chain_id = u64::from(chain.domain);
        store.bind(chain.domain, &format!("{}:{:#x}", chain.node.chain_tag(chain_id).await?, chain.mailbox))?;
    }
    let app = Arc::new(App { chains, store, fetcher: Fetcher::default(), stats: Stats::default(), status: RwLock::new(Status::default()), args });
    let server = api::serve(app.clone(), shutdown.clone()).await?;
    tracing::info!(relayer = %key.address(), andechain = app.chains[0].domain, remote = app.chains[1].domain, pending = app.store.pending()?.len(), "relayer started");
    loop {
        round(&app).await;
        tokio::select! {
            _ = tokio::time::sleep(app.args.interval) => {}
            _ = shutdown.changed() => break,
        }
    }
    let _ = server.await;
    tracing::info!("relayer stopped");
    Ok(())
}

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// One round: index both chains, settle the senders, move every due message on.
async fn round(app: &App) {
    let mut errors = Vec::new();
    let mut status = app.status.read().clone();
    for (i, chain) in app.chains.iter().enumerate() {
        let other = &app.chains[1 - i];
        match index(app, chain, other.domain).await {
            Ok((head, cursor)) => {
                status.chains.insert(chain.domain, (Some(head), cursor));
            }
            Err(e) => errors.push(format!("indexing chain {}: {e}", chain.domain)),
        }
        if let Err(e) = chain.sender.follow().await {
            errors.push(format!("following the transactions on chain {}: {e}", chain.domain));
        }
    }
    match app.store.pending() {
        Ok(mut pending) => {
            pending.sort_by_key(|r| (r.origin, r.origin_block, r.nonce));
            let now = now_ms();
            for record in pending.into_iter().filter(|r| r.next_attempt_at <= now) {
                let id = record.id;
                if let Err(e) = advance(app, record).await {
                    errors.push(format!("message {id}: {e}"));
                }
            }
        }
        Err(e) => errors.push(e.to_string()),
    }
    if let Ok(pending) = app.store.pending() {
        status.pending.clear();
        for r in &pending {
            *status.pending.entry((r.origin, r.destination)).or_default() += 1;
        }
        status.waiting_for_signatures = pending.iter().filter(|r| r.state == MessageState::WaitingForSignatures).count();
        status.oldest_pending_ms = pending.iter().map(|r| r.indexed_at).min().map(|t| now_ms().saturating_sub(t));
    }
    if errors.is_empty() {
        status.last_error = None;
        status.last_success_ms = Some(now_ms());
    } else {
        for e in &errors {
            tracing::warn!(error = %e, "relaying");
        }
        status.last_error = errors.pop();
    }
    *app.status.write() = status;
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Log {
    topics: Vec<B256>,
    data: Bytes,
    block_number: U64,
    transaction_hash: B256,
    #[serde(default)]
    removed: bool,
}

#[derive(serde::Deserialize)]
struct Transaction {
    from: Address,
}

/// Indexes `chain`'s new dispatches to `destination`; its head and cursor.
async fn index(app: &App, chain: &Chain, destination: u32) -> Result<(u64, Option<u64>), String> {
    let head = chain.node.block_number().await.map_err(|e| e.to_string())?;
    let Some(last) = head.checked_sub(chain.confirmations) else { return Ok((head, None)) };
    let mut from = match app.store.cursor(chain.domain).map_err(|e| e.to_string())? {
        Some(cursor) => cursor + 1,
        None => deployed_block(chain).await?,
    };
    while from <= last {
        let to = last.min(from + LOG_CHUNK - 1);
        let topics = [IMailbox::Dispatch::SIGNATURE_HASH, IMerkleTreeHook::InsertedIntoTree::SIGNATURE_HASH];
        let filter = json!([{ "address": [chain.mailbox, chain.hook], "topics": [topics], "fromBlock": format!("{from:#x}"), "toBlock": format!("{to:#x}") }]);
        let logs: Vec<Log> = chain.node.request("eth_getLogs", params(filter)).await.map_err(|e| e.to_string())?;
        let logs: Vec<&Log> = logs.iter().filter(|l| !l.removed).collect();
        // The hook's insertion, in the same transaction, gives a message its index.
        let mut indices = HashMap::new();
        for log in logs.iter().filter(|l| l.topics.first() == Some(&IMerkleTreeHook::InsertedIntoTree::SIGNATURE_HASH)) {
            if let Ok(event) = IMerkleTreeHook::InsertedIntoTree::abi_decode_data(&log.data) {
                indices.insert(event.0, event.1);
            }
        }
        let mut records = Vec::new();
        for log in logs.iter().filter(|l| l.topics.first() == Some(&IMailbox::Dispatch::SIGNATURE_HASH)) {
            let Ok((bytes,)) = IMailbox::Dispatch::abi_decode_data(&log.data) else { continue };
            let message = match Message::parse(&bytes) {
                Ok(m) => m,
                Err(e) => {
                    tracing::warn!(tx = %log.transaction_hash, error = %e, "a Dispatch that is no message: skipped");
                    continue;
                }
            };
            let id = message.id();
            if message.destination != destination || message.origin != chain.domain {
                tracing::info!(%id, destination = message.destination, "a message to another chain than this bridge's: not relayed");
                continue;
            }
            let Some(&index) = indices.get(&id) else {
                tracing::warn!(%id, tx = %log.transaction_hash, "a message its origin's MerkleTreeHook did not insert (a custom hook): no validator signs it, not relayed");
                continue;
            };
            let tx: Option<Transaction> = chain.node.request("eth_getTransactionByHash", params(json!([log.transaction_hash]))).await.map_err(|e| e.to_string())?;
            records.push(MessageRecord {
                id,
                nonce: message.nonce,
                origin: message.origin,
                destination: message.destination,
                sender: message.sender,
                recipient: message.recipient,
                message: bytes,
                origin_tx: log.transaction_hash,
                origin_from: tx.map_or(Address::ZERO, |t| t.from),
                origin_block: log.block_number.to(),
                index,
                state: MessageState::WaitingForSignatures,
                signatures: None,
                send_key: None,
                destination_tx: None,
                destination_block: None,
                delivered_by: None,
                attempts: 0,
                last_error: None,
                next_attempt_at: 0,
                indexed_at: now_ms(),
                delivered_at: None,
            });
        }
        app.store.index(chain.domain, &records, to).map_err(|e| e.to_string())?;
        if !records.is_empty() {
            tracing::info!(chain = chain.domain, messages = records.len(), from, to, "messages indexed");
        }
        from = to + 1;
    }
    Ok((head, app.store.cursor(chain.domain).map_err(|e| e.to_string())?))
}

async fn deployed_block(chain: &Chain) -> Result<u64, String> {
    let answer = chain.node.call(chain.mailbox, &IMailbox::deployedBlockCall {}.abi_encode()).await.map_err(|e| e.to_string())?;
    let block = IMailbox::deployedBlockCall::abi_decode_returns(&answer).map_err(|e| e.to_string())?;
    Ok(u64::try_from(block).unwrap_or(0))
}

fn chain(app: &App, domain: u32) -> Result<&Chain, String> {
    app.chains.iter().find(|c| c.domain == domain).ok_or_else(|| format!("no chain {domain} in this bridge"))
}

/// Moves one message as far as it goes now.
async fn advance(app: &App, mut record: MessageRecord) -> Result<(), String> {
    let destination = chain(app, record.destination)?;
    if record.state == MessageState::Sending {
        check_sent(app, destination, &mut record).await?;
    }
    if record.state == MessageState::Confirming {
        check_confirmed(app, destination, &mut record).await?;
    }
    if matches!(record.state, MessageState::WaitingForSignatures | MessageState::Failing) {
        attempt(app, destination, &mut record).await?;
    }
    Ok(())
}

fn save(app: &App, record: &MessageRecord) -> Result<(), String> {
    app.store.put(record).map_err(|e| e.to_string())
}

async fn delivered(destination: &Chain, id: B256) -> Result<bool, String> {
    let answer = destination.node.call(destination.mailbox, &IMailbox::deliveredCall { id }.abi_encode()).await.map_err(|e| e.to_string())?;
    IMailbox::deliveredCall::abi_decode_returns(&answer).map_err(|e| e.to_string())
}

fn mark_delivered(app: &App, record: &mut MessageRecord, by: &str) -> Result<(), String> {
    record.state = MessageState::Delivered;
    record.delivered_by = Some(by.into());
    record.delivered_at = Some(now_ms());
    record.last_error = None;
    save(app, record)?;
    tracing::info!(id = %record.id, origin = record.origin, destination = record.destination, by, tx = ?record.destination_tx, "delivered");
    if by == "this relayer" {
        app.stats.delivered.fetch_add(1, Ordering::Relaxed);
    }
    Ok(())
}

/// A failed attempt: kept with its reason, tried again after a doubling wait.
fn fail(app: &App, record: &mut MessageRecord, reason: String) -> Result<(), String> {
    record.attempts += 1;
    let wait = Duration::from_secs(1u64 << record.attempts.min(20).saturating_sub(1)).min(app.args.max_backoff);
    record.state = MessageState::Failing;
    record.next_attempt_at = now_ms() + wait.as_millis() as u64;
    tracing::warn!(id = %record.id, attempts = record.attempts, retry_in = ?wait, %reason, "delivery failed; kept and retried");
    record.last_error = Some(reason);
    app.stats.failed_attempts.fetch_add(1, Ordering::Relaxed);
    save(app, record)
}

/// Signatures, metadata, a dry run, and the `process` transaction out.
async fn attempt(app: &App, destination: &Chain, record: &mut MessageRecord) -> Result<(), String> {
    if delivered(destination, record.id).await? {
        return mark_delivered(app, record, "another relayer");
    }
    let origin = chain(app, record.origin)?;
    let recipient = Address::from_word(record.recipient);
    let ism_answer = destination.node.call(destination.mailbox, &IMailbox::recipientIsmCall { recipient }.abi_encode()).await.map_err(|e| e.to_string())?;
    let ism = IMailbox::recipientIsmCall::abi_decode_returns(&ism_answer).map_err(|e| e.to_string())?;
    let set = destination.node.call(ism, &IMultisigIsm::validatorsAndThresholdCall { message: record.message.clone() }.abi_encode()).await;
    let Ok(set) = set.map_err(|e| e.to_string()).and_then(|a| IMultisigIsm::validatorsAndThresholdCall::abi_decode_returns(&a).map_err(|e| e.to_string())) else {
        return fail(app, record, format!("the recipient's ISM {ism} on chain {} is not a multisig this relayer can satisfy", destination.domain));
    };
    let locations_answer = origin.node.call(origin.announce, &IValidatorAnnounce::getAnnouncedStorageLocationsCall { validators: set.validators.clone() }.abi_encode()).await.map_err(|e| e.to_string())?;
    let locations = IValidatorAnnounce::getAnnouncedStorageLocationsCall::abi_decode_returns(&locations_answer).map_err(|e| e.to_string())?;
    let expected = Expected { origin: origin.domain, merkle_tree_hook: origin.hook, index: record.index, message_id: record.id };
    let gathered = app.fetcher.gather(&expected, &set.validators, usize::from(set.threshold), &locations).await;
    record.signatures = Some(gathered.signatures.clone());
    let Some(metadata) = gathered.metadata else {
        let s = &gathered.signatures;
        record.state = MessageState::WaitingForSignatures;
        record.last_error = Some(format!("{} of the {} validator signatures needed: {}", s.have, s.need, s.missing.join("; ")));
        record.next_attempt_at = now_ms() + app.args.interval.as_millis() as u64;
        return save(app, record);
    };
    let input: Bytes = IMailbox::processCall { metadata: metadata.clone(), message: record.message.clone() }.abi_encode().into();
    let call = json!({ "from": destination.sender.address(), "to": destination.mailbox, "data": input });
    let gas = match destination.node.estimate_gas(&call).await {
        Ok(gas) => gas,
        Err(e) => {
            if delivered(destination, record.id).await? {
                return mark_delivered(app, record, "another relayer");
            }
            return fail(app, record, format!("process would fail on chain {}: {e}", destination.domain));
        }
    };
    let key = format!("process:{:#x}:{}", record.id, record.attempts);
    record.send_key = Some(key.clone());
    record.state = MessageState::Sending;
    record.last_error = None;
    // Written before sending: after a crash the key finds the transaction in the journal.
    save(app, record)?;
    let request = TxRequest { to: Some(destination.mailbox), value: Default::default(), input, gas_limit: gas + gas / 5, conditions: None };
    destination.sender.submit(vec![(key, request)]).await.map_err(|e| e.to_string())?;
    tracing::info!(id = %record.id, destination = destination.domain, signatures = gathered.signatures.have, "process sent");
    Ok(())
}

/// The `process` transaction's fate.
async fn check_sent(app: &App, destination: &Chain, record: &mut MessageRecord) -> Result<(), String> {
    let key = record.send_key.clone().ok_or("sending without a key")?;
    let Some(sent) = destination.sender.get(&key).await.map_err(|e| e.to_string())? else {
        // Stopped between writing the record and sending: try again from the signatures.
        record.state = MessageState::WaitingForSignatures;
        return Ok(());
    };
    match sent.state {
        State::Pending => Ok(()),
        State::Mined { hash, block, success: true } => {
            record.destination_tx = Some(hash);
            record.destination_block = Some(block);
            record.state = MessageState::Confirming;
            save(app, record)
        }
        State::Mined { hash, .. } => {
            if delivered(destination, record.id).await? {
                return mark_delivered(app, record, "another relayer");
            }
            fail(app, record, format!("process reverted on chain {} in {hash}", destination.domain))
        }
        State::Refused { reason } => fail(app, record, format!("the node refused process: {reason}")),
        State::Dropped => fail(app, record, "process was dropped".into()),
    }
}

/// Delivered once the receipt stands `delivery-confirmations` blocks deep.
async fn check_confirmed(app: &App, destination: &Chain, record: &mut MessageRecord) -> Result<(), String> {
    let (Some(hash), Some(block)) = (record.destination_tx, record.destination_block) else { return Err("confirming without a transaction".into()) };
    let head = destination.node.block_number().await.map_err(|e| e.to_string())?;
    if head + 1 < block + app.args.delivery_confirmations {
        return Ok(());
    }
    match destination.node.receipt(hash).await.map_err(|e| e.to_string())? {
        Some(receipt) if receipt.block_number.to::<u64>() == block => mark_delivered(app, record, "this relayer"),
        // Re-included in another block by a reorganisation: counted from there.
        Some(receipt) => {
            record.destination_block = Some(receipt.block_number.to());
            save(app, record)
        }
        None => {
            if delivered(destination, record.id).await? {
                return mark_delivered(app, record, "another relayer");
            }
            // Reorganised away: a new attempt, under a new key.
            record.destination_tx = None;
            record.destination_block = None;
            fail(app, record, format!("the delivery {hash} was reorganised away on chain {}", destination.domain))
        }
    }
}
