//! Where the bundler keeps what must survive a restart: the mempool, bundles in flight, the
//! reputation table and the index of included operations. An embedded redb file for one
//! process; Redis (one hash per table) where REDIS_URL is given, so a standby replica takes over
//! from the same state. Several writes go in one atomic, durable step.

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use std::path::Path;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("embedded store: {0}")]
    Embedded(String),
    #[error("corrupt record in {table}: {source}")]
    Corrupt { table: &'static str, source: serde_json::Error },
    #[error("adopting the store kept before it was per chain: {0}")]
    Legacy(#[from] ande_sender::JournalError),
}

impl From<redb::Error> for StoreError {
    fn from(e: redb::Error) -> Self {
        StoreError::Embedded(e.to_string())
    }
}

fn err(e: impl Into<redb::Error>) -> StoreError {
    StoreError::from(e.into())
}

/// The tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    /// Operation hash -> mempool entry.
    Ops,
    /// Bundle key -> the operations it carries.
    Bundles,
    /// Operation hash -> where it was included.
    Included,
    /// Single values: the reputation table, the index cursor.
    Meta,
}

impl Table {
    const ALL: [Table; 4] = [Table::Ops, Table::Bundles, Table::Included, Table::Meta];

    pub fn name(self) -> &'static str {
        match self {
            Table::Ops => "ops",
            Table::Bundles => "bundles",
            Table::Included => "included",
            Table::Meta => "meta",
        }
    }

    fn definition(self) -> TableDefinition<'static, &'static str, &'static [u8]> {
        TableDefinition::new(self.name())
    }
}

/// One change of a write.
#[derive(Debug, Clone)]
pub enum Change {
    Put(Table, String, Vec<u8>),
    Delete(Table, String),
}

impl Change {
    pub fn put(table: Table, key: impl Into<String>, value: &impl serde::Serialize) -> Self {
        // Serialising our own types into JSON cannot fail (no maps with non-string keys).
        Change::Put(table, key.into(), serde_json::to_vec(value).unwrap_or_default())
    }
}

pub enum Store {
    Embedded(Arc<Database>),
    Redis { conn: ConnectionManager, prefix: String },
}

impl Store {
    pub fn open_embedded(path: &Path) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::Embedded(format!("{}: {e}", dir.display())))?;
        }
        let db = Database::create(path).map_err(err)?;
        let txn = db.begin_write().map_err(err)?;
        for table in Table::ALL {
            txn.open_table(table.definition()).map_err(err)?;
        }
        txn.commit().map_err(err)?;
        Ok(Store::Embedded(Arc::new(db)))
    }

    /// `namespace` keeps bundlers of different chains or keys apart on one Redis; what was
    /// kept under `legacy` (before namespaces named the chain's genesis) moves into it.
    pub async fn connect_redis(url: &str, namespace: &str, legacy: &str) -> Result<Self, StoreError> {
        let mut conn = ConnectionManager::new(redis::Client::open(url)?).await?;
        let prefix = format!("bundler:{namespace}:");
        ande_sender::adopt_legacy_keys(&mut conn, &format!("bundler:{legacy}:"), &prefix).await?;
        Ok(Store::Redis { conn, prefix })
    }

    /// Applies the changes in one atomic, durable step.
    pub async fn write(&self, changes: Vec<Change>) -> Result<(), StoreError> {
        if changes.is_empty() {
            return Ok(());
        }
        match self {
            Store::Embedded(db) => {
                let db = db.clone();
                tokio::task::spawn_blocking(move || {
                    let txn = db.begin_write().map_err(err)?;
                    for change in &changes {
                        match change {
                            Change::Put(table, key, value) => {
                                txn.open_table(table.definition()).map_err(err)?.insert(key.as_str(), value.as_slice()).map_err(err)?;
                            }
                            Change::Delete(table, key) => {
                                txn.open_table(table.definition()).map_err(err)?.remove(key.as_str()).map_err(err)?;
                            }
                        }
                    }
                    txn.commit().map_err(err)
                })
                .await
                .map_err(|e| StoreError::Embedded(format!("store task: {e}")))?
            }
            Store::Redis { conn, prefix } => {
                let mut pipe = redis::pipe();
                pipe.atomic();
                for change in changes {
                    match change {
                        Change::Put(table, key, value) => pipe.hset(format!("{prefix}{}", table.name()), key, value),
                        Change::Delete(table, key) => pipe.hdel(format!("{prefix}{}", table.name()), key),
                    };
                }
                pipe.query_async::<()>(&mut conn.clone()).await?;
                Ok(())
            }
        }
    }

    pub async fn get<T: serde::de::DeserializeOwned>(&self, table: Table, key: &str) -> Result<Option<T>, StoreError> {
        let raw: Option<Vec<u8>> = match self {
            Store::Embedded(db) => {
                let txn = db.begin_read().map_err(err)?;
                let t = txn.open_table(table.definition()).map_err(err)?;
                t.get(key).map_err(err)?.map(|v| v.value().to_vec())
            }
            Store::Redis { conn, prefix } => conn.clone().hget(format!("{prefix}{}", table.name()), key).await?,
        };
        raw.map(|r| serde_json::from_slice(&r).map_err(|source| StoreError::Corrupt { table: table.name(), source })).transpose()
    }

    /// Every record of a table.
    pub async fn all<T: serde::de::DeserializeOwned>(&self, table: Table) -> Result<Vec<(String, T)>, StoreError> {
        let raw: Vec<(String, Vec<u8>)> = match self {
            Store::Embedded(db) => {
                let txn = db.begin_read().map_err(err)?;
                let t = txn.open_table(table.definition()).map_err(err)?;
                t.iter().map_err(err)?.map(|e| e.map(|(k, v)| (k.value().to_string(), v.value().to_vec())).map_err(err)).collect::<Result<_, _>>()?
            }
            Store::Redis { conn, prefix } => conn.clone().hgetall(format!("{prefix}{}", table.name())).await?,
        };
        raw.into_iter()
            .map(|(k, v)| serde_json::from_slice(&v).map(|v| (k, v)).map_err(|source| StoreError::Corrupt { table: table.name(), source }))
            .collect()
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Store::Embedded(_) => "embedded",
            Store::Redis { .. } => "redis",
        }
    }
}
