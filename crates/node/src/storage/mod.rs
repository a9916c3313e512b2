//! The node's embedded, crash-safe store (redb).
//!
//! A block, its transactions, receipts, state changes and history commit in one redb write
//! transaction with `Durability::Immediate`, so after a crash the store holds exactly the blocks
//! that were committed, each complete. The RPC exposes a block only after its commit returned, so
//! any receipt a client has seen is on disk.
//!
//! State is kept twice: plain tables for the latest state (fast reads), and history tables keyed
//! by `(key, block)` holding the value written at that block, so a read at block `n` is the last
//! history entry at or before `n`. A per-block change set lists what each block wrote; pruning
//! walks it.

mod codec;
mod reader;
mod tables;

pub use codec::StoredAccount;
pub use reader::{StateAt, StoreReader, StoredTx};
pub use tables::{DA_CURSOR_KEY, DA_INCLUDED_KEY, DA_IN_FLIGHT_KEY};

use crate::error::StoreError;
use alloy_consensus::{Header, ReceiptEnvelope};
use alloy_primitives::{Address, B256, Bytes, U256};
use alloy_rlp::Encodable;
use codec::{account_history_key, storage_history_key, storage_key};
use redb::{Database, Durability, ReadableDatabase, ReadableTable};
use std::path::Path;
use tables::*;

/// One block's transaction, as committed.
#[derive(Debug, Clone)]
pub struct CommitTx {
    pub hash: B256,
    pub sender: Address,
    /// EIP-2718 encoding.
    pub encoded: Bytes,
}

/// Everything one block writes, committed atomically.
#[derive(Debug, Default)]
pub struct BlockCommit {
    pub header: Header,
    pub hash: B256,
    pub txs: Vec<CommitTx>,
    pub receipts: Vec<ReceiptEnvelope>,
    /// Accounts written by the block; `None` deletes the account.
    pub accounts: Vec<(Address, Option<StoredAccount>)>,
    /// Storage slots written by the block (zero deletes the slot).
    pub storage: Vec<(Address, U256, U256)>,
    pub codes: Vec<(B256, Bytes)>,
    /// A full node's block read from DA: the DA height that holds it.
    pub da_height: Option<u64>,
}

pub struct Store {
    db: Database,
    /// Keep state history for this many blocks behind the head; all of it when `None`.
    prune_keep: Option<u64>,
}

/// Blocks of history one commit prunes at most, so enabling pruning on a long chain catches up
/// over many blocks instead of stalling one.
const PRUNE_STEP: u64 = 16;

impl Store {
    pub fn open(path: &Path, cache_bytes: usize, prune_keep: Option<u64>) -> Result<Self, StoreError> {
        std::fs::create_dir_all(path).map_err(|e| StoreError::Io(e.to_string()))?;
        let db = Database::builder()
            .set_cache_size(cache_bytes)
            .create(path.join("chain.redb"))
            .map_err(redb::Error::from)?;
        let store = Self { db, prune_keep };
        store.create_tables()?;
        Ok(store)
    }

    fn create_tables(&self) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(redb::Error::from)?;
        {
            txn.open_table(META).map_err(redb::Error::from)?;
            txn.open_table(HEADERS).map_err(redb::Error::from)?;
            txn.open_table(HASH_TO_NUMBER).map_err(redb::Error::from)?;
            txn.open_table(BLOCK_TXS).map_err(redb::Error::from)?;
            txn.open_table(TRANSACTIONS).map_err(redb::Error::from)?;
            txn.open_table(RECEIPTS).map_err(redb::Error::from)?;
            txn.open_table(ACCOUNTS).map_err(redb::Error::from)?;
            txn.open_table(STORAGE).map_err(redb::Error::from)?;
            txn.open_table(CODES).map_err(redb::Error::from)?;
            txn.open_table(ACCOUNT_HISTORY).map_err(redb::Error::from)?;
            txn.open_table(STORAGE_HISTORY).map_err(redb::Error::from)?;
            txn.open_table(CHANGESETS).map_err(redb::Error::from)?;
            txn.open_table(DA_HEIGHTS).map_err(redb::Error::from)?;
        }
        txn.commit().map_err(redb::Error::from)?;
        Ok(())
    }

    pub fn reader(&self) -> Result<StoreReader, StoreError> {
        Ok(StoreReader::new(self.db.begin_read().map_err(redb::Error::from)?))
    }

    /// Commits one block and everything it wrote, durably, in one transaction.
    pub fn commit_block(&self, block: &BlockCommit) -> Result<(), StoreError> {
        let number = block.header.number;
        let mut txn = self.db.begin_write().map_err(redb::Error::from)?;
        txn.set_durability(Durability::Immediate).map_err(|e| StoreError::Io(e.to_string()))?;
        {
            let mut meta = txn.open_table(META).map_err(redb::Error::from)?;
            if let Some(head) = meta.get(HEAD_KEY).map_err(redb::Error::from)? {
                let head = codec::u64_from(head.value())?;
                if number != head + 1 {
                    return Err(StoreError::NotNext { head, number });
                }
            } else if number != 0 {
                return Err(StoreError::NotNext { head: 0, number });
            }
            meta.insert(HEAD_KEY, number.to_be_bytes().as_slice()).map_err(redb::Error::from)?;
            if let Some(height) = block.da_height {
                meta.insert(DA_INCLUDED_KEY, number.to_be_bytes().as_slice()).map_err(redb::Error::from)?;
                txn.open_table(DA_HEIGHTS).map_err(redb::Error::from)?.insert(number, height).map_err(redb::Error::from)?;
            }

            let mut headers = txn.open_table(HEADERS).map_err(redb::Error::from)?;
            let mut sealed = block.hash.to_vec();
            block.header.encode(&mut sealed);
            headers.insert(number, sealed.as_slice()).map_err(redb::Error::from)?;
            txn.open_table(HASH_TO_NUMBER)
                .map_err(redb::Error::from)?
                .insert(block.hash.as_slice(), number)
                .map_err(redb::Error::from)?;

            let mut tx_hashes = Vec::with_capacity(block.txs.len() * 32);
            let mut transactions = txn.open_table(TRANSACTIONS).map_err(redb::Error::from)?;
            for (index, tx) in block.txs.iter().enumerate() {
                tx_hashes.extend_from_slice(tx.hash.as_slice());
                let value = codec::encode_tx_location(number, index as u32, tx.sender, &tx.encoded);
                transactions.insert(tx.hash.as_slice(), value.as_slice()).map_err(redb::Error::from)?;
            }
            txn.open_table(BLOCK_TXS)
                .map_err(redb::Error::from)?
                .insert(number, tx_hashes.as_slice())
                .map_err(redb::Error::from)?;
            txn.open_table(RECEIPTS)
                .map_err(redb::Error::from)?
                .insert(number, codec::encode_receipts(&block.receipts).as_slice())
                .map_err(redb::Error::from)?;

            let mut changeset = codec::ChangeSet::default();
            let mut accounts = txn.open_table(ACCOUNTS).map_err(redb::Error::from)?;
            let mut account_history = txn.open_table(ACCOUNT_HISTORY).map_err(redb::Error::from)?;
            for (address, account) in &block.accounts {
                let encoded = account.as_ref().map(StoredAccount::encode);
                match &encoded {
                    Some(bytes) => accounts.insert(address.as_slice(), bytes.as_slice()),
                    None => accounts.remove(address.as_slice()),
                }
                .map_err(redb::Error::from)?;
                let value: &[u8] = encoded.as_ref().map_or(&[], |b| b.as_slice());
                account_history
                    .insert(account_history_key(address, number).as_slice(), value)
                    .map_err(redb::Error::from)?;
                changeset.accounts.push(*address);
            }
            let mut storage = txn.open_table(STORAGE).map_err(redb::Error::from)?;
            let mut storage_history = txn.open_table(STORAGE_HISTORY).map_err(redb::Error::from)?;
            for (address, slot, value) in &block.storage {
                let key = storage_key(address, slot);
                let bytes = value.to_be_bytes::<32>();
                if value.is_zero() {
                    storage.remove(key.as_slice()).map_err(redb::Error::from)?;
                } else {
                    storage.insert(key.as_slice(), bytes.as_slice()).map_err(redb::Error::from)?;
                }
                storage_history
                    .insert(storage_history_key(address, slot, number).as_slice(), bytes.as_slice())
                    .map_err(redb::Error::from)?;
                changeset.slots.push((*address, *slot));
            }
            let mut codes = txn.open_table(CODES).map_err(redb::Error::from)?;
            for (hash, code) in &block.codes {
                codes.insert(hash.as_slice(), code.as_ref()).map_err(redb::Error::from)?;
            }
            txn.open_table(CHANGESETS)
                .map_err(redb::Error::from)?
                .insert(number, changeset.encode().as_slice())
                .map_err(redb::Error::from)?;
        }
        if let Some(keep) = self.prune_keep {
            prune_history(&txn, number.saturating_sub(keep))?;
        }
        txn.commit().map_err(redb::Error::from)?;
        Ok(())
    }

    /// Refuses a data directory written from another genesis; records the genesis on a fresh one.
    pub fn check_genesis(&self, genesis_hash: B256) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(redb::Error::from)?;
        {
            let mut meta = txn.open_table(META).map_err(redb::Error::from)?;
            let stored = meta.get(GENESIS_KEY).map_err(redb::Error::from)?.map(|g| g.value().to_vec());
            match stored {
                Some(stored) if stored.as_slice() != genesis_hash.as_slice() => {
                    return Err(StoreError::GenesisMismatch {
                        stored: B256::from_slice(&stored),
                        genesis: genesis_hash,
                    });
                }
                Some(_) => {}
                None => {
                    meta.insert(GENESIS_KEY, genesis_hash.as_slice()).map_err(redb::Error::from)?;
                }
            }
        }
        txn.commit().map_err(redb::Error::from)?;
        Ok(())
    }

    /// Records that blocks `first..=last` are in DA at `height`, and clears the in-flight mark.
    /// One durable transaction.
    pub fn record_da_inclusion(&self, first: u64, last: u64, height: u64) -> Result<(), StoreError> {
        self.write_meta(|txn, meta| {
            let mut heights = txn.open_table(DA_HEIGHTS).map_err(redb::Error::from)?;
            for number in first..=last {
                heights.insert(number, height).map_err(redb::Error::from)?;
            }
            meta.insert(DA_INCLUDED_KEY, last.to_be_bytes().as_slice()).map_err(redb::Error::from)?;
            meta.remove(DA_IN_FLIGHT_KEY).map_err(redb::Error::from)?;
            Ok(())
        })
    }

    /// Sets (or, with `None`, clears) one of the DA bookkeeping numbers, durably.
    pub fn set_da_mark(&self, key: &'static str, value: Option<u64>) -> Result<(), StoreError> {
        self.write_meta(|_, meta| {
            match value {
                Some(v) => meta.insert(key, v.to_be_bytes().as_slice()).map(drop),
                None => meta.remove(key).map(drop),
            }
            .map_err(redb::Error::from)?;
            Ok(())
        })
    }

    fn write_meta(
        &self,
        f: impl FnOnce(&redb::WriteTransaction, &mut redb::Table<'_, &'static str, &'static [u8]>) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let mut txn = self.db.begin_write().map_err(redb::Error::from)?;
        txn.set_durability(Durability::Immediate).map_err(|e| StoreError::Io(e.to_string()))?;
        {
            let mut meta = txn.open_table(META).map_err(redb::Error::from)?;
            f(&txn, &mut meta)?;
        }
        txn.commit().map_err(redb::Error::from)?;
        Ok(())
    }

    /// Bytes of the database file, for metrics.
    pub fn size_bytes(path: &Path) -> u64 {
        std::fs::metadata(path.join("chain.redb")).map(|m| m.len()).unwrap_or(0)
    }
}

/// Drops state history before `cutoff` (at most [`PRUNE_STEP`] blocks of it per call): state
/// reads before the new earliest block are refused from then on. Blocks, transactions and
/// receipts are kept.
fn prune_history(txn: &redb::WriteTransaction, cutoff: u64) -> Result<(), StoreError> {
    let mut meta = txn.open_table(META).map_err(redb::Error::from)?;
    let earliest = match meta.get(EARLIEST_STATE_KEY).map_err(redb::Error::from)? {
        Some(v) => codec::u64_from(v.value())?,
        None => 0,
    };
    let until = cutoff.min(earliest + PRUNE_STEP);
    if until <= earliest {
        return Ok(());
    }
    let mut changesets = txn.open_table(CHANGESETS).map_err(redb::Error::from)?;
    let mut account_history = txn.open_table(ACCOUNT_HISTORY).map_err(redb::Error::from)?;
    let mut storage_history = txn.open_table(STORAGE_HISTORY).map_err(redb::Error::from)?;
    for number in earliest..until {
        let Some(raw) = changesets.remove(number).map_err(redb::Error::from)? else { continue };
        let changeset = codec::ChangeSet::decode(raw.value())?;
        drop(raw);
        // An entry may go only when a later one at or before the new earliest block supersedes
        // it, so reads there still find their value.
        for address in &changeset.accounts {
            let later = account_history_key(address, number + 1)..=account_history_key(address, until);
            if account_history.range(later.start().as_slice()..=later.end().as_slice()).map_err(redb::Error::from)?.next().is_some() {
                account_history.remove(account_history_key(address, number).as_slice()).map_err(redb::Error::from)?;
            }
        }
        for (address, slot) in &changeset.slots {
            let later = storage_history_key(address, slot, number + 1)..=storage_history_key(address, slot, until);
            if storage_history.range(later.start().as_slice()..=later.end().as_slice()).map_err(redb::Error::from)?.next().is_some() {
                storage_history.remove(storage_history_key(address, slot, number).as_slice()).map_err(redb::Error::from)?;
            }
        }
    }
    meta.insert(EARLIEST_STATE_KEY, until.to_be_bytes().as_slice()).map_err(redb::Error::from)?;
    Ok(())
}
