//! The state trie: an in-memory copy of the hashed state, from which the state root and
//! `eth_getProof` proofs are computed with alloy-trie's hash builder.
//!
//! Storage roots are cached per account and recomputed only for accounts whose storage changed.
//! The account trie is split into 256 buckets by the first byte of the hashed address; each
//! bucket's subtrie hash is cached and recomputed only when one of its accounts changed. Once
//! every bucket's subtrie starts with a branch node (any state of a few thousand accounts), the
//! root is assembled from the bucket hashes; smaller states are hashed whole.

use crate::storage::StoredAccount;
use alloy_primitives::{Address, B256, Bytes, U256, keccak256, map::HashSet};
use alloy_rlp::Encodable;
use alloy_trie::{EMPTY_ROOT_HASH, HashBuilder, Nibbles, TrieAccount, proof::ProofRetainer};
use std::collections::{BTreeMap, HashMap};

#[derive(Debug, Clone)]
struct Leaf {
    account: StoredAccount,
    storage_root: B256,
}

#[derive(Debug)]
pub struct StateTrie {
    accounts: BTreeMap<B256, Leaf>,
    storage: HashMap<B256, BTreeMap<B256, U256>>,
    dirty_storage: HashSet<B256>,
    /// Subtrie hash of each first-byte bucket of the account trie; `None` when it must be
    /// recomputed.
    buckets: Box<[Option<B256>; 256]>,
}

impl Default for StateTrie {
    fn default() -> Self {
        Self {
            accounts: BTreeMap::new(),
            storage: HashMap::new(),
            dirty_storage: HashSet::default(),
            buckets: Box::new([None; 256]),
        }
    }
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
        self.buckets[key[0] as usize] = None;
        match account {
            None => {
                self.accounts.remove(&key);
                self.storage.remove(&key);
                self.dirty_storage.remove(&key);
            }
            Some(account) => {
                self.accounts
                    .entry(key)
                    .and_modify(|leaf| leaf.account = account)
                    .or_insert(Leaf { account, storage_root: EMPTY_ROOT_HASH });
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
            let root = self.storage.get(&key).map_or(EMPTY_ROOT_HASH, |s| storage_root(s, None).0);
            if let Some(leaf) = self.accounts.get_mut(&key) {
                leaf.storage_root = root;
                self.buckets[key[0] as usize] = None;
            }
        }
        if !self.buckets_branch_at_depth_two() {
            return self.account_root(None).0;
        }
        let mut builder = HashBuilder::default();
        for byte in 0..=255u8 {
            let Some((first, _)) = self.bucket(byte).next() else { continue };
            let prefix = Nibbles::unpack(first).slice(..2);
            let hash = match self.buckets[byte as usize] {
                Some(hash) => hash,
                None => {
                    let hash = self.bucket_hash(byte);
                    self.buckets[byte as usize] = Some(hash);
                    hash
                }
            };
            builder.add_branch(prefix, hash, false);
        }
        builder.root()
    }

    fn bucket(&self, byte: u8) -> impl DoubleEndedIterator<Item = (&B256, &Leaf)> {
        let mut from = B256::ZERO;
        from[0] = byte;
        let mut to = B256::repeat_byte(0xff);
        to[0] = byte;
        self.accounts.range(from..=to)
    }

    /// Whether every non-empty bucket's subtrie is a branch node at depth 2 (its keys differ in
    /// the third nibble), so that bucket hashes can stand in for their subtries. That also needs
    /// two buckets or more, so the root itself is built above them.
    fn buckets_branch_at_depth_two(&self) -> bool {
        let mut non_empty = 0;
        for byte in 0..=255u8 {
            let mut bucket = self.bucket(byte);
            let Some((first, _)) = bucket.next() else { continue };
            let Some((last, _)) = bucket.next_back() else { return false };
            if first[1] >> 4 == last[1] >> 4 {
                return false;
            }
            non_empty += 1;
        }
        non_empty >= 2
    }

    /// The hash of the branch node at a bucket's two-nibble prefix: its keys, without that
    /// prefix, hashed as a trie of their own.
    fn bucket_hash(&self, byte: u8) -> B256 {
        let mut builder = HashBuilder::default();
        let mut buf = Vec::with_capacity(128);
        for (key, leaf) in self.bucket(byte) {
            buf.clear();
            trie_account(leaf).encode(&mut buf);
            builder.add_leaf(Nibbles::unpack(key).slice(2..), &buf);
        }
        builder.root()
    }

    fn account_root(&self, target: Option<Nibbles>) -> (B256, Vec<Bytes>) {
        let mut builder = match &target {
            Some(t) => HashBuilder::default().with_proof_retainer(ProofRetainer::new(vec![*t])),
            None => HashBuilder::default(),
        };
        let mut buf = Vec::with_capacity(128);
        for (key, leaf) in &self.accounts {
            buf.clear();
            trie_account(leaf).encode(&mut buf);
            builder.add_leaf(Nibbles::unpack(key), &buf);
        }
        let root = builder.root();
        let proof = target.map(|t| proof_path(&mut builder, &t)).unwrap_or_default();
        (root, proof)
    }

    /// Proof of `address` and `slots` against the root last returned by [`Self::root`].
    pub fn proof(&self, address: &Address, slots: &[B256]) -> AccountProof {
        let key = keccak256(address);
        let (_, account_proof) = self.account_root(Some(Nibbles::unpack(key)));
        let leaf = self.accounts.get(&key);
        let empty = BTreeMap::new();
        let account_storage = self.storage.get(&key).unwrap_or(&empty);
        let storage_proofs = slots
            .iter()
            .map(|slot| {
                let hashed = keccak256(slot);
                let value = account_storage.get(&hashed).copied().unwrap_or_default();
                let (_, proof) = storage_root(account_storage, Some(Nibbles::unpack(hashed)));
                (*slot, value, proof)
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

fn storage_root(slots: &BTreeMap<B256, U256>, target: Option<Nibbles>) -> (B256, Vec<Bytes>) {
    let mut builder = match &target {
        Some(t) => HashBuilder::default().with_proof_retainer(ProofRetainer::new(vec![*t])),
        None => HashBuilder::default(),
    };
    let mut buf = Vec::with_capacity(33);
    for (key, value) in slots {
        buf.clear();
        value.encode(&mut buf);
        builder.add_leaf(Nibbles::unpack(key), &buf);
    }
    let root = builder.root();
    let proof = target.map(|t| proof_path(&mut builder, &t)).unwrap_or_default();
    (root, proof)
}

fn proof_path(builder: &mut HashBuilder, target: &Nibbles) -> Vec<Bytes> {
    builder.take_proof_nodes().matching_nodes_sorted(target).into_iter().map(|(_, node)| node).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::{KECCAK256_EMPTY, address, b256};
    use alloy_trie::proof::verify_proof;

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

    #[test]
    fn bucketed_root_matches_the_whole_trie() {
        let mut trie = StateTrie::default();
        let account = |i: u64| StoredAccount { nonce: i, balance: U256::from(i * 7 + 1), code_hash: KECCAK256_EMPTY };
        // Grow through the sizes where bucketing switches on, checking every step.
        for i in 0..6000u64 {
            trie.set_account(&Address::from_word(keccak256(i.to_be_bytes())), Some(account(i)));
            if i % 500 == 0 || (4000..4100).contains(&i) {
                assert_eq!(trie.root(), trie.account_root(None).0, "after {i} accounts");
            }
        }
        // Changes, deletions and storage in a large state use the cached buckets.
        assert!(trie.buckets_branch_at_depth_two());
        for i in (0..6000u64).step_by(97) {
            let address = Address::from_word(keccak256(i.to_be_bytes()));
            if i % 2 == 0 {
                trie.set_account(&address, None);
            } else {
                trie.set_account(&address, Some(account(i + 1)));
                trie.set_slot(&address, &U256::from(i), U256::from(1u64));
            }
            assert_eq!(trie.root(), trie.account_root(None).0, "after changing {i}");
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
