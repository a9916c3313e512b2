//! The indexer: follows the node's head (WebSocket `newHeads`, with polling as the fallback),
//! fetches blocks with bounded concurrency, and writes them in order, a group of blocks per
//! database transaction. It resumes after the last block written; a block whose parent hash
//! is not the hash stored for its parent means the node's chain changed, and the index is cut
//! back to where the two agree and indexed again from there.

use crate::db::Db;
use crate::model::{Block, TokenTransfer};
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
}

impl Progress {
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
        let (heads_tx, mut heads) = watch::channel(0u64);
        let follower = self.ws_url.clone().map(|url| tokio::spawn(follow_heads(url, heads_tx)));
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
    }

    /// Indexes the next group of blocks; false when there was nothing new.
    async fn step(&self) -> Result<bool, IndexError> {
        let head = self.node.head().await?;
        self.progress.head.store(head, Ordering::Relaxed);
        let next = match self.db.last_indexed().await? {
            Some(last) => last + 1,
            None => 0,
        };
        self.progress.indexed_next.store(next, Ordering::Relaxed);
        if next > head {
            // The node may have been rebuilt shorter: check the tip still matches.
            if next > 0 && self.db.block_hash(next - 1).await? != self.node.block_hash(next - 1).await? {
                self.rebuild_from(next - 1).await?;
                return Ok(true);
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
                self.rebuild_from(block.number - 1).await?;
                return Ok(true);
            }
            parent = Some(block.hash.clone());
        }
        let transfers: Vec<TokenTransfer> = blocks.iter().flat_map(|b| &b.logs).flat_map(tokens::transfers).collect();
        let mut new_tokens = Vec::new();
        let mut seen = HashSet::new();
        for transfer in &transfers {
            if seen.insert(transfer.token.clone()) && !self.db.has_token(&transfer.token).await? {
                let (name, symbol, decimals) = tokens::metadata(&self.node, &transfer.token).await;
                new_tokens.push((transfer.token.clone(), transfer.kind.as_str(), name, symbol, decimals, transfer.block_number));
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
    /// with.
    async fn rebuild_from(&self, from: u64) -> Result<(), IndexError> {
        let mut keep = from;
        loop {
            let stored = self.db.block_hash(keep).await?;
            if stored.is_some() && stored == self.node.block_hash(keep).await? {
                break;
            }
            if keep == 0 {
                tracing::warn!("the node's genesis differs from the index; indexing from scratch");
                self.db.truncate_from(0).await?;
                self.progress.rebuilds.fetch_add(1, Ordering::Relaxed);
                return Ok(());
            }
            keep -= 1;
        }
        tracing::warn!(keep, "re-indexing above the last block the node agrees with");
        self.db.truncate_from(keep + 1).await?;
        self.progress.rebuilds.fetch_add(1, Ordering::Relaxed);
        Ok(())
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
