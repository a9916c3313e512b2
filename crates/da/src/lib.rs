//! `ande da`: a local data availability node that speaks the part of celestia-node's JSON-RPC
//! that rollups use (`blob.*`, `header.*`, `state.Balance`), with celestia-node's JSON shapes and
//! errors, so one client serves it and a real Celestia node alike.
//!
//! A DA block is made every `DA_BLOCK_TIME` (6 s, as Mocha), empty or not; `blob.Submit` answers
//! with the height of the block that included its blobs. Headers are signed by one local
//! validator, so clients that validate headers (celestia-types does on decoding) accept them;
//! their data availability roots are those of an empty square, not computed from the blobs, so
//! blob inclusion proofs are not served, and the key is new after a restart (heights continue; the hash link to the last
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

/// How often (in DA heights) empty heights past retention are pruned.
const PRUNE_EVERY: u64 = 256;

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
    /// Headers of DA heights without blobs are dropped once this old (`0s` keeps them all);
    /// heights with blobs are kept for good.
    #[arg(long = "retain-empty", env = "DA_RETAIN_EMPTY", default_value = "24h", value_parser = parse_duration)]
    pub retain_empty: Duration,
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
            .field("retain_empty", &self.retain_empty)
            .field("auth", &(self.auth_token.is_some() || self.auth_token_file.is_some()))
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DaError {
    #[error(transparent)]
    Store(#[from] store::StoreError),
    #[error(transparent)]
    TokenFile(#[from] ande_chain::SecretFileError),
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
    /// Submissions for the next block; `None` once the node is stopping, so none is left unanswered.
    pending: Mutex<Option<Vec<Submission>>>,
    /// Fires when the node stops, so waiting calls return instead of holding the server open.
    stopping: watch::Receiver<bool>,
}

impl DaNode {
    fn head_height(&self) -> u64 {
        self.head.borrow().as_ref().map_or(0, ExtendedHeader::height)
    }

    fn head(&self) -> Option<ExtendedHeader> {
        self.head.borrow().clone()
    }

    /// Queues blobs for the next block; false when the node is stopping.
    fn enqueue(&self, submission: Submission) -> bool {
        match self.pending.lock().as_mut() {
            Some(pending) => {
                pending.push(submission);
                true
            }
            None => false,
        }
    }

    /// Every PRUNE_EVERY heights, the height below which empty heights are past retention.
    fn prune_below(&self, height: u64) -> Option<u64> {
        let retain = self.args.retain_empty;
        if retain.is_zero() || !height.is_multiple_of(PRUNE_EVERY) {
            return None;
        }
        let heights = (retain.as_nanos() / self.args.block_time.as_nanos().max(1)) as u64;
        height.checked_sub(heights).filter(|b| *b > 1)
    }

    /// Makes the next DA block from what was submitted since the last one.
    async fn produce(self: &Arc<Self>, signer: &mut ExtendedHeaderGenerator) -> Result<u64, DaError> {
        let submissions = self.pending.lock().as_mut().map(std::mem::take).unwrap_or_default();
        // The data availability roots are not computed from the blobs (see the module docs):
        // every header says "empty square" rather than something untrue.
        let header = signer.next_empty();
        let height = header.height();
        let mut blobs: Vec<Blob> = Vec::new();
        let mut waiting = Vec::with_capacity(submissions.len());
        for submission in submissions {
            blobs.extend(submission.blobs);
            waiting.push(submission.included);
        }
        let node = self.clone();
        let header = tokio::task::spawn_blocking(move || {
            node.store.put(&header, &blobs)?;
            if let Some(before) = node.prune_below(height) {
                let dropped = node.store.prune_empty(before)?;
                tracing::debug!(before, dropped, "dropped the headers of empty DA heights past DA_RETAIN_EMPTY");
            }
            Ok::<_, store::StoreError>(header)
        })
        .await
        .map_err(store::err)??;
        self.head.send_replace(Some(header));
        for included in waiting {
            let _ = included.send(height);
        }
        Ok(height)
    }
}

fn auth_token(args: &DaArgs) -> Result<Option<String>, DaError> {
    let Some(token) = ande_chain::read_secret(args.auth_token_file.as_deref(), args.auth_token.as_deref())? else { return Ok(None) };
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
    // After a restart the key is new, so the chain goes on at the next height from a header of
    // that key's own: hashes link within one run of the process, not across restarts.
    let mut signer = match &head {
        Some(head) => ExtendedHeaderGenerator::new_from_height(head.height() + 1),
        None => ExtendedHeaderGenerator::new(),
    };
    let node = Arc::new(DaNode {
        store,
        pending: Mutex::new(Some(Vec::new())),
        head: watch::channel(head).0,
        stopping: shutdown.clone(),
        args,
    });
    // A real network always has a head: a new store starts with its first block made before the
    // server answers, so `header.NetworkHead` never finds none.
    if node.head().is_none() {
        node.produce(&mut signer).await?;
    }
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
            _ = tick.tick() => match node.produce(&mut signer).await {
                Ok(height) => tracing::debug!(height, "DA block"),
                Err(e) => break Err(e),
            },
            _ = shutdown.changed() => break Ok(()),
        }
    };
    // Submissions still queued are answered (with an error: their block will not be made), and
    // no new one is taken, so the server's in-flight calls finish.
    node.pending.lock().take();
    let _ = server.stop();
    server.stopped().await;
    result
}
