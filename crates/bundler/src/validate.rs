//! A user operation's full validation: its fields, its gas and fees against the chain, the
//! EntryPoint's simulation, its signature and time range, and ERC-7562's rules over the trace.
//! The same validation admits an operation to the mempool and re-checks it before each bundle.

use crate::errors::{self, RpcError};
use crate::gas;
use crate::mempool::PoolOp;
use crate::rules::{self, StakeRules};
use crate::sim::{self, EntryPoint, ValidationData};
use ande_contracts::userop::{UserOperation, encoded_size};
use alloy_primitives::{Address, B256};
use crate::App;
use std::collections::BTreeSet;

/// ERC-7562's limits and this bundler's floors.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    pub stake: StakeRules,
    /// Skip tracing (and so every ERC-7562 rule): for nodes without `erc7562Tracer`.
    pub unsafe_mode: bool,
    /// [LIM-060]
    pub max_verification_gas: u128,
    /// The lowest priority fee accepted, wei per gas.
    pub min_priority_fee: u128,
    /// An operation must stay valid at least this long (seconds).
    pub valid_for: u64,
}

/// [LIM-010]
const MAX_USEROP_SIZE: usize = 8192;

/// Validates `op` for `entry_point` against the latest state; the mempool entry it becomes.
/// `mempool_senders` are the senders with operations in the mempool (for STO-040 and STO-041;
/// `op`'s own sender among them is not another's).
pub async fn validate(app: &App, entry_point: &EntryPoint, op: &UserOperation, mempool_senders: &BTreeSet<Address>) -> Result<PoolOp, RpcError> {
    let (node, policy, chain_id) = (&app.node, &app.policy, app.chain_id);
    let (head, base_fee) = {
        let snapshot = app.snapshot.read();
        (snapshot.head.unwrap_or(0), snapshot.base_fee)
    };
    let gas = op.check()?;
    let packed = op.packed();
    let size = encoded_size(&packed);
    if size > MAX_USEROP_SIZE {
        return Err(RpcError::invalid(format!("the operation is {size} bytes encoded, more than {MAX_USEROP_SIZE} (LIM-010)")));
    }
    // [LIM-060]
    for (name, limit) in [("verificationGasLimit", gas.verification), ("paymasterVerificationGasLimit", gas.paymaster_verification)] {
        if limit > policy.max_verification_gas {
            return Err(RpcError::invalid(format!("{name} is {limit}, more than {} (LIM-060)", policy.max_verification_gas)));
        }
    }
    // [LIM-070]
    let pvg = gas::pre_verification_gas(&packed);
    if gas.pre_verification < pvg {
        return Err(RpcError::invalid(format!("preVerificationGas is {}, it must be at least {pvg}", gas.pre_verification)));
    }
    if gas.max_fee < base_fee {
        return Err(RpcError::invalid(format!("maxFeePerGas is {}, below the next block's base fee {base_fee}", gas.max_fee)));
    }
    if gas.max_priority_fee < policy.min_priority_fee {
        return Err(RpcError::invalid(format!("maxPriorityFeePerGas is {}, this bundler takes at least {}", gas.max_priority_fee, policy.min_priority_fee)));
    }
    if op.factory.is_none() && node.code(op.sender).await?.is_empty() {
        return Err(RpcError::new(errors::REJECTED_BY_ENTRY_POINT, format!("AA20 account not deployed: {} has no code and the operation names no factory", op.sender)));
    }
    let simulated = sim::validation(node, entry_point, &packed, policy.unsafe_mode, None).await?;
    let result = &simulated.result;
    let now = ande_sender::now_secs();
    let account = ValidationData::parse(result.returnInfo.accountValidationData);
    let paymaster = ValidationData::parse(result.returnInfo.paymasterValidationData);
    for (who, data) in [("account", account), ("paymaster", paymaster)] {
        if data.signature_failed() {
            return Err(RpcError::new(errors::INVALID_SIGNATURE, format!("the {who}'s signature check failed")));
        }
        if let Some(aggregator) = data.aggregator() {
            return Err(RpcError::new(errors::UNSUPPORTED_AGGREGATOR, format!("the {who} names the aggregator {aggregator}, which this bundler does not support")));
        }
        if data.valid_after > now {
            return Err(RpcError::new(errors::OUT_OF_TIME_RANGE, format!("the {who}'s validity starts at {}, in the future", data.valid_after)));
        }
        if data.valid_until < now.saturating_add(policy.valid_for) {
            return Err(RpcError::new(errors::OUT_OF_TIME_RANGE, format!("the {who}'s validity ends at {}, too soon", data.valid_until)));
        }
    }
    let analysis = match &simulated.trace {
        Some(trace) => rules::analyse(op, entry_point.address, entry_point.sender_creator, result, trace, &policy.stake, mempool_senders)?,
        None => rules::Analysis::default(),
    };
    Ok(PoolOp {
        hash: op.hash(entry_point.version, entry_point.address, chain_id),
        entry_point: entry_point.address,
        op: op.clone(),
        added_at: now,
        added_block: head,
        validated_block: head,
        staked_sender: analysis.staked.account,
        staked_factory: analysis.staked.factory,
        staked_paymaster: analysis.staked.paymaster,
        reads: analysis.reads,
        storage: analysis.storage,
        valid_until: account.valid_until.min(paymaster.valid_until),
        bundle: None,
    })
}

/// Which entity a failed validation is blamed on, from its AAxx reason (for EREP-015/016: a
/// paymaster is not blamed for its account's failure).
pub fn blamed(op: &UserOperation, reason: &str) -> Option<Address> {
    match reason.get(..3) {
        Some("AA1") => op.factory,
        Some("AA3") => op.paymaster,
        _ => None,
    }
}

/// The hash a mempool entry is kept under.
pub fn key(hash: &B256) -> String {
    format!("{hash:#x}")
}
