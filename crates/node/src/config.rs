//! The node's configuration: every option is a flag and an environment variable.

use crate::pool::PoolLimits;
use ande_chain::parse_duration;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

/// What the node does: produce blocks, or rebuild them from DA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// Order transactions into blocks, serve them, and post them to DA.
    Sequencer,
    /// Rebuild and verify the chain from DA; forward transactions to the sequencer.
    Full,
}

#[derive(Debug, Clone, clap::Args)]
pub struct NodeArgs {
    #[arg(long, env = "NODE_MODE", value_enum, default_value_t = Mode::Sequencer)]
    pub mode: Mode,
    /// Genesis file (geth format). The chain id comes from here.
    #[arg(long, env = "GENESIS", default_value = "genesis/local.json")]
    pub genesis: PathBuf,
    /// Expected chain id; the node refuses to start if the genesis says otherwise.
    #[arg(long, env = "CHAIN_ID")]
    pub chain_id: Option<u64>,
    /// Data directory of the node's database.
    #[arg(long, env = "DATA_DIR", default_value = "data/node")]
    pub datadir: PathBuf,
    /// Address the RPC, WebSocket and metrics servers listen on.
    #[arg(long = "http.addr", env = "RPC_ADDR", default_value = "127.0.0.1")]
    pub http_addr: IpAddr,
    /// JSON-RPC over HTTP (WebSocket also accepted), with GET /health.
    #[arg(long = "http.port", env = "RPC_PORT", default_value_t = 8545)]
    pub http_port: u16,
    /// JSON-RPC over WebSocket (HTTP also accepted).
    #[arg(long = "ws.port", env = "WS_PORT", default_value_t = 8546)]
    pub ws_port: u16,
    /// Prometheus metrics on GET /metrics.
    #[arg(long = "metrics.port", env = "METRICS_PORT", default_value_t = 9001)]
    pub metrics_port: u16,
    /// Block time, as 2s, 500ms or a number of seconds.
    #[arg(long = "block-time", env = "BLOCK_TIME", default_value = "2s", value_parser = parse_duration)]
    pub block_time: Duration,
    /// Produce a block only when transactions wait, or when the max idle time passed.
    #[arg(long, env = "LAZY_MODE", default_value_t = false)]
    pub lazy: bool,
    /// In lazy mode, the longest time without a block.
    #[arg(long = "lazy-max-idle", env = "LAZY_MAX_IDLE", default_value = "60s", value_parser = parse_duration)]
    pub lazy_max_idle: Duration,
    /// Fee recipient of produced blocks; the genesis coinbase when unset.
    #[arg(long, env = "COINBASE")]
    pub coinbase: Option<alloy_primitives::Address>,
    /// Accept legacy transactions without EIP-155 replay protection (the CREATE2 deployer needs it).
    #[arg(long = "rpc.allow-unprotected-txs", env = "ALLOW_UNPROTECTED_TXS", default_value_t = false)]
    pub allow_unprotected_txs: bool,
    /// Transactions the pool holds, all senders together.
    #[arg(long = "txpool.max-count", env = "TXPOOL_MAX_COUNT", default_value_t = PoolLimits::default().max_count)]
    pub txpool_max_count: usize,
    /// Transactions one sender may have in the pool.
    #[arg(long = "txpool.max-per-sender", env = "TXPOOL_MAX_PER_SENDER", default_value_t = PoolLimits::default().max_per_sender)]
    pub txpool_max_per_sender: usize,
    /// Percent by which a replacement must raise its fees.
    #[arg(long = "txpool.price-bump", env = "TXPOOL_PRICE_BUMP", default_value_t = 10)]
    pub txpool_price_bump: u128,
    /// Largest transaction accepted, in bytes.
    #[arg(long = "txpool.max-tx-bytes", env = "TXPOOL_MAX_TX_BYTES", default_value_t = 128 * 1024)]
    pub max_tx_bytes: usize,
    /// Largest JSON-RPC request body, in bytes.
    #[arg(long = "rpc.max-request-bytes", env = "RPC_MAX_REQUEST_BYTES", default_value_t = 5 * 1024 * 1024)]
    pub rpc_max_request_bytes: u32,
    /// Largest JSON-RPC response body, in bytes.
    #[arg(long = "rpc.max-response-bytes", env = "RPC_MAX_RESPONSE_BYTES", default_value_t = 150 * 1024 * 1024)]
    pub rpc_max_response_bytes: u32,
    /// Most calls in one batch request.
    #[arg(long = "rpc.max-batch", env = "RPC_MAX_BATCH", default_value_t = 1000)]
    pub rpc_max_batch: u32,
    /// Most open connections per server.
    #[arg(long = "rpc.max-connections", env = "RPC_MAX_CONNECTIONS", default_value_t = 1000)]
    pub rpc_max_connections: u32,
    /// `debug_trace*` requests run at once; 0: the cores less two, at least two.
    #[arg(long = "rpc.max-tracing-requests", env = "RPC_MAX_TRACING_REQUESTS", default_value_t = 0)]
    pub rpc_max_tracing_requests: usize,
    /// `eth_getLogs` and log-filter polls run at once; 0: as many as the cores.
    #[arg(long = "rpc.max-logs-requests", env = "RPC_MAX_LOGS_REQUESTS", default_value_t = 0)]
    pub rpc_max_logs_requests: usize,
    /// `eth_call`, `eth_estimateGas`, `eth_createAccessList`, `eth_getProof` and
    /// `eth_feeHistory` run at once; 0: twice the cores.
    #[arg(long = "rpc.max-call-requests", env = "RPC_MAX_CALL_REQUESTS", default_value_t = 0)]
    pub rpc_max_call_requests: usize,
    /// Requests of each of those three kinds waiting beyond those running; more are refused
    /// at once with -32005.
    #[arg(long = "rpc.max-waiting-requests", env = "RPC_MAX_WAITING_REQUESTS", default_value_t = 1024)]
    pub rpc_max_waiting_requests: usize,
    /// Allowed CORS origins, comma-separated; `*` allows any.
    #[arg(long = "rpc.cors", env = "RPC_CORS", default_value = "*")]
    pub rpc_cors: String,
    /// Gas limit for eth_call and eth_estimateGas.
    #[arg(long = "rpc.gas-cap", env = "RPC_GAS_CAP", default_value_t = 50_000_000)]
    pub rpc_gas_cap: u64,
    /// Widest block range of one eth_getLogs.
    #[arg(long = "rpc.logs-max-range", env = "RPC_LOGS_MAX_RANGE", default_value_t = 10_000)]
    pub logs_max_range: u64,
    /// Most logs one eth_getLogs returns.
    #[arg(long = "rpc.logs-max-results", env = "RPC_LOGS_MAX_RESULTS", default_value_t = 20_000)]
    pub logs_max_results: usize,
    /// Database page cache, in MiB; the OS page cache serves the rest.
    #[arg(long = "db.cache-mb", env = "DB_CACHE_MB", default_value_t = 64)]
    pub db_cache_mb: usize,
    /// Keep historical state for only the last N blocks (blocks and receipts are kept).
    #[arg(long = "prune.keep-blocks", env = "PRUNE_KEEP_BLOCKS")]
    pub prune_keep_blocks: Option<u64>,
    #[command(flatten)]
    pub access: RpcAccess,
    #[command(flatten)]
    pub da: crate::da::DaConfig,
}

/// Who may call what: the public ports serve the public namespaces to anyone and the rest to
/// callers with the admin key; the internal port serves everything (keep it off the internet).
#[derive(Clone, clap::Args)]
pub struct RpcAccess {
    /// Namespaces served on the RPC and WS ports without the admin key, comma-separated.
    #[arg(long = "rpc.public-namespaces", env = "RPC_PUBLIC_NAMESPACES", value_delimiter = ',', default_value = "eth,net,web3")]
    pub public_namespaces: Vec<String>,
    /// Address of the internal port, which serves every namespace to anyone who reaches it.
    #[arg(long = "rpc.internal-addr", env = "RPC_INTERNAL_ADDR", default_value = "127.0.0.1")]
    pub internal_addr: IpAddr,
    /// JSON-RPC over HTTP and WebSocket with every namespace, for the stack's own services.
    #[arg(long = "rpc.internal-port", env = "RPC_INTERNAL_PORT", default_value_t = 8549)]
    pub internal_port: u16,
    /// `Authorization: Bearer <key>` unlocks every namespace on the public ports (at least 16
    /// characters). Prefer RPC_ADMIN_KEY_FILE.
    #[arg(long = "rpc.admin-key", env = "RPC_ADMIN_KEY", hide_env_values = true)]
    pub admin_key: Option<String>,
    /// A file holding the admin key (a Docker secret).
    #[arg(long = "rpc.admin-key-file", env = "RPC_ADMIN_KEY_FILE")]
    pub admin_key_file: Option<PathBuf>,
    /// A file of partner keys, one a line (`#` comments): `Authorization: Bearer <key>` is not
    /// rate-limited and opens no namespace beyond the public ones.
    #[arg(long = "rpc.partner-keys-file", env = "RPC_PARTNER_KEYS_FILE")]
    pub partner_keys_file: Option<PathBuf>,
    /// Most subscriptions one WebSocket connection may hold.
    #[arg(long = "rpc.max-subscriptions", env = "RPC_MAX_SUBSCRIPTIONS", default_value_t = 1024)]
    pub max_subscriptions: u32,
    /// Calls a second one client (an IPv4 address, an IPv6 /64) may make on the public ports,
    /// each entry of a batch counted; 0: no limit. Callers with the admin key or a partner key
    /// are not limited.
    #[arg(long = "rpc.rate-limit", env = "RPC_RATE_LIMIT", default_value_t = 0.0)]
    pub rate_limit: f64,
    /// Calls a client may make at once (its bucket's size; a larger batch is never served);
    /// 0: twice the rate.
    #[arg(long = "rpc.rate-burst", env = "RPC_RATE_BURST", default_value_t = 0)]
    pub rate_burst: u32,
    /// Proxies (addresses or networks, comma-separated) whose X-Forwarded-For names the client.
    #[arg(long = "rpc.trusted-proxies", env = "RPC_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<ande_http::limit::Cidr>,
}

impl std::fmt::Debug for RpcAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RpcAccess")
            .field("public_namespaces", &self.public_namespaces)
            .field("internal", &std::net::SocketAddr::new(self.internal_addr, self.internal_port))
            .field("admin_key", &(self.admin_key.is_some() || self.admin_key_file.is_some()))
            .field("partner_keys_file", &self.partner_keys_file)
            .field("max_subscriptions", &self.max_subscriptions)
            .field("rate_limit", &self.rate_limit)
            .field("rate_burst", &self.rate_burst)
            .field("trusted_proxies", &self.trusted_proxies)
            .finish()
    }
}

impl NodeArgs {
    pub fn pool_limits(&self) -> PoolLimits {
        PoolLimits {
            max_count: self.txpool_max_count,
            max_per_sender: self.txpool_max_per_sender,
            price_bump_percent: self.txpool_price_bump,
        }
    }
}
