//! The transaction pool: validated transactions waiting for a block.
//!
//! Per sender, transactions are kept by nonce. Those that follow the sender's state nonce without
//! a gap are pending (ready for a block); the rest are queued. Blocks take pending transactions
//! by effective tip, each sender's in nonce order.

use crate::error::PoolError;
use alloy_consensus::{Transaction, TxEnvelope, transaction::Recovered};
use alloy_primitives::{Address, B256, Bytes, U256, map::HashMap};
use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};
use std::sync::Arc;

#[derive(Debug, Clone, Copy)]
pub struct PoolLimits {
    /// Transactions in the pool, all senders together.
    pub max_count: usize,
    /// Transactions one sender may have in the pool.
    pub max_per_sender: usize,
    /// Percent a replacement must raise both fee fields by.
    pub price_bump_percent: u128,
}

impl Default for PoolLimits {
    fn default() -> Self {
        Self { max_count: 200_000, max_per_sender: 1024, price_bump_percent: 10 }
    }
}

#[derive(Debug)]
pub struct PoolTx {
    pub hash: B256,
    pub tx: Recovered<TxEnvelope>,
    pub encoded: Bytes,
    /// Order of arrival, to break ties between equal tips.
    pub seq: u64,
    /// Conditions a block checks before it takes the transaction.
    pub conditions: Option<Arc<alloy_rpc_types_eth::erc4337::TransactionConditional>>,
}

impl PoolTx {
    pub fn sender(&self) -> Address {
        self.tx.signer()
    }
    pub fn nonce(&self) -> u64 {
        self.tx.nonce()
    }
    pub fn max_fee(&self) -> u128 {
        self.tx.max_fee_per_gas()
    }
    pub fn max_tip(&self) -> u128 {
        self.tx.max_priority_fee_per_gas().unwrap_or_else(|| self.tx.max_fee_per_gas())
    }
    /// The tip the block producer earns at `base_fee`; `None` when the fee cap is below it.
    pub fn effective_tip(&self, base_fee: u64) -> Option<u128> {
        let base = u128::from(base_fee);
        (self.max_fee() >= base).then(|| self.max_tip().min(self.max_fee() - base))
    }
}

/// The most a transaction can cost: gas × fee cap + value, saturating (U256 arithmetic wraps,
/// and a wrapped cost would pass any balance check).
pub fn max_cost(gas_limit: u64, max_fee: u128, value: U256) -> U256 {
    U256::from(gas_limit).saturating_mul(U256::from(max_fee)).saturating_add(value)
}

#[derive(Debug, Default)]
struct SenderTxs {
    /// The sender's nonce in the latest state.
    state_nonce: u64,
    by_nonce: BTreeMap<u64, Arc<PoolTx>>,
    /// Its last-in-line transaction's key in `Pool::last_by_tip`.
    indexed: Option<(u128, u64)>,
}

impl SenderTxs {
    fn pending(&self) -> impl Iterator<Item = &Arc<PoolTx>> {
        let mut next = self.state_nonce;
        self.by_nonce.range(self.state_nonce..).map_while(move |(nonce, tx)| {
            (*nonce == next).then(|| {
                next += 1;
                tx
            })
        })
    }
}

#[derive(Debug, Default)]
pub struct Pool {
    limits: PoolLimits,
    by_hash: HashMap<B256, Arc<PoolTx>>,
    senders: HashMap<Address, SenderTxs>,
    /// Every sender's last-in-line transaction, cheapest tip first (then oldest): what a full
    /// pool evicts, found without scanning the senders.
    last_by_tip: BTreeSet<(u128, u64, Address)>,
    seq: u64,
}

/// What an insert did.
#[derive(Debug, PartialEq, Eq)]
pub enum Inserted {
    New,
    Replaced(B256),
}

impl Pool {
    pub fn new(limits: PoolLimits) -> Self {
        Self { limits, ..Default::default() }
    }

    pub fn len(&self) -> usize {
        self.by_hash.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_hash.is_empty()
    }

    pub fn contains(&self, hash: &B256) -> bool {
        self.by_hash.contains_key(hash)
    }

    pub fn get(&self, hash: &B256) -> Option<Arc<PoolTx>> {
        self.by_hash.get(hash).cloned()
    }

    /// The nonce a sender's next transaction would take: past its pending run.
    pub fn next_nonce(&self, sender: &Address) -> Option<u64> {
        let txs = self.senders.get(sender)?;
        txs.pending().last().map(|tx| tx.nonce() + 1)
    }

    /// Inserts a transaction that passed stateless and state checks; `state_nonce` is the
    /// sender's nonce in the latest state.
    pub fn insert(&mut self, hash: B256, tx: Recovered<TxEnvelope>, encoded: Bytes, state_nonce: u64) -> Result<Inserted, PoolError> {
        self.insert_conditional(hash, tx, encoded, state_nonce, None)
    }

    /// [`Self::insert`] with conditions a block checks before taking the transaction.
    pub fn insert_conditional(
        &mut self,
        hash: B256,
        tx: Recovered<TxEnvelope>,
        encoded: Bytes,
        state_nonce: u64,
        conditions: Option<Arc<alloy_rpc_types_eth::erc4337::TransactionConditional>>,
    ) -> Result<Inserted, PoolError> {
        if self.by_hash.contains_key(&hash) {
            return Err(PoolError::AlreadyKnown);
        }
        self.seq += 1;
        let new = Arc::new(PoolTx { hash, tx, encoded, seq: self.seq, conditions });
        let sender = new.sender();
        let bump = self.limits.price_bump_percent;
        // Checked before the sender gets an entry, so a refused new sender leaves none behind.
        let known = self.senders.get_mut(&sender);
        // Nonces only grow: a caller's state read may predate a block the pool already saw.
        let state_nonce = known.as_ref().map_or(state_nonce, |e| e.state_nonce.max(state_nonce));
        if let Some(entry) = known {
            entry.state_nonce = state_nonce;
        }
        if new.nonce() < state_nonce {
            return Err(PoolError::NonceTooLow);
        }
        let mut replaced = None;
        let entry = self.senders.get(&sender);
        if let Some(old) = entry.and_then(|e| e.by_nonce.get(&new.nonce())) {
            let needs = |old: u128| old.saturating_mul(100 + bump).div_ceil(100);
            if new.max_fee() < needs(old.max_fee()) || new.max_tip() < needs(old.max_tip()) {
                return Err(PoolError::ReplacementUnderpriced);
            }
            replaced = Some(old.hash);
        } else if entry.is_some_and(|e| e.by_nonce.len() >= self.limits.max_per_sender) {
            return Err(PoolError::SenderLimit);
        }
        if replaced.is_none() && self.by_hash.len() >= self.limits.max_count {
            self.evict_for(&new)?;
        }
        let entry = self.senders.entry(sender).or_default();
        entry.state_nonce = state_nonce;
        entry.by_nonce.insert(new.nonce(), new.clone());
        if let Some(old) = replaced {
            self.by_hash.remove(&old);
        }
        self.by_hash.insert(hash, new);
        self.reindex(&sender);
        Ok(replaced.map_or(Inserted::New, Inserted::Replaced))
    }

    /// Makes room for `incoming` by dropping the cheapest last-in-line transaction of another
    /// sender (dropping a sender's highest nonce never opens a gap), if it pays less.
    fn evict_for(&mut self, incoming: &PoolTx) -> Result<(), PoolError> {
        let victim = self
            .last_by_tip
            .iter()
            .find(|(_, _, sender)| *sender != incoming.sender())
            .filter(|(tip, _, _)| *tip < incoming.max_tip())
            .and_then(|(_, _, sender)| self.senders.get(sender)?.by_nonce.values().next_back())
            .map(|tx| (tx.sender(), tx.nonce(), tx.hash));
        let Some((sender, nonce, hash)) = victim else { return Err(PoolError::PoolFull) };
        self.remove_entry(&sender, nonce, &hash);
        Ok(())
    }

    fn remove_entry(&mut self, sender: &Address, nonce: u64, hash: &B256) {
        self.by_hash.remove(hash);
        if let Some(txs) = self.senders.get_mut(sender) {
            txs.by_nonce.remove(&nonce);
        }
        self.reindex(sender);
    }

    /// Brings `sender`'s entry in `last_by_tip` in step with its transactions; a sender left
    /// with none leaves the pool.
    fn reindex(&mut self, sender: &Address) {
        let Some(txs) = self.senders.get_mut(sender) else { return };
        if let Some((tip, seq)) = txs.indexed.take() {
            self.last_by_tip.remove(&(tip, seq, *sender));
        }
        match txs.by_nonce.values().next_back() {
            Some(last) => {
                txs.indexed = Some((last.max_tip(), last.seq));
                self.last_by_tip.insert((last.max_tip(), last.seq, *sender));
            }
            None => {
                self.senders.remove(sender);
            }
        }
    }

    /// Drops one transaction (it turned out invalid when a block tried it), and the sender's
    /// later ones, which can no longer run.
    pub fn remove_invalid(&mut self, hash: &B256) {
        let Some(tx) = self.by_hash.get(hash).cloned() else { return };
        let sender = tx.sender();
        let Some(txs) = self.senders.get_mut(&sender) else { return };
        let dropped: Vec<_> = txs.by_nonce.split_off(&tx.nonce()).into_values().collect();
        for tx in dropped {
            self.by_hash.remove(&tx.hash);
        }
        self.reindex(&sender);
    }

    /// After a block: updates the state nonces of senders the block touched and drops their
    /// transactions it made stale.
    pub fn on_block(&mut self, nonces: impl IntoIterator<Item = (Address, u64)>) {
        for (sender, nonce) in nonces {
            let Some(txs) = self.senders.get_mut(&sender) else { continue };
            txs.state_nonce = nonce;
            let keep = txs.by_nonce.split_off(&nonce);
            for tx in std::mem::replace(&mut txs.by_nonce, keep).into_values() {
                self.by_hash.remove(&tx.hash);
            }
            self.reindex(&sender);
        }
    }

    /// Pending transactions for a block at `base_fee`: highest effective tip first, each
    /// sender's in nonce order. A sender whose next transaction cannot pay the base fee waits.
    pub fn best(&self, base_fee: u64) -> BestTransactions {
        let mut heap = BinaryHeap::new();
        let mut queues = HashMap::default();
        for (sender, txs) in &self.senders {
            let mut pending: Vec<_> = txs.pending().cloned().collect();
            pending.reverse();
            if let Some(first) = pending.pop()
                && let Some(tip) = first.effective_tip(base_fee) {
                    heap.push(Ranked { tip, tx: first });
                    queues.insert(*sender, pending);
                }
        }
        BestTransactions { heap, queues, base_fee }
    }

    /// (pending, queued) counts.
    pub fn counts(&self) -> (usize, usize) {
        let pending: usize = self.senders.values().map(|s| s.pending().count()).sum();
        (pending, self.by_hash.len() - pending)
    }

    /// Every transaction, split into pending and queued, by sender and nonce.
    pub fn content(&self) -> (Vec<Arc<PoolTx>>, Vec<Arc<PoolTx>>) {
        let mut pending = Vec::new();
        let mut queued = Vec::new();
        for txs in self.senders.values() {
            let run: Vec<_> = txs.pending().cloned().collect();
            let first_queued = run.last().map_or(txs.state_nonce, |tx| tx.nonce() + 1);
            queued.extend(txs.by_nonce.range(first_queued..).map(|(_, tx)| tx.clone()));
            pending.extend(run);
        }
        (pending, queued)
    }
}

#[derive(Debug)]
struct Ranked {
    tip: u128,
    tx: Arc<PoolTx>,
}

impl PartialEq for Ranked {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Ranked {}
impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Ranked {
    fn cmp(&self, other: &Self) -> Ordering {
        // Higher tip first; among equal tips, earlier arrival first.
        self.tip.cmp(&other.tip).then_with(|| other.tx.seq.cmp(&self.tx.seq))
    }
}

/// An iterator over pending transactions in block order.
pub struct BestTransactions {
    heap: BinaryHeap<Ranked>,
    queues: HashMap<Address, Vec<Arc<PoolTx>>>,
    base_fee: u64,
}

impl BestTransactions {
    /// Skips the rest of a sender's transactions (one of them failed).
    pub fn skip_sender(&mut self, sender: &Address) {
        self.queues.remove(sender);
    }
}

impl Iterator for BestTransactions {
    type Item = Arc<PoolTx>;

    fn next(&mut self) -> Option<Arc<PoolTx>> {
        let Ranked { tx, .. } = self.heap.pop()?;
        if let Some(queue) = self.queues.get_mut(&tx.sender())
            && let Some(next) = queue.pop() {
                match next.effective_tip(self.base_fee) {
                    Some(tip) => self.heap.push(Ranked { tip, tx: next }),
                    None => {
                        self.queues.remove(&tx.sender());
                    }
                }
            }
        Some(tx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_consensus::{SignableTransaction, TxEip1559};
    use alloy_primitives::{Signature, TxKind};

    fn tx(sender: u8, nonce: u64, max_fee: u128, tip: u128) -> (B256, Recovered<TxEnvelope>) {
        let unsigned = TxEip1559 {
            chain_id: 1,
            nonce,
            gas_limit: 21_000,
            max_fee_per_gas: max_fee,
            max_priority_fee_per_gas: tip,
            to: TxKind::Call(Address::ZERO),
            ..Default::default()
        };
        let signed = unsigned.into_signed(Signature::test_signature());
        let envelope = TxEnvelope::from(signed);
        let hash = *envelope.tx_hash();
        (hash, Recovered::new_unchecked(envelope, Address::repeat_byte(sender)))
    }

    fn add(pool: &mut Pool, sender: u8, nonce: u64, max_fee: u128, tip: u128) -> Result<Inserted, PoolError> {
        let (hash, tx) = tx(sender, nonce, max_fee, tip);
        pool.insert(hash, tx, Bytes::new(), 0)
    }

    #[test]
    fn gaps_are_queued_until_filled() {
        let mut pool = Pool::new(PoolLimits::default());
        add(&mut pool, 1, 0, 100, 10).unwrap();
        add(&mut pool, 1, 2, 100, 10).unwrap();
        assert_eq!(pool.counts(), (1, 1));
        add(&mut pool, 1, 1, 100, 10).unwrap();
        assert_eq!(pool.counts(), (3, 0));
        assert_eq!(pool.next_nonce(&Address::repeat_byte(1)), Some(3));
    }

    #[test]
    fn replacement_needs_ten_percent_on_both_fees() {
        let mut pool = Pool::new(PoolLimits::default());
        add(&mut pool, 1, 0, 100, 10).unwrap();
        assert_eq!(add(&mut pool, 1, 0, 109, 11), Err(PoolError::ReplacementUnderpriced));
        assert_eq!(add(&mut pool, 1, 0, 110, 10), Err(PoolError::ReplacementUnderpriced));
        assert!(matches!(add(&mut pool, 1, 0, 110, 11), Ok(Inserted::Replaced(_))));
        assert_eq!(pool.len(), 1);
    }

    #[test]
    fn best_orders_by_tip_then_nonce() {
        let mut pool = Pool::new(PoolLimits::default());
        add(&mut pool, 1, 0, 100, 5).unwrap();
        add(&mut pool, 1, 1, 100, 50).unwrap();
        add(&mut pool, 2, 0, 100, 20).unwrap();
        add(&mut pool, 3, 0, 10, 10).unwrap(); // cannot pay a base fee of 50
        let order: Vec<_> = pool.best(50).map(|t| (t.sender(), t.nonce())).collect();
        assert_eq!(
            order,
            vec![(Address::repeat_byte(2), 0), (Address::repeat_byte(1), 0), (Address::repeat_byte(1), 1)]
        );
    }

    #[test]
    fn full_pool_evicts_the_cheapest_or_refuses() {
        let mut pool = Pool::new(PoolLimits { max_count: 2, ..Default::default() });
        add(&mut pool, 1, 0, 100, 5).unwrap();
        add(&mut pool, 2, 0, 100, 7).unwrap();
        assert_eq!(add(&mut pool, 3, 0, 100, 1), Err(PoolError::PoolFull));
        add(&mut pool, 3, 0, 100, 9).unwrap();
        assert_eq!(pool.len(), 2);
        assert!(!pool.senders.contains_key(&Address::repeat_byte(1)));
    }

    /// The eviction index holds exactly each sender's last-in-line transaction.
    fn assert_indexed(pool: &Pool) {
        let expected: BTreeSet<(u128, u64, Address)> = pool
            .senders
            .iter()
            .map(|(sender, txs)| {
                let last = txs.by_nonce.values().next_back().expect("no empty sender entries");
                (last.max_tip(), last.seq, *sender)
            })
            .collect();
        assert_eq!(pool.last_by_tip, expected);
    }

    #[test]
    fn the_eviction_index_follows_every_change() {
        let mut pool = Pool::new(PoolLimits { max_count: 6, ..Default::default() });
        for (sender, nonce, tip) in [(1, 0, 5), (1, 1, 3), (2, 0, 7), (3, 0, 2), (3, 1, 9)] {
            add(&mut pool, sender, nonce, 100, tip).unwrap();
            assert_indexed(&pool);
        }
        // Replacing a sender's last transaction moves its key.
        add(&mut pool, 1, 1, 200, 20).unwrap();
        assert_indexed(&pool);
        // Full: the cheapest last-in-line of another sender goes (sender 2's, tip 7).
        add(&mut pool, 4, 0, 100, 8).unwrap();
        add(&mut pool, 5, 0, 100, 30).unwrap();
        assert_indexed(&pool);
        assert!(!pool.senders.contains_key(&Address::repeat_byte(2)), "sender 2's tip-7 transaction was the cheapest last in line");
        pool.on_block([(Address::repeat_byte(3), 1)]);
        assert_indexed(&pool);
        let (hash, _) = tx(1, 1, 200, 20);
        pool.remove_invalid(&hash);
        assert_indexed(&pool);
        pool.on_block([(Address::repeat_byte(1), 1), (Address::repeat_byte(4), 1)]);
        assert_indexed(&pool);
        assert_eq!(pool.len(), pool.senders.values().map(|t| t.by_nonce.len()).sum::<usize>());
    }

    #[test]
    fn a_refused_new_sender_leaves_no_entry() {
        let mut pool = Pool::new(PoolLimits { max_count: 1, ..Default::default() });
        add(&mut pool, 1, 0, 100, 5).unwrap();
        assert_eq!(add(&mut pool, 2, 0, 100, 1), Err(PoolError::PoolFull));
        let (hash, tx) = tx(3, 0, 100, 50);
        assert_eq!(pool.insert(hash, tx, Bytes::new(), 4), Err(PoolError::NonceTooLow));
        assert_eq!(pool.senders.len(), 1, "only the sender in the pool has an entry");
    }

    #[test]
    fn the_most_a_transaction_costs_saturates() {
        assert_eq!(max_cost(21_000, 10, U256::from(5)), U256::from(210_005));
        assert_eq!(max_cost(21_000, 1, U256::MAX), U256::MAX, "no wrap to a cost any balance covers");
        assert_eq!(max_cost(u64::MAX, u128::MAX, U256::ZERO), U256::from(u64::MAX) * U256::from(u128::MAX));
    }

    #[test]
    fn a_stale_state_nonce_never_moves_the_pool_back() {
        let mut pool = Pool::new(PoolLimits::default());
        add(&mut pool, 1, 0, 100, 5).unwrap();
        add(&mut pool, 1, 1, 100, 5).unwrap();
        pool.on_block([(Address::repeat_byte(1), 1)]);
        // Submitted with a state read from before that block.
        let (hash, late) = tx(1, 2, 100, 5);
        pool.insert(hash, late, Bytes::new(), 0).unwrap();
        assert_eq!(pool.counts(), (2, 0), "nonces 1 and 2 are pending");
        let (hash, stale) = tx(1, 0, 200, 50);
        assert_eq!(pool.insert(hash, stale, Bytes::new(), 0), Err(PoolError::NonceTooLow));
    }

    #[test]
    fn mined_nonces_drop_stale_transactions() {
        let mut pool = Pool::new(PoolLimits::default());
        add(&mut pool, 1, 0, 100, 5).unwrap();
        add(&mut pool, 1, 1, 100, 5).unwrap();
        pool.on_block([(Address::repeat_byte(1), 1)]);
        assert_eq!(pool.len(), 1);
        assert_eq!(pool.counts(), (1, 0));
    }
}
