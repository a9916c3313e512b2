//! `ande faucet-ui` (3001): the faucet page, and a server-side proxy of `/api/*` to the
//! faucet API (`FAUCET_API_URL`, `http://faucet-api:8081` in Docker), so a browser never needs a
//! Docker-internal host name. The proxy appends the client's address to X-Forwarded-For; run
//! the API with `TRUSTED_PROXIES=1` behind it.

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

const PAGE: &str = include_str!("page.html");

#[derive(Debug, Clone, clap::Args)]
pub struct FaucetUiArgs {
    /// The faucet API the page's /api/* requests are forwarded to.
    #[arg(long = "faucet-api-url", env = "FAUCET_API_URL", default_value = "http://127.0.0.1:8081")]
    pub api_url: String,
    #[arg(long = "addr", env = "FAUCET_UI_ADDR", default_value = "127.0.0.1")]
    pub addr: IpAddr,
    #[arg(long = "port", env = "FAUCET_UI_PORT", default_value_t = 3001)]
    pub port: u16,
    #[command(flatten)]
    pub limit: ande_http::request_limit::RequestLimitArgs,
}

struct Proxy {
    /// The API's base URL, without a trailing slash.
    api: String,
    client: Client<HttpConnector, Body>,
}

#[derive(Debug, thiserror::Error)]
pub enum UiError {
    #[error("FAUCET_API_URL is not a valid http URL: {0}")]
    ApiUrl(String),
    #[error("{0}")]
    Limit(String),
    #[error("cannot listen on {addr}: {source}")]
    Listen { addr: SocketAddr, source: std::io::Error },
}

pub async fn run(args: FaucetUiArgs, mut shutdown: watch::Receiver<bool>) -> Result<(), UiError> {
    let limit = args.limit.limit().map_err(UiError::Limit)?;
    let api = args.api_url.trim_end_matches('/').to_string();
    let parsed: Uri = api.parse().map_err(|_| UiError::ApiUrl(args.api_url.clone()))?;
    if parsed.scheme_str() != Some("http") || parsed.authority().is_none() {
        return Err(UiError::ApiUrl(args.api_url.clone()));
    }
    let mut connector = HttpConnector::new();
    connector.set_connect_timeout(Some(Duration::from_secs(5)));
    let proxy = Arc::new(Proxy { api, client: Client::builder(TokioExecutor::new()).build(connector) });
    let app = Router::new()
        .route("/", get(|| async { Html(PAGE) }))
        .route("/health", get(health))
        .fallback(forward)
        .with_state(proxy);
    let app = limit.apply(app);
    let addr = SocketAddr::new(args.addr, args.port);
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|source| UiError::Listen { addr, source })?;
    tracing::info!(%addr, api = %args.api_url, "faucet UI listening");
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(async move {
            let _ = shutdown.changed().await;
        })
        .await
        .map_err(|source| UiError::Listen { addr, source })
}

/// Ready when the API behind it is.
async fn health(State(proxy): State<Arc<Proxy>>) -> Response {
    let uri = format!("{}/health", proxy.api);
    let ok = match uri.parse::<Uri>() {
        Ok(uri) => matches!(proxy.client.get(uri).await, Ok(r) if r.status().is_success()),
        Err(_) => false,
    };
    let status = if ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, axum::Json(serde_json::json!({ "status": if ok { "ok" } else { "unavailable" }, "api": ok }))).into_response()
}

async fn forward(State(proxy): State<Arc<Proxy>>, ConnectInfo(peer): ConnectInfo<SocketAddr>, request: Request) -> Response {
    let path = request.uri().path_and_query().map_or("/", |p| p.as_str()).to_string();
    if !path.starts_with("/api/") {
        return crate::api::error(StatusCode::NOT_FOUND, "not found");
    }
    let Ok(uri) = format!("{}{path}", proxy.api).parse::<Uri>() else {
        return crate::api::error(StatusCode::BAD_REQUEST, "invalid path");
    };
    let (mut parts, body) = request.into_parts();
    parts.uri = uri;
    parts.headers.remove(header::HOST);
    // Whatever the client claims, the address it connected from is appended last.
    let forwarded = match parts.headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
        Some(existing) => format!("{existing}, {}", peer.ip()),
        None => peer.ip().to_string(),
    };
    if let Ok(value) = forwarded.parse() {
        parts.headers.insert("x-forwarded-for", value);
    }
    match proxy.client.request(Request::from_parts(parts, body)).await {
        Ok(response) => response.map(Body::new).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "faucet API unreachable");
            crate::api::error(StatusCode::BAD_GATEWAY, "the faucet API is unreachable")
        }
    }
}
