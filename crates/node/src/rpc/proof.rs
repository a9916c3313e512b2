//! `eth_getProof`, served for the head block, whose trie the node holds in memory.

use super::error::{self, RpcResult};
use crate::chain::Chain;
use alloy_primitives::{Address, B256};
use alloy_rpc_types_eth::{BlockId, BlockNumberOrTag, EIP1186AccountProofResponse, EIP1186StorageProof};
use alloy_serde::JsonStorageKey;

const MAX_KEYS: usize = 1024;

pub fn account_proof(
    chain: &Chain,
    address: Address,
    keys: Vec<JsonStorageKey>,
    block: Option<BlockId>,
) -> RpcResult<EIP1186AccountProofResponse> {
    if keys.len() > MAX_KEYS {
        return Err(error::invalid_params(format!("at most {MAX_KEYS} storage keys per proof")));
    }
    // The trie lock also holds off the next block, so the head read here is the trie's state.
    let trie = chain.trie.lock();
    let head = chain.head();
    let served = match block.unwrap_or_default() {
        BlockId::Number(BlockNumberOrTag::Number(n)) => n == head.header.number,
        BlockId::Number(BlockNumberOrTag::Earliest) => head.header.number == 0,
        BlockId::Number(_) => true,
        BlockId::Hash(h) => h.block_hash == head.hash,
    };
    if !served {
        return Err(error::server(format!(
            "proofs are served for the head block only (head is {})",
            head.header.number
        )));
    }
    let slots: Vec<B256> = keys.iter().map(|k| k.as_b256()).collect();
    let proof = trie.proof(&address, &slots);
    let account = proof.account.unwrap_or_default();
    Ok(EIP1186AccountProofResponse {
        address,
        balance: account.balance,
        code_hash: if proof.account.is_some() { account.code_hash } else { alloy_primitives::KECCAK256_EMPTY },
        nonce: account.nonce,
        storage_hash: proof.storage_root,
        account_proof: proof.account_proof,
        storage_proof: keys
            .into_iter()
            .zip(proof.storage_proofs)
            .map(|(key, (_, value, proof))| EIP1186StorageProof { key, value, proof })
            .collect(),
    })
}
