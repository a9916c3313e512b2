//! `ande faucet-ui` (3001): the faucet page, and a server-side proxy of `/api/*` to the
//! faucet API (`FAUCET_API_URL`, `http://faucet-api:8081` in Docker), so a browser never needs a
//! Docker-internal host name. The proxy appends the client's address to X-Forwarded-For; run
//! the API with `TRUSTED_PROXIES=1` behind it.

use ande_http::json_error;
use ande_http::proxy::Upstream;
use axum::Router;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use tokio::sync::watch;

const PAGE: &str = include_str!("page.html");
/// A claim is a few hundred bytes.
const MAX_BODY: usize = 16 * 1024;

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

#[derive(Debug, thiserror::Error)]
pub enum UiError {
    #[error("{0}")]
    ApiUrl(String),
    #[error("{0}")]
    Limit(String),
    #[error("cannot listen on {addr}: {source}")]
    Listen { addr: SocketAddr, source: std::io::Error },
}

pub async fn run(args: FaucetUiArgs, mut shutdown: watch::Receiver<bool>) -> Result<(), UiError> {
    let limit = args.limit.limit().map_err(UiError::Limit)?;
    let proxy = Arc::new(Upstream::new(&args.api_url, "FAUCET_API_URL").map_err(UiError::ApiUrl)?);
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
async fn health(State(api): State<Arc<Upstream>>) -> Response {
    let ok = matches!(api.get("/health").await, Ok((status, _)) if status.is_success());
    let status = if ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, axum::Json(serde_json::json!({ "status": if ok { "ok" } else { "unavailable" }, "api": ok }))).into_response()
}

async fn forward(State(api): State<Arc<Upstream>>, ConnectInfo(peer): ConnectInfo<SocketAddr>, request: Request) -> Response {
    let path = request.uri().path_and_query().map_or("/", |p| p.as_str()).to_string();
    if !path.starts_with("/api/") {
        return json_error(StatusCode::NOT_FOUND, "not found");
    }
    api.forward(peer, request, &path, MAX_BODY).await
}
