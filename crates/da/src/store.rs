//! The DA node's embedded store (redb): per height, the header and the blobs included there,
//! as the JSON celestia-node serves, written in one transaction per DA block. Heights without
//! blobs keep only their header, and those headers are dropped once past the retention window.

use celestia_types::{Blob, ExtendedHeader};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use std::path::Path;

const HEADERS: TableDefinition<u64, &[u8]> = TableDefinition::new("headers");
const BLOBS: TableDefinition<u64, &[u8]> = TableDefinition::new("blobs");
/// Single values: how far empty heights were pruned.
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const PRUNED_TO: &str = "pruned_to";

#[derive(Debug, thiserror::Error)]
#[error("DA store: {0}")]
pub struct StoreError(String);

pub(crate) fn err(e: impl std::fmt::Display) -> StoreError {
    StoreError(e.to_string())
}

pub struct Store {
    db: Database,
}

impl Store {
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| StoreError(format!("{}: {e}", dir.display())))?;
        let db = Database::create(dir.join("da.redb")).map_err(err)?;
        let txn = db.begin_write().map_err(err)?;
        txn.open_table(HEADERS).map_err(err)?;
        txn.open_table(BLOBS).map_err(err)?;
        txn.open_table(META).map_err(err)?;
        txn.commit().map_err(err)?;
        Ok(Store { db })
    }

    /// Writes one DA block durably.
    pub fn put(&self, header: &ExtendedHeader, blobs: &[Blob]) -> Result<(), StoreError> {
        let height = header.height();
        let header_json = serde_json::to_vec(header).map_err(err)?;
        let blobs_json = serde_json::to_vec(blobs).map_err(err)?;
        let txn = self.db.begin_write().map_err(err)?;
        txn.open_table(HEADERS).map_err(err)?.insert(height, header_json.as_slice()).map_err(err)?;
        if !blobs.is_empty() {
            txn.open_table(BLOBS).map_err(err)?.insert(height, blobs_json.as_slice()).map_err(err)?;
        }
        txn.commit().map_err(err)
    }

    /// Drops the headers of heights below `before` that hold no blobs (in one transaction);
    /// returns how many went. Heights with blobs are kept whatever their age.
    pub fn prune_empty(&self, before: u64) -> Result<u64, StoreError> {
        let txn = self.db.begin_write().map_err(err)?;
        let mut dropped = 0;
        {
            let mut meta = txn.open_table(META).map_err(err)?;
            let from = meta.get(PRUNED_TO).map_err(err)?.map_or(1, |v| v.value());
            if from >= before {
                return Ok(0);
            }
            let mut blobs = txn.open_table(BLOBS).map_err(err)?;
            let mut headers = txn.open_table(HEADERS).map_err(err)?;
            for height in from..before {
                // Stores written before empty heights were left out hold `[]` for them.
                let empty = blobs.get(height).map_err(err)?.is_none_or(|b| b.value() == b"[]");
                if empty {
                    blobs.remove(height).map_err(err)?;
                    if headers.remove(height).map_err(err)?.is_some() {
                        dropped += 1;
                    }
                }
            }
            meta.insert(PRUNED_TO, before).map_err(err)?;
        }
        txn.commit().map_err(err)?;
        Ok(dropped)
    }

    /// Whether `height` is below what [`Self::prune_empty`] went through: a missing header
    /// there was an empty height's.
    pub fn pruned(&self, height: u64) -> Result<bool, StoreError> {
        let txn = self.db.begin_read().map_err(err)?;
        let meta = txn.open_table(META).map_err(err)?;
        Ok(meta.get(PRUNED_TO).map_err(err)?.is_some_and(|v| height < v.value()))
    }

    pub fn header(&self, height: u64) -> Result<Option<ExtendedHeader>, StoreError> {
        let txn = self.db.begin_read().map_err(err)?;
        let table = txn.open_table(HEADERS).map_err(err)?;
        let Some(bytes) = table.get(height).map_err(err)? else { return Ok(None) };
        serde_json::from_slice(bytes.value()).map(Some).map_err(err)
    }

    pub fn blobs(&self, height: u64) -> Result<Vec<Blob>, StoreError> {
        let txn = self.db.begin_read().map_err(err)?;
        let table = txn.open_table(BLOBS).map_err(err)?;
        let Some(bytes) = table.get(height).map_err(err)? else { return Ok(Vec::new()) };
        serde_json::from_slice(bytes.value()).map_err(err)
    }

    /// The highest stored header.
    pub fn head(&self) -> Result<Option<ExtendedHeader>, StoreError> {
        let txn = self.db.begin_read().map_err(err)?;
        let table = txn.open_table(HEADERS).map_err(err)?;
        let Some((_, bytes)) = table.last().map_err(err)? else { return Ok(None) };
        serde_json::from_slice(bytes.value()).map(Some).map_err(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use celestia_types::nmt::Namespace;
    use celestia_types::test_utils::ExtendedHeaderGenerator;

    #[test]
    fn empty_heights_past_the_window_lose_their_headers_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut headers = ExtendedHeaderGenerator::new();
        let blob = Blob::new(Namespace::new_v0(b"test").unwrap(), b"batch".to_vec(), None).unwrap();
        for height in 1..=10u64 {
            let blobs = if height == 3 || height == 7 { vec![blob.clone()] } else { Vec::new() };
            store.put(&headers.next_empty(), &blobs).unwrap();
        }
        // Stores from before empty heights were left out hold `[]` for them.
        let txn = store.db.begin_write().unwrap();
        txn.open_table(BLOBS).unwrap().insert(4, b"[]".as_slice()).unwrap();
        txn.commit().unwrap();
        assert_eq!(store.prune_empty(8).unwrap(), 5, "1, 2, 4, 5 and 6");
        assert!(store.blobs(4).unwrap().is_empty());
        for height in 1..=10u64 {
            let kept = store.header(height).unwrap().is_some();
            assert_eq!(kept, [3, 7, 8, 9, 10].contains(&height), "height {height}");
            assert_eq!(store.pruned(height).unwrap(), height < 8, "height {height}");
        }
        assert_eq!(store.blobs(3).unwrap(), vec![blob.clone()]);
        assert_eq!(store.blobs(7).unwrap(), vec![blob]);
        assert_eq!(store.prune_empty(8).unwrap(), 0, "nothing twice");
        assert_eq!(store.head().unwrap().map(|h| h.height()), Some(10));
    }
}
