//! The embedded journal (redb). Commits run on the blocking pool so no async worker waits on
//! the disk.

use super::JournalError;
use crate::{Record, now_secs};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// key -> record JSON
const RECORDS: TableDefinition<&str, &[u8]> = TableDefinition::new("records");
/// "mined_nonce" -> the highest nonce of a record seen mined (kept through pruning)
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
/// keys of records still pending
const PENDING: TableDefinition<&str, ()> = TableDefinition::new("pending");
/// (finished at, key) of finished records, for retention
const FINISHED: TableDefinition<(u64, &str), ()> = TableDefinition::new("finished");

const MINED_NONCE: &str = "mined_nonce";

fn err(e: impl Into<redb::Error>) -> JournalError {
    JournalError::from(e.into())
}

pub struct EmbeddedJournal {
    db: Arc<Database>,
}

impl EmbeddedJournal {
    pub fn open(path: &Path) -> Result<Self, JournalError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| JournalError::Embedded(format!("{}: {e}", dir.display())))?;
        }
        let db = Database::create(path).map_err(err)?;
        let txn = db.begin_write().map_err(err)?;
        txn.open_table(RECORDS).map_err(err)?;
        txn.open_table(PENDING).map_err(err)?;
        txn.open_table(FINISHED).map_err(err)?;
        txn.open_table(META).map_err(err)?;
        txn.commit().map_err(err)?;
        Ok(Self { db: Arc::new(db) })
    }

    pub async fn put(&self, records: &[Record]) -> Result<(), JournalError> {
        let encoded: Vec<(String, Vec<u8>, bool)> = records
            .iter()
            .map(|r| Ok((r.key.clone(), serde_json::to_vec(r)?, r.state.is_final())))
            .collect::<Result<_, serde_json::Error>>()?;
        let mined = super::highest_mined(records);
        let db = self.db.clone();
        let now = now_secs();
        run_blocking(move || {
            let txn = db.begin_write().map_err(err)?;
            {
                if let Some(nonce) = mined {
                    let mut meta = txn.open_table(META).map_err(err)?;
                    let seen = meta.get(MINED_NONCE).map_err(err)?.map(|v| v.value());
                    if seen.is_none_or(|n| n < nonce) {
                        meta.insert(MINED_NONCE, nonce).map_err(err)?;
                    }
                }
                let mut table = txn.open_table(RECORDS).map_err(err)?;
                let mut pending = txn.open_table(PENDING).map_err(err)?;
                let mut finished = txn.open_table(FINISHED).map_err(err)?;
                for (key, json, is_final) in &encoded {
                    table.insert(key.as_str(), json.as_slice()).map_err(err)?;
                    if *is_final {
                        if pending.remove(key.as_str()).map_err(err)?.is_some() {
                            finished.insert((now, key.as_str()), ()).map_err(err)?;
                        }
                    } else {
                        pending.insert(key.as_str(), ()).map_err(err)?;
                    }
                }
            }
            txn.commit().map_err(err)
        })
        .await
    }

    pub fn get(&self, key: &str) -> Result<Option<Record>, JournalError> {
        let txn = self.db.begin_read().map_err(err)?;
        let table = txn.open_table(RECORDS).map_err(err)?;
        let Some(raw) = table.get(key).map_err(err)? else { return Ok(None) };
        Ok(Some(serde_json::from_slice(raw.value())?))
    }

    pub fn mined_nonce(&self) -> Result<Option<u64>, JournalError> {
        let txn = self.db.begin_read().map_err(err)?;
        let meta = txn.open_table(META).map_err(err)?;
        Ok(meta.get(MINED_NONCE).map_err(err)?.map(|v| v.value()))
    }

    pub fn pending(&self) -> Result<Vec<Record>, JournalError> {
        let txn = self.db.begin_read().map_err(err)?;
        let pending = txn.open_table(PENDING).map_err(err)?;
        let table = txn.open_table(RECORDS).map_err(err)?;
        let mut out = Vec::new();
        for entry in pending.iter().map_err(err)? {
            let (key, _) = entry.map_err(err)?;
            if let Some(raw) = table.get(key.value()).map_err(err)? {
                out.push(serde_json::from_slice(raw.value())?);
            }
        }
        Ok(out)
    }

    pub async fn prune(&self, retention: Duration) -> Result<usize, JournalError> {
        let db = self.db.clone();
        let cutoff = now_secs().saturating_sub(retention.as_secs());
        run_blocking(move || {
            let txn = db.begin_write().map_err(err)?;
            let mut removed = 0;
            {
                let mut table = txn.open_table(RECORDS).map_err(err)?;
                let mut finished = txn.open_table(FINISHED).map_err(err)?;
                let old: Vec<(u64, String)> = finished
                    .range((0, "")..(cutoff, ""))
                    .map_err(err)?
                    .map(|e| e.map(|(k, _)| (k.value().0, k.value().1.to_string())).map_err(err))
                    .collect::<Result<_, _>>()?;
                for (at, key) in old {
                    finished.remove((at, key.as_str())).map_err(err)?;
                    table.remove(key.as_str()).map_err(err)?;
                    removed += 1;
                }
            }
            txn.commit().map_err(err)?;
            Ok(removed)
        })
        .await
    }
}

async fn run_blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T, JournalError> + Send + 'static) -> Result<T, JournalError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| JournalError::Embedded(format!("journal task: {e}")))?
}
