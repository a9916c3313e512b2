//! The JSON-RPC servers: HTTP and WebSocket on the RPC port, the WS port and the internal port,
//! with `GET /` and `GET /health` answered on each, CORS, size and connection caps, the method
//! policy (public namespaces, admin key), and per-method metrics.

pub mod budget;
mod call;
mod convert;
mod erc7562;
pub mod error;
mod eth;
mod fees;
mod filters;
mod forward;
mod health;
mod other;
mod proof;
mod subscriptions;
mod trace;

use crate::chain::Chain;
use ande_http::policy::{AdminKeyLayer, MethodPolicy, Namespaces};
use eth::{EthApiServer, EthRpc};
pub use forward::Forward;
use jsonrpsee::RpcModule;
use jsonrpsee::core::middleware::{Batch, Notification, RpcServiceBuilder, RpcServiceT};
use jsonrpsee::server::{BatchRequestConfig, MethodResponse, Server, ServerConfig, ServerHandle};
use jsonrpsee::core::traits::IdProvider;
use jsonrpsee::types::{Request, SubscriptionId};
use other::{AndeApiServer, DebugRawApiServer, NetApiServer, TxpoolApiServer, Web3ApiServer};
use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

/// All namespaces in one module. `forward`: a full node's route to the sequencer.
pub fn module(chain: Arc<Chain>, forward: Option<Forward>) -> Result<RpcModule<()>, jsonrpsee::core::RegisterMethodError> {
    let mut module = RpcModule::new(());
    module.merge(EthRpc { chain: chain.clone(), filters: Default::default(), tip: Default::default(), forward }.into_rpc())?;
    let misc = || other::Misc { chain: chain.clone() };
    module.merge(Web3ApiServer::into_rpc(misc()))?;
    module.merge(NetApiServer::into_rpc(misc()))?;
    module.merge(TxpoolApiServer::into_rpc(misc()))?;
    module.merge(DebugRawApiServer::into_rpc(misc()))?;
    module.merge(AndeApiServer::into_rpc(misc()))?;
    module.merge(trace::DebugTraceApiServer::into_rpc(trace::Tracer { chain: chain.clone() }))?;
    Ok(module)
}

/// What one server lets its callers do.
pub struct Access {
    /// Namespaces served only with the admin key.
    pub private: Arc<Namespaces>,
    pub admin_key: Option<Arc<str>>,
}

/// Starts one server on `addr` serving `module` over HTTP and WebSocket.
pub async fn serve(chain: Arc<Chain>, module: RpcModule<()>, addr: SocketAddr, budget: Arc<budget::Budget>, access: Access) -> std::io::Result<(SocketAddr, ServerHandle)> {
    let args = &chain.args;
    let methods: Arc<HashSet<String>> = Arc::new(module.method_names().map(str::to_owned).collect());
    let http = tower::ServiceBuilder::new()
        .layer(ande_http::cors(&args.rpc_cors))
        .layer(ande_http::InterceptLayer::new(health::HealthCheck::new(chain.clone())))
        .layer(AdminKeyLayer::new(access.admin_key.as_deref()));
    let max_response_bytes = args.rpc_max_response_bytes as usize;
    let private = access.private;
    let rpc = RpcServiceBuilder::new()
        .layer_fn(move |service| RpcMetrics { service, methods: methods.clone() })
        .layer_fn(move |service| MethodPolicy { service, private: private.clone(), elsewhere: " or the internal RPC port" })
        .layer_fn(move |service| budget::RpcBudget { service, budget: budget.clone(), max_response_bytes });
    let config = ServerConfig::builder()
        .max_request_body_size(args.rpc_max_request_bytes)
        .max_response_body_size(args.rpc_max_response_bytes)
        .max_connections(args.rpc_max_connections)
        .max_subscriptions_per_connection(args.access.max_subscriptions)
        .set_batch_request_config(BatchRequestConfig::Limit(args.rpc_max_batch))
        .set_id_provider(HexIdProvider::default())
        .build();
    let server = Server::builder()
        .set_config(config)
        .set_http_middleware(http)
        .set_rpc_middleware(rpc)
        .build(addr)
        .await?;
    let local = server.local_addr()?;
    Ok((local, server.start(module)))
}

/// Subscription ids as geth writes them: `0x` and 32 hex digits, unguessable.
#[derive(Debug, Default)]
struct HexIdProvider {
    keys: std::collections::hash_map::RandomState,
    counter: std::sync::atomic::AtomicU64,
}

impl IdProvider for HexIdProvider {
    fn next_id(&self) -> SubscriptionId<'static> {
        use std::hash::BuildHasher;
        let n = self.counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (a, b) = (self.keys.hash_one((n, 0u8)), self.keys.hash_one((n, 1u8)));
        SubscriptionId::Str(format!("0x{a:016x}{b:016x}").into())
    }
}

/// Records each call's latency and outcome; names not served are counted as "unknown" so a
/// client cannot grow the label set.
#[derive(Clone)]
struct RpcMetrics<S> {
    service: S,
    methods: Arc<HashSet<String>>,
}

impl<S> RpcServiceT for RpcMetrics<S>
where
    S: RpcServiceT<MethodResponse = MethodResponse> + Send + Sync + Clone + 'static,
{
    type MethodResponse = S::MethodResponse;
    type NotificationResponse = S::NotificationResponse;
    type BatchResponse = S::BatchResponse;

    fn call<'a>(&self, request: Request<'a>) -> impl Future<Output = Self::MethodResponse> + Send + 'a {
        let service = self.service.clone();
        let name = if self.methods.contains(request.method_name()) { request.method_name().to_owned() } else { "unknown".to_owned() };
        async move {
            let started = Instant::now();
            let response = service.call(request).await;
            crate::metrics::record_rpc(&name, started.elapsed(), response.is_success());
            response
        }
    }

    fn batch<'a>(&self, requests: Batch<'a>) -> impl Future<Output = Self::BatchResponse> + Send + 'a {
        let service = self.service.clone();
        async move {
            let started = Instant::now();
            let response = service.batch(requests).await;
            crate::metrics::record_rpc("batch", started.elapsed(), true);
            response
        }
    }

    fn notification<'a>(&self, n: Notification<'a>) -> impl Future<Output = Self::NotificationResponse> + Send + 'a {
        self.service.notification(n)
    }
}
