//! The bundler's configuration: every option a flag and an environment variable; the key also
//! from a file (a Docker secret), never printed.

use alloy_primitives::{Address, U256};
use std::net::IpAddr;
use std::path::PathBuf;

/// The EntryPoint versions a bundler can serve, at their canonical addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum EntryPointVersion {
    #[value(name = "v0.7")]
    V07,
    #[value(name = "v0.8")]
    V08,
}

#[derive(Clone, clap::Args)]
pub struct BundlerArgs {
    /// The node's JSON-RPC URL: its internal port, which serves `debug_traceCall`.
    #[arg(long = "rpc-url", env = "WEB3_PROVIDER", default_value = "http://127.0.0.1:8549")]
    pub rpc_url: String,
    /// The node's WebSocket URL, for newHeads; polled over HTTP without it.
    #[arg(long = "ws-url", env = "WEB3_WS_PROVIDER")]
    pub ws_url: Option<String>,
    /// Expected chain id; the bundler refuses to run against a node that says otherwise.
    #[arg(long = "chain-id", env = "CHAIN_ID")]
    pub chain_id: Option<u64>,
    #[arg(long = "addr", env = "BUNDLER_ADDR", default_value = "127.0.0.1")]
    pub addr: IpAddr,
    /// ERC-4337's RPC, with GET /health and /metrics.
    #[arg(long = "port", env = "BUNDLER_PORT", default_value_t = 4337)]
    pub port: u16,
    /// The key bundles are sent with, hex. Prefer BUNDLER_PRIVATE_KEY_FILE.
    #[arg(long = "private-key", env = "BUNDLER_PRIVATE_KEY", hide_env_values = true)]
    pub private_key: Option<String>,
    /// A file holding the bundler's key (a Docker secret).
    #[arg(long = "private-key-file", env = "BUNDLER_PRIVATE_KEY_FILE")]
    pub private_key_file: Option<PathBuf>,
    /// Who receives the operations' fees; the bundler's own address when unset.
    #[arg(long = "beneficiary", env = "BUNDLER_BENEFICIARY")]
    pub beneficiary: Option<Address>,
    /// EntryPoint versions served, comma-separated.
    #[arg(long = "entry-points", env = "BUNDLER_ENTRY_POINTS", value_delimiter = ',', default_value = "v0.7,v0.8")]
    pub entry_points: Vec<EntryPointVersion>,
    /// Directory of the embedded store and the sender's journal.
    #[arg(long = "data-dir", env = "BUNDLER_DATA_DIR", default_value = "data/bundler")]
    pub data_dir: PathBuf,
    /// Redis for the mempool, reputation, bundles and the sender's journal, shared by replicas.
    #[arg(long = "redis-url", env = "REDIS_URL")]
    pub redis_url: Option<String>,
    /// Validate with the EntryPoint's simulation only, without tracing: for nodes without
    /// erc7562Tracer. None of ERC-7562's rules are checked then.
    #[arg(long = "unsafe", env = "BUNDLER_UNSAFE", default_value_t = false)]
    pub unsafe_mode: bool,
    /// Serve the debug_bundler_* methods (the compliance suite's); never in production. Off
    /// loopback they need the admin key.
    #[arg(long = "debug-rpc", env = "BUNDLER_DEBUG_RPC", default_value_t = false)]
    pub debug_rpc: bool,
    /// `Authorization: Bearer <key>` required for debug_bundler_* (at least 16 characters).
    /// Prefer BUNDLER_ADMIN_KEY_FILE.
    #[arg(long = "admin-key", env = "BUNDLER_ADMIN_KEY", hide_env_values = true)]
    pub admin_key: Option<String>,
    /// A file holding the admin key (a Docker secret).
    #[arg(long = "admin-key-file", env = "BUNDLER_ADMIN_KEY_FILE")]
    pub admin_key_file: Option<PathBuf>,
    /// Bundle on every new head (`false`: only on debug_bundler_sendBundleNow).
    #[arg(long = "auto-bundle", env = "BUNDLER_AUTO_BUNDLE", default_value_t = true, action = clap::ArgAction::Set)]
    pub auto_bundle: bool,
    /// ERC-7562's MIN_STAKE_VALUE: the stake, in wei, that makes an entity staked.
    #[arg(long = "min-stake", env = "MIN_STAKE_WEI", default_value = "1000000000000000000")]
    pub min_stake: U256,
    /// ERC-7562's MIN_UNSTAKE_DELAY, seconds.
    #[arg(long = "min-unstake-delay", env = "MIN_UNSTAKE_DELAY", default_value_t = 86_400)]
    pub min_unstake_delay: u64,
    /// ERC-7562's MAX_VERIFICATION_GAS (LIM-060).
    #[arg(long = "max-verification-gas", env = "MAX_VERIFICATION_GAS", default_value_t = 500_000)]
    pub max_verification_gas: u128,
    /// The lowest priority fee taken, wei per gas.
    #[arg(long = "min-priority-fee", env = "BUNDLER_MIN_PRIORITY_FEE", default_value_t = 0)]
    pub min_priority_fee: u128,
    /// Gas of one bundle, all its operations' limits together.
    #[arg(long = "max-bundle-gas", env = "MAX_BUNDLE_GAS", default_value_t = 15_000_000)]
    pub max_bundle_gas: u128,
    /// Operations in one bundle.
    #[arg(long = "max-bundle-ops", env = "MAX_BUNDLE_OPS", default_value_t = 64)]
    pub max_bundle_ops: usize,
    /// Operations in the mempool, all senders together.
    #[arg(long = "mempool.max-ops", env = "MEMPOOL_MAX_OPS", default_value_t = 4096)]
    pub mempool_max_ops: usize,
    /// Operations an unstaked sender may have waiting.
    #[arg(long = "mempool.per-unstaked-sender", env = "MEMPOOL_PER_UNSTAKED_SENDER", default_value_t = 1)]
    pub per_unstaked_sender: usize,
    /// Operations a staked sender may have waiting (ERC-7562's SAME_SENDER_MEMPOOL_COUNT).
    #[arg(long = "mempool.per-staked-sender", env = "MEMPOOL_PER_STAKED_SENDER", default_value_t = 4)]
    pub per_staked_sender: usize,
    /// Percent by which a replacement must raise both fees.
    #[arg(long = "mempool.price-bump", env = "MEMPOOL_PRICE_BUMP", default_value_t = 10)]
    pub price_bump_percent: u128,
    /// Below this balance (wei) /health says the bundler cannot pay for bundles.
    #[arg(long = "min-balance", env = "BUNDLER_MIN_BALANCE", default_value = "100000000000000000")]
    pub min_balance: U256,
    /// Operations accepted between heads are bundled after this wait (which gathers others),
    /// at most once per wait, so they make the block being built instead of the next one; at
    /// once within 200 ms (a tenth of the block time if less) of the next head, predicted from
    /// the last two.
    #[arg(long = "bundle-delay", env = "BUNDLE_DELAY", default_value = "50ms", value_parser = ande_chain::parse_duration)]
    pub bundle_delay: std::time::Duration,
    /// Bundles in flight at once per EntryPoint, each with its own operations: at least a block
    /// time over BUNDLE_DELAY, or operations arriving late in a block wait for the next.
    #[arg(long = "max-bundles-in-flight", env = "MAX_BUNDLES_IN_FLIGHT", default_value_t = 64)]
    pub max_bundles_in_flight: usize,
    #[command(flatten)]
    pub sender: ande_sender::SenderArgs,
}

impl std::fmt::Debug for BundlerArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BundlerArgs")
            .field("rpc_url", &self.rpc_url)
            .field("port", &self.port)
            .field("private_key", &self.private_key.as_ref().map(|_| "<redacted>"))
            .field("entry_points", &self.entry_points)
            .field("unsafe_mode", &self.unsafe_mode)
            .field("debug_rpc", &self.debug_rpc)
            .field("admin_key", &(self.admin_key.is_some() || self.admin_key_file.is_some()))
            .finish_non_exhaustive()
    }
}
