//! Reads over one consistent snapshot of the store.

use super::codec::{self, StoredAccount, account_history_key, storage_history_key, storage_key};
use super::tables::*;
use crate::error::StoreError;
use alloy_consensus::{Header, ReceiptEnvelope};
use alloy_primitives::{Address, B256, Bytes, U256};
use alloy_rlp::Decodable;
use redb::{ReadTransaction, ReadableTable};

/// A committed transaction and where it landed.
#[derive(Debug, Clone)]
pub struct StoredTx {
    pub block: u64,
    pub index: u32,
    pub sender: Address,
    pub encoded: Bytes,
}

/// Which state a read sees: the latest, or the state after block `n`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateAt {
    Latest,
    Block(u64),
}

pub struct StoreReader {
    txn: ReadTransaction,
}

impl StoreReader {
    pub(super) fn new(txn: ReadTransaction) -> Self {
        Self { txn }
    }

    pub fn meta_u64(&self, key: &str) -> Result<Option<u64>, StoreError> {
        let table = self.txn.open_table(META).map_err(redb::Error::from)?;
        let value = table.get(key).map_err(redb::Error::from)?;
        value.map(|v| codec::u64_from(v.value())).transpose()
    }

    pub fn head(&self) -> Result<Option<u64>, StoreError> {
        self.meta_u64(HEAD_KEY)
    }

    /// The DA height that includes block `number`, once known.
    pub fn da_height(&self, number: u64) -> Result<Option<u64>, StoreError> {
        let table = self.txn.open_table(DA_HEIGHTS).map_err(redb::Error::from)?;
        Ok(table.get(number).map_err(redb::Error::from)?.map(|v| v.value()))
    }

    /// The oldest block whose state can still be read.
    pub fn earliest_state(&self) -> Result<u64, StoreError> {
        Ok(self.meta_u64(EARLIEST_STATE_KEY)?.unwrap_or(0))
    }

    /// A block's header with its hash (stored beside it, so never recomputed).
    pub fn sealed_header(&self, number: u64) -> Result<Option<(Header, B256)>, StoreError> {
        let table = self.txn.open_table(HEADERS).map_err(redb::Error::from)?;
        let Some(raw) = table.get(number).map_err(redb::Error::from)? else { return Ok(None) };
        let raw = raw.value();
        let (hash, mut rlp) = raw.split_at_checked(32).ok_or_else(|| StoreError::Corrupt(format!("header {number}")))?;
        let header = Header::decode(&mut rlp).map_err(|e| StoreError::Corrupt(format!("header {number}: {e}")))?;
        Ok(Some((header, B256::from_slice(hash))))
    }

    pub fn header(&self, number: u64) -> Result<Option<Header>, StoreError> {
        Ok(self.sealed_header(number)?.map(|(header, _)| header))
    }

    pub fn block_hash(&self, number: u64) -> Result<Option<B256>, StoreError> {
        let table = self.txn.open_table(HEADERS).map_err(redb::Error::from)?;
        let Some(raw) = table.get(number).map_err(redb::Error::from)? else { return Ok(None) };
        raw.value().get(..32).map(B256::from_slice).map(Some).ok_or_else(|| StoreError::Corrupt(format!("header {number}")))
    }

    pub fn number_by_hash(&self, hash: &B256) -> Result<Option<u64>, StoreError> {
        let table = self.txn.open_table(HASH_TO_NUMBER).map_err(redb::Error::from)?;
        Ok(table.get(hash.as_slice()).map_err(redb::Error::from)?.map(|v| v.value()))
    }

    pub fn block_tx_hashes(&self, number: u64) -> Result<Vec<B256>, StoreError> {
        let table = self.txn.open_table(BLOCK_TXS).map_err(redb::Error::from)?;
        let Some(raw) = table.get(number).map_err(redb::Error::from)? else { return Ok(Vec::new()) };
        Ok(raw.value().chunks_exact(32).map(B256::from_slice).collect())
    }

    pub fn transaction(&self, hash: &B256) -> Result<Option<StoredTx>, StoreError> {
        let table = self.txn.open_table(TRANSACTIONS).map_err(redb::Error::from)?;
        let Some(raw) = table.get(hash.as_slice()).map_err(redb::Error::from)? else { return Ok(None) };
        let (block, index, sender, encoded) = codec::decode_tx_location(raw.value())?;
        Ok(Some(StoredTx { block, index, sender, encoded }))
    }

    pub fn receipts(&self, number: u64) -> Result<Vec<ReceiptEnvelope>, StoreError> {
        let table = self.txn.open_table(RECEIPTS).map_err(redb::Error::from)?;
        let Some(raw) = table.get(number).map_err(redb::Error::from)? else { return Ok(Vec::new()) };
        codec::decode_receipts(raw.value())
    }

    pub fn code(&self, hash: &B256) -> Result<Option<Bytes>, StoreError> {
        let table = self.txn.open_table(CODES).map_err(redb::Error::from)?;
        Ok(table.get(hash.as_slice()).map_err(redb::Error::from)?.map(|v| Bytes::copy_from_slice(v.value())))
    }

    fn check_history(&self, at: StateAt) -> Result<Option<u64>, StoreError> {
        let StateAt::Block(n) = at else { return Ok(None) };
        if Some(n) >= self.head()? {
            return Ok(None);
        }
        let earliest = self.earliest_state()?;
        if n < earliest {
            return Err(StoreError::Pruned { requested: n, earliest });
        }
        Ok(Some(n))
    }

    pub fn account(&self, address: &Address, at: StateAt) -> Result<Option<StoredAccount>, StoreError> {
        match self.check_history(at)? {
            None => {
                let table = self.txn.open_table(ACCOUNTS).map_err(redb::Error::from)?;
                let value = table.get(address.as_slice()).map_err(redb::Error::from)?;
                value.map(|v| StoredAccount::decode(v.value())).transpose()
            }
            Some(n) => {
                let table = self.txn.open_table(ACCOUNT_HISTORY).map_err(redb::Error::from)?;
                let from = account_history_key(address, 0);
                let to = account_history_key(address, n);
                let mut range = table.range(from.as_slice()..=to.as_slice()).map_err(redb::Error::from)?;
                match range.next_back() {
                    None => Ok(None),
                    Some(entry) => {
                        let (_, value) = entry.map_err(redb::Error::from)?;
                        let value = value.value();
                        if value.is_empty() { Ok(None) } else { StoredAccount::decode(value).map(Some) }
                    }
                }
            }
        }
    }

    pub fn storage(&self, address: &Address, slot: &U256, at: StateAt) -> Result<U256, StoreError> {
        match self.check_history(at)? {
            None => {
                let table = self.txn.open_table(STORAGE).map_err(redb::Error::from)?;
                let value = table.get(storage_key(address, slot).as_slice()).map_err(redb::Error::from)?;
                Ok(value.map_or(U256::ZERO, |v| U256::from_be_slice(v.value())))
            }
            Some(n) => {
                let table = self.txn.open_table(STORAGE_HISTORY).map_err(redb::Error::from)?;
                let from = storage_history_key(address, slot, 0);
                let to = storage_history_key(address, slot, n);
                let mut range = table.range(from.as_slice()..=to.as_slice()).map_err(redb::Error::from)?;
                match range.next_back() {
                    None => Ok(U256::ZERO),
                    Some(entry) => {
                        let (_, value) = entry.map_err(redb::Error::from)?;
                        Ok(U256::from_be_slice(value.value()))
                    }
                }
            }
        }
    }

    /// Every account and slot of the latest state, for rebuilding the state trie at start.
    pub fn for_each_account(
        &self,
        mut f: impl FnMut(Address, StoredAccount),
    ) -> Result<(), StoreError> {
        let table = self.txn.open_table(ACCOUNTS).map_err(redb::Error::from)?;
        for entry in table.iter().map_err(redb::Error::from)? {
            let (key, value) = entry.map_err(redb::Error::from)?;
            f(Address::from_slice(key.value()), StoredAccount::decode(value.value())?);
        }
        Ok(())
    }

    pub fn for_each_slot(&self, mut f: impl FnMut(Address, U256, U256)) -> Result<(), StoreError> {
        let table = self.txn.open_table(STORAGE).map_err(redb::Error::from)?;
        for entry in table.iter().map_err(redb::Error::from)? {
            let (key, value) = entry.map_err(redb::Error::from)?;
            let key = key.value();
            f(Address::from_slice(&key[..20]), U256::from_be_slice(&key[20..]), U256::from_be_slice(value.value()));
        }
        Ok(())
    }
}
