//! The validator's durable state (redb): every insertion it indexed, with the block it came
//! in, every checkpoint it signed, the block it indexed up to, and a halt once it saw the chain
//! rewrite what it signed. One write transaction per step: a crash leaves all or none of it.

use alloy_primitives::B256;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use std::path::Path;
use std::sync::Arc;

/// index -> message id ‖ block number ‖ block hash.
const INSERTIONS: TableDefinition<u32, &[u8]> = TableDefinition::new("insertions");
/// index -> the signed checkpoint's JSON, as served.
const SIGNED: TableDefinition<u32, &str> = TableDefinition::new("signed");
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");

#[derive(Debug, thiserror::Error)]
#[error("validator store: {0}")]
pub struct StoreError(String);

fn err(e: impl Into<redb::Error>) -> StoreError {
    StoreError(e.into().to_string())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insertion {
    pub index: u32,
    pub message_id: B256,
    pub block: u64,
    pub block_hash: B256,
}

impl Insertion {
    fn encode(&self) -> [u8; 72] {
        let mut out = [0u8; 72];
        out[..32].copy_from_slice(self.message_id.as_slice());
        out[32..40].copy_from_slice(&self.block.to_be_bytes());
        out[40..].copy_from_slice(self.block_hash.as_slice());
        out
    }

    fn decode(index: u32, bytes: &[u8]) -> Option<Self> {
        if bytes.len() != 72 {
            return None;
        }
        Some(Insertion { index, message_id: B256::from_slice(&bytes[..32]), block: u64::from_be_bytes(bytes[32..40].try_into().ok()?), block_hash: B256::from_slice(&bytes[40..]) })
    }
}

/// What one step adds: insertions with their signed checkpoints, and the new cursor.
pub struct Step {
    pub signed: Vec<(Insertion, String)>,
    pub cursor: u64,
}

#[derive(Clone)]
pub struct Store(Arc<Database>);

impl Store {
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| StoreError(format!("{}: {e}", dir.display())))?;
        let db = Database::create(dir.join("validator.redb")).map_err(err)?;
        let txn = db.begin_write().map_err(err)?;
        txn.open_table(INSERTIONS).map_err(err)?;
        txn.open_table(SIGNED).map_err(err)?;
        txn.open_table(META).map_err(err)?;
        txn.commit().map_err(err)?;
        Ok(Store(Arc::new(db)))
    }

    /// Every insertion, in index order (the tree is rebuilt from them at start).
    pub fn insertions(&self) -> Result<Vec<Insertion>, StoreError> {
        let txn = self.0.begin_read().map_err(err)?;
        let table = txn.open_table(INSERTIONS).map_err(err)?;
        let mut out = Vec::new();
        for entry in table.iter().map_err(err)? {
            let (index, bytes) = entry.map_err(err)?;
            out.push(Insertion::decode(index.value(), bytes.value()).ok_or_else(|| StoreError(format!("insertion {} is corrupt", index.value())))?);
        }
        Ok(out)
    }

    pub fn signed(&self, index: u32) -> Result<Option<String>, StoreError> {
        let txn = self.0.begin_read().map_err(err)?;
        let table = txn.open_table(SIGNED).map_err(err)?;
        Ok(table.get(index).map_err(err)?.map(|v| v.value().to_string()))
    }

    fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let txn = self.0.begin_read().map_err(err)?;
        let table = txn.open_table(META).map_err(err)?;
        Ok(table.get(key).map_err(err)?.map(|v| v.value().to_vec()))
    }

    fn put_meta(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        let txn = self.0.begin_write().map_err(err)?;
        txn.open_table(META).map_err(err)?.insert(key, value).map_err(err)?;
        txn.commit().map_err(err)
    }

    /// The last block indexed; None before the first step.
    pub fn cursor(&self) -> Result<Option<u64>, StoreError> {
        Ok(self.meta("cursor")?.and_then(|b| b.try_into().ok()).map(u64::from_be_bytes))
    }

    pub fn halted(&self) -> Result<Option<String>, StoreError> {
        Ok(self.meta("halted")?.map(|b| String::from_utf8_lossy(&b).into_owned()))
    }

    /// Ties the store to the chain and hook it indexes: a data directory left from another
    /// chain (a local chain started afresh, say) is refused instead of read as a reorganisation.
    pub fn bind(&self, chain: &str) -> Result<(), StoreError> {
        match self.meta("chain")? {
            None => self.put_meta("chain", chain.as_bytes()),
            Some(bound) if bound == chain.as_bytes() => Ok(()),
            Some(bound) => Err(StoreError(format!(
                "this data directory holds the state of {}, and the node and deployments are {chain}: point VALIDATOR_DATA_DIR elsewhere, or remove it to start afresh",
                String::from_utf8_lossy(&bound)
            ))),
        }
    }

    /// Stops signing for good: only an operator's decision undoes it.
    pub fn halt(&self, reason: &str) -> Result<(), StoreError> {
        self.put_meta("halted", reason.as_bytes())
    }

    pub fn commit(&self, step: &Step) -> Result<(), StoreError> {
        let txn = self.0.begin_write().map_err(err)?;
        {
            let mut insertions = txn.open_table(INSERTIONS).map_err(err)?;
            let mut signed = txn.open_table(SIGNED).map_err(err)?;
            for (insertion, json) in &step.signed {
                insertions.insert(insertion.index, insertion.encode().as_slice()).map_err(err)?;
                signed.insert(insertion.index, json.as_str()).map_err(err)?;
            }
            txn.open_table(META).map_err(err)?.insert("cursor", step.cursor.to_be_bytes().as_slice()).map_err(err)?;
        }
        txn.commit().map_err(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_is_kept_whole_across_reopening() {
        let dir = std::env::temp_dir().join(format!("ande-validator-store-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = Store::open(&dir).unwrap();
        assert_eq!(store.cursor().unwrap(), None);
        let insertion = Insertion { index: 0, message_id: B256::repeat_byte(1), block: 9, block_hash: B256::repeat_byte(2) };
        store.commit(&Step { signed: vec![(insertion, "{}".into())], cursor: 12 }).unwrap();
        drop(store);
        let store = Store::open(&dir).unwrap();
        assert_eq!(store.cursor().unwrap(), Some(12));
        assert_eq!(store.insertions().unwrap(), vec![insertion]);
        assert_eq!(store.signed(0).unwrap().as_deref(), Some("{}"));
        assert_eq!(store.signed(1).unwrap(), None);
        assert_eq!(store.halted().unwrap(), None);
        store.halt("reorg").unwrap();
        store.bind("1234-aa:0x01").unwrap();
        store.bind("1234-aa:0x01").unwrap();
        assert!(store.bind("1234-bb:0x01").unwrap_err().to_string().contains("holds the state of 1234-aa:0x01"));
        assert_eq!(store.halted().unwrap().as_deref(), Some("reorg"));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
