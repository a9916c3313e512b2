//! Forwarding to a service behind this one (the faucet page to the faucet API, the dApp to the
//! RPC, the faucet, the bundler and the paymaster), so a browser only ever talks to the origin
//! it loaded: no Docker service name, no CORS. The connecting peer's address is appended to
//! X-Forwarded-For (run the service behind with one more trusted proxy); hop-by-hop headers stay
//! on their hop; a service that does not answer is a JSON 502, one too slow a JSON 504.

use crate::json_error;
use axum::body::{Body, Bytes, to_bytes};
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use http_body_util::{BodyExt, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use std::net::SocketAddr;
use std::time::Duration;

/// How long one forwarded exchange may take: the client's body read, the service's answer
/// received whole.
const TIMEOUT: Duration = Duration::from_secs(30);
/// The largest answer passed back (a wide `eth_getLogs` fits).
const MAX_ANSWER: usize = 32 * 1024 * 1024;

pub struct Upstream {
    /// The service's base URL, without a trailing slash.
    base: String,
    /// Its host and port only: what logs and public answers name (a path may hold a key).
    authority: String,
    client: Client<HttpConnector, Body>,
}

impl Upstream {
    /// `url` must be http://host[:port][/path]; `setting` names it in the error.
    pub fn new(url: &str, setting: &str) -> Result<Self, String> {
        let base = url.trim_end_matches('/').to_string();
        let invalid = || format!("{setting} is not a valid http URL: {url}");
        let parsed: Uri = base.parse().map_err(|_| invalid())?;
        let authority = match (parsed.scheme_str(), parsed.authority(), parsed.query()) {
            (Some("http"), Some(authority), None) if !authority.as_str().contains('@') => authority.to_string(),
            _ => return Err(invalid()),
        };
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(Duration::from_secs(5)));
        Ok(Self { base, authority, client: Client::builder(TokioExecutor::new()).build(connector) })
    }

    /// The service's host and port.
    pub fn authority(&self) -> &str {
        &self.authority
    }

    /// Sends `request` to `path_and_query` under the base, its body capped at `max_body` bytes
    /// (413 past it), and returns the service's answer.
    pub async fn forward(&self, peer: SocketAddr, request: Request, path_and_query: &str, max_body: usize) -> Response {
        match tokio::time::timeout(TIMEOUT, self.exchange(peer, request, path_and_query, max_body)).await {
            Ok(response) => response,
            Err(_) => json_error(StatusCode::GATEWAY_TIMEOUT, "the service behind this one did not answer in time"),
        }
    }

    async fn exchange(&self, peer: SocketAddr, request: Request, path_and_query: &str, max_body: usize) -> Response {
        let Ok(uri) = format!("{}{path_and_query}", self.base).parse::<Uri>() else {
            return json_error(StatusCode::BAD_REQUEST, "invalid path");
        };
        let (mut parts, body) = request.into_parts();
        let declared = parts.headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
        let too_large = || json_error(StatusCode::PAYLOAD_TOO_LARGE, format!("request body larger than {max_body} bytes"));
        if declared.is_some_and(|n| n > max_body as u64) {
            return too_large();
        }
        let Ok(body) = to_bytes(body, max_body).await else { return too_large() };
        parts.uri = uri;
        parts.headers.remove(header::HOST);
        strip_hop_by_hop(&mut parts.headers);
        // Whatever the client claims, the address it connected from is appended last.
        let forwarded = match parts.headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
            Some(existing) => format!("{existing}, {}", peer.ip()),
            None => peer.ip().to_string(),
        };
        if let Ok(value) = HeaderValue::from_str(&forwarded) {
            parts.headers.insert("x-forwarded-for", value);
        }
        let response = match self.client.request(Request::from_parts(parts, Body::from(body))).await {
            Ok(response) => response,
            Err(e) => {
                tracing::warn!(upstream = %self.authority, error = %e, "upstream unreachable");
                return json_error(StatusCode::BAD_GATEWAY, "the service behind this one is unreachable");
            }
        };
        let (mut parts, body) = response.into_parts();
        let body = match Limited::new(body, MAX_ANSWER).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(e) => {
                tracing::warn!(upstream = %self.authority, error = %e, "upstream answer unreadable or over {MAX_ANSWER} bytes");
                return json_error(StatusCode::BAD_GATEWAY, "the service behind this one gave no usable answer");
            }
        };
        strip_hop_by_hop(&mut parts.headers);
        Response::from_parts(parts, Body::from(body)).into_response()
    }

    /// GET `path`: its status and body, or why there is none.
    pub async fn get(&self, path: &str) -> Result<(StatusCode, Bytes), String> {
        let uri: Uri = format!("{}{path}", self.base).parse().map_err(|_| "invalid path".to_string())?;
        self.send(Request::get(uri).body(Body::empty()).map_err(|e| e.to_string())?).await
    }

    /// POST `body` as JSON to the base URL: its status and body, or why there is none.
    pub async fn post_json(&self, body: &serde_json::Value) -> Result<(StatusCode, Bytes), String> {
        let request = Request::post(self.base.as_str())
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
            .map_err(|e| e.to_string())?;
        self.send(request).await
    }

    async fn send(&self, request: Request) -> Result<(StatusCode, Bytes), String> {
        let exchange = async {
            let response = self.client.request(request).await.map_err(|e| e.to_string())?;
            let status = response.status();
            let body = Limited::new(response.into_body(), MAX_ANSWER).collect().await.map_err(|e| e.to_string())?.to_bytes();
            Ok((status, body))
        };
        tokio::time::timeout(Duration::from_secs(5), exchange).await.map_err(|_| "no answer within 5 s".to_string())?
    }
}

/// Removes the headers that belong to one connection (RFC 9110, 7.6.1), and those it names.
fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in ["connection", "keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization", "te", "trailer", "transfer-encoding", "upgrade"] {
        headers.remove(name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_http_urls_are_upstreams() {
        let upstream = Upstream::new("http://faucet-api:8081/", "FAUCET_API_URL").unwrap();
        assert_eq!(upstream.base, "http://faucet-api:8081");
        assert_eq!(Upstream::new("http://rpc.example:80/key/s3cret", "X").unwrap().authority(), "rpc.example:80", "no path in what is shown");
        for bad in ["https://x", "faucet-api:8081", "http://", "http://x/?a=1", "http://user:pw@x", "not a url"] {
            let e = Upstream::new(bad, "FAUCET_API_URL").err().unwrap_or_else(|| panic!("{bad} accepted"));
            assert!(e.contains("FAUCET_API_URL"), "{e}");
        }
    }

    #[test]
    fn hop_by_hop_headers_stay_on_their_hop() {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONNECTION, HeaderValue::from_static("keep-alive, x-private"));
        headers.insert("x-private", HeaderValue::from_static("1"));
        headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        strip_hop_by_hop(&mut headers);
        assert_eq!(headers.len(), 1, "{headers:?}");
        assert!(headers.contains_key(header::CONTENT_TYPE));
    }
}
