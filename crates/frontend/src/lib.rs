//! `ande frontend` (3000): the dApp. It serves the static export of `frontend/` (built once for
//! every network), the page's configuration at run time (`/config.json`: the chain, its public
//! URLs, the contracts of `deployments/<network>.json`), and same-origin proxies to the node, the
//! faucet, the bundler and the paymaster, so a browser needs no Docker service name and no CORS.
//!
//! Unlike the other services it keeps running when its RPC serves another chain than the one
//! configured: its job is then to tell the user so. `/health` answers 503 naming both ids, and
//! the faucet, bundler and paymaster proxies refuse until the RPC serves the right chain.

mod config;
mod metrics;

use ande_chain::ChainSpec;
use ande_http::json_error;
use ande_http::proxy::Upstream;
use axum::Router;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use parking_lot::Mutex;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tower_http::services::{ServeDir, ServeFile};

pub use config::PageConfig;

#[derive(Debug, Clone, clap::Args)]
pub struct FrontendArgs {
    /// The static export to serve (`npm run build` in frontend/ writes frontend/out).
    #[arg(long = "dir", env = "FRONTEND_DIR", default_value = "frontend/out")]
    pub dir: PathBuf,
    #[arg(long = "addr", env = "FRONTEND_ADDR", default_value = "127.0.0.1")]
    pub addr: IpAddr,
    #[arg(long = "port", env = "FRONTEND_PORT", default_value_t = 3000)]
    pub port: u16,
    /// The chain's genesis: its chain id and currency are what the page shows and checks.
    #[arg(long = "genesis", env = "GENESIS", default_value = "genesis/local.json")]
    pub genesis: PathBuf,
    /// The chain id the page expects; it must agree with the genesis.
    #[arg(long = "chain-id", env = "NEXT_PUBLIC_CHAIN_ID")]
    pub chain_id: Option<u64>,
    /// The chain's name, as wallets list it.
    #[arg(long = "chain-name", env = "NEXT_PUBLIC_CHAIN_NAME", default_value = "AndeChain")]
    pub chain_name: String,
    /// The node the page's `/rpc` is forwarded to (a public port: the node's method policy holds).
    #[arg(long = "rpc-url", env = "FRONTEND_RPC_URL", default_value = "http://127.0.0.1:8545")]
    pub rpc_url: String,
    /// The RPC URL wallets are given (`wallet_addEthereumChain`): one they can reach.
    #[arg(long = "public-rpc-url", env = "NEXT_PUBLIC_RPC_URL", default_value = "http://127.0.0.1:8545")]
    pub public_rpc_url: String,
    #[arg(long = "public-ws-url", env = "NEXT_PUBLIC_WS_URL")]
    pub public_ws_url: Option<String>,
    /// The explorer, for links to transactions and addresses.
    #[arg(long = "explorer-url", env = "NEXT_PUBLIC_EXPLORER_URL")]
    pub explorer_url: Option<String>,
    /// The faucet's own page, linked from the faucet page here.
    #[arg(long = "faucet-url", env = "NEXT_PUBLIC_FAUCET_URL")]
    pub faucet_url: Option<String>,
    /// The node's internal port, asked only `ande_daStatus` for `/api/da` (what the status page
    /// shows of DA); without it the page shows the node's health alone.
    #[arg(long = "da-status-url", env = "FRONTEND_DA_STATUS_URL")]
    pub da_status_url: Option<String>,
    /// The faucet API behind `/api/faucet/*`; without it the page has no faucet.
    #[arg(long = "faucet-api-url", env = "FAUCET_API_URL")]
    pub faucet_api_url: Option<String>,
    /// The ERC-4337 bundler behind `/bundler`.
    #[arg(long = "bundler-url", env = "BUNDLER_URL")]
    pub bundler_url: Option<String>,
    /// The sponsoring paymaster behind `/paymaster`.
    #[arg(long = "paymaster-url", env = "PAYMASTER_URL")]
    pub paymaster_url: Option<String>,
    /// `deployments/<network>.json`, read at each `/config.json` (the deploy may come later).
    #[arg(long = "deployments", env = "DEPLOYMENTS_FILE")]
    pub deployments: Option<PathBuf>,
    #[command(flatten)]
    pub limit: ande_http::request_limit::RequestLimitArgs,
}

#[derive(Debug, thiserror::Error)]
pub enum FrontendError {
    #[error("{0}")]
    Config(String),
    #[error(transparent)]
    Genesis(#[from] ande_chain::ChainSpecError),
    #[error(transparent)]
    ChainId(#[from] ande_chain::ChainIdMismatch),
    #[error("{dir} holds no index.html: build the dApp first (`make frontend`, or `npm ci && npm run build` in frontend/)")]
    NotBuilt { dir: String },
    #[error("cannot listen on {addr}: {source}")]
    Listen { addr: SocketAddr, source: std::io::Error },
    #[error("serving on {addr} failed: {source}")]
    Serve { addr: SocketAddr, source: std::io::Error },
}

/// JSON-RPC bodies: a batch of a few hundred calls fits.
const MAX_RPC_BODY: usize = 1024 * 1024;
/// Faucet claims, user operations and sponsorship requests.
const MAX_SERVICE_BODY: usize = 128 * 1024;
/// How often the RPC's chain id is asked, and how old an answer `/health` still believes.
const CHAIN_CHECK_EVERY: Duration = Duration::from_secs(5);
const CHAIN_CHECK_FRESH: Duration = Duration::from_secs(20);

struct App {
    page: PageConfig,
    deployments: Option<PathBuf>,
    rpc: Upstream,
    da_status: Option<Upstream>,
    faucet: Option<Upstream>,
    bundler: Option<Upstream>,
    paymaster: Option<Upstream>,
    /// The RPC's last answer to `eth_chainId`, and when.
    rpc_chain: Mutex<Option<(Instant, Result<u64, String>)>>,
    metrics: metrics::Metrics,
}

pub async fn run(args: FrontendArgs, mut shutdown: watch::Receiver<bool>) -> Result<(), FrontendError> {
    let limit = args.limit.limit().map_err(FrontendError::Config)?;
    let spec = ChainSpec::from_file(&args.genesis)?;
    ande_chain::ensure_chain_id(args.chain_id, spec.chain_id, format!("the genesis file {}", args.genesis.display()))?;
    if !args.dir.join("index.html").is_file() {
        return Err(FrontendError::NotBuilt { dir: args.dir.display().to_string() });
    }
    let upstream = |url: &Option<String>, setting: &str| url.as_deref().map(|u| Upstream::new(u, setting)).transpose().map_err(FrontendError::Config);
    let app = Arc::new(App {
        page: PageConfig::new(&args, &spec).map_err(FrontendError::Config)?,
        deployments: args.deployments.clone(),
        rpc: Upstream::new(&args.rpc_url, "FRONTEND_RPC_URL").map_err(FrontendError::Config)?,
        da_status: upstream(&args.da_status_url, "FRONTEND_DA_STATUS_URL")?,
        faucet: upstream(&args.faucet_api_url, "FAUCET_API_URL")?,
        bundler: upstream(&args.bundler_url, "BUNDLER_URL")?,
        paymaster: upstream(&args.paymaster_url, "PAYMASTER_URL")?,
        rpc_chain: Mutex::new(None),
        metrics: metrics::Metrics::default(),
    });
    // The build writes .br and .gz beside each text file (frontend/scripts/compress.mjs).
    let files = ServeDir::new(&args.dir)
        .precompressed_br()
        .precompressed_gzip()
        .not_found_service(ServeFile::new(args.dir.join("404.html")).precompressed_br().precompressed_gzip());
    let pages = Router::new().fallback_service(files).layer(middleware::from_fn(cache_control));
    let post_only = || async { json_error(StatusCode::METHOD_NOT_ALLOWED, "use POST with a JSON body") };
    let router = Router::new()
        .route("/config.json", get(page_config))
        .route("/rpc", post(rpc).fallback(post_only))
        .route("/api/node", get(node_health))
        .route("/api/da", get(da_status))
        .route("/api/faucet/{*rest}", get(faucet).post(faucet))
        .route("/bundler", post(bundler).fallback(post_only))
        .route("/paymaster", post(paymaster).fallback(post_only))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .with_state(app.clone())
        .merge(pages);
    // The headers outside the limit, so its 429s carry them too.
    let router = limit.apply(router).layer(middleware::from_fn(security_headers));
    let addr = SocketAddr::new(args.addr, args.port);
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|source| FrontendError::Listen { addr, source })?;
    tracing::info!(%addr, dir = %args.dir.display(), chain_id = spec.chain_id, rpc = %app.rpc.authority(), "frontend listening");
    tokio::spawn(watch_chain(app, shutdown.clone()));
    axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(async move {
            let _ = shutdown.changed().await;
        })
        .await
        .map_err(|source| FrontendError::Serve { addr, source })
}

/// Next's hashed assets never change under their name; everything else is asked again. Every
/// file may come brotli- or gzip-encoded, so caches keep one copy per encoding.
async fn cache_control(request: Request, next: Next) -> Response {
    let immutable = request.uri().path().starts_with("/_next/static/");
    let mut response = next.run(request).await;
    let value = if immutable && response.status().is_success() { "public, max-age=31536000, immutable" } else { "no-cache" };
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static(value));
    response.headers_mut().insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    response
}

const SECURITY_HEADERS: [(&str, &str); 4] = [
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "strict-origin-when-cross-origin"),
    ("x-frame-options", "DENY"),
    // Next's export inlines its bootstrap scripts; the page talks only to its own origin.
    (
        "content-security-policy",
        "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'",
    ),
];

async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    for (name, value) in SECURITY_HEADERS {
        response.headers_mut().entry(HeaderName::from_static(name)).or_insert(HeaderValue::from_static(value));
    }
    response
}

/// Asks the RPC its chain id now and then; a mismatch is logged once each time it starts.
async fn watch_chain(app: Arc<App>, mut shutdown: watch::Receiver<bool>) {
    let expected = app.page.chain_id;
    let mut was_wrong = false;
    loop {
        let answer = rpc_chain_id(&app.rpc).await;
        let wrong = matches!(answer, Ok(id) if id != expected);
        if wrong && !was_wrong {
            tracing::error!(expected, rpc_chain_id = answer.as_ref().ok(), rpc = %app.rpc.authority(), "the RPC serves another chain than this page's; the page says so to its users, and the faucet, bundler and paymaster proxies refuse");
        }
        was_wrong = wrong;
        app.metrics.set_rpc_chain_id(answer.as_ref().ok().copied());
        *app.rpc_chain.lock() = Some((Instant::now(), answer));
        tokio::select! {
            _ = tokio::time::sleep(CHAIN_CHECK_EVERY) => {}
            _ = shutdown.changed() => return,
        }
    }
}

async fn rpc_chain_id(rpc: &Upstream) -> Result<u64, String> {
    let (status, body) = rpc.post_json(&serde_json::json!({ "jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": [] })).await?;
    let answer: serde_json::Value = serde_json::from_slice(&body).map_err(|_| format!("HTTP {status}, not JSON-RPC"))?;
    let hex = answer["result"].as_str().ok_or_else(|| format!("HTTP {status}: {}", answer["error"]))?;
    u64::from_str_radix(hex.trim_start_matches("0x"), 16).map_err(|_| format!("eth_chainId answered {hex}"))
}

async fn page_config(State(app): State<Arc<App>>) -> Response {
    let response = match app.page.with_deployments(app.deployments.as_deref()) {
        Ok(config) => ([(header::CACHE_CONTROL, "no-cache")], axum::Json(config)).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the deployments file");
            json_error(StatusCode::INTERNAL_SERVER_ERROR, e)
        }
    };
    app.metrics.observe(metrics::Route::Config, response)
}

impl App {
    /// Why the proxies that act on the chain refuse now: the RPC serves another chain.
    fn wrong_chain(&self) -> Option<Response> {
        match &*self.rpc_chain.lock() {
            Some((_, Ok(id))) if *id != self.page.chain_id => Some(json_error(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("this page is configured for chain {} but its RPC serves chain {id}", self.page.chain_id),
            )),
            _ => None,
        }
    }
}

async fn rpc(State(app): State<Arc<App>>, ConnectInfo(peer): ConnectInfo<SocketAddr>, request: Request) -> Response {
    app.metrics.observe(metrics::Route::Rpc, app.rpc.forward(peer, request, "", MAX_RPC_BODY).await)
}

async fn node_health(State(app): State<Arc<App>>, ConnectInfo(peer): ConnectInfo<SocketAddr>, request: Request) -> Response {
    app.metrics.observe(metrics::Route::Node, app.rpc.forward(peer, request, "/health", 0).await)
}

/// What the status page shows of DA, from `ande_daStatus` on the node's internal port: the
/// role and progress only (no error text, which may name hosts).
async fn da_status(State(app): State<Arc<App>>) -> Response {
    let Some(node) = &app.da_status else { return json_error(StatusCode::NOT_FOUND, "no DA status here") };
    let call = serde_json::json!({ "jsonrpc": "2.0", "id": 1, "method": "ande_daStatus", "params": [] });
    let response = match node.post_json(&call).await.map(|(_, body)| serde_json::from_slice::<serde_json::Value>(&body)) {
        Ok(Ok(answer)) if answer["result"].is_object() => {
            let status = &answer["result"];
            axum::Json(serde_json::json!({
                "role": status["role"],
                "lastIncludedBlock": status["lastIncludedBlock"],
                "lastIncludedDaHeight": status["lastIncludedDaHeight"],
                "pendingBlocks": status["pendingBlocks"],
                "failures": status["failures"],
            }))
            .into_response()
        }
        _ => json_error(StatusCode::BAD_GATEWAY, "the node gave no DA status"),
    };
    app.metrics.observe(metrics::Route::Da, response)
}

async fn faucet(State(app): State<Arc<App>>, ConnectInfo(peer): ConnectInfo<SocketAddr>, request: Request) -> Response {
    // The path as the client sent it (not decoded): /api/faucet/x -> /api/x.
    let raw = request.uri().path_and_query().map_or("", |p| p.as_str());
    let path = format!("/api{}", raw.strip_prefix("/api/faucet").unwrap_or_default());
    act_on_chain(&app, app.faucet.as_ref(), "faucet", metrics::Route::Faucet, peer, request, &path).await
}

async fn bundler(State(app): State<Arc<App>>, ConnectInfo(peer): ConnectInfo<SocketAddr>, request: Request) -> Response {
    act_on_chain(&app, app.bundler.as_ref(), "bundler", metrics::Route::Bundler, peer, request, "").await
}

async fn paymaster(State(app): State<Arc<App>>, ConnectInfo(peer): ConnectInfo<SocketAddr>, request: Request) -> Response {
    act_on_chain(&app, app.paymaster.as_ref(), "paymaster", metrics::Route::Paymaster, peer, request, "").await
}

/// Forwards to a service that acts on the chain: 404 when this network has none, 503 while the
/// RPC serves another chain.
async fn act_on_chain(app: &App, service: Option<&Upstream>, name: &str, route: metrics::Route, peer: SocketAddr, request: Request, path: &str) -> Response {
    let Some(service) = service else { return json_error(StatusCode::NOT_FOUND, format!("this network has no {name}")) };
    if let Some(refused) = app.wrong_chain() {
        return refused;
    }
    app.metrics.observe(route, service.forward(peer, request, path, MAX_SERVICE_BODY).await)
}

/// Ready while the RPC answered lately with the configured chain id.
async fn health(State(app): State<Arc<App>>) -> Response {
    let expected = app.page.chain_id;
    let problem = match &*app.rpc_chain.lock() {
        Some((at, _)) if at.elapsed() > CHAIN_CHECK_FRESH => Some(format!("the RPC at {} has not been asked for {} s", app.rpc.authority(), at.elapsed().as_secs())),
        Some((_, Ok(id))) if *id == expected => None,
        Some((_, Ok(id))) => Some(format!("chain id mismatch: this page is configured for chain {expected} but the RPC at {} serves chain {id}", app.rpc.authority())),
        Some((_, Err(e))) => Some(format!("the RPC at {} does not answer: {e}", app.rpc.authority())),
        None => Some("the RPC has not been asked yet".to_string()),
    };
    let body = serde_json::json!({
        "status": if problem.is_none() { "ok" } else { "unavailable" },
        "chain_id": expected,
        "reason": problem,
    });
    let status = if problem.is_none() { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, axum::Json(body)).into_response()
}

async fn metrics(State(app): State<Arc<App>>) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], app.metrics.render(app.page.chain_id)).into_response()
}
