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
        let mut conn = ConnectionManager::new(client).await?;
        let prefix = format!("sender:{chain_tag}:{signer:#x}:");
        adopt_legacy_keys(&mut conn, &format!("sender:{signer:#x}:"), &prefix).await?;
        Ok(Self { conn, prefix, retention, lead: Script::new(LEAD), raise: Script::new(RAISE) })
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

/// Keys from before they were kept per chain (the journal's `sender:<address>:`, the
/// bundler's store) move under the chain's prefix, so an upgrade keeps what was pending; only
/// while nothing is under the new prefix yet, so two layouts are never mixed. A lease is not
/// moved: stop the old processes before the new ones start. Journals that old carry no mined
/// nonce, so the foreign-chain check cannot judge them.
pub async fn adopt_legacy_keys(conn: &mut ConnectionManager, legacy: &str, prefix: &str) -> Result<(), JournalError> {
    if !scan(conn, prefix).await?.is_empty() {
        return Ok(());
    }
    let mut moved = 0usize;
    for key in scan(conn, legacy).await?.iter().filter(|k| !k.ends_with(":leader")) {
        // Another process adopting at the same moment may have moved it already.
        match conn.rename_nx::<_, _, bool>(key.as_str(), format!("{prefix}{}", &key[legacy.len()..])).await {
            Ok(renamed) => moved += usize::from(renamed),
            Err(e) if e.to_string().contains("no such key") => {}
            Err(e) => return Err(e.into()),
        }
    }
    if moved > 0 {
        tracing::info!(from = legacy, to = prefix, keys = moved, "adopted the keys kept before they were per chain");
    }
    Ok(())
}

/// The keys under `prefix`, once each.
async fn scan(conn: &mut ConnectionManager, prefix: &str) -> Result<std::collections::BTreeSet<String>, JournalError> {
    // Large pages: the keyspace holds every other service's keys too.
    let mut scan = redis::cmd("SCAN");
    scan.cursor_arg(0).arg("MATCH").arg(format!("{prefix}*")).arg("COUNT").arg(10_000);
    let mut iter: redis::AsyncIter<String> = scan.iter_async(conn).await?;
    let mut keys = std::collections::BTreeSet::new();
    while let Some(key) = iter.next_item().await {
        keys.insert(key?);
    }
    Ok(keys)
}
