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
use ande_http::limit::{Cidr, ClientLayer, Peer, RateLimit, RateLimiter};
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
use std::time::{Duration, Instant};

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
    /// Keys that lift the rate limit only.
    pub partner_keys: Arc<[String]>,
    /// Calls per client; None: unlimited.
    pub limiter: Option<Arc<RateLimiter>>,
    pub trusted_proxies: Vec<Cidr>,
}

/// Starts one server on `addr` serving `module` over HTTP and WebSocket.
pub async fn serve(chain: Arc<Chain>, module: RpcModule<()>, addr: SocketAddr, budget: Arc<budget::Budget>, access: Access) -> std::io::Result<(SocketAddr, ServerHandle)> {
    let args = &chain.args;
    let methods: Arc<HashSet<String>> = Arc::new(module.method_names().map(str::to_owned).collect());
    let http = tower::ServiceBuilder::new()
        .layer(ande_http::body_cap::BodyCapLayer::new(args.rpc_max_request_bytes))
        .layer(ande_http::cors(&args.rpc_cors))
        .layer(ande_http::InterceptLayer::new(health::HealthCheck::new(chain.clone())))
        .layer(AdminKeyLayer::new(access.admin_key.as_deref()).with_partners(&access.partner_keys))
        // Only where a limit needs the client: elsewhere no request pays for the layer.
        .option_layer(access.limiter.is_some().then(|| ClientLayer::new(access.trusted_proxies)));
    let max_response_bytes = args.rpc_max_response_bytes as usize;
    let limited = access.limiter.is_some();
    let (private, limiter) = (access.private, access.limiter);
    let rpc = RpcServiceBuilder::new()
        .layer_fn(move |service| RpcMetrics { service, methods: methods.clone() })
        .layer_fn(move |service| RateLimit { service, limiter: limiter.clone() })
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
    let server = Server::builder().set_config(config).set_http_middleware(http).set_rpc_middleware(rpc);
    if !limited {
        let server = server.build(addr).await?;
        let local = server.local_addr()?;
        return Ok((local, server.start(module)));
    }
    let builder = server.to_service_builder();
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let (stop, handle) = jsonrpsee::server::stop_channel();
    let methods = jsonrpsee::Methods::from(module);
    // With a rate limit, our own accept loop, as jsonrpsee's hides the peer: each request carries
    // its `Peer`, from which the limit names the client. It builds the HTTP layers per request
    // (jsonrpsee's loop does so per connection), so it runs only when there is a limit to apply.
    tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                () = stop.clone().shutdown() => break,
            };
            let (socket, peer) = match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, say: the next accept may do better shortly.
                    tracing::warn!(error = %e, %local, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let _ = socket.set_nodelay(true);
            let (builder, methods, stop) = (builder.clone(), methods.clone(), stop.clone());
            let stopped = stop.clone().shutdown();
            let service = tower::service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
                request.extensions_mut().insert(Peer(peer));
                let mut service = builder.clone().build(methods.clone(), stop.clone());
                async move { tower::Service::call(&mut service, request).await }
            });
            // Its error (a reset connection, say) is the client's business, as with jsonrpsee's loop.
            tokio::spawn(jsonrpsee::server::serve_with_graceful_shutdown(socket, service, stopped));
        }
    });
    Ok((local, handle))
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
