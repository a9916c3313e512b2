//! `debug_trace*`: geth's struct logger, `callTracer`, `prestateTracer` and `noopTracer`
//! (revm-inspectors), by re-executing a block's transactions on its parent state.

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
use revm::context::TxEnv;
use revm::context::result::ExecutionResult;
use revm::{Context, DatabaseCommit, ExecuteCommitEvm, InspectEvm, MainBuilder, MainContext};
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

/// Executes one transaction under the tracer `opts` asks for, commits its state changes into
/// `db`, and returns the trace with the execution result.
fn traced(chain: &Chain, ctx: &BlockContext, db: StateDb, env: TxEnv, opts: &GethDebugTracingOptions, for_call: bool)
    -> RpcResult<(GethTrace, ExecutionResult, StateDb)> {
    enum Kind {
        StructLogs,
        Call(alloy_rpc_types_trace::geth::CallConfig),
        PreState(alloy_rpc_types_trace::geth::PreStateConfig),
        Noop,
    }
    let kind = match &opts.tracer {
        None => Kind::StructLogs,
        Some(GethDebugTracerType::BuiltInTracer(GethDebugBuiltInTracerType::CallTracer)) => Kind::Call(
            opts.tracer_config.clone().into_call_config().map_err(|e| error::invalid_params(format!("callTracer config: {e}")))?,
        ),
        Some(GethDebugTracerType::BuiltInTracer(GethDebugBuiltInTracerType::PreStateTracer)) => Kind::PreState(
            opts.tracer_config.clone().into_pre_state_config().map_err(|e| error::invalid_params(format!("prestateTracer config: {e}")))?,
        ),
        Some(GethDebugTracerType::BuiltInTracer(GethDebugBuiltInTracerType::NoopTracer)) => Kind::Noop,
        Some(other) => return Err(error::invalid_params(format!("tracer not supported: {other:?}"))),
    };
    let config = match &kind {
        Kind::StructLogs => TracingInspectorConfig::from_geth_config(&opts.config),
        Kind::Call(c) => TracingInspectorConfig::from_geth_call_config(c),
        Kind::PreState(c) => TracingInspectorConfig::from_geth_prestate_config(c),
        Kind::Noop => TracingInspectorConfig::none(),
    };
    let mut cfg = evm::cfg_env(&chain.spec, for_call);
    cfg.disable_base_fee = for_call && env.gas_price == 0;
    let mut evm = Context::mainnet()
        .with_db(db)
        .with_cfg(cfg)
        .with_block(evm::block_env(ctx))
        .build_mainnet_with_inspector(TracingInspector::new(config));
    let res = evm.inspect_tx(env).map_err(call::evm_error)?;
    let gas_used = res.result.tx_gas_used();
    let builder = evm.inspector.geth_builder();
    let trace = match kind {
        Kind::StructLogs => {
            let output = res.result.output().cloned().unwrap_or_default();
            GethTrace::Default(builder.geth_traces(gas_used, output, opts.config))
        }
        Kind::Call(c) => GethTrace::CallTracer(builder.geth_call_traces(c, gas_used)),
        Kind::PreState(c) => {
            let db = &evm.ctx.journaled_state.database;
            GethTrace::PreStateTracer(builder.geth_prestate_traces(&res, &c, db)?)
        }
        Kind::Noop => GethTrace::NoopTracer(NoopFrame::default()),
    };
    let mut db = evm.ctx.journaled_state.database;
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
