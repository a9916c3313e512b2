//! Where claims and limits live: Redis in production (shared by replicas), an embedded redb
//! database locally. Both make the reservation of an address, a client IP and the hourly budget
//! one atomic step, and both keep the claim queue, so a restart loses no accepted claim.

mod embedded;
mod redis_store;

pub use embedded::EmbeddedStore;
pub use redis_store::RedisStore;

use alloy_primitives::{Address, B256, U256};
use serde::{Deserialize, Serialize};
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("embedded store: {0}")]
    Embedded(String),
    #[error("corrupt claim record: {0}")]
    Corrupt(#[from] serde_json::Error),
}

impl From<redb::Error> for StoreError {
    fn from(e: redb::Error) -> Self {
        StoreError::Embedded(e.to_string())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ClaimStatus {
    Queued,
    /// Signed and sent: the sender's journal holds the transaction under the claim's id;
    /// `tx_hash` is its latest version.
    Pending { tx_hash: B256 },
    Confirmed { tx_hash: B256, block: u64 },
    Failed { error: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claim {
    pub id: String,
    pub address: Address,
    pub ip: String,
    pub amount: U256,
    pub created_at: u64,
    #[serde(flatten)]
    pub status: ClaimStatus,
}

impl Claim {
    /// Confirmed or failed: nothing will change it any more.
    pub fn is_finished(&self) -> bool {
        matches!(self.status, ClaimStatus::Confirmed { .. } | ClaimStatus::Failed { .. })
    }

    pub fn tx_hash(&self) -> Option<B256> {
        match &self.status {
            ClaimStatus::Pending { tx_hash, .. } | ClaimStatus::Confirmed { tx_hash, .. } => Some(*tx_hash),
            _ => None,
        }
    }
}

/// What a retention sweep removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    pub cooldowns: usize,
    pub claims: usize,
}

/// The outcome of asking to reserve a claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reservation {
    Granted,
    AddressCooling { retry_after: u64 },
    IpCooling { retry_after: u64 },
    HourlyCapReached { retry_after: u64 },
}

/// What one reservation covers, so that it can be released exactly.
#[derive(Debug, Clone)]
pub struct ReserveRequest<'a> {
    pub claim_id: &'a str,
    pub address: Address,
    pub ip: &'a str,
    pub cooldown_secs: u64,
    /// Claims allowed per hour; 0 for no limit.
    pub hourly_claims: u64,
}

pub fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

pub enum Store {
    Redis(RedisStore),
    Embedded(EmbeddedStore),
}

macro_rules! dispatch {
    ($self:ident, $store:ident => $call:expr) => {
        match $self {
            Store::Redis($store) => $call.await,
            Store::Embedded($store) => $call,
        }
    };
}

impl Store {
    /// Reserves the claim's address, client IP and hourly budget, and when granted stores and
    /// queues the claim, all in one atomic step.
    pub async fn reserve(&self, request: &ReserveRequest<'_>, claim: &Claim) -> Result<Reservation, StoreError> {
        match self {
            Store::Redis(s) => s.reserve(request, claim).await,
            Store::Embedded(s) => s.reserve(request, claim).await,
        }
    }

    /// Gives back a reservation whose payout definitely failed.
    pub async fn release(&self, request: &ReserveRequest<'_>) -> Result<(), StoreError> {
        dispatch!(self, s => s.release(request))
    }

    /// Stores a claim and keeps the queue and indexes in step with its status.
    pub async fn save(&self, claim: &Claim) -> Result<(), StoreError> {
        self.save_all(std::slice::from_ref(claim)).await
    }

    /// Stores several claims in one durable write.
    pub async fn save_all(&self, claims: &[Claim]) -> Result<(), StoreError> {
        match self {
            Store::Redis(s) => s.save_all(claims).await,
            Store::Embedded(s) => s.save_all(claims).await,
        }
    }

    /// The oldest queued claims.
    pub async fn queued(&self, limit: usize) -> Result<Vec<Claim>, StoreError> {
        dispatch!(self, s => s.queued(limit))
    }

    pub async fn pending(&self) -> Result<Vec<Claim>, StoreError> {
        dispatch!(self, s => s.pending())
    }

    /// A claim by its id or by its transaction hash.
    pub async fn get(&self, key: &str) -> Result<Option<Claim>, StoreError> {
        dispatch!(self, s => s.get(key))
    }

    pub async fn queue_depth(&self) -> Result<u64, StoreError> {
        dispatch!(self, s => s.queue_depth())
    }

    /// Removes what retention no longer needs (the embedded store; Redis expires its keys).
    pub async fn sweep(&self, retain_secs: u64) -> Result<Swept, StoreError> {
        match self {
            Store::Redis(_) => Ok(Swept::default()),
            Store::Embedded(s) => s.sweep(now_secs(), retain_secs).await,
        }
    }
}
