//! Who may call what on a JSON-RPC server: the namespaces served to anyone, an admin key
//! (`Authorization: Bearer <key>`) that unlocks the rest, and partner keys that lift the
//! per-client rate limit and unlock nothing. [`AdminKeyLayer`] marks the HTTP requests (and
//! WebSocket upgrades) that carry a key; [`MethodPolicy`] refuses methods outside the public
//! namespaces to requests without the admin mark, in a batch entry by entry.

use hyper::header::AUTHORIZATION;
use jsonrpsee::core::middleware::{Batch, BatchEntry, BatchEntryErr, Notification, RpcServiceT};
use jsonrpsee::server::{HttpRequest, HttpResponse, MethodResponse};
use jsonrpsee::types::{ErrorObjectOwned, Request};
use std::collections::BTreeSet;
use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll};
use tower::{Layer, Service};

/// JSON-RPC's "method not found", which is what a client should conclude.
const NOT_PUBLIC: i32 = -32601;

/// The mark on a request that carried the admin key.
#[derive(Debug, Clone, Copy)]
pub struct Admin;

/// The mark on a request that carried a partner key: no per-client rate, the public
/// namespaces only.
#[derive(Debug, Clone, Copy)]
pub struct Partner;

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

/// Marks requests whose `Authorization: Bearer` is the admin key ([`Admin`]) or a partner key
/// ([`Partner`]). Any other bearer (one meant for someone else, or a mistyped key) is
/// anonymous: it gets the public namespaces only, at the per-client rate.
#[derive(Clone)]
pub struct AdminKeyLayer {
    keys: Keys,
}

#[derive(Clone)]
struct Keys {
    admin: Option<Arc<[u8]>>,
    partners: Arc<[Box<[u8]>]>,
}

impl AdminKeyLayer {
    pub fn new(key: Option<&str>) -> Self {
        Self { keys: Keys { admin: key.map(|k| Arc::from(k.as_bytes())), partners: Arc::from([]) } }
    }

    pub fn with_partners(mut self, keys: &[String]) -> Self {
        self.keys.partners = keys.iter().map(|k| Box::from(k.as_bytes())).collect();
        self
    }
}

impl<S> Layer<S> for AdminKeyLayer {
    type Service = AdminKey<S>;
    fn layer(&self, inner: S) -> AdminKey<S> {
        AdminKey { inner, keys: self.keys.clone() }
    }
}

#[derive(Clone)]
pub struct AdminKey<S> {
    inner: S,
    keys: Keys,
}

impl<S, B> Service<HttpRequest<B>> for AdminKey<S>
where
    S: Service<HttpRequest<B>, Response = HttpResponse>,
{
    type Response = HttpResponse;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: HttpRequest<B>) -> Self::Future {
        if let Some(value) = request.headers_mut().get_mut(AUTHORIZATION) {
            // The server's trace log prints request headers; a sensitive value prints as such.
            value.set_sensitive(true);
            if let Some(given) = bearer(value.as_bytes()) {
                if self.keys.admin.as_ref().is_some_and(|key| constant_time_eq(given, key)) {
                    request.extensions_mut().insert(Admin);
                } else if self.keys.partners.iter().any(|key| constant_time_eq(given, key)) {
                    request.extensions_mut().insert(Partner);
                }
            }
        }
        self.inner.call(request)
    }
}

/// The credentials of `Bearer <credentials>`, the scheme in any case (RFC 9110).
fn bearer(value: &[u8]) -> Option<&[u8]> {
    let (scheme, rest) = (value.get(..7)?, &value[7..]);
    scheme.eq_ignore_ascii_case(b"bearer ").then_some(rest)
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

/// Partner keys from a file's text: one a line, `#` comments and blank lines left out, each as
/// long as an admin key must be and none the admin key. Errors name lines, never keys.
pub fn parse_partner_keys(text: &str, admin: Option<&str>, setting: &str) -> Result<Vec<String>, String> {
    let mut keys = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let key = line.trim();
        if key.is_empty() || key.starts_with('#') {
            continue;
        }
        check_admin_key(key, &format!("line {} of {setting}", number + 1))?;
        if admin == Some(key) {
            return Err(format!("line {} of {setting} is the admin key, which opens every namespace: give partners keys of their own", number + 1));
        }
        keys.push(key.to_string());
    }
    Ok(keys)
}

/// Compares without an early exit, so the time taken says nothing about the secret.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The RPC layer: methods in `private` need the [`Admin`] mark. Names in no namespace the
/// server has pass, to be answered "method not found" by the server itself; so do
/// notifications, which the server never runs.
#[derive(Clone)]
pub struct MethodPolicy<S> {
    pub service: S,
    pub private: Arc<Namespaces>,
    /// Where else the refused methods are served, for the refusal's message.
    pub elsewhere: &'static str,
}

impl<S> MethodPolicy<S> {
    fn refusal(&self, method: &str, extensions: &jsonrpsee::Extensions) -> Option<ErrorObjectOwned> {
        if !self.private.contains(method) || extensions.get::<Admin>().is_some() {
            return None;
        }
        let message = format!("{method} is not public here: the {} namespace needs the admin key{}", namespace(method), self.elsewhere);
        Some(ErrorObjectOwned::owned(NOT_PUBLIC, message, None::<()>))
    }
}

impl<S> RpcServiceT for MethodPolicy<S>
where
    S: RpcServiceT<MethodResponse = MethodResponse> + Send + Sync + Clone + 'static,
{
    type MethodResponse = MethodResponse;
    type NotificationResponse = S::NotificationResponse;
    type BatchResponse = S::BatchResponse;

    fn call<'a>(&self, request: Request<'a>) -> impl Future<Output = Self::MethodResponse> + Send + 'a {
        let refused = self.refusal(request.method_name(), request.extensions()).map(|e| MethodResponse::error(request.id.clone(), e));
        crate::answer_or_call(refused, self.service.clone(), request)
    }

    /// Refused calls become error entries, in place.
    fn batch<'a>(&self, mut batch: Batch<'a>) -> impl Future<Output = Self::BatchResponse> + Send + 'a {
        for entry in batch.iter_mut() {
            let Ok(BatchEntry::Call(request)) = entry else { continue };
            if let Some(e) = self.refusal(request.method_name(), request.extensions()) {
                *entry = Err(BatchEntryErr::new(request.id.clone(), e));
            }
        }
        self.service.batch(batch)
    }

    fn notification<'a>(&self, n: Notification<'a>) -> impl Future<Output = Self::NotificationResponse> + Send + 'a {
        self.service.notification(n)
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
        assert_eq!(bearer(b"Bearer k3y"), Some(&b"k3y"[..]));
        assert_eq!(bearer(b"bearer k3y"), Some(&b"k3y"[..]));
        assert_eq!(bearer(b"BEARER k3y"), Some(&b"k3y"[..]));
        assert_eq!(bearer(b"Basic dXNlcg=="), None);
        assert_eq!(bearer(b"Bear"), None);
    }

    #[test]
    fn partner_keys_are_long_and_never_the_admin_key() {
        let text = "# partners\n\n  acme-0123456789abcdef  \nglobex-0123456789abcdef\n";
        assert_eq!(parse_partner_keys(text, Some("admin-0123456789abcdef"), "F").unwrap(), ["acme-0123456789abcdef", "globex-0123456789abcdef"]);
        assert_eq!(parse_partner_keys("", None, "F").unwrap(), Vec::<String>::new(), "an empty file: no partners");
        let short = parse_partner_keys("# one\nshort\n", None, "F").unwrap_err();
        assert!(short.contains("line 2 of F") && !short.contains("short"), "{short}");
        let admin = parse_partner_keys("admin-0123456789abcdef", Some("admin-0123456789abcdef"), "F").unwrap_err();
        assert!(admin.contains("line 1 of F is the admin key") && !admin.contains("admin-0123"), "{admin}");
    }
}
