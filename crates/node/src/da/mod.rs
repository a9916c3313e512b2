//! Data availability: the sequencer posts its blocks to Celestia in signed batches
//! ([`poster`]); a full node rebuilds the chain from them ([`follower`]). Both speak
//! celestia-node's JSON-RPC through `celestia-rpc`, so the local `ande da` and a real
//! celestia-node serve alike.

pub mod batch;
pub mod follower;
pub mod poster;

use alloy_primitives::Address;
use alloy_signer_local::PrivateKeySigner;
use ande_chain::parse_duration;
use celestia_types::nmt::Namespace;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Clone, clap::Args)]
pub struct DaConfig {
    /// celestia-node's RPC (or `ande da`), as http://host:26658. Unset: the sequencer does not post.
    #[arg(long = "da.url", env = "DA_URL")]
    pub url: Option<String>,
    /// The DA auth token. Prefer DA_AUTH_TOKEN_FILE.
    #[arg(long = "da.auth-token", env = "DA_AUTH_TOKEN", hide_env_values = true)]
    pub auth_token: Option<String>,
    /// A file holding the DA auth token (a Docker secret).
    #[arg(long = "da.auth-token-file", env = "DA_AUTH_TOKEN_FILE")]
    pub auth_token_file: Option<PathBuf>,
    /// The rollup's namespace: 10 bytes of hex, or a name (its sha256's first 10 bytes).
    #[arg(long = "da.namespace", env = "DA_NAMESPACE", default_value = "andechain")]
    pub namespace: String,
    /// Post when the oldest unposted block is this old (or sooner, when a blob is full).
    #[arg(long = "da.batch-interval", env = "DA_BATCH_INTERVAL", default_value = "6s", value_parser = parse_duration)]
    pub batch_interval: Duration,
    /// Largest blob the DA layer takes, in bytes.
    #[arg(long = "da.max-blob-bytes", env = "DA_MAX_BLOB_BYTES", default_value_t = 1_974_272)]
    pub max_blob_bytes: usize,
    /// Gas price per unit for blob transactions; unset or negative: the DA node's minimum.
    #[arg(long = "da.gas-price", env = "DA_GAS_PRICE")]
    pub gas_price: Option<f64>,
    /// Factor applied to the gas price on each retry after a failed submission.
    #[arg(long = "da.gas-multiplier", env = "DA_GAS_MULTIPLIER", default_value_t = 1.2)]
    pub gas_multiplier: f64,
    /// Highest gas price retries may reach.
    #[arg(long = "da.max-gas-price", env = "DA_MAX_GAS_PRICE")]
    pub max_gas_price: Option<f64>,
    /// Longest wait between retries (they start at 500 ms and double).
    #[arg(long = "da.retry-max", env = "DA_RETRY_MAX", default_value = "60s", value_parser = parse_duration)]
    pub retry_max: Duration,
    /// Readiness fails while more blocks than this wait to be posted.
    #[arg(long = "da.max-backlog", env = "DA_MAX_BACKLOG", default_value_t = 900)]
    pub max_backlog: u64,
    /// Key that signs the sequencer's batches. Prefer SEQUENCER_KEY_FILE.
    #[arg(long = "sequencer-key", env = "SEQUENCER_KEY", hide_env_values = true)]
    pub sequencer_key: Option<String>,
    /// A file holding the batch signing key (a Docker secret).
    #[arg(long = "sequencer-key-file", env = "SEQUENCER_KEY_FILE")]
    pub sequencer_key_file: Option<PathBuf>,
    /// Full node: the address whose batches are accepted (the sequencer key's address); the
    /// genesis' `config.ande.sequencerAddress` when unset.
    #[arg(long = "sequencer-address", env = "SEQUENCER_ADDRESS")]
    pub sequencer_address: Option<Address>,
    /// Full node: the sequencer's JSON-RPC, where eth_sendRawTransaction is forwarded.
    #[arg(long = "sequencer-url", env = "SEQUENCER_URL")]
    pub sequencer_url: Option<String>,
    /// Full node: the DA height to start reading from on a fresh data directory.
    #[arg(long = "da.start-height", env = "DA_START_HEIGHT", default_value_t = 1)]
    pub start_height: u64,
}

impl std::fmt::Debug for DaConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DaConfig")
            .field("url", &self.url)
            .field("namespace", &self.namespace)
            .field("batch_interval", &self.batch_interval)
            .field("max_blob_bytes", &self.max_blob_bytes)
            .field("sequencer_address", &self.sequencer_address)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DaConfigError {
    #[error("DA_NAMESPACE {0:?}: give 10 bytes of hex (20 digits) or a name")]
    Namespace(String),
    #[error(transparent)]
    SecretFile(#[from] ande_chain::SecretFileError),
    #[error("posting to DA needs the batch signing key: set SEQUENCER_KEY_FILE (or SEQUENCER_KEY)")]
    MissingKey,
    #[error("the batch signing key is not a valid secp256k1 private key")]
    InvalidKey,
    #[error("a full node reads the chain from DA: set DA_URL")]
    FullNodeNeedsDa,
    #[error("a full node needs the address whose batches it accepts: set SEQUENCER_ADDRESS, or config.ande.sequencerAddress in the genesis")]
    FullNodeNeedsSequencer,
    #[error("the batch signing key is {key}'s, but the genesis names {genesis} as the sequencer (config.ande.sequencerAddress): full nodes would refuse every batch")]
    NotTheSequencer { key: Address, genesis: Address },
    #[error("cannot reach the DA node: {0}")]
    Client(String),
}

impl DaConfig {
    /// The v0 namespace: 10 bytes given as hex, or the first 10 bytes of a name's sha256.
    pub fn namespace(&self) -> Result<Namespace, DaConfigError> {
        let text = self.namespace.trim();
        let hex = text.strip_prefix("0x").unwrap_or(text);
        let id: Vec<u8> = match alloy_primitives::hex::decode(hex) {
            Ok(bytes) if bytes.len() == 10 => bytes,
            _ if text.is_empty() => return Err(DaConfigError::Namespace(self.namespace.clone())),
            _ => Sha256::digest(text.as_bytes())[..10].to_vec(),
        };
        Namespace::new_v0(&id).map_err(|_| DaConfigError::Namespace(self.namespace.clone()))
    }

    pub fn signer(&self) -> Result<PrivateKeySigner, DaConfigError> {
        let key = ande_chain::read_secret(self.sequencer_key_file.as_deref(), self.sequencer_key.as_deref())?.ok_or(DaConfigError::MissingKey)?;
        key.trim().parse().map_err(|_| DaConfigError::InvalidKey)
    }

    /// A client of the DA node; connects lazily, so a DA outage at start is not fatal.
    pub async fn client(&self) -> Result<Option<celestia_rpc::Client>, DaConfigError> {
        let Some(url) = &self.url else { return Ok(None) };
        let token = ande_chain::read_secret(self.auth_token_file.as_deref(), self.auth_token.as_deref())?;
        let client = celestia_rpc::Client::new(url, token.as_deref(), Some(Duration::from_secs(5)), Some(Duration::from_secs(90)))
            .await
            .map_err(|e| DaConfigError::Client(e.to_string()))?;
        Ok(Some(client))
    }
}

/// What `ande_daStatus` reports.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DaStatus {
    /// "sequencer" (posting), "full" (reading) or "off".
    pub role: &'static str,
    /// The namespace, 29 bytes in hex.
    pub namespace: Option<String>,
    /// The address that signs the batches (the genesis' `config.ande.sequencerAddress`, or
    /// SEQUENCER_ADDRESS).
    pub sequencer: Option<Address>,
    /// The last block sent in a submission (possibly not yet confirmed).
    pub last_submitted_block: u64,
    /// The last block known to be in DA, and the DA height that holds it.
    pub last_included_block: u64,
    pub last_included_da_height: Option<u64>,
    /// Blocks produced but not yet in DA, and their size before compression.
    pub pending_blocks: u64,
    pub pending_bytes: u64,
    /// Failed submissions since start, and the last error.
    pub failures: u64,
    pub last_error: Option<String>,
    /// Full node: the next DA height it reads, and blobs in the namespace it refused.
    pub da_cursor: Option<u64>,
    pub rejected_blobs: u64,
    /// Full node: why the last refused blob was refused, and batches accepted since start.
    pub last_rejection: Option<String>,
    pub accepted_batches: u64,
    /// Full node: when it last read DA up to the DA head.
    #[serde(skip)]
    pub synced_at: Option<std::time::Instant>,
}

impl DaStatus {
    /// Blocks a sequencer has made that are not yet in DA, as of `head`.
    pub fn backlog(&self, head: u64) -> u64 {
        if self.role == "sequencer" { head.saturating_sub(self.last_included_block) } else { 0 }
    }
}

/// The namespace as `ande_daStatus` shows it.
pub fn namespace_hex(namespace: &Namespace) -> String {
    alloy_primitives::hex::encode_prefixed(namespace.as_bytes())
}

/// Whether a DA error says the blob was too big (celestia-node's and ande da's wording).
fn is_too_big(message: &str) -> bool {
    let message = message.to_ascii_lowercase();
    message.contains("over size limit") || message.contains("too large") || message.contains("exceeds the maximum")
}

/// Whether a DA error means "nothing in this namespace at this height".
fn is_not_found(message: &str) -> bool {
    message.contains("blob: not found")
}

/// The blobs of `namespace` at `height`: none when DA says "blob: not found" (older
/// celestia-node) or answers null (newer).
async fn blobs_at(client: &celestia_rpc::Client, height: u64, namespace: Namespace) -> Result<Vec<celestia_types::Blob>, String> {
    use celestia_rpc::BlobClient;
    match client.blob_get_all(height, &[namespace]).await {
        Ok(blobs) => Ok(blobs.unwrap_or_default()),
        Err(e) if is_not_found(&e.to_string()) => Ok(Vec::new()),
        Err(e) => Err(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        da: DaConfig,
    }

    fn config(namespace: &str) -> DaConfig {
        Cli::parse_from(["ande", "--da.namespace", namespace]).da
    }

    #[test]
    fn namespaces_from_hex_or_a_name() {
        let hex = config("0x00000000000000a1b2c3").namespace().unwrap();
        assert_eq!(&hex.as_bytes()[19..], &[0, 0, 0, 0, 0, 0, 0, 0xa1, 0xb2, 0xc3]);
        assert_eq!(hex.as_bytes()[0], 0, "version 0");
        // ev-node's rule: sha256("andechain")[..10].
        let named = config("andechain").namespace().unwrap();
        assert_eq!(&named.as_bytes()[19..], &Sha256::digest(b"andechain")[..10]);
        assert!(config("  ").namespace().is_err());
    }

    #[test]
    fn too_big_and_not_found_are_recognised() {
        assert!(is_too_big("blob: over size limit: 2000000 > 1974272"));
        assert!(is_too_big("tx too large"));
        assert!(!is_too_big("connection refused"));
        assert!(is_not_found("ErrorObject { code: ServerError(1), message: \"blob: not found\" }"));
    }
}
