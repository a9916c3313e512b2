//! A message as the relayer follows it, and what `GET /messages/{id}` answers.

use alloy_primitives::{Address, B256, Bytes};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageState {
    /// Fewer than the threshold of the destination ISM's validators have signed it.
    WaitingForSignatures,
    /// A `process` transaction is out.
    Sending,
    /// Mined; waiting for the destination's confirmations.
    Confirming,
    Delivered,
    /// The dry run or the transaction failed (a handler that reverts, say): kept, retried later.
    Failing,
}

impl MessageState {
    pub fn is_done(self) -> bool {
        self == MessageState::Delivered
    }
}

/// The validator signatures gathered for a message.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Signatures {
    pub have: usize,
    pub need: usize,
    /// The validators whose signature was found.
    pub signed: Vec<Address>,
    /// Why each of the others is missing.
    pub missing: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageRecord {
    pub id: B256,
    pub nonce: u32,
    pub origin: u32,
    pub destination: u32,
    pub sender: B256,
    pub recipient: B256,
    pub message: Bytes,
    pub origin_tx: B256,
    /// Who sent the origin transaction (a warp transfer's user; `sender` is the route).
    pub origin_from: Address,
    pub origin_block: u64,
    /// Its index in the origin's Merkle tree (what validators sign).
    pub index: u32,
    pub state: MessageState,
    pub signatures: Option<Signatures>,
    /// The sender journal's key of the current `process` transaction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_key: Option<String>,
    pub destination_tx: Option<B256>,
    pub destination_block: Option<u64>,
    /// "this relayer", or "another relayer" when the Mailbox had it delivered already.
    pub delivered_by: Option<String>,
    /// Failed deliveries so far.
    pub attempts: u32,
    pub last_error: Option<String>,
    /// Unix milliseconds before which it is not tried again.
    pub next_attempt_at: u64,
    pub indexed_at: u64,
    pub delivered_at: Option<u64>,
}
