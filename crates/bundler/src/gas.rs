//! Gas: the preVerificationGas formula (docs/bundler.md), and `eth_estimateUserOperationGas` by
//! binary search inside the EVM, through the EntryPoint's simulations and state overrides.

use crate::errors::{self, RpcError};
use crate::sim::{self, EntryPoint};
use ande_contracts::userop::UserOperation;
use alloy_primitives::{Address, Bytes, U256};
use alloy_sol_types::{SolCall, SolValue};
use ande_contracts::abi::{IEntryPointSimulations, PackedUserOperation};
use ande_sender::NodeClient;
use jsonrpsee::rpc_params;
use serde_json::{Value, json};

/// The bundle transaction's own cost, charged in full to each operation (a bundle of one).
pub const FIXED: u128 = 21_000;
/// What the EntryPoint spends per operation outside any metered frame.
pub const PER_OP: u128 = 18_300;
/// Per 32-byte word of the operation in the bundle's calldata (memory).
pub const PER_WORD: u128 = 4;
/// A higher bound than any validation needs (ERC-7562's MAX_VERIFICATION_GAS is 500,000).
const SEARCH_CAP: u128 = 5_000_000;
/// A higher bound than any operation's call needs.
const CALL_CAP: u128 = 10_000_000;
/// ERC-7562's VALIDATION_GAS_SLACK, added to the limits found.
pub const VALIDATION_GAS_SLACK: u128 = 4_000;

/// preVerificationGas: the calldata gas of the operation ABI-encoded as `handleOps` carries it
/// (EIP-2028: 4 per zero byte, 16 per other byte), plus 4 per 32-byte word, plus 18,300 and the
/// 21,000 of a transaction. The reference formula's constants, in integers.
pub fn pre_verification_gas(op: &PackedUserOperation) -> u128 {
    let encoded = op.abi_encode();
    let calldata: u128 = encoded.iter().map(|b| if *b == 0 { 4 } else { 16 }).sum();
    let words = encoded.len().div_ceil(32) as u128;
    calldata + FIXED + PER_OP + PER_WORD * words
}

/// The formula for an estimate: the fees and the signature the operation will be sent with are
/// not known yet, so they count as non-zero bytes throughout (the stub signature's length is
/// kept); its own preVerificationGas takes calldata too, so the result is fed back once.
pub fn pre_verification_gas_for(op: &UserOperation) -> u128 {
    let mut probe = op.clone();
    probe.max_fee_per_gas = U256::from(u128::MAX);
    probe.max_priority_fee_per_gas = U256::from(u128::MAX);
    probe.signature = vec![0xff; op.signature.len()].into();
    probe.pre_verification_gas = U256::from(100_000);
    let first = pre_verification_gas(&probe.packed());
    probe.pre_verification_gas = U256::from(first);
    pre_verification_gas(&probe.packed()).max(first)
}

/// `eth_estimateUserOperationGas`'s answer.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Estimate {
    pub pre_verification_gas: U256,
    pub verification_gas_limit: U256,
    pub call_gas_limit: U256,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paymaster_verification_gas_limit: Option<U256>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paymaster_post_op_gas_limit: Option<U256>,
}

/// The smallest limit in `lo..=hi` for which `passes` holds, to within 0.1 %; None when `hi`
/// does not pass.
async fn search<F, Fut>(mut lo: u128, mut hi: u128, mut passes: F) -> Result<Option<u128>, RpcError>
where
    F: FnMut(u128) -> Fut,
    Fut: std::future::Future<Output = Result<bool, RpcError>>,
{
    if !passes(hi).await? {
        return Ok(None);
    }
    while hi - lo > 1 && (hi - lo) * 1000 > hi {
        let mid = lo + (hi - lo) / 2;
        if passes(mid).await? {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Ok(Some(hi))
}

/// Whether validation runs within the op's limits (running out of them is the only refusal
/// that counts as "too low": AA13, AA23, AA26, AA33, AA36 and OOG inside a frame). With
/// `starved_prefund`, AA21 counts too: an account pays its prefund with a call whose failure
/// it ignores, so a limit too low for that transfer reads as an unpaid prefund.
async fn validates(node: &NodeClient, entry_point: &EntryPoint, op: &UserOperation, overrides: Option<&Value>, starved_prefund: bool) -> Result<bool, RpcError> {
    match sim::validation(node, entry_point, &op.packed(), true, overrides).await {
        Ok(_) => Ok(true),
        Err(e) if is_out_of_gas(&e) || (starved_prefund && e.message.starts_with("AA21")) => Ok(false),
        Err(e) => Err(e),
    }
}

fn is_out_of_gas(e: &RpcError) -> bool {
    ["AA13", "AA23", "AA26", "AA33", "AA36", "AA40", "AA41", "AA51"].iter().any(|code| e.message.starts_with(code)) || e.message.contains("out of gas")
}

/// Estimates an operation's gas at its fees (its prefund transfer costs validation gas too). A
/// sender without a paymaster is lent a balance in the simulation, so an account that holds
/// nothing yet can estimate; the signature is the caller's (a stub is fine: a failed signature
/// check is a result, not a revert).
pub async fn estimate(node: &NodeClient, entry_point: &EntryPoint, op: &UserOperation, overrides: Option<&Value>) -> Result<Estimate, RpcError> {
    let lent;
    let overrides = match (op.paymaster, overrides) {
        (None, extra) => {
            let mut map = extra.and_then(Value::as_object).cloned().unwrap_or_default();
            let sender = map.entry(format!("{:#x}", op.sender)).or_insert_with(|| json!({}));
            if let Some(account) = sender.as_object_mut() {
                account.entry("balance").or_insert_with(|| json!(U256::from(10u64).pow(U256::from(30u64))));
            }
            lent = Value::Object(map);
            Some(&lent)
        }
        (Some(_), extra) => extra,
    };
    let mut probe = op.clone();
    // The prefund grows with the call's limit, and a prefund the account's deposit does not
    // cover costs a transfer inside validation: searched at a call limit above any the op will
    // get, the verification limit covers that transfer whenever the op will need it. With a
    // paymaster, the paymaster pays and only its deposit bounds the limit.
    probe.call_gas_limit = U256::from(if op.paymaster.is_some() { SEARCH_CAP / 5 } else { CALL_CAP });
    probe.pre_verification_gas = U256::ZERO;
    let has_paymaster = probe.paymaster.is_some();
    if has_paymaster {
        probe.paymaster_verification_gas_limit = Some(U256::from(SEARCH_CAP));
    }
    let with_verification = |limit: u128| {
        let mut o = probe.clone();
        o.verification_gas_limit = U256::from(limit);
        o
    };
    // The search tries the cap first: an unpaid prefund there is the account's own doing.
    let verification = search(0, SEARCH_CAP, |limit| {
        let o = with_verification(limit);
        async move { validates(node, entry_point, &o, overrides, limit < SEARCH_CAP).await }
    })
    .await?
    .ok_or_else(|| RpcError::new(errors::REJECTED_BY_ENTRY_POINT, format!("validation does not fit in {SEARCH_CAP} gas")))?;
    let verification = verification + (verification / 10).max(VALIDATION_GAS_SLACK);
    probe.verification_gas_limit = U256::from(verification);
    let paymaster_verification = if has_paymaster {
        let found = search(0, SEARCH_CAP, |limit| {
            let mut o = probe.clone();
            o.paymaster_verification_gas_limit = Some(U256::from(limit));
            async move { validates(node, entry_point, &o, overrides, false).await }
        })
        .await?
        .ok_or_else(|| RpcError::new(errors::REJECTED_BY_PAYMASTER, format!("the paymaster's validation does not fit in {SEARCH_CAP} gas")))?;
        let found = found + (found / 10).max(VALIDATION_GAS_SLACK);
        probe.paymaster_verification_gas_limit = Some(U256::from(found));
        Some(found)
    } else {
        None
    };
    let (call, post_op) = execution_gas(node, entry_point, &probe, overrides).await?;
    probe.call_gas_limit = U256::from(call);
    if has_paymaster {
        probe.paymaster_post_op_gas_limit = Some(U256::from(post_op));
    }
    let pre_verification = pre_verification_gas_for(&probe);
    Ok(Estimate {
        pre_verification_gas: U256::from(pre_verification),
        verification_gas_limit: U256::from(verification),
        call_gas_limit: U256::from(call),
        paymaster_verification_gas_limit: paymaster_verification.map(U256::from),
        paymaster_post_op_gas_limit: has_paymaster.then(|| U256::from(post_op)),
    })
}

/// The call's gas: `simulateHandleOp` traced with callTracer at a high limit gives what the
/// sender's execution frame used; the limit is then searched from there. The paymaster's
/// postOp frame, when there is one, gives its limit the same way.
async fn execution_gas(node: &NodeClient, entry_point: &EntryPoint, op: &UserOperation, overrides: Option<&Value>) -> Result<(u128, u128), RpcError> {
    let mut high = op.clone();
    high.call_gas_limit = U256::from(CALL_CAP);
    if high.paymaster.is_some() {
        high.paymaster_post_op_gas_limit = Some(U256::from(CALL_CAP / 10));
    }
    let run = |o: UserOperation| async move { handle_op_frames(node, entry_point, &o, overrides).await };
    let frames = run(high.clone()).await?;
    if let Some(reason) = &frames.call_error {
        return Err(RpcError::new(-32521, format!("the operation's call reverted: {reason}")));
    }
    let post_op = frames.post_op_used.map_or(0, |used| used + used / 10 + 1_000);
    let limit_passes = |limit: u128| {
        let mut o = high.clone();
        o.call_gas_limit = U256::from(limit);
        async move { Ok(run(o).await?.call_error.is_none()) }
    };
    // The 63/64 rule and the frame's own overhead: start the search just above what was used.
    let start = frames.call_used * 64 / 63 + 5_000;
    let call = if limit_passes(start).await? { search(frames.call_used, start, limit_passes).await?.unwrap_or(start) } else { search(start, CALL_CAP, limit_passes).await?.unwrap_or(CALL_CAP) };
    Ok((call.max(21_000), post_op))
}

struct HandleOpFrames {
    call_used: u128,
    call_error: Option<String>,
    post_op_used: Option<u128>,
}

/// Runs `simulateHandleOp` under callTracer and reads the sender's execution frame (the
/// EntryPoint calling the sender with the op's callData) and the paymaster's postOp frame.
async fn handle_op_frames(node: &NodeClient, entry_point: &EntryPoint, op: &UserOperation, overrides: Option<&Value>) -> Result<HandleOpFrames, RpcError> {
    let data = IEntryPointSimulations::simulateHandleOpCall { op: op.packed(), target: Address::ZERO, targetCallData: Bytes::new() }.abi_encode();
    let call = json!({ "from": Address::ZERO, "to": entry_point.address, "data": Bytes::from(data), "gas": "0x1c9c380" });
    let options = json!({ "tracer": "callTracer", "stateOverrides": entry_point.overrides(overrides) });
    let trace: Value = node.request("debug_traceCall", rpc_params![call, "latest", options]).await.map_err(sim::node_error)?;
    if trace.get("error").is_some() {
        let output: Bytes = trace.get("output").and_then(|o| serde_json::from_value(o.clone()).ok()).unwrap_or_default();
        return Err(sim::revert_error(&output));
    }
    let mut frames = HandleOpFrames { call_used: 0, call_error: None, post_op_used: None };
    let ep = format!("{:#x}", entry_point.address);
    let sender = format!("{:#x}", op.sender);
    let paymaster = op.paymaster.map(|p| format!("{p:#x}"));
    let call_data = op.call_data.to_string();
    let gas_used = |f: &Value| f.get("gasUsed").and_then(Value::as_str).and_then(|g| u128::from_str_radix(g.trim_start_matches("0x"), 16).ok()).unwrap_or(0);
    let field = |f: &Value, k: &str| f.get(k).and_then(Value::as_str).map(str::to_lowercase);
    let mut stack = vec![&trace];
    while let Some(frame) = stack.pop() {
        if field(frame, "from").as_deref() == Some(ep.as_str()) {
            if field(frame, "to").as_deref() == Some(sender.as_str()) && field(frame, "input").as_deref() == Some(call_data.as_str()) {
                frames.call_used = gas_used(frame);
                frames.call_error = frame.get("error").map(|e| {
                    let reason = frame.get("revertReason").and_then(Value::as_str);
                    reason.map_or_else(|| e.as_str().unwrap_or("reverted").to_string(), str::to_string)
                });
            } else if field(frame, "to") == paymaster && field(frame, "input").is_some_and(|i| i.starts_with("0x7c627b21")) {
                frames.post_op_used = Some(gas_used(frame));
            }
        }
        if let Some(calls) = frame.get("calls").and_then(Value::as_array) {
            stack.extend(calls);
        }
    }
    Ok(frames)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_formula_counts_calldata_words_and_overheads() {
        let op = PackedUserOperation::default();
        let encoded = op.abi_encode();
        let zero_cost = encoded.iter().filter(|b| **b == 0).count() as u128 * 4;
        let nonzero_cost = encoded.iter().filter(|b| **b != 0).count() as u128 * 16;
        assert_eq!(pre_verification_gas(&op), zero_cost + nonzero_cost + 21_000 + 18_300 + 4 * (encoded.len() as u128 / 32));
        let mut bigger = op.clone();
        bigger.signature = Bytes::from(vec![1u8; 65]);
        // 96 more bytes (65 and their padding): 66 non-zero (the data and the length's byte),
        // 30 more zero, 3 more words.
        assert_eq!(pre_verification_gas(&bigger) - pre_verification_gas(&op), 66 * 16 + 30 * 4 + 3 * 4);
    }
}
