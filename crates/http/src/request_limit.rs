//! Per-client request rates for the stack's plain HTTP services (the explorer, the faucet page):
//! the RPC's token buckets ([`RateLimiter`]), one token a request, the client named the same way
//! ([`client_of`]); past it 429 with `Retry-After` and a JSON body. Health checks and metrics
//! asked directly (not through a proxy) are never charged, so a flood cannot make a container
//! look dead to Docker or Prometheus.

use crate::limit::{Cidr, RateLimiter, client_of, retry_after_secs};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, StatusCode, header::RETRY_AFTER};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::net::SocketAddr;
use std::sync::Arc;

#[derive(Debug, Clone, clap::Args)]
pub struct RequestLimitArgs {
    /// Requests a second one client (an IPv4 address, an IPv6 /64) may make; 0: no limit.
    #[arg(long = "rate-limit", env = "HTTP_RATE_LIMIT", default_value_t = 0.0)]
    pub rate_limit: f64,
    /// Requests a client may make at once; 0: twice the rate.
    #[arg(long = "rate-burst", env = "HTTP_RATE_BURST", default_value_t = 0)]
    pub rate_burst: u32,
    /// Proxies (addresses or networks, comma-separated) whose X-Forwarded-For names the client.
    #[arg(long = "rate-trusted-proxies", env = "HTTP_RATE_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<Cidr>,
}

/// The limit a service was started with: nothing, or a limiter and the proxies it believes.
#[derive(Clone, Default)]
pub struct RequestLimit(Option<Limiting>);

#[derive(Clone)]
struct Limiting {
    limiter: Arc<RateLimiter>,
    trusted: Arc<[Cidr]>,
}

impl RequestLimitArgs {
    /// The limit these settings ask for, checked (a service calls this before anything else).
    pub fn limit(&self) -> Result<RequestLimit, String> {
        let limiter = RateLimiter::configured(self.rate_limit, self.rate_burst, "HTTP_RATE_LIMIT")?;
        Ok(RequestLimit(limiter.map(|limiter| Limiting { limiter, trusted: self.trusted_proxies.clone().into() })))
    }
}

impl RequestLimit {
    /// `router` behind the limit (as it is without one). The server must be built with
    /// `into_make_service_with_connect_info::<SocketAddr>`.
    pub fn apply<S: Clone + Send + Sync + 'static>(&self, router: axum::Router<S>) -> axum::Router<S> {
        match &self.0 {
            Some(limit) => router.layer(axum::middleware::from_fn_with_state(limit.clone(), charge)),
            None => router,
        }
    }
}

async fn charge(State(limit): State<Limiting>, ConnectInfo(peer): ConnectInfo<SocketAddr>, request: Request, next: Next) -> Response {
    // Docker's health check and Prometheus come direct; through a proxy these count too.
    let forwarded = request.headers().contains_key("x-forwarded-for");
    if !forwarded && matches!(request.uri().path(), "/health" | "/metrics") {
        return next.run(request).await;
    }
    let client = client_of(peer.ip(), request.headers(), &limit.trusted);
    let Err(refusal) = limit.limiter.take(client, 1) else { return next.run(request).await };
    let (message, wait) = limit.limiter.explain(refusal);
    let seconds = wait.map_or(1, retry_after_secs);
    let mut response = (StatusCode::TOO_MANY_REQUESTS, axum::Json(serde_json::json!({ "error": message, "retry_after": seconds }))).into_response();
    response.headers_mut().insert(RETRY_AFTER, HeaderValue::from(seconds));
    response
}
