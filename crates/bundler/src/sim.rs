//! The EntryPoint's simulations, run on the node over JSON-RPC as they would run against geth:
//! EntryPointSimulations' code is put at the EntryPoint's address by a state override, and
//! `simulateValidation` is traced with `erc7562Tracer` (or, in unsafe mode, only called).

use crate::errors::{self, RpcError};
use crate::trace::Frame;
use ande_contracts::userop::Version;
use alloy_primitives::{Address, Bytes, U256};
use alloy_sol_types::{SolCall, SolError};
use ande_contracts::Contract;
use ande_contracts::abi::{IEntryPoint, IEntryPointSimulations, PackedUserOperation, ValidationResult};
use ande_sender::{NodeClient, NodeError};
use jsonrpsee::rpc_params;
use serde_json::{Map, Value, json};

/// Gas given to a simulation: far more than any validation may use.
const SIMULATION_GAS: u64 = 30_000_000;

/// One EntryPoint the bundler serves.
#[derive(Debug, Clone)]
pub struct EntryPoint {
    pub address: Address,
    pub version: Version,
    /// EntryPointSimulations' runtime code for this version.
    simulations: Bytes,
    /// Where the EntryPoint's SenderCreator lives: the contract its constructor created.
    pub sender_creator: Address,
}

impl EntryPoint {
    pub fn new(address: Address, version: Version) -> Self {
        let simulations = match version {
            Version::V07 => Contract::EntryPointSimulationsV07.runtime_code(),
            Version::V08 => Contract::EntryPointSimulationsV08.runtime_code(),
        };
        Self { address, version, simulations, sender_creator: address.create(1) }
    }

    /// The state override that makes the EntryPoint's address run EntryPointSimulations, on top
    /// of the caller's own overrides.
    pub fn overrides(&self, extra: Option<&Value>) -> Value {
        let mut map = extra.and_then(Value::as_object).cloned().unwrap_or_default();
        let entry = map.entry(format!("{:#x}", self.address)).or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(account) = entry {
            account.insert("code".into(), json!(self.simulations));
        }
        Value::Object(map)
    }
}

/// What a validation simulation returned.
#[derive(Debug, Clone)]
pub struct Simulated {
    pub result: ValidationResult,
    /// The trace, when traced.
    pub trace: Option<Frame>,
}

fn call_object(entry_point: &EntryPoint, data: Vec<u8>) -> Value {
    json!({ "from": Address::ZERO, "to": entry_point.address, "data": Bytes::from(data), "gas": format!("{SIMULATION_GAS:#x}") })
}

/// `simulateValidation`, traced with `erc7562Tracer` unless `unsafe_mode`.
pub async fn validation(node: &NodeClient, entry_point: &EntryPoint, op: &PackedUserOperation, unsafe_mode: bool, overrides: Option<&Value>) -> Result<Simulated, RpcError> {
    let data = IEntryPointSimulations::simulateValidationCall { userOp: op.clone() }.abi_encode();
    let call = call_object(entry_point, data);
    let state = entry_point.overrides(overrides);
    let (output, trace) = if unsafe_mode {
        (eth_call(node, &call, &state).await?, None)
    } else {
        let options = json!({ "tracer": "erc7562Tracer", "stateOverrides": state });
        let raw: Value = node.request("debug_traceCall", rpc_params![call, "latest", options]).await.map_err(node_error)?;
        let frame: Frame = serde_json::from_value(raw).map_err(|e| RpcError::internal(format!("the node's erc7562Tracer output: {e}")))?;
        if frame.error.is_some() {
            return Err(revert_error(frame.output.as_ref().map_or(&[][..], |b| &b[..])));
        }
        (frame.output.clone().unwrap_or_default(), Some(frame))
    };
    let result = IEntryPointSimulations::simulateValidationCall::abi_decode_returns(&output)
        .map_err(|e| RpcError::internal(format!("simulateValidation returned what is not a ValidationResult: {e}")))?;
    Ok(Simulated { result, trace })
}

/// `eth_call` with a state override; the output, or the revert as the operation's error.
pub async fn eth_call(node: &NodeClient, call: &Value, state: &Value) -> Result<Bytes, RpcError> {
    match node.request::<Bytes>("eth_call", rpc_params![call, "latest", state]).await {
        Ok(output) => Ok(output),
        // geth's "execution reverted": the revert's output is the error's data.
        Err(NodeError::Refused { code: 3, data, .. }) => Err(revert_error(data.as_ref().map_or(&[][..], |b| &b[..]))),
        Err(e) => Err(node_error(e)),
    }
}

pub fn node_error(e: NodeError) -> RpcError {
    RpcError::internal(format!("the node: {e}"))
}

/// The error an EntryPoint revert stands for: FailedOp's AAxx reason with its code.
pub fn revert_error(output: &[u8]) -> RpcError {
    if let Ok(failed) = IEntryPoint::FailedOp::abi_decode(output) {
        return aa_error(&failed.reason, None);
    }
    if let Ok(failed) = IEntryPoint::FailedOpWithRevert::abi_decode(output) {
        return aa_error(&failed.reason, Some(&failed.inner));
    }
    if let Ok(revert) = alloy_sol_types::Revert::abi_decode(output) {
        return RpcError::new(errors::REJECTED_BY_ENTRY_POINT, format!("the simulation reverted: {}", revert.reason));
    }
    RpcError::new(errors::REJECTED_BY_ENTRY_POINT, format!("the simulation reverted: {}", Bytes::copy_from_slice(output)))
}

fn aa_error(reason: &str, inner: Option<&Bytes>) -> RpcError {
    let code = if reason.starts_with("AA24") || reason.starts_with("AA34") {
        errors::INVALID_SIGNATURE
    } else if reason.starts_with("AA3") {
        errors::REJECTED_BY_PAYMASTER
    } else if reason.starts_with("AA22") || reason.starts_with("AA32") {
        errors::OUT_OF_TIME_RANGE
    } else {
        errors::REJECTED_BY_ENTRY_POINT
    };
    let detail = inner.filter(|i| !i.is_empty()).map(|inner| match alloy_sol_types::Revert::abi_decode(inner) {
        Ok(revert) => format!(": {}", revert.reason),
        Err(_) => format!(": {inner}"),
    });
    RpcError::new(code, format!("{reason}{}", detail.unwrap_or_default()))
}

/// An account's or paymaster's validation data: who authorised it and when it is valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ValidationData {
    /// Zero: the signature is good; one: it failed; anything else: an aggregator.
    pub authorizer: Address,
    /// Unix seconds; `u64::MAX` for no end.
    pub valid_until: u64,
    pub valid_after: u64,
}

impl ValidationData {
    pub fn parse(data: U256) -> Self {
        let bytes = data.to_be_bytes::<32>();
        let authorizer = Address::from_slice(&bytes[12..]);
        let six = |range: std::ops::Range<usize>| bytes[range].iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
        let valid_until = match six(6..12) {
            0 => u64::MAX,
            until => until,
        };
        Self { authorizer, valid_until, valid_after: six(0..6) }
    }

    pub fn signature_failed(&self) -> bool {
        self.authorizer == Address::with_last_byte(1)
    }

    pub fn aggregator(&self) -> Option<Address> {
        (self.authorizer != Address::ZERO && !self.signature_failed()).then_some(self.authorizer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_data_is_read_as_the_entry_point_packs_it() {
        // validAfter 0x10, validUntil 0x20, signature failed.
        let mut bytes = [0u8; 32];
        bytes[5] = 0x10;
        bytes[11] = 0x20;
        bytes[31] = 1;
        let data = ValidationData::parse(U256::from_be_bytes(bytes));
        assert_eq!((data.valid_after, data.valid_until), (0x10, 0x20));
        assert!(data.signature_failed());
        assert_eq!(data.aggregator(), None);
        assert_eq!(ValidationData::parse(U256::ZERO).valid_until, u64::MAX);
    }

    #[test]
    fn entry_point_reverts_get_their_codes() {
        let failed = |reason: &str| IEntryPoint::FailedOp { opIndex: U256::ZERO, reason: reason.into() }.abi_encode();
        assert_eq!(revert_error(&failed("AA21 didn't pay prefund")).code, errors::REJECTED_BY_ENTRY_POINT);
        assert_eq!(revert_error(&failed("AA33 reverted")).code, errors::REJECTED_BY_PAYMASTER);
        assert_eq!(revert_error(&failed("AA24 signature error")).code, errors::INVALID_SIGNATURE);
        let with_inner = IEntryPoint::FailedOpWithRevert { opIndex: U256::ZERO, reason: "AA23 reverted".into(), inner: alloy_sol_types::Revert::from("nope").abi_encode().into() }.abi_encode();
        assert_eq!(revert_error(&with_inner).message, "AA23 reverted: nope");
    }
}
