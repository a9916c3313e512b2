//! HTTP middleware shared by the stack's JSON-RPC servers: [`InterceptLayer`] answers some
//! requests itself (a health check, a refused token) and passes the rest to the server;
//! [`policy`] decides which methods a caller may use, [`limit`] how often; [`request_limit`]
//! is that rate for plain HTTP services; [`proxy`] forwards to a service behind;
//! [`body_cap`] caps bodies sent without a length.

pub mod body_cap;
pub mod limit;
pub mod policy;
pub mod proxy;
pub mod request_limit;

use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{HeaderMap, Method, StatusCode, Uri};
use jsonrpsee::server::{HttpBody, HttpRequest, HttpResponse};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tower::{Layer, Service};

/// Decides from a request's method, path and headers whether to answer it directly.
pub trait Intercept: Send + Sync + 'static {
    fn intercept(&self, method: &Method, uri: &Uri, headers: &HeaderMap) -> Option<HttpResponse>;
}

pub struct InterceptLayer<I> {
    interceptor: Arc<I>,
}

// By hand: the derive would ask `I: Clone`, and the interceptor is shared, not cloned.
impl<I> Clone for InterceptLayer<I> {
    fn clone(&self) -> Self {
        Self { interceptor: self.interceptor.clone() }
    }
}

impl<I> InterceptLayer<I> {
    pub fn new(interceptor: I) -> Self {
        Self { interceptor: Arc::new(interceptor) }
    }
}

impl<S, I> Layer<S> for InterceptLayer<I> {
    type Service = Intercepted<S, I>;
    fn layer(&self, inner: S) -> Intercepted<S, I> {
        Intercepted { inner, interceptor: self.interceptor.clone() }
    }
}

pub struct Intercepted<S, I> {
    inner: S,
    interceptor: Arc<I>,
}

impl<S: Clone, I> Clone for Intercepted<S, I> {
    fn clone(&self) -> Self {
        Self { inner: self.inner.clone(), interceptor: self.interceptor.clone() }
    }
}

impl<S, I, B> Service<HttpRequest<B>> for Intercepted<S, I>
where
    S: Service<HttpRequest<B>, Response = HttpResponse>,
    S::Future: Send + 'static,
    I: Intercept,
{
    type Response = HttpResponse;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: HttpRequest<B>) -> Self::Future {
        match self.interceptor.intercept(request.method(), request.uri(), request.headers()) {
            Some(response) => Box::pin(async move { Ok(response) }),
            None => Box::pin(self.inner.call(request)),
        }
    }
}

/// `refused` when set, else what `service` answers to `request`: the call of a layer that may
/// turn requests away.
pub fn answer_or_call<'a, S>(refused: Option<jsonrpsee::MethodResponse>, service: S, request: jsonrpsee::types::Request<'a>) -> impl Future<Output = jsonrpsee::MethodResponse> + Send + 'a
where
    S: jsonrpsee::core::middleware::RpcServiceT<MethodResponse = jsonrpsee::MethodResponse> + Send + Sync + 'a,
{
    async move {
        match refused {
            Some(response) => response,
            None => service.call(request).await,
        }
    }
}

/// `{"error": message}` with `status`: the shape of every error the stack's HTTP services give.
pub fn json_error(status: StatusCode, message: impl Into<String>) -> axum::response::Response {
    use axum::response::IntoResponse;
    (status, axum::Json(serde_json::json!({ "error": message.into() }))).into_response()
}

/// A JSON answer with its status.
pub fn json_response(status: StatusCode, body: &serde_json::Value) -> HttpResponse {
    let mut response = HttpResponse::new(HttpBody::from(body.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// `GET <path>` that is not a WebSocket upgrade.
pub fn is_plain_get(method: &Method, uri: &Uri, headers: &HeaderMap, paths: &[&str]) -> bool {
    method == Method::GET && paths.contains(&uri.path()) && !headers.contains_key(hyper::header::UPGRADE)
}

/// CORS for a comma-separated origin list; `*` allows any origin.
pub fn cors(origins: &str) -> tower_http::cors::CorsLayer {
    use tower_http::cors::{AllowOrigin, Any, CorsLayer};
    let layer = CorsLayer::new().allow_methods(Any).allow_headers(Any);
    if origins.trim() == "*" {
        return layer.allow_origin(Any);
    }
    layer.allow_origin(AllowOrigin::list(origins.split(',').filter_map(|o| o.trim().parse().ok())))
}
