//! `ande faucet`: the faucet API (8081) and its payout worker.
//!
//! A claim is reserved atomically (address, client IP and the hourly budget) before anything is
//! sent, queued in the store, and paid by the single payout worker holding the lease. The faucet
//! waits for the node, checks its chain id against `CHAIN_ID`, and refuses to run on a mismatch.

mod api;
pub mod captcha;
pub mod config;
mod payout;
mod stats;
pub mod store;
pub mod ui;

pub use config::FaucetArgs;

use alloy_primitives::{Address, U256};
use ande_chain::ensure_chain_id;
use ande_sender::{Journal, NativeCurrency, NodeClient, Sender, wait_for_node};
use parking_lot::RwLock;
use stats::Stats;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use store::Store;
use tokio::sync::{Notify, watch};

#[derive(Debug, thiserror::Error)]
pub enum FaucetError {
    #[error(transparent)]
    Key(#[from] ande_sender::KeyError),
    #[error(transparent)]
    ChainId(#[from] ande_chain::ChainIdMismatch),
    #[error(transparent)]
    Store(#[from] store::StoreError),
    #[error("{0}")]
    Node(#[from] ande_sender::NodeError),
    #[error(transparent)]
    Journal(#[from] ande_sender::JournalError),
    #[error(transparent)]
    Send(#[from] ande_sender::SendError),
    #[error("cannot listen on {addr}: {source}")]
    Listen { addr: SocketAddr, source: std::io::Error },
    #[error(transparent)]
    Captcha(#[from] captcha::CaptchaConfigError),
    #[error("FAUCET_AMOUNT must be greater than zero")]
    ZeroAmount,
}

/// What the health check last saw of the node.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub rpc_ok: bool,
    pub balance: Option<U256>,
    pub head: Option<u64>,
    pub checked_at: Option<Instant>,
}

pub struct App {
    pub args: FaucetArgs,
    pub store: Store,
    pub node: NodeClient,
    /// The one signer of payouts.
    pub sender: Sender,
    pub address: Address,
    pub chain_id: u64,
    pub currency: NativeCurrency,
    /// Claims allowed per hour (HOURLY_CAP / FAUCET_AMOUNT); 0 for no cap.
    pub hourly_claims: u64,
    pub stats: Stats,
    /// Claims need a solved captcha when set.
    pub captcha: Option<captcha::Captcha>,
    pub snapshot: RwLock<Snapshot>,
    /// Wakes the payout worker when a claim is queued.
    pub wake: Notify,
    /// Ids of claims this process's worker signed and recorded.
    pub signed: tokio::sync::broadcast::Sender<String>,
}

impl App {
    /// A payout needs its amount and the gas of a transfer at a generous fee.
    pub fn min_balance(&self) -> U256 {
        self.args.amount + U256::from(21_000u64) * U256::from(100_000_000_000u64)
    }
}

pub fn random_u128() -> u128 {
    use std::hash::{BuildHasher, RandomState};
    let (a, b) = (RandomState::new().hash_one(0u8), RandomState::new().hash_one(1u8));
    (u128::from(a) << 64) | u128::from(b)
}

pub async fn run(args: FaucetArgs, mut shutdown: watch::Receiver<bool>) -> Result<(), FaucetError> {
    if args.amount.is_zero() {
        return Err(FaucetError::ZeroAmount);
    }
    let signer = args.signer()?;
    let captcha = captcha::Captcha::from_args(&args.captcha)?;
    let address = signer.address();
    let node = NodeClient::new(&args.web3_provider)?;
    let Some(chain_id) = wait_for_node(&node, &mut shutdown).await else { return Ok(()) };
    ensure_chain_id(args.chain_id, chain_id, format!("the node at {}", args.web3_provider))?;
    let currency = node.native_currency().await.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "the node does not name its currency (ande_nativeCurrency: is WEB3_PROVIDER the node's internal port?); showing Ether");
        NativeCurrency { name: "Ether".into(), symbol: "ETH".into(), decimals: 18 }
    });
    let chain = node.chain_tag(chain_id).await?;
    let (store, journal) = match &args.redis_url {
        Some(url) => (Store::Redis(store::RedisStore::connect(url, args.claim_retention.as_secs()).await?), Journal::redis(url, &chain, address, args.sender.journal_retention).await?),
        None => (Store::Embedded(store::EmbeddedStore::open(&args.data_dir)?), Journal::embedded(&args.data_dir, &chain)?),
    };
    let sender = Sender::new(node.clone(), signer, chain_id, journal, args.sender.clone());
    sender.check_chain().await?;
    let hourly_claims = args.hourly_cap.map_or(0, |cap| u64::try_from(cap / args.amount).unwrap_or(u64::MAX).max(1));
    tracing::info!(%address, chain_id, amount = %args.amount, cooldown_secs = args.cooldown_secs,
        store = if args.redis_url.is_some() { "redis" } else { "embedded" },
        captcha = ?captcha.as_ref().map(|c| c.provider), "faucet starting");
    let app = Arc::new(App {
        store,
        node,
        sender,
        address,
        chain_id,
        currency,
        hourly_claims,
        stats: Stats::default(),
        captcha,
        snapshot: RwLock::new(Snapshot::default()),
        wake: Notify::new(),
        signed: tokio::sync::broadcast::channel(1024).0,
        args,
    });
    refresh(&app).await;
    let addr = SocketAddr::new(app.args.addr, app.args.port);
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|source| FaucetError::Listen { addr, source })?;
    tracing::info!(%addr, "faucet API listening");
    let watcher = tokio::spawn(watch_node(app.clone(), shutdown.clone()));
    let worker = tokio::spawn(payout::run(app.clone(), shutdown.clone()));
    let service = api::router(app.clone()).into_make_service_with_connect_info::<SocketAddr>();
    let mut stop = shutdown.clone();
    let served = axum::serve(listener, service)
        .with_graceful_shutdown(async move {
            let _ = stop.changed().await;
        })
        .await;
    let _ = tokio::join!(watcher, worker);
    served.map_err(|source| FaucetError::Listen { addr, source })
}

async fn refresh(app: &App) {
    let balance = app.node.balance(app.address).await;
    let head = app.node.block_number().await;
    let mut snapshot = app.snapshot.write();
    snapshot.rpc_ok = balance.is_ok() && head.is_ok();
    snapshot.balance = balance.ok();
    snapshot.head = head.ok();
    snapshot.checked_at = Some(Instant::now());
}

async fn watch_node(app: Arc<App>, mut shutdown: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(2)) => refresh(&app).await,
            _ = shutdown.changed() => return,
        }
    }
}
