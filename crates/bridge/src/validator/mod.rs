//! `ande validator`: signs the origin chain's messages once they are final, as Hyperlane's
//! validators do. It indexes the MerkleTreeHook's insertions from its own cursor (never a
//! subscription alone: after any downtime it catches up), keeps its own copy of the tree, signs
//! a checkpoint for every message (the root and index right after it, and its id), checks its
//! root against the contract's at the final block before it publishes, and serves what it signed
//! in Hyperlane's checkpoint storage layout over HTTP (and in a folder, when asked).
//!
//! Final means: on AndeChain, included on Celestia (`ande_daStatus`'s `lastIncludedBlock`; every
//! block of a full node is); elsewhere, a number of confirmations below the head, or the node's
//! `finalized` block. If the chain ever disagrees with what it signed (a block it signed from
//! has another hash, the contract's root is not its own), it stops signing for good, says so
//! in its log, /health and /metrics, and waits for an operator.

use crate::checkpoint::{Checkpoint, CheckpointWithMessageId, JsonSignature};
use crate::merkle::MerkleTree;
mod store;

use store::{Insertion, Step, Store, StoreError};
use alloy_primitives::{Address, B256, Bytes, U64};
use alloy_signer::SignerSync;
use alloy_signer_local::PrivateKeySigner;
use alloy_sol_types::{SolCall, SolEvent, SolValue};
use ande_chain::{ensure_chain_id, parse_duration};
use ande_contracts::abi::{IMerkleTreeHook, IValidatorAnnounce};
use ande_contracts::bridge as names;
use ande_http::json_error;
use ande_sender::{Journal, NodeClient, Sender, SenderArgs, TxRequest, wait_for_node};
use crate::rpc::{LOG_CHUNK, params, wait_for_deployments};
use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use parking_lot::RwLock;
use serde_json::json;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Finality {
    /// Included on DA (AndeChain's node: `ande_daStatus`).
    Da,
    /// CONFIRMATIONS blocks below the head.
    Depth,
    /// The node's `finalized` block (Ethereum and its testnets).
    Finalized,
}

#[derive(Clone, clap::Args)]
pub struct ValidatorArgs {
    /// The origin chain's JSON-RPC URL (on AndeChain, the node's internal port: `ande_daStatus`).
    #[arg(long = "rpc-url", env = "WEB3_PROVIDER", default_value = "http://127.0.0.1:8549")]
    pub rpc_url: String,
    /// Expected chain id of the origin; refused against a node that says otherwise.
    #[arg(long = "chain-id", env = "CHAIN_ID")]
    pub chain_id: Option<u64>,
    /// The origin's deployments file (its `merkleTreeHook`, `mailbox`, `validatorAnnounce`),
    /// waited for until the deploy writes it.
    #[arg(long = "deployments", env = "DEPLOYMENTS_FILE", default_value = "deployments/local.json")]
    pub deployments: PathBuf,
    /// The validator's signing key, hex. Prefer VALIDATOR_KEY_FILE.
    #[arg(long = "private-key", env = "VALIDATOR_KEY", hide_env_values = true)]
    pub private_key: Option<String>,
    /// A file holding the signing key (a Docker secret).
    #[arg(long = "private-key-file", env = "VALIDATOR_KEY_FILE")]
    pub private_key_file: Option<PathBuf>,
    /// When a block is final.
    #[arg(long = "finality", env = "VALIDATOR_FINALITY", value_enum, default_value = "da")]
    pub finality: Finality,
    /// Blocks kept below the final block (da, finalized) or the head (depth).
    #[arg(long = "confirmations", env = "VALIDATOR_CONFIRMATIONS", default_value_t = 0)]
    pub confirmations: u64,
    /// How often it looks for new final blocks.
    #[arg(long = "interval", env = "VALIDATOR_INTERVAL", default_value = "1s", value_parser = parse_duration)]
    pub interval: Duration,
    #[arg(long = "addr", env = "VALIDATOR_ADDR", default_value = "127.0.0.1")]
    pub addr: IpAddr,
    /// The checkpoints (/checkpoints/…), /health and /metrics.
    #[arg(long = "port", env = "VALIDATOR_PORT", default_value_t = 9440)]
    pub port: u16,
    /// Where relayers fetch the checkpoints from, announced on ValidatorAnnounce.
    /// Default: http://<addr>:<port>/checkpoints.
    #[arg(long = "public-url", env = "VALIDATOR_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Also write the checkpoints to this folder (Hyperlane's local storage layout).
    #[arg(long = "checkpoint-dir", env = "VALIDATOR_CHECKPOINT_DIR")]
    pub checkpoint_dir: Option<PathBuf>,
    /// The validator's database (and the journal of its announcement transaction).
    #[arg(long = "data-dir", env = "VALIDATOR_DATA_DIR", default_value = "data/validator")]
    pub data_dir: PathBuf,
    #[command(flatten)]
    pub sender: SenderArgs,
}

impl std::fmt::Debug for ValidatorArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ValidatorArgs")
            .field("rpc_url", &self.rpc_url)
            .field("finality", &self.finality)
            .field("private_key", &self.private_key.as_ref().map(|_| "<redacted>"))
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ValidatorError {
    #[error(transparent)]
    Key(#[from] ande_sender::KeyError),
    #[error(transparent)]
    ChainId(#[from] ande_chain::ChainIdMismatch),
    #[error(transparent)]
    Node(#[from] ande_sender::NodeError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Deployments(#[from] ande_chain::DeploymentsError),
    #[error("{file} is chain {file_chain}'s deployments, and the node is chain {node_chain}")]
    WrongDeployments { file: String, file_chain: u64, node_chain: u64 },
    #[error("finality da needs AndeChain's node (ande_daStatus on its internal port): {0}")]
    NoDaStatus(String),
    #[error("chain id {0} does not fit a Hyperlane domain (32 bits)")]
    Domain(u64),
    #[error("cannot listen on {addr}: {source}")]
    Listen { addr: SocketAddr, source: std::io::Error },
}

/// What /health and /metrics report.
#[derive(Default)]
struct Status {
    final_block: Option<u64>,
    indexed_block: Option<u64>,
    /// The number of messages signed (the next index).
    signed: u32,
    /// The contract's count at the head: messages not final or not signed yet.
    on_chain: u32,
    halted: Option<String>,
    last_error: Option<String>,
    last_success: Option<Instant>,
    announced: bool,
}

struct App {
    address: Address,
    domain: u32,
    hook: Address,
    mailbox: Address,
    location: String,
    store: Store,
    status: RwLock<Status>,
    announcement: RwLock<Option<serde_json::Value>>,
}

pub async fn run(args: ValidatorArgs, mut shutdown: watch::Receiver<bool>) -> Result<(), ValidatorError> {
    let key = ande_sender::signer(args.private_key_file.as_deref(), args.private_key.as_deref(), "validator", "VALIDATOR_KEY")?;
    let node = NodeClient::new(&args.rpc_url)?;
    let Some(chain_id) = wait_for_node(&node, &mut shutdown).await else { return Ok(()) };
    ensure_chain_id(args.chain_id, chain_id, format!("the node at {}", args.rpc_url))?;
    let domain = u32::try_from(chain_id).map_err(|_| ValidatorError::Domain(chain_id))?;
    if args.finality == Finality::Da {
        da_final(&node, 0).await.map_err(|e| ValidatorError::NoDaStatus(e.to_string()))?;
    }
    let Some(deployments) = wait_for_deployments(&args.deployments, &mut shutdown).await? else { return Ok(()) };
    if deployments.chain_id != chain_id {
        return Err(ValidatorError::WrongDeployments { file: args.deployments.display().to_string(), file_chain: deployments.chain_id, node_chain: chain_id });
    }
    let hook = deployments.address(names::MERKLE_TREE_HOOK, &args.deployments)?;
    let mailbox = deployments.address(names::MAILBOX, &args.deployments)?;
    let announce = deployments.address(names::VALIDATOR_ANNOUNCE, &args.deployments)?;
    let store = Store::open(&args.data_dir)?;
    store.bind(&format!("{}:{hook:#x}", node.chain_tag(chain_id).await?))?;
    let mut tree = MerkleTree::default();
    let insertions = store.insertions()?;
    for insertion in &insertions {
        tree.insert(insertion.message_id);
    }
    let location = args.public_url.clone().unwrap_or_else(|| format!("http://{}:{}/checkpoints", args.addr, args.port));
    let status = Status { signed: tree.count(), indexed_block: store.cursor()?, halted: store.halted()?, ..Default::default() };
    if let Some(reason) = &status.halted {
        tracing::error!(%reason, "this validator halted before: it signs nothing until its data is reviewed and reset");
    }
    let app = Arc::new(App { address: key.address(), domain, hook, mailbox, location, store, status: RwLock::new(status), announcement: RwLock::new(None) });

    let addr = SocketAddr::new(args.addr, args.port);
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|source| ValidatorError::Listen { addr, source })?;
    let router = Router::new()
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .route("/checkpoints/{file}", get(checkpoint_file))
        .with_state(app.clone());
    let mut server_shutdown = shutdown.clone();
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, router).with_graceful_shutdown(async move { while server_shutdown.changed().await.is_ok() && !*server_shutdown.borrow() {} }).await;
    });
    tracing::info!(validator = %app.address, chain_id, %hook, finality = ?args.finality, confirmations = args.confirmations, %addr, location = %app.location, signed = tree.count(), "validator started");

    let mut indexer = Indexer { args: &args, node: &node, key: &key, app: &app, tree, last: insertions.last().copied(), announce, sender: None, unfunded_warned: false };
    // The folder is written after each commit: a crash between the two left it short.
    if args.checkpoint_dir.is_some() {
        let stored: Vec<(Insertion, String)> = insertions.iter().filter_map(|i| app.store.signed(i.index).ok().flatten().map(|json| (*i, json))).collect();
        indexer.write_folder(&stored);
    }
    loop {
        indexer.announce().await;
        if app.status.read().halted.is_none() {
            match indexer.step().await {
                Ok(()) => {
                    let mut status = app.status.write();
                    status.last_error = None;
                    status.last_success = Some(Instant::now());
                }
                Err(Failure::Halt(reason)) => {
                    tracing::error!(%reason, "halted: this validator signs nothing more");
                    app.store.halt(&reason)?;
                    app.status.write().halted = Some(reason);
                }
                Err(Failure::Retry(error)) => {
                    tracing::warn!(%error, "indexing failed; retrying");
                    app.status.write().last_error = Some(error);
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(args.interval) => {}
            _ = shutdown.changed() => break,
        }
    }
    let _ = server.await;
    tracing::info!("validator stopped");
    Ok(())
}

/// Why a step did not complete: a passing trouble (tried again), or the chain contradicting
/// what was signed (never again).
enum Failure {
    Retry(String),
    Halt(String),
}

impl From<ande_sender::NodeError> for Failure {
    fn from(e: ande_sender::NodeError) -> Self {
        Failure::Retry(e.to_string())
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        Failure::Retry(e.to_string())
    }
}

/// The last block included on DA, `confirmations` below; None while none is.
async fn da_final(node: &NodeClient, confirmations: u64) -> Result<Option<u64>, ande_sender::NodeError> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct DaStatus {
        role: String,
        last_included_block: Option<u64>,
    }
    let status: DaStatus = node.request("ande_daStatus", params(json!([]))).await?;
    let included = match status.role.as_str() {
        // A full node holds only blocks it read from DA.
        "full" => Some(node.block_number().await?),
        _ => status.last_included_block,
    };
    Ok(included.and_then(|b| b.checked_sub(confirmations)))
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Log {
    block_number: U64,
    block_hash: B256,
    data: Bytes,
    #[serde(default)]
    removed: bool,
}

#[derive(serde::Deserialize)]
struct BlockHeader {
    hash: B256,
    number: U64,
}

struct Indexer<'a> {
    args: &'a ValidatorArgs,
    node: &'a NodeClient,
    key: &'a PrivateKeySigner,
    app: &'a App,
    tree: MerkleTree,
    /// The last insertion signed: its block must keep its hash.
    last: Option<Insertion>,
    announce: Address,
    /// Sends its announcement, once it has the funds to.
    sender: Option<Sender>,
    unfunded_warned: bool,
}

impl Indexer<'_> {
    async fn final_block(&self) -> Result<Option<u64>, Failure> {
        let confirmations = self.args.confirmations;
        Ok(match self.args.finality {
            Finality::Da => da_final(self.node, confirmations).await?,
            Finality::Depth => self.node.block_number().await?.checked_sub(confirmations),
            Finality::Finalized => {
                let block: Option<BlockHeader> = self.node.request("eth_getBlockByNumber", params(json!(["finalized", false]))).await?;
                block.and_then(|b| b.number.to::<u64>().checked_sub(confirmations))
            }
        })
    }

    async fn block_hash(&self, number: u64) -> Result<Option<B256>, Failure> {
        let block: Option<BlockHeader> = self.node.request("eth_getBlockByNumber", params(json!([format!("{number:#x}"), false]))).await?;
        Ok(block.map(|b| b.hash))
    }

    /// Indexes and signs what became final since the last step.
    async fn step(&mut self) -> Result<(), Failure> {
        if let Some(last) = self.last {
            match self.block_hash(last.block).await? {
                Some(hash) if hash == last.block_hash => {}
                // A node behind (or another behind a balancer) contradicts nothing.
                None => return Err(Failure::Retry(format!("the node has no block {} yet", last.block))),
                Some(hash) => {
                    return Err(Failure::Halt(format!(
                        "block {} held message {} (index {}) signed with hash {}, and the chain now has {hash}: the chain reorganised below a signed checkpoint",
                        last.block, last.message_id, last.index, last.block_hash
                    )));
                }
            }
        }
        let head_count = self.count_at("latest").await?;
        self.app.status.write().on_chain = head_count;
        let Some(final_block) = self.final_block().await? else { return Ok(()) };
        self.app.status.write().final_block = Some(final_block);
        let from = match self.app.store.cursor()? {
            Some(cursor) => cursor + 1,
            None => self.deployed_block().await?,
        };
        if from > final_block {
            return Ok(());
        }
        let mut tree = self.tree.clone();
        let mut signed = Vec::new();
        let mut chunk_start = from;
        while chunk_start <= final_block {
            let to = final_block.min(chunk_start + LOG_CHUNK - 1);
            let filter = json!([{ "address": self.app.hook, "topics": [IMerkleTreeHook::InsertedIntoTree::SIGNATURE_HASH], "fromBlock": format!("{chunk_start:#x}"), "toBlock": format!("{to:#x}") }]);
            let logs: Vec<Log> = self.node.request("eth_getLogs", params(filter)).await?;
            for log in logs.iter().filter(|l| !l.removed) {
                let event = IMerkleTreeHook::InsertedIntoTree::abi_decode_data(&log.data).map_err(|e| Failure::Retry(format!("an InsertedIntoTree log that does not decode: {e}")))?;
                let (message_id, index) = (event.0, event.1);
                if index != tree.count() {
                    return Err(Failure::Halt(format!("the tree's insertion {index} came where {} was next: the hook's history is not what was signed", tree.count())));
                }
                tree.insert(message_id).ok_or_else(|| Failure::Halt("the tree is full".into()))?;
                let value = CheckpointWithMessageId {
                    checkpoint: Checkpoint { merkle_tree_hook_address: self.app.hook.into_word(), mailbox_domain: self.app.domain, root: tree.root(), index },
                    message_id,
                };
                let checkpoint = value.sign(self.key).map_err(|e| Failure::Retry(format!("signing: {e}")))?.for_storage();
                let json = serde_json::to_string_pretty(&checkpoint).map_err(|e| Failure::Retry(e.to_string()))?;
                signed.push((Insertion { index, message_id, block: log.block_number.to(), block_hash: log.block_hash }, json));
            }
            chunk_start = to + 1;
        }
        if !signed.is_empty() {
            // The contract's tree at the final block must be ours before anything is published
            // (one call at a recent block: no archive needed).
            let answer = self.call_at(final_block, &IMerkleTreeHook::latestCheckpointCall {}.abi_encode()).await?;
            let theirs = IMerkleTreeHook::latestCheckpointCall::abi_decode_returns(&answer).map_err(|e| Failure::Retry(e.to_string()))?;
            if theirs.root != tree.root() || theirs.index != tree.count() - 1 {
                return Err(Failure::Halt(format!(
                    "at block {final_block} the hook's root is {} at index {}, and the tree of its logs has {} at index {}",
                    theirs.root,
                    theirs.index,
                    tree.root(),
                    tree.count() - 1
                )));
            }
        }
        self.app.store.commit(&Step { signed: signed.clone(), cursor: final_block })?;
        self.write_folder(&signed);
        if let Some((last, _)) = signed.last() {
            tracing::info!(index = last.index, message_id = %last.message_id, block = last.block, signed = signed.len(), "checkpoints signed");
            self.last = Some(*last);
        }
        self.tree = tree;
        let mut status = self.app.status.write();
        status.signed = self.tree.count();
        status.indexed_block = Some(final_block);
        Ok(())
    }

    async fn call_at(&self, block: u64, data: &[u8]) -> Result<Bytes, Failure> {
        let call = json!({ "to": self.app.hook, "data": Bytes::copy_from_slice(data) });
        Ok(self.node.request("eth_call", params(json!([call, format!("{block:#x}")]))).await?)
    }

    async fn count_at(&self, tag: &str) -> Result<u32, Failure> {
        let call = json!({ "to": self.app.hook, "data": Bytes::from(IMerkleTreeHook::countCall {}.abi_encode()) });
        let answer: Bytes = self.node.request("eth_call", params(json!([call, tag]))).await?;
        IMerkleTreeHook::countCall::abi_decode_returns(&answer).map_err(|e| Failure::Retry(e.to_string()))
    }

    async fn deployed_block(&self) -> Result<u64, Failure> {
        let call = json!({ "to": self.app.hook, "data": Bytes::from(IMerkleTreeHook::deployedBlockCall {}.abi_encode()) });
        let answer: Bytes = self.node.request("eth_call", params(json!([call, "latest"]))).await?;
        let block = IMerkleTreeHook::deployedBlockCall::abi_decode_returns(&answer).map_err(|e| Failure::Retry(e.to_string()))?;
        Ok(u64::try_from(block).unwrap_or(u64::MAX))
    }

    /// Hyperlane's local storage: `<index>_with_id.json` and `index.json`.
    fn write_folder(&self, signed: &[(Insertion, String)]) {
        let Some((last, _)) = signed.last() else { return };
        let mut files: Vec<(String, &str)> = signed.iter().map(|(i, json)| (format!("{}_with_id.json", i.index), json.as_str())).collect();
        let index = last.index.to_string();
        files.push(("index.json".into(), &index));
        self.write_files(&files);
    }

    fn write_files(&self, files: &[(String, &str)]) {
        let Some(dir) = &self.args.checkpoint_dir else { return };
        let write = || -> std::io::Result<()> {
            std::fs::create_dir_all(dir)?;
            for (name, content) in files {
                std::fs::write(dir.join(name), content)?;
            }
            Ok(())
        };
        if let Err(e) = write() {
            tracing::warn!(dir = %dir.display(), error = %e, "cannot write to the checkpoint folder (what it holds is served over HTTP all the same)");
        }
    }

    /// Signs the announcement of where its checkpoints are and serves it; sends it to
    /// ValidatorAnnounce itself when its key holds funds (anyone may send it for it).
    async fn announce(&mut self) {
        if self.app.status.read().announced {
            return;
        }
        match self.try_announce().await {
            Ok(true) => {
                tracing::info!(location = %self.app.location, "announced on ValidatorAnnounce");
                self.app.status.write().announced = true;
            }
            Ok(false) => {}
            Err(Failure::Retry(e) | Failure::Halt(e)) => tracing::warn!(error = %e, "the announcement is not sent yet"),
        }
    }

    async fn try_announce(&mut self) -> Result<bool, Failure> {
        let retry = |e: String| Failure::Retry(e);
        let call = IValidatorAnnounce::getAnnouncedStorageLocationsCall { validators: vec![self.app.address] }.abi_encode();
        let answer = self.node.call(self.announce, &call).await?;
        let locations = IValidatorAnnounce::getAnnouncedStorageLocationsCall::abi_decode_returns(&answer).map_err(|e| retry(e.to_string()))?;
        // Relayers read a validator's last announced location.
        if locations.first().and_then(|l| l.last()) == Some(&self.app.location) {
            return Ok(true);
        }
        let digest_call = IValidatorAnnounce::getAnnouncementDigestCall { storageLocation: self.app.location.clone() }.abi_encode();
        let digest = B256::abi_decode(&self.node.call(self.announce, &digest_call).await?).map_err(|e| retry(e.to_string()))?;
        let signature = JsonSignature::from(self.key.sign_hash_sync(&digest).map_err(|e| retry(e.to_string()))?);
        let announcement = json!({
            "value": { "validator": self.app.address, "mailbox_address": self.app.mailbox.into_word(), "mailbox_domain": self.app.domain, "storage_location": self.app.location },
            "signature": signature,
            "serialized_signature": Bytes::from(signature.bytes().to_vec()),
        });
        if self.app.announcement.read().is_none() {
            self.write_files(&[("announcement.json".into(), &announcement.to_string())]);
        }
        *self.app.announcement.write() = Some(announcement);
        if self.sender.is_none() {
            if self.node.balance(self.app.address).await?.is_zero() {
                if !self.unfunded_warned {
                    tracing::warn!(validator = %self.app.address, location = %self.app.location, "not announced: the key has no funds on this chain to send ValidatorAnnounce.announce; fund it, or send the signed announcement (/checkpoints/announcement.json) from another account");
                    self.unfunded_warned = true;
                }
                return Ok(false);
            }
            let chain_id = u64::from(self.app.domain);
            let journal = Journal::embedded(&self.args.data_dir, &self.node.chain_tag(chain_id).await?).map_err(|e| retry(e.to_string()))?;
            self.sender = Some(Sender::new(self.node.clone(), self.key.clone(), chain_id, journal, self.args.sender.clone()));
        }
        let sender = self.sender.as_ref().expect("opened above");
        sender.follow().await.map_err(|e| retry(e.to_string()))?;
        // One key an attempt: a reverted, refused or dropped announcement is sent again.
        let mut attempt = 0;
        let key = loop {
            let key = format!("announce:{}:{attempt}", self.app.location);
            match sender.get(&key).await.map_err(|e| retry(e.to_string()))?.map(|r| r.state) {
                None => break key,
                Some(ande_sender::State::Pending | ande_sender::State::Mined { success: true, .. }) => return Ok(false),
                Some(_) => attempt += 1,
            }
        };
        let input: Bytes = IValidatorAnnounce::announceCall { validator: self.app.address, storageLocation: self.app.location.clone(), signature: signature.bytes().to_vec().into() }.abi_encode().into();
        let estimate = self.node.estimate_gas(&json!({ "from": self.app.address, "to": self.announce, "data": input })).await?;
        let request = TxRequest { to: Some(self.announce), value: Default::default(), input, gas_limit: estimate + estimate / 5, conditions: None };
        sender.submit(vec![(key, request)]).await.map_err(|e| retry(e.to_string()))?;
        tracing::info!(location = %self.app.location, "announcement sent");
        Ok(false)
    }
}

async fn checkpoint_file(State(app): State<Arc<App>>, UrlPath(file): UrlPath<String>) -> Response {
    let json_body = |body: String| ([(header::CONTENT_TYPE, "application/json")], body).into_response();
    if file == "index.json" {
        let signed = app.status.read().signed;
        return match signed.checked_sub(1) {
            Some(index) => json_body(index.to_string()),
            None => json_error(StatusCode::NOT_FOUND, "nothing signed yet"),
        };
    }
    if file == "announcement.json" {
        return match app.announcement.read().clone() {
            Some(value) => json_body(value.to_string()),
            None => json_error(StatusCode::NOT_FOUND, "the announcement is not signed yet"),
        };
    }
    let Some(index) = file.strip_suffix("_with_id.json").and_then(|i| i.parse::<u32>().ok()) else {
        return json_error(StatusCode::NOT_FOUND, format!("{file}: the files are index.json, announcement.json and <index>_with_id.json"));
    };
    match app.store.signed(index) {
        Ok(Some(json)) => json_body(json),
        Ok(None) => json_error(StatusCode::NOT_FOUND, format!("checkpoint {index} is not signed (yet)")),
        Err(e) => json_error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn health(State(app): State<Arc<App>>) -> Response {
    let status = app.status.read();
    let stale = status.last_success.is_none_or(|t| t.elapsed() > Duration::from_secs(60));
    let (code, state) = match (&status.halted, stale && status.last_error.is_some()) {
        (Some(_), _) => (StatusCode::SERVICE_UNAVAILABLE, "halted"),
        (None, true) => (StatusCode::SERVICE_UNAVAILABLE, "degraded"),
        (None, false) => (StatusCode::OK, "ok"),
    };
    let body = json!({
        "status": state,
        "validator": app.address,
        "domain": app.domain,
        "merkleTreeHook": app.hook,
        "finalBlock": status.final_block,
        "indexedBlock": status.indexed_block,
        "signed": status.signed,
        "onChain": status.on_chain,
        "announced": status.announced,
        "location": app.location,
        "halted": status.halted,
        "lastError": status.last_error,
    });
    (code, axum::Json(body)).into_response()
}

async fn metrics(State(app): State<Arc<App>>) -> Response {
    let status = app.status.read();
    let gauge = |name: &str, help: &str, value: String| format!("# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}\n");
    let body = [
        gauge("ande_validator_signed", "Messages signed (the next checkpoint index).", status.signed.to_string()),
        gauge("ande_validator_behind", "Messages on chain at the head not signed yet (not final, or not indexed).", status.on_chain.saturating_sub(status.signed).to_string()),
        gauge("ande_validator_final_block", "The last final block seen.", status.final_block.unwrap_or(0).to_string()),
        gauge("ande_validator_indexed_block", "The last block indexed and signed up to.", status.indexed_block.unwrap_or(0).to_string()),
        gauge("ande_validator_halted", "1 once the chain contradicted a signed checkpoint: nothing is signed any more.", u8::from(status.halted.is_some()).to_string()),
        gauge("ande_validator_announced", "1 once its checkpoint location is on ValidatorAnnounce.", u8::from(status.announced).to_string()),
    ]
    .concat();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
}
