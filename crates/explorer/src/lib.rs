//! `ande explorer`: indexes the chain from the node's JSON-RPC into Postgres or SQLite, and
//! serves Blockscout- and Etherscan-style APIs and server-rendered pages on port 4000.

mod api;
mod db;
mod etherscan;
mod indexer;
mod model;
mod node;
mod queries;
mod tokens;
mod ui;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::sync::watch;

#[derive(Clone, clap::Args)]
pub struct ExplorerArgs {
    /// The node's JSON-RPC over HTTP: its internal port, which serves `debug_trace*`.
    #[arg(long = "rpc-url", env = "ETHEREUM_JSONRPC_HTTP_URL", default_value = "http://127.0.0.1:8549")]
    pub rpc_url: String,
    /// The node's WebSocket, for newHeads; unset: polling only.
    #[arg(long = "ws-url", env = "ETHEREUM_JSONRPC_WS_URL")]
    pub ws_url: Option<String>,
    /// postgres://user:password@host/db, or sqlite://path (the embedded default).
    #[arg(long = "database-url", env = "DATABASE_URL", default_value = "sqlite://data/explorer/explorer.db", hide_env_values = true)]
    pub database_url: String,
    /// A file holding the database password (a Docker secret), put into DATABASE_URL.
    #[arg(long = "database-password-file", env = "DATABASE_PASSWORD_FILE")]
    pub database_password_file: Option<PathBuf>,
    /// Expected chain id; the explorer refuses a node on another chain.
    #[arg(long = "chain-id", env = "CHAIN_ID")]
    pub chain_id: Option<u64>,
    #[arg(long = "addr", env = "EXPLORER_ADDR", default_value = "127.0.0.1")]
    pub addr: IpAddr,
    #[arg(long = "port", env = "EXPLORER_PORT", default_value_t = 4000)]
    pub port: u16,
    /// Origins allowed to call the API from a browser, comma-separated; `*` for any.
    #[arg(long = "cors", env = "EXPLORER_CORS", default_value = "*")]
    pub cors: String,
    /// `/health` fails while the index is more than this many blocks behind the node.
    #[arg(long = "max-lag", env = "EXPLORER_MAX_LAG", default_value_t = 5)]
    pub max_lag: u64,
    #[command(flatten)]
    pub limit: ande_http::request_limit::RequestLimitArgs,
}

#[derive(Debug, thiserror::Error)]
pub enum ExplorerError {
    #[error(transparent)]
    Node(#[from] node::NodeError),
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error(transparent)]
    ChainId(#[from] ande_chain::ChainIdMismatch),
    #[error(transparent)]
    Secret(#[from] ande_chain::SecretFileError),
    #[error("DATABASE_PASSWORD_FILE is set, but DATABASE_URL names no user@ to give the password to")]
    NoDatabaseUser,
    #[error("{0}")]
    Limit(String),
    #[error("cannot listen on {addr}: {source}")]
    Listen { addr: SocketAddr, source: std::io::Error },
}

impl std::fmt::Debug for ExplorerArgs {
    /// Without the database URL, which may carry a password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExplorerArgs").field("rpc_url", &self.rpc_url).field("ws_url", &self.ws_url).field("port", &self.port).finish_non_exhaustive()
    }
}

/// The node has not answered for this long: the index cannot be trusted to be current.
const NODE_SILENCE_LIMIT: Duration = Duration::from_secs(15);

/// What the handlers share.
pub struct App {
    db: db::Db,
    node: node::Node,
    progress: Arc<indexer::Progress>,
    chain_id: u64,
    currency: String,
    max_lag: u64,
}

impl App {
    /// The mean block time over the last 100 indexed blocks. The genesis is left out: its
    /// timestamp is the chain's configuration (0 on a local chain), not when it was produced.
    async fn block_time_ms(&self) -> Result<Option<u64>, sqlx::Error> {
        let rows = self.db.fetch_all("SELECT number, timestamp FROM blocks WHERE number > 0 ORDER BY number DESC LIMIT 100", &[]).await?;
        use sqlx::Row;
        let first = rows.last().map(|r| (r.try_get::<i64, _>("number"), r.try_get::<i64, _>("timestamp")));
        let last = rows.first().map(|r| (r.try_get::<i64, _>("number"), r.try_get::<i64, _>("timestamp")));
        Ok(match (first, last) {
            (Some((Ok(n0), Ok(t0))), Some((Ok(n1), Ok(t1)))) if n1 > n0 && t1 >= t0 => Some(((t1 - t0) * 1000 / (n1 - n0)) as u64),
            _ => None,
        })
    }
}

/// Waits for the node (with backoff), checks its chain id, and runs the indexer and the server
/// until `shutdown` fires. `bound` hears the address the server listens on.
pub async fn run(args: ExplorerArgs, mut shutdown: watch::Receiver<bool>, bound: Option<tokio::sync::oneshot::Sender<SocketAddr>>) -> Result<(), ExplorerError> {
    let limit = args.limit.limit().map_err(ExplorerError::Limit)?;
    let database_url = match ande_chain::read_secret(args.database_password_file.as_deref(), None)? {
        Some(password) => db::with_password(&args.database_url, &password).ok_or(ExplorerError::NoDatabaseUser)?,
        None => args.database_url.clone(),
    };
    let node = node::Node::new(&args.rpc_url)?;
    let mut delay = Duration::from_millis(250);
    let chain_id = loop {
        match node.chain_id().await {
            Ok(id) => break id,
            Err(e) => {
                tracing::warn!(error = %e, url = %args.rpc_url, "waiting for the node");
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = shutdown.changed() => return Ok(()),
                }
                delay = (delay * 2).min(Duration::from_secs(10));
            }
        }
    };
    ande_chain::ensure_chain_id(args.chain_id, chain_id, format!("the node at {}", args.rpc_url))?;
    let db = db::Db::connect(&database_url).await?;
    let currency = node.native_symbol().await.unwrap_or_else(|| "ETH".into());
    let progress = Arc::new(indexer::Progress::default());
    let app = Arc::new(App { db: db.clone(), node: node.clone(), progress: progress.clone(), chain_id, currency, max_lag: args.max_lag });

    let router = axum::Router::new()
        .merge(api::routes())
        .merge(ui::routes())
        .route("/api", get(etherscan::handle))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .fallback(ui::no_route)
        .with_state(app);
    // The limit inside CORS, so a browser can read a 429 too.
    let router = limit.apply(router).layer(ande_http::cors(&args.cors));
    let addr = SocketAddr::new(args.addr, args.port);
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|source| ExplorerError::Listen { addr, source })?;
    let local = listener.local_addr().map_err(|source| ExplorerError::Listen { addr, source })?;
    tracing::info!(%local, chain_id, "explorer listening");
    if let Some(bound) = bound {
        let _ = bound.send(local);
    }
    let indexer = indexer::Indexer { node, db, progress, ws_url: args.ws_url.clone() };
    let indexing = tokio::spawn(indexer.run(shutdown.clone()));
    let mut stop = shutdown.clone();
    axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(async move {
            let _ = stop.changed().await;
        })
        .await
        .map_err(|source| ExplorerError::Listen { addr, source })?;
    let _ = indexing.await;
    Ok(())
}

/// 200 while the index is at most `max_lag` blocks behind the node, 503 with the lag otherwise.
async fn health(State(app): State<Arc<App>>) -> Response {
    let progress = &app.progress;
    let lag = progress.lag();
    let head = progress.head.load(Ordering::Relaxed);
    let indexed = progress.indexed_next.load(Ordering::Relaxed);
    let silent = progress.node_silence() > NODE_SILENCE_LIMIT;
    let ready = indexed > 0 && lag <= app.max_lag && !silent;
    let body = json!({
        "status": if silent { "node unreachable" } else if ready { "ok" } else { "lagging" },
        "chain_id": app.chain_id,
        "head": head,
        "indexed": indexed.saturating_sub(1),
        "lag": lag,
    });
    (if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE }, axum::Json(body)).into_response()
}

async fn metrics(State(app): State<Arc<App>>) -> Response {
    let p = &app.progress;
    let text = format!(
        "# HELP ande_explorer_lag_blocks Blocks the index is behind the node.\n# TYPE ande_explorer_lag_blocks gauge\nande_explorer_lag_blocks {}\n\
         # HELP ande_explorer_indexed_block The highest block indexed.\n# TYPE ande_explorer_indexed_block gauge\nande_explorer_indexed_block {}\n\
         # HELP ande_explorer_blocks_indexed_total Blocks indexed (rate() gives blocks per second).\n# TYPE ande_explorer_blocks_indexed_total counter\nande_explorer_blocks_indexed_total {}\n\
         # HELP ande_explorer_transactions_indexed_total Transactions indexed.\n# TYPE ande_explorer_transactions_indexed_total counter\nande_explorer_transactions_indexed_total {}\n\
         # HELP ande_explorer_rebuilds_total Times the index was cut back because the node's chain changed.\n# TYPE ande_explorer_rebuilds_total counter\nande_explorer_rebuilds_total {}\n",
        p.lag(),
        p.indexed_next.load(Ordering::Relaxed).saturating_sub(1),
        p.blocks.load(Ordering::Relaxed),
        p.transactions.load(Ordering::Relaxed),
        p.rebuilds.load(Ordering::Relaxed),
    );
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}
