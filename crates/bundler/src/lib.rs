//! `ande bundler`: an ERC-4337 bundler for EntryPoint v0.7 and v0.8 (port 4337).
//!
//! Operations are validated with the EntryPoint's simulation traced by the node's
//! `erc7562Tracer` and ERC-7562's rules; they wait in a mempool kept in a store (embedded, or
//! Redis), and on every new head the best of them, each validated again against the latest
//! state, go out in a `handleOps` bundle through the stack's sender, conditional on the storage
//! their validation read. A bundle is written down before it is sent and settled from the
//! sender's journal and the EntryPoint's events, so after any crash no operation is sent twice
//! and none is lost.

pub mod builder;
pub mod config;
pub mod entity;
pub mod errors;
pub mod gas;
pub mod index;
pub mod mempool;
pub mod reputation;
pub mod rpc;
pub mod rules;
pub mod sim;
mod stats;
pub mod store;
pub mod trace;
pub mod validate;

pub use config::BundlerArgs;

use alloy_primitives::{Address, U256};
use ande_chain::ensure_chain_id;
use ande_contracts::create2::{ENTRY_POINT_V07, ENTRY_POINT_V08};
use ande_sender::{Journal, NodeClient, Sender, wait_for_node};
use builder::BundleRecord;
use mempool::{Limits, Mempool, PoolOp};
use parking_lot::RwLock;
use reputation::Reputation;
use sim::EntryPoint;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use store::{Store, Table};
use tokio::sync::watch;
use ande_contracts::userop::Version;

#[derive(Debug, thiserror::Error)]
pub enum BundlerError {
    #[error(transparent)]
    Key(#[from] ande_sender::KeyError),
    #[error(transparent)]
    ChainId(#[from] ande_chain::ChainIdMismatch),
    #[error(transparent)]
    Node(#[from] ande_sender::NodeError),
    #[error(transparent)]
    Journal(#[from] ande_sender::JournalError),
    #[error(transparent)]
    Store(#[from] store::StoreError),
    #[error(transparent)]
    Send(#[from] ande_sender::SendError),
    #[error("the bundler's store ({store}) has indexed the chain up to block {cursor}, but the node's head is {head}: if the node is catching up, start the bundler again once it is past {cursor}; otherwise the store is of another chain (one started again under the same id?): move it away to start a new one")]
    ForeignStore { store: String, cursor: u64, head: u64 },
    #[error("cannot listen on {addr}: {source}")]
    Listen { addr: SocketAddr, source: std::io::Error },
    #[error("{0}")]
    Access(String),
    #[error("the bundler serves no EntryPoint: set BUNDLER_ENTRY_POINTS")]
    NoEntryPoint,
}

/// What changes as operations come and bundles go, behind one lock.
#[derive(Default)]
pub struct State {
    pub mempool: Mempool,
    pub reputation: Reputation,
    /// Bundles sent and not settled yet, by key.
    pub bundles: BTreeMap<String, BundleRecord>,
}

/// What the health check last saw of the node.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub head: Option<u64>,
    pub base_fee: u128,
    pub balance: Option<U256>,
    pub checked_at: Option<Instant>,
}

pub struct App {
    pub args: BundlerArgs,
    pub chain_id: u64,
    pub node: NodeClient,
    pub sender: Sender,
    pub beneficiary: Address,
    pub entry_points: Vec<EntryPoint>,
    pub store: Store,
    pub state: tokio::sync::Mutex<State>,
    /// Bundling and settling, one at a time.
    pub bundling: tokio::sync::Mutex<()>,
    /// Signalled when an operation enters the mempool.
    pub arrived: tokio::sync::Notify,
    pub policy: validate::Policy,
    pub auto_bundle: AtomicBool,
    pub snapshot: RwLock<Snapshot>,
    pub stats: stats::Stats,
    pub receipts: index::ReceiptCache,
}

impl App {
    pub fn entry_point(&self, address: &Address) -> Option<&EntryPoint> {
        self.entry_points.iter().find(|e| e.address == *address)
    }

    pub fn version_of(&self, address: &Address) -> Option<Version> {
        self.entry_point(address).map(|e| e.version)
    }
}

/// The key debug_bundler_* need; without one they are served on loopback only.
fn admin_key(args: &BundlerArgs) -> Result<Option<String>, BundlerError> {
    let key = ande_chain::read_secret(args.admin_key_file.as_deref(), args.admin_key.as_deref()).map_err(|e| BundlerError::Access(e.to_string()))?;
    match &key {
        Some(key) => ande_http::policy::check_admin_key(key, "BUNDLER_ADMIN_KEY").map_err(BundlerError::Access)?,
        None if args.debug_rpc && !args.addr.is_loopback() => {
            return Err(BundlerError::Access(format!("BUNDLER_DEBUG_RPC on {}, which is not loopback, needs BUNDLER_ADMIN_KEY_FILE", args.addr)));
        }
        None => {}
    }
    Ok(key)
}

pub async fn run(args: BundlerArgs, mut shutdown: watch::Receiver<bool>) -> Result<(), BundlerError> {
    let signer = ande_sender::signer(args.private_key_file.as_deref(), args.private_key.as_deref(), "bundler", "BUNDLER_PRIVATE_KEY")?;
    let admin_key = admin_key(&args)?;
    let node = NodeClient::new(&args.rpc_url)?;
    let Some(chain_id) = wait_for_node(&node, &mut shutdown).await else { return Ok(()) };
    ensure_chain_id(args.chain_id, chain_id, format!("the node at {}", args.rpc_url))?;
    let entry_points: Vec<EntryPoint> = args
        .entry_points
        .iter()
        .map(|v| match v {
            config::EntryPointVersion::V07 => EntryPoint::new(ENTRY_POINT_V07, Version::V07),
            config::EntryPointVersion::V08 => EntryPoint::new(ENTRY_POINT_V08, Version::V08),
        })
        .collect();
    if entry_points.is_empty() {
        return Err(BundlerError::NoEntryPoint);
    }
    if !wait_for_entry_points(&node, &entry_points, &mut shutdown).await {
        return Ok(());
    }
    let address = signer.address();
    let chain = node.chain_tag(chain_id).await?;
    let namespace = format!("{chain}:{address:#x}");
    let path = args.data_dir.join(format!("bundler-{chain}.redb"));
    let (store, journal, location) = match &args.redis_url {
        Some(url) => (Store::connect_redis(url, &namespace, &format!("{chain_id}:{address:#x}")).await?, Journal::redis(url, &chain, address, args.sender.journal_retention).await?, format!("Redis keys under {namespace}")),
        None => (ande_sender::adopt_legacy_file(&args.data_dir.join("bundler.redb"), &path).map_err(store::StoreError::from).and_then(|()| Store::open_embedded(&path))?, Journal::embedded(&args.data_dir, &chain)?, path.display().to_string()),
    };
    let head = node.block_number().await?;
    if let Some(cursor) = store.get::<u64>(store::Table::Meta, "cursor").await?.filter(|c| *c > head) {
        return Err(BundlerError::ForeignStore { store: location, cursor, head });
    }
    let state = load_state(&store, &args).await?;
    tracing::info!(%address, chain_id, store = store.kind(), ops = state.mempool.len(), bundles = state.bundles.len(),
        entry_points = ?entry_points.iter().map(|e| e.address).collect::<Vec<_>>(), unsafe_mode = args.unsafe_mode, "bundler starting");
    let policy = validate::Policy {
        stake: rules::StakeRules { min_stake: args.min_stake, min_unstake_delay: args.min_unstake_delay },
        unsafe_mode: args.unsafe_mode,
        max_verification_gas: args.max_verification_gas,
        min_priority_fee: args.min_priority_fee,
        valid_for: 30,
    };
    let app = Arc::new(App {
        sender: Sender::new(node.clone(), signer, chain_id, journal, args.sender.clone()),
        beneficiary: args.beneficiary.unwrap_or(address),
        auto_bundle: AtomicBool::new(args.auto_bundle),
        node,
        chain_id,
        entry_points,
        store,
        state: tokio::sync::Mutex::new(state),
        bundling: tokio::sync::Mutex::new(()),
        arrived: tokio::sync::Notify::new(),
        policy,
        snapshot: RwLock::new(Snapshot::default()),
        stats: stats::Stats::default(),
        receipts: index::ReceiptCache::default(),
        args,
    });
    app.sender.check_chain().await?;
    refresh(&app).await;
    let addr = SocketAddr::new(app.args.addr, app.args.port);
    let (local, handle) = rpc::serve(app.clone(), addr, admin_key).await.map_err(|source| BundlerError::Listen { addr, source })?;
    tracing::info!(%local, "bundler RPC listening");
    let (heads_tx, heads) = watch::channel(0u64);
    let follower = app.args.ws_url.clone().map(|url| tokio::spawn(follow_ws(url, heads_tx.clone())));
    let poller = tokio::spawn(poll_heads(app.clone(), heads_tx, shutdown.clone()));
    builder::run(app.clone(), heads, shutdown.clone()).await;
    if let Some(follower) = follower {
        follower.abort();
    }
    poller.abort();
    let _ = handle.stop();
    handle.stopped().await;
    tracing::info!("bundler stopped");
    Ok(())
}

/// The EntryPoints must have code before operations can be simulated against them (`ande up`
/// deploys them beside the bundler's start): waits for it, saying so.
async fn wait_for_entry_points(node: &NodeClient, entry_points: &[EntryPoint], shutdown: &mut watch::Receiver<bool>) -> bool {
    let mut said = false;
    loop {
        let mut missing = Vec::new();
        for entry_point in entry_points {
            if node.code(entry_point.address).await.map_or(true, |c| c.is_empty()) {
                missing.push(entry_point.address);
            }
        }
        if missing.is_empty() {
            return true;
        }
        if !said {
            tracing::warn!(?missing, "waiting for the EntryPoints to be deployed (ande deploy, make prod-deploy-contracts)");
            said = true;
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            _ = shutdown.changed() => return false,
        }
    }
}

async fn load_state(store: &Store, args: &BundlerArgs) -> Result<State, BundlerError> {
    let mut mempool = Mempool::new(Limits {
        max_ops: args.mempool_max_ops,
        per_unstaked_sender: args.per_unstaked_sender,
        per_staked_sender: args.per_staked_sender,
        price_bump_percent: args.price_bump_percent,
    });
    for (_, op) in store.all::<PoolOp>(Table::Ops).await? {
        mempool.insert(op);
    }
    let reputation = store.get::<Reputation>(Table::Meta, "reputation").await?.unwrap_or_default();
    let bundles = store.all::<BundleRecord>(Table::Bundles).await?.into_iter().collect();
    Ok(State { mempool, reputation, bundles })
}

async fn follow_ws(url: String, heads: watch::Sender<u64>) {
    loop {
        if let Err(e) = ande_sender::heads::subscribe(&url, &heads).await {
            tracing::debug!(error = %e, "newHeads subscription down; polling meanwhile");
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Polls the head (the fallback to newHeads) and what /health reports.
async fn poll_heads(app: Arc<App>, heads: watch::Sender<u64>, mut shutdown: watch::Receiver<bool>) {
    loop {
        refresh(&app).await;
        if let Some(head) = app.snapshot.read().head {
            heads.send_if_modified(|current| {
                let newer = head > *current;
                if newer {
                    *current = head;
                }
                newer
            });
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            _ = shutdown.changed() => return,
        }
    }
}

async fn refresh(app: &App) {
    let head = app.node.block_number().await.ok();
    let balance = app.node.balance(app.sender.address()).await.ok();
    let base_fee = next_base_fee(&app.node).await.unwrap_or(0);
    let mut snapshot = app.snapshot.write();
    if head.is_some() {
        snapshot.head = head;
        snapshot.checked_at = Some(Instant::now());
    }
    snapshot.balance = balance;
    snapshot.base_fee = base_fee;
    app.stats.set_balance(balance);
}

/// The next block's base fee, as `eth_feeHistory` gives it.
async fn next_base_fee(node: &NodeClient) -> Result<u128, ande_sender::NodeError> {
    let history: serde_json::Value = node.request("eth_feeHistory", jsonrpsee::rpc_params!["0x1", "latest", Vec::<f64>::new()]).await?;
    let fees: Vec<U256> = serde_json::from_value(history["baseFeePerGas"].clone()).unwrap_or_default();
    Ok(fees.last().map_or(0, |f| ande_sender::node::saturating_u128(*f)))
}

impl App {
    /// Ready when the node answered in the last 10 s and the bundler can pay for a bundle.
    pub fn health(&self) -> (bool, serde_json::Value) {
        let snapshot = self.snapshot.read().clone();
        let fresh = snapshot.checked_at.is_some_and(|t| t.elapsed() < Duration::from_secs(10));
        let funded = snapshot.balance.is_some_and(|b| b >= self.args.min_balance);
        let reason = if !fresh {
            Some("the node's RPC does not answer")
        } else if !funded {
            Some("the bundler's balance does not cover a bundle")
        } else {
            None
        };
        let ready = reason.is_none();
        let body = serde_json::json!({
            "status": if ready { "ok" } else { "unavailable" },
            "reason": reason,
            "chain_id": self.chain_id,
            "head": snapshot.head,
            "bundler": self.sender.address(),
            "balance": snapshot.balance.map(|b| b.to_string()),
            "entry_points": self.entry_points.iter().map(|e| e.address).collect::<Vec<_>>(),
            "mempool": self.stats.mempool_size(),
            "auto_bundle": self.auto_bundle.load(Ordering::Relaxed),
        });
        (ready, body)
    }
}
