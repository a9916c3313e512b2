//! `debug_trace*`: geth's struct logger, `callTracer`, `prestateTracer` and `noopTracer`
//! (revm-inspectors) and `erc7562Tracer` (ours, see `erc7562`), by re-executing a block's
//! transactions on its parent state.

use super::call::{self, CallSite};
use super::error::{self, RpcResult};
use super::eth::EthRpc;
use crate::chain::Chain;
use crate::evm::{self, BlockContext, StateDb, StoredState};
use crate::storage::{StateAt, StoreReader};
use alloy_consensus::Header;
use alloy_primitives::B256;
use alloy_rpc_types_eth::{BlockId, TransactionRequest};
use alloy_rpc_types_trace::geth::{
    GethDebugBuiltInTracerType, GethDebugTracerType, GethDebugTracingCallOptions, GethDebugTracingOptions,
    GethTrace, NoopFrame, TraceResult,
};
use jsonrpsee::proc_macros::rpc;
use super::erc7562::{Erc7562Config, Erc7562Inspector};
use revm::context::result::{ExecutionResult, ResultAndState};
use revm::context::{CfgEnv, TxEnv};
use revm::handler::MainnetContext;
use revm::{Context, DatabaseCommit, ExecuteCommitEvm, InspectEvm, Inspector, MainBuilder, MainContext};
use revm_inspectors::tracing::{TracingInspector, TracingInspectorConfig};
use std::sync::Arc;

#[rpc(server, namespace = "debug")]
pub trait DebugTraceApi {
    #[method(name = "traceTransaction", blocking)]
    fn trace_transaction(&self, hash: B256, opts: Option<GethDebugTracingOptions>) -> RpcResult<GethTrace>;
    #[method(name = "traceCall", blocking)]
    fn trace_call(&self, request: TransactionRequest, block: Option<BlockId>, opts: Option<GethDebugTracingCallOptions>) -> RpcResult<GethTrace>;
    #[method(name = "traceBlockByNumber", blocking)]
    fn trace_block_by_number(&self, block: alloy_rpc_types_eth::BlockNumberOrTag, opts: Option<GethDebugTracingOptions>) -> RpcResult<Vec<TraceResult>>;
    #[method(name = "traceBlockByHash", blocking)]
    fn trace_block_by_hash(&self, hash: B256, opts: Option<GethDebugTracingOptions>) -> RpcResult<Vec<TraceResult>>;
}

pub struct Tracer {
    pub chain: Arc<Chain>,
}

/// Runs one transaction under `inspector`; the result, the inspector, and the state before the
/// transaction's changes are committed (the prestate tracer reads it).
fn inspected<I: Inspector<MainnetContext<StateDb>>>(ctx: &BlockContext, db: StateDb, env: TxEnv, cfg: CfgEnv, inspector: I) -> RpcResult<(ResultAndState, I, StateDb)> {
    let mut evm = Context::mainnet().with_db(db).with_cfg(cfg).with_block(evm::block_env(ctx)).build_mainnet_with_inspector(inspector);
    let res = evm.inspect_tx(env).map_err(call::evm_error)?;
    Ok((res, evm.inspector, evm.ctx.journaled_state.database))
}

/// The tracers revm-inspectors' `TracingInspector` builds.
enum Built {
    StructLogs,
    Call(alloy_rpc_types_trace::geth::CallConfig),
    PreState(alloy_rpc_types_trace::geth::PreStateConfig),
    Noop,
}

/// Executes one transaction under the tracer `opts` asks for, commits its state changes into
/// `db`, and returns the trace with the execution result.
fn traced(chain: &Chain, ctx: &BlockContext, db: StateDb, env: TxEnv, opts: &GethDebugTracingOptions, for_call: bool)
    -> RpcResult<(GethTrace, ExecutionResult, StateDb)> {
    let config = |what: &str, e: serde_json::Error| error::invalid_params(format!("{what} config: {e}"));
    let built = match &opts.tracer {
        None => Built::StructLogs,
        Some(GethDebugTracerType::BuiltInTracer(GethDebugBuiltInTracerType::CallTracer)) => {
            Built::Call(opts.tracer_config.clone().into_call_config().map_err(|e| config("callTracer", e))?)
        }
        Some(GethDebugTracerType::BuiltInTracer(GethDebugBuiltInTracerType::PreStateTracer)) => {
            Built::PreState(opts.tracer_config.clone().into_pre_state_config().map_err(|e| config("prestateTracer", e))?)
        }
        Some(GethDebugTracerType::BuiltInTracer(GethDebugBuiltInTracerType::NoopTracer)) => Built::Noop,
        Some(GethDebugTracerType::BuiltInTracer(GethDebugBuiltInTracerType::Erc7562Tracer)) => {
            let json = opts.tracer_config.clone().into_json();
            let erc7562 = if json.is_null() { Erc7562Config::default() } else { serde_json::from_value(json).map_err(|e| config("erc7562Tracer", e))? };
            return erc7562_traced(chain, ctx, db, env, erc7562, for_call);
        }
        Some(other) => return Err(error::invalid_params(format!("tracer not supported: {other:?}"))),
    };
    let inspector_config = match &built {
        Built::StructLogs => TracingInspectorConfig::from_geth_config(&opts.config),
        Built::Call(c) => TracingInspectorConfig::from_geth_call_config(c),
        Built::PreState(c) => TracingInspectorConfig::from_geth_prestate_config(c),
        Built::Noop => TracingInspectorConfig::none(),
    };
    let cfg = call_cfg(chain, for_call, env.gas_price);
    let (res, inspector, mut db) = inspected(ctx, db, env, cfg, TracingInspector::new(inspector_config))?;
    let gas_used = res.result.tx_gas_used();
    let builder = inspector.geth_builder();
    let trace = match built {
        Built::StructLogs => {
            let output = res.result.output().cloned().unwrap_or_default();
            GethTrace::Default(builder.geth_traces(gas_used, output, opts.config))
        }
        Built::Call(c) => GethTrace::CallTracer(builder.geth_call_traces(c, gas_used)),
        Built::PreState(c) => GethTrace::PreStateTracer(builder.geth_prestate_traces(&res, &c, &db)?),
        Built::Noop => GethTrace::NoopTracer(NoopFrame::default()),
    };
    db.commit(res.state);
    Ok((trace, res.result, db))
}

/// A call skips the base-fee check when it names no gas price, as in geth.
fn call_cfg(chain: &Chain, for_call: bool, gas_price: u128) -> CfgEnv {
    let mut cfg = evm::cfg_env(&chain.spec, for_call);
    cfg.disable_base_fee = for_call && gas_price == 0;
    cfg
}

fn erc7562_traced(chain: &Chain, ctx: &BlockContext, db: StateDb, env: TxEnv, config: Erc7562Config, for_call: bool)
    -> RpcResult<(GethTrace, ExecutionResult, StateDb)> {
    let gas_limit = env.gas_limit;
    let cfg = call_cfg(chain, for_call, env.gas_price);
    let (res, inspector, mut db) = inspected(ctx, db, env, cfg, Erc7562Inspector::new(config))?;
    let frame = inspector.into_frame(gas_limit, res.result.tx_gas_used());
    let trace = GethTrace::JS(serde_json::to_value(frame).map_err(error::internal)?);
    db.commit(res.state);
    Ok((trace, res.result, db))
}

impl Tracer {
    /// Replays block `header`'s transactions on its parent state, tracing those `wanted` picks.
    fn replay(&self, reader: Arc<StoreReader>, header: &Header, opts: &GethDebugTracingOptions, wanted: impl Fn(usize) -> bool, stop_after: Option<usize>)
        -> RpcResult<Vec<(B256, GethTrace)>> {
        if header.number == 0 {
            return Ok(Vec::new());
        }
        let ctx = BlockContext::of(header);
        let sink = self.chain.spec.base_fee_sink_at(header.number);
        let mut db = StateDb::new(StoredState::new(reader.clone(), StateAt::Block(header.number - 1)));
        let mut out = Vec::new();
        for (index, hash) in reader.block_tx_hashes(header.number)?.into_iter().enumerate() {
            let stored = reader.transaction(&hash)?.ok_or_else(|| error::internal("missing transaction"))?;
            let tx = super::convert::decode_tx(&stored)?;
            let env = evm::tx_env(&tx, stored.sender)?;
            let gas_used = if wanted(index) {
                let (trace, result, next) = traced(&self.chain, &ctx, db, env, opts, false)?;
                out.push((hash, trace));
                db = next;
                result.tx_gas_used()
            } else {
                let mut evm = Context::mainnet()
                    .with_db(db)
                    .with_cfg(evm::cfg_env(&self.chain.spec, false))
                    .with_block(evm::block_env(&ctx))
                    .build_mainnet();
                let result = evm.transact_commit(env).map_err(call::evm_error)?;
                db = evm.ctx.journaled_state.database;
                result.tx_gas_used()
            };
            db.credit_base_fee(sink, gas_used, ctx.base_fee)?;
            if stop_after == Some(index) {
                break;
            }
        }
        Ok(out)
    }

    fn trace_block(&self, id: BlockId, opts: Option<GethDebugTracingOptions>) -> RpcResult<Vec<TraceResult>> {
        let reader = self.chain.reader()?;
        let number = match id {
            BlockId::Hash(h) => reader.number_by_hash(&h.block_hash)?,
            BlockId::Number(tag) => EthRpc::number_of(&reader, tag)?,
        };
        let header = number.map(|n| reader.header(n)).transpose()?.flatten().ok_or_else(|| error::not_found("block not found"))?;
        let traces = self.replay(reader, &header, &opts.unwrap_or_default(), |_| true, None)?;
        Ok(traces.into_iter().map(|(hash, trace)| TraceResult::Success { result: trace, tx_hash: Some(hash) }).collect())
    }
}

impl DebugTraceApiServer for Tracer {
    fn trace_transaction(&self, hash: B256, opts: Option<GethDebugTracingOptions>) -> RpcResult<GethTrace> {
        let reader = self.chain.reader()?;
        let stored = reader.transaction(&hash)?.ok_or_else(|| error::not_found(format!("transaction {hash} not found")))?;
        let header = reader.header(stored.block)?.ok_or_else(|| error::internal("missing header"))?;
        let target = stored.index as usize;
        let mut traces = self.replay(reader, &header, &opts.unwrap_or_default(), |i| i == target, Some(target))?;
        traces.pop().map(|(_, t)| t).ok_or_else(|| error::internal("transaction not replayed"))
    }

    fn trace_call(&self, request: TransactionRequest, block: Option<BlockId>, opts: Option<GethDebugTracingCallOptions>) -> RpcResult<GethTrace> {
        let opts = opts.unwrap_or_default();
        if opts.block_overrides.is_some() {
            return Err(error::invalid_params("block overrides are not supported"));
        }
        let site: CallSite = EthRpc::call_site_for(&self.chain, block)?;
        let gas = request.gas.unwrap_or(self.chain.args.rpc_gas_cap).min(self.chain.args.rpc_gas_cap);
        let (env, _) = call::call_tx_env(&self.chain, &request, gas)?;
        let db = site.state_db(opts.state_overrides.as_ref())?;
        let (trace, _, _) = traced(&self.chain, &BlockContext::of(&site.header), db, env, &opts.tracing_options, true)?;
        Ok(trace)
    }

    fn trace_block_by_number(&self, block: alloy_rpc_types_eth::BlockNumberOrTag, opts: Option<GethDebugTracingOptions>) -> RpcResult<Vec<TraceResult>> {
        self.trace_block(BlockId::Number(block), opts)
    }

    fn trace_block_by_hash(&self, hash: B256, opts: Option<GethDebugTracingOptions>) -> RpcResult<Vec<TraceResult>> {
        self.trace_block(BlockId::hash(hash), opts)
    }
}
