//! `ande node`: the AndeChain sequencer. Executes transactions with revm in blocks produced on
//! a fixed schedule, stores the chain in redb, and serves Ethereum JSON-RPC.

pub mod chain;
pub mod config;
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

pub use config::NodeArgs;

use ande_chain::{ChainSpec, ensure_chain_id};
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
    #[error("cannot listen on {addr}: {source}")]
    Listen { addr: SocketAddr, source: std::io::Error },
    #[error("{0}")]
    Other(String),
}

/// Runs the sequencer until `shutdown` fires.
pub async fn run(args: NodeArgs, mut shutdown: Shutdown) -> Result<(), NodeError> {
    let spec = ChainSpec::from_file(&args.genesis)?;
    ensure_chain_id(args.chain_id, spec.chain_id, format!("the genesis file {}", args.genesis.display()))?;
    let chain = Arc::new(chain::Chain::open(spec, args.clone())?);

    let metrics_addr = SocketAddr::new(args.http_addr, args.metrics_port);
    metrics::install(metrics_addr).map_err(NodeError::Other)?;
    let module = rpc::module(chain.clone()).map_err(|e| NodeError::Other(e.to_string()))?;
    let mut handles = Vec::new();
    for port in [args.http_port, args.ws_port] {
        let addr = SocketAddr::new(args.http_addr, port);
        let (local, handle) = rpc::serve(chain.clone(), module.clone(), addr)
            .await
            .map_err(|source| NodeError::Listen { addr, source })?;
        tracing::info!(%local, "JSON-RPC listening (HTTP and WebSocket)");
        handles.push(handle);
    }
    tracing::info!(%metrics_addr, "metrics listening");

    let gauges = tokio::spawn(report_gauges(chain.clone()));
    let (stop_tx, stop_rx) = std::sync::mpsc::channel();
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    let producer_chain = chain.clone();
    std::thread::Builder::new()
        .name("block-producer".into())
        .spawn(move || {
            let _ = done_tx.send(producer::run(&producer_chain, &stop_rx));
        })
        .map_err(|e| NodeError::Other(format!("cannot start the block producer: {e}")))?;
    let mut done_rx = done_rx;
    let finished = |r: Result<Result<(), error::StoreError>, _>| {
        r.map_err(|_| NodeError::Other("the block producer stopped".into())).and_then(|r| r.map_err(NodeError::from))
    };
    let result = tokio::select! {
        r = &mut done_rx => finished(r),
        _ = shutdown.changed() => {
            // Let a block being built finish its commit before the process exits.
            let _ = stop_tx.send(());
            finished(done_rx.await)
        }
    };
    gauges.abort();
    for handle in handles {
        let _ = handle.stop();
        handle.stopped().await;
    }
    tracing::info!("node stopped");
    result
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
