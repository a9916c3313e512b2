//! The relayer's durable state (redb): every message seen and its state, the
//! messages not delivered yet, an index by sender, and each origin's cursor. A message's record
//! is written before anything is sent for it, so a crash at any point resumes where it was.

use super::record::MessageRecord;
use alloy_primitives::{Address, B256};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use std::path::Path;
use std::sync::Arc;

const MESSAGES: TableDefinition<&[u8], &str> = TableDefinition::new("messages");
const PENDING: TableDefinition<&[u8], ()> = TableDefinition::new("pending");
/// sender (32 bytes) ‖ message id -> ().
const BY_SENDER: TableDefinition<&[u8], ()> = TableDefinition::new("by_sender");
/// origin domain -> the last block indexed.
const CURSORS: TableDefinition<u32, u64> = TableDefinition::new("cursors");
/// domain -> the chain (id and genesis) and Mailbox the store was made for.
const CHAINS: TableDefinition<u32, &str> = TableDefinition::new("chains");

#[derive(Debug, thiserror::Error)]
#[error("relayer store: {0}")]
pub struct StoreError(String);

fn err(e: impl std::fmt::Display) -> StoreError {
    StoreError(e.to_string())
}

#[derive(Clone)]
pub struct Store(Arc<Database>);

impl Store {
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| StoreError(format!("{}: {e}", dir.display())))?;
        let db = Database::create(dir.join("relayer.redb")).map_err(err)?;
        let txn = db.begin_write().map_err(err)?;
        txn.open_table(MESSAGES).map_err(err)?;
        txn.open_table(PENDING).map_err(err)?;
        txn.open_table(BY_SENDER).map_err(err)?;
        txn.open_table(CURSORS).map_err(err)?;
        txn.open_table(CHAINS).map_err(err)?;
        txn.commit().map_err(err)?;
        Ok(Store(Arc::new(db)))
    }

    /// Ties the store to each chain it relays for: a data directory left from another chain (a
    /// local chain started afresh, say) is refused, where its cursor would skip messages.
    pub fn bind(&self, domain: u32, chain: &str) -> Result<(), StoreError> {
        let txn = self.0.begin_write().map_err(err)?;
        {
            let mut chains = txn.open_table(CHAINS).map_err(err)?;
            let bound = chains.get(domain).map_err(err)?.map(|v| v.value().to_string());
            match bound {
                None => {
                    chains.insert(domain, chain).map_err(err)?;
                }
                Some(bound) if bound == chain => {}
                Some(bound) => {
                    return Err(StoreError(format!(
                        "this data directory relays for {bound}, and domain {domain} is now {chain}: point RELAYER_DATA_DIR elsewhere, or remove it to start afresh"
                    )));
                }
            }
        }
        txn.commit().map_err(err)
    }

    pub fn cursor(&self, domain: u32) -> Result<Option<u64>, StoreError> {
        let txn = self.0.begin_read().map_err(err)?;
        Ok(txn.open_table(CURSORS).map_err(err)?.get(domain).map_err(err)?.map(|v| v.value()))
    }

    /// New messages of `domain` and its cursor, together: none is lost, none seen twice.
    pub fn index(&self, domain: u32, messages: &[MessageRecord], cursor: u64) -> Result<(), StoreError> {
        let txn = self.0.begin_write().map_err(err)?;
        {
            let mut all = txn.open_table(MESSAGES).map_err(err)?;
            let mut pending = txn.open_table(PENDING).map_err(err)?;
            let mut by_sender = txn.open_table(BY_SENDER).map_err(err)?;
            for record in messages {
                if all.get(record.id.as_slice()).map_err(err)?.is_some() {
                    continue;
                }
                all.insert(record.id.as_slice(), serde_json::to_string(record).map_err(err)?.as_str()).map_err(err)?;
                pending.insert(record.id.as_slice(), ()).map_err(err)?;
                for sender in [record.sender, record.origin_from.into_word()] {
                    by_sender.insert([sender.as_slice(), record.id.as_slice()].concat().as_slice(), ()).map_err(err)?;
                }
            }
            txn.open_table(CURSORS).map_err(err)?.insert(domain, cursor).map_err(err)?;
        }
        txn.commit().map_err(err)
    }

    pub fn get(&self, id: B256) -> Result<Option<MessageRecord>, StoreError> {
        let txn = self.0.begin_read().map_err(err)?;
        let table = txn.open_table(MESSAGES).map_err(err)?;
        let Some(json) = table.get(id.as_slice()).map_err(err)? else { return Ok(None) };
        serde_json::from_str(json.value()).map(Some).map_err(err)
    }

    /// Writes a message's new state; a delivered one leaves the pending set.
    pub fn put(&self, record: &MessageRecord) -> Result<(), StoreError> {
        let txn = self.0.begin_write().map_err(err)?;
        {
            txn.open_table(MESSAGES).map_err(err)?.insert(record.id.as_slice(), serde_json::to_string(record).map_err(err)?.as_str()).map_err(err)?;
            let mut pending = txn.open_table(PENDING).map_err(err)?;
            if record.state.is_done() {
                pending.remove(record.id.as_slice()).map_err(err)?;
            }
        }
        txn.commit().map_err(err)
    }

    /// The messages not delivered yet.
    pub fn pending(&self) -> Result<Vec<MessageRecord>, StoreError> {
        let txn = self.0.begin_read().map_err(err)?;
        let pending = txn.open_table(PENDING).map_err(err)?;
        let all = txn.open_table(MESSAGES).map_err(err)?;
        let mut out = Vec::new();
        for entry in pending.iter().map_err(err)? {
            let (id, _) = entry.map_err(err)?;
            if let Some(json) = all.get(id.value()).map_err(err)? {
                out.push(serde_json::from_str(json.value()).map_err(err)?);
            }
        }
        Ok(out)
    }

    /// The latest `limit` messages `sender` sent: as the message's sender (a route, a contract)
    /// or as the origin transaction's.
    pub fn by_sender(&self, sender: Address, limit: usize) -> Result<Vec<MessageRecord>, StoreError> {
        let word = sender.into_word();
        let txn = self.0.begin_read().map_err(err)?;
        let index = txn.open_table(BY_SENDER).map_err(err)?;
        let all = txn.open_table(MESSAGES).map_err(err)?;
        let (start, end) = ([word.as_slice(), &[0u8; 32]].concat(), [word.as_slice(), &[0xffu8; 32]].concat());
        let mut out = Vec::new();
        for entry in index.range(start.as_slice()..=end.as_slice()).map_err(err)? {
            let (key, _) = entry.map_err(err)?;
            if let Some(json) = all.get(&key.value()[32..]).map_err(err)? {
                out.push(serde_json::from_str::<MessageRecord>(json.value()).map_err(err)?);
            }
        }
        out.sort_by_key(|r| std::cmp::Reverse((r.origin_block, r.nonce)));
        out.truncate(limit);
        Ok(out)
    }
}
