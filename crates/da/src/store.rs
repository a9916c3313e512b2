//! The DA node's embedded store (redb): per height, the header and the blobs included there,
//! as the JSON celestia-node serves, written in one transaction per DA block.

use celestia_types::{Blob, ExtendedHeader};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use std::path::Path;

const HEADERS: TableDefinition<u64, &[u8]> = TableDefinition::new("headers");
const BLOBS: TableDefinition<u64, &[u8]> = TableDefinition::new("blobs");

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
        txn.open_table(BLOBS).map_err(err)?.insert(height, blobs_json.as_slice()).map_err(err)?;
        txn.commit().map_err(err)
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
