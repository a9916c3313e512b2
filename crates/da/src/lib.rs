//! `ande da`: a local data availability node that speaks the part of celestia-node's JSON-RPC
//! that rollups use (`blob.*`, `header.*`, `state.Balance`), with celestia-node's JSON shapes and
//! errors, so one client serves it and a real Celestia node alike.
//!
//! A DA block is made every `DA_BLOCK_TIME` (6 s, as Mocha), empty or not; `blob.Submit` answers
//! with the height of the block that included its blobs. Headers are signed by one local
//! validator, so clients that validate headers (celestia-types does on decoding) accept them;
//! their data availability roots are not computed from the blobs, so blob inclusion proofs are
//! not served, and the key is new after a restart (heights continue; the hash link to the last
//! block before the restart does not). Blocks persist in an embedded redb store.

mod rpc;
mod store;

use ande_chain::parse_duration;
use celestia_types::test_utils::ExtendedHeaderGenerator;
use celestia_types::{Blob, ExtendedHeader};
use parking_lot::Mutex;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use store::Store;
use tokio::sync::{oneshot, watch};

#[derive(Clone, clap::Args)]
pub struct DaArgs {
    #[arg(long = "addr", env = "DA_ADDR", default_value = "127.0.0.1")]
    pub addr: IpAddr,
    /// celestia-node's RPC port (HTTP and WebSocket).
    #[arg(long = "port", env = "DA_PORT", default_value_t = 26658)]
    pub port: u16,
    #[arg(long = "block-time", env = "DA_BLOCK_TIME", default_value = "6s", value_parser = parse_duration)]
    pub block_time: Duration,
    #[arg(long = "data-dir", env = "DA_DATA_DIR", default_value = "data/da")]
    pub data_dir: PathBuf,
    /// Most bytes of blob data one submission may carry.
    #[arg(long = "max-blob-bytes", env = "DA_MAX_BLOB_BYTES", default_value_t = 1_974_272)]
    pub max_blob_bytes: usize,
    /// Require `Authorization: Bearer <token>` on RPC calls. Prefer DA_AUTH_TOKEN_FILE.
    #[arg(long = "auth-token", env = "DA_AUTH_TOKEN", hide_env_values = true)]
    pub auth_token: Option<String>,
    /// A file holding the auth token (a Docker secret).
    #[arg(long = "auth-token-file", env = "DA_AUTH_TOKEN_FILE")]
    pub auth_token_file: Option<PathBuf>,
}

impl std::fmt::Debug for DaArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DaArgs")
            .field("addr", &self.addr)
            .field("port", &self.port)
            .field("block_time", &self.block_time)
            .field("data_dir", &self.data_dir)
            .field("auth", &(self.auth_token.is_some() || self.auth_token_file.is_some()))
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DaError {
    #[error(transparent)]
    Store(#[from] store::StoreError),
    #[error("cannot read the auth token file {0}: {1}")]
    TokenFile(String, std::io::Error),
    #[error("the auth token is empty")]
    EmptyToken,
    #[error("cannot listen on {addr}: {source}")]
    Listen { addr: SocketAddr, source: std::io::Error },
}

/// Blobs waiting for the next DA block, and who to tell its height.
struct Submission {
    blobs: Vec<Blob>,
    included: oneshot::Sender<u64>,
}

pub struct DaNode {
    args: DaArgs,
    store: Store,
    head: watch::Sender<Option<ExtendedHeader>>,
    pending: Mutex<Vec<Submission>>,
    /// Signs the headers with one local validator key, which lives as long as the process.
    signer: Mutex<ExtendedHeaderGenerator>,
}

impl DaNode {
    fn head(&self) -> Option<ExtendedHeader> {
        self.head.borrow().clone()
    }

    /// Makes the next DA block from what was submitted since the last one.
    async fn produce(self: &Arc<Self>) -> Result<u64, DaError> {
        let submissions = std::mem::take(&mut *self.pending.lock());
        let header = if submissions.is_empty() { self.signer.lock().next_empty() } else { self.signer.lock().next() };
        let height = header.height();
        let blobs: Vec<Blob> = submissions.iter().flat_map(|s| s.blobs.iter().cloned()).collect();
        let node = self.clone();
        let written = header.clone();
        tokio::task::spawn_blocking(move || node.store.put(&written, &blobs))
            .await
            .map_err(|e| store::StoreError::from_join(&e))??;
        self.head.send_replace(Some(header));
        for submission in submissions {
            let _ = submission.included.send(height);
        }
        Ok(height)
    }
}

fn auth_token(args: &DaArgs) -> Result<Option<String>, DaError> {
    let token = match (&args.auth_token_file, &args.auth_token) {
        (Some(path), _) => std::fs::read_to_string(path).map_err(|e| DaError::TokenFile(path.display().to_string(), e))?,
        (None, Some(token)) => token.clone(),
        (None, None) => return Ok(None),
    };
    let token = token.trim().to_string();
    if token.is_empty() {
        return Err(DaError::EmptyToken);
    }
    Ok(Some(token))
}

/// Runs the DA node until `shutdown` fires. `bound` (for tests and `ande up`) hears the address
/// the RPC server listens on.
pub async fn run(args: DaArgs, mut shutdown: watch::Receiver<bool>, bound: Option<oneshot::Sender<SocketAddr>>) -> Result<(), DaError> {
    let token = auth_token(&args)?;
    let store = Store::open(&args.data_dir)?;
    let head = store.head()?;
    tracing::info!(height = head.as_ref().map(ExtendedHeader::height), block_time = ?args.block_time, auth = token.is_some(), "DA node starting");
    let node = Arc::new(DaNode {
        store,
        pending: Mutex::new(Vec::new()),
        // After a restart the key is new, so the chain goes on at the next height from a header
        // of that key's own: hashes link within one run of the process, not across restarts.
        signer: Mutex::new(match &head {
            Some(head) => ExtendedHeaderGenerator::new_from_height(head.height() + 1),
            None => ExtendedHeaderGenerator::new(),
        }),
        head: watch::channel(head).0,
        args,
    });
    let addr = SocketAddr::new(node.args.addr, node.args.port);
    let (local, server) = rpc::serve(node.clone(), addr, token).await.map_err(|source| DaError::Listen { addr, source })?;
    tracing::info!(%local, "DA JSON-RPC listening (HTTP and WebSocket)");
    if let Some(bound) = bound {
        let _ = bound.send(local);
    }
    let mut tick = tokio::time::interval(node.args.block_time);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    let result = loop {
        tokio::select! {
            _ = tick.tick() => match node.produce().await {
                Ok(height) => tracing::debug!(height, "DA block"),
                Err(e) => break Err(e),
            },
            _ = shutdown.changed() => break Ok(()),
        }
    };
    let _ = server.stop();
    server.stopped().await;
    result
}
