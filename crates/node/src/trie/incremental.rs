//! One Merkle Patricia trie whose root is recomputed from what changed.
//!
//! It keeps its leaves, every branch node of its last root (alloy-trie's `BranchNodeCompact`:
//! which children exist, which are branches, and those branches' hashes), and the keys changed
//! since. A new root walks down the changed keys' paths only: an untouched child branch goes into
//! the hash builder as its stored hash, an untouched leaf beside a changed path is re-added from
//! the leaves. So a root costs O(changes × depth) whatever the trie's size, as reth's `StateRoot`
//! does with prefix sets over its trie tables. Proofs take the same walk with their keys as the
//! changed ones, so they cost the same and change nothing.

use alloy_primitives::B256;
use alloy_trie::{BranchNodeCompact, EMPTY_ROOT_HASH, HashBuilder, Nibbles, proof::{ProofNodes, ProofRetainer}};
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;

/// A leaf's value as the trie hashes it.
pub trait LeafValue {
    fn encode_leaf(&self, out: &mut Vec<u8>);
}

#[derive(Debug)]
pub struct Trie<V> {
    leaves: BTreeMap<B256, V>,
    /// Every branch node of the trie as of `root`, by path.
    branches: BTreeMap<Nibbles, BranchNodeCompact>,
    /// Keys inserted, updated or removed since `root` was computed; kept only while there are
    /// branches to keep, since a trie without any is rebuilt from its leaves.
    changed: BTreeSet<B256>,
    /// Whether `root` is out of date.
    stale: bool,
    root: B256,
}

impl<V> Default for Trie<V> {
    fn default() -> Self {
        Self { leaves: BTreeMap::new(), branches: BTreeMap::new(), changed: BTreeSet::new(), stale: false, root: EMPTY_ROOT_HASH }
    }
}

impl<V: LeafValue> Trie<V> {
    pub fn get(&self, key: &B256) -> Option<&V> {
        self.leaves.get(key)
    }

    /// Changes the leaf at `key` in place, or inserts `new()` there when it has none.
    pub fn upsert(&mut self, key: B256, change: impl FnOnce(&mut V), new: impl FnOnce() -> V) {
        self.leaves.entry(key).and_modify(change).or_insert_with(new);
        self.mark(&key);
    }

    /// Changes the leaf at `key` in place, if there is one.
    pub fn update(&mut self, key: &B256, change: impl FnOnce(&mut V)) {
        if let Some(value) = self.leaves.get_mut(key) {
            change(value);
            self.mark(key);
        }
    }

    pub fn insert(&mut self, key: B256, value: V) {
        self.leaves.insert(key, value);
        self.mark(&key);
    }

    pub fn remove(&mut self, key: &B256) {
        if self.leaves.remove(key).is_some() {
            self.mark(key);
        }
    }

    fn mark(&mut self, key: &B256) {
        self.stale = true;
        if !self.branches.is_empty() {
            self.changed.insert(*key);
        }
    }

    pub fn len(&self) -> usize {
        self.leaves.len()
    }

    pub fn is_empty(&self) -> bool {
        self.leaves.is_empty()
    }

    /// The root, recomputed along the paths changed since the last call.
    pub fn root(&mut self) -> B256 {
        if !self.stale {
            return self.root;
        }
        self.stale = false;
        let changed = std::mem::take(&mut self.changed);
        let builder = HashBuilder::default().with_updates(true).with_all_branch_nodes(true);
        let mut walk = Walk::new(self, &changed, builder);
        walk.subtree(Nibbles::default(), None);
        let root = walk.builder.root();
        let descended = walk.descended;
        let (_, updates) = walk.builder.split();
        // The walk rebuilt every branch it went into; those that no longer exist are not in the
        // updates.
        if self.branches.is_empty() {
            // Collected, the map is built in bulk from sorted entries: a trie's first root (at
            // start-up) records every branch at once.
            self.branches = updates.into_iter().collect();
        } else {
            for path in descended {
                self.branches.remove(&path);
            }
            self.branches.extend(updates);
        }
        self.root = root;
        root
    }

    /// The nodes proving each of `keys` (present or absent) against [`Self::root`]'s last answer.
    pub fn proof(&self, keys: &[B256]) -> ProofNodes {
        debug_assert!(!self.stale, "a proof needs the root of the current leaves");
        let targets: BTreeSet<B256> = keys.iter().copied().collect();
        let retainer = ProofRetainer::new(targets.iter().map(Nibbles::unpack).collect());
        let mut walk = Walk::new(self, &targets, HashBuilder::default().with_proof_retainer(retainer));
        walk.subtree(Nibbles::default(), None);
        walk.builder.root();
        walk.builder.take_proof_nodes()
    }
}

/// Feeds a hash builder, in key order, everything under the paths of `changed` keys, and the
/// stored hash of every untouched branch beside them.
struct Walk<'a, V> {
    leaves: &'a BTreeMap<B256, V>,
    branches: &'a BTreeMap<Nibbles, BranchNodeCompact>,
    changed: &'a BTreeSet<B256>,
    builder: HashBuilder,
    /// Stored branches the walk went into, so rebuilt.
    descended: Vec<Nibbles>,
    buf: Vec<u8>,
}

impl<'a, V: LeafValue> Walk<'a, V> {
    fn new(trie: &'a Trie<V>, changed: &'a BTreeSet<B256>, builder: HashBuilder) -> Self {
        Self { leaves: &trie.leaves, branches: &trie.branches, changed, builder, descended: Vec::new(), buf: Vec::with_capacity(128) }
    }

    /// Everything under `path`. `hash` is the hash of the branch stored at `path`, when its
    /// parent holds it.
    fn subtree(&mut self, path: Nibbles, hash: Option<B256>) {
        let branches = self.branches;
        if let Some(branch) = branches.get(&path) {
            if let (false, Some(hash)) = (self.changed_under(&path), hash) {
                self.builder.add_branch(path, hash, true);
                return;
            }
            self.descended.push(path);
            for nibble in 0..16u8 {
                let child = with_nibble(path, nibble);
                if branch.state_mask.is_bit_set(nibble) {
                    let hash = branch.hash_mask.is_bit_set(nibble).then(|| branch.hash_for_nibble(nibble));
                    self.subtree(child, hash);
                } else if self.changed_under(&child) {
                    self.leaves_under(&child);
                }
            }
            return;
        }
        match branches.range((Bound::Excluded(path), Bound::Unbounded)).next() {
            // `path` lies on an extension above the stored branch at `below` (nothing else
            // was under `path` before): follow it, and add what was inserted beside it.
            Some((below, _)) if below.starts_with(&path) => {
                let next = below.get_unchecked(path.len());
                for nibble in 0..16u8 {
                    let child = with_nibble(path, nibble);
                    if nibble == next {
                        self.subtree(child, None);
                    } else if self.changed_under(&child) {
                        self.leaves_under(&child);
                    }
                }
            }
            // No branch below: a leaf, or leaves inserted since.
            _ => self.leaves_under(&path),
        }
    }

    fn changed_under(&self, path: &Nibbles) -> bool {
        self.changed.range(lowest_key(path)..).next().is_some_and(|key| Nibbles::unpack(key).starts_with(path))
    }

    fn leaves_under(&mut self, path: &Nibbles) {
        for (key, value) in self.leaves.range(lowest_key(path)..) {
            let nibbles = Nibbles::unpack(key);
            if !nibbles.starts_with(path) {
                break;
            }
            self.buf.clear();
            value.encode_leaf(&mut self.buf);
            self.builder.add_leaf(nibbles, &self.buf);
        }
    }
}

fn with_nibble(mut path: Nibbles, nibble: u8) -> Nibbles {
    path.push_unchecked(nibble);
    path
}

/// The smallest key under `path`.
fn lowest_key(path: &Nibbles) -> B256 {
    let mut key = B256::ZERO;
    path.pack_to(&mut key.0);
    key
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::{Bytes, keccak256};
    use alloy_rlp::Encodable;
    use alloy_trie::proof::verify_proof;

    impl LeafValue for u64 {
        fn encode_leaf(&self, out: &mut Vec<u8>) {
            self.encode(out);
        }
    }

    /// The root and branch nodes built from scratch over `leaves`.
    fn from_scratch(leaves: &BTreeMap<B256, u64>) -> (B256, BTreeMap<Nibbles, BranchNodeCompact>) {
        let mut builder = HashBuilder::default().with_updates(true).with_all_branch_nodes(true);
        let mut buf = Vec::new();
        for (key, value) in leaves {
            buf.clear();
            value.encode(&mut buf);
            builder.add_leaf(Nibbles::unpack(key), &buf);
        }
        let root = builder.root();
        (root, builder.split().1.into_iter().collect())
    }

    /// The proof nodes of `keys` from a hash builder fed every leaf.
    fn scratch_proof(leaves: &BTreeMap<B256, u64>, keys: &[B256]) -> ProofNodes {
        let mut builder = HashBuilder::default().with_proof_retainer(ProofRetainer::new(keys.iter().map(Nibbles::unpack).collect()));
        let mut buf = Vec::new();
        for (key, value) in leaves {
            buf.clear();
            value.encode(&mut buf);
            builder.add_leaf(Nibbles::unpack(key), &buf);
        }
        builder.root();
        builder.take_proof_nodes()
    }

    /// Deterministic pseudo-random numbers.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    #[derive(Clone, Copy)]
    enum Keys {
        Random,
        /// Sharing long prefixes, so extensions form and collapse.
        Clustered,
        /// Differing in their last byte only: branches small enough to be inlined in their parent.
        Deep,
    }

    fn key(rng: &mut Rng, keys: Keys) -> B256 {
        let mut key = keccak256(rng.next().to_be_bytes());
        match keys {
            Keys::Random => {}
            Keys::Clustered => {
                let cluster = rng.below(4) as u8;
                key.0[..6].copy_from_slice(&[cluster, 0x11, cluster, 0x22, 0, rng.below(3) as u8]);
            }
            Keys::Deep => {
                key.0[..31].fill(rng.below(2) as u8);
            }
        }
        key
    }

    fn check(trie: &mut Trie<u64>, reference: &BTreeMap<B256, u64>, context: &str) {
        let (root, branches) = from_scratch(reference);
        assert_eq!(trie.root(), root, "root {context}");
        assert_eq!(trie.branches, branches, "stored branches {context}");
    }

    #[test]
    fn incremental_roots_and_nodes_equal_those_built_from_scratch() {
        for (seed, size, keys) in [(1, 8, Keys::Random), (2, 40, Keys::Clustered), (3, 300, Keys::Clustered), (4, 3000, Keys::Random), (5, 3000, Keys::Clustered), (6, 40, Keys::Deep), (7, 300, Keys::Deep)] {
            let mut rng = Rng(seed);
            let mut trie = Trie::default();
            let mut reference = BTreeMap::new();
            for block in 0..60 {
                let writes = 1 + rng.below(if block == 0 { size } else { size / 4 + 2 });
                for _ in 0..writes {
                    let existing = reference.keys().nth(rng.below(reference.len().max(1) as u64) as usize).copied();
                    match (rng.below(3), existing) {
                        (0, Some(k)) => {
                            trie.remove(&k);
                            reference.remove(&k);
                        }
                        (1, Some(k)) => {
                            let v = rng.next();
                            trie.insert(k, v);
                            reference.insert(k, v);
                        }
                        _ => {
                            let (k, v) = (key(&mut rng, keys), rng.below(if matches!(keys, Keys::Deep) { 3 } else { u64::MAX }));
                            trie.insert(k, v);
                            reference.insert(k, v);
                        }
                    }
                }
                check(&mut trie, &reference, &format!("seed {seed} block {block}"));
            }
            // Down to one leaf, then none.
            while reference.len() > 1 {
                let k = *reference.keys().next().unwrap();
                trie.remove(&k);
                reference.remove(&k);
                if reference.len() % 97 == 1 {
                    check(&mut trie, &reference, &format!("seed {seed} emptying at {}", reference.len()));
                }
            }
            let k = *reference.keys().next().unwrap();
            trie.remove(&k);
            reference.remove(&k);
            check(&mut trie, &reference, &format!("seed {seed} empty"));
            assert_eq!(trie.root(), EMPTY_ROOT_HASH);
        }
    }

    #[test]
    fn proofs_of_present_and_absent_keys_verify() {
        let mut rng = Rng(9);
        let mut trie = Trie::default();
        let mut reference = BTreeMap::new();
        let kinds = [Keys::Random, Keys::Clustered, Keys::Deep];
        for _ in 0..2000 {
            let keys = kinds[rng.below(3) as usize];
            let (k, v) = (key(&mut rng, keys), rng.below(1000));
            trie.insert(k, v);
            reference.insert(k, v);
        }
        // After the first build, then after changes and removals.
        for round in 0..3 {
            let root = trie.root();
            let present: Vec<B256> = reference.keys().step_by(37).copied().collect();
            let absent: Vec<B256> = kinds.iter().flat_map(|&keys| (0..10).map(|_| key(&mut rng, keys)).collect::<Vec<_>>()).collect();
            let keys: Vec<B256> = present.iter().chain(&absent).copied().collect();
            let nodes = trie.proof(&keys);
            let mut verified = 0;
            assert_eq!(nodes.nodes_sorted(), scratch_proof(&reference, &keys).nodes_sorted(), "round {round}: the nodes a from-scratch build retains");
            for k in &keys {
                let path = Nibbles::unpack(k);
                let proof: Vec<Bytes> = nodes.matching_nodes_sorted(&path).into_iter().map(|(_, n)| n).collect();
                // A node under 32 bytes is inlined in its parent, yet retained as an element of
                // its own (by any hash builder), which `verify_proof` does not accept.
                if proof.last().is_some_and(|node| node.len() < 32) {
                    continue;
                }
                let value = reference.get(k).map(alloy_rlp::encode);
                verify_proof(root, path, value, &proof).unwrap_or_else(|e| panic!("round {round}, proof of {k}: {e}"));
                verified += 1;
            }
            assert!(verified > keys.len() / 3, "round {round}: {verified} of {} proofs verified", keys.len());
            // A proof walk changes nothing.
            check(&mut trie, &reference, &format!("after the proofs of round {round}"));
            for k in reference.keys().step_by(3).copied().collect::<Vec<_>>() {
                if rng.below(2) == 0 {
                    trie.remove(&k);
                    reference.remove(&k);
                } else {
                    trie.insert(k, round + 7);
                    reference.insert(k, round + 7);
                }
            }
        }
        let empty = Trie::<u64>::default().proof(&[B256::ZERO]);
        let proof: Vec<Bytes> = empty.matching_nodes_sorted(&Nibbles::default()).into_iter().map(|(_, n)| n).collect();
        verify_proof(EMPTY_ROOT_HASH, Nibbles::unpack(B256::ZERO), None, &proof).unwrap();
    }
}
