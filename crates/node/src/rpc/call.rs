//! `eth_call`, `eth_estimateGas` and `eth_createAccessList`: executing a request against the
//! state of some block, without committing anything.

use super::error::{self, RpcResult};
use crate::chain::Chain;
use crate::evm::{self, BlockContext, StateDb, StoredState};
use crate::storage::{StateAt, StoreReader};
use alloy_consensus::Header;
use alloy_eips::eip2930::{AccessList, AccessListResult};
use alloy_primitives::{Address, B256, Bytes, TxKind, U256};
use alloy_rpc_types_eth::{TransactionRequest, state::StateOverride};
use jsonrpsee::types::ErrorObjectOwned;
use revm::context::result::{EVMError, ExecutionResult, InvalidTransaction};
use revm::context::{CfgEnv, TxEnv};
use revm::context::either::Either;
use revm::{Context, ExecuteEvm, InspectEvm, MainBuilder, MainContext};
use revm_inspectors::access_list::AccessListInspector;
use std::sync::Arc;

/// The state and block a call runs in.
pub struct CallSite {
    pub reader: Arc<StoreReader>,
    pub at: StateAt,
    pub header: Header,
}

impl CallSite {
    pub fn state_db(&self, overrides: Option<&StateOverride>) -> RpcResult<StateDb> {
        let mut db = StateDb::new(StoredState::new(self.reader.clone(), self.at));
        for (address, o) in overrides.into_iter().flatten() {
            if o.state.is_some() && o.state_diff.is_some() {
                return Err(error::invalid_params(format!("account {address} has both 'state' and 'stateDiff'")));
            }
            if o.move_precompile_to.is_some() {
                return Err(error::invalid_params("movePrecompileToAddress is not supported"));
            }
            db.override_account(*address, o.balance, o.nonce, o.code.clone())?;
            let slots = |m: &alloy_primitives::map::B256HashMap<B256>| {
                m.iter().map(|(k, v)| (U256::from_be_bytes(k.0), U256::from_be_bytes(v.0))).collect::<Vec<_>>()
            };
            if let Some(state) = &o.state {
                db.override_storage(*address, slots(state), true);
            }
            if let Some(diff) = &o.state_diff {
                db.override_storage(*address, slots(diff), false);
            }
        }
        Ok(db)
    }
}

/// The revm transaction for a call request, and whether the base fee applies (only when the
/// request names a gas price, as in geth).
pub fn call_tx_env(chain: &Chain, request: &TransactionRequest, gas_limit: u64) -> RpcResult<(TxEnv, bool)> {
    if request.blob_versioned_hashes.as_ref().is_some_and(|h| !h.is_empty()) || request.sidecar.is_some() {
        return Err(error::invalid_params("transaction type not supported"));
    }
    let priced = request.gas_price.is_some() || request.max_fee_per_gas.is_some();
    let gas_price = request.gas_price.or(request.max_fee_per_gas).unwrap_or_default();
    let input = request.input.input().cloned().unwrap_or_default();
    let mut env = TxEnv {
        caller: request.from.unwrap_or_default(),
        gas_limit,
        gas_price,
        kind: request.to.unwrap_or(TxKind::Create),
        value: request.value.unwrap_or_default(),
        data: input,
        nonce: request.nonce.unwrap_or_default(),
        chain_id: Some(chain.spec.chain_id),
        access_list: request.access_list.clone().unwrap_or_default(),
        gas_priority_fee: request.max_priority_fee_per_gas.filter(|_| priced),
        authorization_list: request
            .authorization_list
            .clone()
            .unwrap_or_default()
            .into_iter()
            .map(|auth| Either::Right(auth.into_recovered()))
            .collect(),
        ..Default::default()
    };
    env.derive_tx_type().map_err(|e| error::invalid_params(format!("{e:?}")))?;
    Ok((env, priced))
}

fn cfg(chain: &Chain, priced: bool) -> CfgEnv {
    let mut cfg = evm::cfg_env(&chain.spec, true);
    cfg.disable_base_fee = !priced;
    cfg
}

/// Maps revm's refusals to geth's wording.
pub fn evm_error(e: EVMError<crate::error::StoreError>) -> ErrorObjectOwned {
    match e {
        EVMError::Transaction(InvalidTransaction::LackOfFundForMaxFee { .. }) => {
            error::server("insufficient funds for gas * price + value")
        }
        EVMError::Transaction(InvalidTransaction::CallGasCostMoreThanGasLimit { .. })
        | EVMError::Transaction(InvalidTransaction::GasFloorMoreThanGasLimit { .. }) => {
            error::server("intrinsic gas too low")
        }
        EVMError::Transaction(InvalidTransaction::GasPriceLessThanBasefee) => {
            error::server("max fee per gas less than block base fee")
        }
        EVMError::Transaction(e) => error::server(e.to_string()),
        EVMError::Database(e) => e.into(),
        other => error::internal(other),
    }
}

/// Runs one call; the result, reverted or not.
pub fn run(chain: &Chain, site: &CallSite, db: StateDb, env: TxEnv, priced: bool) -> RpcResult<ExecutionResult> {
    let mut evm = Context::mainnet()
        .with_db(db)
        .with_cfg(cfg(chain, priced))
        .with_block(evm::block_env(&BlockContext::of(&site.header)))
        .build_mainnet();
    evm.transact(env).map(|r| r.result).map_err(evm_error)
}

/// `eth_call`: the output, or the revert as error code 3.
pub fn call(chain: &Chain, site: &CallSite, request: &TransactionRequest, overrides: Option<&StateOverride>) -> RpcResult<Bytes> {
    let gas = request.gas.unwrap_or(chain.args.rpc_gas_cap).min(chain.args.rpc_gas_cap);
    let (env, priced) = call_tx_env(chain, request, gas)?;
    let db = site.state_db(overrides)?;
    output_or_error(run(chain, site, db, env, priced)?)
}

fn output_or_error(result: ExecutionResult) -> RpcResult<Bytes> {
    match result {
        ExecutionResult::Success { output, .. } => Ok(output.into_data()),
        ExecutionResult::Revert { output, .. } => Err(error::reverted(&output)),
        ExecutionResult::Halt { reason, .. } => Err(error::server(halt_message(&reason))),
    }
}

fn halt_message(reason: &revm::context::result::HaltReason) -> String {
    use revm::context::result::{HaltReason, OutOfGasError};
    match reason {
        HaltReason::OutOfGas(OutOfGasError::Basic) | HaltReason::OutOfGas(_) => "out of gas".into(),
        HaltReason::InvalidFEOpcode | HaltReason::OpcodeNotFound => "invalid opcode".into(),
        HaltReason::StackUnderflow => "stack underflow".into(),
        HaltReason::StackOverflow => "stack overflow".into(),
        HaltReason::CreateContractSizeLimit => "max code size exceeded".into(),
        other => format!("execution halted: {other:?}"),
    }
}

/// `eth_estimateGas`: the smallest gas limit at which the call succeeds, by binary search.
pub fn estimate_gas(chain: &Chain, site: &CallSite, request: &TransactionRequest, overrides: Option<&StateOverride>) -> RpcResult<u64> {
    let mut hi = request.gas.unwrap_or(site.header.gas_limit).min(chain.args.rpc_gas_cap);
    let (env, priced) = call_tx_env(chain, request, hi)?;
    // With a price, the sender's balance caps the gas it can buy.
    if priced && env.gas_price > 0 {
        let mut db = site.state_db(overrides)?;
        let balance = revm::Database::basic(&mut db, env.caller)?.map(|a| a.balance).unwrap_or_default();
        let affordable = balance.saturating_sub(env.value) / U256::from(env.gas_price);
        hi = hi.min(u64::try_from(affordable).unwrap_or(u64::MAX));
    }
    let attempt = |gas: u64| -> RpcResult<ExecutionResult> {
        let mut env = env.clone();
        env.gas_limit = gas;
        run(chain, site, site.state_db(overrides)?, env, priced)
    };
    let first = attempt(hi)?;
    let used = match &first {
        ExecutionResult::Success { .. } => first.tx_gas_used(),
        _ => return output_or_error(first).map(|_| 0),
    };
    // Plain transfers need exactly 21000; no search.
    if used == 21_000 && matches!(env.kind, TxKind::Call(_)) && env.data.is_empty() {
        return Ok(used);
    }
    let mut lo = used.saturating_sub(1);
    // Start just above what was used, with the 63/64 headroom calls usually need.
    let optimistic = (used + 2_300) * 64 / 63;
    // Refunds (EIP-3529, EIP-7702) can put the gas used below the intrinsic gas, so a limit
    // near it may be refused outright: that counts as too low, like a failure.
    if optimistic < hi {
        match attempt(optimistic) {
            Ok(ExecutionResult::Success { .. }) => hi = optimistic,
            _ => lo = optimistic,
        }
    }
    while hi - lo > 1 && (hi - lo) * 1000 > hi {
        let mid = lo + (hi - lo) / 2;
        match attempt(mid) {
            Ok(ExecutionResult::Success { .. }) => hi = mid,
            Ok(_) => lo = mid,
            Err(_) => lo = mid,
        }
    }
    Ok(hi)
}

/// `eth_createAccessList`: the addresses and slots the call touches, and its gas with that list.
pub fn create_access_list(chain: &Chain, site: &CallSite, request: &TransactionRequest) -> RpcResult<AccessListResult> {
    let gas = request.gas.unwrap_or(chain.args.rpc_gas_cap).min(chain.args.rpc_gas_cap);
    let (mut env, priced) = call_tx_env(chain, request, gas)?;
    let from = env.caller;
    let to = match env.kind {
        TxKind::Call(to) => Some(to),
        TxKind::Create => None,
    };
    let mut inspector = AccessListInspector::new(request.access_list.clone().unwrap_or_default());
    let access_list: AccessList = {
        let mut evm = Context::mainnet()
            .with_db(site.state_db(None)?)
            .with_cfg(cfg(chain, priced))
            .with_block(evm::block_env(&BlockContext::of(&site.header)))
            .build_mainnet_with_inspector(&mut inspector);
        evm.inspect_tx(env.clone()).map_err(evm_error)?;
        drop(evm);
        let excluded: Vec<Address> = [Some(from), to].into_iter().flatten().collect();
        AccessList(inspector.into_access_list().0.into_iter().filter(|i| !excluded.contains(&i.address) || !i.storage_keys.is_empty()).collect())
    };
    env.access_list = access_list.clone();
    env.derive_tx_type().map_err(|e| error::invalid_params(format!("{e:?}")))?;
    let result = run(chain, site, site.state_db(None)?, env, priced)?;
    let error = match &result {
        ExecutionResult::Success { .. } => None,
        ExecutionResult::Revert { output, .. } => Some(error::reverted(output).message().to_string()),
        ExecutionResult::Halt { reason, .. } => Some(halt_message(reason)),
    };
    Ok(AccessListResult { access_list, gas_used: U256::from(result.tx_gas_used()), error })
}
