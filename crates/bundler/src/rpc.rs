//! ERC-4337's JSON-RPC (ERC-7769) on one port, with GET /health and GET /metrics, and the
//! `debug_bundler_*` methods the compliance suite drives when `--debug-rpc` is on.

use crate::errors::{self, RpcError};
use crate::gas::{self, Estimate};
use crate::mempool::PoolOp;
use crate::reputation::Entry;
use crate::store::{Change, Table};
use ande_contracts::userop::UserOperation;
use crate::{App, builder, index, validate};
use alloy_primitives::{Address, B256, U64, U256};
use ande_http::policy::{AdminKeyLayer, MethodPolicy, Namespaces};
use ande_http::{Intercept, InterceptLayer, is_plain_get, json_response};
use jsonrpsee::RpcModule;
use jsonrpsee::core::{RpcResult, async_trait};
use jsonrpsee::proc_macros::rpc;
use jsonrpsee::core::middleware::RpcServiceBuilder;
use jsonrpsee::server::{HttpBody, HttpResponse, Server, ServerConfig, ServerHandle};
use serde::Deserialize;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

#[rpc(server, namespace = "eth")]
pub trait BundlerApi {
    #[method(name = "sendUserOperation")]
    async fn send_user_operation(&self, op: UserOperation, entry_point: Address) -> RpcResult<B256>;
    #[method(name = "estimateUserOperationGas")]
    async fn estimate_user_operation_gas(&self, op: UserOperation, entry_point: Address, state_override: Option<Value>) -> RpcResult<Estimate>;
    #[method(name = "getUserOperationByHash")]
    async fn get_user_operation_by_hash(&self, hash: B256) -> RpcResult<Option<Value>>;
    #[method(name = "getUserOperationReceipt")]
    async fn get_user_operation_receipt(&self, hash: B256) -> RpcResult<Option<Value>>;
    #[method(name = "supportedEntryPoints")]
    fn supported_entry_points(&self) -> RpcResult<Vec<Address>>;
    #[method(name = "chainId")]
    fn chain_id(&self) -> RpcResult<U64>;
}

/// A reputation entry as the compliance suite writes it (quantities as hex or numbers).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReputationSetting {
    pub address: Address,
    pub ops_seen: U64,
    pub ops_included: U64,
}

#[rpc(server, namespace = "debug")]
pub trait DebugBundlerApi {
    #[method(name = "bundler_clearState")]
    async fn clear_state(&self) -> RpcResult<&'static str>;
    #[method(name = "bundler_clearMempool")]
    async fn clear_mempool(&self) -> RpcResult<&'static str>;
    #[method(name = "bundler_dumpMempool")]
    async fn dump_mempool(&self, entry_point: Option<Address>) -> RpcResult<Vec<UserOperation>>;
    #[method(name = "bundler_sendBundleNow")]
    async fn send_bundle_now(&self) -> RpcResult<Value>;
    #[method(name = "bundler_setBundlingMode")]
    fn set_bundling_mode(&self, mode: String) -> RpcResult<&'static str>;
    #[method(name = "bundler_setReputation")]
    async fn set_reputation(&self, entries: Vec<ReputationSetting>, entry_point: Option<Address>) -> RpcResult<&'static str>;
    #[method(name = "bundler_dumpReputation")]
    async fn dump_reputation(&self, entry_point: Option<Address>) -> RpcResult<Vec<Value>>;
    #[method(name = "bundler_clearReputation")]
    async fn clear_reputation(&self) -> RpcResult<&'static str>;
    #[method(name = "bundler_getStakeStatus")]
    async fn get_stake_status(&self, address: Address, entry_point: Address) -> RpcResult<Value>;
}

pub struct Rpc {
    app: Arc<App>,
}

impl Rpc {
    fn entry_point(&self, address: &Address) -> Result<&crate::sim::EntryPoint, RpcError> {
        self.app.entry_point(address).ok_or_else(|| {
            let served: Vec<String> = self.app.entry_points.iter().map(|e| e.address.to_string()).collect();
            RpcError::invalid(format!("EntryPoint {address} is not supported; this bundler serves {}", served.join(", ")))
        })
    }

    async fn admit(&self, op: UserOperation, entry_point: Address) -> Result<B256, RpcError> {
        let app = &self.app;
        let ep = self.entry_point(&entry_point)?;
        let others = {
            let state = app.state.lock().await;
            // A sender at its quota costs no simulation.
            state.mempool.precheck(entry_point, &op)?;
            state.mempool.senders()
        };
        let started = Instant::now();
        let validated = validate::validate(app, ep, &op, &others).await;
        app.stats.validated(started.elapsed());
        let pooled = validated?;
        let hash = pooled.hash;
        let mut state = app.state.lock().await;
        let replaced = state.mempool.admit(&pooled, &state.reputation)?;
        let mut changes = Vec::new();
        if let Some(old) = replaced.and_then(|h| state.mempool.remove(&h)) {
            // [GREP-050]: an entity the replacement drops loses the sighting.
            for (_, entity) in old.reputation_entities() {
                if !pooled.reputation_entities().iter().any(|(_, a)| *a == entity) {
                    state.reputation.unseen(entity);
                }
            }
            changes.push(Change::Delete(Table::Ops, validate::key(&old.hash)));
        }
        for (_, entity) in pooled.reputation_entities() {
            state.reputation.seen(entity);
        }
        changes.push(Change::put(Table::Ops, validate::key(&hash), &pooled));
        changes.push(Change::put(Table::Meta, "reputation", &state.reputation));
        app.store.write(changes).await?;
        state.mempool.insert(pooled);
        app.stats.set_mempool(state.mempool.len());
        app.arrived.notify_one();
        Ok(hash)
    }
}

fn refused(app: &App, e: RpcError) -> jsonrpsee::types::ErrorObjectOwned {
    app.stats.refused(e.code);
    if e.code == errors::INTERNAL {
        tracing::warn!(error = %e, "user operation not handled");
    }
    e.into()
}

fn op_json(pooled: &PoolOp) -> Value {
    serde_json::to_value(&pooled.op).unwrap_or(Value::Null)
}

#[async_trait]
impl BundlerApiServer for Rpc {
    async fn send_user_operation(&self, op: UserOperation, entry_point: Address) -> RpcResult<B256> {
        match self.admit(op, entry_point).await {
            Ok(hash) => {
                self.app.stats.accepted();
                Ok(hash)
            }
            Err(e) => Err(refused(&self.app, e)),
        }
    }

    async fn estimate_user_operation_gas(&self, op: UserOperation, entry_point: Address, state_override: Option<Value>) -> RpcResult<Estimate> {
        let ep = self.entry_point(&entry_point).map_err(|e| refused(&self.app, e))?;
        op.check().map_err(|e| refused(&self.app, e.into()))?;
        if state_override.as_ref().is_some_and(|o| !o.is_object()) {
            return Err(refused(&self.app, RpcError::invalid("the state override must be an object of addresses")));
        }
        gas::estimate(&self.app.node, ep, &op, state_override.as_ref()).await.map_err(|e| refused(&self.app, e))
    }

    async fn get_user_operation_by_hash(&self, hash: B256) -> RpcResult<Option<Value>> {
        let Some(included) = builder::included(&self.app, &hash).await.map_err(|e| refused(&self.app, e))? else {
            let state = self.app.state.lock().await;
            return Ok(state.mempool.get(&hash).map(|pooled| {
                json!({ "userOperation": op_json(pooled), "entryPoint": pooled.entry_point, "blockNumber": null, "blockHash": null, "transactionHash": null })
            }));
        };
        let op = match &included.op {
            Some(pooled) => Some(pooled.op.clone()),
            None => match self.app.version_of(&included.entry_point) {
                Some(version) => index::op_from_bundle(&self.app.node, &included, self.app.chain_id, version).await.map_err(|e| refused(&self.app, e))?,
                None => None,
            },
        };
        Ok(op.map(|op| {
            json!({
                "userOperation": op,
                "entryPoint": included.entry_point,
                "blockNumber": U64::from(included.block_number),
                "blockHash": included.block_hash,
                "transactionHash": included.transaction_hash,
            })
        }))
    }

    async fn get_user_operation_receipt(&self, hash: B256) -> RpcResult<Option<Value>> {
        let Some(included) = builder::included(&self.app, &hash).await.map_err(|e| refused(&self.app, e))? else { return Ok(None) };
        index::receipt(&self.app.node, &self.app.receipts, &included).await.map(Some).map_err(|e| refused(&self.app, e))
    }

    fn supported_entry_points(&self) -> RpcResult<Vec<Address>> {
        Ok(self.app.entry_points.iter().map(|e| e.address).collect())
    }

    fn chain_id(&self) -> RpcResult<U64> {
        Ok(U64::from(self.app.chain_id))
    }
}

#[async_trait]
impl DebugBundlerApiServer for Rpc {
    async fn clear_state(&self) -> RpcResult<&'static str> {
        self.clear_mempool().await?;
        self.clear_reputation().await?;
        Ok("ok")
    }

    async fn clear_mempool(&self) -> RpcResult<&'static str> {
        let mut state = self.app.state.lock().await;
        let changes: Vec<Change> = state.mempool.all().map(|p| Change::Delete(Table::Ops, validate::key(&p.hash))).collect();
        self.app.store.write(changes).await.map_err(RpcError::from)?;
        let hashes: Vec<B256> = state.mempool.all().map(|p| p.hash).collect();
        for hash in hashes {
            state.mempool.remove(&hash);
        }
        self.app.stats.set_mempool(0);
        Ok("ok")
    }

    async fn dump_mempool(&self, entry_point: Option<Address>) -> RpcResult<Vec<UserOperation>> {
        let state = self.app.state.lock().await;
        let mut ops: Vec<&PoolOp> = state.mempool.all().filter(|p| entry_point.is_none_or(|ep| p.entry_point == ep)).collect();
        ops.sort_by_key(|p| (p.added_at, p.hash));
        Ok(ops.into_iter().map(|p| p.op.clone()).collect())
    }

    async fn send_bundle_now(&self) -> RpcResult<Value> {
        let sent = builder::bundle_now(&self.app).await.map_err(|e| refused(&self.app, e))?;
        let Some((key, hashes)) = sent.into_iter().next() else { return Ok(json!({ "transactionHash": null, "userOpHashes": [] })) };
        let mined = builder::mined_tx(&self.app, &key, Duration::from_secs(30)).await;
        // Make the receipts answerable right away.
        if let Ok(head) = self.app.node.block_number().await {
            let _bundling = self.app.bundling.lock().await;
            let _ = builder::index_to(&self.app, head).await;
        }
        Ok(json!({ "transactionHash": mined, "userOpHashes": hashes }))
    }

    fn set_bundling_mode(&self, mode: String) -> RpcResult<&'static str> {
        let auto = match mode.as_str() {
            "auto" => true,
            "manual" => false,
            other => return Err(RpcError::invalid(format!("bundling mode must be auto or manual, not {other}")).into()),
        };
        self.app.auto_bundle.store(auto, Ordering::Relaxed);
        Ok("ok")
    }

    async fn set_reputation(&self, entries: Vec<ReputationSetting>, _entry_point: Option<Address>) -> RpcResult<&'static str> {
        let mut state = self.app.state.lock().await;
        for e in entries {
            state.reputation.set(e.address, Entry { ops_seen: e.ops_seen.to(), ops_included: e.ops_included.to() });
        }
        self.app.store.write(vec![Change::put(Table::Meta, "reputation", &state.reputation)]).await.map_err(RpcError::from)?;
        Ok("ok")
    }

    async fn dump_reputation(&self, _entry_point: Option<Address>) -> RpcResult<Vec<Value>> {
        let state = self.app.state.lock().await;
        Ok(state
            .reputation
            .entries
            .iter()
            .map(|(address, e)| json!({ "address": address, "opsSeen": U64::from(e.ops_seen), "opsIncluded": U64::from(e.ops_included), "status": e.status() }))
            .collect())
    }

    async fn clear_reputation(&self) -> RpcResult<&'static str> {
        let mut state = self.app.state.lock().await;
        state.reputation = Default::default();
        self.app.store.write(vec![Change::put(Table::Meta, "reputation", &state.reputation)]).await.map_err(RpcError::from)?;
        Ok("ok")
    }

    async fn get_stake_status(&self, address: Address, entry_point: Address) -> RpcResult<Value> {
        use alloy_sol_types::SolCall;
        let ep = self.entry_point(&entry_point).map_err(|e| refused(&self.app, e))?;
        let data = ande_contracts::abi::IEntryPoint::getDepositInfoCall { account: address }.abi_encode();
        let call = json!({ "to": ep.address, "data": alloy_primitives::Bytes::from(data) });
        let output = crate::sim::eth_call(&self.app.node, &call, &json!({})).await.map_err(|e| refused(&self.app, e))?;
        let info = ande_contracts::abi::IEntryPoint::getDepositInfoCall::abi_decode_returns(&output).map_err(|e| refused(&self.app, RpcError::internal(e)))?;
        let stake = crate::rules::StakeRules { min_stake: self.app.args.min_stake, min_unstake_delay: self.app.args.min_unstake_delay };
        let stake_info = ande_contracts::abi::StakeInfo { stake: U256::from(info.stake), unstakeDelaySec: U256::from(info.unstakeDelaySec) };
        Ok(json!({
            "stakeInfo": { "addr": address, "stake": stake_info.stake, "unstakeDelaySec": stake_info.unstakeDelaySec },
            "isStaked": stake.is_staked(&stake_info),
        }))
    }
}

/// GET /health and GET /metrics, answered before the JSON-RPC server.
struct Endpoints {
    app: Arc<App>,
}

impl Intercept for Endpoints {
    fn intercept(&self, method: &hyper::Method, uri: &hyper::Uri, headers: &hyper::HeaderMap) -> Option<HttpResponse> {
        if is_plain_get(method, uri, headers, &["/health"]) {
            let (ready, body) = self.app.health();
            let status = if ready { hyper::StatusCode::OK } else { hyper::StatusCode::SERVICE_UNAVAILABLE };
            return Some(json_response(status, &body));
        }
        if is_plain_get(method, uri, headers, &["/metrics"]) {
            let mut response = HttpResponse::new(HttpBody::from(self.app.stats.render()));
            response.headers_mut().insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static("text/plain; version=0.0.4"));
            return Some(response);
        }
        None
    }
}

/// `admin_key`: when set, debug_bundler_* answer only to requests carrying it.
pub async fn serve(app: Arc<App>, addr: SocketAddr, admin_key: Option<String>) -> std::io::Result<(SocketAddr, ServerHandle)> {
    let mut module = RpcModule::new(());
    let rpc = || Rpc { app: app.clone() };
    module.merge(BundlerApiServer::into_rpc(rpc())).map_err(std::io::Error::other)?;
    if app.args.debug_rpc {
        module.merge(DebugBundlerApiServer::into_rpc(rpc())).map_err(std::io::Error::other)?;
    }
    let config = ServerConfig::builder().max_request_body_size(1024 * 1024).max_connections(1000).build();
    let http = tower::ServiceBuilder::new()
        .layer(InterceptLayer::new(Endpoints { app: app.clone() }))
        .layer(ande_http::cors("*"))
        .layer(AdminKeyLayer::new(admin_key.as_deref()));
    let private = Arc::new(if admin_key.is_some() { Namespaces::only(["debug"]) } else { Namespaces::default() });
    let rpc = RpcServiceBuilder::new().layer_fn(move |service| MethodPolicy { service, private: private.clone(), elsewhere: "" });
    let server = Server::builder().set_config(config).set_http_middleware(http).set_rpc_middleware(rpc).build(addr).await?;
    let local = server.local_addr()?;
    Ok((local, server.start(module)))
}
