//! Byte encodings of stored values and composite keys.

use crate::error::StoreError;
use alloy_consensus::{Eip658Value, Receipt, ReceiptEnvelope, TxType};
use alloy_primitives::{Address, B256, Bytes, Log, U256};
use alloy_rlp::Decodable;

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

/// Receipts as stored: per receipt, its type, status, cumulative gas and RLP logs. The bloom is
/// left out (256 bytes a receipt): it is derived from the logs when read.
pub fn encode_receipts(receipts: &[ReceiptEnvelope]) -> Vec<u8> {
    let mut out = Vec::new();
    for receipt in receipts {
        let mut logs = Vec::new();
        alloy_rlp::encode_list(receipt.logs(), &mut logs);
        out.push(receipt.tx_type() as u8);
        out.push(u8::from(receipt.status()));
        out.extend_from_slice(&receipt.cumulative_gas_used().to_be_bytes());
        out.extend_from_slice(&(logs.len() as u32).to_be_bytes());
        out.extend_from_slice(&logs);
    }
    out
}

pub fn decode_receipts(mut bytes: &[u8]) -> Result<Vec<ReceiptEnvelope>, StoreError> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("receipt: {what}"));
    let mut receipts = Vec::new();
    while !bytes.is_empty() {
        let head = bytes.get(..14).ok_or_else(|| corrupt("truncated"))?;
        let ty = TxType::try_from(head[0]).map_err(|_| corrupt("unknown type"))?;
        let status = head[1] == 1;
        let cumulative_gas_used = u64_from(&head[2..10])?;
        let len = u32::from_be_bytes(head[10..14].try_into().expect("4 bytes")) as usize;
        let mut logs_rlp = bytes.get(14..14 + len).ok_or_else(|| corrupt("truncated logs"))?;
        let logs = Vec::<Log>::decode(&mut logs_rlp).map_err(|e| corrupt(&e.to_string()))?;
        let receipt = Receipt { status: Eip658Value::Eip658(status), cumulative_gas_used, logs }.with_bloom();
        receipts.push(match ty {
            TxType::Legacy => ReceiptEnvelope::Legacy(receipt),
            TxType::Eip2930 => ReceiptEnvelope::Eip2930(receipt),
            TxType::Eip1559 => ReceiptEnvelope::Eip1559(receipt),
            TxType::Eip4844 => ReceiptEnvelope::Eip4844(receipt),
            TxType::Eip7702 => ReceiptEnvelope::Eip7702(receipt),
        });
        bytes = &bytes[14 + len..];
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
        let log = Log::new_unchecked(Address::repeat_byte(7), vec![B256::repeat_byte(1)], Bytes::from_static(b"data"));
        let receipts = vec![
            ReceiptEnvelope::Eip1559(Receipt { status: Eip658Value::Eip658(true), cumulative_gas_used: 21_000, logs: vec![] }.with_bloom()),
            ReceiptEnvelope::Legacy(Receipt { status: Eip658Value::Eip658(false), cumulative_gas_used: 90_000, logs: vec![log] }.with_bloom()),
        ];
        let encoded = encode_receipts(&receipts);
        assert_eq!(decode_receipts(&encoded).unwrap(), receipts);
        assert!(decode_receipts(&encoded[..encoded.len() - 1]).is_err());
    }

    #[test]
    fn history_keys_sort_by_block_within_a_key() {
        let a = Address::repeat_byte(1);
        assert!(account_history_key(&a, 2) < account_history_key(&a, 10));
        assert!(account_history_key(&a, u64::MAX) < account_history_key(&Address::repeat_byte(2), 0));
    }
}
