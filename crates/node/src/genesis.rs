//! Block 0 from the genesis file.

use crate::storage::{BlockCommit, StoredAccount};
use alloy_consensus::Header;
use alloy_primitives::{B256, B64, Bloom, KECCAK256_EMPTY, U256, keccak256};
use alloy_trie::{EMPTY_ROOT_HASH, TrieAccount};
use ande_chain::ChainSpec;

/// The genesis block's commit and hash.
pub fn genesis_block(spec: &ChainSpec) -> (BlockCommit, B256) {
    let genesis = &spec.genesis;
    let mut commit = BlockCommit::default();
    // Hashed once, keeping no trie: the node builds its own from the store, and on every restart
    // this only checks the store's genesis.
    let mut accounts = Vec::with_capacity(genesis.alloc.len());
    for (address, account) in &genesis.alloc {
        let code = account.code.clone().filter(|c| !c.is_empty());
        let code_hash = code.as_ref().map_or(KECCAK256_EMPTY, keccak256);
        if let Some(code) = code {
            commit.codes.push((code_hash, code));
        }
        let stored = StoredAccount { nonce: account.nonce.unwrap_or_default(), balance: account.balance, code_hash };
        commit.accounts.push((*address, Some(stored)));
        let first_slot = commit.storage.len();
        for (slot, value) in account.storage.iter().flatten() {
            let value = U256::from_be_bytes(value.0);
            if !value.is_zero() {
                commit.storage.push((*address, U256::from_be_bytes(slot.0), value));
            }
        }
        let slots = commit.storage[first_slot..].iter().map(|(_, slot, value)| (B256::from(*slot), *value));
        let storage_root = alloy_trie::root::storage_root_unhashed(slots);
        accounts.push((*address, TrieAccount { nonce: stored.nonce, balance: stored.balance, storage_root, code_hash }));
    }
    let header = crate::header::prague(Header {
        parent_hash: B256::ZERO,
        beneficiary: genesis.coinbase,
        state_root: alloy_trie::root::state_root_unhashed(accounts),
        transactions_root: EMPTY_ROOT_HASH,
        receipts_root: EMPTY_ROOT_HASH,
        logs_bloom: Bloom::ZERO,
        difficulty: genesis.difficulty,
        number: 0,
        gas_limit: genesis.gas_limit,
        gas_used: 0,
        timestamp: genesis.timestamp,
        extra_data: genesis.extra_data.clone(),
        mix_hash: genesis.mix_hash,
        nonce: B64::from(genesis.nonce),
        base_fee_per_gas: Some(spec.initial_base_fee),
        ..Default::default()
    });
    let hash = header.hash_slow();
    commit.hash = hash;
    commit.header = header;
    (commit, hash)
}
