//! The sponsorship budget: per sender, gas per UTC day; all senders together, gwei per UTC day.
//! A charge checks both and records both in one atomic step (a redb write transaction, or one
//! Lua script on Redis, which replicas share), so concurrent requests can never overspend, and
//! the counters survive restarts. Days older than yesterday are forgotten.

use alloy_primitives::Address;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use redis::Script;
use redis::aio::ConnectionManager;
use std::path::Path;
use std::sync::Arc;

/// "day:sender" or "day:*" -> used
const USED: TableDefinition<&str, u64> = TableDefinition::new("used");

const CHARGE: &str = r#"
-- KEYS: the sender's counter, the global counter. ARGV: gas, gas cap, gwei, gwei cap, ttl.
local gas = tonumber(redis.call('GET', KEYS[1]) or '0')
local gwei = tonumber(redis.call('GET', KEYS[2]) or '0')
if gas + tonumber(ARGV[1]) > tonumber(ARGV[2]) then return 1 end
if gwei + tonumber(ARGV[3]) > tonumber(ARGV[4]) then return 2 end
redis.call('INCRBY', KEYS[1], ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[5])
redis.call('INCRBY', KEYS[2], ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[5])
return 0
"#;

#[derive(Debug, thiserror::Error)]
pub enum BudgetError {
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("budget store: {0}")]
    Embedded(String),
}

impl From<redb::Error> for BudgetError {
    fn from(e: redb::Error) -> Self {
        BudgetError::Embedded(e.to_string())
    }
}

fn err(e: impl Into<redb::Error>) -> BudgetError {
    BudgetError::from(e.into())
}

/// What a charge found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Charge {
    Granted,
    SenderSpent,
    GlobalSpent,
}

#[derive(Debug, Clone, Copy)]
pub struct Caps {
    pub sender_gas: u64,
    pub global_gwei: u64,
}

pub enum Budget {
    Embedded(Arc<Database>),
    Redis { conn: ConnectionManager, prefix: String, script: Script },
}

fn keys(day: u64, sender: Address) -> (String, String) {
    (format!("{day}:{sender:#x}"), format!("{day}:*"))
}

impl Budget {
    pub fn open_embedded(path: &Path) -> Result<Self, BudgetError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| BudgetError::Embedded(format!("{}: {e}", dir.display())))?;
        }
        let db = Database::create(path).map_err(err)?;
        let txn = db.begin_write().map_err(err)?;
        txn.open_table(USED).map_err(err)?;
        txn.commit().map_err(err)?;
        Ok(Budget::Embedded(Arc::new(db)))
    }

    pub async fn connect_redis(url: &str, namespace: &str) -> Result<Self, BudgetError> {
        let conn = ConnectionManager::new(redis::Client::open(url)?).await?;
        Ok(Budget::Redis { conn, prefix: format!("paymaster:{namespace}:"), script: Script::new(CHARGE) })
    }

    /// Charges `gas` to `sender` and `gwei` to everyone for `day`, if both stay within `caps`.
    pub async fn charge(&self, day: u64, sender: Address, gas: u64, gwei: u64, caps: Caps) -> Result<Charge, BudgetError> {
        let (sender_key, global_key) = keys(day, sender);
        match self {
            Budget::Embedded(db) => {
                let db = db.clone();
                tokio::task::spawn_blocking(move || {
                    let txn = db.begin_write().map_err(err)?;
                    let outcome = {
                        let mut used = txn.open_table(USED).map_err(err)?;
                        let sender_used = used.get(sender_key.as_str()).map_err(err)?.map_or(0, |v| v.value());
                        let global_used = used.get(global_key.as_str()).map_err(err)?.map_or(0, |v| v.value());
                        if sender_used.saturating_add(gas) > caps.sender_gas {
                            Charge::SenderSpent
                        } else if global_used.saturating_add(gwei) > caps.global_gwei {
                            Charge::GlobalSpent
                        } else {
                            used.insert(sender_key.as_str(), sender_used + gas).map_err(err)?;
                            used.insert(global_key.as_str(), global_used + gwei).map_err(err)?;
                            // Yesterday stays for reporting; older days go.
                            let old: Vec<String> = used
                                .iter()
                                .map_err(err)?
                                .filter_map(|e| e.ok().map(|(k, _)| k.value().to_string()))
                                .filter(|k| k.split(':').next().and_then(|d| d.parse::<u64>().ok()).is_some_and(|d| d + 1 < day))
                                .collect();
                            for key in old {
                                used.remove(key.as_str()).map_err(err)?;
                            }
                            Charge::Granted
                        }
                    };
                    txn.commit().map_err(err)?;
                    Ok(outcome)
                })
                .await
                .map_err(|e| BudgetError::Embedded(format!("budget task: {e}")))?
            }
            Budget::Redis { conn, prefix, script } => {
                let code: i64 = script
                    .key(format!("{prefix}{sender_key}"))
                    .key(format!("{prefix}{global_key}"))
                    .arg(gas)
                    .arg(caps.sender_gas)
                    .arg(gwei)
                    .arg(caps.global_gwei)
                    .arg(2 * 86_400)
                    .invoke_async(&mut conn.clone())
                    .await?;
                Ok(match code {
                    0 => Charge::Granted,
                    1 => Charge::SenderSpent,
                    _ => Charge::GlobalSpent,
                })
            }
        }
    }

    /// Gwei spent today by everyone.
    pub async fn spent_today(&self, day: u64) -> Result<u64, BudgetError> {
        let key = format!("{day}:*");
        match self {
            Budget::Embedded(db) => {
                let txn = db.begin_read().map_err(err)?;
                let used = txn.open_table(USED).map_err(err)?;
                Ok(used.get(key.as_str()).map_err(err)?.map_or(0, |v| v.value()))
            }
            Budget::Redis { conn, prefix, .. } => {
                let value: Option<u64> = redis::AsyncCommands::get(&mut conn.clone(), format!("{prefix}{key}")).await?;
                Ok(value.unwrap_or(0))
            }
        }
    }
}
