//! The JSON-RPC server: celestia-node's method names (`blob.Submit`, `header.GetByHeight`, ...),
//! JSON shapes and error texts, over HTTP and WebSocket on one port. With a token configured,
//! every call needs `Authorization: Bearer <token>` (401 otherwise); `GET /health` is open.

use crate::{DaNode, Submission};
use celestia_types::blob::Commitment;
use celestia_types::nmt::Namespace;
use celestia_types::state::Coin;
use celestia_types::{Blob, ExtendedHeader};
use ande_http::{Intercept, InterceptLayer, is_plain_get, json_response};
use hyper::header::AUTHORIZATION;
use hyper::{HeaderMap, Method, StatusCode, Uri};
use jsonrpsee::core::{RpcResult, async_trait};
use jsonrpsee::proc_macros::rpc;
use jsonrpsee::server::{HttpResponse, Server, ServerConfig, ServerHandle};
use jsonrpsee::types::{ErrorObject, ErrorObjectOwned};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::oneshot;

/// celestia-node answers its errors with code 1 and the Go error's text.
const NODE_ERROR: i32 = 1;
const INVALID_PARAMS: i32 = -32602;
/// What `state.Balance` reports: the local node's account never runs dry.
const LOCAL_BALANCE_UTIA: u64 = 1_000_000_000_000;
const SHUTTING_DOWN: &str = "the DA node is shutting down";

fn node_error(message: impl Into<String>) -> ErrorObjectOwned {
    ErrorObject::owned(NODE_ERROR, message.into(), None::<()>)
}

fn invalid(message: impl Into<String>) -> ErrorObjectOwned {
    ErrorObject::owned(INVALID_PARAMS, message.into(), None::<()>)
}

fn internal(e: impl std::fmt::Display) -> ErrorObjectOwned {
    tracing::error!(error = %e, "DA store");
    node_error(format!("internal error: {e}"))
}

#[rpc(server, namespace = "blob", namespace_separator = ".")]
pub trait BlobApi {
    #[method(name = "Submit")]
    async fn submit(&self, blobs: Vec<Blob>, options: Option<serde_json::Value>) -> RpcResult<u64>;
    #[method(name = "Get")]
    async fn get(&self, height: u64, namespace: Namespace, commitment: Commitment) -> RpcResult<Blob>;
    #[method(name = "GetAll")]
    async fn get_all(&self, height: u64, namespaces: Vec<Namespace>) -> RpcResult<Vec<Blob>>;
}

#[rpc(server, namespace = "header", namespace_separator = ".")]
pub trait HeaderApi {
    #[method(name = "GetByHeight")]
    async fn get_by_height(&self, height: u64) -> RpcResult<ExtendedHeader>;
    #[method(name = "NetworkHead")]
    async fn network_head(&self) -> RpcResult<ExtendedHeader>;
    #[method(name = "LocalHead")]
    async fn local_head(&self) -> RpcResult<ExtendedHeader>;
    #[method(name = "WaitForHeight")]
    async fn wait_for_height(&self, height: u64) -> RpcResult<ExtendedHeader>;
}

#[rpc(server, namespace = "state", namespace_separator = ".")]
pub trait StateApi {
    #[method(name = "Balance")]
    async fn balance(&self) -> RpcResult<Coin>;
}

struct Api(Arc<DaNode>);

impl Api {
    /// celestia-node's errors for height 0 and heights above the head.
    fn check_height(&self, height: u64) -> RpcResult<()> {
        if height == 0 {
            return Err(invalid("header: height must be bigger than zero"));
        }
        let head = self.0.head_height();
        if height > head {
            return Err(node_error(format!("header: given height is from the future: networkHeight: {head}, requestedHeight: {height}")));
        }
        Ok(())
    }

    fn header_at(&self, height: u64) -> RpcResult<ExtendedHeader> {
        self.check_height(height)?;
        match self.0.store.header(height).map_err(internal)? {
            Some(header) => Ok(header),
            None if self.0.store.pruned(height).map_err(internal)? => {
                Err(node_error(format!("header: not found: height {height} held no blobs and is past DA_RETAIN_EMPTY")))
            }
            None => Err(node_error("header: not found")),
        }
    }

    fn head_header(&self) -> RpcResult<ExtendedHeader> {
        self.0.head().ok_or_else(|| node_error("header: not found: no DA block yet"))
    }
}

#[async_trait]
impl BlobApiServer for Api {
    async fn submit(&self, blobs: Vec<Blob>, _options: Option<serde_json::Value>) -> RpcResult<u64> {
        if blobs.is_empty() {
            return Err(invalid("blob: no blobs provided"));
        }
        // The cheap check first: commitments cost a hash tree over the data.
        let total: usize = blobs.iter().map(|b| b.data.len()).sum();
        let max = self.0.args.max_blob_bytes;
        if total > max {
            return Err(node_error(format!("blob: over size limit: {total} bytes, the max is {max}")));
        }
        for blob in &blobs {
            if blob.namespace.is_reserved() {
                return Err(invalid(format!("blob: namespace {:?} is reserved", blob.namespace)));
            }
            blob.validate().map_err(|e| invalid(format!("blob: invalid blob: {e}")))?;
        }
        let (included, height) = oneshot::channel();
        if !self.0.enqueue(Submission { blobs, included }) {
            return Err(node_error(SHUTTING_DOWN));
        }
        height.await.map_err(|_| node_error(SHUTTING_DOWN))
    }

    async fn get(&self, height: u64, namespace: Namespace, commitment: Commitment) -> RpcResult<Blob> {
        self.check_height(height)?;
        let blobs = self.0.store.blobs(height).map_err(internal)?;
        blobs.into_iter().find(|b| b.namespace == namespace && b.commitment == commitment).ok_or_else(|| node_error("blob: not found"))
    }

    async fn get_all(&self, height: u64, namespaces: Vec<Namespace>) -> RpcResult<Vec<Blob>> {
        self.check_height(height)?;
        let stored = self.0.store.blobs(height).map_err(internal)?;
        // In the order the namespaces were asked for; within one, in submission order.
        let blobs: Vec<Blob> = namespaces.iter().flat_map(|ns| stored.iter().filter(move |b| b.namespace == *ns)).cloned().collect();
        if blobs.is_empty() {
            return Err(node_error("blob: not found"));
        }
        Ok(blobs)
    }
}

#[async_trait]
impl HeaderApiServer for Api {
    async fn get_by_height(&self, height: u64) -> RpcResult<ExtendedHeader> {
        self.header_at(height)
    }

    async fn network_head(&self) -> RpcResult<ExtendedHeader> {
        self.head_header()
    }

    async fn local_head(&self) -> RpcResult<ExtendedHeader> {
        self.head_header()
    }

    async fn wait_for_height(&self, height: u64) -> RpcResult<ExtendedHeader> {
        if height == 0 {
            return Err(invalid("header: height must be bigger than zero"));
        }
        let mut head = self.0.head.subscribe();
        let mut stopping = self.0.stopping.clone();
        tokio::select! {
            reached = head.wait_for(|h| h.as_ref().is_some_and(|h| h.height() >= height)) => {
                reached.map_err(|_| node_error(SHUTTING_DOWN))?;
            }
            _ = stopping.wait_for(|stop| *stop) => return Err(node_error(SHUTTING_DOWN)),
        }
        self.header_at(height)
    }
}

#[async_trait]
impl StateApiServer for Api {
    async fn balance(&self) -> RpcResult<Coin> {
        Ok(Coin::utia(LOCAL_BALANCE_UTIA))
    }
}

fn max_request_bytes(max_blob: usize) -> usize {
    (max_blob / 3 * 4 + 4).saturating_mul(2).max(10 * 1024 * 1024)
}

pub async fn serve(node: Arc<DaNode>, addr: SocketAddr, token: Option<String>) -> std::io::Result<(SocketAddr, ServerHandle)> {
    let max_blob = node.args.max_blob_bytes;
    let mut module = BlobApiServer::into_rpc(Api(node.clone()));
    module.merge(HeaderApiServer::into_rpc(Api(node.clone()))).map_err(std::io::Error::other)?;
    module.merge(StateApiServer::into_rpc(Api(node.clone()))).map_err(std::io::Error::other)?;
    let http = tower::ServiceBuilder::new().layer(InterceptLayer::new(Gate { node, token: token.map(|t| format!("Bearer {t}")) }));
    // Room for the largest submission (base64 and JSON around it) and for a busy height's GetAll.
    let config = ServerConfig::builder()
        .max_request_body_size(u32::try_from(max_request_bytes(max_blob)).unwrap_or(u32::MAX))
        .max_response_body_size(256 * 1024 * 1024)
        .build();
    let server = Server::builder().set_config(config).set_http_middleware(http).build(addr).await?;
    let local = server.local_addr()?;
    Ok((local, server.start(module)))
}

/// `GET /health` (open) and the bearer-token check on everything else.
struct Gate {
    node: Arc<DaNode>,
    token: Option<String>,
}

impl Intercept for Gate {
    fn intercept(&self, method: &Method, uri: &Uri, headers: &HeaderMap) -> Option<HttpResponse> {
        if is_plain_get(method, uri, headers, &["/health"]) {
            let height = self.node.head_height();
            let body = serde_json::json!({ "status": "ok", "height": height, "block_time_ms": self.node.args.block_time.as_millis() as u64 });
            return Some(json_response(StatusCode::OK, &body));
        }
        let expected = self.token.as_ref()?;
        let given = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok());
        if given.is_some_and(|g| ande_http::policy::constant_time_eq(g.as_bytes(), expected.as_bytes())) {
            return None;
        }
        Some(json_response(StatusCode::UNAUTHORIZED, &serde_json::json!({ "error": "missing or wrong Authorization: Bearer token" })))
    }
}
