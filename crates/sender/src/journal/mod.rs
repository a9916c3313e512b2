//! The journal: every transaction the sender signed, written durably before it is sent, keyed by
//! the caller's idempotency key. Embedded (redb) for one process; Redis where replicas share a
//! key, with a lease so that only one of them signs.

mod embedded;
mod redis_journal;

pub use embedded::EmbeddedJournal;
pub use redis_journal::{RedisJournal, adopt_legacy_keys};

use crate::Record;
use alloy_primitives::Address;
use std::path::Path;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("embedded journal: {0}")]
    Embedded(String),
    #[error("corrupt journal record: {0}")]
    Corrupt(#[from] serde_json::Error),
}

impl From<redb::Error> for JournalError {
    fn from(e: redb::Error) -> Self {
        JournalError::Embedded(e.to_string())
    }
}

pub enum Journal {
    Embedded(EmbeddedJournal),
    Redis(RedisJournal),
}

impl Journal {
    /// The embedded journal of the chain `chain_tag` (`NodeClient::chain_tag`) in `dir`.
    pub fn embedded(dir: &Path, chain_tag: &str) -> Result<Self, JournalError> {
        let path = dir.join(format!("sender-{chain_tag}.redb"));
        adopt_legacy_file(&dir.join("sender.redb"), &path)?;
        Ok(Journal::Embedded(EmbeddedJournal::open(&path)?))
    }

    /// `signer`'s journal on the chain `chain_tag` in Redis, shared by the replicas using that key.
    pub async fn redis(url: &str, chain_tag: &str, signer: Address, retention: Duration) -> Result<Self, JournalError> {
        Ok(Journal::Redis(RedisJournal::connect(url, chain_tag, signer, retention).await?))
    }

    /// Writes records in one atomic, durable step.
    pub async fn put(&self, records: &[Record]) -> Result<(), JournalError> {
        match self {
            Journal::Embedded(j) => j.put(records).await,
            Journal::Redis(j) => j.put(records).await,
        }
    }

    pub async fn get(&self, key: &str) -> Result<Option<Record>, JournalError> {
        match self {
            Journal::Embedded(j) => j.get(key),
            Journal::Redis(j) => j.get(key).await,
        }
    }

    /// The highest nonce of a transaction this journal saw mined: the chain's nonce for the key
    /// is past it, unless the journal is of another chain.
    pub async fn mined_nonce(&self) -> Result<Option<u64>, JournalError> {
        match self {
            Journal::Embedded(j) => j.mined_nonce(),
            Journal::Redis(j) => j.mined_nonce().await,
        }
    }

    /// Every record not yet mined or given up.
    pub async fn pending(&self) -> Result<Vec<Record>, JournalError> {
        match self {
            Journal::Embedded(j) => j.pending(),
            Journal::Redis(j) => j.pending().await,
        }
    }

    /// Takes or renews the signing lease: one process at a time signs with a key.
    pub async fn lead(&self, me: &str, ttl: Duration) -> Result<bool, JournalError> {
        match self {
            // One process owns an embedded journal: it always leads.
            Journal::Embedded(_) => Ok(true),
            Journal::Redis(j) => j.lead(me, ttl).await,
        }
    }

    /// Forgets finished records older than `retention`.
    pub async fn prune(&self, retention: Duration) -> Result<usize, JournalError> {
        match self {
            Journal::Embedded(j) => j.prune(retention).await,
            // Redis expires finished records by itself.
            Journal::Redis(_) => Ok(0),
        }
    }
}

fn highest_mined(records: &[Record]) -> Option<u64> {
    records.iter().filter(|r| matches!(r.state, crate::State::Mined { .. })).map(|r| r.nonce).max()
}

/// A file from before journals were kept per chain (`sender.redb`, `bundler.redb`) becomes the
/// chain's, unless it has one already: an upgrade keeps what was pending. Journals that old
/// carry no mined nonce, so the foreign-chain check cannot judge them.
pub fn adopt_legacy_file(legacy: &Path, path: &Path) -> Result<(), JournalError> {
    if !legacy.exists() || path.exists() {
        return Ok(());
    }
    std::fs::rename(legacy, path).map_err(|e| JournalError::Embedded(format!("{} -> {}: {e}", legacy.display(), path.display())))?;
    tracing::info!(from = %legacy.display(), to = %path.display(), "adopted the file kept before it was per chain");
    Ok(())
}
