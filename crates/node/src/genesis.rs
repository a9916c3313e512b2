//! Block 0 from the genesis file.

use crate::storage::{BlockCommit, StoredAccount};
use crate::trie::StateTrie;
use alloy_consensus::Header;
use alloy_primitives::{B256, B64, Bloom, KECCAK256_EMPTY, U256, keccak256};
use alloy_trie::EMPTY_ROOT_HASH;
use ande_chain::ChainSpec;

/// The genesis block's commit and hash.
pub fn genesis_block(spec: &ChainSpec) -> (BlockCommit, B256) {
    let genesis = &spec.genesis;
    let mut commit = BlockCommit::default();
    let mut trie = StateTrie::default();
    for (address, account) in &genesis.alloc {
        let code = account.code.clone().filter(|c| !c.is_empty());
        let code_hash = code.as_ref().map_or(KECCAK256_EMPTY, keccak256);
        if let Some(code) = code {
            commit.codes.push((code_hash, code));
        }
        let stored = StoredAccount { nonce: account.nonce.unwrap_or_default(), balance: account.balance, code_hash };
        trie.set_account(address, Some(stored));
        commit.accounts.push((*address, Some(stored)));
        for (slot, value) in account.storage.iter().flatten() {
            let slot = U256::from_be_bytes(slot.0);
            let value = U256::from_be_bytes(value.0);
            if !value.is_zero() {
                trie.set_slot(address, &slot, value);
                commit.storage.push((*address, slot, value));
            }
        }
    }
    let header = crate::header::prague(Header {
        parent_hash: B256::ZERO,
        beneficiary: genesis.coinbase,
        state_root: trie.root(),
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
