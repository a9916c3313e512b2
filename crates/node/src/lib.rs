//! `ande node`: the AndeChain sequencer. Executes transactions with revm in blocks produced on
//! a fixed schedule, stores the chain in redb, and serves Ethereum JSON-RPC.

pub mod chain;
pub mod conditional;
pub mod config;
pub mod da;
pub mod error;
pub mod evm;
mod genesis;
mod header;
mod metrics;
pub mod pool;
pub mod producer;
pub mod rpc;
pub mod storage;
pub mod trie;

pub use config::{Mode, NodeArgs};

use ande_chain::{ChainSpec, ensure_chain_id};
use ande_http::policy::Namespaces;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// Fires (changes to `true`) when the process should stop.
pub type Shutdown = tokio::sync::watch::Receiver<bool>;

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error(transparent)]
    Spec(#[from] ande_chain::ChainSpecError),
    #[error(transparent)]
    ChainId(#[from] ande_chain::ChainIdMismatch),
    #[error(transparent)]
    Store(#[from] error::StoreError),
    #[error(transparent)]
    Da(#[from] da::DaConfigError),
    #[error(transparent)]
    Follow(#[from] da::follower::FollowError),
    #[error("cannot listen on {addr}: {source}")]
    Listen { addr: SocketAddr, source: std::io::Error },
    #[error("{0}")]
    Access(String),
    #[error("{0}")]
    Other(String),
}

/// How long the RPC servers' open connections may take to finish at shutdown.
const RPC_DRAIN: Duration = Duration::from_secs(10);

/// What the node runs besides its RPC servers, set up before they start so that bad settings
/// fail at once.
enum Work {
    Sequencer(Option<Box<da::poster::Poster>>),
    Full(da::follower::Follower),
}

/// Runs the node until `shutdown` fires.
pub async fn run(args: NodeArgs, shutdown: Shutdown) -> Result<(), NodeError> {
    let spec = ChainSpec::from_file(&args.genesis)?;
    ensure_chain_id(args.chain_id, spec.chain_id, format!("the genesis file {}", args.genesis.display()))?;
    let chain = Arc::new(chain::Chain::open(spec, args.clone())?);
    let work = prepare_work(&chain, &args).await?;
    let forward = match (&work, &args.da.sequencer_url) {
        (Work::Full(_), Some(url)) => Some(rpc::Forward::new(url).map_err(NodeError::Other)?),
        _ => None,
    };

    let metrics_addr = SocketAddr::new(args.http_addr, args.metrics_port);
    metrics::install(metrics_addr).map_err(NodeError::Other)?;
    let module = rpc::module(chain.clone(), forward).map_err(|e| NodeError::Other(e.to_string()))?;
    let (private, admin_key, partner_keys) = access(&args, &module)?;
    let limiter = limiter(&args)?;
    let mut handles = Vec::new();
    // One budget for the node, whichever port a request comes in on.
    let budget = Arc::new(rpc::budget::Budget::from_args(&args));
    let servers = [
        (SocketAddr::new(args.http_addr, args.http_port), private.clone(), admin_key.clone(), partner_keys.clone(), limiter.clone(), "JSON-RPC listening (HTTP and WebSocket)"),
        (SocketAddr::new(args.http_addr, args.ws_port), private, admin_key, partner_keys, limiter, "JSON-RPC listening (HTTP and WebSocket)"),
        (SocketAddr::new(args.access.internal_addr, args.access.internal_port), Arc::default(), None, Arc::default(), None, "internal JSON-RPC listening (every namespace)"),
    ];
    for (addr, private, admin_key, partner_keys, limiter, what) in servers {
        let access = rpc::Access { private, admin_key, partner_keys, limiter, trusted_proxies: args.access.trusted_proxies.clone() };
        let (local, handle) = rpc::serve(chain.clone(), module.clone(), addr, budget.clone(), access)
            .await
            .map_err(|source| NodeError::Listen { addr, source })?;
        tracing::info!(%local, "{what}");
        handles.push(handle);
    }
    tracing::info!(%metrics_addr, "metrics listening");

    let gauges = tokio::spawn(report_gauges(chain.clone()));
    let result = match work {
        Work::Sequencer(poster) => sequence(chain, poster, shutdown).await,
        Work::Full(follower) => follower.run(shutdown).await.map_err(NodeError::from),
    };
    gauges.abort();
    for handle in &handles {
        let _ = handle.stop();
    }
    // In-flight requests finish; a client that sent half a request and went quiet is not
    // waited for past this.
    let drained = async move {
        for handle in handles {
            handle.stopped().await;
        }
    };
    if tokio::time::timeout(RPC_DRAIN, drained).await.is_err() {
        tracing::warn!(seconds = RPC_DRAIN.as_secs(), "RPC connections still open at shutdown; closing them");
    }
    match &result {
        Ok(()) => tracing::info!("node stopped"),
        Err(e) => tracing::error!(error = %e, "node stopped"),
    }
    result
}

/// The namespaces the public ports serve only with the admin key, that key (long enough), and
/// the partner keys.
fn access(args: &NodeArgs, module: &jsonrpsee::RpcModule<()>) -> Result<(Arc<Namespaces>, Option<Arc<str>>, Arc<[String]>), NodeError> {
    let public = Namespaces::only(&args.access.public_namespaces);
    let served = Namespaces::of(module.method_names());
    let unknown = public.without(&served);
    if !unknown.is_empty() {
        let names = unknown.names().collect::<Vec<_>>().join(", ");
        return Err(NodeError::Access(format!("RPC_PUBLIC_NAMESPACES names {names}, which this node does not serve")));
    }
    let key = ande_chain::read_secret(args.access.admin_key_file.as_deref(), args.access.admin_key.as_deref()).map_err(|e| NodeError::Access(e.to_string()))?;
    if let Some(key) = &key {
        ande_http::policy::check_admin_key(key, "the RPC admin key").map_err(NodeError::Access)?;
    }
    let partners = match &args.access.partner_keys_file {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| NodeError::Access(format!("cannot read RPC_PARTNER_KEYS_FILE {}: {e}", path.display())))?;
            ande_http::policy::parse_partner_keys(&text, key.as_deref(), "RPC_PARTNER_KEYS_FILE").map_err(NodeError::Access)?
        }
        None => Vec::new(),
    };
    Ok((Arc::new(served.without(&public)), key.map(Arc::from), partners.into()))
}

/// The public ports' rate limit, one for both (a client is one client on either).
fn limiter(args: &NodeArgs) -> Result<Option<Arc<ande_http::limit::RateLimiter>>, NodeError> {
    ande_http::limit::RateLimiter::configured(args.access.rate_limit, args.access.rate_burst, "RPC_RATE_LIMIT").map_err(NodeError::Access)
}

async fn prepare_work(chain: &Arc<chain::Chain>, args: &NodeArgs) -> Result<Work, NodeError> {
    let client = args.da.client().await?;
    match args.mode {
        Mode::Sequencer => {
            let Some(client) = client else { return Ok(Work::Sequencer(None)) };
            let signer = args.da.signer()?;
            if let Some(named) = chain.spec.sequencer_address
                && named != signer.address()
            {
                return Err(da::DaConfigError::NotTheSequencer { key: signer.address(), genesis: named }.into());
            }
            let poster = da::poster::Poster::new(chain.clone(), client, args.da.namespace()?, signer, args.da.clone())?;
            Ok(Work::Sequencer(Some(Box::new(poster))))
        }
        Mode::Full => {
            let client = client.ok_or(da::DaConfigError::FullNodeNeedsDa)?;
            let sequencer = match (args.da.sequencer_address, chain.spec.sequencer_address) {
                (Some(flag), Some(genesis)) if flag != genesis => {
                    tracing::warn!(%flag, %genesis, "SEQUENCER_ADDRESS differs from the genesis' sequencer address; accepting batches from SEQUENCER_ADDRESS");
                    flag
                }
                (Some(address), _) | (None, Some(address)) => address,
                (None, None) => return Err(da::DaConfigError::FullNodeNeedsSequencer.into()),
            };
            Ok(Work::Full(da::follower::Follower::new(chain.clone(), client, args.da.namespace()?, sequencer, &args.da)?))
        }
    }
}

/// Produces blocks on their own thread, and posts them to DA when configured.
async fn sequence(chain: Arc<chain::Chain>, poster: Option<Box<da::poster::Poster>>, mut shutdown: Shutdown) -> Result<(), NodeError> {
    let (stop_tx, stop_rx) = std::sync::mpsc::channel();
    let (done_tx, mut done_rx) = tokio::sync::oneshot::channel();
    let producer_chain = chain.clone();
    std::thread::Builder::new()
        .name("block-producer".into())
        .spawn(move || {
            let _ = done_tx.send(producer::run(&producer_chain, &stop_rx));
        })
        .map_err(|e| NodeError::Other(format!("cannot start the block producer: {e}")))?;
    let mut posting = poster.map(|p| tokio::spawn(p.run(shutdown.clone())));
    let finished = |r: Result<Result<(), error::StoreError>, _>| {
        r.map_err(|_| NodeError::Other("the block producer stopped".into())).and_then(|r| r.map_err(NodeError::from))
    };
    let poster_done = async {
        match posting.as_mut() {
            Some(task) => task.await,
            None => std::future::pending().await,
        }
    };
    // Which ended first; the other is then stopped and awaited.
    let poster_result = tokio::select! {
        r = &mut done_rx => return finished(r),
        r = poster_done => Some(r),
        _ = shutdown.changed() => None,
    };
    // Let a block being built finish its commit before the process exits.
    let _ = stop_tx.send(());
    let produced = finished(done_rx.await);
    let posted = match poster_result {
        Some(r) => r,
        None => match posting {
            Some(task) => task.await,
            None => Ok(Ok(())),
        },
    };
    let posted = posted.map_err(|_| NodeError::Other("the DA poster stopped".into())).and_then(|r| r.map_err(NodeError::from));
    produced.and(posted)
}

async fn report_gauges(chain: Arc<chain::Chain>) {
    let mut tick = tokio::time::interval(Duration::from_secs(2));
    loop {
        tick.tick().await;
        let (pending, queued) = chain.pool.lock().counts();
        metrics::record_pool(pending, queued);
        metrics::record_db_size(storage::Store::size_bytes(&chain.args.datadir));
    }
}
