//! Bundling, on every new head: index the EntryPoints' events (included operations leave the
//! mempool), settle the bundles in flight from the sender's records, then build the next bundle
//! from the best operations, each validated again against the latest state, and send it through
//! the sender, conditional on the storage their validations read. Operations accepted between
//! heads are bundled as they come (after BUNDLE_DELAY, which gathers others), so an operation
//! makes the block being built rather than the one after.
//!
//! A bundle is written to the store, with its operations marked as carried, before it is
//! handed to the sender; an operation leaves a bundle only once the sender says that bundle will
//! never be mined (or was mined without it), so after any crash no operation is sent twice.

use crate::errors::RpcError;
use crate::index::{self, Included};
use crate::mempool::PoolOp;
use crate::reputation::{self, Status};
use crate::sim::{self, EntryPoint};
use crate::store::{Change, Table};
use crate::entity::Entity;
use crate::{App, State, validate};
use alloy_primitives::{Address, B256, Bytes, U256, map::HashMap};
use alloy_rpc_types_eth::erc4337::{AccountStorage, TransactionConditional};
use alloy_sol_types::{SolCall, SolError};
use ande_contracts::abi::IEntryPoint;
use ande_sender::{NodeError, State as TxState, TxRequest};
use futures_util::stream::{self, StreamExt};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// A bundle handed to the sender and not settled yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BundleRecord {
    pub key: String,
    pub entry_point: Address,
    pub ops: Vec<B256>,
    pub head: u64,
}

/// A bundle not mined within this many blocks is dropped by the sequencer and rebuilt.
const BUNDLE_LIFETIME_BLOCKS: u64 = 20;
/// The EntryPoint's gas around each operation's call (v0.7's INNER_GAS_OVERHEAD) and the
/// bundle's own, beyond the operations' limits.
const INNER_GAS_OVERHEAD: u128 = 10_000;
const BUNDLE_OVERHEAD: u128 = 50_000;
/// Blocks indexed in one round up to which their bundles' receipts are fetched with them.
const PREFETCH_BLOCKS: u64 = 4;
/// Second validations run at once while a bundle is built.
const REVALIDATIONS: usize = 8;
/// Storage lookups the node accepts in one transaction's conditions.
const MAX_CONDITION_LOOKUPS: u64 = 1000;

pub async fn run(app: Arc<App>, mut heads: watch::Receiver<u64>, mut shutdown: watch::Receiver<bool>) {
    let mut last = 0u64;
    let mut clock = HeadClock::default();
    loop {
        tokio::select! {
            changed = heads.changed() => if changed.is_err() { return },
            _ = app.arrived.notified() => {
                // Gathers what else arrives; a new head meanwhile goes first (its round
                // bundles these too), so receipts never wait behind a gathering.
                tokio::select! {
                    _ = tokio::time::sleep(clock.gathering(app.args.bundle_delay, Instant::now())) => {
                        if let Err(e) = on_arrival(&app, last).await {
                            tracing::warn!(head = last, error = %e, "bundling new operations failed; trying again on the next head");
                        }
                        continue;
                    }
                    changed = heads.changed() => if changed.is_err() { return },
                    _ = shutdown.changed() => return,
                }
            }
            _ = shutdown.changed() => return,
        }
        let head = *heads.borrow_and_update();
        if head <= last {
            continue;
        }
        clock.seen(head, last, Instant::now());
        last = head;
        if let Err(e) = on_head(&app, head).await {
            tracing::warn!(head, error = %e, "bundling round failed; trying again on the next head");
        }
    }
}

/// When the next head is due, from when the last two arrived: the sequencer closes a block
/// shortly before it publishes it (by about the block's own work), so operations arriving
/// within the guard of the next head (CUTOFF_GUARD, or a tenth of the block time if less)
/// are bundled at once rather than gathered past it.
#[derive(Default)]
struct HeadClock {
    last: Option<Instant>,
    interval: Option<Duration>,
}

/// Longer than a block's build and commit on the sequencer as measured (65–75 ms with 50
/// bundles a block), a tenth of a 2 s block.
const CUTOFF_GUARD: Duration = Duration::from_millis(200);

impl HeadClock {
    fn seen(&mut self, head: u64, previous: u64, at: Instant) {
        // Only consecutive heads tell the block time.
        self.interval = if head == previous + 1 { self.last.map(|l| at.saturating_duration_since(l)) } else { None };
        self.last = Some(at);
    }

    /// How long to gather operations arriving at `now`.
    fn gathering(&self, delay: Duration, now: Instant) -> Duration {
        let (Some(last), Some(interval)) = (self.last, self.interval) else { return delay };
        let next = last + interval;
        // A head a whole interval late: the chain paused (or produces lazily), no prediction.
        if now >= next + interval {
            return delay;
        }
        delay.min(next.saturating_duration_since(now + CUTOFF_GUARD.min(interval / 10)))
    }
}

/// Operations arrived since the last round: bundled now, beside the bundles in flight.
async fn on_arrival(app: &App, head: u64) -> Result<(), RpcError> {
    let _bundling = app.bundling.lock().await;
    if head == 0 || !app.auto_bundle.load(Ordering::Relaxed) || !app.sender.lead().await.map_err(RpcError::internal)? {
        return Ok(());
    }
    bundle_round(app, head).await
}

/// A bundle per EntryPoint; when one was built, another round follows (after BUNDLE_DELAY, so
/// new heads are seen between rounds) until the mempool is drained or the bundles in flight
/// are at their limit.
async fn bundle_round(app: &App, head: u64) -> Result<(), RpcError> {
    let mut built = false;
    for entry_point in &app.entry_points {
        match bundle(app, entry_point, head).await {
            Ok(sent) => built |= sent.is_some(),
            Err(e) => tracing::warn!(entry_point = %entry_point.address, error = %e, "bundling failed"),
        }
    }
    if built {
        app.arrived.notify_one();
    }
    Ok(())
}

/// One round: what the new head says, then (in auto mode) the next bundle.
pub async fn on_head(app: &App, head: u64) -> Result<(), RpcError> {
    let _bundling = app.bundling.lock().await;
    index_to(app, head).await?;
    if !app.sender.lead().await.map_err(RpcError::internal)? {
        return Ok(());
    }
    settle(app).await?;
    housekeeping(app).await?;
    if app.auto_bundle.load(Ordering::Relaxed) {
        bundle_round(app, head).await?;
    }
    Ok(())
}

/// Reads the EntryPoints' `UserOperationEvent`s of the blocks since the cursor: those
/// operations are included; they, and any of their senders' with a lower nonce, leave the
/// mempool; their entities' reputation counts the inclusion.
pub async fn index_to(app: &App, head: u64) -> Result<(), RpcError> {
    let cursor: Option<u64> = app.store.get(Table::Meta, "cursor").await?;
    let from = match cursor {
        Some(c) if c >= head => return Ok(()),
        Some(c) => c + 1,
        // First start: nothing before now was ours.
        None => head,
    };
    let addresses: Vec<Address> = app.entry_points.iter().map(|e| e.address).collect();
    let events = index::events(&app.node, &addresses, from, head).await?;
    // Following heads, the bundles' receipts are wanted next; not when catching up.
    if head - from < PREFETCH_BLOCKS {
        app.receipts.prefetch(&app.node, &events).await;
    }
    let mut state = app.state.lock().await;
    let mut changes = Vec::new();
    for mut included in events {
        let gone: Vec<B256> = state
            .mempool
            .all()
            .filter(|p| p.entry_point == included.entry_point && p.op.sender == included.sender && p.op.nonce_key() == included.nonce >> 64 && p.op.nonce <= included.nonce)
            .map(|p| p.hash)
            .collect();
        for hash in gone {
            if let Some(op) = state.mempool.remove(&hash) {
                changes.push(Change::Delete(Table::Ops, validate::key(&hash)));
                if hash == included.user_op_hash {
                    for (_, entity) in op.reputation_entities() {
                        state.reputation.included(entity);
                    }
                    included.op = Some(op);
                }
            }
        }
        changes.push(Change::put(Table::Included, validate::key(&included.user_op_hash), &included));
        app.stats.included(1);
    }
    changes.push(Change::put(Table::Meta, "cursor", &head));
    changes.push(Change::put(Table::Meta, "reputation", &state.reputation));
    app.store.write(changes).await?;
    app.stats.set_mempool(state.mempool.len());
    Ok(())
}

/// Settles bundles from the sender's records: still pending stay; mined ones free the
/// operations the index did not see included (they are validated again before another
/// bundle); dropped, refused or never-sent ones free all theirs.
async fn settle(app: &App) -> Result<(), RpcError> {
    app.sender.follow().await.map_err(RpcError::internal)?;
    let cursor: u64 = app.store.get(Table::Meta, "cursor").await?.unwrap_or(0);
    let mut state = app.state.lock().await;
    let records: Vec<BundleRecord> = state.bundles.values().cloned().collect();
    let mut changes = Vec::new();
    for record in records {
        let tx = app.sender.get(&record.key).await.map_err(RpcError::internal)?;
        match tx.as_ref().map(|t| &t.state) {
            Some(TxState::Pending) => continue,
            // Its block is not indexed yet: its operations' events are not counted.
            Some(TxState::Mined { block, .. }) if *block > cursor => continue,
            Some(TxState::Mined { success, hash, block }) => {
                app.stats.bundle_mined(*success);
                if *success {
                    tracing::info!(key = %record.key, tx = %hash, block, ops = record.ops.len(), "bundle mined");
                } else {
                    tracing::warn!(key = %record.key, tx = %hash, block, "bundle reverted; its operations are validated again");
                }
            }
            Some(TxState::Dropped) => {
                app.stats.bundle_dropped();
                tracing::info!(key = %record.key, "bundle dropped by the sequencer: its validation state changed");
            }
            Some(TxState::Refused { reason }) => tracing::warn!(key = %record.key, %reason, "bundle refused by the node"),
            None => tracing::info!(key = %record.key, "bundle never sent; its operations are free again"),
        }
        for hash in &record.ops {
            if let Some(op) = state.mempool.get_mut(hash) {
                op.bundle = None;
                changes.push(Change::put(Table::Ops, validate::key(hash), op));
            }
        }
        state.bundles.remove(&record.key);
        changes.push(Change::Delete(Table::Bundles, record.key.clone()));
    }
    app.store.write(changes).await?;
    Ok(())
}

/// Hourly decay of the reputation table; operations past their validity, or with a throttled
/// entity for more than THROTTLED_ENTITY_LIVE_BLOCKS, leave the mempool.
async fn housekeeping(app: &App) -> Result<(), RpcError> {
    let now = ande_sender::now_secs();
    let head = app.snapshot.read().head.unwrap_or(0);
    let mut state = app.state.lock().await;
    let mut changes = Vec::new();
    if state.reputation.decay(now) {
        changes.push(Change::put(Table::Meta, "reputation", &state.reputation));
    }
    let stale: Vec<B256> = state
        .mempool
        .all()
        .filter(|p| p.bundle.is_none())
        .filter(|p| {
            let expired = p.valid_until <= now;
            let throttled = p.reputation_entities().iter().any(|(_, a)| state.reputation.status(a) == Status::Throttled) && head.saturating_sub(p.added_block) > 10;
            expired || throttled
        })
        .map(|p| p.hash)
        .collect();
    for hash in stale {
        state.mempool.remove(&hash);
        changes.push(Change::Delete(Table::Ops, validate::key(&hash)));
        tracing::info!(op = %hash, "dropped from the mempool: expired or throttled too long");
    }
    app.stats.set_mempool(state.mempool.len());
    app.store.write(changes).await?;
    Ok(())
}

/// Builds and sends the next bundle for `entry_point` from the operations no bundle in flight
/// carries, unless MAX_BUNDLES_IN_FLIGHT are. Returns the bundle's key and its operations.
pub async fn bundle(app: &App, entry_point: &EntryPoint, head: u64) -> Result<Option<(String, Vec<B256>)>, RpcError> {
    let selected = {
        let state = app.state.lock().await;
        if state.bundles.values().filter(|b| b.entry_point == entry_point.address).count() >= app.args.max_bundles_in_flight {
            return Ok(None);
        }
        select(app, &state, entry_point.address)
    };
    if selected.is_empty() {
        return Ok(None);
    }
    let ops = revalidate(app, entry_point, selected).await?;
    let mut ops = within_deposits(app, entry_point, ops).await?;
    // The bundle must go through as a whole: an operation that makes it revert (after passing
    // its second validation, GREP-040) is banned and the bundle tried without it. One call at
    // the gas the bundle will be sent with, not an estimate: its limit follows from the ops'.
    let mut gas_limit = 0u64;
    while !ops.is_empty() {
        let calldata = handle_ops(app, &ops);
        gas_limit = bundle_gas_limit(&ops);
        let call = json!({ "from": app.sender.address(), "to": entry_point.address, "data": calldata, "gas": format!("{gas_limit:#x}") });
        match app.node.request::<Bytes>("eth_call", jsonrpsee::rpc_params![call, "latest"]).await {
            Ok(_) => break,
            Err(NodeError::Refused { code: 3, data, .. }) => {
                let output = data.unwrap_or_default();
                let Ok(failed) = IEntryPoint::FailedOp::abi_decode(&output).map(|f| (f.opIndex, f.reason)).or_else(|_| IEntryPoint::FailedOpWithRevert::abi_decode(&output).map(|f| (f.opIndex, f.reason))) else {
                    return Err(RpcError::internal(format!("the bundle reverts: {}", sim::revert_error(&output).message)));
                };
                let index = usize::try_from(failed.0).unwrap_or(usize::MAX).min(ops.len() - 1);
                let bad = ops.remove(index);
                // AA95 is this bundler's gas limit, not the operation's fault: no ban, but it
                // leaves, so it cannot hold up every bundle after it.
                let ban = !failed.1.starts_with("AA95");
                tracing::warn!(op = %bad.hash, reason = %failed.1, ban, "an operation fails in the bundle after passing validation; dropped, its entity banned unless the bundle ran out of gas (GREP-040)");
                drop_failed(app, &bad, Some(&failed.1), ban).await?;
            }
            Err(e) => return Err(e.into()),
        }
    }
    if ops.is_empty() {
        return Ok(None);
    }
    let calldata = handle_ops(app, &ops);
    let conditions = conditions(&ops, head);
    // Unique per bundle: one rebuilt from the same operations at the same head is a new one.
    let key = format!("bundle:{:#x}:{head}:{}:{}", entry_point.address, &validate::key(&ops[0].hash)[2..10], std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis()));
    let hashes: Vec<B256> = ops.iter().map(|o| o.hash).collect();
    let record = BundleRecord { key: key.clone(), entry_point: entry_point.address, ops: hashes.clone(), head };
    {
        let mut state = app.state.lock().await;
        let mut changes = vec![Change::put(Table::Bundles, key.clone(), &record)];
        for op in &ops {
            if let Some(pooled) = state.mempool.get_mut(&op.hash) {
                pooled.bundle = Some(key.clone());
                pooled.reads = op.reads.clone();
                pooled.storage = op.storage.clone();
                pooled.validated_block = op.validated_block;
                changes.push(Change::put(Table::Ops, validate::key(&op.hash), pooled));
            }
        }
        // Written before it is sent: after a crash the bundle is settled, never rebuilt blind.
        app.store.write(changes).await?;
        state.bundles.insert(key.clone(), record);
    }
    let request = TxRequest { to: Some(entry_point.address), value: U256::ZERO, input: calldata, gas_limit, conditions: Some(conditions) };
    match app.sender.submit(vec![(key.clone(), request)]).await {
        Ok(records) => {
            let hash = records.first().map(|r| r.signed.hash);
            tracing::info!(key = %key, tx = ?hash, ops = ops.len(), gas_limit, "bundle sent");
            app.stats.bundle_sent();
        }
        // Settled on the next head: sent from the journal, or never sent and freed.
        Err(e) => tracing::warn!(key = %key, error = %e, "sending the bundle failed"),
    }
    Ok(Some((key, hashes)))
}

/// The best operations that fit one bundle: one per sender, none from a sender a bundle in
/// flight carries (its nonce is not spent yet), within the bundle's gas and size, at most
/// THROTTLED_ENTITY_BUNDLE_COUNT per throttled entity.
fn select(app: &App, state: &State, entry_point: Address) -> Vec<PoolOp> {
    let mut senders: BTreeSet<Address> = state.mempool.all().filter(|p| p.bundle.is_some()).map(|p| p.op.sender).collect();
    let mut gas = 0u128;
    let mut throttled: HashMap<Address, usize> = HashMap::default();
    let mut out = Vec::new();
    for op in state.mempool.candidates(entry_point) {
        if out.len() >= app.args.max_bundle_ops {
            break;
        }
        let Ok(op_gas) = op.op.check() else { continue };
        if senders.contains(&op.op.sender) || gas + op_gas.total() > app.args.max_bundle_gas {
            continue;
        }
        let limited: Vec<Address> = op.reputation_entities().into_iter().map(|(_, a)| a).filter(|a| state.reputation.status(a) == Status::Throttled).collect();
        if limited.iter().any(|a| throttled.get(a).copied().unwrap_or(0) >= reputation::THROTTLED_ENTITY_BUNDLE_COUNT) {
            continue;
        }
        for address in limited {
            *throttled.entry(address).or_default() += 1;
        }
        senders.insert(op.op.sender);
        gas += op_gas.total();
        out.push(op.clone());
    }
    out
}

/// The second validation, against the latest state, REVALIDATIONS at a time; those that fail
/// it leave the mempool. An operation validated at the node's head already, whose validation
/// touched the storage of no sender now in the mempool (STO-041), is not validated again.
async fn revalidate(app: &App, entry_point: &EntryPoint, selected: Vec<PoolOp>) -> Result<Vec<PoolOp>, RpcError> {
    let head = app.node.block_number().await?;
    // One look at the mempool's senders for the whole bundle, not a lock and a set per operation.
    let senders: BTreeSet<Address> = app.state.lock().await.mempool.senders();
    let senders = &senders;
    let checked: Vec<(PoolOp, Option<Result<PoolOp, RpcError>>)> = stream::iter(selected)
        .map(|pooled| async move {
            // `storage` never holds the operation's own sender.
            if pooled.validated_block >= head && pooled.storage.is_disjoint(senders) {
                return (pooled, None);
            }
            let result = validate::validate(app, entry_point, &pooled.op, senders).await;
            (pooled, Some(result))
        })
        .buffered(REVALIDATIONS)
        .collect()
        .await;
    let mut out = Vec::with_capacity(checked.len());
    for (pooled, result) in checked {
        match result {
            None => out.push(pooled),
            Some(Ok(fresh)) => out.push(PoolOp { reads: fresh.reads, storage: fresh.storage, validated_block: fresh.validated_block, ..pooled }),
            Some(Err(e)) if e.code == crate::errors::INTERNAL => return Err(e),
            Some(Err(e)) => {
                tracing::info!(op = %pooled.hash, error = %e, "dropped at its second validation");
                drop_failed(app, &pooled, Some(&e.message), false).await?;
            }
        }
    }
    Ok(out)
}

/// EREP-010 across the bundles in flight: each operation was validated against its
/// paymaster's deposit as the chain holds it, which the bundles in flight will draw on. The
/// deposit must cover the most those and this bundle's operations of that paymaster can cost;
/// operations past it wait for a later bundle.
async fn within_deposits(app: &App, entry_point: &EntryPoint, ops: Vec<PoolOp>) -> Result<Vec<PoolOp>, RpcError> {
    let paymasters: BTreeSet<Address> = ops.iter().filter_map(|o| o.op.paymaster).collect();
    if paymasters.is_empty() {
        return Ok(ops);
    }
    let mut committed: HashMap<Address, U256> = HashMap::default();
    {
        let state = app.state.lock().await;
        for pooled in state.mempool.all().filter(|p| p.bundle.is_some() && p.entry_point == entry_point.address) {
            if let (Some(paymaster), Ok(gas)) = (pooled.op.paymaster, pooled.op.check()) {
                *committed.entry(paymaster).or_default() += gas.max_cost();
            }
        }
    }
    let mut deposits: HashMap<Address, U256> = HashMap::default();
    for paymaster in paymasters {
        let output = app.node.call(entry_point.address, &IEntryPoint::balanceOfCall { account: paymaster }.abi_encode()).await?;
        deposits.insert(paymaster, IEntryPoint::balanceOfCall::abi_decode_returns(&output).map_err(RpcError::internal)?);
    }
    let mut kept = Vec::with_capacity(ops.len());
    for pooled in ops {
        let Some(paymaster) = pooled.op.paymaster else {
            kept.push(pooled);
            continue;
        };
        let cost = pooled.op.check().map_or(U256::MAX, |g| g.max_cost());
        let drawn = committed.entry(paymaster).or_default();
        if drawn.saturating_add(cost) <= deposits[&paymaster] {
            *drawn += cost;
            kept.push(pooled);
        } else {
            tracing::debug!(op = %pooled.hash, %paymaster, "waits: its paymaster's deposit is drawn on by the bundles in flight");
        }
    }
    Ok(kept)
}

/// Removes a failed operation. Its paymaster is not blamed for its account's or factory's
/// failure (EREP-015); with `ban`, the entity blamed is banned (GREP-040).
async fn drop_failed(app: &App, op: &PoolOp, reason: Option<&str>, ban: bool) -> Result<(), RpcError> {
    let mut state = app.state.lock().await;
    state.mempool.remove(&op.hash);
    let blamed = reason.and_then(|r| validate::blamed(&op.op, r));
    if let Some(paymaster) = op.op.paymaster
        && blamed != Some(paymaster)
    {
        state.reputation.unseen(paymaster);
    }
    if ban {
        let culprit = blamed.or_else(|| op.reputation_entities().into_iter().find(|(e, _)| *e == Entity::Account).map(|(_, a)| a));
        if let Some(culprit) = culprit {
            state.reputation.ban(culprit);
        }
    }
    let changes = vec![Change::Delete(Table::Ops, validate::key(&op.hash)), Change::put(Table::Meta, "reputation", &state.reputation)];
    app.stats.set_mempool(state.mempool.len());
    app.store.write(changes).await?;
    Ok(())
}

/// Gas for `handleOps` over `ops`: each operation's limits (its preVerificationGas covering its
/// calldata and share of the transaction) and the loop's own. An operation's call and postOp
/// limits, with the EntryPoint's inner overhead, must survive two 1/64 holdbacks: the call into
/// `innerHandleOp`, and its check of `gasleft() * 63 / 64` (AA95 otherwise).
fn bundle_gas_limit(ops: &[PoolOp]) -> u64 {
    let gas: u128 = ops
        .iter()
        .filter_map(|o| o.op.check().ok())
        .map(|g| {
            let inner = g.call.saturating_add(g.paymaster_post_op).saturating_add(INNER_GAS_OVERHEAD);
            let before = g.total().saturating_sub(g.call).saturating_sub(g.paymaster_post_op);
            before.saturating_add(inner.saturating_mul(64 * 64).div_ceil(63 * 63))
        })
        .fold(0u128, u128::saturating_add);
    u64::try_from(gas + BUNDLE_OVERHEAD).unwrap_or(u64::MAX)
}

fn handle_ops(app: &App, ops: &[PoolOp]) -> Bytes {
    IEntryPoint::handleOpsCall { ops: ops.iter().map(|o| o.op.packed()).collect(), beneficiary: app.beneficiary }.abi_encode().into()
}

/// The bundle's conditions: every storage slot its validations read, in contracts they did not
/// write, must still hold the value read; and it must land within BUNDLE_LIFETIME_BLOCKS.
fn conditions(ops: &[PoolOp], head: u64) -> TransactionConditional {
    let mut conditions = TransactionConditional { block_number_max: Some(head + BUNDLE_LIFETIME_BLOCKS), ..Default::default() };
    let mut lookups = 1u64;
    for op in ops {
        for (address, slots) in &op.reads {
            let entry = conditions.known_accounts.entry(*address).or_insert_with(|| {
                lookups += 1;
                AccountStorage::Slots(Default::default())
            });
            let AccountStorage::Slots(known) = entry else { continue };
            for (slot, value) in slots {
                if lookups >= MAX_CONDITION_LOOKUPS {
                    return conditions;
                }
                if known.insert(*slot, *value).is_none() {
                    lookups += 1;
                }
            }
        }
    }
    conditions
}

/// For `debug_bundler_sendBundleNow`: one round now, whatever the mode; the transactions sent.
pub async fn bundle_now(app: &App) -> Result<Vec<(String, Vec<B256>)>, RpcError> {
    let head = app.node.block_number().await?;
    let _bundling = app.bundling.lock().await;
    index_to(app, head).await?;
    if !app.sender.lead().await.map_err(RpcError::internal)? {
        return Err(RpcError::internal("another replica holds the bundler key's lease"));
    }
    settle(app).await?;
    let mut out = Vec::new();
    for entry_point in &app.entry_points {
        if let Some(sent) = bundle(app, entry_point, head).await? {
            out.push(sent);
        }
    }
    Ok(out)
}

/// Waits, at most `timeout`, until a bundle is settled; the transaction it was mined in.
pub async fn mined_tx(app: &App, key: &str, timeout: Duration) -> Option<B256> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Ok(Some(record)) = app.sender.get(key).await {
            match record.state {
                TxState::Mined { hash, .. } => return Some(hash),
                TxState::Pending => {}
                _ => return None,
            }
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        let _ = app.sender.follow().await;
    }
}

/// An included operation by hash: from the index, or before the index has read its block, from
/// its bundle's receipt.
pub async fn included(app: &App, hash: &B256) -> Result<Option<Included>, RpcError> {
    if let Some(found) = app.store.get(Table::Included, &validate::key(hash)).await? {
        return Ok(Some(found));
    }
    let in_flight = app.state.lock().await.mempool.get(hash).and_then(|p| Some((p.bundle.clone()?, p.clone())));
    let Some((key, pooled)) = in_flight else {
        // The index may have taken it from the mempool since the first look.
        return Ok(app.store.get(Table::Included, &validate::key(hash)).await?);
    };
    let Some(record) = app.sender.get(&key).await.map_err(RpcError::internal)? else { return Ok(None) };
    for tx in record.hashes() {
        let receipt = app.receipts.fetch(&app.node, tx).await?;
        if let Some(found) = receipt.and_then(|r| index::in_receipt(&r, pooled.entry_point, hash)) {
            return Ok(Some(Included { op: Some(pooled), ..found }));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gathering_ends_before_the_predicted_cutoff() {
        let delay = Duration::from_millis(50);
        let t0 = Instant::now();
        let block = Duration::from_secs(2);
        let mut clock = HeadClock::default();
        assert_eq!(clock.gathering(delay, t0), delay, "no heads yet: no prediction");
        clock.seen(10, 0, t0);
        assert_eq!(clock.gathering(delay, t0), delay, "one head tells no interval");
        clock.seen(11, 10, t0 + block);
        let head = t0 + block;
        assert_eq!(clock.gathering(delay, head + Duration::from_millis(100)), delay, "early in the block: the full wait");
        let near = head + block - CUTOFF_GUARD - Duration::from_millis(20);
        assert_eq!(clock.gathering(delay, near), Duration::from_millis(20), "the wait ends at the guard");
        assert_eq!(clock.gathering(delay, head + block - Duration::from_millis(10)), Duration::ZERO, "within the guard: at once");
        let mut fast = HeadClock::default();
        let short = Duration::from_millis(100);
        fast.seen(1, 0, t0);
        fast.seen(2, 1, t0 + short);
        assert_eq!(fast.gathering(delay, t0 + short + Duration::from_millis(10)), delay.min(Duration::from_millis(80)), "short blocks: a tenth of the block time as the guard");
        assert_eq!(clock.gathering(delay, head + block * 2 + Duration::from_millis(1)), delay, "a head a whole interval late: no prediction");
        clock.seen(14, 11, head + block);
        assert_eq!(clock.gathering(delay, head + block * 2 - Duration::from_millis(10)), delay, "heads skipped: no interval");
    }
}
