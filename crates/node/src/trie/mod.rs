//! The state trie: the hashed state in memory, from which the state root and `eth_getProof`
//! proofs are computed incrementally (see [`incremental`]).
//!
//! The account trie and each account's storage trie keep the branch nodes of their last root,
//! so a block's root costs what the block changed, not what the state holds.

mod incremental;

use crate::storage::StoredAccount;
use alloy_primitives::{Address, B256, Bytes, U256, keccak256, map::HashSet};
use alloy_rlp::Encodable;
use alloy_trie::{EMPTY_ROOT_HASH, Nibbles, TrieAccount, proof::ProofNodes};
use incremental::{LeafValue, Trie};
use std::collections::HashMap;

#[derive(Debug, Clone)]
struct Leaf {
    account: StoredAccount,
    storage_root: B256,
}

impl LeafValue for Leaf {
    fn encode_leaf(&self, out: &mut Vec<u8>) {
        trie_account(self).encode(out);
    }
}

impl LeafValue for U256 {
    fn encode_leaf(&self, out: &mut Vec<u8>) {
        self.encode(out);
    }
}

#[derive(Debug, Default)]
pub struct StateTrie {
    accounts: Trie<Leaf>,
    storage: HashMap<B256, Trie<U256>>,
    /// Accounts whose storage changed since the last [`Self::root`].
    dirty_storage: HashSet<B256>,
}

/// A Merkle proof of one account and some of its slots, as `eth_getProof` returns it.
#[derive(Debug)]
pub struct AccountProof {
    pub account: Option<StoredAccount>,
    pub storage_root: B256,
    pub account_proof: Vec<Bytes>,
    pub storage_proofs: Vec<(B256, U256, Vec<Bytes>)>,
}

impl StateTrie {
    pub fn set_account(&mut self, address: &Address, account: Option<StoredAccount>) {
        let key = keccak256(address);
        match account {
            None => {
                self.accounts.remove(&key);
                self.storage.remove(&key);
                self.dirty_storage.remove(&key);
            }
            Some(account) => {
                self.accounts.upsert(key, |leaf| leaf.account = account, || Leaf { account, storage_root: EMPTY_ROOT_HASH })
            }
        }
    }

    pub fn set_slot(&mut self, address: &Address, slot: &U256, value: U256) {
        let key = keccak256(address);
        let slots = self.storage.entry(key).or_default();
        let hashed_slot = keccak256(slot.to_be_bytes::<32>());
        if value.is_zero() {
            slots.remove(&hashed_slot);
        } else {
            slots.insert(hashed_slot, value);
        }
        self.dirty_storage.insert(key);
    }

    /// An account's storage root as of the last [`Self::root`].
    pub fn storage_root(&self, address: &Address) -> B256 {
        self.accounts.get(&keccak256(address)).map_or(EMPTY_ROOT_HASH, |leaf| leaf.storage_root)
    }

    pub fn account_count(&self) -> usize {
        self.accounts.len()
    }

    /// The state root, after refreshing the storage roots that changed.
    pub fn root(&mut self) -> B256 {
        for key in std::mem::take(&mut self.dirty_storage) {
            let Some(slots) = self.storage.get_mut(&key) else { continue };
            let root = slots.root();
            if slots.is_empty() {
                self.storage.remove(&key);
            }
            if self.accounts.get(&key).is_some_and(|leaf| leaf.storage_root != root) {
                self.accounts.update(&key, |leaf| leaf.storage_root = root);
            }
        }
        self.accounts.root()
    }

    /// Proof of `address` and `slots` against the root last returned by [`Self::root`].
    pub fn proof(&self, address: &Address, slots: &[B256]) -> AccountProof {
        let key = keccak256(address);
        let leaf = self.accounts.get(&key);
        let account_proof = path_nodes(&self.accounts.proof(&[key]), &key);
        let hashed: Vec<B256> = slots.iter().map(keccak256).collect();
        let empty = Trie::default();
        let account_storage = self.storage.get(&key).unwrap_or(&empty);
        let storage_nodes = account_storage.proof(&hashed);
        let storage_proofs = slots
            .iter()
            .zip(&hashed)
            .map(|(slot, hashed)| {
                let value = account_storage.get(hashed).copied().unwrap_or_default();
                (*slot, value, path_nodes(&storage_nodes, hashed))
            })
            .collect();
        AccountProof {
            account: leaf.map(|l| l.account),
            storage_root: leaf.map_or(EMPTY_ROOT_HASH, |l| l.storage_root),
            account_proof,
            storage_proofs,
        }
    }
}

fn trie_account(leaf: &Leaf) -> TrieAccount {
    TrieAccount {
        nonce: leaf.account.nonce,
        balance: leaf.account.balance,
        storage_root: leaf.storage_root,
        code_hash: leaf.account.code_hash,
    }
}

/// The nodes on `key`'s path, root first.
fn path_nodes(nodes: &ProofNodes, key: &B256) -> Vec<Bytes> {
    nodes.matching_nodes_sorted(&Nibbles::unpack(key)).into_iter().map(|(_, node)| node).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::{KECCAK256_EMPTY, address, b256};
    use alloy_trie::proof::verify_proof;
    use std::collections::BTreeMap;

    #[test]
    fn empty_state_has_the_empty_root() {
        assert_eq!(StateTrie::default().root(), EMPTY_ROOT_HASH);
    }

    #[test]
    fn single_account_root_matches_known_value() {
        // One account with balance 1 and no code or storage: the root geth computes for that alloc.
        let mut trie = StateTrie::default();
        let account = StoredAccount {
            nonce: 0,
            balance: U256::from(1u64),
            code_hash: alloy_primitives::KECCAK256_EMPTY,
        };
        trie.set_account(&address!("0x0000000000000000000000000000000000000001"), Some(account));
        let leaf = trie_account(&Leaf { account, storage_root: EMPTY_ROOT_HASH });
        let expected = alloy_trie::root::state_root_unhashed([(
            address!("0x0000000000000000000000000000000000000001"),
            leaf,
        )]);
        assert_eq!(trie.root(), expected);
    }

    /// The state root of `state` computed from scratch.
    fn reference_root(state: &BTreeMap<Address, (StoredAccount, BTreeMap<U256, U256>)>) -> B256 {
        alloy_trie::root::state_root_unhashed(state.iter().map(|(address, (account, slots))| {
            let storage_root = alloy_trie::root::storage_root_unhashed(slots.iter().map(|(s, v)| (B256::from(*s), *v)));
            let leaf = Leaf { account: *account, storage_root };
            (*address, trie_account(&leaf))
        }))
    }

    #[test]
    fn incremental_state_roots_equal_roots_from_scratch_over_random_blocks() {
        let mut seed = 7u64;
        let mut next = move |n: u64| {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (seed >> 33) % n
        };
        let address = |i: u64| Address::from_word(keccak256(i.to_be_bytes()));
        let mut trie = StateTrie::default();
        let mut state: BTreeMap<Address, (StoredAccount, BTreeMap<U256, U256>)> = BTreeMap::new();
        for block in 0..2000u64 {
            for _ in 0..1 + next(12) {
                let who = address(next(200));
                match next(10) {
                    // An account destroyed with its storage, possibly re-created in the same block.
                    0 => {
                        trie.set_account(&who, None);
                        state.remove(&who);
                        if next(2) == 0 {
                            let account = StoredAccount { nonce: 1, balance: U256::from(block), code_hash: KECCAK256_EMPTY };
                            trie.set_account(&who, Some(account));
                            state.insert(who, (account, BTreeMap::new()));
                        }
                    }
                    1..=4 => {
                        let account = StoredAccount { nonce: block, balance: U256::from(next(1 << 40)), code_hash: KECCAK256_EMPTY };
                        trie.set_account(&who, Some(account));
                        state.entry(who).or_insert((account, BTreeMap::new())).0 = account;
                    }
                    _ => {
                        let Some((_, slots)) = state.get_mut(&who) else { continue };
                        let (slot, value) = (U256::from(next(40)), U256::from(next(3)));
                        trie.set_slot(&who, &slot, value);
                        if value.is_zero() {
                            slots.remove(&slot);
                        } else {
                            slots.insert(slot, value);
                        }
                    }
                }
            }
            assert_eq!(trie.root(), reference_root(&state), "block {block}");
        }
    }

    #[test]
    fn proofs_verify_against_the_root() {
        let mut trie = StateTrie::default();
        for i in 1..50u8 {
            let account = StoredAccount { nonce: i as u64, balance: U256::from(i), code_hash: B256::repeat_byte(i) };
            trie.set_account(&Address::repeat_byte(i), Some(account));
        }
        trie.set_slot(&Address::repeat_byte(3), &U256::from(1u64), U256::from(77u64));
        let root = trie.root();
        let proof = trie.proof(&Address::repeat_byte(3), &[b256!("0x0000000000000000000000000000000000000000000000000000000000000001")]);
        let leaf = Leaf { account: proof.account.unwrap(), storage_root: proof.storage_root };
        let mut value = Vec::new();
        trie_account(&leaf).encode(&mut value);
        verify_proof(root, Nibbles::unpack(keccak256(Address::repeat_byte(3))), Some(value), &proof.account_proof)
            .unwrap();
        let (slot, slot_value, slot_proof) = &proof.storage_proofs[0];
        assert_eq!(*slot_value, U256::from(77u64));
        let mut encoded = Vec::new();
        slot_value.encode(&mut encoded);
        verify_proof(proof.storage_root, Nibbles::unpack(keccak256(slot)), Some(encoded), slot_proof).unwrap();
    }
}
