//! `ande deploy`: puts the stack's contracts on a chain, idempotently, and writes their addresses
//! to `deployments/<network>.json`.
//!
//! Contracts go through the deterministic deployment proxy, so their addresses are the same on
//! every chain; one that already has code is left alone, so running it again (or against a chain
//! where someone else deployed them, like Ethereum) only checks and records. Transactions go
//! through the stack's sender: a deploy interrupted anywhere resumes without deploying twice.

use alloy_primitives::{Address, U256};
use ande_chain::{Deployments, ensure_chain_id};
use ande_contracts::create2::{self, Create2};
use ande_sender::{EmbeddedJournal, Journal, NodeClient, Sender, SenderArgs, State, TxRequest, wait_for_node};
use serde_json::json;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tokio::sync::watch;

#[derive(Clone, clap::Args)]
pub struct DeployArgs {
    /// The node's JSON-RPC URL.
    #[arg(long = "rpc-url", env = "WEB3_PROVIDER", default_value = "http://127.0.0.1:8545")]
    pub rpc_url: String,
    /// Expected chain id; refused against a node that says otherwise.
    #[arg(long = "chain-id", env = "CHAIN_ID")]
    pub chain_id: Option<u64>,
    /// The network's name: the deployments file is deployments/<network>.json.
    #[arg(long = "network", env = "STACK_ENV", default_value = "local")]
    pub network: String,
    /// Where to write the addresses (`-`: standard output); deployments/<network>.json when
    /// unset.
    #[arg(long = "out", env = "DEPLOYMENTS_FILE")]
    pub out: Option<PathBuf>,
    /// The funded key that pays for deployments, hex. Prefer DEPLOYER_PRIVATE_KEY_FILE. Not
    /// needed when everything is deployed already.
    #[arg(long = "private-key", env = "DEPLOYER_PRIVATE_KEY", hide_env_values = true)]
    pub private_key: Option<String>,
    /// A file holding the deployer's key (a Docker secret).
    #[arg(long = "private-key-file", env = "DEPLOYER_PRIVATE_KEY_FILE")]
    pub private_key_file: Option<PathBuf>,
    /// Directory of the deployer's transaction journal (an interrupted deploy resumes from it).
    #[arg(long = "data-dir", env = "DEPLOY_DATA_DIR", default_value = "data/deploy")]
    pub data_dir: PathBuf,
    /// Longest wait for the deployments to be mined.
    #[arg(long = "timeout", env = "DEPLOY_TIMEOUT", default_value = "180s", value_parser = ande_chain::parse_duration)]
    pub timeout: Duration,
    #[command(flatten)]
    pub sender: SenderArgs,
}

impl std::fmt::Debug for DeployArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeployArgs")
            .field("rpc_url", &self.rpc_url)
            .field("network", &self.network)
            .field("private_key", &self.private_key.as_ref().map(|_| "<redacted>"))
            .finish_non_exhaustive()
    }
}

impl DeployArgs {
    pub fn out_path(&self) -> PathBuf {
        self.out.clone().unwrap_or_else(|| PathBuf::from("deployments").join(format!("{}.json", self.network)))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    #[error(transparent)]
    ChainId(#[from] ande_chain::ChainIdMismatch),
    #[error(transparent)]
    Node(#[from] ande_sender::NodeError),
    #[error(transparent)]
    Send(#[from] ande_sender::SendError),
    #[error(transparent)]
    Journal(#[from] ande_sender::JournalError),
    #[error(transparent)]
    Key(#[from] ande_sender::KeyError),
    #[error(transparent)]
    Deployments(#[from] ande_chain::DeploymentsError),
    #[error(
        "the deterministic deployment proxy {0} has no code on this chain: AndeChain's genesis files preinstall it; \
         elsewhere, send its presigned deployment transaction first"
    )]
    NoProxy(Address),
    #[error("{missing} must be deployed, but no deployer key is set: set DEPLOYER_PRIVATE_KEY_FILE (or DEPLOYER_PRIVATE_KEY)")]
    NoKey { missing: String },
    #[error("deploying {name}: {reason}")]
    Failed { name: String, reason: String },
    #[error("the deployments were not mined within {0:?}")]
    Timeout(Duration),
    #[error("stopped before the deployments were mined")]
    Stopped,
}

/// Deploys what is missing, records every address, and returns the deployments written.
pub async fn run(args: DeployArgs, mut shutdown: watch::Receiver<bool>) -> Result<Deployments, DeployError> {
    let node = NodeClient::new(&args.rpc_url)?;
    let Some(chain_id) = wait_for_node(&node, &mut shutdown).await else { return Err(DeployError::Stopped) };
    ensure_chain_id(args.chain_id, chain_id, format!("the node at {}", args.rpc_url))?;
    if node.code(create2::PROXY).await?.is_empty() {
        return Err(DeployError::NoProxy(create2::PROXY));
    }
    let out = args.out_path();
    let to_stdout = out.as_os_str() == "-";
    let existing = if to_stdout { None } else { Deployments::load(&out)? };
    let mut deployments = existing.filter(|d| d.chain_id == chain_id).unwrap_or_default();
    deployments.network = args.network.clone();
    deployments.chain_id = chain_id;
    deployments.contracts.insert("create2Deployer".into(), create2::PROXY);
    let mut sender = None;
    for wave in create2::account_abstraction() {
        let mut missing = Vec::new();
        for contract in wave {
            let address = contract.address();
            if node.code(address).await?.is_empty() {
                missing.push(contract);
            } else {
                tracing::info!(name = contract.name, %address, "present");
                deployments.contracts.insert(contract.name.into(), address);
            }
        }
        if missing.is_empty() {
            continue;
        }
        let sender = match &sender {
            Some(s) => s,
            None => sender.insert(open_sender(&args, node.clone(), chain_id, &missing)?),
        };
        deploy_wave(&args, sender, &missing, &mut shutdown).await?;
        for contract in &missing {
            let address = contract.address();
            if node.code(address).await?.is_empty() {
                return Err(DeployError::Failed { name: contract.name.into(), reason: format!("mined, but {address} has no code") });
            }
            tracing::info!(name = contract.name, %address, "deployed");
            deployments.contracts.insert(contract.name.into(), address);
        }
    }
    if to_stdout {
        println!("{}", serde_json::to_string_pretty(&deployments).map_err(|e| DeployError::Failed { name: "deployments".into(), reason: e.to_string() })?);
    } else {
        deployments.save(&out)?;
        tracing::info!(file = %out.display(), contracts = deployments.contracts.len(), "deployments written");
    }
    Ok(deployments)
}

fn open_sender(args: &DeployArgs, node: NodeClient, chain_id: u64, missing: &[Create2]) -> Result<Sender, DeployError> {
    let key = ande_sender::optional_signer(args.private_key_file.as_deref(), args.private_key.as_deref(), "deployer")?;
    let Some(key) = key else {
        return Err(DeployError::NoKey { missing: missing.iter().map(|c| c.name).collect::<Vec<_>>().join(", ") });
    };
    let journal = Journal::Embedded(EmbeddedJournal::open(&args.data_dir.join(format!("sender-{chain_id}.redb")))?);
    Ok(Sender::new(node, key, chain_id, journal, args.sender.clone()))
}

/// Sends one wave's deployments together and waits until each is mined.
async fn deploy_wave(args: &DeployArgs, sender: &Sender, wave: &[Create2], shutdown: &mut watch::Receiver<bool>) -> Result<(), DeployError> {
    let mut batch = Vec::new();
    for contract in wave {
        let calldata = contract.calldata();
        let call = json!({ "from": sender.address(), "to": create2::PROXY, "data": calldata });
        let estimate = sender.node().estimate_gas(&call).await.map_err(|e| DeployError::Failed { name: contract.name.into(), reason: e.to_string() })?;
        let request = TxRequest { to: Some(create2::PROXY), value: U256::ZERO, input: calldata, gas_limit: estimate + estimate / 5, conditions: None };
        batch.push((format!("deploy:{}:{:#x}", contract.name, contract.address()), request));
    }
    let keys: Vec<String> = batch.iter().map(|(k, _)| k.clone()).collect();
    sender.submit(batch).await?;
    let deadline = Instant::now() + args.timeout;
    loop {
        sender.follow().await?;
        let mut done = true;
        for (key, contract) in keys.iter().zip(wave) {
            let state = sender.get(key).await?.map(|r| r.state);
            match state {
                Some(State::Mined { success: true, .. }) => {}
                Some(State::Mined { success: false, hash, .. }) => {
                    return Err(DeployError::Failed { name: contract.name.into(), reason: format!("transaction {hash} reverted") });
                }
                Some(State::Refused { reason }) => return Err(DeployError::Failed { name: contract.name.into(), reason }),
                _ => done = false,
            }
        }
        if done {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(DeployError::Timeout(args.timeout));
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            _ = shutdown.changed() => return Err(DeployError::Stopped),
        }
    }
}

