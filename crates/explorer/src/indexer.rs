//! The indexer: follows the node's head (WebSocket `newHeads`, with polling as the fallback),
//! fetches blocks with bounded concurrency, and writes them in order, a group of blocks per
//! database transaction. It resumes after the last block written; a block whose parent hash
//! is not the hash stored for its parent means the node's chain changed, and the index is cut
//! back to where the two agree and indexed again from there.

use crate::db::Db;
use crate::model::{Block, NewToken, TokenTransfer};
use crate::node::{Node, NodeError};
use crate::tokens;
use futures_util::StreamExt;
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::watch;

/// Blocks fetched at once while catching up.
const CONCURRENCY: usize = 8;
/// Most blocks written in one database transaction.
const GROUP: u64 = 64;
const POLL: Duration = Duration::from_millis(500);

/// What health and metrics read.
#[derive(Debug, Default)]
pub struct Progress {
    /// The node's head as last seen, and the highest block indexed (+1; 0 when none).
    pub head: AtomicU64,
    pub indexed_next: AtomicU64,
    pub blocks: AtomicU64,
    pub transactions: AtomicU64,
    pub rebuilds: AtomicU64,
    /// When the node last answered (unix ms).
    pub node_seen_ms: AtomicU64,
}

impl Progress {
    fn touch(&self) {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        self.node_seen_ms.store(now.as_millis() as u64, Ordering::Relaxed);
    }

    /// How long since the node last answered.
    pub fn node_silence(&self) -> Duration {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        now.saturating_sub(Duration::from_millis(self.node_seen_ms.load(Ordering::Relaxed)))
    }

    pub fn lag(&self) -> u64 {
        let next = self.indexed_next.load(Ordering::Relaxed);
        (self.head.load(Ordering::Relaxed) + 1).saturating_sub(next)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error(transparent)]
    Node(#[from] NodeError),
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
}

pub struct Indexer {
    pub node: Node,
    pub db: Db,
    pub progress: Arc<Progress>,
    pub ws_url: Option<String>,
}

impl Indexer {
    /// Indexes until `shutdown` fires; node and database errors are logged and retried.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        // The sender lives as long as the loop, so `changed()` waits even without a WebSocket.
        let (heads_tx, mut heads) = watch::channel(0u64);
        let follower = self.ws_url.clone().map(|url| tokio::spawn(follow_heads(url, heads_tx.clone())));
        loop {
            let outcome = self.step().await;
            let wait = match outcome {
                Ok(true) => continue,
                Ok(false) => POLL,
                Err(e) => {
                    tracing::warn!(error = %e, "indexing failed; retrying");
                    Duration::from_secs(1)
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = heads.changed() => {}
                _ = shutdown.changed() => break,
            }
        }
        if let Some(follower) = follower {
            follower.abort();
        }
        drop(heads_tx);
    }

    /// Indexes the next group of blocks; false when there was nothing new.
    async fn step(&self) -> Result<bool, IndexError> {
        let head = self.node.head().await?;
        self.progress.head.store(head, Ordering::Relaxed);
        self.progress.touch();
        let next = match self.db.last_indexed().await? {
            Some(last) => last + 1,
            None => 0,
        };
        self.progress.indexed_next.store(next, Ordering::Relaxed);
        if next > head {
            // The node's head is below the index: it was rebuilt shorter, or it is catching up
            // (restarted, syncing). Only a block hash that differs says which.
            if head + 1 < next && self.db.block_hash(head).await? != self.node.block_hash(head).await? {
                return self.rebuild_from(head).await;
            }
            return Ok(false);
        }
        let last = head.min(next + GROUP - 1);
        let node = self.node.clone();
        let blocks: Vec<Block> = futures_util::stream::iter(next..=last)
            .map(|n| {
                let node = node.clone();
                async move { node.block(n).await }
            })
            .buffered(CONCURRENCY)
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect::<Result<_, _>>()?;
        // Each block must follow the one before it, stored or fetched.
        let mut parent = if next == 0 { None } else { self.db.block_hash(next - 1).await? };
        for block in &blocks {
            if let Some(parent) = &parent
                && *parent != block.parent_hash
            {
                tracing::warn!(number = block.number, "the node's chain changed under the index");
                return self.rebuild_from(block.number - 1).await;
            }
            parent = Some(block.hash.clone());
        }
        let transfers: Vec<TokenTransfer> = blocks.iter().flat_map(|b| &b.logs).flat_map(tokens::transfers).collect();
        let mut new_tokens = Vec::new();
        let mut seen = HashSet::new();
        for transfer in &transfers {
            if seen.insert(transfer.token.clone()) && !self.db.has_token(&transfer.token).await? {
                let (name, symbol, decimals) = tokens::metadata(&self.node, &transfer.token).await;
                new_tokens.push(NewToken { address: transfer.token.clone(), kind: transfer.kind, name, symbol, decimals, first_block: transfer.block_number });
            }
        }
        self.db.write(&blocks, &transfers, &new_tokens).await?;
        let txs: u64 = blocks.iter().map(|b| b.txs.len() as u64).sum();
        self.progress.blocks.fetch_add(blocks.len() as u64, Ordering::Relaxed);
        self.progress.transactions.fetch_add(txs, Ordering::Relaxed);
        self.progress.indexed_next.store(last + 1, Ordering::Relaxed);
        tracing::debug!(from = next, to = last, txs, "indexed");
        Ok(true)
    }

    /// Cuts the index back to the highest block at or below `from` whose hash the node agrees
    /// with, found by stepping back exponentially and then bisecting (a chain that forked at a
    /// block differs from there on). False when nothing needed cutting.
    async fn rebuild_from(&self, from: u64) -> Result<bool, IndexError> {
        let agrees = async |n: u64| -> Result<bool, IndexError> {
            let stored = self.db.block_hash(n).await?;
            Ok(stored.is_some() && stored == self.node.block_hash(n).await?)
        };
        if agrees(from).await? {
            return Ok(false);
        }
        let (mut bad, mut step) = (from, 1u64);
        let mut good = loop {
            if bad == 0 {
                break None;
            }
            let n = bad.saturating_sub(step);
            if agrees(n).await? {
                break Some(n);
            }
            bad = n;
            step = step.saturating_mul(2);
        };
        if let Some(ok) = good.as_mut() {
            while bad - *ok > 1 {
                let mid = *ok + (bad - *ok) / 2;
                if agrees(mid).await? { *ok = mid } else { bad = mid }
            }
        }
        let first = good.map_or(0, |n| n + 1);
        tracing::warn!(first, "the node's chain differs from the index from this block; indexing it again");
        self.db.truncate_from(first).await?;
        self.progress.rebuilds.fetch_add(1, Ordering::Relaxed);
        Ok(true)
    }
}

/// Keeps a `newHeads` subscription up, reconnecting after a second when it drops.
async fn follow_heads(url: String, heads: watch::Sender<u64>) {
    loop {
        if let Err(e) = Node::follow_heads(&url, &heads).await {
            tracing::debug!(error = %e, "newHeads subscription down; polling meanwhile");
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
