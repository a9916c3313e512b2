//! Byte encodings of stored values and composite keys.

use crate::error::StoreError;
use alloy_consensus::ReceiptEnvelope;
use alloy_eips::eip2718::{Decodable2718, Encodable2718};
use alloy_primitives::{Address, B256, Bytes, U256};

/// An account as stored: what the state trie needs but the storage root, which the trie keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StoredAccount {
    pub nonce: u64,
    pub balance: U256,
    pub code_hash: B256,
}

impl StoredAccount {
    pub const LEN: usize = 72;

    pub fn encode(&self) -> [u8; Self::LEN] {
        let mut out = [0u8; Self::LEN];
        out[..8].copy_from_slice(&self.nonce.to_be_bytes());
        out[8..40].copy_from_slice(&self.balance.to_be_bytes::<32>());
        out[40..].copy_from_slice(self.code_hash.as_slice());
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, StoreError> {
        if bytes.len() != Self::LEN {
            return Err(StoreError::Corrupt(format!("account record of {} bytes", bytes.len())));
        }
        Ok(Self {
            nonce: u64::from_be_bytes(bytes[..8].try_into().expect("8 bytes")),
            balance: U256::from_be_slice(&bytes[8..40]),
            code_hash: B256::from_slice(&bytes[40..]),
        })
    }
}

pub fn u64_from(bytes: &[u8]) -> Result<u64, StoreError> {
    bytes
        .try_into()
        .map(u64::from_be_bytes)
        .map_err(|_| StoreError::Corrupt(format!("expected 8 bytes, found {}", bytes.len())))
}

pub fn storage_key(address: &Address, slot: &U256) -> [u8; 52] {
    let mut key = [0u8; 52];
    key[..20].copy_from_slice(address.as_slice());
    key[20..].copy_from_slice(&slot.to_be_bytes::<32>());
    key
}

pub fn account_history_key(address: &Address, block: u64) -> [u8; 28] {
    let mut key = [0u8; 28];
    key[..20].copy_from_slice(address.as_slice());
    key[20..].copy_from_slice(&block.to_be_bytes());
    key
}

pub fn storage_history_key(address: &Address, slot: &U256, block: u64) -> [u8; 60] {
    let mut key = [0u8; 60];
    key[..52].copy_from_slice(&storage_key(address, slot));
    key[52..].copy_from_slice(&block.to_be_bytes());
    key
}

pub fn encode_tx_location(block: u64, index: u32, sender: Address, encoded: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(32 + encoded.len());
    out.extend_from_slice(&block.to_be_bytes());
    out.extend_from_slice(&index.to_be_bytes());
    out.extend_from_slice(sender.as_slice());
    out.extend_from_slice(encoded);
    out
}

pub fn decode_tx_location(bytes: &[u8]) -> Result<(u64, u32, Address, Bytes), StoreError> {
    if bytes.len() < 32 {
        return Err(StoreError::Corrupt("short transaction record".into()));
    }
    let block = u64_from(&bytes[..8])?;
    let index = u32::from_be_bytes(bytes[8..12].try_into().expect("4 bytes"));
    let sender = Address::from_slice(&bytes[12..32]);
    Ok((block, index, sender, Bytes::copy_from_slice(&bytes[32..])))
}

pub fn encode_receipts(receipts: &[ReceiptEnvelope]) -> Vec<u8> {
    let mut out = Vec::new();
    for receipt in receipts {
        let len = receipt.encode_2718_len() as u32;
        out.extend_from_slice(&len.to_be_bytes());
        receipt.encode_2718(&mut out);
    }
    out
}

pub fn decode_receipts(mut bytes: &[u8]) -> Result<Vec<ReceiptEnvelope>, StoreError> {
    let mut receipts = Vec::new();
    while !bytes.is_empty() {
        if bytes.len() < 4 {
            return Err(StoreError::Corrupt("truncated receipt length".into()));
        }
        let len = u32::from_be_bytes(bytes[..4].try_into().expect("4 bytes")) as usize;
        let Some(mut body) = bytes.get(4..4 + len) else {
            return Err(StoreError::Corrupt("truncated receipt".into()));
        };
        receipts.push(
            ReceiptEnvelope::decode_2718(&mut body).map_err(|e| StoreError::Corrupt(format!("receipt: {e}")))?,
        );
        bytes = &bytes[4 + len..];
    }
    Ok(receipts)
}

/// The keys one block wrote: addresses, then (address, slot) pairs.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ChangeSet {
    pub accounts: Vec<Address>,
    pub slots: Vec<(Address, U256)>,
}

impl ChangeSet {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 + self.accounts.len() * 20 + self.slots.len() * 52);
        out.extend_from_slice(&(self.accounts.len() as u32).to_be_bytes());
        out.extend_from_slice(&(self.slots.len() as u32).to_be_bytes());
        for address in &self.accounts {
            out.extend_from_slice(address.as_slice());
        }
        for (address, slot) in &self.slots {
            out.extend_from_slice(&storage_key(address, slot));
        }
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, StoreError> {
        let corrupt = || StoreError::Corrupt("change set".into());
        let header = bytes.get(..8).ok_or_else(corrupt)?;
        let accounts = u32::from_be_bytes(header[..4].try_into().expect("4 bytes")) as usize;
        let slots = u32::from_be_bytes(header[4..].try_into().expect("4 bytes")) as usize;
        if bytes.len() != 8 + accounts * 20 + slots * 52 {
            return Err(corrupt());
        }
        let (account_bytes, slot_bytes) = bytes[8..].split_at(accounts * 20);
        Ok(Self {
            accounts: account_bytes.chunks_exact(20).map(Address::from_slice).collect(),
            slots: slot_bytes
                .chunks_exact(52)
                .map(|c| (Address::from_slice(&c[..20]), U256::from_be_slice(&c[20..])))
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let account = StoredAccount { nonce: 7, balance: U256::from(12345u64), code_hash: B256::repeat_byte(9) };
        assert_eq!(StoredAccount::decode(&account.encode()).unwrap(), account);
        let changes = ChangeSet {
            accounts: vec![Address::repeat_byte(1), Address::repeat_byte(2)],
            slots: vec![(Address::repeat_byte(3), U256::from(4u64))],
        };
        assert_eq!(ChangeSet::decode(&changes.encode()).unwrap(), changes);
        assert!(ChangeSet::decode(&[0, 0, 0, 5, 0, 0, 0, 0]).is_err());
        assert!(StoredAccount::decode(&[1, 2, 3]).is_err());
    }

    #[test]
    fn history_keys_sort_by_block_within_a_key() {
        let a = Address::repeat_byte(1);
        assert!(account_history_key(&a, 2) < account_history_key(&a, 10));
        assert!(account_history_key(&a, u64::MAX) < account_history_key(&Address::repeat_byte(2), 0));
    }
}
