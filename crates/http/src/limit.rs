//! Per-client request rates. [`ClientLayer`] names each HTTP request's (and WebSocket
//! session's) client: the TCP peer, or, when the peer is a trusted proxy, the last address in
//! `X-Forwarded-For` that is not a trusted proxy itself. [`RateLimit`] charges every call (each
//! entry of a batch) to that client's token bucket (an IPv6 client is its /64, which one holder
//! usually has whole); past it a call gets -32005 with the time to wait, and over HTTP the answer
//! is 429 with `Retry-After`. Callers with the admin key are not limited.

use crate::policy::{Admin, Partner};
use hyper::StatusCode;
use hyper::header::{HeaderValue, RETRY_AFTER};
use jsonrpsee::core::middleware::{Batch, Notification, RpcServiceT};
use jsonrpsee::server::{HttpRequest, HttpResponse, MethodResponse};
use jsonrpsee::types::{ErrorObjectOwned, Id, Request};
use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tower::{Layer, Service};

/// JSON-RPC's code for "limit exceeded", as the node's budget uses it.
const LIMITED: i32 = -32005;
/// Buckets kept before the full ones (clients idle long enough) are dropped; past four times
/// as many (a flood of distinct clients), all are.
const MAX_TRACKED: usize = 65_536;

/// The TCP peer of a request, put there by the server's accept loop.
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub SocketAddr);

/// The client a request is charged to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

/// On a response: the call was refused for its client's rate; retry after this long (None:
/// never, the batch is larger than the burst).
#[derive(Debug, Clone, Copy)]
struct Limited(Option<Duration>);

/// An address or a network (`10.0.0.0/8`, `::1`), as RPC_TRUSTED_PROXIES lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl std::str::FromStr for Cidr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("{s:?} is not an IP address or network (like 10.0.0.0/8)");
        let (addr, prefix) = match s.trim().split_once('/') {
            Some((addr, prefix)) => (addr.parse::<IpAddr>().map_err(|_| bad())?, Some(prefix.parse::<u8>().map_err(|_| bad())?)),
            None => (s.trim().parse::<IpAddr>().map_err(|_| bad())?, None),
        };
        let width = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(width);
        if prefix > width {
            return Err(bad());
        }
        Ok(Cidr { addr: addr.to_canonical(), prefix })
    }
}

impl Cidr {
    pub fn contains(&self, ip: IpAddr) -> bool {
        let bits = |ip: IpAddr| match ip {
            IpAddr::V4(v4) => (u128::from(u32::from(v4)) << 96, 32u8),
            IpAddr::V6(v6) => (u128::from(v6), 128u8),
        };
        let ((net, width), (ip, ip_width)) = (bits(self.addr), bits(ip.to_canonical()));
        if width != ip_width {
            return false;
        }
        let mask = if self.prefix == 0 { 0 } else { u128::MAX << (128 - u32::from(self.prefix)) };
        net & mask == ip & mask
    }
}

/// The client behind `peer`: the peer itself unless it is a trusted proxy, else the last
/// `X-Forwarded-For` entry (over all the header's lines, in order) that is not one. Entries may
/// carry a port; an unreadable one ends the walk there.
pub fn client_ip<'h>(peer: IpAddr, forwarded_for: impl DoubleEndedIterator<Item = &'h str>, trusted: &[Cidr]) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|c| c.contains(ip));
    let mut client = peer.to_canonical();
    if !is_trusted(client) {
        return client;
    }
    for entry in forwarded_for.rev().flat_map(|line| line.rsplit(',')) {
        let Some(ip) = forwarded_ip(entry.trim()) else { break };
        client = ip.to_canonical();
        if !is_trusted(client) {
            break;
        }
    }
    client
}

/// [`client_ip`] of a request with these headers from `peer`.
pub fn client_of(peer: IpAddr, headers: &hyper::HeaderMap, trusted: &[Cidr]) -> IpAddr {
    // A line that is not text reads as empty, which ends the walk at the proxy.
    client_ip(peer, headers.get_all("x-forwarded-for").iter().map(|v| v.to_str().unwrap_or("")), trusted)
}

/// `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1` or `[2001:db8::1]:443`.
fn forwarded_ip(entry: &str) -> Option<IpAddr> {
    entry.parse::<IpAddr>().ok().or_else(|| entry.parse::<SocketAddr>().ok().map(|a| a.ip()))
}

/// The bucket a client is charged to: its address, or its /64 for IPv6.
fn bucket_key(client: IpAddr) -> IpAddr {
    match client.to_canonical() {
        IpAddr::V6(v6) => IpAddr::V6((u128::from(v6) & (u128::MAX << 64)).into()),
        v4 => v4,
    }
}

/// A token bucket per client: `per_second` calls a second, `burst` at once.
pub struct RateLimiter {
    per_second: f64,
    burst: f64,
    buckets: Mutex<Buckets>,
}

struct Buckets {
    map: HashMap<IpAddr, Bucket>,
    next_purge: usize,
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Why calls were refused.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Refusal {
    /// Retry after this long.
    Wait(Duration),
    /// More calls at once than the burst: never served.
    TooMany,
}

impl RateLimiter {
    /// `burst` 0: twice the rate, at least one call. `per_second` must be above 0.
    pub fn new(per_second: f64, burst: u32) -> Self {
        assert!(per_second > 0.0 && per_second.is_finite(), "a rate limit of {per_second} calls a second");
        let burst = if burst == 0 { (per_second * 2.0).ceil().max(1.0) } else { f64::from(burst) };
        Self { per_second, burst, buckets: Mutex::new(Buckets { map: HashMap::new(), next_purge: MAX_TRACKED }) }
    }

    /// The limiter a setting asks for: `per_second` 0 is none; `setting` names it in the error.
    pub fn configured(per_second: f64, burst: u32, setting: &str) -> Result<Option<Arc<Self>>, String> {
        if !per_second.is_finite() || per_second < 0.0 {
            return Err(format!("{setting} is {per_second}: it needs a number of calls a second, or 0 for no limit"));
        }
        Ok((per_second > 0.0).then(|| Arc::new(Self::new(per_second, burst))))
    }

    /// Takes `calls` tokens from `client`'s bucket, or says when there will be enough.
    pub fn take(&self, client: IpAddr, calls: usize) -> Result<(), Refusal> {
        self.take_at(client, calls, Instant::now())
    }

    fn take_at(&self, client: IpAddr, calls: usize, now: Instant) -> Result<(), Refusal> {
        let calls = calls as f64;
        if calls > self.burst {
            return Err(Refusal::TooMany);
        }
        let mut buckets = self.buckets.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if buckets.map.len() >= buckets.next_purge {
            buckets.map.retain(|_, b| self.refilled(b, now) < self.burst);
            if buckets.map.len() >= 4 * MAX_TRACKED {
                buckets.map.clear();
            }
            // Not again before the map has doubled: a purge is a scan of every bucket.
            buckets.next_purge = (2 * buckets.map.len()).max(MAX_TRACKED);
        }
        let bucket = buckets.map.entry(bucket_key(client)).or_insert(Bucket { tokens: self.burst, at: now });
        bucket.tokens = self.refilled(bucket, now);
        bucket.at = now;
        if bucket.tokens >= calls {
            bucket.tokens -= calls;
            return Ok(());
        }
        Err(Refusal::Wait(Duration::try_from_secs_f64((calls - bucket.tokens) / self.per_second).unwrap_or(Duration::MAX)))
    }

    fn refilled(&self, bucket: &Bucket, now: Instant) -> f64 {
        (bucket.tokens + now.saturating_duration_since(bucket.at).as_secs_f64() * self.per_second).min(self.burst)
    }

    /// What a refused caller is told, and how long it must wait (none: never served).
    pub fn explain(&self, refusal: Refusal) -> (String, Option<Duration>) {
        match refusal {
            Refusal::Wait(wait) => (format!("rate limit exceeded ({} calls/s, burst {}): retry in {} ms", self.per_second, self.burst, wait.as_millis().max(1)), Some(wait)),
            Refusal::TooMany => (format!("a batch larger than the rate limit's burst ({}) is never served: split it", self.burst), None),
        }
    }

    fn refusal(&self, refusal: Refusal, id: Id<'_>) -> MethodResponse {
        let (message, wait) = self.explain(refusal);
        let data = wait.map(|wait| serde_json::json!({ "retryAfterMs": u64::try_from(wait.as_millis().max(1)).unwrap_or(u64::MAX) }));
        let mut response = MethodResponse::error(id, ErrorObjectOwned::owned(LIMITED, message, data));
        response.extensions_mut().insert(Limited(wait));
        response
    }
}

/// The RPC layer: charges calls to their [`ClientIp`]; requests without one (the internal port)
/// or with the admin key or a partner key pass.
#[derive(Clone)]
pub struct RateLimit<S> {
    pub service: S,
    pub limiter: Option<Arc<RateLimiter>>,
}

impl<S> RateLimit<S> {
    fn charge(&self, extensions: &jsonrpsee::Extensions, calls: usize) -> Result<(), (Arc<RateLimiter>, Refusal)> {
        let (Some(limiter), Some(ClientIp(client))) = (&self.limiter, extensions.get::<ClientIp>()) else { return Ok(()) };
        if extensions.get::<Admin>().is_some() || extensions.get::<Partner>().is_some() {
            return Ok(());
        }
        limiter.take(*client, calls).map_err(|refusal| (limiter.clone(), refusal))
    }
}

impl<S> RpcServiceT for RateLimit<S>
where
    S: RpcServiceT<MethodResponse = MethodResponse, BatchResponse = MethodResponse, NotificationResponse = MethodResponse> + Send + Sync + Clone + 'static,
{
    type MethodResponse = MethodResponse;
    type NotificationResponse = MethodResponse;
    type BatchResponse = MethodResponse;

    fn call<'a>(&self, request: Request<'a>) -> impl Future<Output = Self::MethodResponse> + Send + 'a {
        let refused = self.charge(request.extensions(), 1).err().map(|(limiter, refusal)| limiter.refusal(refusal, request.id.clone()));
        crate::answer_or_call(refused, self.service.clone(), request)
    }

    /// A batch is charged as many calls as it holds, all or none.
    fn batch<'a>(&self, mut batch: Batch<'a>) -> impl Future<Output = Self::BatchResponse> + Send + 'a {
        let calls = batch.len();
        let refused = self.charge(batch.extensions(), calls).err().map(|(limiter, refusal)| limiter.refusal(refusal, Id::Null));
        let service = self.service.clone();
        async move {
            match refused {
                Some(response) => response,
                None => service.batch(batch).await,
            }
        }
    }

    fn notification<'a>(&self, n: Notification<'a>) -> impl Future<Output = Self::NotificationResponse> + Send + 'a {
        let refused = self.charge(n.extensions(), 1).is_err();
        let service = self.service.clone();
        async move { if refused { MethodResponse::notification() } else { service.notification(n).await } }
    }
}

/// Names the client of each request from its [`Peer`] and the trusted proxies, and answers a
/// rate-limited call 429 with `Retry-After`.
#[derive(Clone)]
pub struct ClientLayer {
    trusted: Arc<[Cidr]>,
}

impl ClientLayer {
    pub fn new(trusted: Vec<Cidr>) -> Self {
        Self { trusted: trusted.into() }
    }
}

impl<S> Layer<S> for ClientLayer {
    type Service = Client<S>;
    fn layer(&self, inner: S) -> Client<S> {
        Client { inner, trusted: self.trusted.clone() }
    }
}

#[derive(Clone)]
pub struct Client<S> {
    inner: S,
    trusted: Arc<[Cidr]>,
}

impl<S, B> Service<HttpRequest<B>> for Client<S>
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

    fn call(&mut self, mut request: HttpRequest<B>) -> Self::Future {
        if let Some(Peer(peer)) = request.extensions().get::<Peer>().copied() {
            let client = client_of(peer.ip(), request.headers(), &self.trusted);
            request.extensions_mut().insert(ClientIp(client));
        }
        let response = self.inner.call(request);
        Box::pin(async move {
            let mut response = response.await?;
            if let Some(Limited(wait)) = response.extensions().get::<Limited>().copied() {
                *response.status_mut() = StatusCode::TOO_MANY_REQUESTS;
                if let Some(wait) = wait {
                    response.headers_mut().insert(RETRY_AFTER, HeaderValue::from(retry_after_secs(wait)));
                }
            }
            Ok(response)
        })
    }
}

/// A wait as `Retry-After` gives it: whole seconds, at least one.
pub fn retry_after_secs(wait: Duration) -> u64 {
    wait.as_secs_f64().ceil().max(1.0) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn networks() {
        let net: Cidr = "172.16.0.0/12".parse().unwrap();
        assert!(net.contains(ip("172.31.255.1")));
        assert!(!net.contains(ip("172.32.0.1")));
        assert!(!net.contains(ip("::1")));
        let one: Cidr = "127.0.0.1".parse().unwrap();
        assert!(one.contains(ip("127.0.0.1")));
        assert!(one.contains(ip("::ffff:127.0.0.1")), "an IPv4-mapped peer is its IPv4 address");
        assert!(!one.contains(ip("127.0.0.2")));
        assert!("::/0".parse::<Cidr>().unwrap().contains(ip("2001:db8::1")));
        assert!("fd00::/8".parse::<Cidr>().unwrap().contains(ip("fd12::1")));
        for bad in ["10.0.0.0/33", "10.0.0", "proxy", "::1/129", "10.0.0.0/x"] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
    }

    #[test]
    fn forwarded_for_is_believed_from_trusted_proxies_only() {
        let trusted = ["10.0.0.0/8".parse().unwrap()];
        let xff = |lines: &'static [&'static str]| lines.iter().copied();
        // Not from a proxy: the header is the client's own say.
        assert_eq!(client_ip(ip("203.0.113.9"), xff(&["198.51.100.1"]), &trusted), ip("203.0.113.9"));
        // From the proxy: the address it appended.
        assert_eq!(client_ip(ip("10.0.0.2"), xff(&["198.51.100.1"]), &trusted), ip("198.51.100.1"));
        // A forged entry before the proxy's own is not believed, nor a forged line before its own.
        assert_eq!(client_ip(ip("10.0.0.2"), xff(&["1.1.1.1, 198.51.100.1"]), &trusted), ip("198.51.100.1"));
        assert_eq!(client_ip(ip("10.0.0.2"), xff(&["1.1.1.1", "198.51.100.1"]), &trusted), ip("198.51.100.1"));
        // Two proxies in a row; entries with ports.
        assert_eq!(client_ip(ip("10.0.0.2"), xff(&["198.51.100.1, 10.0.0.3"]), &trusted), ip("198.51.100.1"));
        assert_eq!(client_ip(ip("10.0.0.2"), xff(&["198.51.100.1:5678"]), &trusted), ip("198.51.100.1"));
        assert_eq!(client_ip(ip("10.0.0.2"), xff(&["[2001:db8::1]:443"]), &trusted), ip("2001:db8::1"));
        // Nothing readable: the proxy itself.
        assert_eq!(client_ip(ip("10.0.0.2"), xff(&[]), &trusted), ip("10.0.0.2"));
        assert_eq!(client_ip(ip("10.0.0.2"), xff(&["garbage"]), &trusted), ip("10.0.0.2"));
    }

    #[test]
    fn buckets_refill_at_the_rate_up_to_the_burst() {
        let limiter = RateLimiter::new(10.0, 5);
        let (a, b) = (ip("192.0.2.1"), ip("192.0.2.2"));
        let start = Instant::now();
        for _ in 0..5 {
            assert_eq!(limiter.take_at(a, 1, start), Ok(()));
        }
        let Err(Refusal::Wait(wait)) = limiter.take_at(a, 1, start) else { panic!("the sixth call at once is refused") };
        assert!((wait.as_secs_f64() - 0.1).abs() < 1e-9, "{wait:?}");
        assert_eq!(limiter.take_at(b, 5, start), Ok(()), "another client has its own bucket");
        // 0.3 s later three calls' worth came back, no more.
        let later = start + Duration::from_millis(300);
        assert_eq!(limiter.take_at(a, 3, later), Ok(()));
        assert!(limiter.take_at(a, 1, later).is_err());
        // Long idle: full, never above the burst.
        let idle = later + Duration::from_secs(60);
        assert_eq!(limiter.take_at(a, 5, idle), Ok(()));
        assert!(limiter.take_at(a, 1, idle).is_err());
        assert_eq!(limiter.take_at(a, 6, idle), Err(Refusal::TooMany));
        assert_eq!(RateLimiter::new(0.4, 0).burst, 1.0);
        assert_eq!(RateLimiter::new(50.0, 0).burst, 100.0);
        // A rate so low the wait overflows a Duration: the longest one, no panic.
        let slow = RateLimiter::new(1e-300, 1);
        assert_eq!(slow.take_at(a, 1, start), Ok(()));
        assert_eq!(slow.take_at(a, 1, start), Err(Refusal::Wait(Duration::MAX)));
    }

    #[test]
    fn an_ipv6_client_is_its_64() {
        let limiter = RateLimiter::new(1.0, 1);
        let now = Instant::now();
        assert_eq!(limiter.take_at(ip("2001:db8:1:2::1"), 1, now), Ok(()));
        assert!(limiter.take_at(ip("2001:db8:1:2:ffff::9"), 1, now).is_err(), "another address of the same /64");
        assert_eq!(limiter.take_at(ip("2001:db8:1:3::1"), 1, now), Ok(()), "another /64");
        assert_eq!(limiter.take_at(ip("::ffff:192.0.2.1"), 1, now), Ok(()));
        assert!(limiter.take_at(ip("192.0.2.1"), 1, now).is_err(), "a mapped address is its IPv4 one");
    }

    #[test]
    fn a_flood_of_clients_is_purged_now_and_then_not_at_every_call() {
        let limiter = RateLimiter::new(1.0, 2);
        let now = Instant::now();
        // Drained buckets survive a purge; past four times the threshold all are dropped.
        for n in 0..(4 * MAX_TRACKED as u32 + 10) {
            let client = IpAddr::V4(n.into());
            limiter.take_at(client, 2, now).unwrap();
        }
        let buckets = limiter.buckets.lock().unwrap();
        assert!(buckets.map.len() < 4 * MAX_TRACKED, "{}", buckets.map.len());
        assert!(buckets.next_purge >= MAX_TRACKED);
    }
}
