//! The Redis store. Reservations and status changes are single Lua scripts or MULTI blocks, so
//! replicas sharing one Redis see them atomically.

use super::{Claim, ClaimStatus, Reservation, ReserveRequest, StoreError};
use redis::aio::ConnectionManager;
use redis::{AsyncCommands, Script};

const RESERVE: &str = r#"
-- KEYS: address key, ip key, hour counter, claim key, queue, queue sequence.
-- ARGV: claim id, cooldown seconds, claims per hour (0: any), claim JSON.
if redis.call('EXISTS', KEYS[1]) == 1 then return {1, redis.call('TTL', KEYS[1])} end
if redis.call('EXISTS', KEYS[2]) == 1 then return {2, redis.call('TTL', KEYS[2])} end
local cap = tonumber(ARGV[3])
if cap > 0 and tonumber(redis.call('GET', KEYS[3]) or '0') >= cap then return {3, redis.call('TTL', KEYS[3])} end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
redis.call('SET', KEYS[2], ARGV[1], 'EX', ARGV[2])
if cap > 0 then
  redis.call('INCR', KEYS[3])
  redis.call('EXPIRE', KEYS[3], 3600)
end
redis.call('SET', KEYS[4], ARGV[4])
redis.call('ZADD', KEYS[5], redis.call('INCR', KEYS[6]), ARGV[1])
return {0, 0}
"#;

const RELEASE: &str = r#"
-- Deletes only the keys this claim set.
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
if redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('DEL', KEYS[2]) end
if tonumber(ARGV[2]) > 0 and tonumber(redis.call('GET', KEYS[3]) or '0') > 0 then redis.call('DECR', KEYS[3]) end
return 0
"#;

const QUEUED: &str = "faucet:queued";
const PENDING: &str = "faucet:pending";
const SEQ: &str = "faucet:seq";

fn claim_key(id: &str) -> String {
    format!("faucet:claim:{id}")
}

fn tx_key(hash: &str) -> String {
    format!("faucet:tx:{}", hash.to_lowercase())
}

fn reservation_keys(request: &ReserveRequest<'_>) -> [String; 3] {
    let hour = super::now_secs() / 3600;
    [
        format!("faucet:cooldown:address:{:#x}", request.address),
        format!("faucet:cooldown:ip:{}", request.ip),
        format!("faucet:hour:{hour}"),
    ]
}

pub struct RedisStore {
    conn: ConnectionManager,
    reserve: Script,
    release: Script,
    /// Seconds a finished claim and a transaction's index entry are kept (key expiry).
    retain_secs: u64,
}

impl RedisStore {
    pub async fn connect(url: &str, retain_secs: u64) -> Result<Self, StoreError> {
        let client = redis::Client::open(url)?;
        let conn = ConnectionManager::new(client).await?;
        Ok(Self { conn, reserve: Script::new(RESERVE), release: Script::new(RELEASE), retain_secs: retain_secs.max(1) })
    }

    /// Reserves, and on success stores and queues the claim, in one script.
    pub async fn reserve(&self, request: &ReserveRequest<'_>, claim: &Claim) -> Result<Reservation, StoreError> {
        let keys = reservation_keys(request);
        let (code, ttl): (i64, i64) = self
            .reserve
            .key(&keys[0])
            .key(&keys[1])
            .key(&keys[2])
            .key(claim_key(&claim.id))
            .key(QUEUED)
            .key(SEQ)
            .arg(request.claim_id)
            .arg(request.cooldown_secs)
            .arg(request.hourly_claims)
            .arg(serde_json::to_string(claim)?)
            .invoke_async(&mut self.conn.clone())
            .await?;
        let retry_after = ttl.max(1) as u64;
        Ok(match code {
            0 => Reservation::Granted,
            1 => Reservation::AddressCooling { retry_after },
            2 => Reservation::IpCooling { retry_after },
            _ => Reservation::HourlyCapReached { retry_after },
        })
    }

    pub async fn release(&self, request: &ReserveRequest<'_>) -> Result<(), StoreError> {
        let keys = reservation_keys(request);
        let _: i64 = self
            .release
            .key(&keys[0])
            .key(&keys[1])
            .key(&keys[2])
            .arg(request.claim_id)
            .arg(request.hourly_claims)
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(())
    }

    /// Stores claims in one atomic pipeline, keeping the queue and indexes in step.
    pub async fn save_all(&self, claims: &[Claim]) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let mut pipe = redis::pipe();
        pipe.atomic();
        for claim in claims {
            let json = serde_json::to_string(claim)?;
            // A finished claim expires after the retention; one still moving is kept.
            if claim.is_finished() {
                pipe.set_ex(claim_key(&claim.id), json, self.retain_secs);
            } else {
                pipe.set(claim_key(&claim.id), json);
            }
            match &claim.status {
                ClaimStatus::Queued => {
                    let seq: u64 = conn.incr(SEQ, 1).await?;
                    pipe.zadd(QUEUED, &claim.id, seq);
                }
                ClaimStatus::Pending { tx_hash, .. } => {
                    pipe.zrem(QUEUED, &claim.id).sadd(PENDING, &claim.id).set_ex(tx_key(&tx_hash.to_string()), &claim.id, self.retain_secs);
                }
                ClaimStatus::Confirmed { tx_hash, .. } => {
                    // The index entry of the hash that was mined lasts as long as the claim.
                    pipe.zrem(QUEUED, &claim.id).srem(PENDING, &claim.id).expire(tx_key(&tx_hash.to_string()), self.retain_secs as i64);
                }
                ClaimStatus::Failed { .. } => {
                    pipe.zrem(QUEUED, &claim.id).srem(PENDING, &claim.id);
                }
            }
        }
        pipe.query_async::<()>(&mut conn).await?;
        Ok(())
    }

    async fn load(&self, ids: Vec<String>) -> Result<Vec<Claim>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = ids.iter().map(|id| claim_key(id)).collect();
        let values: Vec<Option<String>> = self.conn.clone().mget(keys).await?;
        values.into_iter().flatten().map(|v| serde_json::from_str(&v).map_err(StoreError::from)).collect()
    }

    pub async fn queued(&self, limit: usize) -> Result<Vec<Claim>, StoreError> {
        let ids: Vec<String> = self.conn.clone().zrange(QUEUED, 0, limit as isize - 1).await?;
        self.load(ids).await
    }

    pub async fn pending(&self) -> Result<Vec<Claim>, StoreError> {
        let ids: Vec<String> = self.conn.clone().smembers(PENDING).await?;
        self.load(ids).await
    }

    pub async fn get(&self, key: &str) -> Result<Option<Claim>, StoreError> {
        let mut conn = self.conn.clone();
        let id: Option<String> = if key.starts_with("0x") { conn.get(tx_key(key)).await? } else { Some(key.to_string()) };
        let Some(id) = id else { return Ok(None) };
        Ok(self.load(vec![id]).await?.pop())
    }

    pub async fn queue_depth(&self) -> Result<u64, StoreError> {
        Ok(self.conn.clone().zcard(QUEUED).await?)
    }
}
