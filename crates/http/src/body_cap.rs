//! Request bodies sent without `Content-Length` (chunked), read up to the server's cap before
//! the JSON-RPC server sees them. The server checks a declared length itself and answers 413
//! (-32007); a streamed body past the cap it would report as an internal error (500), so here
//! it gets the same 413. Bodies with a length pass untouched.

use http_body_util::BodyExt;
use hyper::body::{Body, Bytes};
use hyper::header::{CONTENT_LENGTH, HeaderValue};
use jsonrpsee::server::{HttpBody, HttpRequest, HttpResponse};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use tower::{Layer, Service};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Clone, Copy)]
pub struct BodyCapLayer {
    max: u32,
}

impl BodyCapLayer {
    pub fn new(max: u32) -> Self {
        Self { max }
    }
}

impl<S> Layer<S> for BodyCapLayer {
    type Service = BodyCap<S>;
    fn layer(&self, inner: S) -> BodyCap<S> {
        BodyCap { inner, max: self.max }
    }
}

#[derive(Clone)]
pub struct BodyCap<S> {
    inner: S,
    max: u32,
}

impl<S, B> Service<HttpRequest<B>> for BodyCap<S>
where
    S: Service<HttpRequest<HttpBody>, Response = HttpResponse> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = HttpResponse;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: HttpRequest<B>) -> Self::Future {
        let (mut parts, body) = request.into_parts();
        let streamed = parts.method == hyper::Method::POST && !parts.headers.contains_key(CONTENT_LENGTH);
        if !streamed {
            return Box::pin(self.inner.call(HttpRequest::from_parts(parts, HttpBody::new(body))));
        }
        // The clone is the one that was polled ready (tower's usual swap).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let max = self.max;
        Box::pin(async move {
            match read_capped(body, max as usize).await {
                Some(bytes) => {
                    parts.headers.insert(CONTENT_LENGTH, HeaderValue::from(bytes.len()));
                    inner.call(HttpRequest::from_parts(parts, HttpBody::from(bytes))).await
                }
                // Past the cap, or the client went away mid-body: the server's own 413 either way
                // (nothing is served from a body that did not arrive whole).
                None => Ok(jsonrpsee::server::http::response::too_large(max)),
            }
        })
    }
}

/// Past the cap the rest of the body is still read (up to this many times the cap) and thrown
/// away, so the 413 reaches a client, or a proxy, that is still sending instead of a reset.
const DRAIN_FACTOR: usize = 4;

/// The body whole when it fits in `max` bytes; None when it does not, or breaks off.
async fn read_capped<B>(body: B, max: usize) -> Option<Vec<u8>>
where
    B: Body<Data = Bytes>,
{
    let mut body = std::pin::pin!(body);
    let mut kept = Vec::new();
    let mut seen = 0usize;
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else { return None };
        let Ok(data) = frame.into_data() else { continue };
        seen = seen.saturating_add(data.len());
        if seen <= max {
            kept.extend_from_slice(&data);
        } else if seen > max.saturating_mul(DRAIN_FACTOR) {
            return None;
        }
    }
    (seen <= max).then_some(kept)
}
