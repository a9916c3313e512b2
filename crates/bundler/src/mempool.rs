//! The user-operation mempool: validated operations waiting for a bundle, per sender by nonce,
//! with ERC-7562's limits: one operation per unstaked sender, replacement only with both fees
//! raised by the configured bump, and per-entity caps from the reputation table.

use crate::errors::{self, RpcError};
use crate::reputation::{self, Reputation, Status};
use crate::rules::Staked;
use crate::entity::{self, Entity};
use ande_contracts::userop::UserOperation;
use alloy_primitives::{Address, B256, U256};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Operations in the mempool, all senders together.
    pub max_ops: usize,
    /// Operations an unstaked sender may have waiting.
    pub per_unstaked_sender: usize,
    /// Operations a staked sender may have waiting.
    pub per_staked_sender: usize,
    /// Percent by which a replacement must raise both fees.
    pub price_bump_percent: u128,
}

impl Default for Limits {
    fn default() -> Self {
        Self { max_ops: 4096, per_unstaked_sender: 1, per_staked_sender: 4, price_bump_percent: 10 }
    }
}

/// A validated operation waiting in the mempool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PoolOp {
    pub hash: B256,
    pub entry_point: Address,
    pub op: UserOperation,
    /// Unix seconds when it was accepted.
    pub added_at: u64,
    /// The head it was accepted at.
    pub added_block: u64,
    /// The head of its latest validation: at the same head, bundling need not validate it again.
    #[serde(default)]
    pub validated_block: u64,
    pub staked_sender: bool,
    pub staked_factory: bool,
    pub staked_paymaster: bool,
    /// Storage its validation read in contracts it did not write: its bundle's conditions.
    pub reads: BTreeMap<Address, BTreeMap<U256, B256>>,
    /// Contracts but the sender whose storage its validation touched.
    #[serde(default)]
    pub storage: BTreeSet<Address>,
    /// Unix seconds it stops being valid (`u64::MAX` for never).
    pub valid_until: u64,
    /// The bundle carrying it, while one is in flight.
    #[serde(default)]
    pub bundle: Option<String>,
}

impl PoolOp {
    pub fn staked(&self) -> Staked {
        Staked { account: self.staked_sender, factory: self.staked_factory, paymaster: self.staked_paymaster }
    }

    /// The entities whose reputation the operation counts for: its factory and paymaster, and
    /// its sender when staked.
    pub fn reputation_entities(&self) -> Vec<(Entity, Address)> {
        let mut out: Vec<_> = entity::named(&self.op).collect();
        if self.staked_sender {
            out.push((Entity::Account, self.op.sender));
        }
        out
    }

    fn priority_fee(&self) -> U256 {
        self.op.max_priority_fee_per_gas
    }
}

#[derive(Debug, Default)]
pub struct Mempool {
    limits: Limits,
    by_hash: HashMap<B256, PoolOp>,
    /// (entry point, sender) -> nonce -> hash
    by_sender: HashMap<(Address, Address), BTreeMap<U256, B256>>,
}

impl Mempool {
    pub fn new(limits: Limits) -> Self {
        Self { limits, ..Default::default() }
    }

    pub fn len(&self) -> usize {
        self.by_hash.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_hash.is_empty()
    }

    pub fn get(&self, hash: &B256) -> Option<&PoolOp> {
        self.by_hash.get(hash)
    }

    pub fn get_mut(&mut self, hash: &B256) -> Option<&mut PoolOp> {
        self.by_hash.get_mut(hash)
    }

    pub fn all(&self) -> impl Iterator<Item = &PoolOp> {
        self.by_hash.values()
    }

    /// Every sender with an operation waiting.
    pub fn senders(&self) -> BTreeSet<Address> {
        self.by_sender.keys().map(|(_, s)| *s).collect()
    }

    /// Operations in the mempool that name `address` as an entity or sender.
    pub fn count_entity(&self, address: &Address) -> usize {
        self.by_hash.values().filter(|p| p.op.sender == *address || entity::named(&p.op).any(|(_, a)| a == *address)).count()
    }

    /// The operation `new` would replace (same sender and nonce), if it may; refusals name why.
    pub fn admit(&self, new: &PoolOp, reputation: &Reputation) -> Result<Option<B256>, RpcError> {
        if self.by_hash.contains_key(&new.hash) {
            return Err(RpcError::invalid("the operation is already in the mempool"));
        }
        let key = (new.entry_point, new.op.sender);
        let existing = self.by_sender.get(&key);
        if let Some(old_hash) = existing.and_then(|n| n.get(&new.op.nonce)) {
            let old = &self.by_hash[old_hash];
            if old.bundle.is_some() {
                return Err(RpcError::invalid("the operation it would replace is being bundled"));
            }
            let bump = self.limits.price_bump_percent;
            let needs = |old: U256| old.saturating_mul(U256::from(100 + bump)).div_ceil(U256::from(100));
            if new.op.max_fee_per_gas < needs(old.op.max_fee_per_gas) || new.op.max_priority_fee_per_gas < needs(old.op.max_priority_fee_per_gas) {
                return Err(RpcError::invalid(format!(
                    "replacement underpriced: both maxFeePerGas and maxPriorityFeePerGas must rise by {bump}% over the operation in the mempool"
                )));
            }
            return Ok(Some(*old_hash));
        }
        self.within_quota(new.entry_point, new.op.sender, new.staked_sender)?;
        if self.by_hash.len() >= self.limits.max_ops {
            return Err(RpcError::new(errors::REPUTATION, "the mempool is full"));
        }
        let staked = new.staked();
        for (entity, address) in new.reputation_entities() {
            let entry = reputation.entry(&address);
            let count = self.count_entity(&address);
            match entry.status() {
                // [GREP-010]
                Status::Banned => return Err(RpcError::new(errors::REPUTATION, format!("the {entity} {address} is banned"))),
                // [GREP-020]
                Status::Throttled if count >= reputation::THROTTLED_ENTITY_MEMPOOL_COUNT => {
                    return Err(RpcError::new(errors::REPUTATION, format!("the {entity} {address} is throttled and has {count} operations in the mempool")));
                }
                _ => {}
            }
            // [UREP-020]
            if !staked.of(entity) && entity != Entity::Account && count as u64 >= entry.unstaked_allowance() {
                return Err(RpcError::new(errors::REPUTATION, format!("the unstaked {entity} {address} has {count} operations in the mempool, its most")));
            }
        }
        Ok(None)
    }

    /// What admission would refuse without a simulation: a new nonce from a sender at its
    /// quota, staked or not as its waiting operations were validated. Replacements pass.
    pub fn precheck(&self, entry_point: Address, op: &UserOperation) -> Result<(), RpcError> {
        let Some(waiting) = self.by_sender.get(&(entry_point, op.sender)) else { return Ok(()) };
        if waiting.contains_key(&op.nonce) {
            return Ok(());
        }
        let staked = waiting.values().filter_map(|h| self.by_hash.get(h)).any(|p| p.staked_sender);
        self.within_quota(entry_point, op.sender, staked)
    }

    fn within_quota(&self, entry_point: Address, sender: Address, staked: bool) -> Result<(), RpcError> {
        let waiting = self.by_sender.get(&(entry_point, sender)).map_or(0, BTreeMap::len);
        let cap = if staked { self.limits.per_staked_sender } else { self.limits.per_unstaked_sender };
        if waiting >= cap {
            let kind = if staked { "staked" } else { "unstaked" };
            return Err(RpcError::new(errors::REPUTATION, format!("the {kind} sender {sender} already has {waiting} operation(s) in the mempool (at most {cap})")));
        }
        Ok(())
    }

    pub fn insert(&mut self, op: PoolOp) {
        self.by_sender.entry((op.entry_point, op.op.sender)).or_default().insert(op.op.nonce, op.hash);
        self.by_hash.insert(op.hash, op);
    }

    pub fn remove(&mut self, hash: &B256) -> Option<PoolOp> {
        let op = self.by_hash.remove(hash)?;
        let key = (op.entry_point, op.op.sender);
        if let Some(nonces) = self.by_sender.get_mut(&key) {
            nonces.remove(&op.op.nonce);
            if nonces.is_empty() {
                self.by_sender.remove(&key);
            }
        }
        Some(op)
    }

    /// Operations not in a bundle for `entry_point`, best-paying first, oldest first among equals.
    pub fn candidates(&self, entry_point: Address) -> Vec<&PoolOp> {
        let mut ops: Vec<&PoolOp> = self.by_hash.values().filter(|p| p.entry_point == entry_point && p.bundle.is_none()).collect();
        ops.sort_by(|a, b| b.priority_fee().cmp(&a.priority_fee()).then(a.added_at.cmp(&b.added_at)).then(a.hash.cmp(&b.hash)));
        ops
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::Bytes;

    fn op(sender: u8, nonce: u64, fee: u64, tip: u64) -> PoolOp {
        let user_op = UserOperation {
            sender: Address::repeat_byte(sender),
            nonce: U256::from(nonce),
            factory: None,
            factory_data: None,
            call_data: Bytes::new(),
            call_gas_limit: U256::from(100_000),
            verification_gas_limit: U256::from(100_000),
            pre_verification_gas: U256::from(50_000),
            max_fee_per_gas: U256::from(fee),
            max_priority_fee_per_gas: U256::from(tip),
            paymaster: None,
            paymaster_verification_gas_limit: None,
            paymaster_post_op_gas_limit: None,
            paymaster_data: None,
            signature: Bytes::new(),
            eip7702_auth: None,
        };
        PoolOp {
            hash: B256::from(U256::from(u64::from(sender) << 32 | nonce << 16 | fee)),
            entry_point: Address::ZERO,
            op: user_op,
            added_at: 0,
            added_block: 0,
            validated_block: 0,
            staked_sender: false,
            staked_factory: false,
            staked_paymaster: false,
            reads: BTreeMap::new(),
            storage: BTreeSet::new(),
            valid_until: u64::MAX,
            bundle: None,
        }
    }

    #[test]
    fn replacement_needs_both_fees_up_by_the_bump() {
        let mut pool = Mempool::new(Limits::default());
        let reputation = Reputation::default();
        let first = op(1, 0, 100, 100);
        pool.insert(first.clone());
        let nine = op(1, 0, 109, 109);
        assert!(pool.admit(&nine, &reputation).unwrap_err().message.contains("replacement underpriced"));
        let half = op(1, 0, 110, 109);
        assert!(pool.admit(&half, &reputation).is_err(), "both fees must rise");
        let ten = op(1, 0, 110, 110);
        assert_eq!(pool.admit(&ten, &reputation).unwrap(), Some(first.hash));
    }

    #[test]
    fn one_operation_per_unstaked_sender() {
        let mut pool = Mempool::new(Limits::default());
        let reputation = Reputation::default();
        pool.insert(op(1, 0, 100, 100));
        let second = op(1, 1, 100, 100);
        let refused = pool.admit(&second, &reputation).unwrap_err();
        assert_eq!(refused.code, errors::REPUTATION);
        let mut staked = second.clone();
        staked.staked_sender = true;
        assert_eq!(pool.admit(&staked, &reputation).unwrap(), None, "a staked sender may have more");
    }

    #[test]
    fn a_sender_at_its_quota_is_refused_before_any_simulation() {
        let mut pool = Mempool::new(Limits::default());
        let waiting = op(1, 0, 100, 5);
        pool.insert(waiting.clone());
        let next = op(1, 1, 100, 5);
        assert_eq!(pool.precheck(Address::ZERO, &next.op).unwrap_err().code, errors::REPUTATION);
        assert!(pool.precheck(Address::ZERO, &waiting.op).is_ok(), "a replacement is judged after its validation");
        assert!(pool.precheck(Address::ZERO, &op(2, 0, 100, 5).op).is_ok());
        let mut staked = op(3, 0, 100, 5);
        staked.staked_sender = true;
        pool.insert(staked);
        assert!(pool.precheck(Address::ZERO, &op(3, 1, 100, 5).op).is_ok(), "a staked sender has room for more");
    }

    #[test]
    fn candidates_pay_best_first_and_skip_bundled() {
        let mut pool = Mempool::new(Limits::default());
        pool.insert(op(1, 0, 100, 5));
        pool.insert(op(2, 0, 100, 50));
        let mut bundled = op(3, 0, 100, 500);
        bundled.bundle = Some("b".into());
        pool.insert(bundled);
        let order: Vec<u8> = pool.candidates(Address::ZERO).iter().map(|p| p.op.sender[0]).collect();
        assert_eq!(order, vec![2, 1]);
        pool.remove(&op(2, 0, 100, 50).hash);
        assert_eq!(pool.len(), 2);
        assert_eq!(pool.senders(), BTreeSet::from([Address::repeat_byte(1), Address::repeat_byte(3)]));
    }

    #[test]
    fn banned_and_throttled_entities() {
        let mut pool = Mempool::new(Limits::default());
        let mut reputation = Reputation::default();
        let paymaster = Address::repeat_byte(0xaa);
        let with_paymaster = |sender| {
            let mut p = op(sender, 0, 100, 100);
            p.op.paymaster = Some(paymaster);
            p.op.paymaster_verification_gas_limit = Some(U256::from(1));
            p
        };
        reputation.ban(paymaster);
        assert_eq!(pool.admit(&with_paymaster(1), &reputation).unwrap_err().code, errors::REPUTATION);
        reputation.set(paymaster, reputation::Entry { ops_seen: 120, ops_included: 0 });
        for sender in 1..=4 {
            let p = with_paymaster(sender);
            pool.admit(&p, &reputation).unwrap();
            pool.insert(p);
        }
        assert!(pool.admit(&with_paymaster(5), &reputation).unwrap_err().message.contains("throttled"));
    }
}
