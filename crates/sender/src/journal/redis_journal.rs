//! The Redis journal: replicas that share a key share its journal and a signing lease. Records
//! and the pending set change together in MULTI blocks; finished records expire.

use super::JournalError;
use crate::Record;
use alloy_primitives::Address;
use redis::aio::ConnectionManager;
use redis::{AsyncCommands, Script};
use std::time::Duration;

const LEAD: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
return 0
"#;

/// Raises a counter, never lowers it.
const RAISE: &str = r#"
local seen = redis.call('GET', KEYS[1])
if not seen or tonumber(ARGV[1]) > tonumber(seen) then redis.call('SET', KEYS[1], ARGV[1]) end
return 1
"#;

pub struct RedisJournal {
    conn: ConnectionManager,
    /// `sender:<chain tag>:<address>:`: one journal per chain and signing key.
    prefix: String,
    retention: Duration,
    lead: Script,
    raise: Script,
}

impl RedisJournal {
    pub async fn connect(url: &str, chain_tag: &str, signer: Address, retention: Duration) -> Result<Self, JournalError> {
        let client = redis::Client::open(url)?;
        let conn = ConnectionManager::new(client).await?;
        Ok(Self { conn, prefix: format!("sender:{chain_tag}:{signer:#x}:"), retention, lead: Script::new(LEAD), raise: Script::new(RAISE) })
    }

    fn record_key(&self, key: &str) -> String {
        format!("{}record:{key}", self.prefix)
    }

    fn mined_nonce_key(&self) -> String {
        format!("{}mined_nonce", self.prefix)
    }

    fn pending_key(&self) -> String {
        format!("{}pending", self.prefix)
    }

    pub async fn put(&self, records: &[Record]) -> Result<(), JournalError> {
        let mut pipe = redis::pipe();
        pipe.atomic();
        for record in records {
            let json = serde_json::to_string(record)?;
            if record.state.is_final() {
                pipe.set_ex(self.record_key(&record.key), json, self.retention.as_secs().max(1)).srem(self.pending_key(), &record.key);
            } else {
                pipe.set(self.record_key(&record.key), json).sadd(self.pending_key(), &record.key);
            }
        }
        pipe.query_async::<()>(&mut self.conn.clone()).await?;
        // After the records: the mark may lag them after a crash, never run ahead of the chain.
        if let Some(nonce) = super::highest_mined(records) {
            self.raise.key(self.mined_nonce_key()).arg(nonce).invoke_async::<()>(&mut self.conn.clone()).await?;
        }
        Ok(())
    }

    pub async fn mined_nonce(&self) -> Result<Option<u64>, JournalError> {
        Ok(self.conn.clone().get(self.mined_nonce_key()).await?)
    }

    pub async fn get(&self, key: &str) -> Result<Option<Record>, JournalError> {
        let raw: Option<String> = self.conn.clone().get(self.record_key(key)).await?;
        raw.map(|r| serde_json::from_str(&r).map_err(JournalError::from)).transpose()
    }

    pub async fn pending(&self) -> Result<Vec<Record>, JournalError> {
        let mut conn = self.conn.clone();
        let keys: Vec<String> = conn.smembers(self.pending_key()).await?;
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let values: Vec<Option<String>> = conn.mget(keys.iter().map(|k| self.record_key(k)).collect::<Vec<_>>()).await?;
        values.into_iter().flatten().map(|v| serde_json::from_str(&v).map_err(JournalError::from)).collect()
    }

    pub async fn lead(&self, me: &str, ttl: Duration) -> Result<bool, JournalError> {
        let key = format!("{}leader", self.prefix);
        let held: i64 = self.lead.key(key).arg(me).arg(ttl.as_millis() as u64).invoke_async(&mut self.conn.clone()).await?;
        Ok(held == 1)
    }
}
