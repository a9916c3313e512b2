//! Who may call what on a JSON-RPC server: the namespaces served to anyone, and an admin key
//! (`Authorization: Bearer <key>`) that unlocks the rest. [`AdminKeyLayer`] marks the HTTP
//! requests (and WebSocket upgrades) that carry the key; [`MethodPolicy`] refuses methods
//! outside the public namespaces to unmarked requests, in a batch entry by entry.

use crate::json_response;
use hyper::StatusCode;
use hyper::header::AUTHORIZATION;
use jsonrpsee::core::middleware::{Batch, BatchEntry, BatchEntryErr, Notification, RpcServiceT};
use jsonrpsee::server::{HttpRequest, HttpResponse, MethodResponse};
use jsonrpsee::types::{ErrorObjectOwned, Request};
use std::collections::BTreeSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tower::{Layer, Service};

/// JSON-RPC's "method not found", which is what a client should conclude.
const NOT_PUBLIC: i32 = -32601;

/// The mark on a request that carried the admin key.
#[derive(Debug, Clone, Copy)]
pub struct Admin;

/// A set of namespaces: a method's namespace is its name up to the first `_`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Namespaces(BTreeSet<String>);

impl Namespaces {
    pub fn only<S: AsRef<str>>(names: impl IntoIterator<Item = S>) -> Self {
        Self(names.into_iter().map(|n| n.as_ref().trim().to_string()).filter(|n| !n.is_empty()).collect())
    }

    /// The namespaces of these methods.
    pub fn of<'a>(methods: impl IntoIterator<Item = &'a str>) -> Self {
        Self::only(methods.into_iter().map(namespace))
    }

    pub fn contains(&self, method: &str) -> bool {
        self.0.contains(namespace(method))
    }

    /// The names in `self` and not in `other`.
    pub fn without(&self, other: &Namespaces) -> Namespaces {
        Self(self.0.difference(&other.0).cloned().collect())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }
}

/// A name without `_` is in no namespace.
fn namespace(method: &str) -> &str {
    method.split_once('_').map_or("", |(namespace, _)| namespace)
}

/// Marks requests whose `Authorization: Bearer` is the admin key, and answers 401 to a wrong
/// one (with no key configured, bearer headers are ignored: they may be meant for someone else).
#[derive(Clone)]
pub struct AdminKeyLayer {
    key: Option<Arc<[u8]>>,
}

impl AdminKeyLayer {
    pub fn new(key: Option<&str>) -> Self {
        Self { key: key.map(|k| Arc::from(k.as_bytes())) }
    }
}

impl<S> Layer<S> for AdminKeyLayer {
    type Service = AdminKey<S>;
    fn layer(&self, inner: S) -> AdminKey<S> {
        AdminKey { inner, key: self.key.clone() }
    }
}

#[derive(Clone)]
pub struct AdminKey<S> {
    inner: S,
    key: Option<Arc<[u8]>>,
}

impl<S, B> Service<HttpRequest<B>> for AdminKey<S>
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
        if let Some(key) = &self.key {
            let given = request.headers().get(AUTHORIZATION).and_then(|v| v.as_bytes().strip_prefix(b"Bearer "));
            match given {
                Some(given) if constant_time_eq(given, key) => {
                    request.extensions_mut().insert(Admin);
                }
                Some(_) => {
                    let body = serde_json::json!({ "jsonrpc": "2.0", "id": null, "error": { "code": -32001, "message": "wrong admin key in Authorization: Bearer" } });
                    return Box::pin(async move { Ok(json_response(StatusCode::UNAUTHORIZED, &body)) });
                }
                None => {}
            }
        }
        Box::pin(self.inner.call(request))
    }
}

/// An admin key shorter than this could be guessed.
pub const MIN_ADMIN_KEY_LEN: usize = 16;

/// Refuses a key that is too short, saying so without printing it.
pub fn check_admin_key(key: &str, setting: &str) -> Result<(), String> {
    if key.len() < MIN_ADMIN_KEY_LEN {
        return Err(format!("{setting} has {} characters; it needs at least {MIN_ADMIN_KEY_LEN}", key.len()));
    }
    Ok(())
}

/// Compares without an early exit, so the time taken says nothing about the secret.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The RPC layer: methods in `private` need the [`Admin`] mark. Names in no namespace the
/// server has pass, to be answered "method not found" by the server itself.
#[derive(Clone)]
pub struct MethodPolicy<S> {
    pub service: S,
    pub private: Arc<Namespaces>,
}

impl<S> MethodPolicy<S> {
    fn refusal(&self, method: &str, extensions: &jsonrpsee::Extensions) -> Option<ErrorObjectOwned> {
        if !self.private.contains(method) || extensions.get::<Admin>().is_some() {
            return None;
        }
        let message = format!("{method} is not public here: the {} namespace needs the admin key or the internal RPC port", namespace(method));
        Some(ErrorObjectOwned::owned(NOT_PUBLIC, message, None::<()>))
    }
}

impl<S> RpcServiceT for MethodPolicy<S>
where
    S: RpcServiceT<MethodResponse = MethodResponse, NotificationResponse = MethodResponse> + Send + Sync + Clone + 'static,
{
    type MethodResponse = MethodResponse;
    type NotificationResponse = MethodResponse;
    type BatchResponse = S::BatchResponse;

    fn call<'a>(&self, request: Request<'a>) -> impl Future<Output = Self::MethodResponse> + Send + 'a {
        let refused = self.refusal(request.method_name(), request.extensions()).map(|e| MethodResponse::error(request.id.clone(), e));
        let service = self.service.clone();
        async move {
            match refused {
                Some(response) => response,
                None => service.call(request).await,
            }
        }
    }

    /// Refused calls become error entries; refused notifications are dropped.
    fn batch<'a>(&self, mut batch: Batch<'a>) -> impl Future<Output = Self::BatchResponse> + Send + 'a {
        let extensions = batch.extensions().clone();
        let entries = batch
            .into_iter()
            .filter_map(|entry| match entry {
                Ok(BatchEntry::Call(request)) => match self.refusal(request.method_name(), request.extensions()) {
                    Some(e) => Some(Err(BatchEntryErr::new(request.id.clone(), e))),
                    None => Some(Ok(BatchEntry::Call(request))),
                },
                Ok(BatchEntry::Notification(n)) => self.refusal(n.method_name(), n.extensions()).is_none().then_some(Ok(BatchEntry::Notification(n))),
                Err(e) => Some(Err(e)),
            })
            .collect();
        let mut checked = Batch::from(entries);
        *checked.extensions_mut() = extensions;
        self.service.batch(checked)
    }

    fn notification<'a>(&self, n: Notification<'a>) -> impl Future<Output = Self::NotificationResponse> + Send + 'a {
        let refused = self.refusal(n.method_name(), n.extensions()).is_some();
        let service = self.service.clone();
        async move { if refused { MethodResponse::notification() } else { service.notification(n).await } }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_are_the_names_before_the_first_underscore() {
        let public = Namespaces::only(["eth", " net ", "web3", ""]);
        assert!(public.contains("eth_call"));
        assert!(public.contains("eth_sendRawTransactionConditional"));
        assert!(public.contains("net_version"));
        assert!(!public.contains("debug_traceCall"));
        assert!(!public.contains("debug_bundler_dumpMempool"));
        assert!(!public.contains("ethx_call"));
        assert!(!public.contains("eth"));
        let served = Namespaces::of(["eth_call", "debug_traceCall", "ande_daStatus", "net_version"]);
        assert_eq!(served.without(&public).names().collect::<Vec<_>>(), ["ande", "debug"]);
        assert_eq!(Namespaces::only(["eth", "debgu", "admin"]).without(&served).names().collect::<Vec<_>>(), ["admin", "debgu"]);
        assert!(Namespaces::only(["eth", "debug"]).without(&served).is_empty());
    }

    #[test]
    fn key_comparison() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abd", b"abc"));
        assert!(!constant_time_eq(b"ab", b"abc"));
    }
}
