//! The faucet's configuration, named as the spec names it. Every option is a flag and an
//! environment variable; the key also comes from a file (a Docker secret) and is never printed.

use alloy_primitives::U256;
use alloy_signer_local::PrivateKeySigner;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Clone, clap::Args)]
pub struct FaucetArgs {
    /// The node's JSON-RPC URL: its internal port, which serves `ande_nativeCurrency`.
    #[arg(long = "web3-provider", env = "WEB3_PROVIDER", default_value = "http://127.0.0.1:8549")]
    pub web3_provider: String,
    /// Expected chain id; the faucet refuses to run against a node that says otherwise.
    #[arg(long = "chain-id", env = "CHAIN_ID")]
    pub chain_id: Option<u64>,
    /// The faucet account's key, hex. Prefer FAUCET_PRIVATE_KEY_FILE.
    #[arg(long = "private-key", env = "FAUCET_PRIVATE_KEY", hide_env_values = true)]
    pub private_key: Option<String>,
    /// A file holding the faucet account's key (a Docker secret).
    #[arg(long = "private-key-file", env = "FAUCET_PRIVATE_KEY_FILE")]
    pub private_key_file: Option<PathBuf>,
    /// Wei paid per claim.
    #[arg(long = "amount", env = "FAUCET_AMOUNT", default_value = "1000000000000000000")]
    pub amount: U256,
    /// Seconds between two claims of one address, or of one client IP.
    #[arg(long = "cooldown", env = "COOLDOWN_PERIOD", default_value_t = 86_400)]
    pub cooldown_secs: u64,
    /// Redis for limits and the claim queue (required to run several replicas); without it, an
    /// embedded store on disk.
    #[arg(long = "redis-url", env = "REDIS_URL")]
    pub redis_url: Option<String>,
    /// Directory of the embedded store.
    #[arg(long = "data-dir", env = "FAUCET_DATA_DIR", default_value = "data/faucet")]
    pub data_dir: PathBuf,
    #[arg(long = "addr", env = "FAUCET_ADDR", default_value = "127.0.0.1")]
    pub addr: IpAddr,
    #[arg(long = "port", env = "FAUCET_PORT", default_value_t = 8081)]
    pub port: u16,
    /// Reverse proxies in front of the faucet; the client IP is taken that many entries from the
    /// right of X-Forwarded-For, so clients cannot spoof it.
    #[arg(long = "trusted-proxies", env = "TRUSTED_PROXIES", default_value_t = 0)]
    pub trusted_proxies: usize,
    /// Most wei paid out in one hour, all claims together.
    #[arg(long = "hourly-cap", env = "HOURLY_CAP")]
    pub hourly_cap: Option<U256>,
    /// How long confirmed and failed claims (and the index from their transactions) are kept;
    /// ran-out cooldowns are dropped too.
    #[arg(long = "claim-retention", env = "CLAIM_RETENTION", default_value = "720h", value_parser = ande_chain::parse_duration)]
    pub claim_retention: std::time::Duration,
    /// Explorer base URL, for transaction links.
    #[arg(long = "explorer-url", env = "EXPLORER_URL")]
    pub explorer_url: Option<String>,
    /// RPC URL wallets should use: the node's public port, never WEB3_PROVIDER's internal one.
    #[arg(long = "public-rpc-url", env = "PUBLIC_RPC_URL", default_value = "http://127.0.0.1:8545")]
    pub public_rpc_url: String,
    #[command(flatten)]
    pub sender: ande_sender::SenderArgs,
    #[command(flatten)]
    pub captcha: crate::captcha::CaptchaArgs,
}

impl std::fmt::Debug for FaucetArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaucetArgs")
            .field("web3_provider", &self.web3_provider)
            .field("chain_id", &self.chain_id)
            .field("private_key", &self.private_key.as_ref().map(|_| "<redacted>"))
            .field("amount", &self.amount)
            .field("cooldown_secs", &self.cooldown_secs)
            .field("claim_retention", &self.claim_retention)
            .field("redis", &self.redis_url.is_some())
            .finish_non_exhaustive()
    }
}

impl FaucetArgs {
    pub fn signer(&self) -> Result<PrivateKeySigner, ande_sender::KeyError> {
        ande_sender::signer(self.private_key_file.as_deref(), self.private_key.as_deref(), "faucet", "FAUCET_PRIVATE_KEY")
    }

    pub fn cooldown(&self) -> Duration {
        Duration::from_secs(self.cooldown_secs)
    }
}
