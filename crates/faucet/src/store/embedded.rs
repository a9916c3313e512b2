//! The embedded store (redb) for a single faucet process. Writes go through one writer thread
//! that commits every write waiting at that moment in one durable transaction (group commit):
//! a hundred concurrent claims share an fsync instead of queueing for one each, and no async
//! worker ever blocks on the disk.

use super::{Claim, ClaimStatus, Reservation, ReserveRequest, StoreError, Swept, now_secs};
use redb::{Database, MultimapTableDefinition, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition, WriteTransaction};
use std::path::Path;
use std::sync::{Arc, mpsc};
use tokio::sync::oneshot;

/// key -> expiry (unix seconds, 8 bytes) | claim id
const COOLDOWNS: TableDefinition<&str, &[u8]> = TableDefinition::new("cooldowns");
/// hour -> claims reserved in it
const HOURS: TableDefinition<u64, u64> = TableDefinition::new("hours");
const CLAIMS: TableDefinition<&str, &[u8]> = TableDefinition::new("claims");
/// sequence -> claim id, in arrival order
const QUEUED: TableDefinition<u64, &str> = TableDefinition::new("queued");
/// claim id -> its queue sequence
const QUEUED_AT: TableDefinition<&str, u64> = TableDefinition::new("queued_at");
const PENDING: TableDefinition<&str, ()> = TableDefinition::new("pending");
const BY_TX: TableDefinition<&str, &str> = TableDefinition::new("by_tx");
/// claim id -> every transaction hash it was sent under (fee bumps add one each)
const TXS_OF: MultimapTableDefinition<&str, &str> = MultimapTableDefinition::new("txs_of");
/// (when it was confirmed or failed, claim id): what the retention sweep removes, oldest first
const FINISHED: TableDefinition<(u64, &str), ()> = TableDefinition::new("finished");

pub struct EmbeddedStore {
    db: Arc<Database>,
    writes: mpsc::Sender<Write>,
}

/// A reservation, owned so it can cross to the writer thread.
struct Ask {
    keys: [String; 2],
    claim_id: String,
    cooldown_secs: u64,
    hourly_claims: u64,
}

enum Write {
    Reserve { ask: Ask, claim: Box<Claim>, reply: oneshot::Sender<Result<Reservation, StoreError>> },
    Save { claims: Vec<Claim>, reply: oneshot::Sender<Result<(), StoreError>> },
}

/// Writes committed together at most.
const GROUP: usize = 512;

fn err(e: impl Into<redb::Error>) -> StoreError {
    StoreError::from(e.into())
}

fn cooldown_keys(request: &ReserveRequest<'_>) -> [String; 2] {
    [format!("address:{:#x}", request.address), format!("ip:{}", request.ip)]
}

impl EmbeddedStore {
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::Embedded(format!("{}: {e}", dir.display())))?;
        let db = Database::create(dir.join("faucet.redb")).map_err(err)?;
        let txn = db.begin_write().map_err(err)?;
        {
            txn.open_table(COOLDOWNS).map_err(err)?;
            txn.open_table(HOURS).map_err(err)?;
            txn.open_table(CLAIMS).map_err(err)?;
            txn.open_table(QUEUED).map_err(err)?;
            txn.open_table(QUEUED_AT).map_err(err)?;
            txn.open_table(PENDING).map_err(err)?;
            txn.open_table(BY_TX).map_err(err)?;
            txn.open_multimap_table(TXS_OF).map_err(err)?;
            txn.open_table(FINISHED).map_err(err)?;
        }
        txn.commit().map_err(err)?;
        let db = Arc::new(db);
        let (writes, queue) = mpsc::channel();
        let writer_db = db.clone();
        std::thread::Builder::new()
            .name("faucet-store".into())
            .spawn(move || writer(&writer_db, &queue))
            .map_err(|e| StoreError::Embedded(format!("cannot start the store writer: {e}")))?;
        Ok(Self { db, writes })
    }

    fn submit(&self, write: Write) -> Result<(), StoreError> {
        self.writes.send(write).map_err(|_| StoreError::Embedded("the store writer stopped".into()))
    }

    pub async fn reserve(&self, request: &ReserveRequest<'_>, claim: &Claim) -> Result<Reservation, StoreError> {
        let ask = Ask {
            keys: cooldown_keys(request),
            claim_id: request.claim_id.to_string(),
            cooldown_secs: request.cooldown_secs,
            hourly_claims: request.hourly_claims,
        };
        let (reply, answer) = oneshot::channel();
        self.submit(Write::Reserve { ask, claim: Box::new(claim.clone()), reply })?;
        answer.await.map_err(|_| StoreError::Embedded("the store writer stopped".into()))?
    }

    pub fn release(&self, request: &ReserveRequest<'_>) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(err)?;
        {
            let mut cooldowns = txn.open_table(COOLDOWNS).map_err(err)?;
            for key in cooldown_keys(request) {
                let ours = cooldowns.get(key.as_str()).map_err(err)?.is_some_and(|v| &v.value()[8..] == request.claim_id.as_bytes());
                if ours {
                    cooldowns.remove(key.as_str()).map_err(err)?;
                }
            }
            let mut hours = txn.open_table(HOURS).map_err(err)?;
            let hour = now_secs() / 3600;
            let used = hours.get(hour).map_err(err)?.map_or(0, |v| v.value());
            if used > 0 {
                hours.insert(hour, used - 1).map_err(err)?;
            }
        }
        txn.commit().map_err(err)?;
        Ok(())
    }

    /// Removes what retention no longer needs, as of `now`: cooldowns that ran out, hourly
    /// counts of past hours, and claims confirmed or failed more than `retain_secs` ago with
    /// their transaction index.
    pub async fn sweep(&self, now: u64, retain_secs: u64) -> Result<Swept, StoreError> {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || sweep_in(&db, now, retain_secs)).await.map_err(|e| StoreError::Embedded(e.to_string()))?
    }

    /// Stores claims in one durable write.
    pub async fn save_all(&self, claims: &[Claim]) -> Result<(), StoreError> {
        let (reply, answer) = oneshot::channel();
        self.submit(Write::Save { claims: claims.to_vec(), reply })?;
        answer.await.map_err(|_| StoreError::Embedded("the store writer stopped".into()))?
    }

    fn load(&self, ids: impl IntoIterator<Item = String>) -> Result<Vec<Claim>, StoreError> {
        let txn = self.db.begin_read().map_err(err)?;
        let claims = txn.open_table(CLAIMS).map_err(err)?;
        let mut out = Vec::new();
        for id in ids {
            if let Some(raw) = claims.get(id.as_str()).map_err(err)? {
                out.push(serde_json::from_slice(raw.value())?);
            }
        }
        Ok(out)
    }

    pub fn queued(&self, limit: usize) -> Result<Vec<Claim>, StoreError> {
        let ids: Vec<String> = {
            let txn = self.db.begin_read().map_err(err)?;
            let queued = txn.open_table(QUEUED).map_err(err)?;
            queued.iter().map_err(err)?.take(limit).map(|e| e.map(|(_, id)| id.value().to_string()).map_err(err)).collect::<Result<_, _>>()?
        };
        self.load(ids)
    }

    pub fn pending(&self) -> Result<Vec<Claim>, StoreError> {
        let ids: Vec<String> = {
            let txn = self.db.begin_read().map_err(err)?;
            let pending = txn.open_table(PENDING).map_err(err)?;
            pending.iter().map_err(err)?.map(|e| e.map(|(id, _)| id.value().to_string()).map_err(err)).collect::<Result<_, _>>()?
        };
        self.load(ids)
    }

    pub fn get(&self, key: &str) -> Result<Option<Claim>, StoreError> {
        let id = if key.starts_with("0x") {
            let txn = self.db.begin_read().map_err(err)?;
            let by_tx = txn.open_table(BY_TX).map_err(err)?;
            let id = by_tx.get(key.to_lowercase().as_str()).map_err(err)?.map(|v| v.value().to_string());
            match id {
                Some(id) => id,
                None => return Ok(None),
            }
        } else {
            key.to_string()
        };
        Ok(self.load([id])?.pop())
    }

    pub fn queue_depth(&self) -> Result<u64, StoreError> {
        let txn = self.db.begin_read().map_err(err)?;
        txn.open_table(QUEUED).map_err(err)?.len().map_err(err)
    }
}

/// [`EmbeddedStore::sweep`] in one write transaction, off the async workers.
fn sweep_in(db: &Database, now: u64, retain_secs: u64) -> Result<Swept, StoreError> {
    let txn = db.begin_write().map_err(err)?;
    let mut swept = Swept::default();
    {
        let mut cooldowns = txn.open_table(COOLDOWNS).map_err(err)?;
        let ran_out: Vec<String> = cooldowns
            .iter()
            .map_err(err)?
            .filter_map(|e| e.ok())
            .filter(|(_, v)| v.value().get(..8).and_then(|b| b.try_into().ok()).is_none_or(|b| u64::from_be_bytes(b) <= now))
            .map(|(k, _)| k.value().to_string())
            .collect();
        for key in &ran_out {
            cooldowns.remove(key.as_str()).map_err(err)?;
        }
        swept.cooldowns = ran_out.len();
        let mut hours = txn.open_table(HOURS).map_err(err)?;
        hours.retain(|hour, _| hour >= now / 3600).map_err(err)?;
        let cutoff = now.saturating_sub(retain_secs);
        let mut finished = txn.open_table(FINISHED).map_err(err)?;
        let expired: Vec<(u64, String)> = finished
            .range(..(cutoff, ""))
            .map_err(err)?
            .map(|e| e.map(|(k, _)| (k.value().0, k.value().1.to_string())).map_err(err))
            .collect::<Result<_, _>>()?;
        let mut claims = txn.open_table(CLAIMS).map_err(err)?;
        let mut by_tx = txn.open_table(BY_TX).map_err(err)?;
        let mut txs_of = txn.open_multimap_table(TXS_OF).map_err(err)?;
        for (at, id) in &expired {
            for hash in txs_of.remove_all(id.as_str()).map_err(err)? {
                by_tx.remove(hash.map_err(err)?.value()).map_err(err)?;
            }
            claims.remove(id.as_str()).map_err(err)?;
            finished.remove((*at, id.as_str())).map_err(err)?;
        }
        swept.claims = expired.len();
    }
    txn.commit().map_err(err)?;
    Ok(swept)
}

/// The writer thread: takes every write waiting, applies them in order in one transaction,
/// commits once, then answers each. A failed commit fails them all (nothing was written).
fn writer(db: &Database, queue: &mpsc::Receiver<Write>) {
    while let Ok(first) = queue.recv() {
        let mut group = vec![first];
        while group.len() < GROUP {
            match queue.try_recv() {
                Ok(write) => group.push(write),
                Err(_) => break,
            }
        }
        let outcome = db.begin_write().map_err(err).and_then(|txn| {
            let results: Vec<Result<Option<Reservation>, StoreError>> = group
                .iter()
                .map(|write| match write {
                    Write::Reserve { ask, claim, .. } => reserve_in(&txn, ask, claim).map(Some),
                    Write::Save { claims, .. } => claims.iter().try_for_each(|c| write_claim(&txn, c)).map(|()| None),
                })
                .collect();
            if let Some(Err(e)) = results.iter().find(|r| r.is_err()) {
                return Err(StoreError::Embedded(e.to_string()));
            }
            txn.commit().map_err(err)?;
            Ok(results)
        });
        match outcome {
            Ok(results) => {
                for (write, result) in group.into_iter().zip(results) {
                    match write {
                        Write::Reserve { reply, .. } => {
                            let _ = reply.send(result.map(|r| r.unwrap_or(Reservation::Granted)));
                        }
                        Write::Save { reply, .. } => {
                            let _ = reply.send(result.map(|_| ()));
                        }
                    }
                }
            }
            Err(e) => {
                for write in group {
                    let failed = StoreError::Embedded(e.to_string());
                    match write {
                        Write::Reserve { reply, .. } => {
                            let _ = reply.send(Err(failed));
                        }
                        Write::Save { reply, .. } => {
                            let _ = reply.send(Err(failed));
                        }
                    }
                }
            }
        }
    }
}

/// One reservation inside a write transaction: refused while a cooldown runs or the hour's
/// budget is spent; otherwise recorded, and the claim stored and queued.
fn reserve_in(txn: &WriteTransaction, ask: &Ask, claim: &Claim) -> Result<Reservation, StoreError> {
    let now = now_secs();
    let mut cooldowns = txn.open_table(COOLDOWNS).map_err(err)?;
    for (i, key) in ask.keys.iter().enumerate() {
        if let Some(value) = cooldowns.get(key.as_str()).map_err(err)? {
            let expires = u64::from_be_bytes(value.value()[..8].try_into().unwrap_or_default());
            if expires > now {
                let retry_after = expires - now;
                return Ok(if i == 0 { Reservation::AddressCooling { retry_after } } else { Reservation::IpCooling { retry_after } });
            }
        }
    }
    let mut hours = txn.open_table(HOURS).map_err(err)?;
    let hour = now / 3600;
    let used = hours.get(hour).map_err(err)?.map_or(0, |v| v.value());
    if ask.hourly_claims > 0 && used >= ask.hourly_claims {
        return Ok(Reservation::HourlyCapReached { retry_after: (hour + 1) * 3600 - now });
    }
    let mut value = (now + ask.cooldown_secs).to_be_bytes().to_vec();
    value.extend_from_slice(ask.claim_id.as_bytes());
    for key in &ask.keys {
        cooldowns.insert(key.as_str(), value.as_slice()).map_err(err)?;
    }
    hours.insert(hour, used + 1).map_err(err)?;
    drop((cooldowns, hours));
    write_claim(txn, claim)?;
    Ok(Reservation::Granted)
}

/// Writes a claim and moves it between the queue and the pending set as its status says.
fn write_claim(txn: &WriteTransaction, claim: &Claim) -> Result<(), StoreError> {
    let json = serde_json::to_vec(claim)?;
    let before = txn.open_table(CLAIMS).map_err(err)?.insert(claim.id.as_str(), json.as_slice()).map_err(err)?.map(|old| old.value().to_vec());
    let was_finished = before.and_then(|old| serde_json::from_slice::<Claim>(&old).ok()).is_some_and(|old| old.is_finished());
    let mut queued = txn.open_table(QUEUED).map_err(err)?;
    let mut queued_at = txn.open_table(QUEUED_AT).map_err(err)?;
    let mut pending = txn.open_table(PENDING).map_err(err)?;
    let seq = queued_at.remove(claim.id.as_str()).map_err(err)?.map(|v| v.value());
    if let Some(seq) = seq {
        queued.remove(seq).map_err(err)?;
    }
    match &claim.status {
        ClaimStatus::Queued => {
            let next = queued.last().map_err(err)?.map_or(0, |(k, _)| k.value() + 1);
            queued.insert(next, claim.id.as_str()).map_err(err)?;
            queued_at.insert(claim.id.as_str(), next).map_err(err)?;
        }
        ClaimStatus::Pending { tx_hash, .. } => {
            pending.insert(claim.id.as_str(), ()).map_err(err)?;
            let hash = tx_hash.to_string();
            txn.open_table(BY_TX).map_err(err)?.insert(hash.as_str(), claim.id.as_str()).map_err(err)?;
            txn.open_multimap_table(TXS_OF).map_err(err)?.insert(claim.id.as_str(), hash.as_str()).map_err(err)?;
        }
        ClaimStatus::Confirmed { .. } | ClaimStatus::Failed { .. } => {
            pending.remove(claim.id.as_str()).map_err(err)?;
            if !was_finished {
                txn.open_table(FINISHED).map_err(err)?.insert((now_secs(), claim.id.as_str()), ()).map_err(err)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::{Address, B256, U256};

    fn claim(id: &str, byte: u8) -> (Claim, ReserveRequest<'static>) {
        let address = Address::repeat_byte(byte);
        let claim = Claim { id: id.into(), address, ip: format!("10.0.0.{byte}"), amount: U256::from(1), created_at: now_secs(), status: ClaimStatus::Queued };
        let ip: &'static str = Box::leak(claim.ip.clone().into_boxed_str());
        let claim_id: &'static str = Box::leak(id.to_string().into_boxed_str());
        (claim, ReserveRequest { claim_id, address, ip, cooldown_secs: 60, hourly_claims: 0 })
    }

    #[tokio::test]
    async fn the_sweep_drops_finished_claims_past_retention_and_ran_out_cooldowns() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path()).unwrap();
        let (mut done, done_ask) = claim("done", 1);
        let (mut moving, moving_ask) = claim("moving", 2);
        assert_eq!(store.reserve(&done_ask, &done).await.unwrap(), Reservation::Granted);
        assert_eq!(store.reserve(&moving_ask, &moving).await.unwrap(), Reservation::Granted);
        let (first, bumped) = (B256::repeat_byte(0xa1), B256::repeat_byte(0xa2));
        done.status = ClaimStatus::Pending { tx_hash: first };
        store.save_all(std::slice::from_ref(&done)).await.unwrap();
        done.status = ClaimStatus::Pending { tx_hash: bumped };
        store.save_all(std::slice::from_ref(&done)).await.unwrap();
        done.status = ClaimStatus::Confirmed { tx_hash: bumped, block: 7 };
        store.save_all(std::slice::from_ref(&done)).await.unwrap();
        // Saved again finished (a settle repeated): still one retention entry.
        store.save_all(std::slice::from_ref(&done)).await.unwrap();
        moving.status = ClaimStatus::Pending { tx_hash: B256::repeat_byte(0xb1) };
        store.save_all(std::slice::from_ref(&moving)).await.unwrap();

        let now = now_secs();
        assert_eq!(store.sweep(now, 3600).await.unwrap(), Swept::default(), "nothing is past retention or cooldown yet");
        assert!(store.get(&first.to_string()).unwrap().is_some(), "found by the hash it was first sent under");

        let later = now + 7200;
        assert_eq!(store.sweep(later, 3600).await.unwrap(), Swept { cooldowns: 4, claims: 1 });
        assert!(store.get("done").unwrap().is_none());
        assert!(store.get(&first.to_string()).unwrap().is_none() && store.get(&bumped.to_string()).unwrap().is_none(), "every hash it was sent under");
        assert_eq!(store.get("moving").unwrap().map(|c| c.status), Some(moving.status.clone()), "a claim still pending stays");
        assert_eq!(store.pending().unwrap().len(), 1);
        assert_eq!(store.sweep(later, 3600).await.unwrap(), Swept::default(), "nothing twice");
        // Its cooldown ran out and was dropped: the address may claim again.
        let (again, again_ask) = claim("again", 1);
        assert_eq!(store.reserve(&again_ask, &again).await.unwrap(), Reservation::Granted);
    }
}
