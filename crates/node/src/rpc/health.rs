//! `GET /` and `GET /health` on the RPC ports: 200 with {chain_id, head, head_age_ms} while the
//! head is younger than three block times, 503 otherwise. WebSocket upgrades pass through.

use crate::chain::Chain;
use hyper::header::{CONTENT_TYPE, HeaderValue, UPGRADE};
use hyper::{Method, StatusCode};
use jsonrpsee::server::{HttpBody, HttpRequest, HttpResponse};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tower::{Layer, Service};

#[derive(Clone)]
pub struct HealthLayer {
    chain: Arc<Chain>,
}

impl HealthLayer {
    pub fn new(chain: Arc<Chain>) -> Self {
        Self { chain }
    }
}

impl<S> Layer<S> for HealthLayer {
    type Service = Health<S>;
    fn layer(&self, inner: S) -> Health<S> {
        Health { inner, chain: self.chain.clone() }
    }
}

#[derive(Clone)]
pub struct Health<S> {
    inner: S,
    chain: Arc<Chain>,
}

/// The health report: whether the head is fresh, and the JSON body.
pub fn report(chain: &Chain) -> (bool, serde_json::Value) {
    let head = chain.head();
    let age = head.committed_at.elapsed();
    let interval = if chain.args.lazy { chain.args.lazy_max_idle } else { chain.args.block_time };
    let healthy = age < interval * 3 + Duration::from_millis(500);
    let body = serde_json::json!({
        "status": if healthy { "ok" } else { "stale" },
        "chain_id": chain.spec.chain_id,
        "head": head.header.number,
        "head_hash": head.hash,
        "head_age_ms": age.as_millis() as u64,
    });
    (healthy, body)
}

impl<S, B> Service<HttpRequest<B>> for Health<S>
where
    S: Service<HttpRequest<B>, Response = HttpResponse>,
    S::Future: Send + 'static,
{
    type Response = HttpResponse;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: HttpRequest<B>) -> Self::Future {
        let is_health = request.method() == Method::GET
            && matches!(request.uri().path(), "/" | "/health")
            && !request.headers().contains_key(UPGRADE);
        if !is_health {
            let fut = self.inner.call(request);
            return Box::pin(fut);
        }
        let (healthy, body) = report(&self.chain);
        let mut response = HttpResponse::new(HttpBody::from(body.to_string()));
        *response.status_mut() = if healthy { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
        response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        Box::pin(async move { Ok(response) })
    }
}
