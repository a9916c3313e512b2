//! Hyperlane's incremental Merkle tree (the MerkleTreeHook's `MerkleLib`): depth 32, keccak256,
//! empty leaves zero. A validator keeps its own copy, so it can sign each message's checkpoint
//! (the root right after that message) and compare its root with the contract's.

use alloy_primitives::{B256, keccak256};
use std::sync::LazyLock;

pub const DEPTH: usize = 32;

/// The roots of empty subtrees of each height.
static ZEROS: LazyLock<[B256; DEPTH]> = LazyLock::new(|| {
    let mut zeros = [B256::ZERO; DEPTH];
    for i in 1..DEPTH {
        zeros[i] = hash(zeros[i - 1], zeros[i - 1]);
    }
    zeros
});

fn hash(left: B256, right: B256) -> B256 {
    keccak256([left.as_slice(), right.as_slice()].concat())
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MerkleTree {
    branch: [B256; DEPTH],
    count: u32,
}

impl MerkleTree {
    pub fn count(&self) -> u32 {
        self.count
    }

    /// Appends a leaf (a message id); None when the tree is full.
    pub fn insert(&mut self, leaf: B256) -> Option<()> {
        if self.count == u32::MAX {
            return None;
        }
        self.count += 1;
        let mut node = leaf;
        let mut size = self.count;
        for i in 0..DEPTH {
            if size & 1 == 1 {
                self.branch[i] = node;
                return Some(());
            }
            node = hash(self.branch[i], node);
            size /= 2;
        }
        unreachable!("a count below 2^32 has a set bit in its 32 bits")
    }

    pub fn root(&self) -> B256 {
        let mut current = B256::ZERO;
        for i in 0..DEPTH {
            current = match (self.count >> i) & 1 {
                1 => hash(self.branch[i], current),
                _ => hash(current, ZEROS[i]),
            };
        }
        current
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::b256;

    /// The root of `leaves` computed the slow way: the whole 2^32-leaf tree, its empty
    /// subtrees folded to their zero roots.
    fn full_root(leaves: &[B256]) -> B256 {
        let mut level: Vec<B256> = leaves.to_vec();
        for zero in ZEROS.iter() {
            if level.len() % 2 == 1 {
                level.push(*zero);
            }
            if level.is_empty() {
                level.push(hash(*zero, *zero));
                continue;
            }
            level = level.chunks(2).map(|pair| hash(pair[0], pair[1])).collect();
        }
        level[0]
    }

    #[test]
    fn the_empty_root_is_hyperlanes() {
        // MerkleLib's root of an empty tree (the hook's `root()` before any message).
        assert_eq!(MerkleTree::default().root(), b256!("27ae5ba08d7291c96c8cbddcc148bf48a6d68c7974b94356f53754ef6171d757"));
        assert_eq!(MerkleTree::default().root(), full_root(&[]));
    }

    #[test]
    fn incremental_roots_match_the_full_tree() {
        let mut tree = MerkleTree::default();
        let mut leaves = Vec::new();
        for i in 0..40u8 {
            let leaf = keccak256([i]);
            tree.insert(leaf).unwrap();
            leaves.push(leaf);
            assert_eq!(tree.root(), full_root(&leaves), "after {} leaves", leaves.len());
        }
        assert_eq!(tree.count(), 40);
    }
}
